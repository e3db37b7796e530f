"""Four-quadrant multipliers: the product of two signals, as a term of a small behavioral source.

Where one factor of a product is fixed (data at the input of a batch circuit, a feedback matrix), a
conductance does the multiplication (:mod:`analogopt.blocks.vccs_array`); a product of two signals (a
weight times an activation, an error times an activation, a weight times an error) needs a multiplier.

``ideal``: the exact product ``a·b``. With a finite linear range ``V_L`` (V) the multiplier is a Gilbert
cell's characteristic, ``V_L²·tanh(a/V_L)·tanh(b/V_L)``: exact for small signals, compressing by
``1 − (a² + b²)/(3 V_L²)`` to second order. Input offsets (V) add to either input before the product.

A term reads node voltages by name (``v(w1_0_3)``); one behavioral source sums a few terms, so each
source stays small (ngspice evaluates every term's derivatives at every Newton iteration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..spice.netlist import format_floats


@dataclass(frozen=True)
class Multiplier:
    """``linear_range_v``: None for the ideal product, else the Gilbert cell's linear range ``V_L`` (V)."""

    linear_range_v: float | None = None

    def __post_init__(self) -> None:
        if self.linear_range_v is not None and not (np.isfinite(self.linear_range_v) and self.linear_range_v > 0):
            raise ConfigError(f"multiplier linear range must be > 0 V, got {self.linear_range_v}")

    @property
    def level(self) -> str:
        return "ideal" if self.linear_range_v is None else f"Gilbert cell, linear range {self.linear_range_v:g} V"

    def terms(self, a: Sequence[str], b: Sequence[str], offsets_a: np.ndarray | None = None,
              offsets_b: np.ndarray | None = None) -> list[str]:
        """One product term per pair ``(a[i], b[i])`` of node names, each input shifted by its offset (V)."""
        va = [f"v({n})" for n in a]
        vb = [f"v({n})" for n in b]
        if offsets_a is not None:
            va = [f"({x}+{o})" for x, o in zip(va, format_floats(offsets_a))]
        if offsets_b is not None:
            vb = [f"({x}+{o})" for x, o in zip(vb, format_floats(offsets_b))]
        if self.linear_range_v is None:
            return [f"{x}*{y}" for x, y in zip(va, vb)]
        r = repr(float(self.linear_range_v))
        scale = repr(float(self.linear_range_v) ** 2)
        return [f"{scale}*tanh({x}/{r})*tanh({y}/{r})" for x, y in zip(va, vb)]

    def product(self, a: np.ndarray, b: np.ndarray, offsets_a: np.ndarray | float = 0.0,
                offsets_b: np.ndarray | float = 0.0) -> np.ndarray:
        """The same characteristic in numpy (what a term evaluates to)."""
        a, b = np.asarray(a, float) + offsets_a, np.asarray(b, float) + offsets_b
        if self.linear_range_v is None:
            return a * b
        r = float(self.linear_range_v)
        return r * r * np.tanh(a / r) * np.tanh(b / r)
