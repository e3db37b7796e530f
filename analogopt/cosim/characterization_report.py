"""Files of ``analogopt characterize``: the figures, ``report.md``, ``characterization.json`` and the
command's one-line summary, from a :class:`~analogopt.cosim.characterization.Characterization`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from .characterization import Characterization, _finite, at_frequency, phase_deg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results import RunDirectory

# ----------------------------------------------------------------------------------------- figures
def _display(value: float, unit: str) -> str:
    """``value`` with an SI prefix, rounded to 4 digits first so that 999999.99 Hz reads 1 MHz."""
    from ..units import quantity

    return quantity(float(f"{value:.4g}"), unit)


def _format_hz(value: float) -> str:
    return _display(value, "Hz")


def bode_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """Gain (dB) and phase (°) against frequency (Hz, log axis): ngspice solid, analytic dashed (where
    the block has one), with markers at the unity-gain (GBW) frequency and the phase-margin point, or at the −3 dB corner."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq, response, analytic = curve["freq_hz"], curve["response"], curve["analytic"]
    fig, (ax_gain, ax_phase) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax_gain.semilogx(freq, 20 * np.log10(np.abs(response)), lw=2, label="ngspice")
    ax_phase.semilogx(freq, phase_deg(response), lw=2, label="ngspice")
    if analytic is not None:  # a user part has no analytic curve
        ax_gain.semilogx(freq, 20 * np.log10(np.abs(analytic)), "k--", lw=1, label="analytic")
        ax_phase.semilogx(freq, phase_deg(analytic), "k--", lw=1, label="analytic")
    for kind, f_mark, pm in curve["markers"]:
        _mark(ax_gain, ax_phase, kind, f_mark, pm, freq, response)
    ax_gain.set_ylabel("gain (dB)")
    ax_phase.set_ylabel("phase (°)")
    ax_phase.set_xlabel("frequency (Hz)")
    ax_gain.set_title(title, fontsize=10)
    for ax in (ax_gain, ax_phase):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return fig


def _mark(ax_gain, ax_phase, kind: str, f_mark: float, pm: float | None, freq, response) -> None:
    import numpy as np

    gain_db = 20 * math.log10(at_frequency(freq, np.abs(response), f_mark, log_values=True))
    phase = at_frequency(freq, phase_deg(response), f_mark)
    name = {"gbw": "GBW", "f3db": "−3 dB", "unity": "unity gain"}[kind]
    ax_gain.plot([f_mark], [gain_db], "o", color="C3", label=f"{name} {_format_hz(f_mark)}")
    ax_gain.axvline(f_mark, color="C3", lw=0.8, ls=":")
    ax_phase.axvline(f_mark, color="C3", lw=0.8, ls=":")
    if pm is not None:
        ax_phase.plot([f_mark], [phase], "s", color="C2", label=f"phase margin {pm:.1f}°")
        ax_phase.axhline(-180, color="0.5", lw=0.8)
        ax_phase.annotate("", xy=(f_mark, phase), xytext=(f_mark, -180),
                          arrowprops={"arrowstyle": "<->", "color": "C2"})


