"""Generator: the single-layer negative-feedback loop of 000 Fig. 2 at the ``macro`` level, out of blocks a
designer could build, with physical element values and explicit scale factors.

The ``ideal`` level (:mod:`analogopt.circuits.nf_single`) draws the mathematics as a netlist (siemens-scale
VCCS into 1 Ω). This level builds the same signal flow (000 Eq. 10–12) from:

- a **supply** ``0 … supply_v`` with a mid-rail reference ``ref = supply_v/2``; every signal is a voltage
  about ``ref``, scaled: weight ``V_w = ref + s_w·w``, pre-activation ``V_z = ref + s_z·z``, error cell
  ``V_q = ref + s_q·q``, integrator input ``ΔV_e = s_e·e`` (V per unit, in :class:`ScaleFactors`);
- the **data crossbar** as conductance pairs ``G⁺ − G⁻`` (``g_min_s`` common to both, so it cancels)
  from each buffered weight and its inverted copy (a follower and an inverting op-amp per weight: the
  weight capacitor drives nothing but high-impedance inputs) into one virtual-ground
  summing amplifier per sample (op-amp macromodel, feedback resistor ``R_z``): ``V_z − ref = R_z·g_x·s_w·z``;
- one **activation/error cell** per sample, ``q = (y − σ(z))·σ'(z)^p`` as a behavioral source behind a
  bandwidth pole (``comparator_bw_hz``) on its input, scaled so that its output stays inside the rails;
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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..blocks.activation import sigma_expr, slope_expr
from ..blocks.opamp import OpAmpModel, opamp_lines
from ..blocks.user_block import UserOpAmp
from ..blocks.noise import TransientNoise
from ..blocks.ota import OTAModel
from ..errors import ConfigError
from ..problems import NFSingleLayerProblem
from ..spice.netlist import NetlistDeck, Transient, format_value, save_voltages
from .base import AnalogCircuit

#: Simulator accuracy of the macro loop: node voltages of ~1 V resolved to 1e-7 V.
MACRO_OPTIONS = {"reltol": 1e-5, "abstol": 1e-12, "vntol": 1e-7, "method": "gear"}
#: The temperature the design's element values hold at (°C; ngspice's default TNOM as well).
NOMINAL_TEMPERATURE_C = 27.0


#: The loop's blocks whose level a scenario can set apart from the loop's (``[circuit.blocks]``): at the ideal
#: level, ``opamps`` are VCVS of gain :data:`IDEAL_OPAMP_GAIN`; ``integrators`` a plain transconductor into C
#: (no output resistance, offset, pole, swing limit, capacitor leakage or noise); ``crossbars`` continuous
#: conductances without off-conductance or temperature drift; ``activations`` cells without their pole.
BLOCKS = ("opamps", "integrators", "crossbars", "activations")
IDEAL_OPAMP_GAIN = 1e6


@dataclass(frozen=True)
class MacroParts:
    """The macro level's blocks and budgets (SI units). Defaults are those of a plain 3.3 V CMOS design.

    ``supply_v``: the supply (reference at half of it). ``v_per_weight`` (s_w) and ``v_per_error_cell``
    (s_q): V per unit of weight and of the error cell's output; ``z_swing_v``/``e_swing_v``: the swing
    (V about ref) that the largest expected pre-activation / integrator input is mapped to, which sets
    s_z and s_e. ``g_max_s``/``g_min_s``: crossbar conductance range (S); ``levels``: conductance levels
    (None: continuous). ``line_current_a``: the largest current one summing line may carry. ``opamp``:
    the summing amplifiers', inverters' and buffers' op-amp: a built-in macromodel, or a user's subcircuit
    (:class:`~analogopt.blocks.user_block.UserOpAmp`), whose supply pins go to ``vdd`` (``supply_v``),
    ``vss`` to ground and ``ref`` to the mid rail. OTA: ``ota_r_out_ohm`` (finite DC gain, a leak),
    ``ota_offset_v``, ``ota_bw_hz``. Integrator: ``c_w_f`` (F). Activation cell: ``comparator_bw_hz``.
    ``r_gain_ohm``: the inverters' resistors. ``c_leak_ohm``: the weight capacitor's own leakage, a
    resistor across it that the design does not budget for (None: none). ``ota_headroom_v``: how far the
    OTA's output swing limits sit from the supply rails (V); a weight clips at ``±(ref − headroom)/s_w``.

    The fields above are the *design*: :func:`design_scales` derives every element value from them. The
    fields below are how one chip, at one operating point, departs from it without being redesigned
    (corners and Monte Carlo, docs/nf_macro.md): ``temperature_c`` (°C) against the design's
    :data:`NOMINAL_TEMPERATURE_C`, with the tempcos ``gm_tc_per_k`` (relative change of every OTA's gm
    per K), ``offset_tc_v_per_k`` (OTA offset drift, V/K), ``c_tc_per_k`` (weight and cascade
    capacitors, 1/K) and ``g_tc_per_k`` (crosspoint conductances relative to the summing resistors, 1/K);
    ``gm_scale`` (process: every OTA's gm over its designed value); ``supply_scale`` (the supply over
    ``supply_v``; the reference, a divider, tracks it); ``mismatch_offsets_v``: (instance, V) pairs, an
    input offset added to single OTAs (``ota{i}``, cascade ``ota{i}m``) and op-amps (names from
    :func:`instance_names`). At their defaults the netlist is the design's, byte for byte.
    """

    supply_v: float = 3.3
    v_per_weight: float = 0.25
    v_per_error_cell: float = 0.5
    z_swing_v: float = 1.0
    e_swing_v: float = 1.0
    g_max_s: float = 100e-6
    g_min_s: float = 0.1e-6
    levels: int | None = None
    line_current_a: float = 1e-3
    # no output rails by default: ngspice-39 takes 9× longer on the loop with the macromodel's softplus rail
    # clamp in every op-amp (bench/nf_levels.py), and the summing amplifiers never come near a rail in
    # the shipped scenarios (tests/circuits/test_nf_macro.py scans every node); set v_low/v_high to add them
    opamp: OpAmpModel | UserOpAmp = field(default_factory=lambda: OpAmpModel(kind="single_pole", gain=1e5,
                                                                             gbw_hz=10e6, stage_gm_s=1e-3))
    ota_r_out_ohm: float = 1e12
    ota_offset_v: float = 0.0
    ota_bw_hz: float = 1e6
    c_w_f: float = 1e-9
    comparator_bw_hz: float = 1e6
    r_gain_ohm: float = 100e3
    c_leak_ohm: float | None = None
    ota_headroom_v: float = 0.1
    temperature_c: float = 27.0
    # gm ∝ √(µ·I) at a fixed bias current and µ ∝ T^−1.5: gm ∝ T^−0.75, −0.75/300 K at room temperature
    gm_tc_per_k: float = -2.5e-3
    # a part's drift follows its own offset's sign: no systematic drift unless a scenario assumes one
    offset_tc_v_per_k: float = 0.0
    c_tc_per_k: float = 30e-6  # MIM capacitor, ~30 ppm/K
    # crosspoints of the summing resistors' material: the ratio R·G that sets the loop gain does not drift
    g_tc_per_k: float = 0.0
    gm_scale: float = 1.0
    supply_scale: float = 1.0
    mismatch_offsets_v: tuple[tuple[str, float], ...] = ()
    #: input-referred white noise of every OTA (V/√Hz; None: noiseless), as seeded transient sources
    #: (blocks/noise.py) sampled every ``noise_step_s`` (default: the twin's step η·τ), ``noise_seed``
    ota_noise_v_per_rthz: float | None = None
    noise_step_s: float | None = None
    noise_seed: int = 0
    #: blocks drawn at the ideal level inside the macro loop (:data:`BLOCKS`): the same topology with that
    #: block's imperfections taken out, to see which block's imperfections cost what
    ideal_blocks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positive = ("supply_v", "v_per_weight", "v_per_error_cell", "z_swing_v", "e_swing_v", "g_max_s",
                    "line_current_a", "ota_r_out_ohm", "ota_bw_hz", "c_w_f", "comparator_bw_hz", "r_gain_ohm",
                    "gm_scale", "supply_scale")
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
        if self.c_leak_ohm is not None and not (math.isfinite(self.c_leak_ohm) and self.c_leak_ohm > 0):
            raise ConfigError(f"circuit.c_leak_ohm must be a finite number > 0 (or absent), got {self.c_leak_ohm!r}")
        if not (math.isfinite(self.ota_headroom_v) and 0 <= self.ota_headroom_v < half - 0.05):
            raise ConfigError(f"circuit.ota_headroom_v must lie in [0, {half - 0.05:g}) V, got {self.ota_headroom_v!r}")
        if not math.isfinite(self.ota_offset_v):
            raise ConfigError(f"circuit.ota_offset_v must be finite, got {self.ota_offset_v}")
        if not (math.isfinite(self.temperature_c) and -273.15 < self.temperature_c <= 400):
            raise ConfigError(f"circuit.temperature_c must lie in (−273.15, 400] °C, got {self.temperature_c!r}")
        for name in ("gm_tc_per_k", "offset_tc_v_per_k", "c_tc_per_k", "g_tc_per_k"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"circuit.{name} must be finite, got {getattr(self, name)!r}")
        for name, factor in (("gm_tc_per_k", self.gm_factor), ("c_tc_per_k", self.c_factor),
                             ("g_tc_per_k", self.g_factor)):
            if not factor > 0:
                raise ConfigError(f"circuit.{name} = {getattr(self, name):g} /K at {self.temperature_c:g} °C "
                                  f"makes the part's value ×{factor:g}; it must stay > 0")
        if self.operating_ref_v - self.ota_headroom_v <= 0.05:
            raise ConfigError(f"circuit.supply_scale = {self.supply_scale:g} leaves the OTA no swing inside "
                              f"{self.ota_headroom_v:g} V of headroom")
        unknown = sorted(set(self.ideal_blocks) - set(BLOCKS))
        if unknown:
            raise ConfigError(f"circuit.blocks: unknown block {unknown[0]!r}; blocks: {', '.join(BLOCKS)}")
        for name in ("ota_noise_v_per_rthz", "noise_step_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"circuit.{name} must be a finite number > 0 (or absent), got {value!r}")
        for item in self.mismatch_offsets_v:
            if not (len(item) == 2 and isinstance(item[0], str) and math.isfinite(item[1])):
                raise ConfigError(f"MacroParts.mismatch_offsets_v: expected (instance, volts) pairs, got {item!r}")

    @property
    def ref_v(self) -> float:
        return self.supply_v / 2

    def is_ideal(self, block: str) -> bool:
        """Whether ``block`` (one of :data:`BLOCKS`) is drawn at the ideal level."""
        return block in self.ideal_blocks

    @property
    def weight_rail(self) -> float:
        """The largest |w| the integrators can hold: their output swing limit, in weight units."""
        return (self.operating_ref_v - self.ota_headroom_v) / self.v_per_weight

    @property
    def operating_supply_v(self) -> float:
        """The supply the chip runs at (V): ``supply_v·supply_scale``."""
        return self.supply_v * self.supply_scale

    @property
    def operating_ref_v(self) -> float:
        """The reference the chip runs at (V): half the operating supply."""
        return self.operating_supply_v / 2

    @property
    def delta_t_k(self) -> float:
        """Temperature above the design's (K)."""
        return self.temperature_c - NOMINAL_TEMPERATURE_C

    @property
    def gm_factor(self) -> float:
        """Every OTA's built gm over its designed one: ``gm_scale·(1 + gm_tc·ΔT)``."""
        if self.is_ideal("integrators"):
            return 1.0
        return self.gm_scale * (1.0 + self.gm_tc_per_k * self.delta_t_k)

    @property
    def c_factor(self) -> float:
        """A capacitor's value over its designed one at ``temperature_c``."""
        if self.is_ideal("integrators"):
            return 1.0
        return 1.0 + self.c_tc_per_k * self.delta_t_k

    @property
    def g_factor(self) -> float:
        """A crosspoint conductance over its designed one at ``temperature_c``."""
        if self.is_ideal("crossbars"):
            return 1.0
        return 1.0 + self.g_tc_per_k * self.delta_t_k

    @property
    def ota_offset_at_temperature_v(self) -> float:
        """Every OTA's input offset at ``temperature_c`` before its own mismatch (V)."""
        if self.is_ideal("integrators"):
            return 0.0
        return self.ota_offset_v + self.offset_tc_v_per_k * self.delta_t_k


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
    if parts.levels is None or parts.is_ideal("crossbars"):
        return g
    step = (parts.g_max_s - parts.g_min_s) / (parts.levels - 1)
    return parts.g_min_s + np.round((g - parts.g_min_s) / step) * step


