"""Sizing the two-stage Miller op-amp of :mod:`analogopt.blocks.miller_ota` (and, at the end, the
integrator's five-transistor OTA of :mod:`analogopt.blocks.gm_ota`) by the gm/I_D method: the first
cut, from the specifications and the kit's device tables. Pure: the tables come from a simulation
(:func:`analogopt.cosim.transistor_ota.device_tables`) and the check of the cut by simulation, with its
corrections, lives in :func:`analogopt.cosim.transistor_ota.design_miller_ota`.

The procedure (docs/transistor.md walks through it with numbers):

1. ``Cc = cc_ratio · C_L``: large enough that the second pole sits above the unity-gain frequency
   without a large second-stage current.
2. The design unity-gain frequency is the target times ``gbw_margin``, because the slow corner at 125 °C
   loses gm: ``gm1 = 2π · GBW_d · Cc`` (GBW = gm1/Cc). The input pair runs at ``gm/I_D = 14`` (moderate
   inversion: most gm per µA while V_DSAT stays ~0.15 V), so ``I_D1 = gm1 / 14`` and the tail carries
   twice that.
3. The second pole ``p2 ≈ gm6 / C_L`` is put ``p2_ratio`` times above GBW_d: phase margin
   ``90° − atan(1/p2_ratio)`` with the zero removed, so ``gm6 = 2π · p2_ratio · GBW_d · C_L``.
4. M3/M4 and M6 share their length and their current density (M6's gate sits at M4's V_GS), which is
   the condition for zero systematic offset; so M6 runs at the mirror's ``gm/I_D`` and
   ``I_D6 = gm6 / (gm/I_D)``. M5, M7, M8 likewise share length and density: each width is its current
   over that density.
5. Widths are current / (I_D/W at the chosen gm/I_D and length), read off the tables.
6. ``Rz = rz_gm6 / gm6``: a little above ``1/gm6``, which moves the Miller zero from the right half plane
   into the left, beyond GBW.

The gain needs no step of its own: at these lengths each stage gives ``(gm/gds)/2``-ish ≈ 45 dB, and
:class:`Prediction` says how much the first cut expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..blocks.gm_ota import GmOTA
from ..blocks.miller_ota import Device, MillerOTA
from ..errors import ConfigError


@dataclass(frozen=True)
class OTATargets:
    """What the op-amp must do at every PVT point: DC gain (dB), unity-gain frequency (Hz) into
    ``c_load_f`` (F), phase margin (°) at unity feedback; gain margin must be positive."""

    gain_db: float = 70.0
    gbw_hz: float = 5e6
    c_load_f: float = 5e-12
    pm_deg: float = 55.0


@dataclass(frozen=True)
class DesignChoices:
    """The designer's choices of the procedure (module docstring): ratios, inversion levels (gm/I_D in
    1/V), lengths (µm), the reference current (A)."""

    gbw_margin: float = 2.0
    cc_ratio: float = 0.4
    p2_ratio: float = 3.0
    gm_id_input: float = 14.0
    gm_id_mirror: float = 10.0
    gm_id_sink: float = 8.0
    l_input_um: float = 1.0
    l_mirror_um: float = 0.5
    l_sink_um: float = 2.0
    i_ref_a: float = 10e-6
    rz_gm6: float = 1.4

    @property
    def lengths_um(self) -> tuple[float, ...]:
        return tuple(sorted({self.l_input_um, self.l_mirror_um, self.l_sink_um}))


@dataclass(frozen=True)
class GmIdCurve:
    """One device type at one length over a gate sweep ``vgs_v`` (|V_GS|, V): gm/I_D (1/V), I_D per µm of
    width (A/µm) and intrinsic gain gm/gds (arrays of equal length)."""

    vgs_v: np.ndarray
    gm_id: np.ndarray
    id_per_um: np.ndarray
    gm_gds: np.ndarray

    def _at(self, values: np.ndarray, gm_id: float, what: str) -> float:
        # strong inversion only: below the sweep's subthreshold plateau gm/I_D is not monotonic
        keep = self.id_per_um > 1e-9
        x, y = self.gm_id[keep], values[keep]
        order = np.argsort(x)
        x, y = x[order], y[order]
        if not x[0] <= gm_id <= x[-1]:
            raise ConfigError(f"gm/I_D = {gm_id:g} /V is outside the device table ({x[0]:.3g} … {x[-1]:.3g} /V) "
                              f"for {what}")
        return float(np.exp(np.interp(gm_id, x, np.log(y))))

    def id_per_um_at(self, gm_id: float) -> float:
        return self._at(self.id_per_um, gm_id, "I_D/W")

    def gm_gds_at(self, gm_id: float) -> float:
        return self._at(self.gm_gds, gm_id, "gm/gds")


@dataclass(frozen=True)
class DeviceTables:
    """gm/I_D curves of the kit's NMOS and PMOS, keyed by length (µm)."""

    nmos: dict[float, GmIdCurve]
    pmos: dict[float, GmIdCurve]

    def curve(self, kind: str, l_um: float) -> GmIdCurve:
        table = self.nmos if kind == "nmos" else self.pmos
        for length, curve in table.items():
            if math.isclose(length, l_um, rel_tol=1e-9):
                return curve
        raise ConfigError(f"no {kind} table at L = {l_um:g} µm (tables: {', '.join(f'{x:g}' for x in table)} µm)")


