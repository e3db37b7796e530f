"""Persistent libngspice sessions: one long-lived child process that loads ngspice's shared library once
and runs deck after deck, so a sweep pays ngspice's start-up (code models, init scripts, a process) once
per worker instead of once per sample.

A :class:`Session` is the parent's handle on one child (:mod:`analogopt.spice.session_child`, which
describes the protocol), spawned and guarded like the other runners' children
(:func:`~analogopt.spice.runner._spawn`: the parent-death signal, :data:`~analogopt.spice.runner._LIVE`
behind :func:`~analogopt.spice.runner.stop_all`). :class:`SessionRunner` is a
:class:`~analogopt.spice.runner.Runner` on them; :func:`session_cache` keeps a process's sessions (a
sweep worker's, across tasks).

**Values without a reload.** A session keeps the circuit it last loaded. A deck of the same *shape* (the
same lines but for the values of top-level R, C, L, V, I, E and G elements in plain number form) is
applied with ``alter`` and re-run; any other deck (a changed line of another kind, a subcircuit body, a
behavioural source, a line count, a deck reading files) is loaded fresh in the same process. ``alter`` is
used only where it gives the very numbers of a fresh load:

- a number of at most 16 digits is handed to ``alter`` rewritten with an integer mantissa, which
  ngspice's front end reads as its netlist parser reads the number (within the limits of
  :func:`~analogopt.spice.session_child.plain_alter_text`); for any other, the value a fresh load would
  give is computed by a replica of the netlist parser and handed over in a form the front end evaluates
  exactly (:mod:`~analogopt.spice.session_child`);
- each child checks these at start-up on a calibration deck of every element kind and refuses ``alter``
  for its life, loading every deck fresh, if any exact value differs (:attr:`Session.alter_refused`), or
  the plain form only if a plain one does (:attr:`Session.plain_refused`);
- zero values, resistances ngspice would clamp, numbers with a scale suffix and expressions are never
  altered, nor any line after a failed run;
- the tests run decks through ``alter`` and fresh loads and compare them with :class:`NgspiceRunner` bit
  for bit, per element kind (transients from initial conditions, nonlinear operating points, KLU).

Loading costs about as much per line as an ``alter`` per value (measured, ngspice-46: 16 µs a line of the
NF loop, 10 µs a crossbar line, 15 µs an exact ``alter``, about half that a plain one), so a deck whose
changed values exceed :data:`ALTER_SHARE` of its lines is loaded fresh instead.

**Failures.** ngspice's output is judged by analogopt's own diagnostics
(:func:`~analogopt.spice.diagnostics.raise_for_output`), as for the other runners. A child that dies
(ngspice aborts or crashes) raises :class:`SessionCrashError`; a run past the runner's limit kills the
child and raises :class:`SimulationTimeoutError`; either way the next run starts a fresh child, and the
runner counts the lost session (:attr:`SessionRunner.sessions_lost`, which the sweep reads to retry a
sample once).

**Clean-up.** A session's files (the child's own console log, attachments of runs without a run
directory) live in ``analogopt-session-<pid>-…`` in the temporary directory, removed by :meth:`Session.close`
(at interpreter exit for the process-wide :func:`session_cache`), and by the next start of analogopt if
the process was killed outright.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import AnalogOptError, ConfigError, SimulationError, SimulationTimeoutError, SimulatorNotFoundError
from .diagnostics import NOT_KEPT, exit_status, raise_for_output, warnings_of
from .netlist import SOLVER_OPTION, NetlistDeck
from .run_result import SolverTally
from .runner import (
    ProgressCallback, RunResult, SimulatorInfo, _kill_and_reap, _Limits, _spawn, _temporary_dir, _write,
    _write_attachments, parse_banner,
)
from .session_child import ALTERABLE, MIN_RESISTANCE, exact_expression, netlist_number, plain_alter_text
from .waveforms import Waveforms

#: Alter a deck of the loaded shape only when its changed values are at most this share of its lines;
#: beyond it a fresh load is as fast (see the module docstring).
ALTER_SHARE = 0.7
#: Longest wait for a new child to load libngspice and check its number parser (s), within a run's limit.
START_LIMIT_S = 60.0
#: The longest single wait for the child (s): poll's milliseconds are a C int (24.8 days at most)
POLL_MAX_S = 2e6
#: A child whose memory grew by this much since it started is replaced before its next run: ngspice keeps
#: a few hundred bytes of every command for good (measured, ngspice-46: 450 B an alter, 2 kB a load),
#: about 100 MB per 1000 samples of the NF loop's 240 alters.
RECYCLE_GROWTH_BYTES = 256 << 20


class SessionCrashError(SimulationError):
    """The session's child process died during a run (ngspice aborted or crashed)."""


