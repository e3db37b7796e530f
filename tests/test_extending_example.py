"""The worked example of docs/extending.md: a new circuit kind in one file, registered with one line,
runs, exports and sweeps through the protocol alone."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from analogopt.experiments import registry

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.fixture
def rc_step_kind(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("rc_step_example", EXAMPLES / "rc_step.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "rc_step_example", module)
    spec.loader.exec_module(module)
    monkeypatch.setitem(registry.KINDS, "rc_step", "rc_step_example:RCStepExperiment")  # the one registry line
    sims = tmp_path / "sims"
    sims.mkdir()
    shutil.copy(EXAMPLES / "rc_step.toml", sims)
    monkeypatch.setenv("ANALOGOPT_SIMS", str(sims))
    return module


def test_the_example_kind_runs_and_lands_on_the_math(rc_step_kind, run_cli, tmp_path):
    code, err = run_cli("run", "rc_step", "--out", str(tmp_path / "out"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["analog_vs_exact_max"] < 2e-4  # ngspice's own accuracy on a 1 V step
    # the twin's Euler error is what theory predicts, within 5 %
    assert metrics["twin_vs_exact_max"] == pytest.approx(metrics["twin_vs_exact_predicted"], rel=0.05)
    assert (tmp_path / "out" / "netlist.cir").exists() and list((tmp_path / "out" / "spice").glob("*.raw"))
    # the shared comparison comes with the kind: analog nearer the ideal math than the Euler twin
    c = metrics["comparison"]
    assert c["analog_vs_ideal"]["max_fraction_of_range"] < c["twin_vs_ideal"]["max_fraction_of_range"]
    import pandas as pd

    table = pd.read_parquet(tmp_path / "out" / "trajectories.parquet")
    assert set(table.signal) == {"w"} and len(table) == 401 and table.ideal.notna().all()


def test_the_example_kind_exports_and_sweeps_through_the_protocol(rc_step_kind, run_cli, tmp_path):
    code, err = run_cli("export", "rc_step", "--out", str(tmp_path / "ex"))
    assert code == 0, err
    blocks = (tmp_path / "ex" / "blocks.cir").read_text()
    assert "R1 vin w {r}" in blocks and "C1 w 0 {c}" in blocks  # one parameterized block per element prefix
    from analogopt.scenarios import load_scenario
    from analogopt.spice.runner import NgspiceRunner

    experiment = registry.build_experiment(load_scenario("rc_step"))
    row = experiment.sample([], None, NgspiceRunner(timeout_s=30), tmp_path)
    assert row["analog_vs_exact_max"] < 2e-4 and row["time_experiment_s"] > 0
