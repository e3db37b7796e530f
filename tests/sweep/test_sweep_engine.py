"""Sweep engine: plans, Monte Carlo vs the same-value twin, reproducibility, failures, resume, Dask cluster."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analogopt.errors import ConfigError
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner
from analogopt.sweep.engine import SAMPLES_DIR, load_rows, run_sweep
from analogopt.sweep.evaluate import evaluate_sample
from analogopt.sweep.results import Spec, build_table, stable_columns, summarize, wilson_interval
from analogopt.sweep.spec import SweepPlan, sample_seed

PY = sys.executable
ANALOGOPT = [PY, "-m", "analogopt.cli"]
# Short NF runs: 1000 iterations of the staircase loop keep a sample near 0.3 s.
SHORT = ["loop.iterations=1000"]


def _staircase():
    return load_scenario("nf_staircase")


def test_plan_is_a_cartesian_product_with_shared_mc_seeds():
    plan = SweepPlan.build(_staircase(), ["loop.forward_gain=0.05,0.1", "loop.eta=0.01,0.02,0.005"], mc=2, seed=7)
    assert len(plan.samples) == 2 * 3 * 2
    assert len({s.id for s in plan.samples}) == 12
    # common random numbers: MC sample k has the same seed at every point
    by_k = {}
    for s in plan.samples:
        by_k.setdefault(s.mc_index, set()).add(s.seed)
    assert all(len(v) == 1 for v in by_k.values())
    assert by_k[0] == {sample_seed(7, 0)} and sample_seed(7, 0) != sample_seed(8, 0)
    assert SweepPlan.from_json(json.loads(json.dumps(plan.to_json()))).samples == plan.samples


def test_nf_monte_carlo_twin_predicts_each_sample_and_spread_grows_with_sigma():
    """Per-element mismatch (data and error crossbars, τ, A) given to both machines: per-sample agreement
    within 1e-3, and the weights' spread grows with σ as the twin predicts."""
    sc = load_scenario("nf_staircase", ["loop.iterations=2000"])
    spreads = {}
    for sigma in (0.02, 0.1):
        plan = SweepPlan.build(sc, [], mc=3, seed=1,
                               vary=[f"x=lognormal:{sigma}", f"u=gauss:{sigma}", f"tau=lognormal:{sigma}",
                                     f"gain=gauss:{sigma}"])
        rows = [evaluate_sample(plan.to_json(), s.id) for s in plan.samples]
        assert all(r["status"] == "ok" for r in rows), rows
        for r in rows:
            assert abs(r["analog_w"] - r["digital_w"]) < 1e-3 and abs(r["analog_b"] - r["digital_b"]) < 1e-3
        analog = np.array([[r["analog_w"], r["analog_b"]] for r in rows])
        digital = np.array([[r["digital_w"], r["digital_b"]] for r in rows])
        spreads[sigma] = (analog.std(axis=0), digital.std(axis=0))
    assert np.all(spreads[0.1][0] > 2 * spreads[0.02][0])
    np.testing.assert_allclose(spreads[0.1][0], spreads[0.1][1], rtol=1e-3, atol=1e-6)


def test_crossbar_monte_carlo_matches_twin_and_error_grows_with_sigma():
    sc = load_scenario("crossbar_solve")
    plan = SweepPlan.build(sc, ["monte_carlo.sigma=0.01,0.1"], mc=3, seed=2)
    rows = [evaluate_sample(plan.to_json(), s.id) for s in plan.samples]
    table = build_table(rows)
    assert (table["status"] == "ok").all()
    assert table["spice_vs_twin_rel"].max() < 1e-3
    np.testing.assert_allclose(table["rel_error_vs_exact"], table["twin_rel_error_vs_exact"], rtol=1e-3)
    means = table.groupby("set.monte_carlo.sigma")["rel_error_vs_exact"].mean()
    assert means[0.1] > 3 * means[0.01]