def _pairs(matrix: np.ndarray, g_unit: float, parts: MacroParts) -> tuple[np.ndarray, np.ndarray]:
    """(G⁺, G⁻) of a signed matrix: ``g_min + g_unit·max(±a, 0)``, quantized."""
    g_min = 0.0 if parts.is_ideal("crossbars") else parts.g_min_s
    pos = g_min + g_unit * np.maximum(matrix, 0.0)
    neg = g_min + g_unit * np.maximum(-matrix, 0.0)
    return _quantize(pos, parts), _quantize(neg, parts)


def crossbar_conductances(problem: NFSingleLayerProblem, parts: MacroParts,
                          scales: ScaleFactors) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The crossbars' conductance pairs as built (S): G⁺, G⁻ of the data crossbar (m, n) and of the error
    crossbar (n, m), quantized and at the chip's temperature."""
    g_pos, g_neg = (g * parts.g_factor for g in _pairs(problem.data_matrix, scales.s_per_data, parts))
    u_pos, u_neg = (g * parts.g_factor for g in _pairs(problem.error_matrix, scales.s_per_error_gain, parts))
    return g_pos, g_neg, u_pos, u_neg


def applied_matrices(problem: NFSingleLayerProblem, parts: MacroParts, scales: ScaleFactors) -> tuple[np.ndarray, np.ndarray]:
    """The data and error matrices the crossbars apply, (G⁺ − G⁻)/(S per unit): X and U of the problem after
    conductance quantization and temperature drift (exactly X and U for the design without ``levels``)."""
    g_pos, g_neg, u_pos, u_neg = crossbar_conductances(problem, parts, scales)
    return (g_pos - g_neg) / scales.s_per_data, (u_pos - u_neg) / scales.s_per_error_gain


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
    s_w = parts.v_per_weight
    w_scale = max(float(np.max(np.abs(problem.w0))), 1.0)
    z_max = float(np.max(np.abs(x).sum(axis=1))) * w_scale
    s_z = parts.z_swing_v / z_max
    # the error cell's largest output |y − σ(z)|·σ'^p (σ' ≤ 1 for every activation here) must stay
    # inside the rails with 10 % to spare: s_q is the requested V per unit or less
    q_max = float(np.max(np.abs(problem.y))) + SIGMA_BOUNDS.get(problem.activation.name, z_max)
    s_q = min(parts.v_per_error_cell, 0.9 * parts.ref_v / q_max)
    # data crossbar: line k carries Σ_i G_ki·|V_w − ref| ≤ g_unit·s_w·w_scale·Σ_i |x_ki| (g_min parts cancel in pairs,
    # but each still draws current: add them to the budget)
    g_x = min(parts.g_max_s / float(np.max(np.abs(x))),
              max(parts.line_current_a / (s_w * w_scale) - 2 * parts.g_min_s * x.shape[1], 0.0) / float(np.max(np.abs(x).sum(axis=1))))
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
    if problem.leak and parts.is_ideal("integrators"):
        r_leak = r_par
        gm = problem.gamma * problem.forward_gain * s_w / (s_e * r_par)
    elif problem.leak:
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


