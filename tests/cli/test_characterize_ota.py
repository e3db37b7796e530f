"""``analogopt characterize ota``: the OTA macromodel's datasheet measured in real ngspice against its own
parameters (gm, gm·r_out, bw_hz, r_out, offset, swing limits), the files, and one-line errors."""

from __future__ import annotations

import json
import math

import pytest

from analogopt.blocks.ota import OTAModel
from analogopt.cli import main

DEFAULT = OTAModel(gm_s=10e-6)
#: every parameter moved off its default (A0 = 5000, a 200 kHz pole, 2 mV offset, a 0.5 … 2.8 V swing)
OTHER_SETTINGS = {"gm_s": "50u", "r_out_ohm": "100meg", "bw_hz": "200k", "offset_v": "2m", "v_low": "0.5",
                  "v_high": "2.8", "knee_v": "50m"}
OTHER = OTAModel(gm_s=50e-6, r_out_ohm=100e6, bw_hz=200e3, offset_v=2e-3, v_low=0.5, v_high=2.8, knee_v=0.05)


def _characterize(out, settings: dict[str, str]) -> dict:
    args = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    assert main(["characterize", "ota", "--out", str(out), "--quiet", *args]) == 0
    return json.loads((out / "characterization.json").read_text())


@pytest.fixture(scope="module")
def default_ota(tmp_path_factory):
    out = tmp_path_factory.mktemp("characterize_ota") / "default"
    return out, _characterize(out, {})


@pytest.fixture(scope="module")
def other_ota(tmp_path_factory):
    out = tmp_path_factory.mktemp("characterize_ota") / "other"
    return out, _characterize(out, OTHER_SETTINGS)


def _measured(data: dict, key: str) -> float:
    return data[key]["measured"]


def _check_against_model(data: dict, model: OTAModel) -> None:
    """The acceptance limits: gm, gm·r_out and bw_hz within 2 %, offset within 2 % (10 µV at 0), r_out
    within 2 %, each swing limit within one knee of v_low/v_high."""
    assert _measured(data, "transconductance_s") == pytest.approx(model.gm_s, rel=0.02)
    assert _measured(data, "dc_transconductance_s") == pytest.approx(model.gm_s, rel=0.02)
    assert _measured(data, "transconductance_f_3db_hz") == pytest.approx(model.bw_hz, rel=0.02)
    assert _measured(data, "dc_gain_v_per_v") == pytest.approx(model.gm_s * model.r_out_ohm, rel=0.02)
    assert _measured(data, "dc_gain_db") == pytest.approx(20 * math.log10(model.dc_gain), rel=0.02)
    # unloaded, the voltage gain has only the bandwidth pole
    assert _measured(data, "f_3db_hz") == pytest.approx(model.bw_hz, rel=0.02)
    assert _measured(data, "output_resistance_ohm") == pytest.approx(model.r_out_ohm, rel=0.02)
    assert _measured(data, "input_offset_v") == pytest.approx(model.offset_v, rel=0.02, abs=10e-6)
    assert abs(_measured(data, "output_high_v") - model.v_high) < model.knee_v
    assert abs(_measured(data, "output_low_v") - model.v_low) < model.knee_v
    assert _measured(data, "knee_high_v") == pytest.approx(model.knee_v, rel=0.02)
    assert _measured(data, "knee_low_v") == pytest.approx(model.knee_v, rel=0.02)
    for key in ("transconductance_s", "transconductance_f_3db_hz", "dc_gain_v_per_v", "output_resistance_ohm",
                "output_high_v", "knee_high_v"):
        assert abs(data[key]["relative_difference"]) < 0.02, key
    # the analytic column holds the parameters (at mid-swing the headroom factor is 1 to 1e-10 here)
    assert data["transconductance_s"]["analytic"] == pytest.approx(model.gm_s, rel=1e-9)
    assert data["dc_gain_v_per_v"]["analytic"] == pytest.approx(model.dc_gain, rel=1e-9)
    assert data["transconductance_f_3db_hz"]["analytic"] == model.bw_hz
    assert data["input_offset_v"]["analytic"] == model.offset_v


def test_default_ota_matches_its_parameters(default_ota):
    _, data = default_ota
    _check_against_model(data, DEFAULT)
    assert data["gbw_hz"]["measured"] is None and data["phase_margin_deg"]["measured"] is None  # unloaded: n/a


