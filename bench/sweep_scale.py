"""Sweep engine scaling: NF staircase Monte Carlo on 1 and 2 local Dask workers.

    python bench/sweep_scale.py [--samples 200] [--iterations 8000] [--workers 1 2]

For each worker count: wall time of the whole sweep (cluster start-up included, and excluded), samples/s
and the speed-up over one worker. Per-sample overhead over bare ngspice: the one-worker wall time per
sample minus what the sample itself must compute — the ngspice run as plain ``ngspice -b`` takes it
(measured separately on the same netlists) and the digital twin (``time_twin_s``). Everything else
(Dask scheduling, netlist generation, the Python runner, alignment, row writing) is overhead.
The machine's load average is printed: on a shared machine the numbers move with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analogopt.circuits.nf_single import build_nf_single  # noqa: E402
from analogopt.experiments.nf_single import NFSingleExperiment  # noqa: E402
from analogopt.scenarios import load_scenario  # noqa: E402
from analogopt.sweep.engine import load_rows, run_sweep  # noqa: E402
from analogopt.experiments.nf_single import perturb_nf_problem  # noqa: E402
from analogopt.sweep.results import build_table  # noqa: E402
from analogopt.sweep.spec import SweepPlan  # noqa: E402

VARY = ["x=lognormal:0.02", "u=lognormal:0.02", "tau=lognormal:0.05", "gain=gauss:0.05"]


def bare_ngspice_s(plan: SweepPlan, count: int, scratch: Path) -> float:
    """Mean wall time of plain ``ngspice -b`` on the first ``count`` samples' netlists (s)."""
    times = []
    for sample in plan.samples[:count]:
        scenario = plan.scenario_for(sample)
        problem = NFSingleExperiment.from_scenario(scenario).problem
        problem = perturb_nf_problem(problem, [v for v in plan.variations if not v.is_global], sample.seed)
        path = scratch / f"{sample.id}.cir"
        path.write_text(build_nf_single(problem).deck.format())
        t0 = time.perf_counter()
        subprocess.run(["ngspice", "-b", "-r", f"{sample.id}.raw", path.name], cwd=scratch, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=8000, help="loop.iterations of nf_staircase")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    scenario = load_scenario("nf_staircase", [f"loop.iterations={args.iterations}"])
    plan = SweepPlan.build(scenario, [], mc=args.samples, seed=11, vary=VARY)
    print(f"nf_staircase Monte Carlo: {args.samples} samples, {args.iterations} iterations, vary {' '.join(VARY)}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        bare = bare_ngspice_s(plan, min(20, args.samples), scratch)
        for k in args.workers:
            out = scratch / f"w{k}"
            first: list[float] = []
            t0 = time.perf_counter()
            run_sweep(plan, out, workers=k, on_row=lambda row: first.append(time.perf_counter()) if not first else None)
            wall = time.perf_counter() - t0
            table = build_table(load_rows(plan, out))
            startup = first[0] - t0 - float(table["time_sample_s"].min()) if first else 0.0
            results[k] = dict(wall=wall, startup=startup, table=table)
            ok = int((table["status"] == "ok").sum())
            print(f"{k} worker(s): {wall:.1f} s wall ({startup:.1f} s cluster start-up), {ok}/{len(table)} ok, "
                  f"{len(table) / wall:.2f} samples/s ({len(table) / (wall - startup):.2f} after start-up); "
                  f"load average now {os.getloadavg()[0]:.2f}")
    one = results[min(results)]
    n = len(one["table"])
    t = one["table"]
    per_sample = (one["wall"] - one["startup"]) / n
    twin = float(t["time_twin_s"].mean())
    spice_in_task = float(t["time_spice_s"].mean())
    print(f"per sample (1 worker): {per_sample * 1e3:.0f} ms wall = bare ngspice {bare * 1e3:.0f} ms "
          f"(in-task runner {spice_in_task * 1e3:.0f} ms) + twin {twin * 1e3:.0f} ms "
          f"+ overhead {(per_sample - bare - twin) * 1e3:.0f} ms")
    print(f"  of which the Dask engine (wall per sample minus the task's own time): "
          f"{(per_sample - float(t['time_sample_s'].mean())) * 1e3:.1f} ms")
    for k in sorted(results)[1:]:
        r = results[k]
        print(f"speed-up {k} vs 1 worker: {one['wall'] / r['wall']:.2f}x total, "
              f"{(one['wall'] - one['startup']) / (r['wall'] - r['startup']):.2f}x after start-up")
    a = results[min(results)]["table"].drop(columns=[c for c in t if c.startswith(("time_", "worker"))])
    for k in sorted(results)[1:]:
        b = results[k]["table"].drop(columns=[c for c in t if c.startswith(("time_", "worker"))])
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    print("tables identical across worker counts (timings aside)")


if __name__ == "__main__":
    main()
