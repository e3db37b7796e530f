"""Figures for co-simulation results (matplotlib, Agg backend, written as PNG by the caller)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .units import si_scale  # noqa: E402

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def weight_trajectories(result, names: list[str] | None = None, max_weights: int = 8):
    """Analog (solid) and digital (dashed) weights against twin iteration, analog time on top."""
    p = result.problem
    names = list(names or p.weight_names)[:max_weights]
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, name in enumerate(names):
        i = p.weight_names.index(name)
        c = _COLORS[j % len(_COLORS)]
        ax.plot(result.analog.iteration, result.analog.weights[:, i], color=c, lw=2, label=f"{name} analog (ngspice)")
        ax.plot(result.digital.iteration, result.digital.weights[:, i], color="k", ls="--", lw=1,
                label="digital twin" if j == 0 else None)
    ax.set_xlabel("twin iteration")
    ax.set_ylabel("weight (V)")
    top = ax.secondary_xaxis("top", functions=(lambda it: it * p.dt_s * 1e3, lambda t: t / (p.dt_s * 1e3)))
    top.set_xlabel("analog time (ms)")
    ax.set_title(f"weights, analog vs digital (max deviation {result.trajectory_deviation:.2%} of range)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return fig


def loss_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "training loss"):
    """``curves``: label → (iteration, loss); log scale when all positive."""
    fig, ax = plt.subplots(figsize=(7, 4))
    styles = ["-", "--", ":", "-."]
    for j, (label, (it, loss)) in enumerate(curves.items()):
        ax.plot(it, loss, ls=styles[j % len(styles)], lw=2 if j == 0 else 1.5, label=label)
    if all(np.all(np.asarray(l) > 0) for _, l in curves.values()):
        ax.set_yscale("log")
    ax.set_xlabel("twin iteration")
    ax.set_ylabel("mean squared error (000 Eq. 18)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def fit_1d(x: np.ndarray, y: np.ndarray, fits: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """Data points and fitted functions for a one-input problem."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, y, "o", ms=3, color="0.4", label="training data")
    styles = ["-", "--", ":", "-."]
    for j, (label, (xx, yy)) in enumerate(fits.items()):
        ax.plot(xx, yy, ls=styles[j % len(styles)], lw=2 if j == 0 else 1.5, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def prediction_scatter(z_analog: np.ndarray, z_digital: np.ndarray, labels: np.ndarray, title: str):
    """Pre-activations on held-out data, analog vs digital, coloured by true class."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for cls, c in zip(np.unique(labels), _COLORS):
        sel = labels == cls
        ax.scatter(z_digital[sel], z_analog[sel], s=8, color=c, label=f"class {cls}")
    lim = [min(z_analog.min(), z_digital.min()), max(z_analog.max(), z_digital.max())]
    ax.plot(lim, lim, "k:", lw=1)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_xlabel("digital twin  z = x·w")
    ax.set_ylabel("analog (ngspice)  z = x·w")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def difference_figure(*, axis: np.ndarray, axis_label: str, axis_unit: str, unit: str,
                      traces: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]], title: str,
                      shown: str = "", log_axis: bool = False, twin_label: str = "twin", ideal_label: str = "",
                      iteration: np.ndarray | None = None):
    """Analog (solid), twin (dashed) and ideal (dotted) of each trace over ``axis``, and below them the
    differences analog − twin (solid) and analog − ideal (dotted), in SI-prefixed units.

    ``traces``: (name, analog, twin, ideal or None). ``log_axis``: logarithmic x (points at x ≤ 0 left
    out, e.g. t = 0). ``iteration``: the twin's iteration at each point, drawn as a second x axis."""
    keep = axis > 0 if log_axis else np.ones(len(axis), bool)
    x_factor, x_unit = si_scale(axis[keep], axis_unit) if not log_axis else (1.0, axis_unit)
    x = axis[keep] / x_factor
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5.6), sharex=True,
                                      gridspec_kw={"height_ratios": [2.2, 1]})
    values = np.concatenate([np.concatenate([a, t]) for _, a, t, _ in traces])
    y_factor, y_unit = si_scale(values, unit)
    diffs = [a - t for _, a, t, _ in traces] + [a - i for _, a, _, i in traces if i is not None]
    d_factor, d_unit = si_scale(np.concatenate(diffs), unit)
    for j, (name, analog, twin, ideal) in enumerate(traces):
        c = _COLORS[j % len(_COLORS)]
        top.plot(x, analog[keep] / y_factor, color=c, lw=1.8, label=f"{name} analog (ngspice)")
        top.plot(x, twin[keep] / y_factor, color="k", ls="--", lw=0.9, label=twin_label if j == 0 else None)
        bottom.plot(x, (analog - twin)[keep] / d_factor, color=c, lw=1.2, label=f"{name} analog − twin")
        if ideal is not None:
            top.plot(x, ideal[keep] / y_factor, color="0.5", ls=":", lw=1.2,
                     label=(ideal_label or "ideal") if j == 0 else None)
            bottom.plot(x, (analog - ideal)[keep] / d_factor, color=c, ls=":", lw=1.2,
                        label=f"{name} analog − ideal")
    bottom.axhline(0, color="0.6", lw=0.8)
    if log_axis:
        top.set_xscale("log")
    top.set_ylabel(_label("value", y_unit))
    bottom.set_ylabel(_label("difference", d_unit))
    bottom.set_xlabel(_label(axis_label, x_unit) + (" (log)" if log_axis else ""))
    top.set_title(title + (f"; showing {shown}" if shown else ""), fontsize=9)
    top.legend(fontsize=6.5, ncol=2)
    bottom.legend(fontsize=6.5, ncol=2)
    for ax in (top, bottom):
        ax.grid(alpha=0.3, which="both")
    if iteration is not None and not log_axis and len(x) > 1 and x[-1] > x[0]:
        it = iteration[keep]
        per = (it[-1] - it[0]) / (x[-1] - x[0])
        extra = top.secondary_xaxis("top", functions=(lambda v: it[0] + (v - x[0]) * per,
                                                      lambda k: x[0] + (k - it[0]) / per))
        extra.set_xlabel("twin iteration", fontsize=8)
    return fig
