"""The sweep's tidy table, summary statistics, yield against a spec, and plots.

One row per sample (see :mod:`analogopt.sweep.evaluate`): ``id, point, mc_index, seed, status, error``,
``corner`` (with ``--corners``), the swept values as ``set.<path>`` columns, every scalar metric, and
``time_*`` columns.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..results import write_json
from .evaluate import CORNER_COLUMN, ID_COLUMNS, VOLATILE_PREFIXES

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_SPEC = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Spec:
    """``metric OP value`` with OP one of ``< <= > >=``, e.g. ``max_abs_deviation<0.01``."""

    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Spec":
        m = _SPEC.match(text)
        if not m:
            raise ConfigError(f"--spec {text!r}: expected METRIC<VALUE (or <=, >, >=), e.g. max_abs_deviation<0.01")
        try:
            value = float(m.group(3))
        except ValueError:
            raise ConfigError(f"--spec {text!r}: {m.group(3)!r} is not a number") from None
        if not math.isfinite(value):  # 1e999: every sample would pass (or none) whatever it measured
            raise ConfigError(f"--spec {text!r}: the limit {m.group(3)} is not a finite number")
        metric = m.group(1)
        if metric in (*ID_COLUMNS, CORNER_COLUMN) or metric.startswith(("set.", *VOLATILE_PREFIXES)):
            raise ConfigError(f"--spec {text!r}: {metric!r} is a column of the sweep's own bookkeeping (ids, swept "
                              "values, timings), not a metric of the samples")
        return cls(metric, m.group(2), value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def passes(self, table: pd.DataFrame) -> np.ndarray:
        """Per row: the sample finished ``ok`` and meets the spec (a failed simulation is not a good chip)."""
        if self.metric not in metric_columns(table, booleans=True):
            known = ", ".join(metric_columns(table)) or "none (no sample finished)"
            raise ConfigError(f"--spec {self}: no metric {self.metric!r} in the table; metrics: {known}")
        values = pd.to_numeric(table[self.metric], errors="coerce").to_numpy(dtype=float)
        ok = (table["status"] == "ok").to_numpy()
        with np.errstate(invalid="ignore"):
            return ok & _OPS[self.op](values, self.value)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good at yields near 0 or 1 and small n)."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def build_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows → DataFrame with a stable column order: ids, swept values, metrics, timings, worker."""
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=list(ID_COLUMNS))
    cols = list(table.columns)
    ids = [*ID_COLUMNS, *([CORNER_COLUMN] if CORNER_COLUMN in cols else [])]
    sets = [c for c in cols if c.startswith("set.")]
    volatile = [c for c in cols if c.startswith(VOLATILE_PREFIXES)]
    metrics = sorted(c for c in cols if c not in ids and c not in sets and c not in volatile)
    table = table[[*ids, *sets, *metrics, *sorted(volatile)]]
    table["error"] = table["error"].fillna("").astype(str)
    for c in ("mc_index", "seed"):
        table[c] = table[c].astype("Int64")
    return table


def metric_columns(table: pd.DataFrame, *, booleans: bool = False) -> list[str]:
    """Numeric result columns (not ids, swept values or timings); with ``booleans`` also the true/false
    ones (``within_tolerance``: a spec reads them as 1 and 0, statistics and plots skip them)."""
    skip = {*ID_COLUMNS, CORNER_COLUMN}
    return [c for c in table.columns if c not in skip and not c.startswith(("set.", *VOLATILE_PREFIXES))
            and pd.api.types.is_numeric_dtype(table[c])
            and (booleans or not pd.api.types.is_bool_dtype(table[c]))]


def set_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("set.")]


def save_table(table: pd.DataFrame, out: Path) -> None:
    table.to_parquet(out / "results.parquet", index=False)
    table.to_csv(out / "results.csv", index=False)


