"""Measuring and designing the transistor-level Miller op-amp (:mod:`analogopt.blocks.miller_ota`) in
ngspice with the GF180MCU models: device tables for the sizing, the open-loop gain with a hand
small-signal estimate beside it, step, swing, noise, Monte Carlo offset, the PVT grid, and the design
loop that checks the first cut of :mod:`analogopt.circuits.ota_design` by simulation and corrects it.

The hand estimate reads the operating point ngspice computed (every transistor's gm and gds, scaled by
its fingers) and applies the two-stage formulas: ``A0 = gm2/(gds2 + gds4) · gm6/(gds6 + gds7)``,
``GBW = gm2/(2π·Cc)`` with the drawn Cc, and the second pole ``gm6/(2π·C_L)``. It is what a designer
would compute on paper from the same operating point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..blocks.miller_ota import MillerOTA
from ..circuits import ota_benches
from ..circuits.ota_design import DesignChoices, DeviceTables, GmIdCurve, OTATargets, Prediction, first_cut
from ..pdk.gf180mcu import Gf180mcu, pvt_grid
from .characterization import at_frequency, falling_crossing_hz, phase_deg

#: Tolerance of the settling time (fraction of the step).
SETTLE_TOLERANCE = 1e-3
#: Swing: the output counts as following while it is within this of the ideal gain −1 line (V).
SWING_ERROR_V = 0.01
#: Follower range: the input counts as inside while the follower's error stays within this of its value at
#: mid supply (V); 0.1 mV is a few times the finite-gain error (x/A0 ≈ 30 µV at 1 V), so the gain is still
#: near A0 there
FOLLOW_ERROR_V = 1e-4
#: |V_GS| (V) at which a corner's device strength is read.
STRENGTH_VGS_V = 1.2
#: Frequencies at which the input-referred noise density is quoted (Hz).
NOISE_QUOTE_HZ = (1e3, 1e6)


def _run(runner: Any, bench: ota_benches.Testbench, run_dir: Path | None):
    return runner.run(bench.deck, run_dir=run_dir)


# ----------------------------------------------------------------------------------------- devices
def device_tables(runner: Any, pdk: Gf180mcu, lengths_um: Sequence[float]) -> DeviceTables:
    """gm/I_D tables of the kit's NMOS and PMOS at each length, simulated at ``pdk``."""
    bench = ota_benches.device_table_bench(pdk, lengths_um)
    dc = _run(runner, bench, None).analysis("dc")
    nmos, pmos = {}, {}
    for k, length in enumerate(lengths_um):
        for kind, table in (("n", nmos), ("p", pmos)):
            path = bench.probes[f"{kind}{k}"]
            i_d = np.abs(dc[f"i(@m.{path}[id])"])
            gm, gds = np.abs(dc[f"@m.{path}[gm]"]), np.abs(dc[f"@m.{path}[gds]"])
            with np.errstate(divide="ignore", invalid="ignore"):
                table[float(length)] = GmIdCurve(vgs_v=np.real(dc.axis), gm_id=gm / i_d, id_per_um=i_d / ota_benches.TABLE_W_UM,
                                                 gm_gds=gm / gds)
    return DeviceTables(nmos=nmos, pmos=pmos)


def device_strength(runner: Any, pdk: Gf180mcu) -> tuple[float, float]:
    """Drain current (A) of a W/L = 10/1 µm NMOS and PMOS at |V_GS| = :data:`STRENGTH_VGS_V`, |V_DS| = supply/2: how
    reports label a corner by what its devices do, not by its letters."""
    tables = device_tables(runner, pdk, [1.0])
    out = []
    for curve in (tables.nmos[1.0], tables.pmos[1.0]):
        out.append(float(np.interp(STRENGTH_VGS_V, curve.vgs_v, curve.id_per_um)) * ota_benches.TABLE_W_UM)
    return out[0], out[1]


