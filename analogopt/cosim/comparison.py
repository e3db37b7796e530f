"""One comparison of a circuit's result with its digital twin and with the ideal mathematics.

Every circuit kind hands its measured signals to a :class:`Comparison` and gets the same things back:

- shared metric keys (``metrics.json``'s ``comparison``): for each pair of sides, ``analog_vs_twin``,
  ``analog_vs_ideal`` and ``twin_vs_ideal``, the largest and the final deviation (in the signal's unit,
  per group) and both as a fraction of each signal's range, the largest over signals and groups;
- ``trajectories.parquet``: one row per (group, axis point, signal) with every side's value;
- a figure per group (``compare_<group>.png``): the sides over the axis and, below, their differences;
- the report's comparison section.

Three sides. *analog*: what ngspice computed. *twin*: the digital model of the circuit as built (finite
gain, the same perturbed devices, the twin's time discretization). *ideal*: the mathematics the circuit
is meant to implement (the exact inverse B⁻¹, the exact solution of Ax = b, the loop's ODE solved to
convergence). Where the twin already is the ideal mathematics (an exact discretization, an exact
closed form), a group gives no ideal and its ideal side is the twin, said so in ``ideal_is_twin``.

A signal's *range* is its peak-to-peak over the axis on the reference side, floored at 1e-3 of the
group's range, so a signal that barely moves does not turn rounding into a large fraction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..report import markdown_table
from ..results import RunDirectory, write_json
from ..units import quantity

#: The pairs compared, (name, side, reference side).
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("analog_vs_twin", "analog", "twin"),
    ("analog_vs_ideal", "analog", "ideal"),
    ("twin_vs_ideal", "twin", "ideal"),
)
#: The keys every pair carries in ``metrics.json`` (fractions are of each signal's range).
DEVIATION_KEYS = ("max_abs", "final_abs", "max_fraction_of_range", "final_fraction_of_range",
                  "rms_fraction_of_range")
#: A signal's range is floored at this fraction of its group's range.
RANGE_FLOOR = 1e-3


@dataclass(frozen=True)
class Signal:
    """One probed quantity on every side, sampled on its group's axis (arrays of the axis's length)."""

    name: str
    analog: np.ndarray
    twin: np.ndarray
    ideal: np.ndarray | None = None

    def side(self, name: str) -> np.ndarray:
        value = getattr(self, name)
        return self.twin if value is None else value


@dataclass(frozen=True)
class Group:
    """Signals of one measurement on one aligned axis.

    ``axis_name``/``axis_unit`` label the axis (``"time", "s"``; ``"x_i", "V"``; ``"entry", ""``);
    ``unit`` is the signals' unit. ``iteration``: the twin's iteration at each point of a time axis.
    ``log_axis``: plotted on a logarithmic axis by default (currents over decades). ``twin``/``ideal``
    say what those sides are; ``theory`` holds what theory predicted for this group (e.g. the twin's
    worst-case Euler error as a fraction of a mode), copied into the metrics and the report.
    """

    name: str
    axis_name: str
    axis_unit: str
    axis: np.ndarray
    unit: str
    signals: tuple[Signal, ...]
    twin: str
    ideal: str = ""
    iteration: np.ndarray | None = None
    log_axis: bool = False
    theory: dict[str, Any] = field(default_factory=dict)
    #: why this group has no ideal side although its twin is not the ideal mathematics ("" otherwise)
    ideal_missing: str = ""

    def __post_init__(self) -> None:
        n = len(self.axis)
        if not self.signals:
            raise ValueError(f"comparison group {self.name!r} has no signals")
        for s in self.signals:
            for side in ("analog", "twin", "ideal"):
                value = getattr(s, side)
                if value is not None and np.shape(value) != (n,):
                    raise ValueError(f"group {self.name!r}, signal {s.name!r}: {side} has shape "
                                     f"{np.shape(value)}, the axis has {n} points")
        if self.iteration is not None and len(self.iteration) != n:
            raise ValueError(f"group {self.name!r}: {len(self.iteration)} iterations for {n} axis points")

    @property
    def ideal_is_twin(self) -> bool:
        return all(s.ideal is None for s in self.signals)

    @property
    def ideal_text(self) -> str:
        if self.ideal_missing:
            return f"missing ({self.ideal_missing}): the twin stands in, so analog_vs_ideal is analog_vs_twin"
        return self.ideal or "the twin (it is the ideal mathematics here)"

    def stack(self, side: str) -> np.ndarray:
        """(signals, points) of ``side`` (the twin where a signal has no ideal)."""
        return np.stack([np.asarray(s.side(side), dtype=float) for s in self.signals])

    def deviation(self, side: str, reference: str) -> dict[str, Any]:
        """The deviation of ``side`` from ``reference`` over this group (see the module docstring)."""
        a, ref = self.stack(side), self.stack(reference)
        diff = np.abs(a - ref)
        spans = np.ptp(ref, axis=1)
        floor = max(RANGE_FLOOR * float(np.ptp(ref)), RANGE_FLOOR * float(np.max(np.abs(ref))), 1e-300)
        scale = np.maximum(spans, floor)
        frac = diff / scale[:, None]
        worst = int(np.argmax(frac.max(axis=1)))
        return {
            "max_abs": float(diff.max()),
            "final_abs": float(diff[:, -1].max()),
            "max_fraction_of_range": float(frac.max()),
            "final_fraction_of_range": float(frac[:, -1].max()),
            "rms_fraction_of_range": float(np.sqrt(np.mean(frac**2))),
            "worst_signal": self.signals[worst].name,
        }


def _worst(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Over groups: the largest of each fraction (units differ between groups, so no absolute values)."""
    out: dict[str, Any] = {}
    for key in ("max_fraction_of_range", "final_fraction_of_range", "rms_fraction_of_range"):
        name = max(parts, key=lambda g: parts[g][key])
        out[key] = parts[name][key]
        if key == "max_fraction_of_range":
            out["worst_group"] = name
            out["worst_signal"] = parts[name]["worst_signal"]
    return out