class _ChildDied(Exception):
    """The child's end of the socket closed: how it ended, for :class:`SessionCrashError`."""

    def __init__(self, how: str, returncode: int | None) -> None:
        super().__init__(how)
        self.returncode = returncode


# ---------------------------------------------------------------------------------------------------
# Alter commands that give the numbers of a fresh load

_TOKEN = re.compile(r"\S+")
#: lines that make ngspice read other files, which may change while the deck's text does not
_READS_FILES = re.compile(r"^[ \t]*\.(?:include|inc|lib)\b", re.IGNORECASE | re.MULTILINE)


def value_span(line: str) -> tuple[str, str, str, str] | None:
    """Where element line ``line`` holds the value ``alter`` can set: (the text before it, the text
    after it, the command's head ``alter NAME PARAM = ``, the element's kind letter), or None for a line
    ``alter`` cannot change.

    ``R|C|L name n+ n- value …``, ``V|I name n+ n- [dc] value …``, ``E|G name n+ n- nc+ nc- gain``
    (not their poly or value= forms)."""
    tokens = list(_TOKEN.finditer(line))
    kind = tokens[0].group()[0].lower() if tokens else ""
    if kind not in ALTERABLE:
        return None
    pos, param = ALTERABLE[kind]
    if kind in "vi" and len(tokens) > 4 and tokens[3].group().lower() == "dc":
        pos = 4
    if len(tokens) <= pos or (kind in "eg" and len(tokens) != 6):
        return None
    value = tokens[pos]
    return line[:value.start()], line[value.end():], f"alter {tokens[0].group()} {param} = ", kind


class DeckShape:
    """The lines of the deck a session holds, and which of them ``alter`` may change: top-level element
    lines of the kinds in :data:`ALTERABLE` (not the title, not inside ``.subckt``, not continued, no
    ``{…}`` parameter expressions), where their value is (:func:`value_span`, found once per shape)."""

    def __init__(self, lines: list[str], alterable: list[bool] | None = None,
                 spans: dict[int, tuple[str, str, str, str] | None] | None = None) -> None:
        self.lines = lines
        self.alterable = alterable if alterable is not None else self._alterable(lines)
        self._spans = spans if spans is not None else {}

    @staticmethod
    def _alterable(lines: list[str]) -> list[bool]:
        flags, depth = [], 0
        for i, line in enumerate(lines):
            head = line.lstrip()[:7].lower()
            depth += head.startswith(".subckt")
            continued = i + 1 < len(lines) and lines[i + 1].lstrip().startswith("+")
            flags.append(i > 0 and depth == 0 and head[:1] in "rclvieg" and head[:1] != "" and not continued
                         and "{" not in line)
            depth -= head.startswith(".ends") and depth > 0
        return flags

    def commands_to(self, lines: list[str], plain: bool = True) -> list[str] | None:
        """The ``alter`` commands that give ``lines``' numbers without a reload ([] for the same deck),
        or None when the deck must be loaded fresh: a changed line differs in anything but an element's
        value in plain number form, or the value is zero or a resistance ngspice would clamp. ``plain``:
        numbers that allow it go as :func:`plain_alter_text` (else all as :func:`exact_expression`)."""
        if len(lines) != len(self.lines):
            return None
        changed = [i for i, (a, b) in enumerate(zip(self.lines, lines)) if a != b]
        if len(changed) > ALTER_SHARE * len(lines):
            return None
        commands = []
        for i in changed:
            if not self.alterable[i]:
                return None
            if i not in self._spans:
                self._spans[i] = value_span(self.lines[i])
            span, line = self._spans[i], lines[i]
            if span is None or not (line.startswith(span[0]) and line.endswith(span[1])):
                return None
            token = line[len(span[0]):len(line) - len(span[1])]
            text = plain_alter_text(token, span[3]) if plain else None
            if text is None:
                value = netlist_number(token)
                if value is None or span[3] == "r" and abs(value) <= MIN_RESISTANCE:
                    return None
                text = exact_expression(value)
                if text is None:
                    return None
            commands.append(span[2] + text)
        return commands

    def with_lines(self, lines: list[str]) -> "DeckShape":
        """The same shape holding ``lines`` (values altered: the spans stay)."""
        return DeckShape(lines, self.alterable, self._spans)


