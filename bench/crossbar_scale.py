"""Scaling of the crossbar solvers: N×N solve and 2N×N least squares, N = 16 … 256 (512 where it fits),
and a resistor array with wire resistance (``grid``: 2·N² nodes), on ngspice and, with
``--simulators ngspice,native``, on the native DC solver beside it.

For each size, after one warm-up run: netlist build time (mapping + generator + deck text), ngspice time,
raw-file parse time, element count, the ratio of analogopt's end-to-end time to a bare ``ngspice -b`` on
the same netlist text (target ≤ 1.3) and the ratio to numpy on the same problem. Ideal devices and
op-amps, ``.op``. Each run is paired with a bare run (alternately before and after it) and total/bare is
the median of the pairs' own ratios; a size gets 15 pairs up to N = 32, 7 where they fit in a fifth of
the budget, 3 where those fit, else 1.

With ``native`` among ``--simulators``, each size also runs the native solver on the same deck
(end to end: build + parse + solve), and the table gives its time, native/ngspice (end-to-end totals of
the same run) and the largest difference between the two answers, relative to the answer's largest
entry. ``--ngspice`` names the ngspice program (default: the one on PATH).

The ``grid`` problem is one N×N array of 1–100 µS devices with 2 Ω per wire segment, its columns driven
by sources, its rows held at 0 V by 0 V sources whose currents are the answer; its numpy yardstick is
the sparse LU of its nodal matrix (:func:`analogopt.blocks.crossbar.wire_mvm_currents`' method).

Run: ``nice -n 5 python bench/crossbar_scale.py [--max-n 512] [--budget-s 600] [--kinds solve,lstsq,grid]
[--sizes 64,256,1024] [--simulators ngspice,native] [--ngspice PATH] [--ngspice-limit-s S]``. A size is
skipped for a simulator when its previous size's time, scaled by the observed growth, would exceed the
budget. An ngspice run (end to end or bare) past ``--ngspice-limit-s`` is stopped: its cell reads
"> S (stopped)" and native/ngspice becomes the bound native total / S, e.g. for ngspice 39.3 on the
256 × 256 grid: ``--kinds grid --sizes 256 --simulators ngspice,native --ngspice .cache/ngspice-39.3/bin/ngspice
--ngspice-limit-s 300``.
"""

from __future__ import annotations

import os

# One BLAS thread: the checks' SVD/eigvals on ≤ 512² matrices gain nothing from threads, and on a shared
# 2-core machine spinning BLAS threads made a 128×128 SVD take 0.4 s instead of milliseconds.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from analogopt.blocks.crossbar import format_array, map_matrix
from analogopt.circuits.crossbar import lstsq_circuit, solve_circuit
from analogopt.spice.netlist import SOLVER_OPTION, wants_klu
from analogopt.spice import NgspiceRunner, read_raw
from analogopt.errors import SimulationTimeoutError
from analogopt.spice.native import NativeRunner
from bare import bare_ngspice

SIMULATORS = ("ngspice", "native")