#: The largest |σ(z)| of each bounded activation (identity, relu: unbounded, bounded by z_max instead)
SIGMA_BOUNDS = {"tanh": 1.0, "sign": 1.0, "staircase": 3.0}

def ota_for(parts: MacroParts, gm_s: float, *, extra_offset_v: float = 0.0) -> OTAModel:
    """The OTA as built for a designed transconductance ``gm_s`` (S): gm times ``parts.gm_factor``, the
    offset at temperature plus ``extra_offset_v`` (this instance's mismatch, V), swing limits inside the
    operating supply."""
    if parts.is_ideal("integrators"):
        return OTAModel(gm_s=gm_s, ideal=True)
    return OTAModel(gm_s=gm_s * parts.gm_factor, r_out_ohm=parts.ota_r_out_ohm,
                    offset_v=parts.ota_offset_at_temperature_v + extra_offset_v, bw_hz=parts.ota_bw_hz,
                    v_low=parts.ota_headroom_v, v_high=parts.operating_supply_v - parts.ota_headroom_v)


def instance_names(problem: NFSingleLayerProblem) -> tuple[list[str], list[str]]:
    """The names :func:`build_nf_macro` gives the loop's OTAs and op-amps, in the order it builds them:
    what ``MacroParts.mismatch_offsets_v`` may name."""
    n, m = problem.n_weights, problem.n_samples
    cascade = problem.integrator == "cascade"
    otas = [name for i in range(n) for name in ((f"ota{i}m", f"ota{i}") if cascade else (f"ota{i}",))]
    amps = ([name for i in range(n) for name in (f"buf{i}", f"inv{i}")] + [f"z{k}" for k in range(m)]
            + [name for i in range(n) for name in (f"ep{i}", f"en{i}")])
    return otas, amps