# ----------------------------------------------------------------------------------------- open loop
@dataclass
class OpenLoop:
    """The open-loop bench at one PVT point (SI units). ``devices``: transistor → its operating point
    (``gm``, ``gds`` summed over fingers; ``id`` of the whole device; ``vds``, ``vdsat``, ``vth``) and
    ``saturated`` (|V_DS| > |V_DSAT|). ``hand_*``: the module docstring's estimate from those numbers.
    ``gain_margin_db`` is None where the phase never reaches −180° below the sweep's top."""

    label: str
    dc_gain_db: float
    gbw_hz: float | None
    pm_deg: float | None
    gain_margin_db: float | None
    supply_a: float
    power_w: float
    v_out_v: float
    hand_gain_db: float
    hand_gbw_hz: float
    hand_p2_hz: float
    devices: dict[str, dict[str, float]]
    freq_hz: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)

    def row(self) -> dict[str, Any]:
        """A flat record (no arrays): one row of a PVT table."""
        return {"point": self.label, "dc_gain_db": self.dc_gain_db, "gbw_hz": self.gbw_hz, "pm_deg": self.pm_deg,
                "gain_margin_db": self.gain_margin_db, "power_w": self.power_w, "v_out_v": self.v_out_v,
                "hand_gain_db": self.hand_gain_db, "hand_gbw_hz": self.hand_gbw_hz,
                "all_saturated": all(d["saturated"] for d in self.devices.values())}


def gain_margin_db(freq_hz: np.ndarray, response: np.ndarray) -> float | None:
    """−|A| in dB where the phase first crosses −180°; None if it does not within the sweep."""
    phase = phase_deg(response)
    below = phase <= -180.0
    if not below.any():
        return None
    i = int(np.argmax(below))
    if i == 0:
        return None
    t = (-180.0 - phase[i - 1]) / (phase[i] - phase[i - 1])
    log_mag = np.log(np.abs(response[i - 1 : i + 1]))
    return float(-20 / math.log(10) * (log_mag[0] + t * (log_mag[1] - log_mag[0])))


def measure_open_loop(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any,
                      run_dir: Path | None = None) -> OpenLoop:
    bench = ota_benches.open_loop_bench(ota, pdk, c_load_f)
    result = _run(runner, bench, run_dir)
    op, ac = result.analysis("op"), result.analysis("ac")
    freq = np.real(ac.axis)
    gain = ac["v(out)"] / (ac["v(inp)"] - ac["v(inn)"])
    magnitude = np.abs(gain)
    gbw = falling_crossing_hz(freq, magnitude, 1.0)
    pm = None if gbw is None else 180.0 + at_frequency(freq, phase_deg(gain), gbw)
    devices = {}
    for name, (path, fingers) in ota_benches.device_paths(ota).items():
        q = {k: float(np.real(op[f"i(@m.{path}[{k}])" if k == "id" else f"@m.{path}[{k}]"][0]))
             for k in ota_benches.OP_QUANTITIES}
        q["gm"], q["gds"], q["id"] = q["gm"] * fingers, q["gds"] * fingers, q["id"] * fingers
        q["saturated"] = abs(q["vds"]) > abs(q["vdsat"])
        q["fingers"] = fingers
        devices[name] = q
    d = devices
    stage1 = d["M2"]["gm"] / (d["M2"]["gds"] + d["M4"]["gds"])
    stage2 = d["M6"]["gm"] / (d["M6"]["gds"] + d["M7"]["gds"])
    supply = -float(np.real(op["i(vdd)"][0]))
    return OpenLoop(
        label=pdk.label, dc_gain_db=float(20 * np.log10(magnitude[0])), gbw_hz=gbw, pm_deg=pm,
        gain_margin_db=gain_margin_db(freq, gain), supply_a=supply, power_w=supply * pdk.supply_v,
        v_out_v=float(np.real(op["v(out)"][0])), hand_gain_db=20 * math.log10(stage1 * stage2),
        hand_gbw_hz=d["M2"]["gm"] / (2 * math.pi * ota.cc_f), hand_p2_hz=d["M6"]["gm"] / (2 * math.pi * c_load_f),
        devices=devices, freq_hz=freq, response=gain)


def failures(ol: OpenLoop, targets: OTATargets) -> list[str]:
    """Which targets this point misses, one phrase each (empty: all met)."""
    out = []
    if ol.dc_gain_db < targets.gain_db:
        out.append(f"DC gain {ol.dc_gain_db:.1f} dB < {targets.gain_db:g} dB")
    if ol.gbw_hz is None or ol.gbw_hz < targets.gbw_hz:
        out.append(f"GBW {0 if ol.gbw_hz is None else ol.gbw_hz / 1e6:.2f} MHz < {targets.gbw_hz / 1e6:g} MHz")
    if ol.pm_deg is None or ol.pm_deg < targets.pm_deg:
        out.append(f"phase margin {float('nan') if ol.pm_deg is None else ol.pm_deg:.1f}° < {targets.pm_deg:g}°")
    if ol.gain_margin_db is not None and ol.gain_margin_db <= 0:
        out.append(f"gain margin {ol.gain_margin_db:.1f} dB ≤ 0")
    return out


