"""Generator: the single-layer negative-feedback loop of 000 Fig. 2 at the ``macro`` level, out of blocks a
designer could build, with physical element values and explicit scale factors.

The ``ideal`` level (:mod:`analogopt.circuits.nf_single`) draws the mathematics as a netlist (siemens-scale
VCCS into 1 Ω). This level builds the same signal flow (000 Eq. 10–12) from:

- a **supply** ``0 … supply_v`` with a mid-rail reference ``ref = supply_v/2``; every signal is a voltage
  about ``ref``, scaled: weight ``V_w = ref + s_w·w``, pre-activation ``V_z = ref + s_z·z``, error cell
  ``V_q = ref + s_q·q``, integrator input ``ΔV_e = s_e·e`` (V per unit, in :class:`ScaleFactors`);
- the **data crossbar** as conductance pairs ``G⁺ − G⁻`` (``g_min_s`` common to both, so it cancels)
  from each weight and its inverted copy (one inverting op-amp per weight) into one virtual-ground
  summing amplifier per sample (op-amp macromodel, feedback resistor ``R_z``): ``V_z − ref = R_z·g_x·s_w·z``;
- one **activation/error cell** per sample, ``q = (y − σ(z))·σ'(z)^p`` as a behavioral source whose
  output clips smoothly at the rails and passes a bandwidth pole (``comparator_bw_hz``);
- the **error crossbar** U of Eq. 12 as conductance pairs into two virtual-ground lines per weight
  (positive and negative entries), read by summing amplifiers ``R_e``: ``ΔV_e = V⁻ − V⁺ = R_e·g_u·s_q·e``;
- one **OTA-C integrator** per weight (Eq. 10): a transconductor ``gm`` with input offset, a bandwidth
  pole and output swing limits at the rails, into ``C_w`` with a leak resistor ``R_leak`` (τ = R‖r_o·C,
  ``r_o`` the OTA's output resistance: finite DC gain is a leak), or two in cascade (Eq. 22).

Every value is derived from the problem and :class:`MacroParts` and reported (:meth:`MacroCircuit.values`),
so a designer sees the pF, µS, kΩ and µA the math became.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..blocks.activation import sigma_expr, slope_expr
from ..blocks.opamp import OpAmpModel, opamp_lines
from ..errors import ConfigError
from ..problems import NFSingleLayerProblem
from ..spice.netlist import NetlistDeck, Transient, format_value, save_voltages
from .base import AnalogCircuit

#: Simulator accuracy of the macro loop: node voltages of ~1 V resolved to 1e-7 V.
MACRO_OPTIONS = {"reltol": 1e-5, "abstol": 1e-12, "vntol": 1e-7, "method": "gear"}


@dataclass(frozen=True)
class MacroParts:
    """The macro level's blocks and budgets (SI units). Defaults are those of a plain 3.3 V CMOS design.

    ``supply_v``: the supply (reference at half of it). ``v_per_weight`` (s_w) and ``v_per_error_cell``
    (s_q): V per unit of weight and of the error cell's output; ``z_swing_v``/``e_swing_v``: the swing
    (V about ref) that the largest expected pre-activation / integrator input is mapped to, which sets
    s_z and s_e. ``g_max_s``/``g_min_s``: crossbar conductance range (S); ``levels``: conductance levels
    (None: continuous). ``line_current_a``: the largest current one summing line may carry. ``opamp``:
    the summing amplifiers' and inverters' macromodel. OTA: ``ota_r_out_ohm`` (finite DC gain, a leak),
    ``ota_offset_v``, ``ota_bw_hz``. Integrator: ``c_w_f`` (F). Activation cell: ``comparator_bw_hz``.
    ``r_gain_ohm``: the inverters' resistors.
    """

    supply_v: float = 3.3
    v_per_weight: float = 0.25
    v_per_error_cell: float = 0.5
    z_swing_v: float = 1.0
    e_swing_v: float = 1.0
    g_max_s: float = 100e-6
    g_min_s: float = 1e-6
    levels: int | None = None
    line_current_a: float = 200e-6
    opamp: OpAmpModel = field(default_factory=lambda: OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=10e6,
                                                                 v_low=0.0, v_high=3.3))
    ota_r_out_ohm: float = 1e12
    ota_offset_v: float = 0.0
    ota_bw_hz: float = 1e6
    c_w_f: float = 1e-9
    comparator_bw_hz: float = 1e6
    r_gain_ohm: float = 100e3

    def __post_init__(self) -> None:
        positive = ("supply_v", "v_per_weight", "v_per_error_cell", "z_swing_v", "e_swing_v", "g_max_s",
                    "line_current_a", "ota_r_out_ohm", "ota_bw_hz", "c_w_f", "comparator_bw_hz", "r_gain_ohm")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"circuit.{name} must be a finite number > 0, got {value!r}")
        if not (0 <= self.g_min_s < self.g_max_s):
            raise ConfigError(f"circuit.g_min_s must lie in [0, g_max_s = {self.g_max_s:g}) S, got {self.g_min_s:g}")
        if self.levels is not None and self.levels < 2:
            raise ConfigError(f"circuit.levels must be ≥ 2 (or absent), got {self.levels}")
        half = self.supply_v / 2
        for name in ("z_swing_v", "e_swing_v"):
            if getattr(self, name) >= half:
                raise ConfigError(f"circuit.{name} = {getattr(self, name):g} V must stay inside the rails (< {half:g} V)")
        if not math.isfinite(self.ota_offset_v):
            raise ConfigError(f"circuit.ota_offset_v must be finite, got {self.ota_offset_v}")

    @property
    def ref_v(self) -> float:
        return self.supply_v / 2


@dataclass(frozen=True)
class ScaleFactors:
    """Math → circuit (V per unit, S per unit of data, Ω): what the report prints beside the netlist."""

    v_per_weight: float
    v_per_z: float
    v_per_error_cell: float
    v_per_error: float
    s_per_data: float
    s_per_error_gain: float
    r_z_ohm: float
    r_e_ohm: float
    gm_s: float
    r_leak_ohm: float | None
    c_w_f: float
    tau_s: float


@dataclass
class MacroCircuit(AnalogCircuit):
    """An :class:`AnalogCircuit` whose weights are ``ref + s_w·w``: :meth:`weights` undoes the scaling."""

    scales: ScaleFactors | None = None
    ref_v: float = 0.0
    conductances_s: np.ndarray | None = None

    def weights(self, volts: np.ndarray) -> np.ndarray:
        """Weight node voltages (V) → weights (math units)."""
        return (np.asarray(volts) - self.ref_v) / self.scales.v_per_weight

    def values(self) -> dict[str, Any]:
        """Scale factors and the element value ranges a designer checks."""
        g = self.conductances_s
        return {"scale_factors": asdict(self.scales), "ref_v": self.ref_v,
                "conductance_range_s": [float(g.min()), float(g.max())] if g is not None and g.size else None}


def _quantize(g: np.ndarray, parts: MacroParts) -> np.ndarray:
    """Conductances snapped to ``levels`` evenly spaced values in [g_min, g_max] (no-op without levels)."""
    if parts.levels is None:
        return g
    step = (parts.g_max_s - parts.g_min_s) / (parts.levels - 1)
    return parts.g_min_s + np.round((g - parts.g_min_s) / step) * step


def _pairs(matrix: np.ndarray, g_unit: float, parts: MacroParts) -> tuple[np.ndarray, np.ndarray]:
    """(G⁺, G⁻) of a signed matrix: ``g_min + g_unit·max(±a, 0)``, quantized."""
    pos = parts.g_min_s + g_unit * np.maximum(matrix, 0.0)
    neg = parts.g_min_s + g_unit * np.maximum(-matrix, 0.0)
    return _quantize(pos, parts), _quantize(neg, parts)


def _resistors(prefix: str, a: list[str], b: list[str], g: np.ndarray) -> list[str]:
    """One resistor per non-zero conductance between node ``a[r]`` and ``b[c]`` (text: fast at size)."""
    rows, cols = np.nonzero(g > 0)
    return [f"R{prefix}_{r}_{c} {a[r]} {b[c]} {format_value(1.0 / g[r, c])}" for r, c in zip(rows, cols)]


def design_scales(problem: NFSingleLayerProblem, parts: MacroParts, e_max: float) -> ScaleFactors:
    """Scale factors and derived element values of ``problem`` at ``parts``' budgets.

    s_z maps the largest pre-activation the data allow at weights of the initial size (at least 1) to
    ``z_swing_v``; s_e maps ``e_max``, the largest error |e_i| of Eq. 12 expected (the caller takes it
    at ``w0`` from the twin), to ``e_swing_v``. Conductance per
    unit is the largest that keeps every entry ≤ g_max and every summing line's current ≤
    ``line_current_a``; the summing resistors then follow. The OTA's gm and the leak set τ and γ·A.
    """
    x, u = problem.data_matrix, problem.error_matrix
    s_w, s_q = parts.v_per_weight, parts.v_per_error_cell
    w_scale = max(float(np.max(np.abs(problem.w0))), 1.0)
    z_max = float(np.max(np.abs(x).sum(axis=1))) * w_scale
    s_z = parts.z_swing_v / z_max
    # data crossbar: line k carries Σ_i G_ki·|V_w − ref| ≤ g_unit·s_w·w_scale·Σ_i |x_ki| (g_min parts cancel in pairs,
    # but each still draws current: add them to the budget)
    g_x = min(parts.g_max_s / float(np.max(np.abs(x))),
              max(parts.line_current_a / (s_w * w_scale) - 2 * parts.g_min_s * x.shape[1], 0.0) / float(np.max(np.abs(x).sum(axis=1))))
    # error crossbar: |q| ≤ 2 for ±1 targets
    q_max = 2.0
    g_u = min(parts.g_max_s / float(np.max(np.abs(u))),
              max(parts.line_current_a / (s_q * q_max) - parts.g_min_s * u.shape[1], 0.0) / float(np.max(np.abs(u).sum(axis=1))))
    if g_x <= 0 or g_u <= 0:
        raise ConfigError("circuit.line_current_a is too small for g_min_s on every crosspoint; raise it or lower g_min_s")
    r_z = s_z / (g_x * s_w)
    s_e = parts.e_swing_v / max(e_max, 1e-9)
    r_e = s_e / (g_u * s_q)
    c = parts.c_w_f
    tau = problem.tau_s
    r_par = tau / c
    if problem.leak:
        if parts.ota_r_out_ohm <= r_par:
            raise ConfigError(f"the OTA's output resistance {parts.ota_r_out_ohm:g} Ω is below the leak τ/C = {r_par:g} Ω "
                              "the loop needs; raise circuit.ota_r_out_ohm or circuit.c_w_f")
        r_leak = 1.0 / (1.0 / r_par - 1.0 / parts.ota_r_out_ohm)
        gm = problem.gamma * problem.forward_gain * s_w / (s_e * r_par)
    else:
        # a pure integrator: τ·dw/dt = γ·A·e → C·s_w·dw/dt = gm·s_e·e
        r_leak = None
        gm = problem.gamma * problem.forward_gain * s_w * c / (s_e * tau)
    return ScaleFactors(v_per_weight=s_w, v_per_z=s_z, v_per_error_cell=s_q, v_per_error=s_e, s_per_data=g_x,
                        s_per_error_gain=g_u, r_z_ohm=r_z, r_e_ohm=r_e, gm_s=gm, r_leak_ohm=r_leak, c_w_f=c,
                        tau_s=tau)
