"""Scratch directories in the temporary directory that never outlive their process for long.

A scratch directory is named ``analogopt-<purpose>-<pid>-<random>``: it is removed when its ``with``
block ends, however it ends, and a process killed outright (SIGKILL of a sweep worker) leaves one whose
owner is gone; :func:`remove_stale` deletes those at the next start.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_NAME = re.compile(r"^analogopt-[a-z]+-(\d+)-")
_cleaned_in: set[tuple[int, str]] = set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to clean
        return True
    return True


def remove_stale(directory: str | Path | None = None) -> int:
    """Delete scratch directories whose process no longer exists; returns how many went."""
    root = Path(directory or tempfile.gettempdir())
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        match = _NAME.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


@contextmanager
def scratch_dir(purpose: str) -> Iterator[Path]:
    """A fresh scratch directory for ``purpose`` (lower-case letters), removed when the block exits.

    The first one a process makes in a temporary directory first clears what dead processes left there.
    """
    if not purpose.isalpha() or not purpose.islower():
        raise ValueError(f"purpose must be lower-case letters, got {purpose!r}")
    root = tempfile.gettempdir()
    if (os.getpid(), root) not in _cleaned_in:
        _cleaned_in.add((os.getpid(), root))
        remove_stale(root)
    path = Path(tempfile.mkdtemp(prefix=f"analogopt-{purpose}-{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