def pvt_sweep(ota: MillerOTA, grid: Sequence[Gf180mcu], c_load_f: float, runner: Any,
              progress: Callable[[int, int], None] | None = None) -> list[OpenLoop]:
    """The open-loop bench at every point of ``grid``."""
    out = []
    for k, point in enumerate(grid):
        out.append(measure_open_loop(ota, point, c_load_f, runner))
        if progress is not None:
            progress(k + 1, len(grid))
    return out


# ----------------------------------------------------------------------------------------- design
@dataclass
class DesignRound:
    """One round of the design loop: the choices, the first cut they gave, its prediction, and the worst
    measured numbers over the grid."""

    choices: DesignChoices
    ota: MillerOTA
    prediction: Prediction
    worst_gain_db: float
    worst_gbw_hz: float
    worst_pm_deg: float
    misses: list[str]


@dataclass
class Design:
    ota: MillerOTA
    targets: OTATargets
    rounds: list[DesignRound]
    grid: list[OpenLoop]

    @property
    def met(self) -> bool:
        return not self.rounds[-1].misses


#: Margin the design loop keeps above each target at the grid's worst point (GBW ×, PM and gain in ° / dB).
DESIGN_MARGIN = {"gbw": 1.15, "pm_deg": 3.0, "gain_db": 3.0}


def design_miller_ota(targets: OTATargets, runner: Any, choices: DesignChoices = DesignChoices(), *,
                      grid: str = "reduced", max_rounds: int = 5) -> Design:
    """First cut from the typical device tables, then simulation over ``grid``; while the worst point
    misses a target by less than :data:`DESIGN_MARGIN`, the choice that sets it is raised (GBW:
    ``gbw_margin``; phase margin: ``p2_ratio``; gain: every length × 1.5) and the cut is redone."""
    typical = Gf180mcu()
    points = pvt_grid(grid)
    rounds: list[DesignRound] = []
    for _ in range(max_rounds):
        tables = device_tables(runner, typical, choices.lengths_um)
        ota, prediction = first_cut(targets, tables, choices)
        sweep = pvt_sweep(ota, points, targets.c_load_f, runner)
        worst_gain = min(s.dc_gain_db for s in sweep)
        worst_gbw = min(s.gbw_hz or 0.0 for s in sweep)
        worst_pm = min(s.pm_deg if s.pm_deg is not None else -180.0 for s in sweep)
        misses = [f"{s.label}: {m}" for s in sweep for m in failures(s, targets)]
        rounds.append(DesignRound(choices, ota, prediction, worst_gain, worst_gbw, worst_pm, misses))
        changes: dict[str, float] = {}
        if worst_gbw < DESIGN_MARGIN["gbw"] * targets.gbw_hz:
            changes["gbw_margin"] = choices.gbw_margin * DESIGN_MARGIN["gbw"] * targets.gbw_hz / max(worst_gbw, 1.0)
        if worst_pm < targets.pm_deg + DESIGN_MARGIN["pm_deg"]:
            changes["p2_ratio"] = choices.p2_ratio * 1.3
        if worst_gain < targets.gain_db + DESIGN_MARGIN["gain_db"]:
            changes.update(l_input_um=choices.l_input_um * 1.5, l_mirror_um=choices.l_mirror_um * 1.5,
                           l_sink_um=choices.l_sink_um * 1.5)
        if not changes:
            return Design(ota, targets, rounds, sweep)
        choices = replace(choices, **changes)
    return Design(ota, targets, rounds, sweep)


# ----------------------------------------------------------------------------------------- other benches
@dataclass
class StepResponse:
    """Follower step (SI): slew rates up and down (20–80 %), settling time to :data:`SETTLE_TOLERANCE`
    of the step after the rising edge, overshoot (fraction of the step), supply energy over the run (J)."""

    slew_up_v_per_s: float | None
    slew_down_v_per_s: float | None
    settling_s: float | None
    overshoot: float
    energy_j: float
    time_s: np.ndarray = field(repr=False)
    v_in: np.ndarray = field(repr=False)
    v_out: np.ndarray = field(repr=False)


