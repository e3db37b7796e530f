"""Sweep engine scaling: NF staircase Monte Carlo, one ngspice process per sample vs persistent sessions.

    python bench/sweep_scale.py [--samples 60] [--iterations 2000] [--workers 1 [2]] [--modes [spawn chunked sessions]]
                                [--twin-batches [1 8 64]]

Modes, each a whole sweep on a fresh local Dask cluster, in one run side by side:

- ``spawn``: one task per sample, one ``ngspice -b`` process per run (the engine before sessions);
- ``chunked``: tasks of several samples of a point (one experiment build, the twins stepped as one
  batch), still one ngspice process per run;
- ``sessions``: the same chunks, every run in the worker's persistent libngspice session (``--sessions``).

First, the twins alone: the first samples' twins stepped in batches of each ``--twin-batches`` size
(a sweep's chunk is one batch), per twin, with the folded error the sweep uses (compiled steps) and term
by term (numpy), after the compiled steps' one-time cost per process.

Then what the runners add to ngspice's analysis, per sample: the first samples' netlists run in
sequence, as a worker runs them, through :class:`NgspiceRunner` (one process each) and
:class:`SessionRunner` (one session: ``alter`` where the shape allows), each run's wall time less its
analysis (ngspice's ``run`` command as the session's child times it on the same deck).

Then the sweeps: wall time (cluster start-up excluded), per-sample wall time (with one worker also from
the first task's last row to the last task's, which leaves out the worker's warm-up, its first imports and session
start, and the cluster's close), and the per-sample overhead: the per-sample wall time minus what the
sample itself must compute, the digital twin (``time_twin_s``) and ngspice's analysis (the runner part's
median), which holds the kind's own Python work (the comparison, the nominal loop's ODE, the loop gain)
and the engine's; and the twin's time as a fraction of the sample's ngspice time (``time_spice_s``:
launch to result, in that sweep) and of the analysis alone. The tables of all modes must be identical
(timings aside). The machine's load average is printed: on a shared machine the numbers move with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analogopt.circuits.nf_single import build_nf_single  # noqa: E402
from analogopt.experiments.nf_single import NFSingleExperiment, perturb_nf_problem  # noqa: E402
import analogopt.reference.nf_single as nf_twin  # noqa: E402
from analogopt.reference.nf_single import NFTwinBatch  # noqa: E402
from analogopt.scenarios import load_scenario  # noqa: E402
from analogopt.spice.runner import NgspiceRunner  # noqa: E402
from analogopt.spice.session import SessionCache, SessionRunner  # noqa: E402
from analogopt.sweep.engine import load_rows, plan_chunks, run_sweep  # noqa: E402
from analogopt.sweep.results import build_table, stable_columns  # noqa: E402
from analogopt.sweep.spec import SweepPlan  # noqa: E402

VARY = ["x=lognormal:0.02", "u=lognormal:0.02", "tau=lognormal:0.05", "gain=gauss:0.05"]
#: mode → (sessions, chunk size: None = the engine's choice)
MODES = {"spawn": (False, 1), "chunked": (False, None), "sessions": (True, None)}


def sample_decks(plan: SweepPlan, count: int) -> list[str]:
    """The netlists of the first ``count`` samples, as their sweep runs them."""
    return [build_nf_single(problem).deck.format() for problem in sample_problems(plan, count)]


def runner_overheads(decks: list[str], scratch: Path) -> dict[str, np.ndarray]:
    """Per run (s): the analysis (in the session), and each runner's wall time less it."""
    cache = SessionCache()
    try:
        session_runner = SessionRunner(timeout_s=600.0, cache=cache)
        session_runner.run(decks[0], run_dir=scratch / "warm")  # start-up once per worker, not per sample
        session = cache.sessions[0]
        analysis, spawn, sessions = [], [], []
        for k, deck in enumerate(decks):
            t0 = time.perf_counter()
            session_runner.run(deck, run_dir=scratch / f"s{k}")
            sessions.append(time.perf_counter() - t0)
            analysis.append(session.last_timings["analysis_s"])
            t0 = time.perf_counter()
            NgspiceRunner(timeout_s=600.0).run(deck, run_dir=scratch / f"n{k}")
            spawn.append(time.perf_counter() - t0)
        a = np.array(analysis)
        print(f"runners on {len(decks)} sample netlists: analysis {np.median(a) * 1e3:.1f} ms (median); "
              f"session {session.alters} by alter, {session.loads - 1} loaded fresh")
        return {"analysis": a, "spawn": np.array(spawn) - a, "sessions": np.array(sessions) - a}
    finally:
        cache.close()


