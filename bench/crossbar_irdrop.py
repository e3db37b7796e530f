"""IR drop of an N×N crossbar MVM against the ideal MVM, N = 32 … 256: the IR-drop theory's error for every
size, ngspice's (and its distance from the theory) where N ≤ ``--spice-max-n``.

The problem is the ``crossbar_mvm`` kind's (entries and inputs uniform in [−1, 1], seed 0), on 1–100 µS
devices (10 kΩ–1 MΩ), ideal otherwise, with ``--segment`` Ω per wire segment on rows and columns and
``--driver``/``--sense`` Ω at the line ends. Errors are relative L2 and the largest |difference| as a
fraction of the ideal output's range (peak-to-peak); times are wall seconds of one call (theory: sparse
LU of both arrays; ngspice: ``.op`` of the whole MVM circuit with its TIAs, through the runner, which
selects KLU where ngspice has it).

Run: ``nice -n 5 python bench/crossbar_irdrop.py [--sizes 32 64 128 256] [--segment 2] [--driver 0]
[--sense 0] [--spice-max-n 64]``.
"""

from __future__ import annotations

import argparse
import time

from analogopt.blocks.crossbar import DeviceModel, map_matrix
from analogopt.circuits.crossbar import mvm_circuit, predict_mvm_outputs
from analogopt.experiments.crossbar import ir_drop_error, make_problem
from analogopt.spice import NgspiceRunner


def bench_one(n: int, device: DeviceModel, spice: bool, runner: NgspiceRunner) -> dict:
    problem = make_problem("mvm", n, n, 1.0, 0)
    mapping = map_matrix(problem["A"], device)
    ideal = mapping.effective_matrix @ problem["x"]
    t0 = time.perf_counter()
    theory = predict_mvm_outputs(mapping, problem["x"])
    row = {"n": n, "theory_s": time.perf_counter() - t0, "theory": ir_drop_error(theory, ideal)}
    if spice:
        circuit = mvm_circuit(mapping, problem["x"])
        t0 = time.perf_counter()
        waves = runner.run(circuit.deck).analysis("op")
        row |= {"spice_s": time.perf_counter() - t0, "elements": circuit.element_count,
                "spice": ir_drop_error(circuit.values(waves), ideal),
                "spice_vs_theory": ir_drop_error(circuit.values(waves), theory)["rel_l2"]}
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    p.add_argument("--segment", type=float, default=2.0, help="Ω per wire segment (rows and columns)")
    p.add_argument("--driver", type=float, default=0.0, help="Ω driver output resistance")
    p.add_argument("--sense", type=float, default=0.0, help="Ω between each sense line and its virtual ground")
    p.add_argument("--spice-max-n", type=int, default=64, help="largest N run in ngspice")
    args = p.parse_args()
    device = DeviceModel(r_row_ohm=args.segment, r_col_ohm=args.segment, r_driver_ohm=args.driver,
                         r_sense_ohm=args.sense)
    runner = NgspiceRunner(timeout_s=3600)
    print(f"{args.segment:g} Ω segments, {args.driver:g} Ω drivers, {args.sense:g} Ω sense, devices 1–100 µS; "
          f"simulator: {runner.describe()}")
    print("| N | theory: rel. L2 | theory: max, % of range | theory (s) | elements | ngspice: rel. L2 | "
          "ngspice: max, % of range | ngspice vs theory (rel.) | ngspice (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in args.sizes:
        r = bench_one(n, device, n <= args.spice_max_n, runner)
        t = r["theory"]
        cells = [f"{n}", f"{100 * t['rel_l2']:.3g} %", f"{100 * t['max_fraction_of_range']:.3g} %", f"{r['theory_s']:.2f}"]
        if "spice" in r:
            s = r["spice"]
            cells += [f"{r['elements']}", f"{100 * s['rel_l2']:.3g} %", f"{100 * s['max_fraction_of_range']:.3g} %",
                      f"{r['spice_vs_theory']:.1e}", f"{r['spice_s']:.2f}"]
        else:
            cells += ["–"] * 5
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
