"""Scaling of the crossbar solvers: N×N solve and 2N×N least squares, N = 16 … 256 (512 where it fits).

For each size, after one warm-up run: netlist build time (mapping + generator + deck text), ngspice time,
raw-file parse time, element count, the ratio of analogopt's end-to-end time to a bare ``ngspice -b`` on
the same netlist text (target ≤ 1.3) and the ratio to numpy on the same problem. Ideal devices and
op-amps, ``.op``. Each run is paired with a bare run (alternately before and after it) and total/bare is
the median of the pairs' own ratios; a size gets 15 pairs up to N = 32, 7 where they fit in a fifth of
the budget, 3 where those fit, else 1.

Run: ``nice -n 5 python bench/crossbar_scale.py [--max-n 512] [--budget-s 600]``. A size is skipped when
the previous one's ngspice time, scaled by the observed growth, would exceed the budget.
"""

from __future__ import annotations

import os

# One BLAS thread: the checks' SVD/eigvals on ≤ 512² matrices gain nothing from threads, and on a shared
# 2-core machine spinning BLAS threads made a 128×128 SVD take 0.4 s instead of milliseconds.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from analogopt.blocks.crossbar import map_matrix
from analogopt.circuits.crossbar import lstsq_circuit, solve_circuit
from analogopt.spice import NgspiceRunner, read_raw
from bare import bare_ngspice


def _problem(kind: str, n: int, rng: np.random.Generator):
    if kind == "solve":
        a = rng.uniform(-1, 1, (n, n)) / np.sqrt(n) + 2.0 * np.eye(n)
        return a, rng.uniform(-1, 1, n)
    x = rng.uniform(-1, 1, (2 * n, n)) / np.sqrt(n) + np.vstack([np.eye(n), np.eye(n)])
    return x, rng.uniform(-1, 1, 2 * n)


def _circuit(kind: str, a: np.ndarray, rhs: np.ndarray):
    mapping = map_matrix(a)
    return solve_circuit(mapping, rhs) if kind == "solve" else lstsq_circuit(mapping, rhs)


def bench_one(kind: str, n: int, seed: int = 0, bare_first: bool = False) -> dict:
    """One end-to-end run beside one bare ngspice run on the same netlist text (bare first when asked,
    so that neither side always finds the caches warmed by the other)."""
    rng = np.random.default_rng(seed)
    a, rhs = _problem(kind, n, rng)
    run_dir = Path(tempfile.mkdtemp(prefix="xbar-bench-"))
    try:
        if bare_first:
            bare = bare_ngspice(_circuit(kind, a, rhs).deck.format())
        t0 = time.perf_counter()
        circuit = _circuit(kind, a, rhs)
        text = circuit.deck.format()
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = NgspiceRunner(timeout_s=900).run(text, run_dir=run_dir / "ours")
        run_total = time.perf_counter() - t1
        values = circuit.values(result.analysis("op"))
        t2 = time.perf_counter()
        read_raw(run_dir / "ours" / "out.raw")
        parse = time.perf_counter() - t2
        if not bare_first:
            bare = bare_ngspice(text)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    t4 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        ref = np.linalg.solve(a, rhs) if kind == "solve" else np.linalg.lstsq(a, rhs, rcond=None)[0]
    numpy_s = (time.perf_counter() - t4) / reps
    total = build + run_total
    return {"kind": kind, "n": n, "shape": a.shape, "elements": circuit.element_count, "build_s": build,
            "ngspice_s": result.elapsed_s, "parse_s": parse, "total_s": total, "bare_ngspice_s": bare,
            "ratio_total_bare": total / bare, "ratio_numpy": total / numpy_s, "numpy_s": numpy_s,
            "rel_error": float(np.linalg.norm(values - ref) / np.linalg.norm(ref))}


def bench_median(kind: str, n: int, repeats: int) -> dict:
    """Per-key median of ``repeats`` runs (small sizes: a few ms of ngspice are noisy on a shared machine);
    total/bare is the median of each run's own ratio, its bare run alternately before and after."""
    rows = [bench_one(kind, n, bare_first=bool(k % 2)) for k in range(repeats)]
    out = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, float):
            out[key] = float(np.median([r[key] for r in rows]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=512)
    parser.add_argument("--budget-s", type=float, default=600.0)
    parser.add_argument("--kinds", default="solve,lstsq")
    args = parser.parse_args()
    sizes = [n for n in (16, 32, 64, 128, 256, 512) if n <= args.max_n]
    bench_one("solve", 8)  # warm-up: imports and the first ngspice start are not part of any size
    print("| problem | N | runs | elements | build s | ngspice s | parse s | total s | bare ngspice s | total/bare | "
          "total/numpy | rel. error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds.split(","):
        prev = None
        for n in sizes:
            predicted = 0.0
            if prev is not None and prev["ngspice_s"] > 0.05:
                predicted = prev["ngspice_s"] * max(prev.get("growth", 8.0), 4.0)
                if predicted * 2 > args.budget_s:  # the run is done twice (ours + bare)
                    print(f"| {kind} | {n} | skipped: predicted ngspice ≈ {predicted:.0f} s "
                          f"per run exceeds the budget | | | | | | | | | |")
                    break
            # A pair's ratio moves by ±40 % on this shared machine (ngspice alone varies that much from run
            # to run): 15 pairs for the millisecond runs, 7 where they fit in a fifth of the budget, else fewer.
            if n <= 32:
                repeats = 15
            else:
                repeats = next((r for r in (7, 3) if predicted * 2 * r <= args.budget_s / 5), 1)
            row = bench_median(kind, n, repeats=repeats)
            if prev is not None and prev["ngspice_s"] > 0.05:
                row["growth"] = row["ngspice_s"] / prev["ngspice_s"]
            prev = row
            shape = "×".join(map(str, row["shape"]))
            print(f"| {kind} {shape} | {n} | {repeats} | {row['elements']} | {row['build_s']:.3f} | {row['ngspice_s']:.3f} | "
                  f"{row['parse_s']:.4f} | {row['total_s']:.3f} | {row['bare_ngspice_s']:.3f} | "
                  f"{row['ratio_total_bare']:.2f} | {row['ratio_numpy']:.0f} | {row['rel_error']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