def sample_problems(plan: SweepPlan, count: int) -> list:
    """The NF problems of the first ``count`` samples, as their sweep draws them."""
    problems = []
    for sample in plan.samples[:count]:
        problem = NFSingleExperiment.from_scenario(plan.scenario_for(sample)).problem
        problems.append(perturb_nf_problem(problem, [v for v in plan.variations if not v.is_global], sample.seed))
    return problems


def twin_batches(problems: list, sizes: list[int]) -> None:
    """Per twin (ms), the samples' twins stepped in batches of each size, with the folded error of
    Eq. 12 in compiled steps (what the sweep runs) and term by term in numpy (the folds switched off),
    best of two passes; before them, what the compiled steps' first call in a process costs (numba's
    import and its cached machine code loaded, or compiled on a machine that has no cache yet)."""
    t0 = time.perf_counter()
    NFTwinBatch(problems[:1]).run(record_every=20)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    NFTwinBatch(problems[:1]).run(record_every=20)
    print(f"compiled twin steps: the first call in this process took {first:.2f} s, the same twin again "
          f"{(time.perf_counter() - t0) * 1e3:.2f} ms (once per process: numba's import and its code's load)")
    folded = nf_twin._folded
    times: dict[tuple[str, int], float] = {}
    stepped: list[int] = []  # Euler steps each twin took before its state settled
    for form in ("folded", "term by term"):
        nf_twin._folded = folded if form == "folded" else (lambda problem, par: None)
        try:
            for size in sizes:
                best = np.inf
                for _ in range(2):
                    t0 = time.perf_counter()
                    for k in range(0, len(problems), size):
                        batch = NFTwinBatch(problems[k:k + size])
                        batch.run(record_every=20)
                        stepped += batch.stepped.tolist()
                    best = min(best, (time.perf_counter() - t0) / len(problems))
                times[form, size] = best
        finally:
            nf_twin._folded = folded
    print(f"twins of {len(problems)} samples ({min(stepped)}–{max(stepped)} Euler steps until settled), "
          f"per twin (ms), by batch size: " + ", ".join(
        f"{size}: {times['folded', size] * 1e3:.2f} folded (compiled) vs {times['term by term', size] * 1e3:.2f} term by term (numpy) "
        f"({times['term by term', size] / times['folded', size]:.2f}x)" for size in sizes))


