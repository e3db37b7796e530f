"""A non-negative clamp on a weight capacitor: what keeps a mono-net's weights ≥ 0 (004 Def. 1) in a circuit.

A designer builds it as a precision ("super") diode from a reference to the weight node: an amplifier that
turns a diode on as soon as the node goes below the reference, with no diode drop. Modelled as a one-sided
conductance ``g_on·max(0, v_ref − v)`` (``uramp`` in ngspice), off above ``v_ref``, so the weight's
integrator is untouched while the weight is above it. A drive current ``I`` that pushes the node down is
held at ``v_ref − I/g_on``: :meth:`floor_v` is that bound, reported beside the waveforms' minimum. The
reference sits a little above ground (100 µV) so that the held weight stays ≥ 0 V, as 004 Def. 1 asks,
for drives up to ``g_on·v_ref`` (10 mA at 100 S).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError


@dataclass(frozen=True)
class NonNegativeClamp:
    """``g_on_s``: the conductance (S) of the clamp once it conducts."""

    g_on_s: float = 100.0
    v_ref: float = 1e-4

    def __post_init__(self) -> None:
        if not self.g_on_s > 0:
            raise ConfigError(f"clamp conductance must be > 0 S, got {self.g_on_s}")
        if not 0 <= self.v_ref < 0.1:
            raise ConfigError(f"clamp reference must be in [0, 0.1) V, got {self.v_ref}")

    def lines(self, prefix: str, nodes: Sequence[str]) -> list[str]:
        """One element per node: current ``g_on·max(0, v_ref − v(node))`` from ground into the node."""
        g, ref = repr(float(self.g_on_s)), repr(float(self.v_ref))
        return [f"B{prefix}_{k} 0 {n} i={g}*uramp({ref}-v({n}))" for k, n in enumerate(nodes)]

    def floor_v(self, max_drive_a: float) -> float:
        """The lowest voltage a drive of ``max_drive_a`` (A) can hold a clamped node at (V)."""
        return self.v_ref - abs(max_drive_a) / self.g_on_s
