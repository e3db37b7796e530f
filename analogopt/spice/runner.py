"""Running netlists in ngspice.

:class:`NgspiceRunner` (the default) runs each simulation in its own ``ngspice -b`` process with a
wall-time limit, so a crash or hang never takes the caller down and runs can go in parallel.
:class:`SharedLibraryRunner` uses PySpice's shared-library binding instead, inside a child process
because PySpice keeps one global ngspice instance per process.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..errors import SimulationError, SimulationTimeoutError, SimulatorNotFoundError
from .diagnostics import raise_for_output, warnings_of
from .netlist import NetlistDeck
from .rawfile import read_raw
from .waveforms import Waveforms

#: Called with the fraction of the transient done, 0…1.
ProgressCallback = Callable[[float], None]

_REFERENCE = re.compile(rb"Reference value\s*:\s*([-+0-9.eE]+)")


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

    def analysis(self, kind: str) -> Waveforms:
        """The first plot of analysis ``kind`` (``"tran"``, ``"op"``, ``"dc"``, ``"ac"``)."""
        for plot in self.plots:
            if plot.analysis == kind:
                return plot
        raise SimulationError(f"ngspice produced no {kind} analysis (plots: {[p.analysis for p in self.plots]})")


class Pending(Protocol):
    """A launched simulation: collect it with :meth:`wait`, or abandon it with :meth:`cancel`."""

    def wait(self, progress: ProgressCallback | None = None) -> RunResult: ...

    def cancel(self) -> None: ...


class Runner(Protocol):
    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult: ...

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> Pending: ...


def ngspice_available(executable: str = "ngspice") -> bool:
    return shutil.which(executable) is not None


_FOUND: dict[tuple[str, str], str] = {}


def _which(executable: str, path: str) -> str | None:
    """``shutil.which``, remembered per PATH once found: a sweep launches thousands of runs, and each
    would search PATH again (a miss is not remembered, so installing ngspice later is seen)."""
    found = _FOUND.get((executable, path))
    if found is None:
        found = shutil.which(executable, path=path)
        if found is not None:
            _FOUND[(executable, path)] = found
    return found


_TRAN = re.compile(r"^\.tran[ \t]+\S+[ \t]+(\S+)", re.IGNORECASE | re.MULTILINE)


def _stop_time(text: str) -> float | None:
    """The ``.tran`` stop time (s) for progress reports; None without a transient or when not plain."""
    match = _TRAN.search(text)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


class NgspiceRunner:
    """Runs ``ngspice -b -r out.raw netlist.cir`` in a run directory.

    ``timeout_s`` bounds the wall time of one run. When ``run_dir`` is not given, a temporary
    directory is used and removed after a successful run (kept on failure, for diagnosis).
    """

    def __init__(self, executable: str = "ngspice", timeout_s: float = 600.0) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.executable = executable
        self.timeout_s = timeout_s

    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult:
        # Nobody computes meanwhile: the caller's own thread sleeps on the process (no helper thread),
        # unless progress has to be reported along the way.
        return self._launch(deck, run_dir, watched=progress is not None).wait(progress)

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> "PendingRun":
        """Launch ngspice and return at once; :meth:`PendingRun.wait` collects the result.

        The caller can compute meanwhile (the co-simulation steps the digital twin while ngspice runs).
        """
        return self._launch(deck, run_dir, watched=True)

    def _not_found(self) -> SimulatorNotFoundError:
        return SimulatorNotFoundError(
            f"ngspice not found on PATH ({self.executable!r}); install it with 'apt-get install ngspice' "
            "or run scripts/setup.sh"
        )

    def _launch(self, deck: NetlistDeck | str, run_dir: Path | None, watched: bool) -> "PendingRun":
        path = os.environ.get("PATH", "")
        exe = _which(self.executable, path)
        if exe is None:
            raise self._not_found()
        text = deck if isinstance(deck, str) else deck.format()
        temporary = run_dir is None
        directory = Path(tempfile.mkdtemp(prefix="analogopt-")) if temporary else Path(run_dir)
        directory.mkdir(parents=True, exist_ok=True)
        netlist = directory / "netlist.cir"
        netlist.write_text(text)
        raw = directory / "out.raw"
        raw.unlink(missing_ok=True)
        out_path, err_path = directory / "ngspice.out", directory / "ngspice.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [exe, "-b", "-r", raw.name, netlist.name],
                    cwd=directory,
                    stdout=out,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                )
            except FileNotFoundError:  # removed since it was found
                _FOUND.pop((self.executable, path), None)
                raise self._not_found() from None
        return PendingRun(self, proc, directory, temporary, time.perf_counter(), watched)


def _sleep_until_exit(proc: subprocess.Popen, deadline: float) -> bool:
    """Block until ``proc`` exits (True) or ``time.perf_counter()`` passes ``deadline`` (False).

    Sleeps in ``poll`` on the process's pidfd, so it wakes the moment ngspice exits; ``Popen.wait`` with
    a timeout instead polls in sleeps of up to 50 ms. Falls back to it where pidfds do not exist.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=max(deadline - time.perf_counter(), 0.0))
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not poller.poll(max(deadline - time.perf_counter(), 0.0) * 1e3):
            if time.perf_counter() >= deadline:
                return False
    finally:
        os.close(fd)
    proc.wait()  # reap: it has exited, so this returns at once
    return True