def build_nf_macro(problem: NFSingleLayerProblem, parts: MacroParts, *, e_max: float,
                   title: str = "negative feedback optimizer, single layer, macro level",
                   points: int = 50, save_all: bool = False) -> MacroCircuit:
    """The loop at the macro level (module docstring), a transient over the problem's analog duration,
    and the weight probes (node voltages; :meth:`MacroCircuit.weights` turns them into weights).

    Mismatch in ``problem`` (``x_forward``, ``u_matrix``, ``tau_w_s``, ``forward_gains``) goes into the
    conductances, capacitors and OTA transconductances it stands for. The element values are designed at
    ``parts``' design fields; its operating point (temperature, ``gm_scale``, ``supply_scale``) and
    per-instance offsets then shift the parts as built, as a corner or a Monte Carlo sample of one chip."""
    m, n = problem.n_samples, problem.n_weights
    sc = design_scales(problem, parts, e_max)
    ref = parts.operating_ref_v
    offsets = dict(parts.mismatch_offsets_v)
    circuit = Circuit(title)
    lines = [f"Vdd vdd 0 {format_value(parts.operating_supply_v)}", f"Vref ref 0 {format_value(ref)}"]
    w = [f"w{i}" for i in range(n)]
    wb = [f"wb{i}" for i in range(n)]
    z = [f"z{k}" for k in range(m)]
    q = [f"q{k}" for k in range(m)]
    amps: list[tuple[str, str, str, str]] = []  # (name, inp, inn, out) of every op-amp

    # the weight capacitor sees only the OTA and its leak: a unity-gain buffer per weight drives the
    # crossbar and the inverted copy wb = 2·ref − wf (inverting amplifier, gain −1)
    wf = [f"wf{i}" for i in range(n)]
    r = format_value(parts.r_gain_ohm)
    for i in range(n):
        amps.append((f"buf{i}", w[i], wf[i], wf[i]))
        lines += [f"Rinv{i}_a {wf[i]} inv{i} {r}", f"Rinv{i}_b inv{i} {wb[i]} {r}"]
        amps.append((f"inv{i}", "ref", f"inv{i}", wb[i]))

    # data crossbar: x > 0 from the inverted copy, x < 0 from the weight, into row k's summing node
    g_pos, g_neg, u_pos, u_neg = crossbar_conductances(problem, parts, sc)  # (m, n) and (n, m)
    sums = [f"s{k}" for k in range(m)]
    lines += _resistors("xp", sums, wb, g_pos) + _resistors("xn", sums, wf, g_neg)
    rz = format_value(sc.r_z_ohm)
    for k in range(m):
        lines.append(f"Rz{k} {sums[k]} {z[k]} {rz}")
        amps.append((f"z{k}", "ref", sums[k], z[k]))

    # activation and error cells: σ and σ' of the pre-activation, through the comparator's pole
    spec = problem.activation
    windowed = problem.error_gain in ("window", "beta_pow")
    r_pole = 10e3
    c_pole = 1.0 / (2 * math.pi * parts.comparator_bw_hz * r_pole)
    for k in range(m):
        if parts.is_ideal("activations"):
            zz = f"((v({z[k]})-{format_value(ref)})/{format_value(sc.v_per_z)})"
        else:
            lines += [f"Rc{k} {z[k]} zf{k} {format_value(r_pole)}", f"Cc{k} zf{k} ref {format_value(c_pole)}"]
            zz = f"((v(zf{k})-{format_value(ref)})/{format_value(sc.v_per_z)})"
        cell = f"({format_value(problem.y[k])}-{sigma_expr(spec, zz)})"
        if windowed:
            cell = "*".join([cell] + [f"({slope_expr(spec, zz)})"] * problem.error_power)
        # s_q keeps |y| + |σ| inside the rails by construction (design_scales), so the cell needs no clamp:
        # a softplus clamp here doubled ngspice's time (bench/nf_levels.py) without ever acting
        lines.append(f"Bq{k} {q[k]} 0 v={format_value(ref)}+{format_value(sc.v_per_error_cell)}*{cell}")

    # error crossbar U (Eq. 12): positive entries into line ep_i, negative into en_i
    ep_in, en_in = [f"ep{i}_s" for i in range(n)], [f"en{i}_s" for i in range(n)]
    lines += _resistors("up", ep_in, q, u_pos) + _resistors("un", en_in, q, u_neg)
    re_ = format_value(sc.r_e_ohm)
    for i in range(n):
        lines += [f"Rep{i} {ep_in[i]} ep{i} {re_}", f"Ren{i} {en_in[i]} en{i} {re_}"]
        amps += [(f"ep{i}", "ref", ep_in[i], f"ep{i}"), (f"en{i}", "ref", en_in[i], f"en{i}")]

    # OTA-C integrators (Eq. 10), or two in cascade (Eq. 22); ΔV_e = v(en) − v(ep) = s_e·e
    taus = problem.weight_taus_s
    gains = problem.weight_gains / problem.forward_gain  # per-weight mismatch of A
    ics = ref + sc.v_per_weight * problem.w0
    r_par = problem.tau_s / sc.c_w_f
    noise = (TransientNoise(parts.ota_noise_v_per_rthz, parts.noise_step_s or problem.dt_s, parts.noise_seed)
             if parts.ota_noise_v_per_rthz is not None and not parts.is_ideal("integrators") else None)

    attachments: dict[str, str] = {}

    def noise_of(stream: int) -> tuple[TransientNoise, int, float] | None:
        # one stream per OTA instance: each integrator's noise is its own, and reproducible from the seed
        return None if noise is None else (noise, stream, problem.duration_s)

    for i in range(n):
        c_w = sc.c_w_f * taus[i] / problem.tau_s * parts.c_factor  # a mismatched τ_i is a mismatched capacitor
        if problem.integrator == "cascade":
            # first stage τ_m·dm/dt = A·e − m, m held as ref + s_w·m; then τ·dw/dt = γ·m − w from v(m) − ref
            r_m = problem.tau_m_s / sc.c_w_f
            ota1 = ota_for(parts, problem.forward_gain * gains[i] * sc.v_per_weight / (sc.v_per_error * r_m),
                           extra_offset_v=offsets.pop(f"ota{i}m", 0.0))
            lines += ota1.lines(f"ota{i}m", f"en{i}", f"ep{i}", f"m{i}", "ref", noise=noise_of(2 * i + 1),
                                attachments=attachments)
            lines += [f"Cm{i} m{i} ref {format_value(sc.c_w_f * parts.c_factor)}",
                      f"Rm{i} m{i} ref {format_value(r_m if parts.is_ideal('integrators') else 1.0 / (1.0 / r_m - 1.0 / parts.ota_r_out_ohm))}"]
            gm = problem.gamma / r_par if problem.leak else problem.gamma * sc.c_w_f / problem.tau_s
            ota = ota_for(parts, gm, extra_offset_v=offsets.pop(f"ota{i}", 0.0))
            lines += ota.lines(f"ota{i}", f"m{i}", "ref", w[i], "ref", noise=noise_of(2 * i),
                               attachments=attachments)
        else:
            ota = ota_for(parts, sc.gm_s * gains[i], extra_offset_v=offsets.pop(f"ota{i}", 0.0))
            lines += ota.lines(f"ota{i}", f"en{i}", f"ep{i}", w[i], "ref", noise=noise_of(i),
                               attachments=attachments)
        lines.append(f"Cw{i} {w[i]} ref {format_value(c_w)}")
        if sc.r_leak_ohm is not None:
            lines.append(f"Rleak{i} {w[i]} ref {format_value(sc.r_leak_ohm)}")
        if parts.c_leak_ohm is not None and not parts.is_ideal("integrators"):
            lines.append(f"Rcleak{i} {w[i]} ref {format_value(parts.c_leak_ohm)}")

    # Start from a consistent operating point with the weights (and momentum states) held at their initial
    # values (.ic without uic): every op-amp, cell and line then starts settled, as a powered-up chip whose
    # weights were written before learning starts.
    held = [f"v({w[i]})={format_value(ics[i])}" for i in range(n)]
    if problem.integrator == "cascade":
        held += [f"v(m{i})={format_value(ref)}" for i in range(n)]
    lines.append(".ic " + " ".join(held))

    # an op-amp's own offset is a source in series with its non-inverting input, outside the subcircuit
    # every instance shares, so instances can differ without a subcircuit each
    for j, (name, inp, inn, out) in enumerate(amps):
        offset = offsets.pop(name, 0.0) * (not parts.is_ideal("opamps"))
        if offset != 0.0:
            lines.append(f"Vos_{name} {name}_os {inp} {format_value(offset)}")
            amps[j] = (name, f"{name}_os", inn, out)
    if offsets:
        raise ConfigError(f"MacroParts.mismatch_offsets_v names no instance of this loop: {', '.join(sorted(offsets))}")

    names, inps, inns, outs = (list(col) for col in zip(*amps))
    opamp = OpAmpModel(kind="ideal", gain=IDEAL_OPAMP_GAIN) if parts.is_ideal("opamps") else parts.opamp
    # a user part's supply pins: the loop's own rails (built-in macromodels have none and ignore this)
    supplies = {"vdd": "vdd", "vss": "0", "ref": "ref"}
    circuit.raw_spice += "\n".join(lines) + "\n" + opamp_lines(circuit, names, inps, inns, outs,
                                                                   opamp, supplies)
    # every element line, and each op-amp instance counted once (as the ideal level counts its blocks)
    elements = sum(1 for line in lines if not line.startswith((".", "+"))) + len(amps)

    # a part with a vdd pin draws from Vdd, which feeds nothing else: its current is the op-amps' supply
    supply_saves = ["i(vdd)"] if isinstance(opamp, UserOpAmp) and "vdd" in opamp.supply_roles else []
    duration = problem.duration_s
    max_step = duration / points if noise is None else min(duration / points, noise.step_s)
    deck = NetlistDeck(
        circuit,
        analyses=[Transient(stop_s=duration, step_s=duration / points, max_step_s=max_step, uic=False)],
        options=dict(MACRO_OPTIONS),
        saves=[] if save_all else save_voltages(w) + supply_saves,
        attachments=attachments,
    )
    probes = {name: f"v({node})" for name, node in zip(problem.weight_names, w)}
    conductances = np.concatenate([g_pos[g_pos > 0], g_neg[g_neg > 0], u_pos[u_pos > 0], u_neg[u_neg > 0]])
    notes = {
        "integrator": (f"OTA-C, C = {sc.c_w_f:g} F, gm = {sc.gm_s:g} S" + (
            f", R_leak = {sc.r_leak_ohm:g} ohm" if sc.r_leak_ohm else ", no leak resistor")
            + (f"; cascade first stage tau_m = {problem.tau_m_s:g} s" if problem.integrator == "cascade" else "")),
        "activation": f"{spec.name} (comparator gain {spec.gain:g} V/V, bandwidth {parts.comparator_bw_hz:g} Hz)",
        "level": "macro",
    }
    return MacroCircuit(deck=deck, probes=probes, element_count=int(elements), notes=notes, scales=sc, ref_v=ref,
                        conductances_s=conductances)