def _slope_20_80(t: np.ndarray, v: np.ndarray, start: float, end: float) -> float | None:
    span = end - start
    levels = [start + 0.2 * span, start + 0.8 * span]
    crossings = []
    for level in levels:
        s = np.sign(v - level) * np.sign(span)
        idx = np.nonzero(s >= 0)[0]
        if len(idx) == 0 or idx[0] == 0:
            return None
        i = idx[0]
        crossings.append(t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1]))
    dt = crossings[1] - crossings[0]
    return None if dt <= 0 else abs(0.6 * span) / dt


def step_response(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any, *, step_v: float = 1.0,
                  gbw_hz: float = 5e6, run_dir: Path | None = None) -> StepResponse:
    from .energy import energy_j

    stop = ota_benches.step_time_s(gbw_hz)
    bench = ota_benches.step_bench(ota, pdk, c_load_f, step_v, stop)
    tran = _run(runner, bench, run_dir).analysis("tran")
    t, vin, vout = tran.axis, tran["v(inp)"], tran["v(out)"]
    lv = bench.levels
    rise, fall = lv["rise_at_s"], lv["fall_at_s"]
    up = (t >= rise) & (t < fall)
    down = t >= fall
    final = float(vout[up][-1])
    err = np.abs(vout[up] - final)
    outside = np.nonzero(err > SETTLE_TOLERANCE * step_v)[0]
    settling = None if len(outside) == 0 else float(t[up][outside[-1]] - rise)
    overshoot = max(0.0, float(np.max(vout[up]) - final) / step_v)
    energy = energy_j(t, np.full_like(t, pdk.supply_v), -tran["i(vdd)"])
    return StepResponse(slew_up_v_per_s=_slope_20_80(t[up], vout[up], lv["low_v"], lv["high_v"]),
                        slew_down_v_per_s=_slope_20_80(t[down], vout[down], lv["high_v"], lv["low_v"]),
                        settling_s=settling, overshoot=overshoot, energy_j=energy, time_s=t, v_in=vin, v_out=vout)


def output_swing(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any,
                 run_dir: Path | None = None) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(lowest, highest output in V that stays within :data:`SWING_ERROR_V` of the gain −1 line, the input
    sweep, the output)."""
    bench = ota_benches.swing_bench(ota, pdk, c_load_f)
    dc = _run(runner, bench, run_dir).analysis("dc")
    vin, vout = np.real(dc.axis), np.real(dc["v(out)"])
    vcm = bench.levels["v_cm"]
    ideal = 2 * vcm - vin
    ok = np.abs(vout - ideal) <= SWING_ERROR_V
    if not ok.any():
        return math.nan, math.nan, vin, vout
    return float(vout[ok].min()), float(vout[ok].max()), vin, vout


def follower_sweep(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any,
                   run_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) in V of the unity-gain follower with its input swept over the supply."""
    dc = _run(runner, ota_benches.follower_bench(ota, pdk, c_load_f), run_dir).analysis("dc")
    return np.real(np.asarray(dc.axis)), np.real(np.asarray(dc["v(out)"]))


def follower_range(vin: np.ndarray, vout: np.ndarray, v_mid: float,
                   tolerance_v: float = FOLLOW_ERROR_V) -> tuple[float, float]:
    """(lowest, highest input in V) of a :func:`follower_sweep` over which the output stays within
    ``tolerance_v`` of its input plus the offset it has at ``v_mid`` (mid supply): the input common-mode
    range (the NMOS pair's tail needs headroom above the negative rail) and the output swing together,
    the one contiguous stretch about mid supply; NaNs when the follower does not follow at mid supply."""
    mid = int(np.argmin(np.abs(vin - v_mid)))
    ok = np.abs(vout - vin - (vout[mid] - vin[mid])) <= tolerance_v
    if not ok[mid]:
        return math.nan, math.nan
    bad = np.nonzero(~ok)[0]
    below, above = bad[bad < mid], bad[bad > mid]
    lo = below[-1] + 1 if below.size else 0
    hi = above[0] - 1 if above.size else len(vin) - 1
    return float(vin[lo]), float(vin[hi])


