"""The datasheet of the integrator's five-transistor OTA (``analogopt characterize gf180_ota``): the design
loop, every measurement beside its hand estimate or target, the fitted :class:`~analogopt.blocks.ota.OTAModel`
(the table a macro-level integrator takes), the OTA-C integrator against that model and against 000 Eq. 10,
and optionally a PVT grid. Files: ``report.md``, ``characterization.json``, ``transfer.png``,
``integrator.png``, ``ota.sub``, the benches' decks, ``pvt.csv`` with a grid."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..circuits import ota_benches
from ..circuits.ota_design import GmOTATargets
from ..pdk.gf180mcu import Gf180mcu
from . import transistor_gm_ota as g


@dataclass
class GmDatasheet:
    targets: GmOTATargets
    point: Gf180mcu
    c_int_f: float
    design: g.GmDesign
    measured: g.GmMeasurement
    integrator: g.IntegratorCheck
    pvt: list[g.GmMeasurement] | None

    @property
    def model(self):
        return g.fitted_model(self.measured)

    def quantities(self) -> list[tuple[str, str, str, float | None, float | None, str]]:
        """(key, label, unit, measured, reference, what the reference is) rows of the datasheet table."""
        m, tg, c = self.measured, self.targets, self.integrator
        return [
            ("gm_s", "transconductance at the null", "S", m.gm_s, m.hand_gm_s, "gm of M2 at the operating point"),
            ("gm_target_s", "transconductance target", "S", tg.gm_s, None, ""),
            ("linear_low_v", f"linear input range, low (within {g.LINEARITY:.0%} of gm·v_d)", "V", m.linear_v[0],
             -tg.linear_v, "target"),
            ("linear_high_v", "linear input range, high", "V", m.linear_v[1], tg.linear_v, "target"),
            ("i_max_a", "largest output current (the tail's)", "A", m.i_max_a, self.design.ota.i_ref_a * self.design.ota.tail_ratio,
             "I_ref × mirror ratio"),
            ("offset_v", "input offset (systematic, nominal models)", "V", m.offset_v, None, ""),
            ("r_out_ohm", "output resistance at mid supply", "Ω", m.r_out_ohm, m.hand_r_out_ohm, "1/(gds2 + gds4)"),
            ("dc_gain_v_per_v", "DC gain gm·r_out", "V/V", m.dc_gain, m.hand_gm_s * m.hand_r_out_ohm, "hand"),
            ("leak_tau_s", f"integrator leak τ = r_out·C ({self.c_int_f * 1e12:g} pF)", "s", m.r_out_ohm * self.c_int_f,
             None, ""),
            ("compliance_low_v", f"output compliance, low (driven current at {g.COMPLIANCE:.0%})", "V", m.compliance_v[0],
             None, ""),
            ("compliance_high_v", "output compliance, high", "V", m.compliance_v[1], None, ""),
            ("bw_hz", "transconductance bandwidth (−3 dB, output shorted)", "Hz", m.bw_hz, None, ""),
            ("supply_current_a", "quiescent supply current", "A", m.supply_a, self.design.ota.i_ref_a * (1 + self.design.ota.tail_ratio),
             "I_ref + tail"),
            ("quiescent_power_w", "quiescent power", "W", m.power_w, None, ""),
            ("integrator_slope_v_per_s", "integrator ramp slope, transistors", "V/s", c.slope_transistor, c.slope_model,
             "fitted macromodel"),
            ("integrator_ideal_slope_v_per_s", "same, ideal integrator gm_target·v_step/C (Eq. 10)", "V/s", c.slope_ideal,
             None, ""),
            ("integrator_model_gap", "largest gap transistors − fitted model over the ramp (fraction of its swing)", "",
             c.model_gap, None, ""),
            ("integrator_ideal_gap", "largest gap transistors − ideal over the ramp (fraction of its swing)", "",
             c.ideal_gap, None, ""),
        ]


def characterize(targets: GmOTATargets, point: Gf180mcu, c_int_f: float, runner: Any, *, pvt: str | None = None,
                 stage: Callable[[str], None] = lambda s: None) -> GmDatasheet:
    """Design for ``targets`` at typical, then measure at ``point`` and, with ``pvt``, over that grid."""
    stage("design: device tables, first cut, gm rescaled to target")
    design = g.design_gm_ota(targets, runner)
    stage(f"measurements at {point.label}")
    measured = design.typical if point == Gf180mcu() else g.measure(design.ota, point, runner, targets.linear_v)
    stage("OTA-C integrator: transistors, fitted macromodel, Eq. 10")
    integrator = g.integrator_check(design.ota, measured, c_int_f, runner, targets.gm_s)
    grid = None
    if pvt is not None:
        stage(f"PVT grid ({pvt})")
        grid = g.pvt_measurements(design.ota, pvt, runner, targets.linear_v)
    return GmDatasheet(targets, point, c_int_f, design, measured, integrator, grid)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def transfer_figure(ds: GmDatasheet):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = ds.measured
    null = -m.offset_v
    line = m.gm_s * (m.v_d - null)
    fig, (ax, ax_d) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    mv = m.v_d * 1e3
    ax.plot(mv, m.current_a * 1e6, lw=2, label=f"ngspice, {m.point.label}")
    ax.plot(mv, line * 1e6, "k--", lw=1, label=f"gm·(v_d − null), gm = {m.gm_s * 1e6:.4g} µS")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(line) > 1e-12, (m.current_a - line) / np.abs(line), np.nan)
    ax_d.plot(mv, 100 * rel, color="C3", label="(ngspice − line) / |line|")
    for edge in m.linear_v:
        for a in (ax, ax_d):
            a.axvline((edge + null) * 1e3, color="C2", lw=0.8, ls=":")
    ax_d.axhline(-100 * g.LINEARITY, color="0.5", lw=0.8)
    ax_d.axhline(100 * g.LINEARITY, color="0.5", lw=0.8)
    ax_d.set_ylim(-10, 10)
    ax.set_ylabel("output current (µA)")
    ax_d.set_ylabel("difference (%)")
    ax_d.set_xlabel("differential input v_d (mV)")
    ax.set_title("GF180MCU five-transistor OTA, DC transfer into a short (dotted: linear range)", fontsize=10)
    for a in (ax, ax_d):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    return fig


def integrator_figure(ds: GmDatasheet):
    """The integrator's capacitor voltage: transistors (the analog trace), the fitted macromodel (the
    twin's place) and the ideal integrator of Eq. 10, with their differences."""
    from ..plots import difference_figure

    c = ds.integrator
    return difference_figure(axis=c.time_s, axis_label="time", axis_unit="s", unit="V",
                             traces=[("capacitor voltage", c.transistor_v, c.model_v, c.ideal_v)],
                             title=f"OTA-C integrator, C = {ds.c_int_f * 1e12:g} pF, {ds.measured.point.label}",
                             twin_label="fitted macromodel (ngspice)", ideal_label="ideal integrator, Eq. 10")