def sweep(plan: SweepPlan, out: Path, workers: int, chunk: int | None) -> dict:
    """One sweep: wall time, cluster start-up (until the first task's rows arrive, less that task's own
    time: its rows arrive together) and the table."""
    arrivals: list[tuple[float, float, float, float]] = []
    t0 = time.perf_counter()
    run_sweep(plan, out, workers=workers, chunk_size=chunk,
              on_row=lambda row: arrivals.append((time.perf_counter(), row["time_sample_s"], row["time_twin_s"],
                                                  row["time_spice_s"])))
    wall = time.perf_counter() - t0
    # the first task's rows arrive together, one write apart (a fraction of a ms each); with one worker the
    # tasks run one by one, in the order they were planned
    first_task = len(plan_chunks(plan, [s.id for s in plan.samples], workers, chunk)[0])
    first = [s for _, s, _, _ in arrivals[:first_task]]
    # from the first task's rows to the last task's: the worker's warm-up and the cluster's close left out
    # (one worker only: several workers' first tasks would overlap the interval and their rows count in it)
    later = len(arrivals) - len(first)
    steady = (arrivals[-1][0] - arrivals[len(first) - 1][0]) / later if later and workers == 1 else float("nan")
    # the same rows' twin and ngspice times: the first task's carry the worker's one-time loads (the
    # compiled twin steps' code, the libngspice session's start)
    rest = np.array([a[2:] for a in arrivals[len(first):]]) if later and workers == 1 else np.full((1, 2), np.nan)
    return dict(wall=wall, startup=arrivals[0][0] - t0 - sum(first), steady=steady,
                steady_twin=float(rest[:, 0].mean()), steady_spice=float(rest[:, 1].mean()),
                first_twin=float(np.mean([a[2] for a in arrivals[:len(first)]])),
                table=build_table(load_rows(plan, out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--iterations", type=int, default=2000, help="loop.iterations of nf_staircase")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--twin-batches", type=int, nargs="*", default=[1, 8, 64],
                        help="batch sizes to time the samples' twins in (none: skip)")
    parser.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES),
                        help="sweeps to run (none: the runners' part only)")
    args = parser.parse_args()
    scenario = load_scenario("nf_staircase", [f"loop.iterations={args.iterations}"])
    print(f"nf_staircase Monte Carlo: {args.samples} samples, {args.iterations} iterations, vary {' '.join(VARY)}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        decks = sample_decks(SweepPlan.build(scenario, [], mc=args.samples, seed=11, vary=VARY), min(20, args.samples))
        if args.twin_batches:
            sizes = sorted(args.twin_batches)
            twin_batches(sample_problems(SweepPlan.build(scenario, [], mc=sizes[-1], seed=11, vary=VARY), sizes[-1]),
                         sizes)
        over = runner_overheads(decks, scratch)
        analysis = float(np.median(over["analysis"]))
        spawn_s, session_s = float(np.median(over["spawn"])), float(np.median(over["sessions"]))
        print(f"  per-sample overhead of the runner (wall less analysis, median): one ngspice process per run "
              f"{spawn_s * 1e3:.1f} ms, session {session_s * 1e3:.1f} ms (ratio {spawn_s / session_s:.1f}x)")
        for mode in args.modes:
            sessions, chunk = MODES[mode]
            plan = SweepPlan.build(scenario, [], mc=args.samples, seed=11, vary=VARY, sessions=sessions)
            for k in args.workers:
                r = results[mode, k] = sweep(plan, scratch / f"{mode}_w{k}", k, chunk)
                n = len(r["table"])
                ok = int((r["table"]["status"] == "ok").sum())
                per_sample = (r["wall"] - r["startup"]) / n
                twin = float(r["table"]["time_twin_s"].mean())
                spice = float(r["table"]["time_spice_s"].mean())
                r.update(per_sample=per_sample, overhead=per_sample - analysis - twin,
                         steady_overhead=r["steady"] - analysis - twin)
                print(f"{mode:>8}, {k} worker(s): {r['wall']:.1f} s wall ({r['startup']:.1f} s cluster start-up), "
                      f"{ok}/{n} ok, {per_sample * 1e3:.1f} ms per sample = analysis {analysis * 1e3:.1f} + twin "
                      f"{twin * 1e3:.1f} + overhead {r['overhead'] * 1e3:.1f} ms"
                      + (f" (after the first task, before the close: {r['steady'] * 1e3:.1f} ms, overhead "
                         f"{r['steady_overhead'] * 1e3:.1f} ms)" if k == 1 else "") + "; twin/ngspice per sample "
                      f"{twin / spice:.2f} of the run's ngspice time ({spice * 1e3:.1f} ms) and "
                      f"{twin / analysis:.2f} of its analysis"
                      + (f"; after the first task (whose twins took {r['first_twin'] * 1e3:.1f} ms each): twin "
                         f"{r['steady_twin'] * 1e3:.2f} ms, {r['steady_twin'] / r['steady_spice']:.3f} of the run's "
                         f"ngspice time ({r['steady_spice'] * 1e3:.1f} ms) and {r['steady_twin'] / analysis:.3f} of "
                         f"its analysis" if k == 1 else "")
                      + f"; load average now {os.getloadavg()[0]:.2f}")
    for k in args.workers:
        if ("spawn", k) in results and ("sessions", k) in results:
            spawn, ses = results["spawn", k], results["sessions", k]
            print(f"{k} worker(s): per-sample overhead spawn {spawn['overhead'] * 1e3:.1f} ms vs sessions "
                  f"{ses['overhead'] * 1e3:.1f} ms (ratio {spawn['overhead'] / ses['overhead']:.1f}x"
                  + (f"; after the first task {spawn['steady_overhead'] * 1e3:.1f} vs {ses['steady_overhead'] * 1e3:.1f} ms"
                     if k == 1 else "") + "); per-sample wall "
                  f"{spawn['per_sample'] * 1e3:.1f} vs {ses['per_sample'] * 1e3:.1f} ms "
                  f"({spawn['per_sample'] / ses['per_sample']:.2f}x)")
    for mode in args.modes:
        one = results[mode, min(args.workers)]
        for k in sorted(args.workers)[1:]:
            r = results[mode, k]
            print(f"{mode}: speed-up {k} vs {min(args.workers)} worker(s): {one['wall'] / r['wall']:.2f}x total, "
                  f"{(one['wall'] - one['startup']) / (r['wall'] - r['startup']):.2f}x after start-up")
    tables = [stable_columns(r["table"]) for r in results.values()]
    for other in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], other, check_exact=True)
    if len(tables) > 1:
        print(f"tables identical across {', '.join(f'{m} on {k}' for m, k in results)} (timings aside)")


if __name__ == "__main__":
    main()
