"""How the multi-layer training circuits scale: elements and wall time (netlist, ngspice, twin) against hidden
width and training samples, for both presentation modes and for NF against DFA.

    python bench/multilayer_scale.py                      # iris 4-H-3, batch and online, nf and dfa
    python bench/multilayer_scale.py --widths 8 --samples 120 --modes batch --rules dfa   # the issue's target

Each row builds the ``ml_iris`` scenario with ``network.hidden=[H]``, ``data.train_samples=M``, the rule and
the mode, then times the three phases separately: writing the netlist, ngspice on it (the project's runner,
the deck's own solver choice) and one twin (batch: the scenario's 4 Heun substeps per step; online: 2 per
presentation, eta = 0.025 per sample as in docs/multilayer.md). ``batch`` runs ``--iterations`` full-batch
steps; ``online`` ``--epochs`` passes over the M samples. A kind's run steps a second twin of half the
substeps (and BP beside NF), writes figures and a report: its wall time is in docs/multilayer.md. Below the table: NF's time over DFA's
for each configuration (DFA's backward path is conductances, NF's is multipliers), and the exponents of
ngspice's time in width and in samples (least squares on log-log, same run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from analogopt.circuits.multilayer import build_multilayer
from analogopt.experiments import build_experiment
from analogopt.reference.multilayer import run_twin
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner


def measure(width: int, samples: int, mode: str, rule: str, iterations: int, epochs: int, runner,
            online_substeps: int = 2) -> dict:
    overrides = [f"network.hidden=[{width}]", f"data.train_samples={samples}", f"training.rule={rule}",
                 f"training.mode={mode}", f"training.iterations={iterations}", f"training.epochs={epochs}"]
    if mode == "online":  # per-sample steps: the twin needs few substeps (docs/multilayer.md)
        overrides += ["training.eta=0.025", f"twin.substeps={online_substeps}"]
    experiment = build_experiment(load_scenario("ml_iris", overrides))
    problem = experiment.problem
    t0 = time.perf_counter()
    circuit = build_multilayer(problem)
    text = circuit.netlist
    t1 = time.perf_counter()
    with TemporaryDirectory(prefix="bench-ml-") as tmp:
        wave = runner.run(circuit.deck, run_dir=Path(tmp) / "run").analysis("tran")
    t2 = time.perf_counter()
    run_twin(problem, substeps=experiment.substeps)
    t3 = time.perf_counter()
    return {"width": width, "samples": samples, "mode": mode, "rule": rule, "elements": circuit.element_count,
            "lines": text.count("\n"), "points": len(wave.axis), "netlist_s": t1 - t0, "spice_s": t2 - t1,
            "twin_s": t3 - t2, "total_s": t3 - t0}


def slope(xs, ys) -> float:
    xs, ys = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(xs, ys, 1)[0]) if len(set(xs.tolist())) > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="4,8,16", help="hidden widths H (comma-separated)")
    ap.add_argument("--samples", default="30,60,120", help="training samples M (comma-separated)")
    ap.add_argument("--modes", default="batch,online")
    ap.add_argument("--rules", default="nf,dfa")
    ap.add_argument("--iterations", type=int, default=300, help="batch: full-batch steps")
    ap.add_argument("--epochs", type=int, default=20, help="online: passes over the samples")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    samples = [int(m) for m in args.samples.split(",")]
    runner = NgspiceRunner(timeout_s=600)
    rows = []
    header = f"{'mode':>6} {'rule':>4} {'H':>3} {'M':>4} {'elements':>9} {'points':>7} {'netlist s':>9} {'ngspice s':>9} {'twin s':>7} {'total s':>8}"
    print(header)
    for mode in args.modes.split(","):
        for rule in args.rules.split(","):
            for h in widths:
                for m in samples:
                    r = measure(h, m, mode, rule, args.iterations, args.epochs, runner)
                    rows.append(r)
                    print(f"{mode:>6} {rule:>4} {h:>3} {m:>4} {r['elements']:>9} {r['points']:>7} {r['netlist_s']:>9.3f} "
                          f"{r['spice_s']:>9.2f} {r['twin_s']:>7.2f} {r['total_s']:>8.2f}", flush=True)
    print()
    by = {(r["mode"], r["rule"], r["width"], r["samples"]): r for r in rows}
    for (mode, rule, h, m), r in by.items():
        if rule == "nf" and (mode, "dfa", h, m) in by:
            d = by[(mode, "dfa", h, m)]
            print(f"nf/dfa {mode} H={h} M={m}: ngspice {r['spice_s'] / d['spice_s']:.2f}x, elements "
                  f"{r['elements'] / d['elements']:.2f}x")
    for mode in args.modes.split(","):
        for rule in args.rules.split(","):
            sel = [r for r in rows if r["mode"] == mode and r["rule"] == rule]
            at_m = [r for r in sel if r["samples"] == samples[-1]]
            at_h = [r for r in sel if r["width"] == widths[-1]]
            print(f"{mode} {rule}: ngspice time ~ H^{slope([r['width'] for r in at_m], [r['spice_s'] for r in at_m]):.2f} "
                  f"(M={samples[-1]}), ~ M^{slope([r['samples'] for r in at_h], [r['spice_s'] for r in at_h]):.2f} (H={widths[-1]})")


if __name__ == "__main__":
    main()