class PendingRun:
    """An ngspice process started by :meth:`NgspiceRunner.start`.

    A watcher sleeps on the process from launch, records its exit time (so a busy caller still gets the
    run's true wall time) and kills it when the runner's timeout expires, whether or not anyone is
    waiting. ``watched=False`` (a plain :meth:`NgspiceRunner.run`) does the same in :meth:`wait`, in the
    caller's thread, instead of in a helper thread.
    """

    def __init__(self, runner: NgspiceRunner, proc: subprocess.Popen, directory: Path, temporary: bool,
                 started: float, watched: bool = True) -> None:
        self.runner, self.proc, self.directory, self.temporary = runner, proc, directory, temporary
        self.started = started
        self.exited = threading.Event()
        self.ended = started
        self.expired = False
        self.watcher: threading.Thread | None = None
        if watched:
            self.watcher = threading.Thread(target=self._watch, name="ngspice-watch", daemon=True)
            self.watcher.start()

    def _watch(self) -> None:
        if not _sleep_until_exit(self.proc, self.started + self.runner.timeout_s):
            self.expired = True
            self.proc.kill()
            self.proc.wait()
        self.ended = time.perf_counter()
        self.exited.set()

    def cancel(self) -> None:
        """Stop ngspice now (the caller failed before collecting the run); the run directory stays."""
        if self.proc.poll() is None:
            self.proc.kill()
        if self.watcher is None:
            self.proc.wait()
            self.exited.set()
        self.exited.wait()

    def wait(self, progress: ProgressCallback | None = None) -> RunResult:
        """Wait for ngspice, check its output, read the raw file. Raises :class:`SimulationError`
        subclasses naming the node/element and what to try, :class:`SimulationTimeoutError` when the
        runner's timeout (counted from the launch) killed it."""
        directory = self.directory
        netlist, raw = directory / "netlist.cir", directory / "out.raw"
        out_path, err_path = directory / "ngspice.out", directory / "ngspice.err"
        if self.watcher is None:
            try:
                self._watch()
            except BaseException:  # e.g. Ctrl-C while sleeping: leave no ngspice running
                self.proc.kill()
                self.proc.wait()
                raise
        stop = _stop_time(netlist.read_text()) if progress is not None and not self.exited.is_set() else None
        interval = 0.005
        while not self.exited.wait(timeout=interval if stop else None):
            # Report progress fast at first (most runs are short), then back off.
            interval = min(interval * 2, 0.1)
            value = _last_reference(err_path)
            if value is not None:
                progress(min(max(value / stop, 0.0), 1.0))
        if self.expired:
            raise SimulationTimeoutError(
                f"ngspice exceeded {self.runner.timeout_s:g} s on {netlist}; shorten the simulated time, "
                "reduce the circuit, or raise the timeout",
                run_dir=directory,
                returncode=None,
                stdout=out_path.read_text(errors="replace"),
                stderr=err_path.read_text(errors="replace"),
            )
        elapsed = self.ended - self.started
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        raise_for_output(
            stdout=stdout,
            stderr=stderr,
            returncode=self.proc.returncode,
            netlist=netlist,
            run_dir=directory,
            raw_exists=raw.exists(),
        )
        t0 = time.perf_counter()
        plots = read_raw(raw)
        parse_s = time.perf_counter() - t0
        if progress is not None:
            progress(1.0)
        result = RunResult(
            plots=plots,
            netlist_path=netlist,
            stdout=stdout,
            stderr=stderr,
            elapsed_s=elapsed,
            warnings=warnings_of(stderr),
            parse_s=parse_s,
        )
        if self.temporary:
            shutil.rmtree(directory, ignore_errors=True)
        return result