@dataclass(frozen=True)
class Prediction:
    """What the first cut expects (SI units): currents, transconductances, gain, GBW, p2, phase margin."""

    i_input_a: float
    i_stage2_a: float
    gm1_s: float
    gm6_s: float
    gain_db: float
    gbw_hz: float
    p2_hz: float
    pm_deg: float
    notes: list[str] = field(default_factory=list)


def first_cut(targets: OTATargets, tables: DeviceTables, choices: DesignChoices = DesignChoices()) -> tuple[MillerOTA, Prediction]:
    """The sizes of the module docstring's steps 1–6, and what they predict."""
    c = choices
    cc = c.cc_ratio * targets.c_load_f
    gbw_d = c.gbw_margin * targets.gbw_hz
    gm1 = 2 * math.pi * gbw_d * cc
    i1 = gm1 / c.gm_id_input
    gm6 = 2 * math.pi * c.p2_ratio * gbw_d * targets.c_load_f
    i6 = gm6 / c.gm_id_mirror
    n_in = tables.curve("nmos", c.l_input_um)
    p_mir = tables.curve("pmos", c.l_mirror_um)
    n_sink = tables.curve("nmos", c.l_sink_um)
    density_in = n_in.id_per_um_at(c.gm_id_input)
    density_mir = p_mir.id_per_um_at(c.gm_id_mirror)
    density_sink = n_sink.id_per_um_at(c.gm_id_sink)
    ota = MillerOTA(
        m1=Device(i1 / density_in, c.l_input_um),
        m3=Device(i1 / density_mir, c.l_mirror_um),
        m5=Device(2 * i1 / density_sink, c.l_sink_um),
        m6=Device(i6 / density_mir, c.l_mirror_um),
        m7=Device(i6 / density_sink, c.l_sink_um),
        m8=Device(c.i_ref_a / density_sink, c.l_sink_um),
        i_ref_a=c.i_ref_a, cc_f=cc, rz_ohm=c.rz_gm6 / gm6,
    )
    # gds = gm / (gm/gds) per device: stage gain gm / Σgds
    gds2 = gm1 / n_in.gm_gds_at(c.gm_id_input)
    gds4 = c.gm_id_mirror * i1 / p_mir.gm_gds_at(c.gm_id_mirror)
    gds6 = gm6 / p_mir.gm_gds_at(c.gm_id_mirror)
    gds7 = c.gm_id_sink * i6 / n_sink.gm_gds_at(c.gm_id_sink)
    gain = gm1 / (gds2 + gds4) * gm6 / (gds6 + gds7)
    p2 = gm6 / (2 * math.pi * targets.c_load_f)
    prediction = Prediction(
        i_input_a=i1, i_stage2_a=i6, gm1_s=gm1, gm6_s=gm6, gain_db=20 * math.log10(gain), gbw_hz=gbw_d, p2_hz=p2,
        pm_deg=90.0 - math.degrees(math.atan(gbw_d / p2)),
        notes=[f"Cc = {c.cc_ratio:g}·C_L = {cc * 1e12:.3g} pF",
               f"GBW_d = {c.gbw_margin:g}·{targets.gbw_hz / 1e6:g} MHz → gm1 = {gm1 * 1e6:.4g} µS, "
               f"I_D1 = {i1 * 1e6:.4g} µA at gm/I_D {c.gm_id_input:g}/V",
               f"p2 = {c.p2_ratio:g}·GBW_d → gm6 = {gm6 * 1e3:.4g} mS, I_D6 = {i6 * 1e6:.4g} µA at gm/I_D "
               f"{c.gm_id_mirror:g}/V",
               f"Rz = {c.rz_gm6:g}/gm6 = {ota.rz_ohm / 1e3:.4g} kΩ"])
    return ota, prediction


