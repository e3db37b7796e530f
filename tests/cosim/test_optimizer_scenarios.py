"""``analogopt run`` on fal_vs_adam (000 Fig. 6b offline) and momentum_filter: files, numbers, errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from analogopt.cli import main
from analogopt.experiments.optimizers import FalVsAdamExperiment, digits_cnn, digits_images, train_classifier
from analogopt.scenarios import load_scenario
from analogopt.spice import ngspice_available


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", *args])
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_fal_is_within_two_points_of_adam_and_sgd_at_the_same_rate_is_not() -> None:
    # The shipped scenario's settings: the paper's FAL (β_m = β_v = 0.99, lr 1e-3, no bias correction).
    exp = FalVsAdamExperiment.from_scenario(load_scenario("fal_vs_adam"))
    assert exp.seeds == (0, 1, 2) and exp.fal["beta_m"] == exp.fal["beta_v"] == 0.99
    assert exp.fal["bias_correction"] is False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        final = {}
        makers = dict(exp.optimizers())
        makers["SGD at lr 1e-3"] = lambda params: torch.optim.SGD(params, lr=1e-3)
        for name in ("FAL", "Adam", "SGD at lr 1e-3"):
            make = makers[name]
            accs = []
            for seed in exp.seeds:
                model = digits_cnn(seed=seed, channels=exp.channels)
                curves = train_classifier(model, make(model.parameters()), digits_images(seed=seed),
                                          epochs=exp.epochs, batch_size=exp.batch_size, seed=seed)
                accs.append(curves["test_accuracy"][-1])
            final[name] = float(np.mean(accs))
    finally:
        torch.set_num_threads(threads)
    assert final["Adam"] > 0.9  # both really learned the task
    assert abs(final["FAL"] - final["Adam"]) <= 0.02, final  # measured FAL 96.98 %, Adam 97.28 %
    # the criterion fails for an optimizer without an adaptive rate: SGD at FAL's rate (measured 32.8 %)
    assert final["Adam"] - final["SGD at lr 1e-3"] > 0.2, final


def test_fal_vs_adam_scenario_writes_its_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fa"
    code, err = _run(capsys, "fal_vs_adam", "--out", str(out), "--quiet",
                     "--set", "training.epochs=2", "--set", "training.seeds=[4]")
    assert code == 0, err
    for name in ("metrics.json", "report.md", "accuracy.png", "loss.png"):
        assert (out / name).stat().st_size > 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["optimizers"]) == {"FAL", "Adam", "SGD"}
    for per in m["optimizers"].values():
        curve = per["mean_test_accuracy_curve"]
        assert len(curve) == 3 and curve[-1] > curve[0]  # two epochs of real learning from the initial net
    assert "FAL − Adam" in (out / "report.md").read_text()


@pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed")
def test_momentum_filter_scenario_meets_the_issue_numbers(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mf"
    code, err = _run(capsys, "momentum_filter", "--out", str(out), "--quiet", "--set", "drive.steps=120")
    assert code == 0, err
    for name in ("netlist.cir", "metrics.json", "report.md", "filters.png", "errors.png"):
        assert (out / name).stat().st_size > 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["max_relative_error"]) == {"rc", "casc", "fal"}
    assert set(m["max_relative_error"]["fal"]) == {"m", "v", "s", "w"}
    assert m["worst_relative_error"] < 1e-3 and m["within_tolerance"] is True
    eq = m["sgd_momentum_equivalence"]
    assert eq["max_abs_weight_difference"] < 1e-6 and eq["max_abs_weight_travel"] > 1e-2
    proc = subprocess.run(["ngspice", "-b", "-r", "check.raw", "netlist.cir"], cwd=out, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and (out / "check.raw").stat().st_size > 0, proc.stderr


BAD_SETS = [
    ("fal_vs_adam", "fal.beta_m=1.0", r"fal: beta_m must be in \[0, 1\), got 1\.0"),
    ("fal_vs_adam", "fal.lr=-0.001", r"fal: lr must be in \[0, inf\), got -0\.001"),
    ("fal_vs_adam", "fal.bias_correction=1", r"fal\.bias_correction: must be true or false, got 1"),
    ("fal_vs_adam", "adam.lr=0", r"adam\.lr: must be > 0, got 0"),
    ("fal_vs_adam", "sgd.momentum=1.0", r"sgd\.momentum: must be in \[0, 1\), got 1\.0"),
    ("fal_vs_adam", "training.seeds=[]", r"training\.seeds: must be a non-empty list of integers, got \[\]"),
    ("fal_vs_adam", "training.epochs=0", r"training\.epochs: must be an integer ≥ 1, got 0"),
    ("fal_vs_adam", 'data.set="iris"', r"only 'digits' is supported, got 'iris'"),
    ("momentum_filter", "cascade.beta_m=1.0", r"cascade\.beta_m: must be in \(0, 1\), got 1\.0"),
    ("momentum_filter", "fal.s_floor_v=0", r"s_floor_v must be a finite number > 0 V, got 0\.0"),
    ("momentum_filter", "rc.tau_s=-1", r"integrator tau must be > 0 s, got -1\.0"),
    ("momentum_filter", "timing.dt_s=0", r"timing\.dt_s: must be > 0 s, got 0"),
    ("momentum_filter", "drive.steps=1", r"drive\.steps: must be an integer ≥ 2, got 1"),
    ("momentum_filter", "cascade.leak=2", r"cascade\.leak: must be true or false, got 2"),
]


@pytest.mark.parametrize("scenario, override, pattern", BAD_SETS)
def test_bad_parameters_give_one_line_errors(
    tmp_path: Path, run_cli, check_one_line_error, scenario: str, override: str, pattern: str
) -> None:
    code, err = run_cli("run", scenario, "--out", str(tmp_path / "x"), "--set", override)
    check_one_line_error(code, err, code=2, pattern=pattern, out=tmp_path / "x")