def noise_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """Output and input-referred noise densities (V/√Hz) against frequency (Hz), log-log, with the
    analytic input density and the 1 kHz quote point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    freq = curve["freq_hz"]
    ax.loglog(freq, curve["output"], lw=2, label="output (onoise_spectrum)")
    ax.loglog(freq, curve["input"], lw=2, ls="--", label="input-referred (inoise_spectrum)")
    if curve["analytic_input"] is not None:
        ax.axhline(curve["analytic_input"], color="k", lw=1, ls=":", label="analytic input-referred")
    quote = curve["quote_hz"]
    ax.plot([quote], [at_frequency(freq, curve["input"], quote, log_values=True)], "o", color="C3",
            label=f"quoted at {_format_hz(quote)}")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("noise density (V/√Hz)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def transfer_figure(curve: Mapping[str, Any], title: str) -> Figure:
    """The comparator's DC transfer (V against V): ngspice, twin, and the small-signal slope at 0 V."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    v_in = curve["v_in"]
    ax.plot(v_in, curve["v_out"], lw=2, label="ngspice")
    ax.plot(v_in, curve["twin"], "k--", lw=1, label="twin (PyTorch)")
    low, high = float(np.min(curve["v_out"])), float(np.max(curve["v_out"]))
    tangent = np.clip(curve["gain"] * v_in + float(np.interp(0.0, v_in, curve["v_out"])), low, high)
    ax.plot(v_in, tangent, ":", color="C3", label=f"small-signal gain at 0 V: {curve['gain']:.4g} V/V")
    ax.axhline(low, color="0.6", lw=0.8)
    ax.axhline(high, color="0.6", lw=0.8, label=f"swing {low:.4g} V … {high:.4g} V")
    ax.set_xlabel("input (V)")
    ax.set_ylabel("output (V)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def ota_bode_figure(gm_curve: Mapping[str, Any], gain_curve: Mapping[str, Any], title: str) -> Figure:
    """The OTA's two frequency responses, ngspice solid and analytic dashed: left, the transconductance
    into a short (S, log-log) and its phase, marked at the bandwidth pole; right, the open-circuit (or
    C_L-loaded) voltage gain (dB) and its phase, marked at its −3 dB point (and unity gain with C_L)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex="col")
    (ax_gm, ax_gain), (ax_gm_phase, ax_gain_phase) = axes
    freq, y = gm_curve["freq_hz"], gm_curve["response"]
    ax_gm.loglog(freq, np.abs(y), lw=2, label="ngspice")
    ax_gm.loglog(freq, np.abs(gm_curve["analytic"]), "k--", lw=1, label="analytic gm/(1 + jf/bw)")
    ax_gm_phase.semilogx(freq, phase_deg(y), lw=2, label="ngspice")
    ax_gm_phase.semilogx(freq, phase_deg(gm_curve["analytic"]), "k--", lw=1, label="analytic")
    pole = gm_curve["pole_hz"]
    if pole is not None:
        ax_gm.plot([pole], [at_frequency(freq, np.abs(y), pole, log_values=True)], "o", color="C3",
                   label=f"−3 dB (bandwidth pole) {_format_hz(pole)}")
        for ax in (ax_gm, ax_gm_phase):
            ax.axvline(pole, color="C3", lw=0.8, ls=":")
    ax_gm.set_ylabel("transconductance (S)")
    ax_gm.set_title("output into a short", fontsize=9)
    freq, response = gain_curve["freq_hz"], gain_curve["response"]
    ax_gain.semilogx(freq, 20 * np.log10(np.abs(response)), lw=2, label="ngspice")
    ax_gain.semilogx(freq, 20 * np.log10(np.abs(gain_curve["analytic"])), "k--", lw=1, label="analytic")
    ax_gain_phase.semilogx(freq, phase_deg(response), lw=2, label="ngspice")
    ax_gain_phase.semilogx(freq, phase_deg(gain_curve["analytic"]), "k--", lw=1, label="analytic")
    for kind, f_mark, pm in gain_curve["markers"]:
        _mark(ax_gain, ax_gain_phase, kind, f_mark, pm, freq, response)
    ax_gain.set_ylabel("voltage gain (dB)")
    c_load = gain_curve.get("c_load_f") or 0.0
    ax_gain.set_title(f"voltage gain into C_L = {_display(c_load, 'F')}" if c_load else "open-circuit voltage gain",
                      fontsize=9)
    for ax in (ax_gm_phase, ax_gain_phase):
        ax.set_ylabel("phase (°)")
        ax.set_xlabel("frequency (Hz)")
    for ax in axes.flat:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def ota_transfer_figure(transfer: Mapping[str, Any], swing: Mapping[str, Any], title: str) -> Figure:
    """Top left: the output current into a short (µA) against the differential input (mV), ngspice and
    the twin, with the null (minus the offset). Top right: the output current (µA) against the output
    voltage (V) with a large input of either sign, fading to zero at v_low/v_high; below, each limit
    magnified to ±4 knees, the last knee inside it shaded."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    (ax_t, ax_s), (ax_low, ax_high) = axes
    v_d = np.asarray(transfer["v_d"]) * 1e3
    ax_t.plot(v_d, transfer["current"] * 1e6, lw=2, label="ngspice")
    ax_t.plot(v_d, transfer["twin"] * 1e6, "k--", lw=1, label="twin")
    if transfer["null_v"] is not None:
        null = round(transfer["null_v"], 12) + 0.0  # picovolts: the rest is the solver's rounding
        ax_t.plot([null * 1e3], [0.0], "o", color="C3",
                  label=f"null at {_display(null, 'V')} (offset {_display(-null + 0.0, 'V')})")
    ax_t.axhline(0, color="0.6", lw=0.8)
    ax_t.axvline(0, color="0.6", lw=0.8)
    ax_t.set_xlabel("differential input v(inp) − v(inn) (mV)")
    ax_t.set_ylabel("output current into a short (µA)")
    ax_t.set_title("DC transfer, output held at the reference", fontsize=9)
    v_out, knee = swing["v_out"], swing["knee_v"]
    for ax in (ax_s, ax_low, ax_high):
        for side, sign, colour in (("high", "+", "C0"), ("low", "−", "C1")):
            ax.plot(v_out, swing[f"current_{side}"] * 1e6, lw=2, color=colour,
                    label=f"ngspice, input {sign}{swing['input_v']:g} V")
            ax.plot(v_out, swing[f"twin_{side}"] * 1e6, "k--", lw=1, label="twin" if side == "low" else None)
        for limit, edge, label in ((swing["v_high"], -knee, f"last knee ({_display(knee, 'V')}) inside a limit"),
                                   (swing["v_low"], knee, None)):
            ax.axvline(limit, color="C3", lw=0.8, ls=":")
            ax.axvspan(min(limit, limit + edge), max(limit, limit + edge), color="C3", alpha=0.15, label=label)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("output voltage (V)")
        ax.set_ylabel("output current (µA)")
    ax_s.set_title("output swing: output swept, large input", fontsize=9)
    for ax, limit, name in ((ax_low, swing["v_low"], "v_low"), (ax_high, swing["v_high"], "v_high")):
        ax.set_xlim(limit - 4 * knee, limit + 4 * knee)
        ax.set_title(f"at {name} = {limit:g} V", fontsize=9)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------- files
def format_number(value: float | None) -> str:
    """A table cell: 6 significant digits, or ``n/a``."""
    return "n/a" if not _finite(value) else f"{value + 0.0:.6g}"  # + 0.0: no "-0"


def _analytic_cell(result: Characterization, measured: float | None, analytic: float | None) -> str:
    if result.analytic_note is not None and _finite(measured):
        return result.analytic_note
    return format_number(analytic)


def _parameter_text(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"`{key}={value:g}`"
    if isinstance(value, list) and all(isinstance(v, dict) and "file" in v for v in value):  # a user part's lib
        value = "[" + ", ".join(" ".join(str(x) for x in v.values()) for v in value) + "]"
    return f"`{key}={value}`"


def report_markdown(result: Characterization, figures: list[str]) -> str:
    """``report.md``: parameters, the datasheet table (quantity, measured, analytic, unit), notes, the
    user part's files, the benches."""
    params = ", ".join(_parameter_text(k, v) for k, v in result.parameters.items() if k != "files")
    source = ("Measured in ngspice; a user subcircuit has no analytic model to compare with (n/a: does not "
              "apply, or the sweep shows no such point)." if result.analytic_note is not None else
              "Measured in ngspice; analytic values from the block's own parameters (n/a: does not apply, "
              "or the sweep shows no such point). Relative differences are in `characterization.json`.")
    lines = [f"# Characterization: {result.title}", "", f"Parameters: {params}.", "", source, "",
             "| quantity | measured | analytic | unit |", "|---|---|---|---|"]
    lines += [f"| {q.label} | {format_number(q.measured)} | {_analytic_cell(result, q.measured, q.analytic)} | {q.unit} |"
              for q in result.quantities()]
    if result.notes:
        lines += [""] + [f"- {note}" for note in result.notes]
    files = result.parameters.get("files")
    if files:
        lines += ["", "## Part files", "", "Copied byte for byte as validated; the decks inline them.", ""]
        lines += [f"- `{f['file']}` (from `{f['source']}`, sha256 `{f['sha256']}`)" for f in files]
    lines += ["", "## Testbenches", ""]
    lines += [f"- `netlist_{name}.cir` (ngspice files in `spice/{name}/`): {purpose}"
              for name, purpose in result.benches.items()]
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return "\n".join(lines)


def characterization_json(result: Characterization) -> dict[str, Any]:
    """``characterization.json``: every quantity at the top level under its key (unit in the name), each
    with label, unit, measured, analytic and relative difference (null: n/a) (and, for a user part,
    ``comparison``: "no analytic model"), then block, title, parameters, notes and benches."""
    data: dict[str, Any] = {}
    for q in result.quantities():
        data[q.key] = q.as_json()
        if result.analytic_note is not None and _finite(q.measured):
            data[q.key]["comparison"] = result.analytic_note
    data.update(block=result.block, title=result.title, parameters=result.parameters, notes=list(result.notes),
                testbenches={name: {"purpose": purpose, "netlist": f"netlist_{name}.cir", "spice_dir": f"spice/{name}"}
                             for name, purpose in result.benches.items()})
    return data


def write_results(result: Characterization, out: RunDirectory) -> list[str]:
    """The figures, ``report.md`` and ``characterization.json`` into ``out``; returns the figure names."""
    import numpy as np

    figures = []
    if result.block == "ota":
        out.save_figure("bode.png", ota_bode_figure(result.curves["gm"], result.curves["bode"],
                                                    f"{result.title}: transconductance and voltage gain"))
        out.save_figure("transfer.png", ota_transfer_figure(result.curves["transfer"], result.curves["swing"],
                                                            f"{result.title}: DC transfer and output swing"))
        figures += ["bode.png", "transfer.png"]
    else:
        if "bode" in result.curves:
            out.save_figure("bode.png", bode_figure(result.curves["bode"], f"{result.title}: open-loop Bode plot"
                                                    if result.block == "opamp" else f"{result.title}: transfer"))
            figures.append("bode.png")
        if "transfer" in result.curves:
            out.save_figure("transfer.png", transfer_figure(result.curves["transfer"], f"{result.title}: DC transfer"))
            figures.append("transfer.png")
    if "noise" in result.curves and np.any(result.curves["noise"]["output"] > 0):  # a noiseless block: no plot
        out.save_figure("noise.png", noise_figure(result.curves["noise"], f"{result.title}: noise densities"))
        figures.append("noise.png")
    out.write_json("characterization.json", characterization_json(result))
    out.write_text("report.md", report_markdown(result, figures))
    return figures


def summary_line(result: Characterization) -> str:
    """The command's one line: the headline numbers measured, each only where the block has an analytic
    value for it (a noiseless macromodel's femtovolts of resistor noise are no headline); a user part,
    which has none, shows all of them."""
    if result.block == "ota":
        m = result.measured
        parts = [f"gm {_display(m['transconductance_s'], 'S')}" if _finite(m.get("transconductance_s")) else "",
                 f"pole at {_display(m['transconductance_f_3db_hz'], 'Hz')}"
                 if _finite(m.get("transconductance_f_3db_hz")) else "",
                 f"DC gain {round(m['dc_gain_db'], 1) + 0.0:.1f} dB" if _finite(m.get("dc_gain_db")) else "",
                 f"GBW {_display(m['gbw_hz'], 'Hz')}" if _finite(m.get("gbw_hz")) else "",
                 f"phase margin {m['phase_margin_deg']:.1f}°" if _finite(m.get("phase_margin_deg")) else "",
                 f"r_out {m['output_resistance_ohm']:.3g} Ω" if _finite(m.get("output_resistance_ohm")) else "",
                 # picovolts and microvolts: the digits below are the solver's rounding
                 f"offset {_display(round(m['input_offset_v'], 12) + 0.0, 'V')}"
                 if _finite(m.get("input_offset_v")) else "",
                 f"swing {round(m['output_low_v'], 6) + 0.0:.6g} V … {round(m['output_high_v'], 6) + 0.0:.6g} V"
                 if _finite(m.get("output_low_v")) and _finite(m.get("output_high_v")) else ""]
        return f"{result.title}: " + ", ".join(p for p in parts if p)
    gain = "gain at 0 V" if result.block == "comparator" else "DC gain"
    shown = {"dc_gain_db": lambda v: f"{gain} {round(v, 1) + 0.0:.1f} dB",
             "gbw_hz": lambda v: f"GBW {_display(v, 'Hz')}",
             "f_3db_hz": lambda v: f"−3 dB at {_display(v, 'Hz')}",
             "phase_margin_deg": lambda v: f"phase margin {v:.1f}°",
             "noise_input_v_per_rthz_at_1khz": lambda v: f"e_n {_display(v, 'V')}/√Hz at 1 kHz",
             "slew_rate_v_per_s": lambda v: f"slew {v:.3g} V/s",
             "transfer_max_deviation_v": lambda v: f"transfer within {_display(v, 'V')} of the twin"}
    measured_only = result.analytic_note is not None
    noiseless = measured_only and not (result.measured.get("noise_output_v_per_rthz_at_1khz") or 0) > 0
    parts = [fmt(result.measured[key]) for key, fmt in shown.items()
             if _finite(result.measured.get(key)) and (measured_only or result.analytic.get(key) is not None)
             and not (noiseless and key.startswith("noise_"))]
    if noiseless:
        parts.append("noiseless")
    return f"{result.title}: " + ", ".join(parts)


__all__ = ["bode_figure", "characterization_json", "format_number", "noise_figure", "ota_bode_figure",
           "ota_transfer_figure", "report_markdown", "summary_line", "transfer_figure", "write_results"]