class _Grid:
    """The wire-resistance array deck, with the interface of a CrossbarCircuit that the bench uses."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.g = rng.uniform(1e-6, 100e-6, (n, n))
        self.drive = rng.uniform(-1, 1, n)
        sense, drive = [f"s{i}" for i in range(n)], [f"d{j}" for j in range(n)]
        lines = ["* wire grid", format_array("A", self.g, sense, drive, 2.0).rstrip("\n")]
        lines += [f"Vd{j} d{j} 0 {float(v)!r}" for j, v in enumerate(self.drive)]
        lines += [f"Vs{i} s{i} 0 0" for i in range(n)]
        lines += [".save " + " ".join(f"i(vs{i})" for i in range(n)), ".op"]
        text = "\n".join(lines) + "\n"
        # the solver choice a NetlistDeck writes into a deck of this size
        self.text = text + (SOLVER_OPTION + "\n" if wants_klu(text) else "") + ".end\n"
        self.element_count = self.text.count("\nR") + self.text.count("\nV")  # every line after the title
        self.n = n

    def values(self, waves) -> np.ndarray:
        return np.array([waves[f"i(vs{i})"][-1] for i in range(self.n)])

    def reference(self) -> np.ndarray:
        """Sense currents into the 0 V sources (A) by sparse LU of the nodal matrix (numpy/scipy)."""
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        n, gw = self.n, 0.5
        s_id = np.arange(n * n).reshape(n, n)
        d_id = n * n + s_id
        rows, cols, vals = [], [], []
        for a, b, g in ((s_id, d_id, self.g), (s_id[:, :-1], s_id[:, 1:], gw), (d_id[:-1, :], d_id[1:, :], gw)):
            a, b = a.ravel(), b.ravel()
            g = np.ravel(g) if np.ndim(g) else np.full(a.size, g)
            rows += [a, b, a, b]
            cols += [a, b, b, a]
            vals += [g, g, -g, -g]
        diag = np.zeros(2 * n * n)
        diag[s_id[:, 0]] += gw
        diag[d_id[0, :]] += gw
        rhs = np.zeros(2 * n * n)
        rhs[d_id[0, :]] = gw * self.drive
        matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(2 * n * n, 2 * n * n)) + sp.diags(diag)
        nodes = spla.spsolve(matrix.tocsc(), rhs)
        # the current of a 0 V source flows from its n+ (the sense end) through it to ground
        return gw * nodes[s_id[:, 0]]


def _problem(kind: str, n: int, rng: np.random.Generator):
    if kind == "solve":
        a = rng.uniform(-1, 1, (n, n)) / np.sqrt(n) + 2.0 * np.eye(n)
        return a, rng.uniform(-1, 1, n)
    x = rng.uniform(-1, 1, (2 * n, n)) / np.sqrt(n) + np.vstack([np.eye(n), np.eye(n)])
    return x, rng.uniform(-1, 1, 2 * n)


def _circuit(kind: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "grid":
        grid = _Grid(n, rng)
        return grid, grid.text, grid.reference
    a, rhs = _problem(kind, n, rng)
    mapping = map_matrix(a)
    circuit = solve_circuit(mapping, rhs) if kind == "solve" else lstsq_circuit(mapping, rhs)

    def reference() -> np.ndarray:
        return np.linalg.solve(a, rhs) if kind == "solve" else np.linalg.lstsq(a, rhs, rcond=None)[0]

    return circuit, circuit.deck.format(), reference


def bench_one(kind: str, n: int, simulators: tuple[str, ...], ngspice: str, seed: int = 0,
              bare_first: bool = False, limit_s: float = 900.0) -> dict:
    """One end-to-end run per simulator; beside ngspice's, one bare ngspice run on the same netlist text
    (bare first when asked, so that neither side always finds the caches warmed by the other). An ngspice
    run past ``limit_s`` is stopped and recorded as ``ngspice_over_s`` (its ratios become bounds)."""
    run_dir = Path(tempfile.mkdtemp(prefix="xbar-bench-"))
    row: dict = {"kind": kind, "n": n}
    try:
        if "ngspice" in simulators and bare_first:
            _bare(row, _circuit(kind, n, seed)[1], ngspice, limit_s)
        answers = {}
        for simulator in simulators:
            t0 = time.perf_counter()
            circuit, text, reference = _circuit(kind, n, seed)
            build = time.perf_counter() - t0
            row["build_s"], row["elements"] = build, circuit.element_count
            if simulator == "ngspice" and "ngspice_over_s" in row:
                continue  # its bare run already ran past the limit
            runner = NgspiceRunner(ngspice, timeout_s=limit_s) if simulator == "ngspice" else NativeRunner(timeout_s=900)
            t1 = time.perf_counter()
            try:
                result = runner.run(text, run_dir=run_dir / simulator)
            except SimulationTimeoutError:
                if simulator != "ngspice":
                    raise
                row["ngspice_over_s"] = limit_s
                continue
            row[f"{simulator}_total_s"] = build + time.perf_counter() - t1
            row[f"{simulator}_s"] = result.elapsed_s
            answers[simulator] = circuit.values(result.analysis("op"))
            if simulator == "ngspice":
                t2 = time.perf_counter()
                read_raw(run_dir / "ngspice" / "out.raw")
                row["parse_s"] = time.perf_counter() - t2
        if "ngspice" in answers and not bare_first:
            _bare(row, text, ngspice, limit_s)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    t4 = time.perf_counter()
    reps = 20 if kind != "grid" else 1
    for _ in range(reps):
        ref = reference()
    row["numpy_s"] = (time.perf_counter() - t4) / reps
    first = next(s for s in simulators if s in answers)
    row["rel_error"] = float(np.linalg.norm(answers[first] - ref) / np.linalg.norm(ref))
    if "ngspice" in answers:
        if "bare_ngspice_s" in row:
            row["ratio_total_bare"] = row["ngspice_total_s"] / row["bare_ngspice_s"]
        row["ratio_numpy"] = row["ngspice_total_s"] / row["numpy_s"]
    if len(answers) == 2:
        row["native_vs_ngspice"] = row["native_total_s"] / row["ngspice_total_s"]
        row["native_diff"] = float(np.abs(answers["native"] - answers["ngspice"]).max() / np.abs(answers["ngspice"]).max())
    elif "native" in answers and "ngspice_over_s" in row:
        row["native_vs_ngspice_bound"] = row["native_total_s"] / row["ngspice_over_s"]
    return row


def _bare(row: dict, text: str, ngspice: str, limit_s: float) -> None:
    """The bare run's time into ``row``, or ``ngspice_over_s`` when it ran past ``limit_s``."""
    try:
        row["bare_ngspice_s"] = bare_ngspice(text, ngspice, timeout_s=limit_s)
    except subprocess.TimeoutExpired:
        row["ngspice_over_s"] = limit_s