def datasheet_json(ds: GmDatasheet) -> dict[str, Any]:
    data: dict[str, Any] = {"block": "gf180_ota", "ota": ds.design.ota.name, "sizes": asdict(ds.design.ota),
                            "targets": asdict(ds.targets), "pdk": ds.point.record(), "c_int_f": ds.c_int_f,
                            "design": {"rounds_gm_s": ds.design.rounds_gm_s, "met": ds.design.met,
                                       "first_cut": asdict(ds.design.prediction)},
                            "devices": ds.measured.devices, "fitted_macromodel": asdict(ds.model)}
    for key, label, unit, value, reference, what in ds.quantities():
        rel = None if value is None or not reference else (value - reference) / abs(reference)
        data[key] = {"label": label, "unit": unit, "measured": value, "reference": reference, "reference_is": what,
                     "relative_difference": rel}
    if ds.pvt is not None:
        data["pvt"] = [pvt_row(m) for m in ds.pvt]
    return data


def pvt_row(m: g.GmMeasurement) -> dict[str, Any]:
    return {**m.point.record(), "gm_s": m.gm_s, "offset_v": m.offset_v, "linear_low_v": m.linear_v[0],
            "linear_high_v": m.linear_v[1], "r_out_ohm": m.r_out_ohm, "dc_gain": m.dc_gain, "bw_hz": m.bw_hz,
            "compliance_low_v": m.compliance_v[0], "compliance_high_v": m.compliance_v[1], "power_w": m.power_w}


