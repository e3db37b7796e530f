"""Higher-order weight integrators: the RC cascade (momentum) and the FAL arrangement (000 §6.1, Fig. 6a).

Same interface as :class:`analogopt.blocks.integrator.RCLowPass` so that a loop generator can select the
integrator type: a frozen, validated parameter dataclass whose ``add(circuit, name, inp, out,
initial_v)`` adds the elements between the forward block's output node ``inp`` (``w'``, V) and the
weight node ``out`` (``w``, V) and returns the names of the internal nodes it created.

Every stage is a first-order RC in Norton form, as in ``RCLowPass``: a transconductance ``γ/R`` from the
stage input into the stage node, ``R`` and ``C`` from that node to ground, so ``τ dy/dt = −y + γ·x``
with ``τ = R·C`` (000 Eq. 10). All nodes are voltages in volts.

:class:`RCCascade` (linear elements only)::

    w' ─▶ [τ_m, gain 1] ─▶ m ─▶ [τ, γ] ─▶ w           000 Eq. (22), Fig. 6a dark lines

:class:`FALIntegrator` (three **behavioral** sources, marked ``behavioral`` in element names)::

    w' ─▶ [τ_m, gain 1] ────────────▶ m ─┐
    w' ─▶ (·)² behavioral ─▶ [τ_v, 1] ─▶ v ─┤─▶ s = √(max(v − m², 0) + s_floor²)  behavioral √
                                          └─▶ drive (γ/R)·s_ref·m/s into w   behavioral ×/÷
                                              R (leak) and C on w as in RCLowPass

The behavioral squarer, square root and divider stand for a four-quadrant multiplier, a
square-root (or log/antilog) stage and a translinear divider (or a transconductance tuned by ``s``);
they are ideal here. ``s_floor`` keeps the divider finite when ``w'`` does not vary (hardware has an
offset there too); ``s_ref`` is the spread (V) at which the second stage has its nominal ``τ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import format_value, validate_name
from .integrator import RCLowPass

__all__ = ["RCCascade", "FALIntegrator", "INTEGRATOR_TYPES"]


def _check_positive(owner: str, name: str, value: float, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{owner}: {name} must be a finite number > 0 {unit}, got {value!r}")


def _check_gamma(owner: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value != 0):
        raise ConfigError(f"{owner}: gamma must be finite and non-zero, got {value!r}")


def _add_rc_stage(
    circuit: Circuit, name: str, inp: str, out: str, *, tau_s: float, gamma: float, leak: bool, c_farad: float,
    initial_v: float,
) -> None:
    """One Norton-form RC stage ``τ dy/dt = −y + γ·x``: the first-order block of ``blocks.integrator``."""
    RCLowPass(tau_s=tau_s, gamma=gamma, leak=leak, c_farad=c_farad).add(circuit, name, inp, out, initial_v)


@dataclass(frozen=True)
class RCCascade:
    """Two first-order low-pass filters in cascade: momentum (000 Eq. 22, Fig. 6a dark lines).

    ``τ_m dm/dt = −m + w'`` then ``τ dw/dt = −w + γ·m`` (without ``leak`` the second stage is the pure
    integrator ``τ dw/dt = γ·m``). Sampled every Δt with the input held, the first stage is Eq. (22)
    with ``β_m = exp(−Δt/τ_m)`` (≈ ``1 − Δt/τ_m``); see :mod:`analogopt.reference.filters`.
    ``initial_m_v`` is the first filter's starting voltage (0 V: the momentum starts empty).
    """

    tau_m_s: float
    tau_s: float
    gamma: float = 1.0
    leak: bool = True
    c_farad: float = 1e-9
    initial_m_v: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("cascade integrator", "tau_m_s", self.tau_m_s, "s")
        _check_positive("cascade integrator", "tau_s", self.tau_s, "s")
        _check_positive("cascade integrator", "c_farad", self.c_farad, "F")
        _check_gamma("cascade integrator", self.gamma)
        if not np.isfinite(self.initial_m_v):
            raise ConfigError(f"cascade integrator: initial_m_v must be finite, got {self.initial_m_v!r}")

    def add(self, circuit: Circuit, name: str, inp: str, out: str, initial_v: float) -> list[str]:
        validate_name(name, "integrator name")
        m = validate_name(f"{name}_m", "integrator node")
        _add_rc_stage(circuit, f"{name}_s1", inp, m, tau_s=self.tau_m_s, gamma=1.0, leak=True,
                      c_farad=self.c_farad, initial_v=self.initial_m_v)
        _add_rc_stage(circuit, f"{name}_s2", m, out, tau_s=self.tau_s, gamma=self.gamma, leak=self.leak,
                      c_farad=self.c_farad, initial_v=initial_v)
        return [m]

    def add_driven(self, circuit: Circuit, name: str, out: str, initial_v: float) -> tuple[str, float]:
        """The cascade without its input transconductance: a current ``w'/R_m`` into the returned
        momentum node ``<name>_m`` drives the first stage."""
        m = validate_name(f"{name}_m", "integrator node")
        first, siemens = RCLowPass(tau_s=self.tau_m_s, gamma=1.0, leak=True, c_farad=self.c_farad).add_driven(
            circuit, f"{name}_s1", m, self.initial_m_v)
        _add_rc_stage(circuit, f"{name}_s2", m, out, tau_s=self.tau_s, gamma=self.gamma, leak=self.leak,
                      c_farad=self.c_farad, initial_v=initial_v)
        return first, siemens

    @property
    def r_ohm(self) -> float:
        """Resistance of the weight stage (Ω), ``τ/C``; the momentum stage's is ``τ_m/C``."""
        return self.tau_s / self.c_farad

    @property
    def element_count(self) -> int:
        return 5 + int(self.leak)