def bench_median(kind: str, n: int, repeats: int, simulators: tuple[str, ...], ngspice: str,
                 limit_s: float = 900.0) -> dict:
    """Per-key median of ``repeats`` runs (small sizes: a few ms of ngspice are noisy on a shared machine);
    total/bare and native/ngspice are medians of each run's own ratio, its bare run alternately before and
    after. A key some runs lack (ngspice past the limit in one of them) is left out."""
    rows = [bench_one(kind, n, simulators, ngspice, bare_first=bool(k % 2), limit_s=limit_s) for k in range(repeats)]
    out = {key: value for key, value in rows[0].items() if all(key in r for r in rows)}
    for key, value in out.items():
        if isinstance(value, float):
            out[key] = float(np.median([r[key] for r in rows]))
    if any("ngspice_over_s" in r for r in rows):
        out["ngspice_over_s"] = limit_s
    return out


def _cell(row: dict, key: str, fmt: str) -> str:
    return format(row[key], fmt) if key in row else "—"


def _total_cell(row: dict, simulator: str) -> str:
    if simulator == "ngspice" and "ngspice_over_s" in row:
        return f"> {row['ngspice_over_s']:g} (stopped)"
    return _cell(row, f"{simulator}_total_s", ".3f")


def _skipped_cell(simulator: str, dropped: dict[str, float], stopped: dict[str, float]) -> str:
    if simulator in stopped:
        return f"skipped (stopped at {stopped[simulator]:g} s at a smaller N)"
    return f"skipped (≈ {dropped[simulator]:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=512)
    parser.add_argument("--budget-s", type=float, default=600.0)
    parser.add_argument("--kinds", default="solve,lstsq")
    parser.add_argument("--sizes", default="16,32,64,128,256,512", help="N values, comma-separated")
    parser.add_argument("--simulators", default="ngspice", help="comma-separated: ngspice, native")
    parser.add_argument("--ngspice", default="ngspice", help="the ngspice program to run (default: on PATH)")
    parser.add_argument("--ngspice-limit-s", type=float, default=900.0,
                        help="stop an ngspice run past this many seconds; its ratios are then bounds")
    args = parser.parse_args()
    simulators = tuple(args.simulators.split(","))
    if not simulators or any(s not in SIMULATORS for s in simulators):
        parser.error(f"--simulators: choose from {', '.join(SIMULATORS)}")
    sizes = [n for n in map(int, args.sizes.split(",")) if n <= args.max_n]
    bench_one("solve", 8, simulators, args.ngspice)  # warm-up: imports and the first starts belong to no size
    both = len(simulators) == 2
    print("| problem | N | runs | elements | build s | " + " | ".join(f"{s} total s" for s in simulators)
          + " | ngspice run s | parse s | bare ngspice s | total/bare | total/numpy | rel. error |"
          + (" native/ngspice | native vs ngspice |" if both else ""))
    print("| --- " * (11 + len(simulators) + (2 if both else 0)) + "|")
    for kind in args.kinds.split(","):
        last: dict[str, tuple[float, float]] = {}  # simulator → (total s at the previous size, growth)
        dropped: dict[str, float] = {}  # simulator → the predicted time that left it out
        stopped: dict[str, float] = {}  # simulator → the limit a smaller size's run was stopped at
        for n in sizes:
            predicted = {s: t * max(g, 4.0) if t > 0.05 else 0.0 for s, (t, g) in last.items()}
            for s, seconds in predicted.items():
                if s not in dropped and seconds * (2 if s == "ngspice" else 1) > args.budget_s:  # ngspice: + bare
                    dropped[s] = seconds
            running = tuple(s for s in simulators if s not in dropped and s not in stopped)
            if not running:
                print(f"| {kind} | {n} | skipped: every simulator's predicted time exceeds the budget or its runs "
                      "were stopped at the limit |" + " |" * (10 + len(simulators)))
                break
            # A pair's ratio moves by ±40 % on this shared machine (ngspice alone varies that much from run
            # to run): 15 pairs for the millisecond runs, 7 where they fit in a fifth of the budget, else fewer.
            slowest = max((predicted.get(s, 0.0) for s in running), default=0.0)
            if n <= 32:
                repeats = 15
            elif not predicted:  # the first size of a run of large ones: no estimate yet, so one pair
                repeats = 1
            else:
                repeats = next((r for r in (7, 3) if slowest * 2 * r <= args.budget_s / 5), 1)
            row = bench_median(kind, n, repeats, running, args.ngspice, args.ngspice_limit_s)
            for s in running:
                if s == "ngspice" and "ngspice_over_s" in row:
                    stopped[s] = row["ngspice_over_s"]  # the larger sizes would take longer still
                    continue
                total = row[f"{s}_total_s"]
                last[s] = (total, total / last[s][0] if s in last and last[s][0] > 0.05 else 8.0)
            label = f"{kind} {2 * n}×{n}" if kind == "lstsq" else f"{kind} {n}×{n}"
            cells = [label, str(n), str(repeats), str(row["elements"]), _cell(row, "build_s", ".3f"),
                     *[_skipped_cell(s, dropped, stopped) if s not in running else _total_cell(row, s)
                       for s in simulators],
                     _cell(row, "ngspice_s", ".3f"), _cell(row, "parse_s", ".4f"), _cell(row, "bare_ngspice_s", ".3f"),
                     _cell(row, "ratio_total_bare", ".2f"), _cell(row, "ratio_numpy", ".0f"), _cell(row, "rel_error", ".1e")]
            if both:
                ratio = (f"< {row['native_vs_ngspice_bound']:.2g}" if "native_vs_ngspice_bound" in row
                         else _cell(row, "native_vs_ngspice", ".3f"))
                cells += [ratio, _cell(row, "native_diff", ".1e")]
            print("| " + " | ".join(cells) + " |", flush=True)

if __name__ == "__main__":
    main()
