"""The transistor-level op-amp in the loops: a crossbar solve (the array in the op-amps' feedback) and
the log amplifier, each against numpy / the log law and against the finite-gain theory of the op-amp
analogopt measured."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analogopt.blocks.crossbar import map_matrix
from analogopt.blocks.logamp import JunctionModel
from analogopt.blocks.user_block import measure_open_loop as part_open_loop
from analogopt.circuits.crossbar import finite_gain_solution, solve_circuit
from analogopt.circuits.log_amp import LOG_CURRENT_SOURCE, log_amp_circuit
from analogopt.circuits.ota_design import OTATargets
from analogopt.cosim import transistor_ota as t
from analogopt.pdk.gf180mcu import Gf180mcu
from analogopt.spice.netlist import DCSweep, NetlistDeck
from analogopt.spice.runner import make_runner

POINTS = [Gf180mcu(), Gf180mcu(corner="ss", temp_c=125.0, supply_v=2.97)]


@pytest.fixture(scope="module")
def runner():
    return make_runner("ngspice", timeout_s=120)


@pytest.fixture(scope="module")
def ota(runner):
    return t.design_miller_ota(OTATargets(), runner).ota


@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.label)
def test_crossbar_solve_with_transistor_opamps_lands_where_finite_gain_theory_says(ota, runner, point):
    """8×8 SPD system, condition 10. The op-amps' open-loop gain A0 and output resistance (from their
    operating point) predict the error: the array loads each output with ~90 µS against r_out ≈ 200 kΩ,
    so the loaded gain is ~20× below A0 and the answer lands ~1e-3 V from numpy's, where theory puts
    it (measured: circuit − theory 7.5 % (typical) and 6.1 % (ss/125 °C) of the predicted error)."""
    rng = np.random.default_rng(0)
    n = 8
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.geomspace(1.0, 0.1, n)) @ q.T
    b = rng.uniform(-0.1, 0.1, n)
    exact = np.linalg.solve(a, b)
    mapping = map_matrix(a)
    part = ota.as_part(point)
    circuit = solve_circuit(mapping, b, opamp=part)
    op = runner.run(circuit.deck).analysis("op")
    x = np.array([float(np.real(op[v][0])) for v in circuit.probes.values()])
    gain = part_open_loop(part, runner).gain
    ol = t.measure_open_loop(ota, point, 5e-12, runner)
    r_out = 1.0 / (ol.devices["M6"]["gds"] + ol.devices["M7"]["gds"])
    theory = finite_gain_solution(mapping, b, gain, t.systematic_offset_v(ota, point, runner), r_out)
    predicted = np.abs(theory - exact).max()
    assert 2e-4 < predicted < 5e-3  # a visible error: 1e-3 of a 0.2 V answer
    assert np.abs(x - exact).max() < 1.15 * predicted
    assert np.abs(x - theory).max() < 0.2 * predicted
    # the unloaded finite-gain theory would be off by an order of magnitude
    unloaded = finite_gain_solution(mapping, b, gain)
    assert np.abs(x - exact).max() > 5 * np.abs(unloaded - exact).max()


def test_log_amp_with_the_transistor_opamp_keeps_its_slope(ota, runner):
    """1 nA … 1 µA into a diode log amp at 27 °C: slope within 1 % of n·V_T·ln 10 (measured 0.07 %).
    The class-A output stage sinks at most M7's bias current (~97 µA): at 200 µA the output cannot
    follow the log law, and the bench shows it."""
    point = POINTS[0]
    device = JunctionModel()
    circuit = log_amp_circuit(device, ota.as_part(point)).circuit
    deck = NetlistDeck(circuit, analyses=[DCSweep(LOG_CURRENT_SOURCE, -9.0, -6.0, 0.25)], saves=["v(out)", "v(sum)"])
    dc = runner.run(deck).analysis("dc")
    decades, out = np.real(dc.axis), np.real(dc["v(out)"])
    slope = -np.polyfit(decades, out, 1)[0]
    v_t = 1.380649e-23 * (point.temp_c + 273.15) / 1.602176634e-19
    assert slope == pytest.approx(device.n * v_t * math.log(10), rel=0.01)
    assert np.abs(np.real(dc["v(sum)"])).max() < 1e-3  # the virtual ground holds
    beyond = NetlistDeck(circuit, analyses=[DCSweep(LOG_CURRENT_SOURCE, -6.0, math.log10(2e-4), 0.1)], saves=["v(out)"])
    wide = runner.run(beyond).analysis("dc")
    law = np.polyval(np.polyfit(decades, out, 1), np.real(wide.axis))
    assert abs(float(np.real(wide["v(out)"])[-1]) - law[-1]) > 0.1  # the sink current ran out
    sink = abs(t.measure_open_loop(ota, point, 5e-12, runner).devices["M7"]["id"])
    assert 5e-5 < sink < 2e-4


def test_crossbar_scenario_at_transistor_level_reports_theory_and_sweeps_corners(tmp_path):
    """sims/crossbar_solve_gf180.toml: the DC solves and the settling run on the transistor op-amps; each
    corner of [corners.pvt] is a different circuit whose error finite-gain theory predicts."""
    from analogopt.experiments import build_experiment
    from analogopt.scenarios import load_scenario
    from analogopt.sweep.corners import resolve_corners

    scenario = load_scenario("crossbar_solve_gf180", [])
    corners = {c.name: c for c in resolve_corners(scenario, "pvt")}
    assert set(corners) == {"typical", "ss_hot", "ff_cold", "fs", "sf"}
    rows = {}
    for name in ("typical", "ss_hot"):
        overrides = [f"{p}={v!r}" if isinstance(v, str) else f"{p}={v}" for p, v in corners[name].values]
        overrides = [o.replace("'", '"') for o in overrides]
        exp = build_experiment(load_scenario("crossbar_solve_gf180", overrides))
        assert exp.dc_opamp is not None and "gf180_miller" in exp.netlist()
        scratch = tmp_path / name
        scratch.mkdir()
        rows[name] = exp.sample([], None, make_runner("ngspice", timeout_s=120), scratch)
    for name, row in rows.items():
        predicted = row["finite_gain.predicted_rel_error"]
        assert 1e-3 < predicted < 2e-2, (name, predicted)
        assert row["finite_gain.circuit_vs_theory_rel"] < 0.2 * predicted, (name, row)
    # the slow corner at 125 °C has less gain, so a larger error, as theory says
    assert rows["ss_hot"]["finite_gain.gain"] < rows["typical"]["finite_gain.gain"]
    assert rows["ss_hot"]["finite_gain.measured_rel_error"] > rows["typical"]["finite_gain.measured_rel_error"]


def test_crossbar_scenario_reports_energy_to_solution_beside_the_digital_baseline(tmp_path, run_cli):
    import json

    out = tmp_path / "res"
    code, err = run_cli("run", "crossbar_solve_gf180", "--out", str(out), "--set", "monte_carlo.samples=2", "--quiet")
    assert code == 0, err
    s = json.loads((out / "metrics.json").read_text())["settling"]
    e = s["energy"]
    # class-A op-amps draw nearly constant current: energy ≈ quiescent power × time to solution
    assert e["to_solution_j"] == pytest.approx(e["quiescent_power_w"] * e["time_to_solution_s"], rel=0.2)
    assert 8 * 0.2e-3 < e["quiescent_power_w"] < 8 * 0.8e-3  # eight op-amps of ~0.4 mW
    assert e["digital"]["flops"] == pytest.approx(2 * 8**3 / 3 + 2 * 8**2)
    assert e["digital"]["energy_j"] == pytest.approx(e["digital"]["flops"] / 2 * 4.6e-12)
    assert s["finite_gain_theory"]["circuit_vs_theory_rel"] < 0.2 * s["finite_gain_theory"]["predicted_rel_error"]
    assert "digital baseline" in (out / "report.md").read_text()
