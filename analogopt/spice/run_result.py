"""What a simulation run returns (:class:`RunResult`) and which simulator produced it
(:class:`SimulatorInfo`): shared by every runner (the ngspice program, libngspice, sessions, the native
solver), so that none of them imports another for its result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SimulationError
from .netlist import KLU_MIN_ELEMENTS
from .waveforms import Waveforms


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

    @property
    def solver(self) -> str:
        if self.klu and self.by_size:
            return f"KLU from {KLU_MIN_ELEMENTS} elements, Sparse 1.3 below"
        return "KLU" if self.klu else "Sparse 1.3"

    def __str__(self) -> str:
        name = f"{self.program}-{self.version}" if self.version else self.program
        reruns = (f"; {self.sparse_reruns} run{'s' if self.sparse_reruns > 1 else ''} re-ran with Sparse 1.3 "
                  "after KLU failed to converge") if self.sparse_reruns else ""
        return f"{name} ({self.solver} solver{reruns})"

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "version": self.version, "solver": self.solver,
                "sparse_reruns": self.sparse_reruns}


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