@dataclass(frozen=True)
class TwinValidity:
    """When the twin can be trusted: ``valid`` and why (``note``), with any measured ``values``;
    ``warning``: the one line a run outside the regime prints (default: the note)."""

    valid: bool
    note: str
    values: dict[str, Any] = field(default_factory=dict)
    warning: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "note": self.note, **self.values}

    @property
    def warning_line(self) -> str:
        return self.warning or f"the twin is outside its valid regime: {self.note}"


@dataclass(frozen=True)
class PlotOptions:
    """How comparison figures are drawn (a scenario's ``[plot]`` table, read by :func:`plot_options`).

    ``log_axis``: None keeps each group's default, True/False forces a logarithmic/linear x axis (for a
    time axis: log time, which shows the fast start and the slow tail of a learning run together);
    ``signals``: the names to draw (default: the first ``max_signals``)."""

    log_axis: bool | None = None
    signals: tuple[str, ...] = ()
    max_signals: int = 8


#: ``[plot] x_scale`` choices: each group's own default, or forced
X_SCALES = {"auto": None, "log": True, "linear": False}


def plot_options(table) -> PlotOptions:
    """A scenario's ``[plot]`` table (an :class:`analogopt.values.Table`): ``x_scale`` (``"auto"``,
    ``"log"``, ``"linear"``), ``signals`` (names to draw), ``max_signals``."""
    table.reject_unknown({"x_scale", "signals", "max_signals"})
    scale = table.choice("x_scale", "auto", X_SCALES)
    return PlotOptions(log_axis=X_SCALES[scale], signals=tuple(table.strings("signals", [])),
                       max_signals=table.integer("max_signals", 8, low=1, high=64))


