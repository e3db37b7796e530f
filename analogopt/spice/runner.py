"""Running netlists in ngspice.

:class:`NgspiceRunner` (the default) runs each simulation in its own ``ngspice -b`` process with a
wall-time limit, so a crash or hang never takes the caller down and runs can go in parallel.
:class:`SharedLibraryRunner` uses PySpice's shared-library binding instead, in a child Python process
because PySpice keeps one global ngspice instance per process.

No child outlives its run:

- every exit path of :meth:`PendingRun.wait` and :meth:`PendingRun.cancel` (success, failure, timeout,
  an exception, ``KeyboardInterrupt``, the CLI's ``Terminated``) kills and reaps a child still running
  and removes a temporary run directory; a run that is started and then dropped is cleaned up when it
  is garbage-collected or at interpreter exit;
- :func:`stop_all` kills and reaps every child this process started that still runs (the CLI's
  SIGINT/SIGTERM safety net);
- on Linux, children are launched through ``setpriv --pdeathsig KILL`` where that binary exists, so the
  kernel kills them when the process that started them dies, even by SIGKILL (a Dask worker killed for
  memory). The death signal fires when the *thread* that spawned the child ends, so a child that may
  outlive its launching call (:meth:`NgspiceRunner.start` from a thread other than the main thread,
  which may end before :meth:`PendingRun.wait` is called) is spawned by one long-lived launcher thread
  instead; :meth:`NgspiceRunner.run` blocks its thread until the child is gone, and the main thread lives
  as long as the process, so those spawn directly. ``setpriv`` is one exec before ngspice's (measured:
  about 1 ms on a 10 ms run, paired runs on two cores) and keeps Python's posix_spawn/vfork path;
  ``preexec_fn`` would fork the whole process instead: 3 ms per launch from a bare interpreter, 6.5 ms
  from one holding 3 GB (a torch-sized process). Without setpriv (not Linux, no util-linux) children
  are launched plainly and only the first two guarantees hold.

Temporary run directories are named ``analogopt-<run|shared>-<pid>-…`` in the temporary directory, the
scheme of :mod:`analogopt.scratch`, so that directories left by a killed process are cleared at the next
start. An error from a temporary run does not cite its (deleted) files: it says so, and carries the
netlist text (``netlist_text``) and ngspice's output (``stdout``, ``stderr``) itself.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import (
    AnalogOptError, ConfigError, ConvergenceError, OutputError, SimulationError, SimulationTimeoutError,
    SimulatorNotFoundError,
)
from .diagnostics import NOT_KEPT, disk_full, exit_status, raise_for_output, warnings_of, write_failure
from .native import NativeRunner
from .run_result import RunResult, SimulatorInfo, SolverTally
from .netlist import SOLVER_OPTION, NetlistDeck
from .rawfile import RawFileError, read_raw
from .waveforms import Waveforms

#: Called with the fraction of the transient done, 0…1.
ProgressCallback = Callable[[float], None]

_REFERENCE = re.compile(rb"Reference value\s*:\s*([-+0-9.eE]+)")


_BANNER_VERSION = re.compile(r"\*\* ngspice-(\d+(?:\.\d+)*)")


def parse_banner(program: str, banner: str) -> SimulatorInfo:
    """:class:`SimulatorInfo` from ngspice's ``-v`` / ``version -f`` banner."""
    match = _BANNER_VERSION.search(banner)
    return SimulatorInfo(program, match.group(1) if match else "", "KLU Direct Linear Solver" in banner)


_INFO: dict[str, SimulatorInfo] = {}


