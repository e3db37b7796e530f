"""``analogopt sweep`` through the real CLI: results files, yield line, and one clear line per bad input."""

import json
import socket
import subprocess
import sys

import pandas as pd
import pytest


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analogopt.cli", *args], capture_output=True, text=True, timeout=300)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_sweep_writes_table_summary_plots_and_yield(tmp_path):
    out = tmp_path / "sw"
    proc = cli("sweep", "crossbar_solve", "--set", "monte_carlo.sigma=0.01,0.05", "--mc", "3", "--seed", "4",
               "--workers", "1", "--spec", "rel_error_vs_exact<0.2", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "6 samples — 6 ok, 0 failed, 0 timeout" in proc.stdout
    assert "yield(rel_error_vs_exact<0.2) = " in proc.stdout and "95% Wilson score" in proc.stdout
    for name in ("results.parquet", "results.csv", "summary.json", "histograms.png", "vs_monte_carlo_sigma.png",
                 "sweep.json", "runs.jsonl"):
        assert (out / name).exists(), name
    table = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert list(table.columns[:7]) == ["id", "point", "mc_index", "seed", "status", "error", "set.monte_carlo.sigma"]
    assert len(table) == len(csv) == 6 and {"rel_error_vs_exact", "spice_vs_twin_rel", "time_sample_s"} <= set(table)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == {"ok": 6, "failed": 0, "timeout": 0} and len(summary["points"]) == 2
    y = summary["yield"][0]
    assert y["ci_low"] <= y["yield"] <= y["ci_high"]
    again = cli("sweep", "crossbar_solve", "--set", "monte_carlo.sigma=0.01,0.05", "--mc", "3", "--seed", "4",
                "--workers", "1", "--quiet", "--out", str(out))
    assert again.returncode == 0 and "0 simulated now, 6 resumed" in again.stdout


@pytest.mark.parametrize("args, code, pattern", [
    (["nf_staircase", "--set", "loop.bogus=1,2"], 2, "no parameter 'bogus'"),
    (["nf_staircase", "--set", "loop.forward_gain="], 2, "empty value list"),
    (["nf_staircase", "--mc", "0"], 2, "--mc must be an integer ≥ 1"),
    (["nf_staircase", "--mc", "2", "--vary", "q=gauss:0.1"], 2, "not an element target"),
    (["nf_staircase", "--spec", "max_abs_deviation~1"], 2, "expected METRIC<VALUE"),
    (["nf_staircase", "--workers", "0"], 2, "--workers must be an integer"),
    (["nf_staircase", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], 2, "either --workers"),
    (["nosuch"], 2, "unknown scenario 'nosuch'"),
    ([], 2, "give a SCENARIO"),
])
def test_bad_sweeps_get_one_line(tmp_path, args, code, pattern):
    proc = cli("sweep", *args, "--out", str(tmp_path / "sw"))
    assert proc.returncode == code
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0], proc.stderr
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("address, pattern", [
    ("closed", "cannot reach a Dask scheduler there"),
    ("notaurl", "not a scheduler address"),
    ("tcp://127.0.0.1", "not a scheduler address"),
])
def test_unreachable_scheduler_is_one_line_and_leaves_no_directory(tmp_path, address, pattern):
    address = f"tcp://127.0.0.1:{_closed_port()}" if address == "closed" else address
    proc = cli("sweep", "nf_staircase", "--scheduler", address, "--out", str(tmp_path / "s"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0], proc.stderr
    assert not (tmp_path / "s").exists()  # nothing ran: nothing to resume


def test_unknown_spec_metric_and_rerun_errors(tmp_path):
    out = tmp_path / "sw"
    proc = cli("sweep", "crossbar_mvm", "--workers", "1", "--spec", "nosuch<1", "--quiet", "--out", str(out))
    assert proc.returncode == 2 and "no metric 'nosuch'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert f"the table is in {out / 'results.parquet'}" in proc.stderr
    assert (out / "results.parquet").exists()  # the table is kept; only the yield could not be computed
    bad = cli("sweep", "--rerun", str(out), "p999")
    assert bad.returncode == 2 and "no sample 'p999'" in bad.stderr
    ok = cli("sweep", "--rerun", str(out), "p000")
    assert ok.returncode == 0 and "reproduced exactly" in ok.stderr
    missing = cli("sweep", "--rerun", str(tmp_path), "p000")
    assert missing.returncode == 2 and "not a sweep directory" in missing.stderr
    conflicting = cli("sweep", "inverse_loop", "--mc", "3", "--rerun", str(out), "p000")
    assert conflicting.returncode == 2 and "it takes no SCENARIO, --mc" in conflicting.stderr
    assert len(conflicting.stderr.strip().splitlines()) == 1
