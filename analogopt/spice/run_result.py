"""What a simulation run returns (:class:`RunResult`) and which simulator produced it
(:class:`SimulatorInfo`): shared by every runner (the ngspice program, libngspice, sessions, the native
solver), so that none of them imports another for its result types."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import SimulationError
from .netlist import KLU_MIN_ELEMENTS
from .waveforms import Waveforms


def solver_text(policy: str, runs: tuple[tuple[str, int], ...]) -> str:
    """What a runner says of its solver: the one its runs took ("KLU"), how many runs took each where they
    differ ("KLU for 2 runs, Sparse 1.3 for 5 runs"), or, before any run, its ``policy``."""
    if len(runs) == 1:
        return runs[0][0]
    if runs:
        return ", ".join(f"{name} for {count} run{'s' if count != 1 else ''}" for name, count in runs)
    return policy


class SolverTally:
    """How many of a runner's runs took each solver, for its description (:attr:`SimulatorInfo.runs`)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, solver: str) -> None:
        self._counts[solver] = self._counts.get(solver, 0) + 1

    def runs(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self._counts.items()))


def runs_since(now: tuple[tuple[str, int], ...], before: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """The runs of tally ``now`` that tally ``before`` (an earlier one of the same runner) did not hold."""
    earlier = dict(before)
    return tuple((name, count - earlier.get(name, 0)) for name, count in now if count > earlier.get(name, 0))


@dataclass(frozen=True)
class SimulatorInfo:
    """Which simulator ran a deck: ``program`` ("ngspice", "libngspice", …), its release ``version``
    ("46"; "" when it did not say) and whether it was built with the KLU sparse solver (``klu``), which
    the runners then select with ``.options klu``; without it ngspice uses Sparse 1.3."""

    program: str
    version: str
    klu: bool
    #: runs that KLU could not converge and ngspice re-ran with Sparse 1.3 (see :class:`NgspiceRunner`)
    sparse_reruns: int = 0

    #: a runner's description rather than one run's: KLU where a deck selects it, Sparse 1.3 below
    by_size: bool = False
    #: in a runner's description, how many of its runs took each solver ((solver, count) pairs, by name):
    #: what a result directory records is the solver its decks ran on, not only the runner's rule
    runs: tuple[tuple[str, int], ...] = ()

    @property
    def solver(self) -> str:
        policy = f"KLU from {KLU_MIN_ELEMENTS} elements, Sparse 1.3 below" if self.klu and self.by_size else (
            "KLU" if self.klu else "Sparse 1.3")
        return solver_text(policy, self.runs)

    def since(self, before: "SimulatorInfo | None") -> "SimulatorInfo":
        """This description less what an earlier one of the same runner (``before``; None: none yet)
        already counted: the runs, and the Sparse 1.3 re-runs, in between."""
        if before is None:
            return self
        return replace(self, runs=runs_since(self.runs, before.runs),
                       sparse_reruns=self.sparse_reruns - before.sparse_reruns)

    def __str__(self) -> str:
        name = f"{self.program}-{self.version}" if self.version else self.program
        reruns = (f"; {self.sparse_reruns} run{'s' if self.sparse_reruns > 1 else ''} re-ran with Sparse 1.3 "
                  "after KLU failed to converge") if self.sparse_reruns else ""
        if len(self.runs) > 1:  # "KLU for 2 runs, Sparse 1.3 for 5 runs"
            solver = self.solver
        elif not self.runs and self.klu and self.by_size:  # no run yet: the runner's rule
            solver = f"solver by deck size: {self.solver}"
        else:
            solver = f"{self.solver} solver"
        return f"{name} ({solver}{reruns})"

    def to_json(self) -> dict[str, Any]:
        out = {"program": self.program, "version": self.version, "solver": self.solver,
               "sparse_reruns": self.sparse_reruns}
        if self.runs:
            out["runs_by_solver"] = dict(self.runs)
        return out


@dataclass(frozen=True)
class RunResult:
    """What one ngspice run produced: the plots in file order and the run's console output.

    ``elapsed_s``: wall time of the ngspice process (s), launch to exit."""

    plots: list[Waveforms]
    netlist_path: Path
    stdout: str
    stderr: str
    elapsed_s: float
    warnings: list[str] = field(default_factory=list)
    #: time spent reading the raw file (s)
    parse_s: float = 0.0
    #: the simulator that ran it (version, solver)
    simulator: SimulatorInfo | None = None

    def analysis(self, kind: str) -> Waveforms:
        """The first plot of analysis ``kind`` (``"tran"``, ``"op"``, ``"dc"``, ``"ac"``)."""
        for plot in self.plots:
            if plot.analysis == kind:
                return plot
        raise SimulationError(f"ngspice produced no {kind} analysis (plots: {[p.analysis for p in self.plots]})")
