"""Crossbar and Recirculation scenarios end to end (real ngspice, real torch), plus scenario validation."""

import json

import pytest

from analogopt.errors import ConfigError
from analogopt.experiments import build_experiment
from analogopt.progress import SilentProgress
from analogopt.results import RunDirectory
from analogopt.scenarios import load_scenario


def _run(name, tmp_path, overrides=()):
    experiment = build_experiment(load_scenario(name, list(overrides)))
    with RunDirectory(tmp_path / name) as out:
        metrics = experiment.run(out, SilentProgress())
    return metrics, tmp_path / name


@pytest.mark.parametrize("name", ["crossbar_mvm", "crossbar_pinv"])
def test_monte_carlo_matches_same_device_twin(name, tmp_path):
    metrics, path = _run(name, tmp_path)
    assert metrics["ideal"]["rel_error_vs_exact"] < 1e-4
    mc = metrics["monte_carlo"]
    assert mc["samples"] >= 20 and mc["levels"] == 64 and mc["sigma"] == 0.05
    assert len(mc["rel_error_vs_exact"]["values"]) == mc["samples"]
    assert mc["mean_error_difference"] < 1e-4
    assert mc["spice_vs_twin_rel_max"] < 1e-4
    # The perturbation is real: 5 % devices give errors far above the ideal run.
    assert mc["rel_error_vs_exact"]["mean"] > 100 * metrics["ideal"]["rel_error_vs_exact"]
    for f in ("netlist.cir", "metrics.json", "report.md", "mc_error.png"):
        assert (path / f).stat().st_size > 0
    assert json.loads((path / "metrics.json").read_text())["mode"] == name.removeprefix("crossbar_")
    _assert_runs_kept(path, ["ideal"] + [f"mc_{k:02d}" for k in range(mc["samples"])])


def _assert_runs_kept(path, names):
    """Every ngspice run keeps its netlist, raw file and console output in the result directory."""
    assert sorted(p.name for p in (path / "spice").iterdir()) == sorted(names)
    for name in names:
        for f in ("netlist.cir", "out.raw", "ngspice.out"):
            assert (path / "spice" / name / f).is_file(), f"spice/{name}/{f}"
        assert (path / "spice" / name / "out.raw").stat().st_size > 0
    assert (path / "spice" / "ideal" / "netlist.cir").read_text() == (path / "netlist.cir").read_text()


def test_solve_scenario_reports_settling(tmp_path):
    metrics, path = _run("crossbar_solve", tmp_path, ["monte_carlo.samples=20"])
    assert metrics["ideal"]["rel_error_vs_exact"] < 1e-4
    assert metrics["monte_carlo"]["mean_error_difference"] < 1e-4
    s = metrics["settling"]
    assert abs(s["ratio"] - 1) < 0.25
    assert (path / "settling.png").exists()
    assert (path / "netlist.cir").read_text().rstrip().endswith(".end")
    _assert_runs_kept(path, ["ideal", "settling"] + [f"mc_{k:02d}" for k in range(20)])


def test_recirculation_scenario_states_condition_and_fraction(tmp_path):
    metrics, path = _run("recirculation_pinv", tmp_path, ["recirculation.noise_samples=2000",
                                                         "recirculation.steps=200"])
    assert "basin of attraction" in metrics["convergence_condition"]
    assert metrics["inits"] == 100
    exp = metrics["expected"]
    assert exp["condition_met_and_converged"] == exp["condition_met"] > 0
    assert exp["max_final_error_where_condition_met"] < 1e-3
    assert 0 < exp["converged_fraction"] < 1
    assert "Convergence condition checked up front" in (path / "report.md").read_text()
    assert (path / "fig1a_frobenius.png").exists()


@pytest.mark.parametrize(
    "name, overrides, pattern",
    [
        ("crossbar_solve", ["problem.condition=1e9"], "condition"),
        ("crossbar_solve", ["monte_carlo.levels=1"], "levels"),
        ("crossbar_mvm", ["monte_carlo.sigma=-1"], "sigma"),
        ("crossbar_mvm", ["device.g_min=0"], "g_min_s"),
        ("crossbar_pinv", ["problem.cols=20"], "rows ≥ cols"),
        ("crossbar_solve", ["settling.opamp.kind=ideal"], "single_pole"),
        ("recirculation_pinv", ["recirculation.decay=0.1"], "decay"),
        ("recirculation_pinv", ["recirculation.inits=0"], "inits"),
    ],
)
def test_invalid_scenarios(name, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_experiment(load_scenario(name, overrides))
