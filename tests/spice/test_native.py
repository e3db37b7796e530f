"""The native DC solver (``--simulator native``) against real ngspice on the same decks.

Agreement: every vector of every plot within 1e-9 of ngspice's, relative to that vector's largest
magnitude or, where that is smaller, to a floor of 1e-6 times the largest magnitude of the plot's
vectors of the same kind (voltages, currents): a virtual ground's microvolts are compared on the scale
of the voltages around it. Same plots in the same order, same vector names, same sweep axis.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from analogopt.blocks.crossbar import DeviceModel, format_array, map_matrix, wire_mvm_currents
from analogopt.blocks.opamp import OpAmpModel
from analogopt.circuits.crossbar import lstsq_circuit, mvm_circuit, pinv_circuit, solve_circuit
from analogopt.errors import ConvergenceError, NetlistError, SimulationTimeoutError
from analogopt.spice.native import SOURCE, NativeRunner
from analogopt.spice.runner import NgspiceRunner, RunResult, make_runner

TOL = 1e-9
FLOOR = 1e-6

OPAMPS = {
    "ideal": OpAmpModel(kind="ideal", gain=1e9),
    "single_pole": OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6),
}


def assert_agree(native: RunResult, ngspice: RunResult) -> None:
    assert [p.analysis for p in native.plots] == [p.analysis for p in ngspice.plots]
    for mine, theirs in zip(native.plots, ngspice.plots):
        assert mine.source == SOURCE
        assert mine.axis_name == theirs.axis_name
        np.testing.assert_allclose(mine.axis, theirs.axis, rtol=1e-12, atol=1e-15)
        assert set(mine.signals) == set(theirs.signals)
        peak = {kind: max((np.abs(v).max() for k, v in theirs.signals.items() if k[0] == kind), default=0.0)
                for kind in "vi"}
        for name, ref in theirs.signals.items():
            scale = max(np.abs(ref).max(), FLOOR * peak[name[0]])
            worst = np.abs(mine.signals[name] - ref).max()
            assert worst <= TOL * scale, f"{name}: native differs by {worst:.3g} on a scale of {scale:.3g}"


def both(deck) -> tuple[RunResult, RunResult]:
    return NativeRunner(timeout_s=60).run(deck), NgspiceRunner(timeout_s=120).run(deck)


# ------------------------------------------------------------------------------------- crossbar decks
def _crossbar(kind: str, opamp: OpAmpModel, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 5
    square = rng.uniform(-1, 1, (n, n)) / np.sqrt(n) + 2.0 * np.eye(n)
    tall = rng.uniform(-1, 1, (2 * n, n)) / np.sqrt(n) + np.vstack([np.eye(n), np.eye(n)])
    if kind == "mvm":
        return mvm_circuit(map_matrix(square), rng.uniform(-1, 1, n), opamp=opamp)
    if kind == "solve":
        return solve_circuit(map_matrix(square), rng.uniform(-1, 1, n), opamp=opamp)
    if kind == "lstsq":
        return lstsq_circuit(map_matrix(tall), rng.uniform(-1, 1, 2 * n), opamp=opamp)
    return pinv_circuit(map_matrix(tall[:6, :3]), opamp=opamp)


@pytest.mark.parametrize("opamp", sorted(OPAMPS))
@pytest.mark.parametrize("kind", ["mvm", "solve", "lstsq", "pinv"])
def test_crossbar_decks_agree_with_ngspice(kind, opamp):
    circuit = _crossbar(kind, OPAMPS[opamp])
    native, ngspice = both(circuit.deck)
    assert_agree(native, ngspice)
    assert circuit.values(native.analysis("op")).shape == circuit.shape


@pytest.mark.parametrize("name", ["crossbar_mvm", "crossbar_solve", "crossbar_pinv"])
def test_shipped_scenarios_agree_with_ngspice(name):
    """The scenario's own circuits (experiment API): the ideal mapping and one Monte Carlo draw."""
    from analogopt.experiments import build_experiment
    from analogopt.scenarios import load_scenario

    experiment = build_experiment(load_scenario(name))
    matrix = experiment.problem["X" if experiment.mode == "pinv" else "A"]
    rng = np.random.default_rng(3)
    drawn = map_matrix(matrix, experiment.mc_device, seed=rng)
    second = map_matrix(matrix, experiment.mc_device, seed=rng) if experiment.mode == "pinv" else None
    for forward, other in ((map_matrix(matrix, experiment.device), None), (drawn, second)):
        circuit = experiment.build(forward, other)
        native, ngspice = both(circuit.deck)
        assert_agree(native, ngspice)


