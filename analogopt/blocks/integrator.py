"""Weight integrators: the low-pass filters that give a feedback loop its learning rate (000 Eq. 10).

An integrator block takes the forward block's output node ``w'`` and produces the weight node ``w``.
Interface shared by every integrator type: ``add(circuit, name, inp, out, initial_v)`` adds the elements
and returns the extra internal node names; ``add_driven(circuit, name, out, initial_v)`` adds the same
integrator without its input transconductance and returns ``(node, siemens)``: the node into which a
drive current enters and the transconductance (S) that one volt of ``w'`` corresponds to. A loop
generator uses the latter to merge the forward stage into a crossbar of transconductances (an OTA-C
integrator), which keeps the circuit matrix sparse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import validate_name


@dataclass(frozen=True)
class RCLowPass:
    """First-order RC low-pass ``w/w' = γ/(sτ + 1)``, ``τ = R·C`` (000 Eq. 10).

    Built in Norton form: a VCCS of ``γ/R`` siemens from ``w'`` into the weight node, ``R`` (Ω) and ``C``
    (F) from the weight node to ground, so ``τ dw/dt = −w + γ·w'``. With ``leak=False`` the resistor is
    left out and the block is a pure integrator ``τ dw/dt = γ·w'`` (no weight decay). The capacitor's
    initial condition is the initial weight (V).
    """

    tau_s: float
    gamma: float = 1.0
    leak: bool = True
    c_farad: float = 1e-9

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tau_s) and self.tau_s > 0):
            raise ConfigError(f"integrator tau must be > 0 s, got {self.tau_s}")
        if not (np.isfinite(self.c_farad) and self.c_farad > 0):
            raise ConfigError(f"integrator capacitance must be > 0 F, got {self.c_farad}")
        if not (np.isfinite(self.gamma) and self.gamma != 0):
            raise ConfigError(f"integrator gamma must be finite and non-zero, got {self.gamma}")

    @property
    def r_ohm(self) -> float:
        return self.tau_s / self.c_farad

    def add(self, circuit: Circuit, name: str, inp: str, out: str, initial_v: float) -> list[str]:
        validate_name(name, "integrator name")
        circuit.VCCS(f"{name}_drive", circuit.gnd, out, inp, circuit.gnd, self.gamma / self.r_ohm)
        self.add_driven(circuit, name, out, initial_v)
        return []

    def add_driven(self, circuit: Circuit, name: str, out: str, initial_v: float) -> tuple[str, float]:
        """R (with leak) and C on ``out``; a current ``(γ/R)·w'`` into ``out`` completes Eq. 10."""
        validate_name(name, "integrator name")
        if self.leak:
            circuit.R(f"{name}_leak", out, circuit.gnd, self.r_ohm)
        circuit.C(f"{name}_hold", out, circuit.gnd, self.c_farad, initial_condition=float(initial_v))
        return out, self.gamma / self.r_ohm

    @property
    def element_count(self) -> int:
        """Elements added by :meth:`add` (:meth:`add_driven` leaves out one: the input VCCS)."""
        return 2 + int(self.leak)