@dataclass(frozen=True)
class Comparison:
    """Analog, twin and ideal of one run, in groups on aligned axes; ``validity`` of the twin."""

    groups: tuple[Group, ...]
    validity: TwinValidity
    #: what the figures call the twin side (a matched twin's comparison names it so)
    twin_label: str = "digital twin"

    def __post_init__(self) -> None:
        names = [g.name for g in self.groups]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"comparison groups must be present and distinct, got {names}")

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    # ------------------------------------------------------------------------------------ numbers
    def metrics(self) -> dict[str, Any]:
        """The shared ``comparison`` keys of ``metrics.json``."""
        groups: dict[str, Any] = {}
        for g in self.groups:
            entry: dict[str, Any] = {
                "axis": g.axis_name, "axis_unit": g.axis_unit, "unit": g.unit, "points": len(g.axis),
                "signals": [s.name for s in g.signals], "twin": g.twin,
                "ideal": g.ideal_text, "ideal_is_twin": g.ideal_is_twin, "ideal_missing": bool(g.ideal_missing),
            }
            for pair, side, reference in PAIRS:
                entry[pair] = g.deviation(side, reference)
            if g.theory:
                entry["theory"] = g.theory
            groups[g.name] = entry
        out: dict[str, Any] = {pair: _worst({n: e[pair] for n, e in groups.items()}) for pair, _, _ in PAIRS}
        out["twin_valid"] = self.validity.valid
        out["groups"] = groups
        return out

    def row(self) -> dict[str, Any]:
        """The shared keys as one flat sweep row (``comparison.analog_vs_twin.max_fraction_of_range``…)."""
        m = self.metrics()
        row: dict[str, Any] = {"comparison.twin_valid": m["twin_valid"]}
        for pair, _, _ in PAIRS:
            for key in ("max_fraction_of_range", "final_fraction_of_range", "rms_fraction_of_range"):
                row[f"comparison.{pair}.{key}"] = m[pair][key]
        return row

    def frame(self):
        """The long table of ``trajectories.parquet``: columns ``group, axis, axis_unit, x, iteration,
        signal, unit, analog, twin, ideal`` (ideal is NaN where the twin is the ideal mathematics)."""
        import pandas as pd

        parts = []
        for g in self.groups:
            n, k = len(g.axis), len(g.signals)
            ideal = np.stack([np.full(n, np.nan) if s.ideal is None else np.asarray(s.ideal, float)
                              for s in g.signals])
            parts.append(pd.DataFrame({
                "group": g.name,
                "axis": g.axis_name,
                "axis_unit": g.axis_unit,
                "x": np.tile(np.asarray(g.axis, float), k),
                "iteration": np.tile(np.asarray(g.iteration, float) if g.iteration is not None else np.full(n, np.nan), k),
                "signal": np.repeat([s.name for s in g.signals], n),
                "unit": g.unit,
                "analog": g.stack("analog").ravel(),
                "twin": g.stack("twin").ravel(),
                "ideal": ideal.ravel(),
            }))
        table = pd.concat(parts, ignore_index=True)
        for column in ("group", "axis", "axis_unit", "signal", "unit"):
            table[column] = table[column].astype("category")
        return table

    # ------------------------------------------------------------------------------------ files
    def figure_name(self, group: Group) -> str:
        return f"compare_{_file_part(group.name)}.png"

    def figures(self, options: PlotOptions = PlotOptions()) -> dict[str, Any]:
        """File name → matplotlib figure, one per group."""
        from ..plots import difference_figure

        out = {}
        for g in self.groups:
            dev = g.deviation("analog", "twin")
            chosen = [s for s in g.signals if s.name in options.signals] if options.signals else []
            shown = chosen or list(g.signals[: options.max_signals])
            if not chosen and all(s.name != dev["worst_signal"] for s in shown):  # the worst one is always drawn
                shown[-1] = next(s for s in g.signals if s.name == dev["worst_signal"])
            log_axis = g.log_axis if options.log_axis is None else options.log_axis
            out[self.figure_name(g)] = difference_figure(
                axis=np.asarray(g.axis, float), axis_label=g.axis_name, axis_unit=g.axis_unit, unit=g.unit,
                traces=[(s.name, np.asarray(s.analog, float), np.asarray(s.twin, float),
                         None if s.ideal is None else np.asarray(s.ideal, float)) for s in shown],
                title=(f"{g.name}: analog vs {self.twin_label}, largest gap {dev['max_fraction_of_range']:.2e} of range"
                       f" ({dev['worst_signal']})"),
                shown=f"{len(shown)} of {len(g.signals)} signals" if len(shown) < len(g.signals) else "",
                log_axis=log_axis, twin_label=self.twin_label, ideal_label="ideal math",
                iteration=None if g.iteration is None else np.asarray(g.iteration, float),
            )
        return out

    def report_section(self, *, validity: bool = True) -> list[str]:
        """Markdown lines of the report's "Comparison" section (``validity``: open it with the twin's
        validity, for a report that does not state it above)."""
        m = self.metrics()
        lines = ["## Comparison: analog, twin and ideal mathematics", ""]
        v = self.validity
        if validity:
            lines += [("Twin validity: " if v.valid else "**Warning: the twin is outside its valid regime**: ")
                      + v.note + ".", ""]
        rows = []
        for g in self.groups:
            e = m["groups"][g.name]
            cells = [g.name, f"{e['points']} × {len(e['signals'])}"]
            for pair, _, _ in PAIRS:
                d = e[pair]
                cells.append(f"{quantity(d['max_abs'], g.unit)} ({d['max_fraction_of_range']:.2e})")
            cells.append(_theory_text(e.get("theory")))
            rows.append(cells)
        lines += markdown_table(["group", "points × signals", "analog − twin, max (of range)",
                                 "analog − ideal", "twin − ideal", "theory"], rows) + [""]
        described: dict[tuple[str, str], list[str]] = {}
        for g in self.groups:
            described.setdefault((g.twin, g.ideal_text), []).append(g.name)
        lines += [f"- **{', '.join(names)}**: twin = {twin}; ideal = {ideal}." for (twin, ideal), names in described.items()]
        lines += ["", "Deviations are the largest |difference| over the axis and the signals; in parentheses as a "
                  "fraction of each signal's range (its peak-to-peak on the reference side). Every point of every "
                  "side is in `trajectories.parquet`.", ""]
        lines += [f"![{g.name}]({self.figure_name(g)})" for g in self.groups] + [""]
        return lines

    def write(self, out: RunDirectory, options: PlotOptions = PlotOptions()) -> None:
        """``trajectories.parquet`` and the groups' figures into ``out``."""
        self.frame().to_parquet(out.file("trajectories.parquet"), index=False)
        for name, fig in self.figures(options).items():
            out.save_figure(name, fig)


