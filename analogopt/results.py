"""Result directories written all at once.

Files go into a hidden staging directory beside the target; only a run that finishes is renamed into
place, so a failed or interrupted run never leaves a half-written result directory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError


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


class RunDirectory:
    """A result directory under construction; use as a context manager.

    ``force`` replaces an existing non-empty target; otherwise an existing non-empty target is a
    :class:`ConfigError` raised before any work is done.
    """

    def __init__(self, target: str | Path, *, force: bool = False) -> None:
        self.target = Path(target)
        if self.target.exists() and not self.target.is_dir():
            raise ConfigError(f"--out {self.target} exists and is not a directory")
        if self.target.is_dir() and any(self.target.iterdir()) and not force:
            raise ConfigError(f"--out {self.target} is not empty; choose another directory or pass --force")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent))

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if self.target.exists():
            shutil.rmtree(self.target)
        self.path.rename(self.target)
        self.path = self.target

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
