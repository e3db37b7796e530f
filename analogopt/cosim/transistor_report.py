"""``analogopt characterize gf180_opamp``: design the two-stage Miller op-amp for the targets, measure it at
one PVT point (a datasheet page whose analytic column is the hand small-signal estimate from ngspice's
operating point), and optionally over a PVT grid; the files it writes.

Files: ``ota.sub`` (the sized subcircuit, for export), ``netlist_<bench>.cir``, ``characterization.json``,
``report.md``, ``pvt.csv`` (with a grid), ``bode.png`` (open loop, hand estimate dashed, difference
panel; every grid point in grey), ``step.png`` (follower step, input dashed, error panel).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..circuits import ota_benches
from ..circuits.ota_design import DesignChoices, OTATargets
from ..pdk.gf180mcu import Gf180mcu, pvt_grid
from . import transistor_ota as t
from .transistor_fit import FitCheck, check_fit

#: Offset Monte Carlo draws of a datasheet page.
DEFAULT_MC_SAMPLES = 20


@dataclass
class Datasheet:
    targets: OTATargets
    point: Gf180mcu
    design: t.Design
    open_loop: t.OpenLoop
    step: t.StepResponse
    swing_v: tuple[float, float]
    follower_v: tuple[float, float]
    #: d(input offset)/d(common mode) over the follower range (V/V; 1/CMRR)
    offset_per_cm: float
    noise_v_per_rthz: dict[float, float]
    systematic_offset_v: float
    mc_offsets_v: np.ndarray
    strength_a: tuple[float, float]
    strength_typical_a: tuple[float, float]
    pvt: list[t.OpenLoop] | None
    pvt_misses: list[str]
    fit: FitCheck

    def quantities(self) -> list[tuple[str, str, str, float | None, float | None]]:
        """(key, label, unit, measured, hand estimate) rows of the datasheet table."""
        ol, st = self.open_loop, self.step
        a0 = 10 ** (ol.hand_gain_db / 20)
        pm_hand = 90.0 - math.degrees(math.atan(ol.hand_gbw_hz / ol.hand_p2_hz))
        return [
            ("dc_gain_db", "DC gain", "dB", ol.dc_gain_db, ol.hand_gain_db),
            ("dc_gain_v_per_v", "DC gain", "V/V", 10 ** (ol.dc_gain_db / 20), a0),
            ("gbw_hz", f"unity-gain frequency into {self.targets.c_load_f * 1e12:g} pF", "Hz", ol.gbw_hz, ol.hand_gbw_hz),
            ("phase_margin_deg", "phase margin (β = 1)", "°", ol.pm_deg, pm_hand),
            ("gain_margin_db", "gain margin (β = 1)", "dB", ol.gain_margin_db, None),
            ("second_pole_hz", "second pole gm6/(2π·C_L)", "Hz", None, ol.hand_p2_hz),
            ("slew_up_v_per_s", "slew rate, rising (20–80 %)", "V/s", st.slew_up_v_per_s,
             ol.devices["M5"]["id"] / self.design.ota.cc_f),
            ("slew_down_v_per_s", "slew rate, falling (20–80 %)", "V/s", st.slew_down_v_per_s, None),
            ("settling_s", f"settling to {t.SETTLE_TOLERANCE:.1%} of a 1 V step", "s", st.settling_s, None),
            ("overshoot", "overshoot of the step (fraction)", "", st.overshoot, None),
            ("output_low_v", f"output swing, low (within {t.SWING_ERROR_V * 1e3:g} mV of gain −1)", "V", self.swing_v[0], None),
            ("output_high_v", f"output swing, high (within {t.SWING_ERROR_V * 1e3:g} mV of gain −1)", "V", self.swing_v[1], None),
            ("follower_low_v", f"unity-gain follower range, low (within {t.FOLLOW_ERROR_V * 1e3:g} mV of its "
             "error at mid supply: input common-mode range ∩ swing)", "V", self.follower_v[0], None),
            ("follower_high_v", f"unity-gain follower range, high (within {t.FOLLOW_ERROR_V * 1e3:g} mV)", "V",
             self.follower_v[1], None),
            ("cmrr_db", "DC common-mode rejection over the follower range (from the offset's slope)", "dB",
             -20 * math.log10(abs(self.offset_per_cm)) if self.offset_per_cm else None, None),
            ("noise_input_v_per_rthz_at_1khz", "input-referred noise at 1 kHz", "V/√Hz", self.noise_v_per_rthz[1e3], None),
            ("noise_input_v_per_rthz_at_1mhz", "input-referred noise at 1 MHz", "V/√Hz", self.noise_v_per_rthz[1e6], None),
            ("systematic_offset_v", "systematic input offset (nominal models)", "V", self.systematic_offset_v, None),
            ("offset_sigma_v", f"input offset σ, Monte Carlo of mismatch ({len(self.mc_offsets_v)} draws)", "V",
             float(np.std(self.mc_offsets_v, ddof=1)) if len(self.mc_offsets_v) > 1 else None, None),
            ("supply_current_a", "quiescent supply current", "A", ol.supply_a, None),
            ("quiescent_power_w", "quiescent power", "W", ol.power_w, None),
            ("step_energy_j", f"supply energy over the step bench ({st.time_s[-1] * 1e6:.3g} µs)", "J", st.energy_j,
             ol.power_w * float(st.time_s[-1])),
        ]


def characterize(targets: OTATargets, point: Gf180mcu, runner: Any, *, pvt: str | None = None,
                 mc_samples: int = DEFAULT_MC_SAMPLES, choices: DesignChoices = DesignChoices(),
                 stage: Callable[[str], None] = lambda s: None) -> Datasheet:
    """Design for ``targets`` (first cut, checked over the reduced grid), then measure at ``point``
    and, with ``pvt`` (``reduced`` or ``full``), over that grid."""
    stage("design: device tables, first cut, reduced PVT grid")
    design = t.design_miller_ota(targets, runner, choices)
    ota = design.ota
    stage(f"open loop at {point.label}")
    ol = t.measure_open_loop(ota, point, targets.c_load_f, runner)
    stage("step, swing, noise")
    step = t.step_response(ota, point, targets.c_load_f, runner, gbw_hz=targets.gbw_hz)
    low, high, _, _ = t.output_swing(ota, point, targets.c_load_f, runner)
    vin, vout = t.follower_sweep(ota, point, targets.c_load_f, runner)
    follower = t.follower_range(vin, vout, point.supply_v / 2)
    cm_offset = t.common_mode_offset(vin, vout, point.supply_v / 2, 10 ** (ol.dc_gain_db / 20), follower)
    noise = t.input_noise(ota, point, runner)
    stage(f"offset: nominal and {mc_samples} mismatch draws")
    sys_off = t.systematic_offset_v(ota, point, runner)
    mc = t.offset_monte_carlo(ota, point, runner, mc_samples) if mc_samples > 0 else np.empty(0)
    strength = t.device_strength(runner, point)
    strength_typ = t.device_strength(runner, point.at(corner="typical"))
    stage("fitted macromodel: follower step and AC")
    fit = check_fit(ota, point, targets.c_load_f, runner, gbw_hz=targets.gbw_hz)
    sweep, misses = None, []
    if pvt is not None:
        grid = pvt_grid(pvt)
        stage(f"PVT grid: {len(grid)} points")
        sweep = t.pvt_sweep(ota, grid, targets.c_load_f, runner)
        misses = [f"{s.label}: {m}" for s in sweep for m in t.failures(s, targets)]
    return Datasheet(targets, point, design, ol, step, (low, high), follower, cm_offset[1], noise, sys_off, mc, strength, strength_typ,
                     sweep, misses, fit)


# ----------------------------------------------------------------------------------------- figures
def _two_pole(ol: t.OpenLoop) -> np.ndarray:
    a0 = 10 ** (ol.hand_gain_db / 20)
    p1 = ol.hand_gbw_hz / a0
    s = 1j * ol.freq_hz
    return a0 / ((1 + s / p1) * (1 + s / ol.hand_p2_hz))


def bode_figure(ds: Datasheet):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .characterization import phase_deg

    ol = ds.open_loop
    hand = _two_pole(ol)
    fig, (ax_g, ax_p, ax_d) = plt.subplots(3, 1, figsize=(7, 8), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 3, 2]})
    for k, s in enumerate(ds.pvt or []):
        kw = {"color": "0.75", "lw": 0.6, "label": f"PVT grid ({len(ds.pvt)} points)" if k == 0 else None}
        ax_g.semilogx(s.freq_hz, 20 * np.log10(np.abs(s.response)), **kw)
        ax_p.semilogx(s.freq_hz, phase_deg(s.response), **kw)
    ax_g.semilogx(ol.freq_hz, 20 * np.log10(np.abs(ol.response)), lw=2, label=f"ngspice, {ol.label}")
    ax_g.semilogx(ol.freq_hz, 20 * np.log10(np.abs(hand)), "k--", lw=1, label="hand estimate (two poles)")
    ax_p.semilogx(ol.freq_hz, phase_deg(ol.response), lw=2, label="ngspice")
    ax_p.semilogx(ol.freq_hz, phase_deg(hand), "k--", lw=1, label="hand estimate")
    ax_d.semilogx(ol.freq_hz, 20 * np.log10(np.abs(ol.response) / np.abs(hand)), color="C3")
    if ol.gbw_hz is not None:
        for ax in (ax_g, ax_p, ax_d):
            ax.axvline(ol.gbw_hz, color="C3", lw=0.8, ls=":")
        ax_g.plot([ol.gbw_hz], [0.0], "o", color="C3", label=f"GBW {ol.gbw_hz / 1e6:.3g} MHz")
    if ol.pm_deg is not None:
        ax_p.axhline(-180, color="0.5", lw=0.8)
        ax_p.plot([ol.gbw_hz], [ol.pm_deg - 180], "s", color="C2", label=f"phase margin {ol.pm_deg:.1f}°")
    ax_g.set_ylabel("gain (dB)")
    ax_p.set_ylabel("phase (°)")
    ax_d.set_ylabel("ngspice − hand (dB)")
    ax_d.set_xlabel("frequency (Hz)")
    ax_g.set_title(f"GF180MCU two-stage Miller op-amp, open loop into {ds.targets.c_load_f * 1e12:g} pF", fontsize=10)
    for ax in (ax_g, ax_p, ax_d):
        ax.grid(alpha=0.3, which="both")
    ax_g.legend(fontsize=8)
    ax_p.legend(fontsize=8)
    return fig


def step_figure(ds: Datasheet):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = ds.step
    fig, (ax, ax_e) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    us = st.time_s * 1e6
    ax.plot(us, st.v_in, "k--", lw=1, label="input")
    ax.plot(us, st.v_out, lw=2, label="output (ngspice, transistors)")
    ax.plot(us, ds.fit.v_macro, lw=1, color="C1", label="output (fitted macromodel)")
    ax_e.plot(us, (st.v_out - st.v_in) * 1e3, color="C3", label="transistors − input")
    ax_e.plot(us, (ds.fit.v_macro - st.v_out) * 1e3, color="C1", label="macromodel − transistors")
    ax_e.legend(fontsize=8)
    ax.set_ylabel("voltage (V)")
    ax_e.set_ylabel("difference (mV)")
    ax_e.set_xlabel("time (µs)")
    ax.set_title(f"unity-gain follower, 1 V step into {ds.targets.c_load_f * 1e12:g} pF, {ds.point.label}", fontsize=10)
    for a in (ax, ax_e):
        a.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------- files
def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _relative(measured: float | None, hand: float | None) -> float | None:
    if measured is None or hand is None or not (math.isfinite(measured) and math.isfinite(hand)) or hand == 0:
        return None
    return (measured - hand) / abs(hand)


def pvt_csv(ds: Datasheet) -> str:
    buf = io.StringIO()
    rows = [s.row() for s in ds.pvt or []]
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["point"])
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def datasheet_json(ds: Datasheet) -> dict[str, Any]:
    ota = ds.design.ota
    data: dict[str, Any] = {
        key: {"label": label, "unit": unit, "measured": measured, "hand_estimate": hand,
              "relative_difference": _relative(measured, hand)}
        for key, label, unit, measured, hand in ds.quantities()}
    data.update(
        block="gf180_opamp", subcircuit=ota.name, pdk=ds.point.record(), targets=asdict(ds.targets),
        sizing=asdict(ota), mirror_ratios=list(ota.mirror_ratios),
        operating_point=ds.open_loop.devices,
        design_rounds=[{"choices": asdict(r.choices), "prediction": asdict(r.prediction),
                        "worst_gain_db": r.worst_gain_db, "worst_gbw_hz": r.worst_gbw_hz,
                        "worst_pm_deg": r.worst_pm_deg, "misses": r.misses} for r in ds.design.rounds],
        device_strength={"nmos_a": ds.strength_a[0], "pmos_a": ds.strength_a[1],
                         "nmos_vs_typical": ds.strength_a[0] / ds.strength_typical_a[0] - 1,
                         "pmos_vs_typical": ds.strength_a[1] / ds.strength_typical_a[1] - 1},
        mc_offsets_v=ds.mc_offsets_v.tolist(),
        pvt=None if ds.pvt is None else [s.row() for s in ds.pvt], pvt_misses=ds.pvt_misses,
        targets_met_at_point=not t.failures(ds.open_loop, ds.targets),
        macromodel={"opamp": {k: v for k, v in asdict(ds.fit.model).items() if v is not None},
                    "step_error_fraction": ds.fit.step_error, "closed_loop_ac_error_db": ds.fit.ac_error_db},
    )
    return data


def report_markdown(ds: Datasheet, figures: list[str]) -> str:
    ota, ol, tg = ds.design.ota, ds.open_loop, ds.targets
    n_rel, p_rel = ds.strength_a[0] / ds.strength_typical_a[0] - 1, ds.strength_a[1] / ds.strength_typical_a[1] - 1
    lines = [
        "# GF180MCU two-stage Miller op-amp", "",
        f"Point: **{ds.point.label}** (corner `{ds.point.corner}`: NMOS {n_rel:+.0%}, PMOS {p_rel:+.0%} drain current "
        f"against typical at |V_GS| = {t.STRENGTH_VGS_V:g} V, W/L = 10/1 µm). Targets: DC gain ≥ {tg.gain_db:g} dB, "
        f"GBW ≥ {tg.gbw_hz / 1e6:g} MHz into {tg.c_load_f * 1e12:g} pF, phase margin ≥ {tg.pm_deg:g}°, gain margin > 0.",
        "", f"Subcircuit `{ota.name}` in `ota.sub`; GF180MCU models {ds.point.record()['version']} from `{ds.point.models}`.",
        "", "## Datasheet", "",
        "Measured in ngspice; the hand estimate applies the two-stage formulas to the operating point ngspice "
        "computed (table below): A0 = gm2/(gds2+gds4)·gm6/(gds6+gds7), GBW = gm2/(2π·Cc), p2 = gm6/(2π·C_L), "
        "PM = 90° − atan(GBW/p2), slew = I_D5/Cc, energy = quiescent power × time.", "",
        "| quantity | measured | hand estimate | difference | unit |", "|---|---|---|---|---|"]
    for _, label, unit, measured, hand in ds.quantities():
        rel = _relative(measured, hand)
        lines.append(f"| {label} | {_fmt(measured)} | {_fmt(hand)} | {'' if rel is None else f'{rel:+.1%}'} | {unit} |")
    lines += ["", "## Sizing", "",
              "| device | W (µm) | L (µm) | fingers | I_D (µA) | gm (µS) | gds (µS) | V_DS (V) | V_DSAT (V) | saturated |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    sizes = {"M1": ota.m1, "M2": ota.m1, "M3": ota.m3, "M4": ota.m3, "M5": ota.m5, "M6": ota.m6, "M7": ota.m7,
             "M8": ota.m8}
    for name, dev in sizes.items():
        q = ol.devices[name]
        lines.append(f"| {name} | {dev.w_um:.3g} | {dev.l_um:.3g} | {q['fingers']} | {abs(q['id']) * 1e6:.3g} | "
                     f"{q['gm'] * 1e6:.4g} | {q['gds'] * 1e6:.3g} | {q['vds']:.3f} | {q['vdsat']:.3f} | "
                     f"{'yes' if q['saturated'] else '**no**'} |")
    lines += ["", f"I_ref = {ota.i_ref_a * 1e6:.3g} µA (ideal source: the bias generator is outside the cell), "
              f"Cc = {ota.cc_f * 1e12:.3g} pF (MIM), Rz = {ota.rz_ohm / 1e3:.3g} kΩ (poly).", "",
              "## Design rounds", "",
              "| round | gbw_margin | p2_ratio | L in/mirror/sink (µm) | predicted gain (dB) | worst gain (dB) | "
              "worst GBW (MHz) | worst PM (°) | misses |", "|---|---|---|---|---|---|---|---|---|"]
    for k, r in enumerate(ds.design.rounds, 1):
        c = r.choices
        lines.append(f"| {k} | {c.gbw_margin:.3g} | {c.p2_ratio:.3g} | {c.l_input_um:g}/{c.l_mirror_um:g}/{c.l_sink_um:g} | "
                     f"{r.prediction.gain_db:.1f} | {r.worst_gain_db:.1f} | {r.worst_gbw_hz / 1e6:.2f} | "
                     f"{r.worst_pm_deg:.1f} | {len(r.misses)} |")
    lines += ["", "Design notes of the last round: " + "; ".join(ds.design.rounds[-1].prediction.notes) + "."]
    m, fit = ds.fit.model, ds.fit
    lines += ["", "## Fitted macromodel", "",
              "For `[circuit.opamp]` / `[settling.opamp]` tables (`analogopt/blocks/opamp.py`), fitted at this point: "
              f"`kind = \"two_pole\"`, `gain = {m.gain:.5g}`, `gbw_hz = {m.gbw_hz:.5g}`, "
              f"`second_pole_hz = {m.second_pole_hz:.5g}`, `slew_v_per_s = {_fmt(m.slew_v_per_s)}`, "
              f"`v_low = {_fmt(m.v_low)}`, `v_high = {_fmt(m.v_high)}`, `offset_v = {m.offset_v:.3g}`.", "",
              f"Against the transistors in the unity-gain follower: largest step difference "
              f"{fit.step_error:.2%} of the 1 V step at any instant (`step.png`), closed-loop AC within "
              f"{fit.ac_error_db:.2f} dB below 3·GBW."]
    if ds.pvt is not None:
        lines += ["", f"## PVT grid ({len(ds.pvt)} points, `pvt.csv`)", "",
                  "| point | DC gain (dB) | GBW (MHz) | PM (°) | GM (dB) | power (mW) | hand gain (dB) | hand GBW (MHz) |",
                  "|---|---|---|---|---|---|---|---|"]
        for s in ds.pvt:
            lines.append(f"| {s.label} | {s.dc_gain_db:.1f} | {_fmt(None if s.gbw_hz is None else s.gbw_hz / 1e6)} | "
                         f"{_fmt(s.pm_deg)} | {_fmt(s.gain_margin_db)} | {s.power_w * 1e3:.3f} | {s.hand_gain_db:.1f} | "
                         f"{s.hand_gbw_hz / 1e6:.2f} |")
        lines += ["", "All targets met at every point." if not ds.pvt_misses else
                  "Targets missed: " + "; ".join(ds.pvt_misses) + "."]
    lines += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def write_results(ds: Datasheet, out: Any) -> list[str]:
    ota, point, tg = ds.design.ota, ds.point, ds.targets
    out.write_text("ota.sub", ota.subckt())
    benches = [ota_benches.open_loop_bench(ota, point, tg.c_load_f),
               ota_benches.step_bench(ota, point, tg.c_load_f, 1.0, ota_benches.step_time_s(tg.gbw_hz)),
               ota_benches.swing_bench(ota, point, tg.c_load_f), ota_benches.follower_bench(ota, point, tg.c_load_f),
               ota_benches.noise_bench(ota, point),
               ota_benches.offset_bench(ota, point)]
    for bench in benches:
        out.write_text(f"netlist_{bench.analysis}.cir", bench.deck.format())
    figures = ["bode.png", "step.png"]
    out.save_figure("bode.png", bode_figure(ds))
    out.save_figure("step.png", step_figure(ds))
    if ds.pvt is not None:
        out.write_text("pvt.csv", pvt_csv(ds))
    out.write_json("characterization.json", datasheet_json(ds))
    out.write_text("report.md", report_markdown(ds, figures))
    return figures


def summary_line(ds: Datasheet) -> str:
    ol = ds.open_loop
    text = (f"GF180MCU Miller op-amp at {ds.point.label}: DC gain {ol.dc_gain_db:.1f} dB (hand {ol.hand_gain_db:.1f}), "
            f"GBW {_fmt(None if ol.gbw_hz is None else ol.gbw_hz / 1e6)} MHz (hand {ol.hand_gbw_hz / 1e6:.3g}), "
            f"phase margin {_fmt(ol.pm_deg)}°, {ol.power_w * 1e3:.3g} mW")
    if ds.pvt is not None:
        text += f"; PVT grid {len(ds.pvt)} points: " + ("all targets met" if not ds.pvt_misses else
                                                         f"{len(ds.pvt_misses)} misses")
    return text
