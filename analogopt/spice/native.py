"""``--simulator native``: DC operating points and DC sweeps of linear netlists, solved in-process.

:class:`NativeRunner` takes the same decks as the ngspice runners and returns the same
:class:`~analogopt.spice.runner.RunResult`: one :class:`Waveforms` per analysis, in the order ngspice
writes them (its ``.dc`` sweeps last to first, then the operating point), with ngspice's vector names
(``v(x0)``, ``i(vb0)``, ``v(xtia0.n1)``, ``i(e.xtia0.ea)``; a sweep's axis ``v(v-sweep)`` or
``i(i-sweep)``) and only the vectors a ``.save`` names (all of them without one). It reads the netlist
with :func:`.native_parse.parse` and solves it with :func:`.native_solve.solve`; anything those do not
read (a B source, a diode, ``.tran``) is refused in one line that says to use ``--simulator ngspice``,
never approximated.

There is no child process: :meth:`NativeRunner.start` solves at once and its :meth:`NativePending.wait`
hands the result over. The wall-time limit is checked between the parsing, assembly and solving
steps and between solver iterations. With a ``run_dir``, the netlist is kept there as ``netlist.cir``
and the solver's report as ``native.out``, as the ngspice runners keep theirs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import AnalogOptError, NetlistError, OutputError
from .run_result import RunResult, SolverTally, runs_since, solver_text
from .waveforms import Waveforms

if TYPE_CHECKING:
    from .netlist import NetlistDeck

# The reader and the solver (pandas, scipy) are imported on first use: every runner import brings
# this module, and most runs never use it.

#: :attr:`Waveforms.source` of every native result
SOURCE = "the native simulator"
_SWEEP_AXIS = {"v": "v(v-sweep)", "i": "i(i-sweep)"}
#: the solver of each of :func:`.native_solve.solve`'s methods
_SOLVER_NAMES = {"direct": "SuperLU", "iterative": "CG/GMRES"}


@dataclass(frozen=True)
class NativeInfo:
    """What :meth:`NativeRunner.describe` reports (the fields of
    :class:`~analogopt.spice.runner.SimulatorInfo` that results record)."""

    method: str
    program: str = "native"
    version: str = ""
    #: in a runner's description, how many of its runs took each solver (as :attr:`SimulatorInfo.runs`)
    runs: tuple[tuple[str, int], ...] = ()

    @property
    def solver(self) -> str:
        from .native_solve import ITERATIVE_MIN_UNKNOWNS  # on first use, like the solver itself

        policy = {"auto": f"SuperLU, or CG/GMRES from {ITERATIVE_MIN_UNKNOWNS} unknowns"}.get(
            self.method, _SOLVER_NAMES.get(self.method, self.method))
        return solver_text(policy, self.runs)

    def since(self, before: "NativeInfo | None") -> "NativeInfo":
        """As :meth:`SimulatorInfo.since`: the runs counted after ``before``."""
        return self if before is None else dataclasses.replace(self, runs=runs_since(self.runs, before.runs))

    def __str__(self) -> str:
        return f"analogopt's native DC solver ({self.solver})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"program": self.program, "version": self.version, "solver": self.solver}
        if self.runs:
            out["runs_by_solver"] = dict(self.runs)
        return out


class NativeRunner:
    """Solves linear DC decks in-process (see the module docstring).

    ``timeout_s`` bounds each run, or with ``whole_run`` everything run on this runner from its
    creation; ``method`` is ``"auto"`` (sparse LU, iterative from
    :data:`~analogopt.spice.native_solve.ITERATIVE_MIN_UNKNOWNS` unknowns), ``"direct"`` or ``"iterative"``.
    """

    program = "native"

    def __init__(self, timeout_s: float = 600.0, *, whole_run: bool = False, method: str = "auto") -> None:
        from .native_solve import METHODS

        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.timeout_s = timeout_s
        self.deadline = time.perf_counter() + timeout_s if whole_run else None
        self.method = method
        self._solvers = SolverTally()

    def describe(self) -> NativeInfo:
        """The solver this runner uses, and which its runs took (what result directories record as their
        simulator)."""
        return NativeInfo(self.method, runs=self._solvers.runs())

    def run(self, deck: "NetlistDeck | str", run_dir: Path | None = None,
            progress: Callable[[float], None] | None = None) -> "RunResult":
        """Solve ``deck`` (a :class:`NetlistDeck` or its text); ``progress`` hears 1.0 at the end."""
        result = self._solve(deck, run_dir)
        if progress is not None:
            progress(1.0)
        return result

    def start(self, deck: "NetlistDeck | str", run_dir: Path | None = None) -> "NativePending":
        """Solve ``deck`` now; the returned object's :meth:`~NativePending.wait` returns the result
        (or raises its error)."""
        try:
            return NativePending(self._solve(deck, run_dir), None)
        except AnalogOptError as exc:
            return NativePending(None, exc)

    def _solve(self, deck: "NetlistDeck | str", run_dir: Path | None) -> "RunResult":
        from .native_parse import parse
        from .native_solve import Deadline, solve

        started = time.perf_counter()
        text = deck if isinstance(deck, str) else deck.format()
        netlist_path = Path(run_dir) / "netlist.cir" if run_dir is not None else Path("netlist.cir")
        if run_dir is not None:
            _keep(netlist_path, text)
        stop = started + self.timeout_s if self.deadline is None else min(started + self.timeout_s, self.deadline)
        deadline = Deadline(stop, self.timeout_s)
        try:
            deadline.check("starting")
            netlist = parse(text)
            parsed = time.perf_counter()
            deadline.check("reading the netlist")
            solution = solve(netlist, self.method, deadline)
            plots, missing = _plots(netlist, solution)
        except AnalogOptError as exc:
            exc.netlist_text = text
            raise
        ended = time.perf_counter()
        ran = NativeInfo(solution.method)
        self._solvers.add(ran.solver)
        warnings = [f"Warning: .save {name}: no such vector; it is left out" for name in missing]
        branches = sum(netlist.elements[k].count for k in "vel" if k in netlist.elements)
        report = (f"native simulator: {len(netlist.node_names) - 1} nodes, {branches} branch currents; {solution.method}: {solution.detail}; relative residual of the circuit's "
                  f"equations {solution.backward_error:.1e}; parse {parsed - started:.3f} s, solve "
                  f"{ended - parsed:.3f} s\n")
        if run_dir is not None:
            _keep(Path(run_dir) / "native.out", report + "".join(f"{w}\n" for w in warnings))
        return RunResult(plots=plots, netlist_path=netlist_path, stdout=report, stderr="", elapsed_s=ended - started,
                         warnings=warnings, parse_s=parsed - started, simulator=ran)


class NativePending:
    """A native run already solved: :meth:`wait` returns its result or raises its error."""

    def __init__(self, result: "RunResult | None", error: AnalogOptError | None) -> None:
        self._result, self._error = result, error

    def wait(self, progress: Callable[[float], None] | None = None) -> "RunResult":
        if self._error is not None:
            raise self._error
        if progress is not None:
            progress(1.0)
        return self._result

    def cancel(self) -> None:
        """Nothing runs in the background: nothing to stop."""


def _keep(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; free space or choose another --out") from None


def _branch_vectors(netlist) -> list[tuple[str, str, int]]:
    """(vector name, letter, index) of every branch current, in ngspice's order: inductors, VCVS,
    voltage sources (its device-table order), each kind last element first."""
    from .native_solve import vector_name

    out = []
    for letter in "lev":
        el = netlist.elements.get(letter)
        if el is not None and el.count:
            out.extend((vector_name(letter, name), letter, k) for k, name in reversed(list(enumerate(el.names))))
    return out


def _plots(netlist, solution) -> tuple[list[Waveforms], list[str]]:
    """The Waveforms of every analysis, ngspice's plot order, and the saved names no vector matches."""
    branches = _branch_vectors(netlist)
    if netlist.saves is None:
        voltage_names = [f"v({name})" for name in netlist.node_names[1:]]
        chosen = [("node", k + 1) for k in range(len(voltage_names))] + [(letter, k) for _, letter, k in branches]
        names = voltage_names + [name for name, _, _ in branches]
        missing: list[str] = []
    else:
        chosen, names, missing = _saved(netlist, branches)
    plots = []
    for index in [*reversed([k for k, a in enumerate(netlist.analyses) if a[0] == "dc"]),
                  *[k for k, a in enumerate(netlist.analyses) if a[0] == "op"][:1]]:
        analysis = netlist.analyses[index]
        voltages, currents = solution.voltages[index], solution.currents[index]
        if names:
            node_cols = np.array([k for kind, k in chosen if kind == "node"], dtype=np.int64)
            node_values = voltages[:, node_cols]
            signals, j = {}, 0
            for name, (kind, k) in zip(names, chosen):
                if kind == "node":
                    signals[name] = node_values[:, j]
                    j += 1
                else:
                    signals[name] = currents[kind][:, k]
        else:
            signals = {}
        if analysis[0] == "op":
            plots.append(Waveforms("op", "index", np.arange(1, dtype=np.float64), signals, SOURCE))
        else:
            plots.append(Waveforms("dc", _SWEEP_AXIS[analysis[1][0]], solution.axes[index], signals, SOURCE))
    return plots, missing


