"""Readable Markdown reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .results import write_json


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def write_report(path: Path, text: str) -> None:
    path.write_text(text)


def record_simulator(directory: Path, simulator: Any) -> None:
    """Name the simulator that ran a result directory's decks (a
    :class:`~analogopt.spice.runner.SimulatorInfo`; None: nothing was simulated) in its
    ``metrics.json`` (key ``simulator``: program, version, solver) and at the end of its ``report.md``,
    so that every result says which release and sparse solver produced its numbers."""
    if simulator is None:
        return
    metrics_path = directory / "metrics.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        metrics["simulator"] = simulator.to_json()
        write_json(metrics_path, metrics)
    report_path = directory / "report.md"
    if report_path.exists():
        text = report_path.read_text().rstrip("\n")
        report_path.write_text(f"{text}\n\nSimulated with {simulator}.\n")
