"""Which part's mismatch costs the macro staircase loop most: each ``[circuit.mismatch]`` key alone.

For every key of nf_staircase's ``[circuit.mismatch]`` table, the others set to 0, ``--samples`` Monte Carlo
chips (the seeds ``analogopt sweep --mc N --seed 0`` would use) at the macro level; per key the mean
deviation of the final weights from the nominal mathematics (fraction of range), the mean final loss and
the spread of the weights. Then the noise gain 1 + R·ΣG of each summing line, which multiplies its
op-amp's offset on the way to the OTA input.

    python bench/nf_mismatch_budget.py                 # 6 chips per key, 2000 iterations
    python bench/nf_mismatch_budget.py --samples 20
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from analogopt.cosim.nf_single import build_loop
from analogopt.experiments.nf_mismatch import mismatch_of
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner
from analogopt.sweep.spec import sample_seed
from analogopt.units import parse_si

BASE = ["circuit.level='macro'"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--iterations", type=int, default=2000)
    args = ap.parse_args()
    sets = [*BASE, f"loop.iterations={args.iterations}"]
    sigmas = mismatch_of(load_scenario("nf_staircase").config).sigmas
    print("| key alone | σ | mean deviation from ideal | mean loss | std w | std b |\n|---|---|---|---|---|---|")
    for key, sigma in sigmas.items():
        alone = [f"circuit.mismatch.{k}=0" for k in sigmas if k != key]
        e = NFSingleExperiment.from_scenario(load_scenario("nf_staircase", [*sets, *alone]))
        rows = []
        for k in range(args.samples):
            with tempfile.TemporaryDirectory() as d:
                rows.append(e.sample([], sample_seed(0, k), NgspiceRunner(timeout_s=600), Path(d)))
        col = lambda name: np.array([r[name] for r in rows])  # noqa: E731
        print(f"| {key} | {sigma:g} | {col('comparison.analog_vs_ideal.final_fraction_of_range').mean():.3g} | "
              f"{col('analog_final_loss').mean():.3g} | {col('analog_w').std(ddof=1):.3g} | "
              f"{col('analog_b').std(ddof=1):.3g} |")
    e = NFSingleExperiment.from_scenario(load_scenario("nf_staircase", sets))
    circuit = build_loop(e.problem, macro=e.macro)
    text, sc = circuit.deck.format(), circuit.scales
    print(f"\ns_e = {sc.v_per_error:.4g} V per unit of error, s_z = {sc.v_per_z:.4g} V per unit of z")
    for node, r in (("ep0_s", sc.r_e_ohm), ("en0_s", sc.r_e_ohm), ("ep1_s", sc.r_e_ohm), ("en1_s", sc.r_e_ohm),
                    ("s0", sc.r_z_ohm)):
        g = sum(1 / parse_si(line.split()[-1], "R") for line in text.splitlines()
                if line.startswith(("Rxp", "Rxn", "Rup", "Run")) and node in line.split()[1:3])
        print(f"noise gain of line {node}: {1 + r * g:.3g}")


if __name__ == "__main__":
    main()