def _saved(netlist, branches) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """What ``.save`` names, as (kind, index) and vector names; names no vector matches (ngspice leaves
    those out with a warning)."""
    import pandas as pd

    nodes = pd.Index(netlist.node_names)
    branch_index = {name: (letter, k) for name, letter, k in branches}
    chosen, names, missing, asked = [], [], [], []
    for token in netlist.saves:
        if token.startswith("@") or "," in token:
            raise NetlistError(f"the native simulator cannot save {token!r}: it saves node voltages v(node) and "
                               "branch currents i(source) only; run it with --simulator ngspice")
        if token.startswith("i(") and token.endswith(")"):
            name = f"i({token[2:-1]})"
        elif token.endswith("#branch"):
            name = f"i({token[:-7]})"
        else:
            name = f"v({token[2:-1]})" if token.startswith("v(") and token.endswith(")") else f"v({token})"
        asked.append(name)
    node_keys = [name[2:-1] for name in asked if name.startswith("v(")]
    found = dict(zip(node_keys, nodes.get_indexer(node_keys))) if node_keys else {}
    for name in asked:
        if name in names:
            continue
        if name.startswith("v("):
            k = int(found[name[2:-1]])
            if k > 0:
                chosen.append(("node", k))
                names.append(name)
                continue
        elif name in branch_index:
            chosen.append(branch_index[name])
            names.append(name)
            continue
        missing.append(name)
    return chosen, names, missing
