"""ngspice time of the NF loop at the macro level against the ideal level, and element counts per level.

The same tanh problems as bench/nf_scale.py (n weights × m samples, 400 twin iterations). Each row runs
plain ``ngspice -b`` on both levels' netlists, alternating which goes first, and reports the median of
the pairs' own ratios macro/ideal (the issue's goal: ≤ 3×), with both levels' element counts and how far
the macro loop's final weights land from the ideal level's (fraction of the weights' range).

    python bench/nf_levels.py            # 8×32 … 64×256, then the sensitivity study's wall time
    python bench/nf_levels.py --quick    # 8×32 and 16×64

The last table times ``sims/nf_sensitivity.toml`` (kind ``nf_sensitivity``: the nominal macro loop and one
run per swept imperfection value), its ngspice share and the agreement with theory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from analogopt.circuits.nf_macro import MacroParts
from analogopt.experiments.nf_sensitivity import NFSensitivityExperiment
from analogopt.progress import SilentProgress
from analogopt.results import RunDirectory
from analogopt.scenarios import load_scenario
from analogopt.cosim.nf_single import build_loop, cosimulate
from bare import bare_ngspice
from nf_scale import make_problem

SIZES = [(8, 32), (16, 64), (32, 128), (64, 256)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    levels_table(SIZES[:2] if args.quick else SIZES, args.repeats)
    sensitivity()


def levels_table(sizes: list[tuple[int, int]], repeats: int = 3) -> None:
    """The macro/ideal table (module docstring) for ``sizes`` (n weights, m samples)."""
    parts = MacroParts()
    print("| n×m | elements ideal | elements macro | ngspice ideal s | ngspice macro s | macro/ideal | "
          "final |Δw| macro vs ideal (of range) |")
    print("|---|---|---|---|---|---|---|")
    for n, m in sizes:
        p = make_problem(n, m)
        ideal_c, macro_c = build_loop(p), build_loop(p, macro=parts)
        ideal_t, macro_t, ratios = [], [], []
        for k in range(repeats):
            order = [(ideal_c, ideal_t), (macro_c, macro_t)]
            for circuit, times in order if k % 2 == 0 else order[::-1]:
                times.append(bare_ngspice(circuit.netlist))
            ratios.append(macro_t[-1] / ideal_t[-1])
        with tempfile.TemporaryDirectory() as tmp:
            a = cosimulate(p, run_dir=Path(tmp) / "i", baseline=False, ideal=False)
            b = cosimulate(p, run_dir=Path(tmp) / "m", baseline=False, ideal=False, macro=parts)
        span = max(float(np.ptp(a.analog.weights)), 1e-12)
        gap = float(np.max(np.abs(a.analog.final_weights - b.analog.final_weights))) / span
        print(f"| {n}×{m} | {ideal_c.element_count} | {macro_c.element_count} | {statistics.median(ideal_t):.3f} | "
              f"{statistics.median(macro_t):.3f} | {statistics.median(ratios):.2f} | {gap:.2e} |", flush=True)


def sensitivity() -> None:
    """Wall time of the shipped sensitivity study, and how much of it is ngspice."""
    experiment = NFSensitivityExperiment.from_scenario(load_scenario("nf_sensitivity"))
    with tempfile.TemporaryDirectory() as tmp:
        with RunDirectory(Path(tmp) / "run") as out:
            m = experiment.run(out, SilentProgress())
    t = m["time"]
    print()
    print("| sensitivity study | runs | elements per run | wall s | ngspice s | ngspice share | result |")
    print("|---|---|---|---|---|---|---|")
    print(f"| nf_sensitivity | {t['runs']} | {m['nominal']['element_count']} | {t['wall_s']:.1f} | {t['spice_s']:.1f} | "
          f"{t['spice_s'] / t['wall_s']:.0%} | {m['summary']} |", flush=True)


if __name__ == "__main__":
    main()
