"""Result directories written all at once, and never at the cost of a file analogopt did not write.

A run writes into a hidden staging directory beside its target and renames it into place only when it
finishes, so a failed or interrupted run never leaves a half-written result directory. Every result
directory holds a :data:`MARKER` file with its run id, its kind (a result or an export) and the files
it wrote; ``force`` replaces only a directory holding one, of the same kind, with nothing else in it.
Paths whose loss would hurt (``/``, the home and current directories and their ancestors, the folder of
the scenario file) are refused before anything runs, and an exclusive lock keeps a second writer off
the same target. The rules are listed in docs/cli.md.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import AnalogOptError, ConfigError, NetlistError, OutputError, SimulationError
from .interrupts import signals_held

#: The file that marks a directory as analogopt's own (JSON: run id, creation time, process id).
MARKER = ".analogopt-run"

#: Free space (bytes) a result directory needs at least: netlist, raw file, plots, Parquet tables.
MIN_FREE_BYTES = 16 * 2**20

def to_jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and paths as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def _protected_places(protect: Iterable[tuple[str | Path, str]]) -> list[tuple[Path, str]]:
    places = [(Path.cwd().resolve(), "the current directory")]
    try:
        places.append((Path.home().resolve(), "the home directory"))
    except (KeyError, RuntimeError):  # no HOME and no passwd entry: nothing to protect there
        pass
    places += [(Path(p).resolve(), what) for p, what in protect]
    return places


def check_target(target: str | Path, *, flag: str = "--out",
                 protect: Iterable[tuple[str | Path, str]] = (), replaced: bool = True) -> Path:
    """``target`` as a path analogopt may create or replace; :class:`ConfigError` otherwise.

    Refused whatever the flags: an empty name, a symbolic link, an existing non-directory, ``/`` and
    any directory that is or contains the current directory, the home directory or a path in
    ``protect`` (pairs of path and description, e.g. the scenario file). Replacing one of those would
    delete what the user keeps. ``replaced`` (a result that takes the target's place by a rename, as
    :class:`RunDirectory`'s does): a mount point is refused too; a sweep, which writes in place, may use one.
    """
    if not str(target).strip():
        raise ConfigError(f"{flag} is empty; name a new directory, e.g. {flag} results/run1")
    try:
        str(target).encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system allows but the result files (JSON, Parquet) cannot name
        raise ConfigError(f"{flag} {ascii(str(target))}: the name is not valid UTF-8 text; choose a name of "
                          "plain characters") from None
    path = Path(os.path.expanduser(str(target)))
    try:
        return _check_path(path, target, flag, protect, replaced)
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise ConfigError(f"{flag} {target}: {exc.strerror or exc}") from None


def _check_path(path: Path, target: str | Path, flag: str, protect: Iterable[tuple[str | Path, str]],
                replaced: bool) -> Path:
    if path.is_symlink():
        raise ConfigError(f"{flag} {target} is a symbolic link; give the directory it points to, or a new one")
    resolved = path.resolve()
    places = _protected_places(protect)
    described = next((f"is {what}" for place, what in places if place == resolved), None)
    described = described or next((f"contains {what} ({place})" for place, what in places
                                   if place.is_relative_to(resolved)), None)
    if described:
        raise ConfigError(f"{flag} {target} {described}; analogopt writes a directory of its own: "
                          f"choose a new one, e.g. {flag} results/run1")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {target} exists and is not a directory")
    if replaced and path.is_dir() and os.path.ismount(path):  # a finished run takes its place by a rename
        raise ConfigError(f"{flag} {target} is a mount point, which cannot be replaced by the finished result; "
                          f"give a directory inside it, e.g. {flag} {Path(str(target)) / 'run1'}")
    return path.absolute()


def make_parent(target: Path, flag: str = "--out") -> list[Path]:
    """Create ``target``'s missing parents; returns those it made, deepest first (to remove them again
    if the run fails). A parent that is a file or cannot be made is an :class:`OutputError`."""
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {target}: {existing} is a file, not a directory")
    created = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{flag} {target}: cannot create {target.parent}: {exc.strerror}") from None
    return created


def is_ours(directory: Path) -> bool:
    """Whether ``directory`` holds analogopt's marker (so ``--force`` may replace it)."""
    return (directory / MARKER).is_file()


def _marker(directory: Path) -> dict[str, Any]:
    """The marker's fields; {} for an unreadable one (a marker of an older analogopt holds no file list)."""
    try:
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _entries(directory: Path) -> list[str]:
    """Every file and folder under ``directory`` but the marker, as sorted relative POSIX paths."""
    marker = directory / MARKER
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p != marker)


