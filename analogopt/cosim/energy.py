"""Energy from a transient by integrating power over ngspice's own time points (the trapezoidal rule, the
rule ngspice's ``.meas … INTEG`` applies): what a supply delivered, what an element dissipated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def energy_j(time_s: np.ndarray, v_v: np.ndarray, i_a: np.ndarray) -> float:
    """∫ v·i dt (J). For a supply: its voltage and the current out of its positive terminal into the
    circuit (ngspice reports a source's current *into* its positive terminal: pass its negative). For an
    element: the voltage across it and the current through it in the same direction."""
    t = np.real(np.asarray(time_s, dtype=float))
    p = np.real(np.asarray(v_v)) * np.real(np.asarray(i_a))
    return float(np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(t)))


#: Energy of one 32-bit floating-point multiply plus one add (J): 3.7 pJ + 0.9 pJ in 45 nm CMOS
#: (M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, Fig. 1.1.9).
#: Arithmetic only: a CPU's memory traffic and overheads cost one to two orders of magnitude more, so
#: this is a lower bound for the digital side.
DIGITAL_J_PER_FLOP_PAIR = 4.6e-12


def solve_flops(n: int) -> float:
    """Floating-point operations of a dense ``n×n`` solve by LU: ``2n³/3`` for the factorization plus
    ``2n²`` for the two triangular solves."""
    return 2.0 * n**3 / 3.0 + 2.0 * n**2


@dataclass(frozen=True)
class DigitalBaseline:
    """The same problem on this CPU: FLOP count, median time of ``numpy.linalg.solve`` (s), and the
    arithmetic energy at :data:`DIGITAL_J_PER_FLOP_PAIR` per multiply-add (J)."""

    flops: float
    time_s: float
    energy_j: float
    source: str = "Horowitz ISSCC 2014, 45 nm: 3.7 pJ FP32 multiply + 0.9 pJ FP32 add"


def digital_solve_baseline(a: np.ndarray, b: np.ndarray, repeats: int = 50) -> DigitalBaseline:
    """Time ``numpy.linalg.solve(a, b)`` (median of ``repeats``) and count its arithmetic."""
    import time

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.linalg.solve(a, b)
        times.append(time.perf_counter() - t0)
    flops = solve_flops(a.shape[0])
    return DigitalBaseline(flops=flops, time_s=float(np.median(times)), energy_j=flops / 2 * DIGITAL_J_PER_FLOP_PAIR)


def training_flops(iterations: int, samples: int, weights: int) -> float:
    """Floating-point operations of ``iterations`` full-batch steps of one layer on ``samples`` samples:
    the pre-activations ``X·w`` (``2·m·n``), the error's back-projection ``Xᵀ·e`` (``2·m·n``) and the
    update (``2·n``); the activation and its slope are left out (a few per sample)."""
    return float(iterations) * (4.0 * samples * weights + 2.0 * weights)


def supply_energy(waves, supplies: dict[str, float]) -> tuple[float, float, np.ndarray]:
    """(energy in J over the whole transient, power in W at its first point, the power against time) of
    the supplies ``supplies`` (current vector → its source's voltage in V) in a transient's waveforms."""
    t = np.real(np.asarray(waves.axis))
    power = sum(v * -np.real(np.asarray(waves[vec])) for vec, v in supplies.items())
    return energy_j(t, np.ones_like(t), power), float(power[0]), power