@dataclass(frozen=True)
class StaticTransfer:
    """The op-amp's DC input–output characteristic from two sweeps: ``v_d(out, cm)``, the differential
    input (inp − inn, V) that holds the output at ``out`` with the inputs at common mode ``cm`` (both V
    about mid supply). The unloaded gain −1 amplifier (:func:`~analogopt.circuits.ota_benches.transfer_bench`,
    inputs at mid supply) gives its output dependence, the follower (output = common mode) the common mode's on
    top; the two are taken to add (``v_d(o, c) = v_out(o) + v_follower(c) − v_out(c)``)."""

    out_v: np.ndarray
    vd_out_v: np.ndarray
    cm_v: np.ndarray
    vd_follower_v: np.ndarray

    def vd(self, out: np.ndarray, cm: np.ndarray) -> np.ndarray:
        """``v_d`` (V) at outputs ``out`` and common modes ``cm`` (V about mid supply)."""
        at_out = np.interp(out, self.out_v, self.vd_out_v)
        return at_out + np.interp(cm, self.cm_v, self.vd_follower_v) - np.interp(cm, self.out_v, self.vd_out_v)


def static_transfer(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any, options: dict[str, float],
                    run_dir: Path | None = None) -> tuple[StaticTransfer, tuple[np.ndarray, np.ndarray]]:
    """:class:`StaticTransfer` of ``ota`` at ``pdk`` from the unloaded gain −1 and follower sweeps, each run with
    ``options`` added (tight tolerances resolve the µV inputs), and the follower's (input, output) in V."""
    mid = pdk.supply_v / 2
    runs = {}
    for bench in (ota_benches.transfer_bench(ota, pdk, c_load_f), ota_benches.follower_bench(ota, pdk, c_load_f)):
        bench = replace(bench, deck=replace(bench.deck, options={**bench.deck.options, **options}))
        runs[bench.analysis] = _run(runner, bench, None if run_dir is None else run_dir / bench.analysis).analysis("dc")
    swing, follower = runs["transfer"], runs["follower"]
    out = np.real(np.asarray(swing["v(out)"]))
    vd_out = np.real(np.asarray(swing["v(cm)"])) - np.real(np.asarray(swing["v(inn)"]))
    order = np.argsort(out)  # the gain −1 amplifier's output falls as its input rises
    vin, vout = np.real(np.asarray(follower.axis)), np.real(np.asarray(follower["v(out)"]))
    return StaticTransfer(out[order] - mid, vd_out[order], vin - mid, vin - vout), (vin, vout)


def common_mode_offset(vin: np.ndarray, vout: np.ndarray, v_mid: float, gain: float,
                       span: tuple[float, float]) -> tuple[float, float]:
    """(offset at mid supply in V, d offset / d common mode) fitted over ``span`` (V, absolute) of a
    :func:`follower_sweep`: the follower's error ``out − in`` is ``V_os(v_cm) − (out − v_mid)/A0``, so
    adding back the finite-gain term leaves the input offset, whose slope with the common mode is 1/CMRR."""
    inside = (vin >= span[0]) & (vin <= span[1])
    vos = vout - vin + (vout - v_mid) / gain
    slope, at_mid = np.polyfit(vin[inside] - v_mid, vos[inside], 1)
    return float(at_mid), float(slope)


def input_noise(ota: MillerOTA, pdk: Gf180mcu, runner: Any, run_dir: Path | None = None) -> dict[float, float]:
    """Input-referred noise density (V/√Hz) at :data:`NOISE_QUOTE_HZ`."""
    bench = ota_benches.noise_bench(ota, pdk)
    result = _run(runner, bench, run_dir)
    plot = next(p for p in result.plots if p.analysis == "noise" and "inoise_spectrum" in p)
    freq, density = np.real(plot.axis), np.abs(plot["inoise_spectrum"])
    return {f: at_frequency(freq, density, f, log_values=True) for f in NOISE_QUOTE_HZ}


def offset_monte_carlo(ota: MillerOTA, pdk: Gf180mcu, runner: Any, samples: int, first_seed: int = 1) -> np.ndarray:
    """Input offsets (V) of ``samples`` mismatch draws of the kit's statistics (seeds ``first_seed`` …),
    each the follower's v(out) − v(inp); index 0 … samples−1."""
    out = np.empty(samples)
    for k in range(samples):
        point = pdk.at(statistical="mismatch", seed=first_seed + k)
        op = _run(runner, ota_benches.offset_bench(ota, point), None).analysis("op")
        out[k] = float(np.real(op["v(out)"][0] - op["v(inp)"][0]))
    return out


def systematic_offset_v(ota: MillerOTA, pdk: Gf180mcu, runner: Any) -> float:
    op = _run(runner, ota_benches.offset_bench(ota, pdk.at(statistical="none", seed=None)), None).analysis("op")
    return float(np.real(op["v(out)"][0] - op["v(inp)"][0]))
