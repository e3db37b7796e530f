"""Scaling of the single-layer NF co-simulation: where the time goes, and why data is wired linearly.

For tanh networks of n weights × m samples, prints the wall time of netlist build, ngspice, raw parsing
and twin, the wall time of the whole co-simulation (the twin runs while ngspice does, as in
``analogopt run``), the ratio total / bare ngspice (ngspice alone on the same netlist file), and, for the
smaller sizes, the same loop written with one behavioral expression per weight node (expect ≥ 10× slower).

    python bench/nf_scale.py            # 8×32 … 256×1024
    python bench/nf_scale.py --quick    # up to 64×256
    python bench/nf_scale.py --only 128x512 --behavioral-max 0   # one size
    python bench/nf_scale.py --methods  # the ideal deck's integration settings against the loop's ODE

The macro level against the ideal one, on the same problems: ``bench/nf_levels.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from analogopt.blocks.integrator import RCLowPass
from analogopt.circuits.nf_single import ABSTOL_OF_FULL_SCALE, MAX_STEP_POINTS, build_nf_single, simulator_options
from analogopt.cosim.nf_single import cosimulate
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.nf_single import loop_ode
from analogopt.spice.runner import NgspiceRunner
from analogopt.spice.netlist import format_value
from bare import bare_ngspice

SIZES = [(8, 32), (16, 64), (32, 128), (64, 256), (128, 512), (256, 1024)]
ITERATIONS = 400


def make_problem(n: int, m: int, seed: int = 0) -> NFSingleLayerProblem:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_normal((m, n - 1)) / np.sqrt(n), np.ones((m, 1))], axis=1)
    teacher = rng.standard_normal(n)
    y = np.tanh(x @ teacher)
    # Loop gain scaled so that η·γ·A·λ_max(XᵀX) ≈ 0.05: the twin stays a faithful discretization.
    lam = np.linalg.eigvalsh(x.T @ x).max()
    return NFSingleLayerProblem(x, y, ActivationSpec("tanh"), "window", forward_gain=0.05 / (1e-2 * lam),
                                eta=1e-2, iterations=ITERATIONS, leak=False, w0=np.zeros(n))


def behavioral_netlist(p: NFSingleLayerProblem) -> str:
    """The same loop written the naive way: one behavioral source per weight node whose expression
    holds the whole error sum ``Σ_k x_ki·(y_k − tanh(Σ_j x_kj·w_j))·σ'(…)`` (no intermediate nodes)."""
    m, n = p.x.shape
    z = ["+".join(f"{format_value(p.x[k, j])}*v(w{j})" for j in range(n)) for k in range(m)]
    cells = [f"({format_value(p.y[k])}-tanh({z[k]}))*(1-tanh({z[k]})*tanh({z[k]}))" for k in range(m)]
    gain = p.gamma * p.forward_gain
    lines = ["* NF loop, one behavioral expression per weight"]
    for i in range(n):
        total = "+".join(f"{format_value(p.x[k, i])}*{cells[k]}" for k in range(m))
        # C dw/dt = γ·A·e/R with R = τ/C: a current γ·A·e·C/τ into the 1 nF weight capacitor.
        lines.append(f"Bw{i} 0 w{i} I={format_value(gain * 1e-9 / p.tau_s)}*({total})")
        lines.append(f"Cw{i} w{i} 0 1e-9 ic=0")
    opts = " ".join(f"{k}={v}" for k, v in simulator_options(p, RCLowPass.c_farad).items())
    d = p.duration_s
    lines += [f".options {opts}", ".save " + " ".join(f"v(w{i})" for i in range(n)),
              f".tran {d / 50!r} {d!r} 0 {d / 50!r} uic", ".end"]
    return "\n".join(lines) + "\n"


def measure(n: int, m: int, behavioral: bool, repeats: int) -> dict:
    """One co-simulation as ``analogopt run`` does it (twin stepped while ngspice runs), its split, and
    plain ``ngspice -b`` on the same netlist; medians over ``repeats`` runs of each. Each co-simulation
    is paired with a bare run (alternately after and before it) and total/bare is the median of the
    pairs' own ratios, so a slow phase of the shared machine hits both sides of a ratio."""
    p = make_problem(n, m)
    rows = []
    text = ""
    for k in range(repeats):
        bare = bare_ngspice(text) if k % 2 else None
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = cosimulate(p, run_dir=Path(tmp), baseline=False, record_points=400)
            total = time.perf_counter() - t0
            text = (Path(tmp) / "netlist.cir").read_text()
        if bare is None:
            bare = bare_ngspice(text)
        t = result.timings
        rows.append({"total": total, "build": t["netlist_s"], "spice": t["spice_s"], "parse": t["parse_s"],
                     "twin": t["twin_s"], "bare": bare, "ratio": total / bare})
    row = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    row.update(n=n, m=m, elements=result.circuit.element_count)
    row["behavioral"] = bare_ngspice(behavioral_netlist(p)) if behavioral else float("nan")
    return row


