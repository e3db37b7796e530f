"""Energy from a transient by integrating power over ngspice's own time points (the trapezoidal rule, the
rule ngspice's ``.meas … INTEG`` applies): what a supply delivered, what an element dissipated."""

from __future__ import annotations

import numpy as np


def energy_j(time_s: np.ndarray, v_v: np.ndarray, i_a: np.ndarray) -> float:
    """∫ v·i dt (J). For a supply: its voltage and the current out of its positive terminal into the
    circuit (ngspice reports a source's current *into* its positive terminal: pass its negative). For an
    element: the voltage across it and the current through it in the same direction."""
    t = np.real(np.asarray(time_s, dtype=float))
    p = np.real(np.asarray(v_v)) * np.real(np.asarray(i_a))
    return float(np.sum(0.5 * (p[1:] + p[:-1]) * np.diff(t)))