def strangers(directory: Path) -> list[str]:
    """What lies in analogopt's ``directory`` that analogopt did not write there (relative paths): what
    ``--force`` would delete of the user's. Everything, for a marker without a file list (an older
    analogopt's, or a damaged one): nothing there can be told from what the user added since."""
    written = _marker(directory).get("files")
    known = set(written) if _listed(directory) else set()
    return [entry for entry in _entries(directory) if entry not in known]


def _listed(directory: Path) -> bool:
    """``directory``'s marker lists the files its run wrote."""
    return isinstance(_marker(directory).get("files"), list)


class DirectoryLock:
    """An exclusive, non-blocking lock on a directory that may not exist yet.

    The lock is ``flock`` on a hidden file beside the directory, removed on release. After locking, the
    file on disk must still be the one locked: otherwise a releasing writer unlinked it in between and
    the lock is taken again on the new file.
    """

    def __init__(self, target: Path, flag: str = "--out") -> None:
        self.path = target.parent / f".{target.name}.lock"
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"{flag} {target}: cannot write in {target.parent}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(f"{flag} {target}: another analogopt run is writing there now; "
                                  "wait for it or choose another directory") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None


def _output_error(exc: OSError, where: Path) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(f"no space left on device writing {where}; free some space or choose another --out")
    return OutputError(f"cannot write {where}: {exc.strerror or exc}")