def write_metrics(out: RunDirectory, metrics: dict[str, Any], comparison: Comparison | None = None,
                  options: PlotOptions = PlotOptions()) -> dict[str, Any]:
    """The one writer of ``metrics.json``: with a ``comparison``, its shared keys, its twin validity
    (``twin_validity``; an invalid twin adds its warning line to ``warnings``, which the CLI prints) and
    its files; returns ``metrics`` as written."""
    if comparison is not None:
        metrics["comparison"] = comparison.metrics()
        metrics["twin_validity"] = comparison.validity.to_json()
        warnings = metrics.setdefault("warnings", [])
        lines = [comparison.validity.warning_line] if not comparison.validity.valid else []
        lines += [f"comparison group {g.name!r} has no ideal side: {g.ideal_missing}" for g in comparison.groups
                  if g.ideal_missing]
        warnings += [line for line in lines if line not in warnings]
        comparison.write(out, options)
    write_json(out.file("metrics.json"), metrics)
    return metrics


def read_trajectories(path) -> "Any":
    """``trajectories.parquet`` back as a pandas DataFrame (see :meth:`Comparison.frame`)."""
    import pandas as pd

    return pd.read_parquet(path)


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "group"


def _theory_text(theory: dict[str, Any] | None) -> str:
    if not theory:
        return "–"
    return "; ".join(f"{k.replace('_', ' ')} {v:.3g}" if isinstance(v, float) else f"{k.replace('_', ' ')}: {v}"
                     for k, v in theory.items())


def signals_of(names: Sequence[str], analog: np.ndarray, twin: np.ndarray,
               ideal: np.ndarray | None = None) -> tuple[Signal, ...]:
    """Signals from (points, signals) arrays with one column per name."""
    return tuple(Signal(n, analog[:, k], twin[:, k], None if ideal is None else ideal[:, k])
                 for k, n in enumerate(names))


__all__ = ("Comparison", "Group", "Signal", "TwinValidity", "PlotOptions", "plot_options",
                          "write_metrics", "read_trajectories", "signals_of", "PAIRS", "DEVIATION_KEYS")
