"""The OTA-C integrator's five-transistor OTA (:mod:`analogopt.blocks.gm_ota`) in ngspice with the GF180MCU
models: its design loop (first cut from the device tables, then gm measured and the currents rescaled to
the target), its measurements (gm and its linear range, offset, output resistance, output compliance,
bandwidth, supply current, each with the hand estimate from the operating point where there is one), the
:class:`~analogopt.blocks.ota.OTAModel` fitted to them, and the integrator of 000 Eq. 10 it drives,
judged against that fitted model and against the ideal integrator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..blocks.gm_ota import GmOTA
from ..blocks.miller_ota import Device
from ..blocks.ota import OTAModel
from ..circuits import ota_benches
from ..circuits.ota_design import GmOTAChoices, GmOTATargets, GmPrediction, gm_ota_first_cut
from ..errors import ConfigError
from ..pdk.gf180mcu import Gf180mcu, pvt_grid
from .characterization import falling_crossing_hz
from .transistor_ota import device_tables

#: Linearity: the output current counts as linear while within this fraction of gm·(v_d − null).
LINEARITY = 0.01
#: Compliance: the output counts as inside its range while the driven current stays above this fraction of
#: its value at mid supply (the macromodel's fade is fitted between :data:`COMPLIANCE_LEVELS`).
COMPLIANCE = 0.9
COMPLIANCE_LEVELS = (0.9, 0.1)
#: Where the macromodel's fade 1 − exp(−h/knee) passes each level, in knees of headroom h to its rail:
#: ln(1/(1 − level)), 2.303 at 90 % and 0.105 at 10 %
FADE_AT = tuple(math.log(1.0 / (1.0 - level)) for level in COMPLIANCE_LEVELS)
#: Design: gm is rescaled until it lands within this of the target at typical.
GM_TOLERANCE = 0.02
#: The transfer sweep spans this many times the linear-range target (and the tail current's plateau).
TRANSFER_SPAN_FACTOR = 8.0


@dataclass
class GmMeasurement:
    """One PVT point (SI units): ``gm_s`` the slope at the null, ``offset_v`` the input offset (the null's
    negative), ``linear_v`` (lower, upper) the differential inputs (V, about the null) within which the
    current stays within :data:`LINEARITY` of the line, ``i_max_a`` the largest current (the tail's),
    ``r_out_ohm`` at mid supply, ``compliance_v`` (low, high) the outputs (V) where the current driven by
    half the linear range falls to :data:`COMPLIANCE`, ``bw_hz`` gm's −3 dB frequency, ``supply_a`` the
    quiescent current; ``hand_gm_s``/``hand_r_out_ohm`` from the operating point's gm and gds of M2/M4."""

    point: Gf180mcu
    gm_s: float
    offset_v: float
    linear_v: tuple[float, float]
    i_max_a: float
    r_out_ohm: float
    compliance_v: tuple[float, float]
    knee_v: float
    bw_hz: float | None
    supply_a: float
    hand_gm_s: float
    hand_r_out_ohm: float
    devices: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    v_d: np.ndarray = field(default=None, repr=False)
    current_a: np.ndarray = field(default=None, repr=False)

    @property
    def dc_gain(self) -> float:
        return self.gm_s * self.r_out_ohm

    @property
    def power_w(self) -> float:
        return self.supply_a * self.point.supply_v


def _transfer(ota: GmOTA, point: Gf180mcu, span_v: float, runner: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    result = runner.run(ota_benches.gm_transfer_bench(ota, point, span_v).deck)
    dc = result.analysis("dc")
    # i(vout) is the current into Vout's + terminal from the output node: the OTA's output current
    return np.real(np.asarray(dc.axis)), np.real(np.asarray(dc["i(vout)"])), result.analysis("op")


def _null_and_slope(v_d: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    k = int(np.argmin(np.abs(current)))
    k = min(max(k, 1), len(v_d) - 2)
    slope = float((current[k + 1] - current[k - 1]) / (v_d[k + 1] - v_d[k - 1]))
    return float(v_d[k] - current[k] / slope), slope


def _linear_range(v_d: np.ndarray, current: np.ndarray, null: float, gm: float) -> tuple[float, float]:
    x = v_d - null
    line = gm * x
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.abs(current - line) <= LINEARITY * np.abs(line)
    ok |= np.abs(x) < 1e-4  # the null itself, where the relative error is 0/0
    mid = int(np.argmin(np.abs(x)))
    bad = np.nonzero(~ok)[0]
    below, above = bad[bad < mid], bad[bad > mid]
    lo = below[-1] + 1 if below.size else 0
    hi = above[0] - 1 if above.size else len(x) - 1
    return float(x[lo]), float(x[hi])


def _op_devices(ota: GmOTA, op: Any) -> dict[str, dict[str, float]]:
    out = {}
    for device, (path, fingers) in ota_benches.device_paths(ota).items():
        # ngspice names a device's drain current as a current vector, i(@m…[id])
        values = {q: float(np.real(op[f"i(@m.{path}[{q}])" if q == "id" else f"@m.{path}[{q}]"][0]))
                  for q in ota_benches.OP_QUANTITIES}
        for q in ("gm", "gds", "id"):
            values[q] *= fingers
        out[device] = values
    return out


def _edges(v: np.ndarray, current: np.ndarray, at_mid: float, level: float) -> tuple[float, float]:
    """Outputs (V) either side of mid supply where |current| falls to ``level`` of ``at_mid``."""
    mid = len(v) // 2  # the sweep is symmetric about mid supply
    inside = np.abs(current) >= level * abs(at_mid)
    bad = np.nonzero(~inside)[0]
    below, above = bad[bad < mid], bad[bad > mid]
    lo = float(v[below[-1] + 1]) if below.size else float(v[0])
    hi = float(v[above[0] - 1]) if above.size else float(v[-1])
    return lo, hi


def measure(ota: GmOTA, point: Gf180mcu, runner: Any, linear_target_v: float = 0.05) -> GmMeasurement:
    """Every measurement of :class:`GmMeasurement` at ``point``: four ngspice runs."""
    span = TRANSFER_SPAN_FACTOR * linear_target_v
    v_d, current, op = _transfer(ota, point, span, runner)
    null, gm = _null_and_slope(v_d, current)
    if not gm > 0:
        raise ConfigError(f"OTA {ota.name} at {point.label}: the output current does not rise with the input "
                          f"(slope {gm:.3g} S at the null)")
    linear = _linear_range(v_d, current, null, gm)
    devices = _op_devices(ota, op)
    supply = abs(float(np.real(op["i(vdd)"][0])))
    drive = null + 0.5 * min(abs(linear[0]), abs(linear[1]))  # inside the linear range either way
    edges = {}
    for sign in (+1, -1):
        bench = ota_benches.gm_output_bench(ota, point, null + sign * (drive - null))
        dc = runner.run(bench.deck).analysis("dc")
        v, i = np.real(np.asarray(dc.axis)), np.real(np.asarray(dc["i(vout)"]))
        at_mid = float(np.interp(point.supply_v / 2, v, i))
        edges[sign] = [_edges(v, i, at_mid, level) for level in COMPLIANCE_LEVELS]
    zero = runner.run(ota_benches.gm_output_bench(ota, point, null).deck).analysis("dc")
    v0, i0 = np.real(np.asarray(zero.axis)), np.real(np.asarray(zero["i(vout)"]))
    k = int(np.argmin(np.abs(v0 - point.supply_v / 2)))
    r_out = float(abs((v0[k + 1] - v0[k - 1]) / (i0[k + 1] - i0[k - 1])))
    # sourcing (+) fades toward vdd, sinking (−) toward ground; between its 90 % and 10 % points the fade
    # spans (FADE_AT[0] − FADE_AT[1])·knee = ln 9·knee
    (_, high90), (_, high10) = edges[+1]
    (low90, _), (low10, _) = edges[-1]
    knee = max(((high10 - high90) + (low90 - low10)) / 2 / (FADE_AT[0] - FADE_AT[1]), 1e-3)
    ac = runner.run(ota_benches.gm_ac_bench(ota, point).deck).analysis("ac")
    freq = np.real(np.asarray(ac.axis))
    y = np.abs(np.asarray(ac["i(vout)"]))
    bw = falling_crossing_hz(freq, y, y[0] / math.sqrt(2))
    m2, m4 = devices["M2"], devices["M4"]
    return GmMeasurement(point=point, gm_s=gm, offset_v=-null, linear_v=linear, i_max_a=float(np.max(np.abs(current))),
                         r_out_ohm=r_out, compliance_v=(low90, high90), knee_v=knee, bw_hz=bw, supply_a=supply,
                         hand_gm_s=m2["gm"], hand_r_out_ohm=1.0 / (abs(m2["gds"]) + abs(m4["gds"])), devices=devices,
                         v_d=v_d, current_a=current)


def fitted_model(m: GmMeasurement) -> OTAModel:
    """The macromodel with this point's measured gm, r_out, offset, bandwidth and compliance: the OTA a
    macro-level integrator (:mod:`analogopt.circuits.nf_macro`) can take for this corner. Its rails sit
    ``FADE_AT[0]`` knees beyond the measured 90 % points, so its fade passes 90 % where the transistors'
    current did."""
    reach = FADE_AT[0] * m.knee_v
    return OTAModel(gm_s=m.gm_s, r_out_ohm=m.r_out_ohm, offset_v=m.offset_v, bw_hz=m.bw_hz or 1e9,
                    v_low=m.compliance_v[0] - reach, v_high=m.compliance_v[1] + reach, knee_v=m.knee_v)


@dataclass
class GmDesign:
    """The design loop's result: the OTA, its first-cut prediction, gm at typical after each round."""

    ota: GmOTA
    targets: GmOTATargets
    prediction: GmPrediction
    rounds_gm_s: list[float]
    typical: GmMeasurement

    @property
    def met(self) -> bool:
        lin = min(abs(self.typical.linear_v[0]), abs(self.typical.linear_v[1]))
        return abs(self.typical.gm_s / self.targets.gm_s - 1) <= GM_TOLERANCE and lin >= self.targets.linear_v


def _scaled(ota: GmOTA, factor: float) -> GmOTA:
    """Every current and width × ``factor`` (same densities, so the same gm/I_D: gm scales with it)."""
    def w(d: Device) -> Device:
        return Device(d.w_um * factor, d.l_um)
    return replace(ota, m1=w(ota.m1), m3=w(ota.m3), m5=w(ota.m5), m8=w(ota.m8), i_ref_a=ota.i_ref_a * factor)


def design_gm_ota(targets: GmOTATargets, runner: Any, choices: GmOTAChoices = GmOTAChoices(),
                  max_rounds: int = 4) -> GmDesign:
    """First cut from the typical device tables, then, at typical: every current and width rescaled by
    target/measured gm (same inversion level) until gm is within :data:`GM_TOLERANCE`; where the linear
    range still falls short, the pair's gm/I_D is lowered in proportion (the range grows as V_ov) and the
    cut is redone."""
    from ..circuits.ota_design import gm_input_for_linear_range

    typical = Gf180mcu()
    tables = device_tables(runner, typical, choices.lengths_um)
    history: list[float] = []
    for _ in range(max_rounds):
        ota, prediction = gm_ota_first_cut(targets, tables, choices)
        for _ in range(max_rounds):
            m = measure(ota, typical, runner, targets.linear_v)
            history.append(m.gm_s)
            if abs(m.gm_s / targets.gm_s - 1) <= GM_TOLERANCE:
                break
            ota = _scaled(ota, targets.gm_s / m.gm_s)
        reach = min(-m.linear_v[0], m.linear_v[1])
        if reach >= targets.linear_v:
            break
        gm_id = min(choices.gm_id_input, gm_input_for_linear_range(targets.linear_v))
        choices = replace(choices, gm_id_input=0.97 * gm_id * reach / targets.linear_v)
    return GmDesign(ota, targets, prediction, history, m)


def pvt_measurements(ota: GmOTA, grid: str, runner: Any, linear_target_v: float) -> list[GmMeasurement]:
    return [measure(ota, point, runner, linear_target_v) for point in pvt_grid(grid)]


@dataclass
class IntegratorCheck:
    """The OTA-C integrator's response to an input step (SI): the transistor circuit's output, the fitted
    macromodel's in the same bench, and the ideal integrator ``gm_target·v_step·t/C`` (000 Eq. 10 without
    leak or offset); slopes (V/s) over the ramp and the largest gaps as fractions of the ramp's swing."""

    time_s: np.ndarray
    transistor_v: np.ndarray
    model_v: np.ndarray
    ideal_v: np.ndarray
    slope_transistor: float
    slope_model: float
    slope_ideal: float
    model_gap: float
    ideal_gap: float
    step_v: float
    t_step_s: float
    t_stop_s: float


def integrator_check(ota: GmOTA, m: GmMeasurement, c_int_f: float, runner: Any, gm_target_s: float,
                     swing_v: float = 0.8) -> IntegratorCheck:
    """The integrator bench (:func:`~analogopt.circuits.ota_benches.integrator_bench`) with the transistor OTA
    and with :func:`fitted_model`, a step of half the linear range, long enough to ramp ``swing_v``."""
    point = m.point
    step = 0.5 * min(abs(m.linear_v[0]), abs(m.linear_v[1]))
    t_step = 0.1 * swing_v * c_int_f / (m.gm_s * step)
    t_stop = t_step + swing_v * c_int_f / (m.gm_s * step)
    runs = {}
    for name, cell in (("transistor", ota), ("model", fitted_model(m))):
        bench = ota_benches.integrator_bench(cell, point, c_int_f, step, t_step, t_stop)
        tran = runner.run(bench.deck).analysis("tran")
        runs[name] = (np.real(np.asarray(tran.axis)), np.real(np.asarray(tran["v(out)"])))
    t, vt = runs["transistor"]
    vm = np.interp(t, *runs["model"])
    vcm = point.supply_v / 2
    ideal = vcm + gm_target_s * step * np.clip(t - t_step, 0, None) / c_int_f
    after = t >= t_step + 0.1 * (t_stop - t_step)

    def slope(v: np.ndarray) -> float:
        return float(np.polyfit(t[after], v[after], 1)[0])

    ramp = max(float(np.ptp(vt[t >= t_step])), 1e-12)
    return IntegratorCheck(t, vt, vm, ideal, slope(vt), slope(vm), slope(ideal),
                           float(np.abs(vt - vm).max() / ramp), float(np.abs(vt - ideal).max() / ramp),
                           step, t_step, t_stop)
