"""The shipped ``crossbar_irdrop`` scenario (64×64 MVM, 2 Ω segments, driver and sense resistance) end to end in
real ngspice: the IR-drop error its metrics and report state equals the error of an independent dense nodal
solve of the same circuit; its size estimate counts the wire elements; its resistances sweep; its checked-in
netlist set computes what the flat circuit computes; the native solver agrees with ngspice on it."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from analogopt.blocks.crossbar import map_matrix
from analogopt.circuits.crossbar import IDEAL_OPAMP
from analogopt.errors import ConfigError
from analogopt.experiments import build_experiment
from analogopt.experiments.registry import estimate
from analogopt.progress import SilentProgress
from analogopt.results import RunDirectory
from analogopt.scenarios import Scenario, load_scenario
from analogopt.spice import NgspiceRunner
from analogopt.sweep.evaluate import evaluate_sample
from analogopt.sweep.spec import SweepPlan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blocks"))
from crossbar_dense import dense_mvm  # noqa: E402


#: a small point of the scenario for sweeps (16×16, one Monte Carlo draw)
SMALL = ["problem.rows=16", "problem.cols=16", "monte_carlo.samples=1"]


def errors(value, ideal):
    return np.linalg.norm(value - ideal) / np.linalg.norm(ideal), np.abs(value - ideal).max() / np.ptp(ideal)


@pytest.mark.slow
def test_irdrop_scenario_states_the_error_of_the_independent_solve(tmp_path):
    scenario = load_scenario("crossbar_irdrop", ["monte_carlo.samples=1"])
    e = build_experiment(scenario)
    assert (e.rows, e.cols) == (64, 64) and e.mode == "mvm"
    d = e.device
    assert (d.row_segment_ohm, d.col_segment_ohm) == (2.0, 2.0) and d.r_driver_ohm > 0 and d.r_sense_ohm > 0
    with RunDirectory(tmp_path / "r") as out:
        metrics = e.run(out, SilentProgress())
    m = map_matrix(e.problem["A"], d)
    x = e.problem["x"]
    dense = dense_mvm(m, x, (2.0, 2.0, d.r_sense_ohm, d.r_driver_ohm), IDEAL_OPAMP.gain)
    ideal = e.problem["A"] @ x
    want_l2, want_max = errors(dense, ideal)
    ir = metrics["ir_drop"]
    for side in ("circuit_vs_ideal", "theory_vs_ideal"):
        assert ir[side]["rel_l2"] == pytest.approx(want_l2, rel=1e-9, abs=0), side
        assert ir[side]["max_fraction_of_range"] == pytest.approx(want_max, rel=1e-9, abs=0), side
    assert want_l2 > 0.05  # 2 Ω segments at 64×64 with 100 µS devices: a large, real error
    assert ir["circuit_vs_theory"]["rel_l2"] < 1e-9 and ir["mc_circuit_vs_theory_rel_max"] < 1e-9
    assert ir["output_range"] == pytest.approx(np.ptp(ideal), rel=1e-12)
    written = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert written["ir_drop"]["circuit_vs_ideal"]["rel_l2"] == ir["circuit_vs_ideal"]["rel_l2"]
    assert written["twin_validity"]["valid"] is False and "IR drop" in written["twin_validity"]["note"]
    assert any("outside its valid regime" in w for w in written["warnings"])
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## IR drop" in report
    row = next(line for line in report.splitlines() if line.startswith("| circuit (ngspice) vs ideal MVM"))
    assert f"| {100 * want_l2:.4g} % | {100 * want_max:.4g} % |" in row
    assert "**Warning: the twin is outside its valid regime**" in report
    assert (tmp_path / "r" / "ir_drop.png").stat().st_size > 0


def test_estimate_counts_the_wire_elements():
    ideal = load_scenario("crossbar_irdrop", ["device.r_row=0", "device.r_col=0", "device.r_driver=0",
                                             "device.r_sense=0"])
    wired = load_scenario("crossbar_irdrop")
    e = build_experiment(wired)
    elements = e.build(map_matrix(e.problem["A"], e.device), None).element_count
    plain = build_experiment(ideal)
    plain_elements = plain.build(map_matrix(plain.problem["A"], plain.device), None).element_count
    runs = 2 + e.samples
    per_run, plain_per_run = estimate(wired).elements / runs, estimate(ideal).elements / runs
    assert elements <= per_run <= 1.3 * elements and plain_elements <= plain_per_run <= 1.3 * plain_elements
    # the wires' share is counted, not guessed: segments on both line kinds and one resistor per line end
    assert per_run - plain_per_run == pytest.approx(elements - plain_elements, rel=0.01)
    assert elements > 2.9 * plain_elements


@pytest.mark.parametrize("key, values", [("r_row", "0,1,4"), ("r_col", "0,1,4"), ("r_driver", "0,20,200"),
                                         ("r_sense", "0,20,200")])
def test_each_resistance_is_a_sweep_axis(key, values):
    """``analogopt sweep --set device.r_…=…``: each point's row carries the IR-drop error, which grows with
    the resistance, and the circuit stays on the theory."""
    plan = SweepPlan.build(load_scenario("crossbar_irdrop", SMALL), [f"device.{key}={values}"])
    rows = [evaluate_sample(plan.to_json(), s.id) for s in plan.samples]
    assert [r["status"] for r in rows] == ["ok"] * 3, [r["error"] for r in rows]
    error = [r["ir_drop.circuit_vs_ideal.rel_l2"] for r in rows]
    assert error[0] < error[1] < error[2], error
    assert all(r["ir_drop.circuit_vs_theory.rel_l2"] < 1e-9 for r in rows)


def test_bad_resistances_name_the_scenario_key():
    with pytest.raises(ConfigError, match=r"device\.r_sense: must be ≥ 0"):
        build_experiment(load_scenario("crossbar_irdrop", ["device.r_sense=-1"]))
    with pytest.raises(ConfigError, match=r"device\.r_col: cannot read"):
        build_experiment(load_scenario("crossbar_irdrop", ['device.r_col="2 ohms"']))
    base = load_scenario("crossbar_irdrop")
    both = Scenario("both", base.path, {**base.config, "device": {**base.config["device"], "r_wire": 1.0}})
    with pytest.raises(ConfigError, match=r"device\.r_wire sets both row and column segments"):
        build_experiment(both)


def test_checked_in_deck_gives_the_circuits_outputs(tmp_path):
    """``netlists/crossbar_irdrop`` (hierarchical, one ``.param`` per wire kind and array) computes what the flat
    circuit computes. Run through the runner, which selects KLU where ngspice has it: plain ``ngspice -b``
    keeps Sparse 1.3, which takes ~45 s to order this 16 600-node network, so the plain-ngspice checks of
    tests/cli leave this deck out."""
    deck = tmp_path / "deck"
    shutil.copytree(Path(__file__).resolve().parents[2] / "netlists" / "crossbar_irdrop", deck)
    text = (deck / "testbench.cir").read_text()
    assert ".param rap_ws=2.0" in text and ".param ran_rd=10.0" in text
    runner = NgspiceRunner(timeout_s=300)
    exported = runner.run(text, run_dir=deck).analysis("op")
    e = build_experiment(load_scenario("crossbar_irdrop"))
    mapping = map_matrix(e.problem["A"], e.device)
    circuit = e.build(mapping, None)
    flat = circuit.values(runner.run(circuit.deck).analysis("op"))
    np.testing.assert_allclose(exported.final(circuit.output_vectors()), flat, rtol=0, atol=1e-9 * np.abs(flat).max())
    assert errors(flat, e.problem["A"] @ e.problem["x"])[0] > 0.05


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("analogopt.spice.native") is None, reason="no native solver here")
def test_native_solver_agrees_with_ngspice_on_the_irdrop_circuit():
    from analogopt.spice.runner import make_runner

    e = build_experiment(load_scenario("crossbar_irdrop"))
    circuit = e.build(map_matrix(e.problem["A"], e.device), None)
    native = circuit.values(make_runner("native", timeout_s=300).run(circuit.deck).analysis("op"))
    ngspice = circuit.values(NgspiceRunner(timeout_s=300).run(circuit.deck).analysis("op"))
    assert np.linalg.norm(native - ngspice) / np.linalg.norm(ngspice) < 1e-9
