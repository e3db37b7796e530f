"""``analogopt train``: a real run writes its files; every bad configuration is one line, exit code 2, no directory."""

from __future__ import annotations

import json

import pytest

from analogopt.cli import main


def test_train_writes_result_directory(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--rule", "srbp", "--data", "digits", "--arch", "32", "--epochs", "3", "--lr", "0.1",
                 "--option", "error_bits=4", "--out", str(out), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [".analogopt-run", "config.json", "curves.png", "metrics.json", "report.md"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["train_accuracy"]) == len(metrics["test_accuracy"]) == 4  # epoch 0 … 3
    assert metrics["final_train_accuracy"] > 0.5 and metrics["rule_options"]["error_bits"] == 4
    assert json.loads((out / "config.json").read_text())["hidden"] == [32]
    assert "| 3 |" in (out / "report.md").read_text()


BAD = [
    (["--rule", "bogus"], "unknown rule 'bogus'"),
    (["--rule", "mdfa", "--mono", "--activation", "silu"], "not monotone increasing"),
    (["--rule", "mdfa"], "set mono = true"),
    (["--rule", "reciprocal", "--activation", "relu"], "not bijective"),
    (["--rule", "srbp", "--option", "error_bits=0"], "bits must be an integer ≥ 1"),
    (["--rule", "srbp", "--option", "update_bits=0"], "bits must be an integer ≥ 1"),
    (["--rule", "srbp", "--option", "nonsense=1"], "has no option 'nonsense'"),
    (["--rule", "bp", "--data", "cifar"], "unknown data set 'cifar'"),
    (["--rule", "bp", "--arch", "10,x"], "--arch: layer sizes must be positive integers"),
    (["--rule", "bp", "--arch", "10,-3"], "--arch: layer sizes must be positive integers like 100,100 or 100-100, got '10,-3'"),
    (["--rule", "bp", "--arch", "10,0"], "--arch[1]: must be an integer ≥ 1, got 0"),
    (["--rule", "bp", "--epochs", "0"], "--epochs: must be an integer ≥ 1, got '0'"),
    (["--rule", "bp", "--epochs", "-2"], "--epochs: must be an integer ≥ 1, got '-2'"),
    (["--rule", "bp", "--epochs", "2.5"], "--epochs: must be an integer ≥ 1, got '2.5'"),
    (["--rule", "bp", "--seed", "-1"], "--seed: must be an integer in [0, 4294967295], got '-1'"),
    (["--rule", "bp", "--seed", "1.5"], "--seed: must be an integer in [0, 4294967295], got '1.5'"),
    (["--rule", "bp", "--seed", "abc"], "--seed: must be an integer in [0, 4294967295], got 'abc'"),
    (["--rule", "bp", "--lr", "inf"], "--lr: cannot read 'inf' as a finite number"),
    (["--rule", "bp", "--lr", "nan"], "--lr: cannot read 'nan' as a finite number"),
    (["--rule", "bp", "--lr", "0"], "--lr: must be in (0, 1000], got '0'"),
    (["--rule", "bp", "--lr", "-0.1"], "--lr: must be in (0, 1000], got '-0.1'"),
    (["--rule", "bp", "--lr", "1e300"], "--lr: must be in (0, 1000], got '1e300'"),
    (["--rule", "bp", "--batch-size", "0"], "--batch-size: must be an integer ≥ 1, got '0'"),
    (["--rule", "bp", "--train-limit", "-5"], "--train-limit: must be an integer ≥ 0, got '-5'"),
    (["--rule", "srbp", "--option", 'fprime="false"'], "rule_options.fprime: must be true or false, got 'false'"),
    (["--rule", "srbp", "--option", "error_bits=4.5"], "rule_options.error_bits: must be an integer, got 4.5"),
    (["--rule", "bp", "--option", "seed=-3"], "rule_options.seed: must be an integer in [0, 4294967295], got -3"),
    (["--rule", "nf", "--option", "gain=beta_n", "--option", "n=2"], "odd integer n"),
    (["--rule", "bp", "--data", "mnist_idx"], "needs data_dir"),
]


@pytest.mark.parametrize("args,pattern", BAD)
def test_bad_configuration_is_one_line(tmp_path, capsys, args, pattern):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--out", str(out), "--quiet", *args]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and pattern in err
    assert not out.exists() and not any(tmp_path.iterdir())
