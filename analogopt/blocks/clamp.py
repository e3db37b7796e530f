"""A non-negative clamp on a weight capacitor: what keeps a mono-net's weights ≥ 0 (004 Def. 1) in a circuit.

A designer builds it as a precision ("super") diode from ground to the weight node: an amplifier that
turns a diode on as soon as the node goes below 0 V, with no diode drop. Modelled as a one-sided
conductance ``g_on·max(0, −v)`` (``uramp`` in ngspice), off above 0 V, so the weight's integrator is
untouched while the weight is positive. A drive current ``I`` that pushes the node down is held at
``−I/g_on``: :meth:`residual_v` is that bound, reported beside the waveforms' minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError


@dataclass(frozen=True)
class NonNegativeClamp:
    """``g_on_s``: the conductance (S) of the clamp once it conducts."""

    g_on_s: float = 100.0

    def __post_init__(self) -> None:
        if not self.g_on_s > 0:
            raise ConfigError(f"clamp conductance must be > 0 S, got {self.g_on_s}")

    def lines(self, prefix: str, nodes: Sequence[str]) -> list[str]:
        """One element per node: current ``g_on·max(0, −v(node))`` from ground into the node."""
        g = repr(float(self.g_on_s))
        return [f"B{prefix}_{k} 0 {n} i={g}*uramp(-v({n}))" for k, n in enumerate(nodes)]

    def residual_v(self, max_drive_a: float) -> float:
        """How far below 0 V a drive of ``max_drive_a`` (A) can hold a clamped node (V, ≤ 0)."""
        return -abs(max_drive_a) / self.g_on_s