def summarize(table: pd.DataFrame, specs: list[Spec] = ()) -> dict[str, Any]:
    """Counts, per-metric statistics over ``ok`` samples (overall and per point), and yields."""
    ok = table[table["status"] == "ok"]
    summary: dict[str, Any] = {
        "samples": int(len(table)),
        "status": {k: int((table["status"] == k).sum()) for k in ("ok", "failed", "timeout")},
        "metrics": {},
        "points": [],
    }
    for c in metric_columns(table):
        v = pd.to_numeric(ok[c], errors="coerce").dropna().to_numpy(dtype=float)
        if v.size:
            summary["metrics"][c] = _stats(v)
    sets = [*([CORNER_COLUMN] if CORNER_COLUMN in table.columns else []), *set_columns(table)]
    for point, group in table.groupby("point", sort=True):
        entry: dict[str, Any] = {"point": int(point)}
        entry.update({c: group[c].iloc[0] for c in sets})
        g_ok = group[group["status"] == "ok"]
        entry["samples"], entry["ok"] = int(len(group)), int(len(g_ok))
        entry["metrics"] = {c: _stats(pd.to_numeric(g_ok[c], errors="coerce").dropna().to_numpy(dtype=float))
                            for c in metric_columns(table) if g_ok[c].notna().any()}
        summary["points"].append(entry)
    summary["yield"] = [yield_of(table, s) for s in specs]
    for spec in specs:
        for entry, (_, group) in zip(summary["points"], table.groupby("point", sort=True)):
            entry.setdefault("yield", {})[str(spec)] = yield_of(group, spec)
    return summary


def yield_of(table: pd.DataFrame, spec: Spec, confidence: float = 0.95) -> dict[str, Any]:
    passed = int(spec.passes(table).sum())
    n = int(len(table))
    low, high = wilson_interval(passed, n, confidence)
    return {"spec": str(spec), "passed": passed, "samples": n, "yield": passed / n if n else float("nan"),
            "ci_low": low, "ci_high": high, "confidence": confidence, "interval": "Wilson score"}


def _stats(v: np.ndarray) -> dict[str, float]:
    if v.size == 0:
        return {"count": 0}
    q = np.quantile(v, [0.05, 0.5, 0.95])
    return {"count": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "p05": float(q[0]), "median": float(q[1]), "p95": float(q[2]), "max": float(v.max())}


def write_summary(table: pd.DataFrame, out: Path, specs: list[Spec] = ()) -> dict[str, Any]:
    summary = summarize(table, specs)
    write_json(out / "summary.json", summary)
    return summary


# ------------------------------------------------------------------------------------------- plots
def plot_metrics(table: pd.DataFrame, out: Path, *, max_metrics: int = 9) -> list[Path]:
    """``histograms.png`` (one panel per metric) and ``vs_<path>.png`` per swept path (metric vs value)."""
    from matplotlib.figure import Figure

    ok = table[table["status"] == "ok"]
    metrics = [c for c in metric_columns(table) if ok[c].notna().any()][:max_metrics]
    written: list[Path] = []
    if ok.empty or not metrics:
        return written
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    for ax, c in zip(np.atleast_1d(fig.subplots(rows, cols)).ravel(), metrics):
        ax.hist(pd.to_numeric(ok[c]).to_numpy(dtype=float), bins=min(30, max(5, len(ok) // 3)), color="tab:blue")
        ax.set_title(c, fontsize=9)
        ax.set_ylabel("samples")
    fig.suptitle(f"{len(ok)} ok samples of {len(table)}")
    written.append(out / "histograms.png")
    fig.savefig(written[-1], dpi=100)
    for path in set_columns(table):
        x = pd.to_numeric(ok[path], errors="coerce")
        if x.isna().all():
            continue  # non-numeric swept values (arrays, names): no axis to plot against
        fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
        for ax, c in zip(np.atleast_1d(fig.subplots(rows, cols)).ravel(), metrics):
            y = pd.to_numeric(ok[c], errors="coerce")
            ax.plot(x, y, ".", alpha=0.5, color="tab:blue")
            means = pd.DataFrame({"x": x, "y": y}).groupby("x")["y"].mean()
            ax.plot(means.index, means.to_numpy(), "-", color="k", lw=1, label="mean")
            ax.set_xlabel(path.removeprefix("set."), fontsize=8)
            ax.set_title(c, fontsize=9)
            if np.all(means.index > 0) and means.index.max() / means.index.min() > 50:
                ax.set_xscale("log")
        name = re.sub(r"[^A-Za-z0-9_]+", "_", path.removeprefix("set."))
        written.append(out / f"vs_{name}.png")
        fig.savefig(written[-1], dpi=100)
    return written


def load_table(out: Path) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / "results.parquet")


def stable_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The table without columns that legitimately differ between runs (timings, worker)."""
    return table[[c for c in table.columns if not c.startswith(VOLATILE_PREFIXES)]]


def describe_yield(y: dict[str, Any]) -> str:
    return (f"yield({y['spec']}) = {y['passed']}/{y['samples']} = {y['yield']:.1%} "
            f"[{y['ci_low']:.1%}, {y['ci_high']:.1%}] ({y['confidence']:.0%} {y['interval']})")
