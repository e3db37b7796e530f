"""``run --timeout 2`` and ``sweep --timeout 2`` stop each circuit kind's run at the limit (issue 12).

Each case is a shipped scenario with overrides, inside the kind's ranges, that make the run take far longer
than 2 s: one long ngspice run (NF, crossbars), many short ones that only add up past the limit (inverse
loop, log amp: the limit binds the whole run, not each ngspice run), or Python-side work (momentum_filter
records 20000 SGD updates before ngspice starts). Wall bounds are generous: importing torch and PySpice
on a busy 2-core machine takes up to ~15 s before anything is simulated.
"""

import json
import subprocess
import sys
import time

import pytest

#: kind → (scenario, --set overrides) that run for much longer than 2 s without a limit
SLOW = {
    "nf_single": ("nf_staircase", ["data.samples=3000", "loop.iterations=100000"]),
    # ngspice-46 with KLU solves a 300×300 array in about 1 s: these take about 10 s per sample
    "crossbar_mvm": ("crossbar_mvm", ["problem.rows=800", "problem.cols=800"]),
    "crossbar_solve": ("crossbar_solve", ["problem.rows=700"]),
    "crossbar_pinv": ("crossbar_pinv", ["problem.rows=120", "problem.cols=40"]),
    # five functions × 49 gains × 10001 points, in five runs each well under 2 s on a quiet machine
    "inverse_loop": ("inverse_loop", ["loop.points=10001", 'loop.functions=["cubic","exp","tanh","sinh","linear"]',
                                      "loop.gains=[" + ",".join(f"{10 ** (2 + k / 12):.6g}" for k in range(49)) + "]"]),
    # 42 temperatures' sweeps of 6001 points, each well under 2 s
    "log_amp": ("log_amp", ["sweep.points_per_decade=1000",
                            "sweep.temperatures_c=[" + ",".join(str(-40 + 4 * k) for k in range(42)) + "]"]),
    "momentum_filter": ("momentum_filter", ["drive.steps=20000", "drive.channels=1", "equivalence.steps=2000"]),
}
WALL_BOUND_S = 45.0


def cli(*args, timeout=300):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "analogopt.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.perf_counter() - t0


def sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SLOW))
def test_run_timeout_2_stops_the_kind(kind, tmp_path):
    scenario, overrides = SLOW[kind]
    proc, wall = cli("run", scenario, *sets(overrides), "--timeout", "2", "--quiet", "--out", str(tmp_path / "r"))
    assert proc.returncode == 6, proc.stderr
    assert "2 s" in proc.stderr and "error:" in proc.stderr, proc.stderr
    assert wall < WALL_BOUND_S, f"{kind}: exit after {wall:.1f} s with --timeout 2"
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SLOW))
def test_sweep_timeout_2_gives_a_timeout_row(kind):
    """The sweep worker's own function on a plan with --timeout 2 (no Dask start-up: the CLI path is
    tested once below)."""
    import torch

    from analogopt.scenarios import load_scenario
    from analogopt.sweep.evaluate import evaluate_sample
    from analogopt.sweep.spec import SweepPlan

    scenario, overrides = SLOW[kind]
    plan = SweepPlan.build(load_scenario(scenario, overrides), [], mc=1, timeout_s=2)
    threads = torch.get_num_threads()
    try:
        row = evaluate_sample(plan.to_json(), plan.samples[0].id)
    finally:
        torch.set_num_threads(threads)  # the worker pins one thread; the rest of the suite should not inherit it
    assert row["status"] == "timeout" and "2 s" in row["error"], row
    assert row["time_sample_s"] < WALL_BOUND_S, f"{kind}: sample took {row['time_sample_s']:.1f} s with --timeout 2"


@pytest.mark.slow
def test_sweep_cli_timeout_2_gives_a_timeout_row(tmp_path):
    scenario, overrides = SLOW["nf_single"]
    out = tmp_path / "sw"
    proc, wall = cli("sweep", scenario, *sets(overrides), "--mc", "1", "--workers", "1", "--timeout", "2",
                     "--quiet", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"]["timeout"] == 1 and summary["status"]["ok"] == 0, (summary, proc.stderr)
    assert wall < WALL_BOUND_S + 30, f"sweep took {wall:.1f} s with --timeout 2"


def test_simulator_choices_are_the_runners():
    from analogopt.commands.flags import SIMULATOR_NAMES
    from analogopt.spice.runner import SIMULATORS

    assert set(SIMULATOR_NAMES) == set(SIMULATORS)


def test_run_on_libngspice_matches_ngspice(tmp_path):
    """--simulator picks the engine for every run of a kind; both give the same numbers."""
    sets = ["--set", "loop.points=21"]
    results = {}
    for simulator in ("ngspice", "libngspice"):
        out = tmp_path / simulator
        proc, _ = cli("run", "inverse_loop", *sets, "--simulator", simulator, "--quiet", "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        results[simulator] = json.loads((out / "metrics.json").read_text())
        # what the decks ran on: every one of this loop's decks is small enough for Sparse 1.3
        recorded = results[simulator]["simulator"]
        assert recorded["solver"] == "Sparse 1.3" and set(recorded["runs_by_solver"]) == {"Sparse 1.3"}, recorded
        assert (out / "report.md").read_text().rstrip().endswith("(Sparse 1.3 solver).")
    a, b = (results[s]["functions"]["exp"]["mean_abs_error_vs_gain_spice"] for s in ("ngspice", "libngspice"))
    assert a == pytest.approx(b, rel=1e-9)


def test_a_sweep_plan_carries_its_simulator():
    from analogopt.scenarios import load_scenario
    from analogopt.spice.runner import SharedLibraryRunner, make_runner
    from analogopt.sweep.spec import SweepPlan

    plan = SweepPlan.build(load_scenario("inverse_loop"), [], simulator="libngspice")
    again = SweepPlan.from_json(plan.to_json())
    assert again.simulator == "libngspice"
    runner = make_runner(again.simulator, timeout_s=5)
    assert isinstance(runner, SharedLibraryRunner) and runner.deadline is not None