def test_cli_run_on_native_matches_ngspice(run_cli, tmp_path):
    """``analogopt run crossbar_mvm --simulator native``: the same Monte Carlo errors as on ngspice."""
    values = {}
    for simulator in ("native", "ngspice"):
        out = tmp_path / simulator
        code, err = run_cli("run", "crossbar_mvm", "--set", "monte_carlo.samples=2", "--simulator", simulator,
                            "--quiet", "--out", str(out))
        assert code == 0, err
        metrics = json.loads((out / "metrics.json").read_text())
        values[simulator] = np.array(metrics["monte_carlo"]["rel_error_vs_exact"]["values"])
        assert (out / "spice" / "ideal" / "netlist.cir").exists()
    assert (tmp_path / "native" / "spice" / "ideal" / "native.out").exists()
    np.testing.assert_allclose(values["native"], values["ngspice"], rtol=TOL)


def test_cli_transient_is_refused_in_one_line(run_cli, tmp_path, check_one_line_error):
    """crossbar_solve's settling run is a transient: refused, naming .tran and the way out."""
    code, err = run_cli("run", "crossbar_solve", "--set", "monte_carlo.samples=1", "--simulator", "native",
                        "--quiet", "--out", str(tmp_path / "r"))
    check_one_line_error(code, err, code=3, pattern=r"\.tran \(line \d+\).*--simulator ngspice")


def test_wire_resistance_64x64_mvm_agrees_with_ngspice():
    """64×64 MVM, devices 1–100 µS, 2 Ω per wire segment: 4096 cells, two nodes each, per array."""
    rng = np.random.default_rng(5)
    a, x = rng.uniform(-1, 1, (64, 64)), rng.uniform(-1, 1, 64)
    mapping = map_matrix(a, DeviceModel(r_wire_ohm=2.0))
    circuit = mvm_circuit(mapping, x)
    native, ngspice = both(circuit.deck)
    assert_agree(native, ngspice)
    # the wires are in the answer: the twin's nodal analysis of them (G⁺ driven by −x), not A·x
    y = circuit.values(native.analysis("op"))
    np.testing.assert_allclose(y, -wire_mvm_currents(mapping, -x) / mapping.g_unit_s, rtol=0,
                               atol=1e-6 * np.abs(y).max())
    assert np.abs(y - a @ x).max() > 0.05 * np.abs(y).max()


# --------------------------------------------------------------------------------- random networks
def _grid(rng: np.random.Generator, rows: int, cols: int, r_wire: float, prefix: str = "A") -> str:
    """An array with wire resistance, driven by sources on its columns, sensed into TIAs on its rows."""
    g = rng.uniform(1e-6, 1e-4, (rows, cols))
    sense, drive = [f"s{i}" for i in range(rows)], [f"d{j}" for j in range(cols)]
    lines = format_array(prefix, g, sense, drive, r_wire)
    lines += "".join(f"Vd{j} d{j} 0 dc {rng.uniform(-1, 1)!r}\n" for j in range(cols))
    return lines