@dataclass(frozen=True)
class FALIntegrator:
    """Filter-Assisted Learning rate (000 §6.1, Fig. 6a gray lines) as a circuit.

    ``τ_m dm/dt = −m + w'``, ``τ_v dv/dt = −v + w'²`` (behavioral squarer),
    ``s = √(max(v − m², 0) + s_floor²)`` (behavioral square root), and the weight stage
    ``τ dw/dt = −w + γ·s_ref·m/s`` (behavioral divider; without ``leak``: ``τ dw/dt = γ·s_ref·m/s``).
    The spread only scales the drive, not the leak resistor, as in :func:`analogopt.reference.optim.fal_update`.
    Voltages squared are read in V (the squarer's scale factor is 1/V).
    """

    tau_m_s: float
    tau_v_s: float
    tau_s: float
    gamma: float = 1.0
    leak: bool = True
    c_farad: float = 1e-9
    s_floor_v: float = 1e-3
    s_ref_v: float = 1.0

    def __post_init__(self) -> None:
        for field_name, unit in (("tau_m_s", "s"), ("tau_v_s", "s"), ("tau_s", "s"), ("c_farad", "F"),
                                 ("s_floor_v", "V"), ("s_ref_v", "V")):
            _check_positive("FAL integrator", field_name, getattr(self, field_name), unit)
        _check_gamma("FAL integrator", self.gamma)

    def add(self, circuit: Circuit, name: str, inp: str, out: str, initial_v: float) -> list[str]:
        validate_name(name, "integrator name")
        m, sq, v, s = (validate_name(f"{name}_{suffix}", "integrator node") for suffix in ("m", "sq", "v", "s"))
        _add_rc_stage(circuit, f"{name}_s1", inp, m, tau_s=self.tau_m_s, gamma=1.0, leak=True,
                      c_farad=self.c_farad, initial_v=0.0)
        # behavioral: ideal four-quadrant multiplier squaring w'
        circuit.BehavioralSource(f"{name}_behavioral_sq", sq, circuit.gnd, voltage_expression=f"v({inp})*v({inp})")
        _add_rc_stage(circuit, f"{name}_sv", sq, v, tau_s=self.tau_v_s, gamma=1.0, leak=True,
                      c_farad=self.c_farad, initial_v=0.0)
        floor2 = format_value(self.s_floor_v**2)
        # behavioral: ideal square-root stage; max() keeps a rounding-negative variance out of the root
        circuit.BehavioralSource(
            f"{name}_behavioral_sqrt", s, circuit.gnd,
            voltage_expression=f"sqrt(max(v({v})-v({m})*v({m}),0)+{floor2})",
        )
        r_ohm = self.tau_s / self.c_farad
        g = format_value(self.gamma * self.s_ref_v / r_ohm)
        # behavioral: ideal divider (a transconductance tuned by s); current into the weight node
        circuit.BehavioralSource(
            f"{name}_behavioral_div", circuit.gnd, out, current_expression=f"{g}*v({m})/v({s})"
        )
        if self.leak:
            circuit.R(f"{name}_s2_leak", out, circuit.gnd, r_ohm)
        circuit.C(f"{name}_s2_hold", out, circuit.gnd, self.c_farad, initial_condition=float(initial_v))
        return [m, sq, v, s]

    @property
    def r_ohm(self) -> float:
        """Resistance of the weight stage (Ω), ``τ/C`` (the nominal rate, at spread ``s_ref``)."""
        return self.tau_s / self.c_farad

    @property
    def element_count(self) -> int:
        return 10 + int(self.leak)


#: Integrator types by the name a scenario or loop generator uses (the first-order ``"rc"`` type is
#: :class:`analogopt.blocks.integrator.RCLowPass`).
INTEGRATOR_TYPES: dict[str, type] = {"cascade": RCCascade, "fal": FALIntegrator}
