"""What a reproduction item is, what it returns, and what it may use while it runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..progress import Progress
from ..results import RunDirectory

REPRODUCED = "reproduced"
QUALITATIVE = "reproduced qualitatively"
NOT_REPRODUCED = "not reproduced"
VERDICTS = (REPRODUCED, QUALITATIVE, NOT_REPRODUCED)


def pyplot():
    """matplotlib's pyplot behind the Agg backend (imported when an item draws, not when items are listed)."""
    from ..plots import plt

    return plt


@dataclass
class Outcome:
    """One item's result.

    ``rows``: the comparison table, one row per quantity: ``(quantity, paper's value, ours, note)``;
    ``figures``: ``(file name, caption)`` of PNGs the item saved with :meth:`Context.save_figure`;
    ``setup``: how our setup differs from the paper's (data set, sizes, epochs …); ``reason``: the measured
    reason behind the verdict; ``checks``: mutation checks, each ``(what was broken, what happened)``, that
    show the item's criterion can fail; ``numbers``: everything measured, for ``reproduction.json``."""

    verdict: str
    reason: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Item:
    """A figure, table or claim of one paper.

    ``key`` names it on the command line (``000-fig4ab``); ``ref`` is the paper's own label (``Fig. 4a/b``);
    ``paper_says`` describes the paper's figure or numbers in our words; ``long`` marks an item whose full
    run takes minutes (``minutes``: measured on the 2-core reference machine), which ``--quick`` shrinks."""

    key: str
    paper: str
    ref: str
    title: str
    paper_says: str
    run: Callable[["Context"], Outcome]
    minutes: float = 0.5
    long: bool = False


class Context:
    """What an item may use: the size (``quick``), the result directory, the runner and progress.

    Figures are saved under the item's key (``<key>_<name>.png``); scenario runs go into
    ``runs/<key>/<scenario>/`` as complete result directories of their own. A scenario run with the same
    overrides by an earlier item of the same command is not run again: ``runs`` maps (scenario, overrides)
    to its metrics and folder, shared by every item's context."""

    def __init__(self, item: Item, out: RunDirectory, *, quick: bool, runner: Any, progress: Progress,
                 runs: dict[tuple[str, tuple[str, ...]], tuple[dict[str, Any], Path]] | None = None) -> None:
        self.item, self.out, self.quick, self.runner, self.progress = item, out, quick, runner, progress
        self.runs = {} if runs is None else runs
        self._folders: dict[str, Path] = {}

    def figure_name(self, name: str) -> str:
        return f"{self.item.key}_{name}.png"

    def save_figure(self, name: str, figure: Any) -> str:
        file = self.figure_name(name)
        self.out.save_figure(file, figure)
        return file

    def run_scenario(self, name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
        """Run a shipped scenario (``overrides`` as ``--set PATH=VALUE``) into its own result directory
        and return its metrics."""
        from ..experiments import build_experiment
        from ..report import record_simulator
        from ..scenarios import load_scenario

        key = (name, tuple(overrides))
        if key in self.runs:
            metrics, folder = self.runs[key]
            self._folders[name] = folder
            return metrics
        scenario = load_scenario(name, list(overrides))
        experiment = build_experiment(scenario)
        folder = Path("runs") / self.item.key / name
        target = self.out.path / folder
        target.parent.mkdir(parents=True, exist_ok=True)
        self.progress.stage(f"{self.item.key}: {name}")
        before = self.runner.describe()  # the runner is shared: this folder records only its own runs
        with RunDirectory(target) as run:
            experiment.run(run, self.progress, runner=self.runner)
            if getattr(experiment, "has_circuit", True):
                after = self.runner.describe()
                record_simulator(run.path, None if after is None else after.since(before))
        # the file, not run()'s dict: it carries what record_simulator added, as JSON types
        metrics = json.loads((target / "metrics.json").read_text())
        self.runs[key] = (metrics, folder)
        self._folders[name] = folder
        return metrics

    def relative_path(self, name: str) -> Path:
        """The result folder (relative to the report) of this item's run of scenario ``name``."""
        return self._folders[name]


@dataclass
class ItemResult:
    item: Item
    outcome: Outcome
    elapsed_s: float
    quick: bool


def run_item(item: Item, out: RunDirectory, *, quick: bool, runner: Any, progress: Progress,
             runs: dict | None = None) -> ItemResult:
    """Run one item; ``runs``: the scenario runs shared between the items of one command (:class:`Context`)."""
    t0 = time.perf_counter()
    outcome = item.run(Context(item, out, quick=quick, runner=runner, progress=progress, runs=runs))
    return ItemResult(item, outcome, time.perf_counter() - t0, quick)