class RunDirectory:
    """A result directory under construction; use as a context manager.

    Every check happens here, before the caller simulates anything: the target (:func:`check_target`),
    an existing one (empty, or with ``force`` one holding :data:`MARKER`), the parent (a writable
    directory with ``min_free_bytes`` free), and the lock. On success the staging directory replaces the
    target; on a simulation failure it becomes ``<target>.failed`` (netlist and ngspice's output stay
    where the error message says); on any other exit it is removed.
    """

    def __init__(self, target: str | Path, *, force: bool = False, protect: Iterable[tuple[str | Path, str]] = (),
                 min_free_bytes: int = MIN_FREE_BYTES, flag: str = "--out", kind: str = "result") -> None:
        self.target = check_target(target, flag=flag, protect=protect)
        self.force, self.flag, self.kind = force, flag, kind
        if self.target.is_dir() and any(self.target.iterdir()):
            self._check_replaceable()
        self._created = make_parent(self.target, flag)
        self.lock: DirectoryLock | None = None
        try:
            # the lock file is the first write: a place that takes no files (/proc) is named as such,
            # not as one short of space
            self.lock = DirectoryLock(self.target, flag)
            free = shutil.disk_usage(self.target.parent).free
            if free < min_free_bytes:
                raise OutputError(f"{flag} {target}: only {free / 2**20:.1f} MiB free in {self.target.parent}; "
                                  f"a run needs about {min_free_bytes / 2**20:.0f} MiB: free some space or "
                                  "choose another --out")
            try:
                self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent))
            except OSError as exc:
                raise OutputError(f"{flag} {target}: cannot write in {self.target.parent}: {exc.strerror}") from None
            self.run_id = uuid.uuid4().hex
            try:
                write_json(self.path / MARKER, {"run_id": self.run_id, "pid": os.getpid(), "kind": kind,
                                                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            except OSError as exc:
                shutil.rmtree(self.path, ignore_errors=True)
                raise _output_error(exc, self.path) from None
        except BaseException:
            self._release(success=False)
            raise

    def _check_replaceable(self) -> None:
        if not self.force:
            raise ConfigError(f"{self.flag} {self.target} is not empty; choose another directory or pass --force")
        if not is_ours(self.target):
            raise ConfigError(f"{self.flag} {self.target} was not written by analogopt (no {MARKER} file): "
                              "--force replaces only analogopt's own result directories; move it away or "
                              "choose another directory")
        self._check_own(self.target)

    def _check_own(self, directory: Path) -> None:
        """Refuse to replace ``directory`` (analogopt's) if it is of another kind or holds what analogopt
        did not write."""
        kind = _marker(directory).get("kind", self.kind)
        if kind != self.kind:
            raise ConfigError(f"{self.flag} {directory} is an analogopt {kind} directory and this command writes "
                              f"{self.kind} directories; --force replaces only its own kind: choose another "
                              "directory")
        if not _listed(directory):
            raise ConfigError(f"{self.flag} {directory} was written by an analogopt that did not list its files in "
                              f"{MARKER}, so --force cannot tell them from files added since: remove it yourself "
                              "or choose another directory")
        extra = strangers(directory)
        if extra:
            shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
            raise ConfigError(f"{self.flag} {directory} holds files analogopt did not write ({shown}); "
                              "--force replaces only what analogopt wrote: move them away or choose another "
                              "directory")

    def _seal(self) -> None:
        """Record in the marker every file and folder this run wrote."""
        marker = _marker(self.path)
        marker["files"] = _entries(self.path)
        write_json(self.path / MARKER, marker)

    @property
    def failed_path(self) -> Path:
        """Where a run that failed in the simulator keeps its files."""
        return self.target.with_name(self.target.name + ".failed")

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        with signals_held():
            try:
                if exc_type is None:
                    try:
                        self._commit()
                    except OSError as error:
                        raise _output_error(error, self.target) from None
                    except ConfigError as error:  # the target changed during the run (a file added to it)
                        shutil.rmtree(self.path, ignore_errors=True)
                        raise ConfigError(f"{error}; this run's result was not kept") from None
                    return False
                if isinstance(exc, OSError):
                    shutil.rmtree(self.path, ignore_errors=True)
                    raise _output_error(exc, self.target) from None
                if isinstance(exc, (SimulationError, NetlistError)):
                    self._keep_failed(exc)
                else:
                    shutil.rmtree(self.path, ignore_errors=True)
                    if isinstance(exc, AnalogOptError):
                        self._unstage(exc, "the unfinished result was removed")
                return False
            finally:
                self._release(success=exc_type is None)

    def _commit(self) -> None:
        self._seal()
        old = None
        if self.target.exists():
            if any(self.target.iterdir()):
                self._check_replaceable()
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-", dir=self.target.parent))
            self.target.rename(old / "previous")
        self.path.rename(self.target)
        self.path = self.target
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _keep_failed(self, exc: BaseException) -> None:
        failed = self.failed_path
        kept = [p for p in self.path.iterdir() if p.name != MARKER]
        if not kept or (failed.exists() and (not is_ours(failed) or strangers(failed))):
            shutil.rmtree(self.path, ignore_errors=True)
            if kept:  # said whether or not the message cites them: they are gone
                self._unstage(exc, f"the run's files were not kept: {failed} holds files analogopt did not write",
                              always=True)
            else:
                self._unstage(exc, "the run left no files to keep")
            return
        self._seal()
        if failed.exists():
            shutil.rmtree(failed)
        staging = self.path
        self.path.rename(failed)
        self.path = failed
        self._rewrite_paths(exc, str(failed), staging)
        if str(failed) not in str(exc):
            exc.args = (f"{exc} (files kept in {failed})",)

    def _unstage(self, exc: BaseException, note: str, *, always: bool = False) -> None:
        """After the staging directory was removed: a message that cites a path in it names the folder
        it was in instead, followed by ``note`` (what became of the files); ``always``: the note even
        where the message cites no path."""
        if str(self.path) in str(exc) or always:
            staged = re.compile(re.escape(str(self.path)) + r"(/[^\s;,()'\"]*)?")
            exc.args = (f"{staged.sub(str(self.target.parent), str(exc))}; {note}",)
        run_dir = getattr(exc, "run_dir", None)
        if run_dir is not None and Path(run_dir).is_relative_to(self.path):
            exc.run_dir = None

    def _rewrite_paths(self, exc: BaseException, new: str, staging: Path | None = None) -> None:
        """Point ``exc``'s message (and ``run_dir``) at ``new`` instead of the staging directory, which
        is gone by the time the user reads it."""
        staging = staging or self.path
        spellings = sorted({str(staging), os.path.abspath(staging)}, key=len, reverse=True)  # longest first
        message = str(exc)
        for old in spellings:
            message = message.replace(old, new)
        exc.args = (message,)
        run_dir = getattr(exc, "run_dir", None)
        if run_dir is not None:
            for old in spellings:
                if str(run_dir).startswith(old):
                    exc.run_dir = Path(new + str(run_dir)[len(old):])
                    break

    def _release(self, success: bool) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if not success:
            for directory in self._created:  # parents made for this run go too, if nothing else is in them
                try:
                    directory.rmdir()
                except OSError:
                    break

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        path = self.file(name)
        write_json(path, data)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.file(name)
        path.write_text(text)
        return path

    def save_figure(self, name: str, figure) -> Path:
        import matplotlib.pyplot as plt

        path = self.file(name)
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        return path
