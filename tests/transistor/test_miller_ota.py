"""The two-stage Miller op-amp analogopt designs in GF180MCU: targets over the reduced PVT grid, the hand
small-signal estimate, the datasheet benches, the design procedure's own prediction, and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from analogopt.circuits.ota_design import OTATargets
from analogopt.cosim import transistor_ota as t
from analogopt.pdk.gf180mcu import Gf180mcu
from analogopt.spice.runner import make_runner

TARGETS = OTATargets()


@pytest.fixture(scope="module")
def runner():
    return make_runner("ngspice", timeout_s=120)


@pytest.fixture(scope="module")
def design(runner):
    return t.design_miller_ota(TARGETS, runner)


def test_the_design_meets_every_target_over_the_reduced_grid(design):
    """5 corners at 27 °C, ss/125 °C/2.97 V and ff/−40 °C/3.63 V: gain ≥ 70 dB, GBW ≥ 5 MHz into 5 pF,
    phase margin ≥ 55°, gain margin > 0, every transistor saturated at the operating point."""
    assert design.met, design.rounds[-1].misses
    assert len(design.grid) == 7
    for point in design.grid:
        assert not t.failures(point, TARGETS), point.label
        assert point.gain_margin_db is not None and point.gain_margin_db > 0
        assert all(d["saturated"] for d in point.devices.values()), point.label
        assert point.v_out_v == pytest.approx(float(point.label.split()[-2]) / 2, abs=0.02)  # servo at mid supply


def test_gain_and_gbw_match_the_hand_estimate_within_30_percent(design):
    for point in design.grid:
        a0, hand = 10 ** (point.dc_gain_db / 20), 10 ** (point.hand_gain_db / 20)
        assert abs(a0 / hand - 1) < 0.30, (point.label, a0, hand)
        assert abs(point.gbw_hz / point.hand_gbw_hz - 1) < 0.30, (point.label, point.gbw_hz, point.hand_gbw_hz)


def test_the_first_cut_predicts_what_typical_measures(design):
    """The procedure's own numbers, from the device tables alone, against ngspice at typical."""
    first = design.rounds[0]
    typical = design.grid[0]
    assert typical.label.startswith("typical")
    assert abs(typical.dc_gain_db - first.prediction.gain_db) < 6.0
    assert typical.gbw_hz == pytest.approx(first.prediction.gbw_hz, rel=0.25)
    m2, m6 = typical.devices["M2"], typical.devices["M6"]
    assert m2["gm"] == pytest.approx(first.prediction.gm1_s, rel=0.1)
    assert m6["gm"] == pytest.approx(first.prediction.gm6_s, rel=0.1)
    assert abs(m6["id"]) == pytest.approx(first.prediction.i_stage2_a, rel=0.1)


def test_a_starved_first_cut_is_corrected_by_simulation(runner):
    """Half the GBW margin and a low second pole miss at the slow corner; the loop raises both and
    meets the targets."""
    from analogopt.circuits.ota_design import DesignChoices

    d = t.design_miller_ota(TARGETS, runner, DesignChoices(gbw_margin=1.0, p2_ratio=1.2))
    assert d.rounds[0].misses and len(d.rounds) > 1
    assert d.met, d.rounds[-1].misses
    last = d.rounds[-1].choices
    assert last.gbw_margin > 1.0 and last.p2_ratio > 1.2