def _last_reference(path: Path) -> float | None:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256))
            tail = fh.read()
    except OSError:
        return None
    matches = _REFERENCE.findall(tail)
    if not matches:
        return None
    try:
        return float(matches[-1])
    except ValueError:
        return None


class SharedLibraryRunner:
    """Runs netlists through PySpice's binding to ``libngspice``, each in a fresh child process."""

    def __init__(self, timeout_s: float = 600.0) -> None:
        self.timeout_s = timeout_s

    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult:
        return self.start(deck, run_dir).wait(progress)

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> "SharedPendingRun":
        """Launch the child process and return at once; :meth:`SharedPendingRun.wait` collects it."""
        text = deck if isinstance(deck, str) else deck.format()
        netlist = Path(run_dir or tempfile.mkdtemp(prefix="analogopt-shared-")) / "netlist.cir"
        netlist.parent.mkdir(parents=True, exist_ok=True)
        netlist.write_text(text)
        pool = multiprocessing.get_context("spawn").Pool(1)
        return SharedPendingRun(self.timeout_s, netlist, pool, pool.apply_async(_shared_worker, (text,)))


class SharedPendingRun:
    """A libngspice run started by :meth:`SharedLibraryRunner.start`."""

    def __init__(self, timeout_s: float, netlist: Path, pool, pending) -> None:
        self.timeout_s, self.netlist, self.pool, self.pending = timeout_s, netlist, pool, pending
        self.started = time.perf_counter()

    def wait(self, progress: ProgressCallback | None = None) -> RunResult:
        netlist = self.netlist
        try:
            remaining = max(self.started + self.timeout_s - time.perf_counter(), 0.0)
            plots_data, stdout, stderr = self.pending.get(timeout=remaining)
        except multiprocessing.TimeoutError:
            raise SimulationTimeoutError(
                f"libngspice exceeded {self.timeout_s:g} s on {netlist}", run_dir=netlist.parent
            ) from None
        finally:
            self.pool.terminate()
        elapsed = time.perf_counter() - self.started
        raise_for_output(
            stdout=stdout, stderr=stderr, returncode=0, netlist=netlist, run_dir=netlist.parent,
            raw_exists=bool(plots_data),
        )
        plots = [Waveforms(analysis=a, axis_name=n, axis=ax, signals=s) for a, n, ax, s in plots_data]
        if progress is not None:
            progress(1.0)
        return RunResult(plots=plots, netlist_path=netlist, stdout=stdout, stderr=stderr, elapsed_s=elapsed,
                         warnings=warnings_of(stderr))

    def cancel(self) -> None:
        self.pool.terminate()


_PLOT_KIND = {"tran": "tran", "dc": "dc", "ac": "ac", "op": "op"}


def _shared_worker(text: str):
    """Child-process body: load ``text`` into libngspice, run, return plain arrays."""
    import logging

    import numpy as np
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    logging.getLogger("PySpice").setLevel(logging.CRITICAL)
    ng = NgSpiceShared.new_instance()
    ng.clear_output()
    ng.load_circuit(text)
    try:
        ng.run()
    except Exception as exc:  # PySpice reports ngspice failures as plain exceptions
        return [], ng.stdout, f"{ng.stderr}\n{exc}"
    plots = []
    for name in ng.plot_names:
        if name == "const":
            continue
        kind = _PLOT_KIND.get(re.sub(r"\d+$", "", name), name)
        plot = ng.plot(None, name)
        vectors = {k.lower(): np.real_if_close(np.asarray(v._data)) for k, v in plot.items()}
        axis_name = {"tran": "time", "dc": "v-sweep", "ac": "frequency"}.get(kind)
        axis = vectors.pop(axis_name) if axis_name in vectors else np.zeros(1)
        signals = {(k if "(" in k or k.endswith("#branch") else f"v({k})"): v for k, v in vectors.items()}
        signals = {(f"i({k[:-7]})" if k.endswith("#branch") else k): v for k, v in signals.items()}
        plots.append((kind, axis_name or "index", np.real(axis), signals))
    ng.remove_circuit()
    return plots, ng.stdout, ng.stderr
