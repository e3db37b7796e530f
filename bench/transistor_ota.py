"""Time of the transistor level: the GF180MCU Miller op-amp's AC characterization, the 45-point PVT grid
(with the targets checked at every point), a 16×16 crossbar solve with transistor-level op-amps against the
same solve with the macromodel fitted to them (``level = "macro"``: operating point and settling transient,
ratios), and the NF staircase at the macro level with the fitted op-amps and with the transistors (each
timed up to --nf-timeout, reported either way).

    python bench/transistor_ota.py                 # everything
    python bench/transistor_ota.py --skip-nf       # without the NF runs (minutes)

Run alone, on a quiet machine. The numbers of the closing notes and docs/transistor.md come from here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from analogopt.blocks.crossbar import map_matrix
from analogopt.circuits.crossbar import predict_settling_time, solve_circuit
from analogopt.circuits.ota_design import OTATargets
from analogopt.cosim import transistor_ota as t
from analogopt.experiments.transistor_parts import fitted_opamp
from analogopt.pdk.gf180mcu import Gf180mcu, pvt_grid
from analogopt.spice import NgspiceRunner, Transient

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, *args, repeats: int = 1, **kwargs):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def crossbar(n: int, part, model, runner) -> list[tuple[str, float, float, float]]:
    """(analysis, transistor s, macro s, ratio) for the n×n solve."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.geomspace(1.0, 0.1, n)) @ q.T
    b = 0.1 * rng.uniform(-1, 1, n)
    mapping = map_matrix(a)
    rows = []
    op_t, _ = timed(runner.run, solve_circuit(mapping, b, opamp=part).deck, repeats=3)
    op_m, _ = timed(runner.run, solve_circuit(mapping, b, opamp=model).deck, repeats=3)
    rows.append(("operating point", op_t, op_m, op_t / op_m))
    pred = predict_settling_time(mapping, model.__class__(kind="single_pole", gain=model.gain,
                                                          gbw_hz=model.unity_gain_hz()), 1e-3)
    tran = Transient(2.5 * pred.time_s, max_step_s=pred.time_s / 400)
    tr_t, _ = timed(runner.run, solve_circuit(mapping, b, opamp=part, transient=tran).deck)
    tr_m, _ = timed(runner.run, solve_circuit(mapping, b, opamp=model, transient=tran).deck)
    rows.append((f"settling transient ({tran.stop_s * 1e6:.3g} µs)", tr_t, tr_m, tr_t / tr_m))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="crossbar size (default 16)")
    ap.add_argument("--skip-nf", action="store_true", help="leave out the NF staircase run")
    ap.add_argument("--nf-timeout", type=float, default=600.0, help="limit of the NF run (s)")
    args = ap.parse_args()
    runner = NgspiceRunner(timeout_s=900)
    targets = OTATargets()

    design_s, design = timed(t.design_miller_ota, targets, runner)
    ota = design.ota
    typical = Gf180mcu()
    ac_s, ol = timed(t.measure_open_loop, ota, typical, targets.c_load_f, runner, repeats=5)
    grid = pvt_grid("full")
    grid_s, sweep = timed(t.pvt_sweep, ota, grid, targets.c_load_f, runner)
    misses = [f"{s.label}: {m}" for s in sweep for m in t.failures(s, targets)]

    print("| step | time (s) | result |")
    print("|---|---|---|")
    print(f"| design loop (device tables, first cut, reduced grid) | {design_s:.2f} | {len(design.rounds)} round(s), "
          f"targets {'met' if design.met else 'missed'} |")
    print(f"| one open-loop AC characterization (operating point + AC, best of 5) | {ac_s:.3f} | "
          f"{ol.dc_gain_db:.1f} dB, {ol.gbw_hz / 1e6:.2f} MHz, {ol.pm_deg:.1f}° at {typical.label} |")
    worst = (min(s.dc_gain_db for s in sweep), min(s.gbw_hz for s in sweep), min(s.pm_deg for s in sweep),
             min(s.gain_margin_db for s in sweep))
    hand = max(max(abs(10 ** ((s.dc_gain_db - s.hand_gain_db) / 20) - 1), abs(s.gbw_hz / s.hand_gbw_hz - 1)) for s in sweep)
    print(f"| 45-point PVT grid (5 corners × −40/27/125 °C × 2.97/3.3/3.63 V) | {grid_s:.2f} | "
          f"{'all targets met' if not misses else f'{len(misses)} misses'}; worst: {worst[0]:.1f} dB, "
          f"{worst[1] / 1e6:.2f} MHz, PM {worst[2]:.1f}°, GM {worst[3]:.1f} dB; hand estimate within {hand:.1%} |")
    for m in misses:
        print(f"  miss: {m}")

    # the model `level = "macro"` gives (A0, poles, slew, offset, output resistance and its roll-off)
    model = fitted_opamp(targets, typical)
    print()
    print(f"| {args.n}×{args.n} crossbar solve | transistor (s) | fitted macromodel (s) | transistor / macro |")
    print("|---|---|---|---|")
    for name, a, b, ratio in crossbar(args.n, ota.as_part(typical), model, runner):
        print(f"| {name} | {a:.3f} | {b:.3f} | {ratio:.1f}× |")

    if args.skip_nf:
        return
    print()
    print("| NF staircase at the macro level (sims/nf_staircase.toml), op-amps | wall (s) | result |")
    print("|---|---|---|")
    unloaded = (f'kind = "two_pole"\ngain = {model.gain!r}\ngbw_hz = {model.gbw_hz!r}\n'
                f"second_pole_hz = {model.second_pole_hz!r}")
    light = ['circuit.line_current_a="50u"', 'circuit.g_max_s="5u"', 'circuit.g_min_s="5n"']
    runs = [('level = "macro"', 'level = "macro"', []),
            ("its A0, GBW and poles without r_out", unloaded, []),
            ('level = "macro", lines 20× lighter', 'level = "macro"', light),
            ('level = "transistor"', 'level = "transistor"', [])]
    for label, table, sets in runs:  # the fitted macromodel, its parts, lighter loads, the transistors
        with tempfile.TemporaryDirectory() as tmp:
            scenario = Path(tmp) / "nf_staircase_opamp.toml"
            text = (ROOT / "sims" / "nf_staircase.toml").read_text().replace('level = "ideal"', 'level = "macro"', 1)
            scenario.write_text(text.replace("[circuit.mismatch]", f"[circuit.opamp]\n{table}\n\n[circuit.mismatch]", 1))
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "analogopt.cli", "run", str(scenario), "--out",
                                   str(Path(tmp) / "out"), "--timeout", str(args.nf_timeout), "--quiet",
                                   *[a for s in sets for a in ("--set", s)]], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            summary = ""
            if proc.returncode == 0:
                summary = json.loads((Path(tmp) / "out" / "metrics.json").read_text())["summary"]
        status = summary if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        print(f"| {label} | {wall:.1f} | {status.replace('|', chr(92) + '|')} |")


if __name__ == "__main__":
    main()
