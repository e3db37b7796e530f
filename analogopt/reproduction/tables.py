"""Shared by the items that reproduce a paper's accuracy table with a ``rules_table`` scenario."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .base import Context

#: ``--quick``: one seed and two epochs of every row (the table's ordering is not judged from these sizes).
QUICK_TABLE = ("seeds=[0]", "base.epochs=2")


def run_table(ctx: Context, scenario: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The scenario's metrics, shrunk to CI size under ``--quick``."""
    return ctx.run_scenario(scenario, [*overrides, *(QUICK_TABLE if ctx.quick else ())])


def accuracy(t: Mapping[str, Any], metric: str = "test") -> str:
    return f"{t[f'{metric}_mean']:.2f} ± {t[f'{metric}_sd']:.2f} %"


def diverged(m: Mapping[str, Any], label: str) -> str:
    """"N of K seeds diverged" for line ``label`` of table metrics ``m``; "" when none did."""
    count = m["table"][label].get("diverged_runs", 0)
    return f"{count} of {len(m['seeds'])} seeds diverged" if count else ""


def table_rows(m: Mapping[str, Any], paper: Mapping[str, str], *, note: str = "") -> list[tuple[str, str, str, str]]:
    """One row per table line: the paper's number beside our test accuracy (train, and any diverged
    seeds, in the note)."""
    return [(label, paper.get(label, "—"), accuracy(t),
             "; ".join(filter(None, [f"train {accuracy(t, 'train')}", diverged(m, label), note])))
            for label, t in m["table"].items()]


def gap(m: Mapping[str, Any], left: str, right: str, metric: str = "test") -> float:
    """mean(left) − mean(right), in points."""
    return float(m["table"][left][f"{metric}_mean"] - m["table"][right][f"{metric}_mean"])