@st.composite
def networks(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    gain = 10.0 ** draw(st.floats(2.0, 9.0))
    kind = draw(st.sampled_from(["ideal", "single_pole"]))
    nested = draw(st.booleans())
    sweep = draw(st.booleans())
    rng = np.random.default_rng(seed)
    opamp = OpAmpModel(kind="ideal", gain=gain) if kind == "ideal" else OpAmpModel(kind="single_pole", gain=gain,
                                                                                   gbw_hz=1e6)
    sub = opamp.subcircuit_name
    text = ["* random linear network", str(opamp.subcircuit()).strip()]
    if nested:  # a TIA as a subcircuit holding the op-amp: nested instances
        text += [".subckt tia in out", f"Rf in out {rng.uniform(1e3, 1e5)!r}", f"Xa 0 in out {sub}", ".ends tia"]
    text.append(_grid(rng, rows, cols, rng.uniform(0.5, 10.0)).strip())
    for i in range(rows):
        text.append(f"Xt{i} s{i} y{i} tia" if nested else f"Rf{i} s{i} y{i} {rng.uniform(1e3, 1e5)!r}\n"
                                                             f"Xop{i} 0 s{i} y{i} {sub}")
        text.append(f"Rl{i} y{i} 0 {rng.uniform(1e3, 1e4)!r}")
    # controlled sources, a current source, an inductor and a capacitor on the outputs
    text += [f"Gm m 0 y0 0 {rng.uniform(1e-6, 1e-4)!r}", f"Rm m 0 {rng.uniform(1e3, 1e4)!r}",
             f"Ek k 0 m y0 {rng.uniform(-10, 10)!r}", "Lk k kl 1e-6", f"Rk kl 0 {rng.uniform(1e2, 1e4)!r}",
             f"Ii 0 m dc {rng.uniform(-1e-4, 1e-4)!r} ac 1", "Cm m k 1e-9", ".op"]
    if sweep:
        text.append(".dc Vd0 -1 1 0.5")
    return "\n".join(text) + "\n.end\n"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_linear_networks_agree_with_ngspice(deck):
    native, ngspice = both(deck)
    assert_agree(native, ngspice)


# ----------------------------------------------------------------------------------- netlist syntax
SYNTAX = """* syntax the native reader follows
.param rload=2k gain=3
.subckt inner a b
Ein b 0 a 0 {gain}
Vq a q dc 0.5 ac 1 sin(0 1 1k)
Rq q 0 1k
.ends inner
.subckt outer p o
X2 p o inner
Rs p gnd 1k
.ends outer
V1 a 0 1
X1 a o outer
Ro o 0 {rload} ; an inline comment
* a comment line
R2 a
+ b 1.5k
L1 b c 1u
Rc c 0 1meg
C1 c 0 1p
I1 0 b 10u
.options reltol=1e-6
.op
.dc V1 0 1 0.25
.dc I1 0 20u 10u
.end
"""


def test_syntax_agrees_with_ngspice():
    """Parameters, nested subcircuits, gnd, scale suffixes, comments, continuation lines, dc/ac/sin
    sources, L and C, two sweeps: vectors, names and plot order as ngspice gives them."""
    native, ngspice = both(SYNTAX)
    assert_agree(native, ngspice)
    assert [p.axis_name for p in native.plots] == ["i(i-sweep)", "v(v-sweep)", "index"]
    assert "i(e.x1.x2.ein)" in native.plots[0].signals and "v(x1.x2.q)" in native.plots[0].signals


# ----------------------------------------------------------------------------------------- refusals
REFUSED = [
    ("B1 b 0 v=v(a)*2\n", r"B1 \(line 3\): it is a behavioral source"),
    ("D1 b 0 dmod\n.model dmod d\n", r"D1 \(line 3\): it is a diode"),
    (".tran 1n 1u\n", r"\.tran \(line 3\): it solves DC operating points"),
    ("Vs c 0 sin(0 1 1k)\n", r"Vs \(line 3\): it has no DC value"),
    ("Rx b 0 1k tc1=0.01\n", r"Rx \(line 3\): only the linear form"),
    ("Ex b 0 value={v(a)}\n", r"\{v\(a\)\} \(line 3\)"),
    ("Xq a b nosuch\n", r"Xq \(line 3\): subcircuit 'nosuch' is not defined"),
]


@pytest.mark.parametrize("line, pattern", REFUSED)
def test_unsupported_input_is_refused_in_one_line(line, pattern):
    deck = f"* refused\nV1 a 0 1\n{line}R1 a b 1k\nR2 b 0 1k\n.op\n.end\n"
    with pytest.raises(NetlistError, match=pattern) as caught:
        NativeRunner().run(deck)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("run it with --simulator ngspice")


def test_an_opamp_with_rails_is_refused_naming_its_b_source():
    rails = OpAmpModel(kind="ideal", gain=1e5, v_low=-1.0, v_high=1.0)
    deck = mvm_circuit(map_matrix(np.eye(2)), np.ones(2), opamp=rails).deck
    with pytest.raises(NetlistError, match=r"Brail \(line \d+\): it is a behavioral source"):
        NativeRunner().run(deck)


def test_a_floating_node_is_named():
    deck = "* floating\nV1 a 0 1\nR1 a b 1k\nC1 b c 1p\nR2 c d 1k\n.op\n.end\n"
    with pytest.raises(ConvergenceError, match=r"singular matrix: check node c: it has no DC path to ground") as caught:
        NativeRunner().run(deck)
    assert caught.value.node == "c"


def test_a_voltage_source_loop_is_named():
    deck = "* loop\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.op\n.end\n"
    with pytest.raises(ConvergenceError, match=r"singular matrix: check i\(v[12]\): a loop of voltage sources"):
        NativeRunner().run(deck)


# ------------------------------------------------------------------------------------- the runner
def test_make_runner_builds_the_native_runner(tmp_path):
    runner = make_runner("native", timeout_s=5)
    assert isinstance(runner, NativeRunner) and runner.deadline is not None
    deck = "* divider\nV1 a 0 2\nR1 a b 1k\nR2 b 0 3k\n.save v(b) i(v1) v(nosuch)\n.op\n.end\n"
    result = runner.start(deck, run_dir=tmp_path / "run").wait()
    op = result.analysis("op")
    assert list(op.signals) == ["v(b)", "i(v1)"]
    assert op["b"][0] == pytest.approx(1.5, rel=1e-15) and op["i(v1)"][0] == pytest.approx(-0.5e-3, rel=1e-15)
    assert result.warnings == ["Warning: .save v(nosuch): no such vector; it is left out"]
    assert (tmp_path / "run" / "netlist.cir").read_text() == deck
    assert "direct" in (tmp_path / "run" / "native.out").read_text()
    with pytest.raises(NetlistError):
        runner.start("* nothing to run\nR1 a 0 1k\n.end\n").wait()
    # the description names what ran: the rule before any run, then the solvers the runs took
    assert "CG/GMRES from" in make_runner("native", timeout_s=5).describe().solver
    assert result.simulator.solver == "SuperLU" and str(runner.describe()) == "analogopt's native DC solver (SuperLU)"
    first = runner.describe()
    runner.run(deck)
    assert runner.describe().runs == (("SuperLU", 2),) and runner.describe().since(first).runs == (("SuperLU", 1),)
    assert runner.describe().to_json()["runs_by_solver"] == {"SuperLU": 2}


def test_a_spent_deadline_stops_the_run():
    runner = NativeRunner(timeout_s=1e-9, whole_run=True)
    with pytest.raises(SimulationTimeoutError, match="native simulator exceeded"):
        runner.run("* divider\nV1 a 0 2\nR1 a 0 1k\n.op\n.end\n")


def test_iterative_solver_agrees_with_direct_and_ngspice():
    """A 24×24 array with wire resistance, forced onto CG (the method large grids get), and an MVM
    with op-amps and wires, forced onto GMRES (controlled sources make the reduced system unsymmetric)."""
    rng = np.random.default_rng(2)
    deck = ("* wire grid\n" + _grid(rng, 24, 24, 2.0) + "".join(f"Vs{i} s{i} 0 0\n" for i in range(24))
            + ".op\n.end\n")
    iterative = NativeRunner(method="iterative").run(deck)
    assert "iterative: CG" in iterative.stdout
    assert_agree(iterative, NgspiceRunner().run(deck))
    circuit = mvm_circuit(map_matrix(rng.uniform(-1, 1, (6, 6)), DeviceModel(r_wire_ohm=2.0)), rng.uniform(-1, 1, 6),
                          opamp=OPAMPS["single_pole"])
    iterative = NativeRunner(method="iterative").run(circuit.deck)
    assert "iterative: GMRES" in iterative.stdout
    assert_agree(iterative, NgspiceRunner().run(circuit.deck))


def test_iterative_solver_adds_amg_where_no_chains_dominate():
    """An isotropic 30×30 resistor mesh: chains carry half of its links, so AMG preconditions it."""
    n = 30
    node = np.arange(n * n).reshape(n, n)
    pairs = np.concatenate([np.stack([node[:, :-1].ravel(), node[:, 1:].ravel()], 1),
                            np.stack([node[:-1, :].ravel(), node[1:, :].ravel()], 1)])
    lines = [f"R{k} m{a} m{b} 1k" for k, (a, b) in enumerate(pairs)]
    deck = "\n".join(["* mesh", *lines, "V1 m0 0 1", f"V2 m{n * n - 1} 0 -1", f"I1 0 m{n * n // 2} 1m", ".op", ".end"])
    iterative = NativeRunner(method="iterative").run(deck)
    assert "smoothed-aggregation AMG" in iterative.stdout
    assert_agree(iterative, NgspiceRunner().run(deck))
