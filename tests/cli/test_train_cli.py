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
    (["--rule", "bp", "--arch", "10,x"], "hidden/arch must be sizes"),
    (["--rule", "bp", "--epochs", "0"], "epochs must be an integer ≥ 1"),
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