def ngspice_info(executable: str) -> SimulatorInfo:
    """Version and solver of the ngspice program at ``executable`` (a resolved path), asked once per
    process (``ngspice -v``, ~10 ms) and remembered."""
    info = _INFO.get(executable)
    if info is None:
        try:
            banner = subprocess.run([executable, "-v"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    errors="replace", timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            banner = ""
        info = _INFO[executable] = parse_banner("ngspice", banner)
    return info


def with_solver(text: str, klu: bool | None) -> str:
    """``text`` with the solver chosen: ``True`` adds :data:`SOLVER_OPTION` before its ``.end``,
    ``False`` removes it (Sparse 1.3, for comparisons), ``None`` leaves the deck's own choice
    (:func:`~analogopt.spice.netlist.wants_klu`)."""
    present = SOLVER_OPTION in text
    if klu is None or klu == present:
        return text
    if not klu:
        return text.replace(SOLVER_OPTION + "\n", "")
    end = text.lower().rfind("\n.end")
    if end < 0:
        return text
    return f"{text[:end + 1]}{SOLVER_OPTION}\n{text[end + 1:]}"


class Pending(Protocol):
    """A launched simulation: collect it with :meth:`wait`, or abandon it with :meth:`cancel`."""

    def wait(self, progress: ProgressCallback | None = None) -> RunResult: ...

    def cancel(self) -> None: ...


class Runner(Protocol):
    #: the wall-time limit (s): of each run, or of everything done on the runner when ``deadline`` is set
    timeout_s: float
    #: ``time.perf_counter()`` value by which all work on this runner must end (None: per run only)
    deadline: float | None

    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult: ...

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> Pending: ...

    def describe(self) -> SimulatorInfo | None: ...


class _Limits:
    """The wall-time limits shared by both runners: ``timeout_s`` per run and, with ``whole_run``, one
    deadline ``timeout_s`` after the runner was made that binds every run on it and the Python-side work
    that asks :func:`check_deadline` (the twins, recording, the loops between ngspice runs)."""

    def _init_limits(self, timeout_s: float, whole_run: bool) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.deadline = time.perf_counter() + timeout_s if whole_run else None

    def stop_time(self, started: float) -> float:
        """When a run launched at ``started`` is killed: its own limit, or the deadline if sooner."""
        own = started + self.timeout_s
        return own if self.deadline is None else min(own, self.deadline)


def check_deadline(runner: Any, doing: str) -> None:
    """Raise :class:`SimulationTimeoutError` if ``runner``'s whole-run deadline has passed; ``doing``
    says what was under way (e.g. "stepping the digital twin"). A runner without one never stops here."""
    deadline = getattr(runner, "deadline", None)
    if deadline is not None and time.perf_counter() > deadline:
        raise SimulationTimeoutError(
            f"the run exceeded its {runner.timeout_s:g} s limit while {doing}; reduce the problem or raise --timeout",
            returncode=None)


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


# ---------------------------------------------------------------------------------------------------
# Children: launching, the registry behind stop_all(), the parent-death signal

#: Children started and not yet known to be reaped. A plain set: add/discard and list() are atomic
#: under the GIL, and stop_all() runs from signal handlers, where taking a lock the interrupted code
#: holds would deadlock.
_LIVE: set[subprocess.Popen] = set()

_SETPRIV: list[str] | None = None  # the wrapper's argv prefix, [] where there is none; None: not looked up
_LAUNCHER: concurrent.futures.ThreadPoolExecutor | None = None
_LAUNCHER_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    # A forked child (multiprocessing's fork context) owns none of its parent's children or threads.
    global _LAUNCHER, _LAUNCHER_LOCK
    _LIVE.clear()
    _LAUNCHER = None
    _LAUNCHER_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _pdeathsig_prefix() -> list[str]:
    """``[setpriv, --pdeathsig, KILL, --]`` where that works (Linux, util-linux ≥ 2.33), else []."""
    global _SETPRIV
    if _SETPRIV is None:
        prefix: list[str] = []
        setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        true = shutil.which("true")
        if setpriv and true:
            argv = [setpriv, "--pdeathsig", "KILL", "--"]
            try:  # once per process: an old setpriv without --pdeathsig must not break every run
                ok = subprocess.run([*argv, true], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=10).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            prefix = argv if ok else []
        _SETPRIV = prefix
    return _SETPRIV


def _write_attachments(directory: Path, deck: NetlistDeck | str) -> None:
    """The files a deck reads by name (:attr:`NetlistDeck.attachments`), beside its netlist: ngspice
    opens them relative to its working directory, the run directory."""
    for name, text in ({} if isinstance(deck, str) else deck.attachments).items():
        _write(directory / name, text, f"attachment {directory / name}")


def _popen(argv: list[str], **kwargs: Any) -> subprocess.Popen:
    proc = subprocess.Popen([*_pdeathsig_prefix(), *argv], **kwargs)
    _LIVE.add(proc)
    return proc


def _spawn(argv: list[str], *, outlives_call: bool, **kwargs: Any) -> subprocess.Popen:
    """Start ``argv`` with the parent-death signal armed. ``outlives_call``: the child may still run
    when the calling function returns (start()); from a thread that may end first, the launcher thread
    spawns it, so that the death signal fires only when the process dies."""
    if not outlives_call or threading.current_thread() is threading.main_thread() or not _pdeathsig_prefix():
        return _popen(argv, **kwargs)
    global _LAUNCHER
    with _LAUNCHER_LOCK:
        if _LAUNCHER is None:
            _LAUNCHER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="analogopt-launch")
    return _LAUNCHER.submit(_popen, argv, **kwargs).result()


def _hand_over(proc: subprocess.Popen, make: Callable[[], Any]) -> Any:
    """The pending-run object ``make()`` builds for the just-launched ``proc``; if building it fails
    (even by Ctrl-C), the child is killed and reaped instead of left running."""
    try:
        return make()
    except BaseException:
        _kill_and_reap(proc)
        raise


def _discard(directory: Path, temporary: bool) -> None:
    """A launch failed: remove its run directory if it was a temporary one (a given one is the caller's)."""
    if temporary:
        shutil.rmtree(directory, ignore_errors=True)


def _kill_and_reap(proc: subprocess.Popen, timeout_s: float = 5.0) -> bool:
    """SIGKILL ``proc`` if it still runs and reap it; True if it was running. The wait is bounded: from
    a signal handler the interrupted frame may hold Popen's wait lock, and an unbounded wait would
    deadlock (the watcher thread or that frame reaps it then)."""
    running = proc.poll() is None
    if running:
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return running
    _LIVE.discard(proc)
    return running


def stop_all() -> int:
    """Kill and reap every ngspice (and shared-library) child this process started that is still
    running; returns how many were running. For the CLI's SIGINT/SIGTERM handlers: the interrupted
    wait() also stops its own child, this catches any other (a run started and not yet collected)."""
    return sum(_kill_and_reap(proc, timeout_s=2.0) for proc in list(_LIVE))


def _cleanup(proc: subprocess.Popen, directory: Path | None) -> None:
    """Stop ``proc`` and remove ``directory`` (a temporary run's, else None): the end of every run."""
    _kill_and_reap(proc)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# Run directories

_stale_swept: set[tuple[int, str]] = set()


def _temporary_dir(purpose: str) -> Path:
    """A fresh ``analogopt-<purpose>-<pid>-…`` directory in the temporary directory; the first one a
    process makes there first clears what processes killed outright left behind."""
    root = tempfile.gettempdir()
    if (os.getpid(), root) not in _stale_swept:
        _stale_swept.add((os.getpid(), root))
        try:
            from ..scratch import remove_stale
        except ImportError:  # pragma: no cover - the scratch module ships with analogopt
            pass
        else:
            remove_stale(root)
    try:
        return Path(tempfile.mkdtemp(prefix=f"analogopt-{purpose}-{os.getpid()}-", dir=root))
    except OSError as exc:
        raise OutputError(
            f"cannot create a temporary run directory in {root}: {exc.strerror or exc}; "
            "set TMPDIR to a writable directory or pass run_dir="
        ) from None


def _prepare(run_dir: Path | None, purpose: str) -> tuple[Path, bool]:
    """The run directory (made if needed) and whether it is temporary."""
    if run_dir is None:
        return _temporary_dir(purpose), True
    directory = Path(run_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create run directory {directory}: {exc.strerror or exc}; choose another --out"
        ) from None
    return directory, False


def _write(path: Path, text: str, shown: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}; free space or choose another --out") from None


def _open_outputs(directory: Path) -> tuple[Any, Any]:
    """``ngspice.out`` and ``ngspice.err`` in ``directory``, opened for the child to write."""
    try:
        out = open(directory / "ngspice.out", "wb")
        try:
            return out, open(directory / "ngspice.err", "wb")
        except BaseException:
            out.close()
            raise
    except OSError as exc:
        raise OutputError(
            f"cannot write the console output in {directory}: {exc.strerror or exc}; free space or choose another --out"
        ) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------------
# The process runner


class NgspiceRunner(_Limits):
    """Runs ``ngspice -b -r out.raw netlist.cir`` in a run directory.

    ``timeout_s`` bounds the wall time of one run; with ``whole_run`` it bounds everything done on
    this runner from its creation (the CLI's ``--timeout``, one sweep sample). When ``run_dir`` is not given, a temporary
    directory is used and removed when the run ends, however it ends (errors then carry the netlist
    text and ngspice's output instead of citing deleted files); a given ``run_dir`` belongs to the
    caller and keeps the netlist, the raw file and ngspice's console output.
    """

    def __init__(self, executable: str = "ngspice", timeout_s: float = 600.0, *, whole_run: bool = False,
                 klu: bool | None = None) -> None:
        self._init_limits(timeout_s, whole_run)
        # a path (not a bare program name) is fixed against today's directory: ngspice runs in its run
        # directory, where a relative path would name nothing
        self.executable = os.path.abspath(executable) if os.sep in executable else executable
        #: select the KLU solver: None = where the deck selects it (netlist.wants_klu: large decks), and
        #: re-run a deck that KLU cannot converge with Sparse 1.3 (KLU has failed macro NF loops at a
        #: "timestep too small" that Sparse 1.3 passes); True = KLU for every deck; False = Sparse 1.3
        self.klu = klu
        self.sparse_reruns = 0
        self._solvers = SolverTally()

    def describe(self) -> SimulatorInfo:
        """The simulator this runner runs decks on (version, the solver it selects, how many runs so
        far fell back to Sparse 1.3)."""
        exe = _which(self.executable, os.environ.get("PATH", ""))
        if exe is None:
            raise self._not_found()
        info = self._solver_of(ngspice_info(exe))
        return replace(info, sparse_reruns=self.sparse_reruns, by_size=info.klu and self.klu is None,
                       runs=self._solvers.runs())

    def _solver_of(self, info: SimulatorInfo) -> SimulatorInfo:
        if self.klu and not info.klu:
            raise ConfigError(f"{self.executable}: ngspice-{info.version or '?'} was built without the KLU solver; "
                              "run scripts/setup.sh for one with KLU, or leave the solver on auto")
        return info if self.klu is not False else SimulatorInfo(info.program, info.version, False)


    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult:
        # Nobody computes meanwhile: the caller's own thread sleeps on the process (no helper thread),
        # unless progress has to be reported along the way.
        return self._launch(deck, run_dir, watched=progress is not None, outlives_call=False).wait(progress)

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> "PendingRun":
        """Launch ngspice and return at once; :meth:`PendingRun.wait` collects the result.

        The caller can compute meanwhile (the co-simulation steps the digital twin while ngspice runs).
        """
        return self._launch(deck, run_dir, watched=True, outlives_call=True)

    def _not_found(self) -> SimulatorNotFoundError:
        return SimulatorNotFoundError(
            f"ngspice not found on PATH ({self.executable!r}); install it with 'apt-get install ngspice' "
            "or run scripts/setup.sh"
        )

    def _sparse_rerun(self, failed: "PendingRun") -> "PendingRun | None":
        """A relaunch of ``failed`` (a KLU run that did not converge) with Sparse 1.3, where this runner
        may fall back (``klu=None``); None where it may not."""
        if self.klu is not None or failed.simulator is None or not failed.simulator.klu:
            return None
        self.sparse_reruns += 1
        return self._launch(failed.netlist_text, None if failed.temporary else failed.directory, watched=True,
                            outlives_call=False, sparse=True)

    def _launch(self, deck: NetlistDeck | str, run_dir: Path | None, watched: bool,
                outlives_call: bool, sparse: bool = False) -> "PendingRun":
        path = os.environ.get("PATH", "")
        exe = _which(self.executable, path)
        if exe is None:
            raise self._not_found()
        info = self._solver_of(ngspice_info(exe))
        text = deck if isinstance(deck, str) else deck.format()
        # None: the deck's own choice (wants_klu); on a release without KLU the option is inert
        ran = with_solver(text, False if sparse else self.klu)
        info = replace(info, klu=info.klu and SOLVER_OPTION in ran)  # what this run uses
        directory, temporary = _prepare(run_dir, "run")
        try:
            netlist = directory / "netlist.cir"
            # the file holds the deck as it runs (solver option included); errors carry the deck as given
            _write(netlist, ran, f"netlist {netlist}")
            _write_attachments(directory, deck)
            raw = directory / "out.raw"
            raw.unlink(missing_ok=True)
            out, err = _open_outputs(directory)
            with out, err:
                try:
                    proc = _spawn([exe, "-b", "-r", raw.name, netlist.name], outlives_call=outlives_call,
                                  cwd=directory, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
                except FileNotFoundError:  # removed since it was found
                    _FOUND.pop((self.executable, path), None)
                    raise self._not_found() from None
            self._solvers.add(info.solver)
            return _hand_over(proc, lambda: PendingRun(self, proc, directory, temporary, time.perf_counter(), watched,
                                                       netlist_text=text, executable=(self.executable, path, exe),
                                                       simulator=info))
        except BaseException:
            _discard(directory, temporary)
            raise


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
        # poll takes a C int of milliseconds: a far deadline waits in stretches of 24 days
        while not poller.poll(min(max(deadline - time.perf_counter(), 0.0) * 1e3, 2**31 - 1)):
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

    #: what the child is, in messages
    program = "ngspice"

    def __init__(self, runner: Any, proc: subprocess.Popen, directory: Path, temporary: bool,
                 started: float, watched: bool = True, *, netlist_text: str = "",
                 executable: tuple[str, str, str] | None = None, simulator: SimulatorInfo | None = None) -> None:
        self.runner, self.proc, self.directory, self.temporary = runner, proc, directory, temporary
        self.simulator = simulator
        self.started = started
        self.netlist_text = netlist_text
        self.executable = executable
        self.exited = threading.Event()
        self.ended = started
        self.expired = False
        # the end of the run however it ends: kill and reap the child, remove a temporary directory;
        # also run if this object is dropped uncollected, or at interpreter exit
        self._cleanup = weakref.finalize(self, _cleanup, proc, directory if temporary else None)
        self.watcher: threading.Thread | None = None
        if watched:
            self.watcher = threading.Thread(target=self._watch, name=f"{self.program}-watch", daemon=True)
            self.watcher.start()

    @property
    def netlist_path(self) -> Path:
        return self.directory / "netlist.cir"

    def _watch(self) -> None:
        if not _sleep_until_exit(self.proc, self.runner.stop_time(self.started)):
            self.expired = True
            self.proc.kill()
            self.proc.wait()
        _LIVE.discard(self.proc)
        self.ended = time.perf_counter()
        self.exited.set()

    def _stop(self) -> None:
        """Kill the child now and wait until it is reaped (by the watcher, where there is one)."""
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        if self.watcher is None:
            self.proc.wait()
            _LIVE.discard(self.proc)
            self.exited.set()
        self.exited.wait()

    def cancel(self) -> None:
        """Stop the child now (the caller failed before collecting the run). A given run directory
        keeps what was written; a temporary one is removed."""
        try:
            self._stop()
        finally:
            self._cleanup()

    def wait(self, progress: ProgressCallback | None = None) -> RunResult:
        """Wait for the child, check its output, read its results. Raises :class:`SimulationError`
        subclasses naming the node/element and what to try, :class:`SimulationTimeoutError` when the
        runner's timeout (counted from the launch) killed it; :class:`OutputError` when the results
        could not be written (a full disk)."""
        try:
            self._await(progress)
            return self._collect(progress)
        except ConvergenceError as exc:
            self._annotate(exc)
            rerun = self.runner._sparse_rerun(self) if hasattr(self.runner, "_sparse_rerun") else None
            if rerun is None:
                raise
            reason = str(exc).split(";")[0]
        except AnalogOptError as exc:
            self._annotate(exc)
            raise
        except BaseException:  # e.g. Ctrl-C or SIGTERM while sleeping: leave no child running
            self._stop()
            raise
        finally:
            self._cleanup()
        result = rerun.wait(progress)
        return replace(result, warnings=[*result.warnings, f"KLU: {reason}; ngspice re-ran the deck with Sparse 1.3"])

    def _await(self, progress: ProgressCallback | None) -> None:
        if self.watcher is None:
            self._watch()
            return
        stop = _stop_time(self.netlist_text) if progress is not None and not self.exited.is_set() else None
        # ngspice-39 reports "Reference value" on stderr, ngspice-46 on stdout
        consoles = (self.directory / "ngspice.err", self.directory / "ngspice.out")
        interval = 0.005
        while not self.exited.wait(timeout=interval if stop else None):
            # Report progress fast at first (most runs are short), then back off.
            interval = min(interval * 2, 0.1)
            values = [v for v in map(_last_reference, consoles) if v is not None]
            if values:
                progress(min(max(max(values) / stop, 0.0), 1.0))

    def _where(self) -> str:
        return NOT_KEPT if self.temporary else f"netlist {self.netlist_path}"

    def _shown(self, name: str) -> str:
        """How messages name the run's file ``name``."""
        return f"{name} (temporary run directory, not kept)" if self.temporary else str(self.directory / name)

    def _annotate(self, exc: AnalogOptError) -> None:
        """Give an error what it takes to diagnose the run without its files: the netlist text and, when
        the error has none, the console output; a temporary directory is gone, so it is not cited."""
        exc.netlist_text = self.netlist_text
        if not getattr(exc, "stdout", ""):
            exc.stdout = _read(self.directory / "ngspice.out")
        if not getattr(exc, "stderr", ""):
            exc.stderr = _read(self.directory / "ngspice.err")
        if getattr(exc, "returncode", None) is None:
            exc.returncode = self.proc.returncode
        exc.run_dir = None if self.temporary else self.directory

    def _timeout(self) -> SimulationTimeoutError:
        return SimulationTimeoutError(
            f"{self.program} exceeded {self.runner.timeout_s:g} s ({self._where()}); shorten the simulated "
            "time, reduce the circuit, or raise the timeout (--timeout)",
            returncode=None,
        )

    def _vanished(self, stderr: str) -> bool:
        """Did the exec of ngspice fail (setpriv reports it with exit status 126/127)?"""
        if self.proc.returncode not in (126, 127) or not stderr.startswith("setpriv:") or not self.executable:
            return False
        name, path, exe = self.executable
        _FOUND.pop((name, path), None)
        return True

    def _collect(self, progress: ProgressCallback | None) -> RunResult:
        directory = self.directory
        raw = directory / "out.raw"
        if self.expired:
            raise self._timeout()
        stdout = _read(directory / "ngspice.out")
        stderr = _read(directory / "ngspice.err")
        if self._vanished(stderr):
            name = self.executable[0] if self.executable else "ngspice"
            raise SimulatorNotFoundError(
                f"ngspice not found ({name!r} could not be executed: {stderr.strip()}); install it with "
                "'apt-get install ngspice' or run scripts/setup.sh"
            )
        raise_for_output(
            stdout=stdout,
            stderr=stderr,
            returncode=self.proc.returncode,
            netlist=self.netlist_path,
            run_dir=directory,
            raw_exists=raw.exists(),
            netlist_text=self.netlist_text,
            where=self._where(),
            raw=self._shown("out.raw"),
        )
        t0 = time.perf_counter()
        try:
            plots = read_raw(raw, display=self._shown("out.raw"))
        except RawFileError as exc:
            # ngspice said nothing, yet the raw file is short: a full disk leaves exactly that
            if disk_full(directory):
                raise write_failure(self._shown("out.raw"), directory) from exc
            exc.stdout, exc.stderr, exc.returncode = stdout, stderr, self.proc.returncode
            raise
        parse_s = time.perf_counter() - t0
        if progress is not None:
            progress(1.0)
        return RunResult(
            plots=plots,
            netlist_path=self.netlist_path,
            stdout=stdout,
            stderr=stderr,
            elapsed_s=self.ended - self.started,
            warnings=warnings_of(stderr),
            parse_s=parse_s,
            simulator=self.simulator,
        )


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


# ---------------------------------------------------------------------------------------------------
# The shared-library runner

_SHARED_RESULT = "shared.json"
_SHARED_ARRAYS = "shared.npz"
_SHARED_NOT_FOUND = 3  # the child's exit status when PySpice or libngspice cannot be loaded


class SharedLibraryRunner(_Limits):
    """Runs netlists through PySpice's binding to ``libngspice``, each in a fresh child process.

    The child is ``python -c "…_shared_child()"`` in the run directory: the netlist goes in as
    ``netlist.cir``, the plots come back as ``shared.npz`` plus ``shared.json``. A plain subprocess
    rather than multiprocessing: multiprocessing's spawn context re-imports the parent's ``__main__``,
    so a script without an ``if __name__ == "__main__":`` guard hangs in (or re-runs) itself, and fork
    would copy a large torch process; the child is also killed, timed out and reaped exactly like an
    ngspice process (same watcher, same :func:`stop_all`, same parent-death signal).
    """

    def __init__(self, timeout_s: float = 600.0, *, whole_run: bool = False) -> None:
        self._init_limits(timeout_s, whole_run)
        self.last_info: SimulatorInfo | None = None
        self._solvers = SolverTally()

    def describe(self) -> SimulatorInfo | None:
        """The library that ran this runner's latest deck (None before the first): each run loads it anew;
        with the solvers its runs took."""
        return None if self.last_info is None else replace(self.last_info, runs=self._solvers.runs())

    def run(
        self, deck: NetlistDeck | str, run_dir: Path | None = None, progress: ProgressCallback | None = None
    ) -> RunResult:
        return self._launch(deck, run_dir, outlives_call=False).wait(progress)

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> "SharedPendingRun":
        """Launch the child process and return at once; :meth:`SharedPendingRun.wait` collects it."""
        return self._launch(deck, run_dir, outlives_call=True)

    def _launch(self, deck: NetlistDeck | str, run_dir: Path | None, outlives_call: bool) -> "SharedPendingRun":
        text = deck if isinstance(deck, str) else deck.format()
        directory, temporary = _prepare(run_dir, "shared")
        try:
            netlist = directory / "netlist.cir"
            _write(netlist, text, f"netlist {netlist}")
            _write_attachments(directory, deck)
            for name in (_SHARED_RESULT, _SHARED_ARRAYS):
                (directory / name).unlink(missing_ok=True)
            env = dict(os.environ)
            # the child imports this very package, wherever it was imported from (a checkout not installed)
            package_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
            safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # the run directory is no import path
            argv = [sys.executable, *safe_path, "-c", "from analogopt.spice.runner import _shared_child; _shared_child()"]
            out, err = _open_outputs(directory)
            with out, err:
                proc = _spawn(argv, outlives_call=outlives_call, cwd=directory, env=env, stdout=out, stderr=err,
                              stdin=subprocess.DEVNULL)
            return _hand_over(proc, lambda: SharedPendingRun(self, proc, directory, temporary, time.perf_counter(), True,
                                                             netlist_text=text))
        except BaseException:
            _discard(directory, temporary)
            raise


class SharedPendingRun(PendingRun):
    """A libngspice run started by :meth:`SharedLibraryRunner.start`."""

    program = "libngspice"

    def _await(self, progress: ProgressCallback | None) -> None:
        super()._await(None)  # libngspice reports no progress to a file: sleep on the child, no polling

    def _collect(self, progress: ProgressCallback | None) -> RunResult:
        import numpy as np

        directory = self.directory
        if self.expired:
            raise self._timeout()
        child_err = _read(directory / "ngspice.err")
        try:
            result = json.loads((directory / _SHARED_RESULT).read_text())
        except (OSError, ValueError):
            result = None
        if result is None:
            if self.proc.returncode == _SHARED_NOT_FOUND:
                last = (child_err.strip().splitlines() or ["libngspice could not be loaded"])[-1]
                raise SimulatorNotFoundError(
                    f"libngspice not available ({last}); install it with 'apt-get install libngspice0-dev' "
                    "or run scripts/setup.sh"
                )
            if disk_full(directory):
                raise write_failure(self._shown(_SHARED_ARRAYS), directory)
            lines = child_err.strip().splitlines()
            said = f": {lines[-1]}" if lines else " and wrote no results"
            raise SimulationError(
                f"the libngspice child process {exit_status(self.proc.returncode)}{said} ({self._where()})",
                returncode=self.proc.returncode, stderr=child_err,
            )
        stdout, stderr = result["stdout"], result["stderr"]
        try:
            with np.load(directory / _SHARED_ARRAYS) as arrays:
                columns = [arrays[f"arr_{k}"] for k in range(len(arrays.files))]
        except (OSError, ValueError, KeyError) as exc:
            raise SimulationError(
                f"cannot read the libngspice child's results {self._shown(_SHARED_ARRAYS)}: {exc} ({self._where()})"
            ) from None
        plots: list[Waveforms] = []
        k = 0
        for plot in result["plots"]:
            axis = columns[k]
            signals = {name: columns[k + 1 + i] for i, name in enumerate(plot["names"])}
            k += 1 + len(plot["names"])
            plots.append(Waveforms(analysis=plot["kind"], axis_name=plot["axis_name"], axis=axis,
                                   signals=signals, source="libngspice"))
        raise_for_output(
            stdout=stdout, stderr=stderr, returncode=result["returncode"], netlist=self.netlist_path,
            run_dir=directory, raw_exists=bool(plots), netlist_text=self.netlist_text, where=self._where(),
            raw=self._shown(_SHARED_ARRAYS),
        )
        if progress is not None:
            progress(1.0)
        library = parse_banner("libngspice", result.get("banner", ""))
        self.runner.last_info = replace(library, by_size=library.klu)
        info = replace(library, klu=library.klu and SOLVER_OPTION in self.netlist_text)
        self.runner._solvers.add(info.solver)
        return RunResult(plots=plots, netlist_path=self.netlist_path, stdout=stdout, stderr=stderr,
                         elapsed_s=self.ended - self.started, warnings=warnings_of(stderr), simulator=info)


_PLOT_KIND = {"tran": "tran", "dc": "dc", "ac": "ac", "op": "op"}


def _shared_child() -> None:
    """Child-process body of :class:`SharedLibraryRunner`: run ``netlist.cir`` (in the current
    directory) in libngspice, write the plots to ``shared.npz`` and ``shared.json``.

    It feeds ngspice through the raw C API rather than PySpice's ``load_circuit``/``run``: those raise on
    any "error" in the output (the echoed title included) and on any "Note:" on stderr, and clear the
    parser's messages before running; analogopt's own diagnostics judge the output instead."""
    import logging

    import numpy as np

    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

        logging.getLogger("PySpice").setLevel(logging.CRITICAL)
        ng = NgSpiceShared.new_instance()
    except Exception as exc:  # PySpice or libngspice missing: the parent says what to install
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(_SHARED_NOT_FOUND)
    banner = ng.exec_command("version -f")
    text = Path("netlist.cir").read_text()  # it selects its own solver (netlist.wants_klu)
    ng.clear_output()
    lines = [line for line in text.splitlines() if line] + [""]  # ngspice wants a last, empty line
    keep = [ffi.new("char[]", line.encode("utf8")) for line in lines] + [ffi.NULL]
    returncode = ng._ngspice_shared.ngSpice_Circ(ffi.new("char *[]", keep))
    returncode = returncode or ng._ngspice_shared.ngSpice_Command(b"run")
    columns: list[np.ndarray] = []
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
        columns.append(np.real(axis))
        columns.extend(signals.values())
        plots.append({"kind": kind, "axis_name": axis_name or "index", "names": list(signals)})
    np.savez(_SHARED_ARRAYS, *columns)
    result = {"plots": plots, "stdout": ng.stdout, "stderr": ng.stderr, "returncode": int(returncode),
              "banner": banner}
    # the result file appears whole or not at all: the parent reads it as the sign of a finished run
    Path(_SHARED_RESULT + ".part").write_text(json.dumps(result))
    os.replace(_SHARED_RESULT + ".part", _SHARED_RESULT)


#: The simulators ``--simulator`` may name: the ngspice program, libngspice through PySpice, or the
#: in-process DC solver of linear netlists (analogopt.spice.native).
SIMULATORS: dict[str, type] = {"ngspice": NgspiceRunner, "libngspice": SharedLibraryRunner, "native": NativeRunner}


def make_runner(simulator: str = "ngspice", *, timeout_s: float, whole_run: bool = True) -> Runner:
    """The runner of ``simulator`` (a key of :data:`SIMULATORS`) with a ``timeout_s`` limit, by default
    one deadline for everything run on it."""
    try:
        cls = SIMULATORS[simulator]
    except KeyError:
        raise ConfigError(f"--simulator {simulator!r}: choose one of {', '.join(SIMULATORS)}") from None
    return cls(timeout_s=timeout_s, whole_run=whole_run)