#: (label, ngspice options over the deck's own, max-step points); the first is the ideal deck's method and
#: step cap before the trapezoidal rule (at today's abstol), the second today's setting.
METHODS = [("gear 1/50", {"method": "gear"}, 50), ("trap 1/20 (now)", {}, MAX_STEP_POINTS),
           ("trap 1/50", {}, 50), ("trap xmu 0.45 1/20", {"xmu": 0.45}, MAX_STEP_POINTS),
           ("trap 1/20, abstol 1e-4 FS", {"abstol_of_full_scale": 1e-4}, MAX_STEP_POINTS)]


def method_problems() -> list[tuple[str, NFSingleLayerProblem]]:
    from analogopt.experiments.nf_single import NFSingleExperiment
    from analogopt.scenarios import load_scenario

    shipped = ["nf_staircase", "nf_momentum", "nf_perceptron", "nf_noisy_relu", "nf_leaky_ridge", "nf_beta_cubed"]
    return ([(name, NFSingleExperiment.from_scenario(load_scenario(name)).problem) for name in shipped]
            + [(f"tanh {n}×{m}", make_problem(n, m)) for n, m in [(32, 128), (128, 512)]])


def methods_table() -> None:
    """For each loop and integration setting: ngspice's steps and wall time, and how far its weights land
    from the loop's ODE solved to rtol 1e-10 (largest distance over the 400 recorded iterations and at
    the end, in units of the weights' range)."""
    print(f"{'loop':>20} {'setting':>24} {'steps':>6} {'ngspice s':>9} {'traj-ODE':>9} {'final-ODE':>9}")
    runner = NgspiceRunner(timeout_s=600.0)
    for name, p in method_problems():
        iterations = np.unique(np.linspace(0, p.iterations, 401).round().astype(int))
        ode = loop_ode(p, iterations).weights
        span = max(float(ode.max() - ode.min()), 1e-12)
        for label, changes, points in METHODS:
            circuit = build_nf_single(p, points=points)
            changes = dict(changes)
            fraction = changes.pop("abstol_of_full_scale", ABSTOL_OF_FULL_SCALE)
            options = {**simulator_options(p, RCLowPass.c_farad, fraction), **changes}
            deck = dataclasses.replace(circuit.deck, options=options)
            t0 = time.perf_counter()
            result = runner.run(deck)
            wall = time.perf_counter() - t0
            probes = [circuit.probes[w] for w in p.weight_names]
            waves = result.analysis("tran").with_initial(dict(zip(probes, p.w0)))
            w = waves.sample(probes, iterations * p.dt_s, method="cubic")
            print(f"{name:>20} {label:>24} {len(waves.axis):>6} {wall:9.2f} {np.abs(w - ode).max() / span:9.2e} "
                  f"{np.abs(w[-1] - ode[-1]).max() / span:9.2e}", flush=True)
    print("steps = ngspice's accepted time points; traj-ODE / final-ODE = largest |w_ngspice − w_ODE| over the")
    print("recorded iterations / at the end, over the ODE weights' range; ngspice s = one run, launch to parsed raw file")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="stop at 64×256")
    ap.add_argument("--only", default="", help="n×m sizes to time, comma-separated (e.g. 128x512)")
    ap.add_argument("--behavioral-max", type=int, default=16, help="largest n also timed as behavioral sources")
    ap.add_argument("--methods", action="store_true",
                    help="only compare the ideal deck's integration settings with the loop's ODE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.methods:
        methods_table()
        return
    sizes = [s for s in SIZES if not args.quick or s[0] <= 64]
    if args.only:
        sizes = [tuple(int(v) for v in size.lower().split("x")) for size in args.only.split(",")]
    head = f"{'n×m':>10} {'elements':>9} {'build':>7} {'ngspice':>8} {'parse':>6} {'twin':>6} {'total':>7} {'bare':>7} {'tot/bare':>8} {'behav.':>8} {'behav/bare':>10}"
    measure(4, 16, behavioral=False, repeats=1)  # warm-up: imports, first ngspice start
    print(head)
    for n, m in sizes:
        r = measure(n, m, behavioral=n <= args.behavioral_max, repeats=7 if n <= 32 else 3 if n <= 64 else 1)
        slow = r["behavioral"] / r["bare"]
        print(f"{n:>4}×{m:<5} {r['elements']:>9} {r['build']:7.3f} {r['spice']:8.3f} {r['parse']:6.3f} {r['twin']:6.3f} "
              f"{r['total']:7.3f} {r['bare']:7.3f} {r['ratio']:8.2f} {r['behavioral']:8.2f} {slow:10.1f}", flush=True)
    print("times in s; total = wall time of one co-simulation (netlist, ngspice with the twin stepped meanwhile,")
    print("raw parsing, alignment), median of 7 runs up to 32×128 and 3 at 64×256; tot/bare = median of each run's")
    print("total / ngspice alone on the same netlist (`ngspice -b`), the bare run alternately after and before it;")
    print(f"behav. = the same loop with one behavioral expression per weight node; {ITERATIONS} twin iterations, tanh, u = window")


if __name__ == "__main__":
    main()
