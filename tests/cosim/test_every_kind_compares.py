"""Every circuit kind writes the shared comparison keys and a trajectories.parquet that holds every probed
signal of both sides (issue 12: "Every circuit kind's metrics.json carries the shared comparison keys")."""

import json

import numpy as np
import pandas as pd
import pytest

from analogopt.cli import main
from analogopt.experiments import build_experiment
from analogopt.experiments.registry import KINDS, experiment_class
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner

#: kind → (shipped scenario, small overrides, expected {group: signals} or a count check)
SMALL = {
    "nf_single": ("nf_staircase", ["loop.iterations=1000", "data.samples=21"]),
    "inverse_loop": ("inverse_loop", ["loop.points=21"]),
    "log_amp": ("log_amp", ["sweep.points_per_decade=2", "sweep.temperatures_c=[0,27]"]),
    "momentum_filter": ("momentum_filter", ["drive.steps=40", "equivalence.steps=2"]),
    "crossbar_mvm": ("crossbar_mvm", ["problem.rows=4", "problem.cols=3", "monte_carlo.samples=2"]),
    "crossbar_solve": ("crossbar_solve", ["problem.rows=4", "monte_carlo.samples=2"]),
    "crossbar_pinv": ("crossbar_pinv", ["problem.rows=4", "problem.cols=2", "monte_carlo.samples=2"]),
    "multilayer": ("ml_xor", ["training.iterations=40", "training.rule=dfa"]),
    "nf_sensitivity": ("nf_sensitivity", ['set=["loop.iterations=1000"]', "sensitivity.ota_r_out_ohm=[1e9]",
                                          "sensitivity.c_leak_ohm=[1e9]", "sensitivity.ota_offset_v=[1e-3]",
                                          "sensitivity.ota_headroom_v=[1.4]", "sensitivity.levels=[16]"]),
}
SHARED = ("analog_vs_twin", "analog_vs_ideal", "twin_vs_ideal")


def circuit_kinds():
    return {k for k in KINDS if experiment_class(k).has_circuit}


def test_every_circuit_kind_has_a_case_here():
    assert set(SMALL) == circuit_kinds()


def expected_signals(kind, scenario):
    """group → the probed signals the kind's run must compare."""
    e = build_experiment(scenario)
    if kind == "nf_single":
        return {"weights": list(e.problem.weight_names), "loss": ["mse"]}
    if kind == "nf_sensitivity":  # the nominal macro loop against the mathematics
        return {"weights": list(e.base.problem.weight_names), "loss": ["mse"]}
    if kind == "multilayer":  # every weight and bias of each layer, in the circuit's integrator order
        from analogopt.circuits.multilayer import weight_nodes

        return {f"layer{l}": weight_nodes(e.problem, l) for l in range(1, e.problem.layers + 1)}
    if kind == "inverse_loop":
        return {f: [f"x_o[A={g:g}]" for g in e.gains] for f in e.functions}
    if kind == "log_amp":
        groups = ["transfer", *(f"temperature {t:g} °C" for t in e.temperatures_c),
                  f"series resistance {e.rs_ohm:g} Ω", f"bias current {e.bias_a:g} A", "log-antilog cascade",
                  "step uncompensated", "step compensated"]
        return {g: ["v_antilog/R"] if "cascade" in g else ["v_out"] for g in groups}
    if kind == "momentum_filter":
        ch = range(e.channels)
        return {"RC low-pass (Eq. 10)": [f"w[{c}]" for c in ch],
                "RC cascade (Eq. 22)": [f"{r}[{c}]" for r in ("m", "w") for c in ch],
                "FAL (§6.1)": [f"{r}[{c}]" for r in ("m", "v", "s", "w") for c in ch]}
    name = {"mvm": "y = A·x", "solve": "x = A⁻¹·b", "pinv": "pinv(X)"}[e.mode]
    width = len(str(e.samples - 1))
    return {"ideal devices": [name],
            f"monte carlo ({e.samples} draws)": [f"draw {k:0{width}d}" for k in range(e.samples)]}


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_shared_keys_and_trajectories(kind, tmp_path):
    name, sets = SMALL[kind]
    scenario = load_scenario(name, sets)
    out = tmp_path / "r"
    args = ["run", name, "--quiet", "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    c = m["comparison"]
    for pair in SHARED:
        for key in ("max_fraction_of_range", "final_fraction_of_range", "rms_fraction_of_range"):
            assert np.isfinite(c[pair][key]), (pair, key)
    assert isinstance(c["twin_valid"], bool) and m["twin_validity"]["valid"] == c["twin_valid"]
    table = pd.read_parquet(out / "trajectories.parquet")
    want = expected_signals(kind, scenario)
    assert set(c["groups"]) == set(want)
    for group, signals in want.items():
        rows = table[table.group == group]
        got = sorted(set(rows.signal))
        assert got == sorted(signals), (group, got)
        assert rows.analog.notna().all() and rows.twin.notna().all(), group
        n = c["groups"][group]["points"]
        assert len(rows) == n * len(signals), group
        assert (out / f"compare_{_file(group)}.png").exists(), group
    report = (out / "report.md").read_text()
    assert "## Comparison: analog, twin and ideal mathematics" in report


def _file(name):
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


@pytest.mark.parametrize("name,sets", [SMALL["nf_single"], SMALL["crossbar_mvm"], SMALL["inverse_loop"]])
def test_sweep_rows_carry_the_shared_keys(name, sets, tmp_path):
    e = build_experiment(load_scenario(name, sets))
    row = e.sample([], None, NgspiceRunner(timeout_s=120, whole_run=True), tmp_path)
    for pair in SHARED:
        assert np.isfinite(row[f"comparison.{pair}.max_fraction_of_range"]), pair