def test_step_swing_noise_offset_at_typical(design, runner):
    point = Gf180mcu()
    ota = design.ota
    step = t.step_response(ota, point, TARGETS.c_load_f, runner)
    i_tail = abs(design.grid[0].devices["M5"]["id"])
    assert step.slew_up_v_per_s == pytest.approx(i_tail / ota.cc_f, rel=0.15)  # slew = I_tail / Cc
    assert step.slew_down_v_per_s == pytest.approx(i_tail / ota.cc_f, rel=0.15)
    assert step.settling_s is not None and step.settling_s < 1e-6
    assert step.overshoot < 0.05  # 64° of phase margin
    low, high, _, _ = t.output_swing(ota, point, TARGETS.c_load_f, runner)
    assert 0 < low < 0.3 and 3.0 < high < 3.3
    # as a follower the NMOS pair's tail needs ~0.9 V above ground (measured 0.92 … 3.09 V within 0.1 mV)
    vin, vout = t.follower_sweep(ota, point, TARGETS.c_load_f, runner)
    f_low, f_high = t.follower_range(vin, vout, point.supply_v / 2)
    assert 0.6 < f_low < 1.2 and 2.8 < f_high < high
    offset, per_cm = t.common_mode_offset(vin, vout, point.supply_v / 2, 3e4, (f_low, f_high))
    assert abs(offset) < 1e-3 and 60 < -20 * math.log10(abs(per_cm)) < 160  # CMRR, measured 108 dB
    noise = t.input_noise(ota, point, runner)
    assert 1e-9 < noise[1e6] < noise[1e3] < 1e-5  # flicker noise at 1 kHz above the white floor
    assert abs(t.systematic_offset_v(ota, point, runner)) < 1e-3
    draws = t.offset_monte_carlo(ota, point, runner, 8)
    assert len(set(draws.round(9))) == 8
    assert 0.3e-3 < draws.std(ddof=1) < 20e-3  # Pelgrom: a few mV for these areas


def test_characterize_cli_writes_the_datasheet(tmp_path, run_cli):
    out = tmp_path / "res"
    code, err = run_cli("characterize", "gf180_opamp", "--out", str(out), "--set", "mc=4", "--set", "corner=ss",
                        "--set", "temp_c=125", "--set", "supply_v=2.97", "--quiet")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"ota.sub", "report.md", "characterization.json", "bode.png", "step.png", "netlist_ac.cir",
            "netlist_step.cir"} <= names
    data = json.loads((out / "characterization.json").read_text())
    assert data["pdk"]["corner"] == "ss" and data["pdk"]["temp_c"] == 125.0
    assert data["targets_met_at_point"] is True
    assert data["device_strength"]["nmos_vs_typical"] < -0.2 and data["device_strength"]["pmos_vs_typical"] < -0.2
    assert abs(data["gbw_hz"]["relative_difference"]) < 0.3 and abs(data["dc_gain_v_per_v"]["relative_difference"]) < 0.3
    assert math.isfinite(data["offset_sigma_v"]["measured"])
    assert data["follower_low_v"]["measured"] < data["follower_high_v"]["measured"] <= data["output_high_v"]["measured"]
    assert data["cmrr_db"]["measured"] > 60
    report = (out / "report.md").read_text()
    assert "ss 125 °C 2.97 V" in report and "| M6 |" in report
    assert (out / "ota.sub").read_text().startswith(".subckt gf180_miller_")


def test_bad_settings_are_one_line(tmp_path, run_cli, check_one_line_error):
    out = tmp_path / "res"
    code, err = run_cli("characterize", "gf180_opamp", "--out", str(out), "--set", "corner=tt", "--quiet")
    check_one_line_error(code, err, code=2, pattern=r"corner", out=out)
    code, err = run_cli("characterize", "gf180_opamp", "--out", str(out), "--set", "pvt=half", "--quiet")
    check_one_line_error(code, err, code=2, pattern=r"pvt", out=out)


@pytest.mark.parametrize("point", [Gf180mcu(), Gf180mcu(corner="ss", temp_c=125.0, supply_v=2.97)],
                         ids=lambda p: p.label)
def test_fitted_macromodel_follows_the_transistors_step_within_5_percent(design, runner, point):
    from analogopt.cosim.transistor_fit import check_fit

    fit = check_fit(design.ota, point, TARGETS.c_load_f, runner)
    assert fit.step_error < 0.05, fit.step_error  # measured 3.6 % (typical), 4.1 % (ss/125 °C)
    assert fit.ac_error_db < 4.0, fit.ac_error_db  # measured 2.3 dB, 2.6 dB below 3·GBW
    ol = t.measure_open_loop(design.ota, point, TARGETS.c_load_f, runner)
    # the model's own unity-gain frequency and phase margin are the measured ones
    assert fit.model.unity_gain_hz() == pytest.approx(ol.gbw_hz, rel=0.01)
    assert fit.model.phase_margin_deg() == pytest.approx(ol.pm_deg, abs=1.0)