# --------------------------------------------------------------------------- the integrator's transconductor
@dataclass(frozen=True)
class GmOTATargets:
    """What the OTA of an OTA-C weight integrator must give at typical: its transconductance ``gm_s`` (S;
    the integrator's τ = C/gm), and the linear input range ``linear_v`` (V, ± about the null) over which
    the output current stays within 1 % of ``gm·v_d``."""

    gm_s: float = 10e-6
    linear_v: float = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gm_s) and 1e-7 <= self.gm_s <= 1e-3):
            raise ConfigError(f"OTA gm_s must lie in 0.1 µS … 1 mS, got {self.gm_s!r}")
        if not (math.isfinite(self.linear_v) and 0.005 <= self.linear_v <= 0.3):
            raise ConfigError(f"OTA linear_v must lie in 5 … 300 mV, got {self.linear_v!r}")


@dataclass(frozen=True)
class GmOTAChoices:
    """The designer's choices for the five-transistor OTA: inversion levels (gm/I_D, 1/V) and lengths (µm)
    of the pair, the mirror load and the tail/bias; long mirror and pair devices raise r_out, the leak."""

    gm_id_input: float = 8.0
    gm_id_mirror: float = 8.0
    gm_id_tail: float = 8.0
    l_input_um: float = 2.0
    l_mirror_um: float = 4.0
    l_tail_um: float = 4.0

    @property
    def lengths_um(self) -> tuple[float, ...]:
        return tuple(sorted({self.l_input_um, self.l_mirror_um, self.l_tail_um}))


@dataclass(frozen=True)
class GmPrediction:
    """What the first cut of the OTA expects (SI): the pair's current, gm, output resistance, DC gain."""

    i_input_a: float
    gm_s: float
    r_out_ohm: float
    notes: list[str] = field(default_factory=list)

    @property
    def dc_gain(self) -> float:
        return self.gm_s * self.r_out_ohm


def gm_input_for_linear_range(linear_v: float) -> float:
    """The pair's gm/I_D (1/V) for a linear input range ``linear_v`` (V): a square-law pair's output current
    ``gm·v_d·√(1 − (v_d/2V_ov)²)`` (V_ov = 2/(gm/I_D)) falls 1 % below the line at v_d ≈ 0.28·V_ov, so
    gm/I_D ≈ 0.56/linear_v; capped at 20 /V (weak inversion, where the range stops growing with V_ov)."""
    return min(20.0, 0.28 * 2.0 / linear_v)


def gm_ota_first_cut(targets: GmOTATargets, tables: DeviceTables,
                     choices: GmOTAChoices = GmOTAChoices()) -> tuple[GmOTA, GmPrediction]:
    """Sizes: the pair at the gm/I_D the linear range asks for (or ``choices.gm_id_input`` if lower, for more
    range), ``I_D1 = gm/(gm/I_D)``, the tail and bias diode 1:1 at ``2·I_D1``; each width its current over the
    table's density at the chosen gm/I_D and length."""
    c = choices
    gm_id = min(c.gm_id_input, gm_input_for_linear_range(targets.linear_v))
    i1 = targets.gm_s / gm_id
    n_in, p_mir, n_tail = (tables.curve("nmos", c.l_input_um), tables.curve("pmos", c.l_mirror_um),
                           tables.curve("nmos", c.l_tail_um))
    tail = Device(2 * i1 / n_tail.id_per_um_at(c.gm_id_tail), c.l_tail_um)
    ota = GmOTA(m1=Device(i1 / n_in.id_per_um_at(gm_id), c.l_input_um),
                m3=Device(i1 / p_mir.id_per_um_at(c.gm_id_mirror), c.l_mirror_um),
                m5=tail, m8=tail, i_ref_a=2 * i1)
    gds2 = targets.gm_s / n_in.gm_gds_at(gm_id)
    gds4 = c.gm_id_mirror * i1 / p_mir.gm_gds_at(c.gm_id_mirror)
    prediction = GmPrediction(i_input_a=i1, gm_s=targets.gm_s, r_out_ohm=1.0 / (gds2 + gds4), notes=[
        f"pair at gm/I_D {gm_id:.3g}/V (±{targets.linear_v * 1e3:g} mV within 1 %): I_D1 = {i1 * 1e6:.4g} µA, "
        f"tail {2 * i1 * 1e6:.4g} µA",
        f"r_out = 1/(gds2 + gds4) = {1e-6 / (gds2 + gds4):.4g} MΩ, gm·r_out = {targets.gm_s / (gds2 + gds4):.4g}"])
    return ota, prediction