def test_sample_reproduces_exactly_when_rerun_alone(tmp_path):
    sc = load_scenario("nf_staircase", SHORT)
    plan = SweepPlan.build(sc, ["loop.forward_gain=0.05,0.1"], mc=2, seed=3, vary=["x=lognormal:0.05", "tau=gauss:0.03"])
    run_sweep(plan, tmp_path / "sw", workers=1)
    stored = json.loads((tmp_path / "sw" / SAMPLES_DIR / "p001_m0001.json").read_text())
    proc = subprocess.run([*ANALOGOPT, "sweep", "--rerun", str(tmp_path / "sw"), "p001_m0001"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "reproduced exactly" in proc.stderr
    again = json.loads(proc.stdout)
    assert again["analog_w"] == stored["analog_w"] and again["digital_b"] == stored["digital_b"]


def test_non_converging_sample_is_a_failed_row_with_the_ngspice_reason(tmp_path):
    sc = load_scenario("nf_staircase", SHORT)
    # a comparator gain of 1e12 V/V switches faster than any step ngspice can take (1e9 still converges
    # under the trapezoidal rule at some iteration counts)
    plan = SweepPlan.build(sc, ["network.gain=20,1e12"])
    outcome = run_sweep(plan, tmp_path / "sw", workers=1)
    table = build_table(load_rows(plan, tmp_path / "sw"))
    assert outcome.ok == 1 and outcome.failed == 1
    bad = table[table["set.network.gain"] == 1e12].iloc[0]
    assert bad["status"] == "failed"
    assert "did not converge" in bad["error"] and "timestep too small" in bad["error"]
    assert table[table["set.network.gain"] == 20].iloc[0]["status"] == "ok"


def test_timeout_sample_is_a_timeout_row(tmp_path):
    plan = SweepPlan.build(load_scenario("nf_staircase"), [], timeout_s=0.01)
    row = evaluate_sample(plan.to_json(), "p000")
    assert row["status"] == "timeout" and "exceeded" in row["error"]


def test_yield_and_wilson_interval():
    table = build_table([
        {"id": f"p000_m{k:04d}", "point": 0, "mc_index": k, "seed": k, "status": s, "error": "", "dev": d}
        for k, (s, d) in enumerate([("ok", 0.001), ("ok", 0.02), ("ok", 0.005), ("failed", None)])
    ])
    summary = summarize(table, [Spec.parse("dev<0.01")])
    y = summary["yield"][0]
    assert (y["passed"], y["samples"]) == (2, 4)  # a failed sample is not a good chip
    assert y["ci_low"] < 0.5 < y["ci_high"]
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and 0.25 < high < 0.35  # Wilson: 0/10 → [0, 0.278]
    assert summary["metrics"]["dev"]["count"] == 3


@pytest.mark.parametrize("text, pattern", [
    ("dev<1e999", "not a finite number"),
    ("dev>-1e999", "not a finite number"),
    ("status<1", "'status' is a column of the sweep's own bookkeeping"),
    ("worker>0", "'worker' is a column"),
    ("time_sample_s<1", "'time_sample_s' is a column"),
    ("set.loop.iterations>100", "'set.loop.iterations' is a column"),
])
def test_spec_refuses_limits_and_columns_that_measure_nothing(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Spec.parse(text)


def test_spec_reads_a_true_false_metric_as_one_and_zero():
    table = build_table([{"id": f"p00{k}", "point": k, "mc_index": None, "seed": None, "status": "ok", "error": "",
                          "within_tolerance": flag} for k, flag in enumerate([True, False])])
    assert Spec.parse("within_tolerance>0").passes(table).tolist() == [True, False]


def test_spec_on_a_non_numeric_column_names_the_metrics():
    table = build_table([{"id": "p000", "point": 0, "mc_index": None, "seed": None, "status": "ok", "error": "",
                          "dev": 0.1, "label": "a"}])
    with pytest.raises(ConfigError, match=r"no metric 'label' in the table; metrics: dev$"):
        Spec.parse("label<1").passes(table)


@pytest.mark.parametrize("sets, kw, pattern", [
    (["loop.nope=1,2"], {}, r"no parameter 'nope'"),
    (["nosuch.gain=1"], {}, r"no table 'nosuch'"),
    (["loop.forward_gain="], {}, r"empty value list"),
    (["loop.forward_gain"], {}, r"expected PATH=V1,V2"),
    (["loop.iterations=400,300.9"], {}, r"--set loop\.iterations=300\.9: nf_staircase\.loop\.iterations: must be an integer"),
    (["loop.forward_gain=0.1,0.2", 'loop.tau_s=1e-3,"1x"'], {}, r"--set loop\.forward_gain=0\.1, loop\.tau_s=\"1x\": .*'1x'"),
    ([], {"mc": -1}, r"--mc \(samples per point, 0: none\): must be an integer ≥ 0, got -1"),
    ([], {"vary": ["x=lognormal:0.1"]}, r"--vary needs Monte Carlo"),
    ([], {"mc": 2, "vary": ["zz=lognormal:0.1"]}, r"not an element target of kind nf_single; allowed: x, u, tau, gain"),
    ([], {"mc": 2, "vary": ["x=uniform:0.1"]}, r"unknown distribution 'uniform'"),
    ([], {"mc": 2, "vary": ["x=gauss:2"]}, r"sigma \(relative\): must be in \[0, 1\], got '2'"),
    ([], {"mc": 2, "vary": ["loop.leak=gauss:0.1"]}, r"only numeric parameters"),
    ([], {"mc": 2, "vary": ["tau=gauss:1"]}, r"tau=gauss:1: the factor 1 \+ σ·z is ≤ 0 .* in 16 % of draws"),
    ([], {"mc": 2, "vary": ["x=gauss:0.2"]}, r"gauss takes σ ≤ 0\.15, lognormal \(always positive\) any σ"),
    ([], {"mc": 2, "vary": ["loop.eta=gauss:0.05", "loop.eta=gauss:0.1"]}, r"each target may vary once, got loop\.eta, loop\.eta"),
    ([], {"timeout_s": 0.0}, r"--timeout: must be in \(0, 2\.592e\+06\] s, got 0\.0"),
    ([], {"timeout_s": 1e30}, r"--timeout: must be in \(0, 2\.592e\+06\] s, got 1e\+30"),
])
def test_bad_sweep_specs(sets, kw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SweepPlan.build(_staircase(), sets, **kw)


def test_a_gauss_draw_of_the_other_sign_fails_the_sample_not_silently():
    from analogopt.experiments.base import Variation

    v = Variation("x", "gauss", 0.25)
    assert (v.factors(1, (1000,)) > 0).all()  # z > −4: the usual case
    with pytest.raises(ConfigError, match=r"x=gauss:0\.25 drew the factor -?[0-9.e-]+ ≤ 0 for this sample"):
        v.factors(1, (400_000,))  # about 13 draws below z = −4 expected
    # a scenario path may be signed by nature (a temperature in °C): its own key judges the scaled value
    assert (Variation("circuit.temperature_c", "gauss", 0.5).factors(1, (400_000,)) <= 0).any()
    SweepPlan.build(_staircase(), [], mc=2, vary=["circuit.temperature_c=gauss:0.5"])


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\udcff"])
def test_a_damaged_manifest_is_one_line_and_left_as_it_was(tmp_path, text):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "sweep.json").write_text(text, errors="surrogateescape")
    before = (out / "sweep.json").read_bytes()
    plan = SweepPlan.build(load_scenario("nf_staircase", SHORT), [])
    with pytest.raises(ConfigError, match=r"sweep\.json|different sweep"):
        run_sweep(plan, out, workers=1)
    assert (out / "sweep.json").read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["sweep.json"]


def test_a_sweep_leaves_nothing_in_the_temporary_directory(tmp_path, monkeypatch):
    """Dask's own scratch (by default a dask-scratch-space that outlives the sweep) goes into one of
    analogopt's scratch directories, removed with the cluster; so do the workers' ngspice runs."""
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # the workers' temporary directory, and this process's:
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    outcome = run_sweep(SweepPlan.build(load_scenario("nf_staircase", SHORT), [], mc=2, vary=["x=lognormal:0.02"]),
                        tmp_path / "sw", workers=1)
    assert outcome.ok == 2
    assert sorted(p.name for p in temporary.iterdir()) == []


def test_resume_refuses_a_different_sweep(tmp_path):
    sc = load_scenario("nf_staircase", SHORT)
    run_sweep(SweepPlan.build(sc, ["network.gain=1e9"]), tmp_path / "sw", workers=1)
    with pytest.raises(ConfigError, match="holds a different sweep"):
        run_sweep(SweepPlan.build(sc, ["network.gain=2e9"]), tmp_path / "sw", workers=1)


@pytest.mark.slow
def test_kill_midway_then_resume_simulates_only_the_missing_samples(tmp_path):
    out = tmp_path / "sw"
    cmd = [*ANALOGOPT, "sweep", "nf_staircase", "--set", "loop.iterations=1000", "--mc", "8", "--vary",
           "x=lognormal:0.05", "--workers", "1", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / SAMPLES_DIR).glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its Dask workers: one process group, started here
    proc.wait()
    before = {p.name: p.read_text() for p in (out / SAMPLES_DIR).glob("*.json")}
    assert 3 <= len(before) < 8
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["simulated"] == 8 - len(before) and runs[-1]["resumed"] == len(before)
    assert runs[-1]["simulator"] == str(NgspiceRunner().describe())  # release and solver of this resume
    assert f"{8 - len(before)} simulated now, {len(before)} resumed" in done.stdout
    after = {p.name: p.read_text() for p in (out / SAMPLES_DIR).glob("*.json")}
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())  # finished rows untouched
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["id"]) == [f"p000_m{k:04d}" for k in range(8)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_external_dask_cluster_gives_the_local_table(tmp_path):
    """A real scheduler and two workers, separate processes on 127.0.0.1, driven through --scheduler."""
    bindir = Path(PY).parent
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    # this cluster's scratch in the test's folder: Dask's default would outlive the test in the temporary
    # directory (a dask-scratch-space with its lock files)
    scratch = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path / "dask")}
    procs = [subprocess.Popen([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([str(bindir / "dask"), "worker", address, "--nworkers", "1", "--nthreads",
                                           "1", "--no-dashboard", "--host", "127.0.0.1"], env=scratch,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="2s") as client:
                    if len(client.scheduler_info(n_workers=-1)["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Dask cluster did not start"
            time.sleep(0.5)
        args = ["sweep", "nf_staircase", "--set", "loop.iterations=1000", "--set", "loop.forward_gain=0.05,0.1",
                "--mc", "2", "--vary", "u=gauss:0.05", "--quiet"]
        remote = subprocess.run([*ANALOGOPT, *args, "--scheduler", address, "--out", str(tmp_path / "remote")],
                                capture_output=True, text=True, timeout=180)
        assert remote.returncode == 0, remote.stderr
        assert "on 2 workers" in remote.stdout
        local = subprocess.run([*ANALOGOPT, *args, "--workers", "2", "--out", str(tmp_path / "local")],
                               capture_output=True, text=True, timeout=180)
        assert local.returncode == 0, local.stderr
        a = stable_columns(pd.read_parquet(tmp_path / "remote" / "results.parquet"))
        b = stable_columns(pd.read_parquet(tmp_path / "local" / "results.parquet"))
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        workers = pd.read_parquet(tmp_path / "remote" / "results.parquet")["worker"]
        assert workers.nunique() == 2  # both external workers took samples
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