def test_non_default_ota_matches_its_parameters(other_ota):
    _, data = other_ota
    _check_against_model(data, OTHER)
    assert data["parameters"]["offset_v"] == pytest.approx(2e-3) and data["parameters"]["ref_v"] == 1.65


def test_load_capacitor_adds_unity_gain_and_phase_margin(tmp_path):
    data = _characterize(tmp_path / "loaded", {"c_load_f": "1p"})
    output_pole = 1 / (2 * math.pi * DEFAULT.r_out_ohm * 1e-12)
    assert _measured(data, "f_3db_hz") == pytest.approx(output_pole, rel=0.02)
    # two poles, gm/(2π·C_L) = 1.59 MHz above a 1 MHz bandwidth pole: |A| = 1 where
    # (gm/(2πC_L))² = f²·(1 + (f/bw)²), and the phase margin follows from both poles
    fu = data["gbw_hz"]["analytic"]
    assert (DEFAULT.gm_s / (2 * math.pi * 1e-12)) ** 2 == pytest.approx(fu**2 * (1 + (fu / 1e6) ** 2), rel=1e-3)
    assert _measured(data, "gbw_hz") == pytest.approx(fu, rel=0.02)
    assert _measured(data, "phase_margin_deg") == pytest.approx(90 - math.degrees(math.atan(fu / 1e6)), rel=0.02)
    assert _measured(data, "transconductance_s") == pytest.approx(DEFAULT.gm_s, rel=0.02)  # the short ignores C_L
    assert "CL" not in (tmp_path / "loaded/netlist_gm.cir").read_text()
    assert "Cload out ref 1e-12" in (tmp_path / "loaded/netlist_gain.cir").read_text()


def test_result_directory_holds_decks_figures_and_report(default_ota):
    out, data = default_ota
    for analysis in ("gm", "gain", "rout", "transfer", "swing"):
        assert (out / f"netlist_{analysis}.cir").read_text().endswith(".end\n")
        assert (out / "spice" / analysis / "out.raw").stat().st_size > 0
        assert data["testbenches"][analysis]["netlist"] == f"netlist_{analysis}.cir"
    for figure in ("bode.png", "transfer.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "noise.png").exists() and not (out / "blocks").exists()
    report = (out / "report.md").read_text()
    assert "| transconductance gm (output into a short, AC at bw/1000) | 1e-05 | 1e-05 | S |" in report
    assert "| output resistance | 1e+12 | 1e+12 | Ω |" in report
    assert data["block"] == "ota" and data["input_offset_v"]["difference"] == pytest.approx(0, abs=1e-12)
    assert "Bdut_out ref out" in (out / "netlist_gm.cir").read_text()


def test_summary_line(tmp_path, capsys):
    assert main(["characterize", "ota", "--out", str(tmp_path / "o"), "--set", "gm_s=20u"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("OTA: gm 20 µS, pole at 1 MHz, DC gain 146.0 dB, r_out 1e+12 Ω, offset 0 V, "
                               "swing 0 V … 3.3 V — results in ")


@pytest.mark.parametrize("args, pattern", [
    (["--set", "gm=1u"], r"ota: unknown key\(s\) gm; allowed: bw_hz, c_load_f, gm_s"),
    (["--set", "gm_s=-1u"], r"ota\.gm_s: must be > 0 S, got '-1u'"),
    (["--set", "bw_hz=1MHz"], r"ota\.bw_hz: '1MHz' means 1 milli"),
    (["--set", "r_out_ohm=0"], r"ota\.r_out_ohm: must be > 0"),
    (["--set", "c_load_f=-1p"], r"ota\.c_load_f: must be ≥ 0 F"),
    (["--set", "v_low=1", "--set", "v_high=1.01"], r"ota: OTA swing v_low = 1 V … v_high = 1.01 V is narrower"),
    (["--set", "knee_v=nan"], r"ota\.knee_v"),
    # its unity-feedback null would lie beyond a rail: the DC gain bench measured 2.7e-8 V/V with exit 0
    (["--set", "offset_v=-2"], r"ota: OTA offset_v = -2 V is not below half its output swing .*= 1\.65 V"),
])
def test_bad_ota_settings_are_one_line_and_write_nothing(tmp_path, run_cli, check_one_line_error, args, pattern):
    out = tmp_path / "out"
    code, err = run_cli("characterize", "ota", *args, "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)
    assert list(tmp_path.iterdir()) == []