def report_markdown(ds: GmDatasheet, figures: list[str]) -> str:
    ota, m = ds.design.ota, ds.measured
    lines = [f"# GF180MCU five-transistor OTA `{ota.name}` at {ds.point.label}", "",
             "The transconductor of an OTA-C weight integrator (000 Eq. 10, C·dV_w/dt = gm·v_d), designed by "
             f"analogopt for gm = {ds.targets.gm_s * 1e6:g} µS and ±{ds.targets.linear_v * 1e3:g} mV of linear input "
             f"range: first cut by gm/I_D from the kit's device tables, then gm measured at typical and the currents "
             f"rescaled ({' → '.join(f'{x * 1e6:.4g} µS' for x in ds.design.rounds_gm_s)}).", "",
             "| device | W (µm) | L (µm) | fingers |", "| --- | --- | --- | --- |"]
    for name, d in (("M1/M2", ota.m1), ("M3/M4", ota.m3), ("M5", ota.m5), ("M8", ota.m8)):
        lines.append(f"| {name} | {d.w_um:.4g} | {d.l_um:.4g} | {d.fingers} |")
    lines += ["", f"I_ref = {ota.i_ref_a * 1e6:.4g} µA.", "", "| quantity | measured | reference | reference is | difference |",
              "| --- | --- | --- | --- | --- |"]
    for key, label, unit, value, reference, what in ds.quantities():
        rel = "" if value is None or not reference else f"{100 * (value - reference) / abs(reference):+.2f} %"
        if what == "target" and value is not None:  # a range target is met by reaching beyond it
            rel = "met" if abs(value) >= abs(reference) else "missed"
        lines.append(f"| {label} ({unit or '–'}) | {_fmt(value)} | {_fmt(reference)} | {what} | {rel} |")
    lines += ["", "## Operating point", "", "| device | I_D (A) | gm (S) | gds (S) | V_DS (V) | V_DSAT (V) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, q in m.devices.items():
        lines.append(f"| {name} | {q['id']:.4g} | {q['gm']:.4g} | {q['gds']:.4g} | {q['vds']:.4g} | {q['vdsat']:.4g} |")
    model = ds.model
    lines += ["", "## Fitted macromodel", "",
              "Paste into an OTA table (``OTAModel`` keys) for this corner:", "", "```toml",
              *(f"{k} = {v:.6g}" for k, v in asdict(model).items() if k != "ideal"), "```", ""]
    if ds.pvt is not None:
        gms = [x.gm_s for x in ds.pvt]
        lines += ["## PVT grid", "", f"gm {min(gms) * 1e6:.4g} … {max(gms) * 1e6:.4g} µS over {len(ds.pvt)} points "
                  "(a fixed reference current: gm follows mobility and temperature; a constant-gm bias would hold it).",
                  "", "| point | gm (µS) | linear (mV) | r_out (MΩ) | gm·r_out | offset (mV) | power (µW) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for x in ds.pvt:
            lines.append(f"| {x.point.label} | {x.gm_s * 1e6:.4g} | {x.linear_v[0] * 1e3:.3g} … {x.linear_v[1] * 1e3:.3g} | "
                         f"{x.r_out_ohm / 1e6:.4g} | {x.dc_gain:.4g} | {x.offset_v * 1e3:.3g} | {x.power_w * 1e6:.4g} |")
        lines.append("")
    lines += ["## Figures", "", *(f"![{f}]({f})" for f in figures), ""]
    return "\n".join(lines)


def write_results(ds: GmDatasheet, out: Any) -> list[str]:
    ota, point = ds.design.ota, ds.point
    out.write_text("ota.sub", ota.subckt())
    c = ds.integrator
    benches = [ota_benches.gm_transfer_bench(ota, point, g.TRANSFER_SPAN_FACTOR * ds.targets.linear_v),
               ota_benches.gm_output_bench(ota, point, 0.0), ota_benches.gm_ac_bench(ota, point),
               ota_benches.integrator_bench(ota, point, ds.c_int_f, c.step_v, c.t_step_s, c.t_stop_s)]
    for bench in benches:
        out.write_text(f"netlist_{bench.analysis}.cir", bench.deck.format())
    figures = ["transfer.png", "integrator.png"]
    out.save_figure("transfer.png", transfer_figure(ds))
    out.save_figure("integrator.png", integrator_figure(ds))
    if ds.pvt is not None:
        rows = [pvt_row(x) for x in ds.pvt]
        keys = list(rows[0])
        out.write_text("pvt.csv", "\n".join([",".join(keys), *(",".join(str(r[k]) for k in keys) for r in rows)]) + "\n")
    out.write_json("characterization.json", datasheet_json(ds))
    out.write_text("report.md", report_markdown(ds, figures))
    return figures


def summary_line(ds: GmDatasheet) -> str:
    m, c = ds.measured, ds.integrator
    return (f"GF180MCU OTA at {ds.point.label}: gm {m.gm_s * 1e6:.4g} µS (hand {m.hand_gm_s * 1e6:.4g}), linear "
            f"{m.linear_v[0] * 1e3:.3g} … {m.linear_v[1] * 1e3:.3g} mV, r_out {m.r_out_ohm / 1e6:.3g} MΩ, "
            f"{m.power_w * 1e6:.3g} µW; integrator vs fitted model {100 * c.model_gap:.2g} % of its ramp")