# ---------------------------------------------------------------------------------------------------
# The parent's side: one session, a cache of them per process, the runner


@dataclass
class _Reply:
    stdout: str
    stderr: str
    returncode: int
    loaded: bool  # the child loaded the deck fresh (else it altered the held circuit)
    fatal: bool  # ngspice asked to exit (it cannot recover): the child ends after this reply
    plots: list[Waveforms]


class Session:
    """One long-lived libngspice child process (module docstring). Not thread-safe: one run at a time,
    which :class:`SessionCache` hands out. ``runs``/``loads``/``alters``/``starts`` count what it did."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._home: Path | None = None
        self._shape: DeckShape | None = None
        self._sent: tuple[list[str], bool] | None = None  # the request in flight: lines, reusable shape
        self.info: SimulatorInfo | None = None
        #: why this session's child loads every deck fresh ("" when it may alter)
        self.alter_refused = ""
        #: why this session's child alters with exact expressions only ("" when plain values are exact too)
        self.plain_refused = ""
        self.runs = self.loads = self.alters = self.starts = 0
        self._rss_start = self._rss = 0  # the child's resident memory at start and after its latest run (B)
        #: the child's time in the latest run (s): loading or altering (prepare_s), ngspice's analysis
        #: (analysis_s), handing over the vectors (results_s)
        self.last_timings: dict[str, float] = {}

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def busy(self) -> bool:
        """A run was sent and its reply not yet received."""
        return self._sent is not None

    @property
    def home(self) -> Path:
        if self._home is None:
            raise RuntimeError("session not started")
        return self._home

    def start(self, stop_at: float) -> None:
        """Start the child if none runs; its start-up counts against ``stop_at`` (``perf_counter``)."""
        if self.pid is not None:
            return
        self.kill()
        if self._home is None or not self._home.is_dir():  # a restarted child keeps its session's directory
            self._home = _temporary_dir("session")
        parent_end, child_end = socket.socketpair()
        try:
            # by path, standard library only: no analogopt, numpy or PySpice to import (tens of ms, not seconds)
            safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # its directory is no import path
            argv = [sys.executable, *safe_path, str(Path(__file__).with_name("session_child.py")),
                    str(child_end.fileno())]
            # ngspice may write to the process's own stdout/stderr too: into a log, never the caller's terminal
            with open(self._home / "session.log", "ab") as log:  # appending: the child truncates it per run
                log.truncate(0)  # a crash report must not quote an earlier child
                self._proc = _spawn(argv, outlives_call=True, cwd=self._home, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, pass_fds=(child_end.fileno(),))
        except BaseException:
            parent_end.close()
            self.kill()
            raise
        finally:
            child_end.close()
        self._conn = Connection(parent_end.detach())
        self.starts += 1
        try:
            hello = self._receive(min(stop_at, time.perf_counter() + START_LIMIT_S))
        except BaseException:
            self.kill()
            raise
        if "missing" in hello:
            self.kill()
            raise SimulatorNotFoundError(f"libngspice not available ({hello['missing']}); install it with "
                                         "'apt-get install libngspice0' or run scripts/setup.sh")
        self.info = parse_banner("libngspice", hello["banner"])
        self.alter_refused = hello["alter_refused"]
        self.plain_refused = hello["plain_refused"]
        self._rss_start = self._rss = hello["rss_bytes"]

    @property
    def worn(self) -> bool:
        """The child has grown by :data:`RECYCLE_GROWTH_BYTES` since it started."""
        return self._rss - self._rss_start > RECYCLE_GROWTH_BYTES

    def recycle(self) -> None:
        """End the child (a fresh one starts with the next run); the session's directory stays."""
        self._quit()
        self.kill()

    def as_run(self, text: str) -> str:
        """``text`` as this library runs it: with the solver the deck selects, as :class:`NgspiceRunner`
        runs it (a deck names KLU itself where it is large enough to gain)."""
        return text

    def submit(self, text: str, cwd: Path, fresh: bool) -> None:
        """Send one run: ``text`` (with the library's solver option) in directory ``cwd``; ``fresh``:
        load it anew whatever the session holds (a deck that reads files)."""
        lines = [line for line in self.as_run(text).splitlines() if line]
        commands = None
        if not fresh and not self.alter_refused and self._shape is not None:
            commands = self._shape.commands_to(lines, plain=not self.plain_refused)
        request = {"text": "\n".join(lines), "alter": commands, "cwd": str(cwd)}
        self._conn.send_bytes(json.dumps(request).encode())
        self._sent = (lines, not fresh)

    def receive(self, stop_at: float) -> _Reply:
        """The reply to the run in flight. Raises :class:`TimeoutError` at ``stop_at`` and
        :class:`_ChildDied` when the child died; the child is killed and reaped in both cases."""
        lines, reusable = self._sent
        held, self._shape = self._shape, None  # until the run is known to have ended cleanly
        try:
            header = self._receive(stop_at)
            blob = self._receive_bytes()
        except BaseException:
            self.kill()
            raise
        finally:
            self._sent = None
        self.runs += 1
        self.loads += header["loaded"]
        self.alters += not header["loaded"]
        self.last_timings = header["timings"]
        self._rss = header["rss_bytes"]
        plots = _plots(header["plots"], blob)
        if header["fatal"]:
            self.kill()
        elif header["returncode"] == 0 and reusable:
            self._shape = DeckShape(lines) if header["loaded"] or held is None else held.with_lines(lines)
        return _Reply(header["stdout"], header["stderr"], header["returncode"], header["loaded"], header["fatal"],
                      plots)

    def _receive(self, stop_at: float) -> dict[str, Any]:
        # poll counts milliseconds in a C int: a far limit waits in stretches of 24 days
        while not self._conn.poll(min(max(stop_at - time.perf_counter(), 0.0), POLL_MAX_S)):
            if time.perf_counter() >= stop_at:
                raise TimeoutError("the session's child did not answer in time")
        return json.loads(self._receive_bytes())

    def _receive_bytes(self) -> bytes:
        try:
            return self._conn.recv_bytes()
        except (EOFError, OSError):
            raise self._crashed() from None

    def _crashed(self) -> _ChildDied:
        proc = self._proc
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        said = ""
        if self._home is not None:
            try:
                lines = (self._home / "session.log").read_text(errors="replace").strip().splitlines()
            except OSError:
                lines = []
            said = f" after: {lines[-1][:200]}" if lines else ""
        how = exit_status(code) if code is not None else "stopped answering"
        self.kill()
        return _ChildDied(f"the libngspice session process ended ({how}){said}", code)

    def forget(self) -> None:
        """Load the next deck fresh, whatever the child holds."""
        self._shape = None

    def kill(self) -> None:
        """Stop the child now (it may be inside a run) and forget what it held."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            _kill_and_reap(self._proc)
            self._proc = None
        self._shape = None
        self._sent = None

    def _quit(self) -> None:
        """Ask an idle child to end (it frees the library's memory on its way out)."""
        if self._conn is not None and self._sent is None and self.pid is not None:
            try:
                self._conn.send_bytes(b'{"quit": true}')
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass

    def close(self) -> None:
        """End the child and remove the session's directory."""
        self._quit()
        self.kill()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None


def _plots(described: list[dict[str, Any]], blob: bytes) -> list[Waveforms]:
    """Waveforms as :func:`~analogopt.spice.rawfile.read_raw` makes them of the same run's raw file."""
    import numpy as np

    plots, offset = [], 0
    for plot in described:
        vectors = {}
        for name, is_complex, length in plot["vectors"]:
            dtype = np.complex128 if is_complex else np.float64
            vectors[name] = np.frombuffer(blob, dtype=dtype, count=length, offset=offset).copy()
            offset += length * (16 if is_complex else 8)
        analysis = plot["analysis"]
        names = list(vectors)
        if analysis == "op" or not names:
            axis_name = "index"
            axis = np.arange(len(vectors[names[0]]) if names else 0, dtype=np.float64)
            signals = vectors
        else:
            axis_name, axis = names[0], np.real(vectors[names[0]]).copy()
            signals = {n: vectors[n] for n in names[1:]}
        if analysis in ("tran", "dc", "op"):
            signals = {k: np.real(v) for k, v in signals.items()}
        plots.append(Waveforms(analysis=analysis, axis_name=axis_name, axis=axis, signals=signals,
                               source="a libngspice session"))
    return plots


class SessionCache:
    """The sessions of one process, handed out one run at a time: an idle one, else a new one (a kind
    that runs two decks at once gets two). Thread-safe."""

    def __init__(self) -> None:
        self._idle: list[Session] = []
        self._all: list[Session] = []
        self._lock = threading.Lock()

    def acquire(self) -> Session:
        with self._lock:
            if self._idle:
                return self._idle.pop()  # the latest released: the likeliest to hold the next deck's shape
            session = Session()
            self._all.append(session)
            return session

    def release(self, session: Session) -> None:
        with self._lock:
            if session not in self._idle:
                self._idle.append(session)

    @property
    def sessions(self) -> list[Session]:
        return list(self._all)

    def close(self) -> None:
        """End every session (their children and directories)."""
        with self._lock:
            sessions, self._all, self._idle = self._all, [], []
        for session in sessions:
            session.close()


_CACHE: SessionCache | None = None
_CACHE_LOCK = threading.Lock()


def session_cache() -> SessionCache:
    """This process's sessions (a sweep worker keeps them across tasks); closed at interpreter exit."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            _CACHE = SessionCache()
        return _CACHE


def close_sessions() -> None:
    """End this process's cached sessions (also run at interpreter exit)."""
    if _CACHE is not None:
        _CACHE.close()


atexit.register(close_sessions)


def _after_fork_in_child() -> None:
    global _CACHE, _CACHE_LOCK
    _CACHE = None  # the parent's sessions are the parent's
    _CACHE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SessionRunner(_Limits):
    """A :class:`~analogopt.spice.runner.Runner` whose runs go to persistent libngspice sessions from
    ``cache`` (default: the process's :func:`session_cache`). ``timeout_s`` and ``whole_run`` as for the
    other runners; a session's start-up counts against them. Results are the :class:`RunResult` and
    :class:`Waveforms` :class:`NgspiceRunner` gives for the same deck, numbers to the last bit.

    A given ``run_dir`` receives ``netlist.cir`` (as run), the deck's attachments and, when the run
    failed, ngspice's console output (``ngspice.out``, ``ngspice.err``; a good run's is in its
    :class:`RunResult`); without one nothing is kept."""

    program = "libngspice session"

    def __init__(self, timeout_s: float = 600.0, *, whole_run: bool = False,
                 cache: SessionCache | None = None) -> None:
        self._init_limits(timeout_s, whole_run)
        self.cache = cache if cache is not None else session_cache()
        self.last_info: SimulatorInfo | None = None
        self._solvers = SolverTally()
        #: sessions that crashed or were killed at the limit during this runner's runs
        self.sessions_lost = 0

    def describe(self) -> SimulatorInfo | None:
        """The library of the session that ran this runner's latest deck (None before the first), with
        the solvers its runs took."""
        return None if self.last_info is None else replace(self.last_info, runs=self._solvers.runs())

    def run(self, deck: NetlistDeck | str, run_dir: Path | None = None,
            progress: ProgressCallback | None = None) -> RunResult:
        return self.start(deck, run_dir).wait(progress)

    def start(self, deck: NetlistDeck | str, run_dir: Path | None = None) -> "SessionPendingRun":
        """Send the deck to a session and return at once; :meth:`SessionPendingRun.wait` collects it."""
        started = time.perf_counter()
        text = deck if isinstance(deck, str) else deck.format()
        # a deck that reads files is loaded anew each time: what it reads may have changed
        reads_files = (not isinstance(deck, str) and bool(deck.attachments)) or _READS_FILES.search(text) is not None
        session = self.cache.acquire()
        try:
            if session.worn:
                session.recycle()
            session.start(self.stop_time(started))
            directory = Path(run_dir) if run_dir is not None else session.home
            if run_dir is not None:
                directory.mkdir(parents=True, exist_ok=True)
                _write(directory / "netlist.cir", session.as_run(text), f"netlist {directory}/netlist.cir")
            _write_attachments(directory, deck)
            try:
                session.submit(text, directory, fresh=reads_files)
            except OSError:  # the child died while idle (killed by stop_all, say): not this run's doing
                session.kill()
                session.start(self.stop_time(started))
                session.submit(text, directory, fresh=reads_files)
        except TimeoutError:
            self.cache.release(session)
            self.sessions_lost += 1
            raise self._timeout(NOT_KEPT if run_dir is None else f"netlist {Path(run_dir) / 'netlist.cir'}") from None
        except _ChildDied as died:  # libngspice took the new child down as it loaded
            self.cache.release(session)
            self.sessions_lost += 1
            raise SessionCrashError(str(died), returncode=died.returncode, netlist_text=text) from None
        except BaseException:
            session.kill()
            self.cache.release(session)
            raise
        return SessionPendingRun(self, session, directory, run_dir is None, started, text)

    def _timeout(self, where: str) -> SimulationTimeoutError:
        return SimulationTimeoutError(
            f"{self.program} exceeded {self.timeout_s:g} s ({where}); shorten the simulated time, reduce the "
            "circuit, or raise the timeout (--timeout)", returncode=None)


class SessionPendingRun:
    """A run sent to a session by :meth:`SessionRunner.start`."""

    def __init__(self, runner: SessionRunner, session: Session, directory: Path, temporary: bool, started: float,
                 netlist_text: str) -> None:
        self.runner, self.session, self.directory, self.temporary = runner, session, directory, temporary
        self.started = started
        self.netlist_text = netlist_text
        self._done = False

    @property
    def netlist_path(self) -> Path:
        return self.directory / "netlist.cir"

    def _where(self) -> str:
        return NOT_KEPT if self.temporary else f"netlist {self.netlist_path}"

    def cancel(self) -> None:
        """Abandon the run: the child is inside ngspice, so it is killed (the next run starts another)."""
        if not self._done:
            self._done = True
            try:
                self.session.kill()
            finally:
                self.runner.cache.release(self.session)

    def __del__(self) -> None:  # dropped uncollected: the session must not stay busy with it
        try:
            self.cancel()
        except Exception:
            pass

    def wait(self, progress: ProgressCallback | None = None) -> RunResult:
        """The run's result, judged by analogopt's diagnostics. Raises :class:`SimulationTimeoutError`
        at the runner's limit and :class:`SessionCrashError` when ngspice took its process down."""
        if self._done:
            raise RuntimeError("this run was already collected or cancelled")
        self._done = True
        try:
            return self._collect(progress)
        finally:
            self.runner.cache.release(self.session)

    def _collect(self, progress: ProgressCallback | None) -> RunResult:
        runner, session = self.runner, self.session
        try:
            reply = session.receive(runner.stop_time(self.started))
        except TimeoutError:
            runner.sessions_lost += 1
            raise runner._timeout(self._where()) from None
        except _ChildDied as died:
            runner.sessions_lost += 1
            raise SessionCrashError(f"{died} ({self._where()})", returncode=died.returncode,
                                    netlist_text=self.netlist_text,
                                    run_dir=None if self.temporary else self.directory) from None
        ended = time.perf_counter()
        runner.last_info = replace(session.info, by_size=session.info.klu)
        runner.sessions_lost += reply.fatal
        try:
            raise_for_output(stdout=reply.stdout, stderr=reply.stderr, returncode=reply.returncode,
                             netlist=self.netlist_path, run_dir=None if self.temporary else self.directory,
                             raw_exists=bool(reply.plots), netlist_text=self.netlist_text, where=self._where(),
                             raw="the session's results")
        except AnalogOptError as exc:
            session.forget()  # a failed run's circuit is no base for the next deck's alter
            if not self.temporary:  # what the error's advice points to, beside the netlist
                _write(self.directory / "ngspice.out", reply.stdout, f"{self.directory}/ngspice.out")
                _write(self.directory / "ngspice.err", reply.stderr, f"{self.directory}/ngspice.err")
            self._annotate(exc)
            raise
        if progress is not None:
            progress(1.0)
        ran = replace(session.info, klu=session.info.klu and SOLVER_OPTION in self.netlist_text)
        runner._solvers.add(ran.solver)
        return RunResult(plots=reply.plots, netlist_path=self.netlist_path, stdout=reply.stdout,
                         stderr=reply.stderr, elapsed_s=ended - self.started, warnings=warnings_of(reply.stderr),
                         simulator=ran)

    def _annotate(self, exc: AnalogOptError) -> None:
        exc.netlist_text = self.netlist_text
        exc.run_dir = None if self.temporary else self.directory


def check_same_release(library: SimulatorInfo, program: SimulatorInfo) -> None:
    """Refuse sessions (libngspice) standing in for the ngspice program when they are different releases
    or solvers: their numbers would differ from the program's."""
    if (library.version, library.klu) != (program.version, program.klu):
        raise ConfigError(
            f"--sessions runs {library} but --simulator ngspice is {program}: their results differ; install "
            "the matching libngspice (scripts/setup.sh) or drop --sessions")


def check_sessions(simulator: str) -> SimulatorInfo:
    """Start one session here and check that it can stand in for ``simulator`` ("ngspice": the program on
    PATH must be the library's release and solver; "libngspice": the library itself); its info.
    Raises :class:`SimulatorNotFoundError` without libngspice, :class:`ConfigError` on a mismatch."""
    session = Session()
    try:
        session.start(time.perf_counter() + START_LIMIT_S)
        info = session.info
    except TimeoutError:
        raise SimulationError(f"a libngspice session did not start within {START_LIMIT_S:g} s") from None
    except _ChildDied as died:
        raise SimulationError(f"{died} while loading libngspice; run scripts/setup.sh") from None
    finally:
        session.close()
    if simulator == "ngspice":
        from .runner import NgspiceRunner

        check_same_release(info, NgspiceRunner().describe())
    return info
