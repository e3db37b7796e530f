"""Where KLU pays: plain ``ngspice -b`` on the same decks with ``.options klu`` and without (Sparse 1.3),
from a few hundred to tens of thousands of elements — the measurements behind
``analogopt.spice.netlist.KLU_MIN_ELEMENTS``.

    python bench/klu_threshold.py

Each time is the best of two runs; klu/sparse < 1 means KLU is faster.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analogopt.blocks.crossbar import map_matrix  # noqa: E402
from analogopt.circuits.crossbar import solve_circuit  # noqa: E402
from analogopt.circuits.nf_single import build_nf_single  # noqa: E402
from analogopt.spice.runner import with_solver  # noqa: E402
from bare import bare_ngspice  # noqa: E402
from nf_scale import make_problem  # noqa: E402


def elements(text: str) -> int:
    return sum(1 for line in text.splitlines() if line[:1].isalpha())


def main() -> None:
    rng = np.random.default_rng(0)
    cases = [(f"NF loop {n}×{m}", build_nf_single(make_problem(n, m)).deck.format())
             for n, m in [(8, 32), (32, 128), (64, 256)]]
    for n in (16, 64, 128):
        a = rng.uniform(-1, 1, (n, n)) / np.sqrt(n) + 2 * np.eye(n)
        cases.append((f"solve {n}×{n}", solve_circuit(map_matrix(a), rng.uniform(-1, 1, n)).deck.format()))
    print(f"{'deck':>18} {'elements':>9} {'KLU s':>7} {'Sparse s':>8} {'klu/sparse':>10}")
    for name, text in cases:
        klu = min(bare_ngspice(with_solver(text, True)) for _ in range(2))
        sparse = min(bare_ngspice(with_solver(text, False)) for _ in range(2))
        print(f"{name:>18} {elements(text):>9} {klu:7.3f} {sparse:8.3f} {klu / sparse:10.2f}", flush=True)


if __name__ == "__main__":
    main()
