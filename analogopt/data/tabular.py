"""Offline tabular data sets that ship inside scikit-learn, standardized and split reproducibly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

_LOADERS = {
    "breast_cancer": "load_breast_cancer",
    "digits": "load_digits",
    "digits16": "load_digits",
    "iris": "load_iris",
}


def _pool_digits(x: np.ndarray) -> np.ndarray:
    """8×8 digit images → 4×4 by averaging 2×2 blocks (16 inputs: a size a small circuit can take)."""
    return x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)


#: Data sets derived from a scikit-learn one by a fixed transform of its features.
_TRANSFORMS = {"digits16": _pool_digits}


@dataclass(frozen=True)
class Split:
    """Train/test arrays: ``x_*`` float64 of shape (samples, features), ``y_*`` int64 class labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def check_split(name: str, y: np.ndarray, test_fraction: float) -> None:
    """Refuse a ``test_fraction`` that leaves a side of the stratified split with fewer samples than
    classes (scikit-learn would raise a bare ValueError); sizes are scikit-learn's rounding."""
    n, classes = len(y), len(np.unique(y))
    n_test = math.ceil(test_fraction * n)
    n_train = math.floor((1.0 - test_fraction) * n)
    if n_test < classes or n_train < classes:
        raise ConfigError(
            f"test_fraction = {test_fraction:g} leaves {n_test} test and {n_train} training samples of {name}'s {n}; "
            f"each side needs at least one per class ({classes}): use about {classes / n:.3g} … {1 - classes / n:.3g}"
        )


def load_tabular(name: str, *, test_fraction: float = 0.3, seed: int = 0, standardize: bool = True) -> Split:
    """Load scikit-learn's ``name`` data set, split stratified with ``seed``, standardize with train statistics."""
    if name not in _LOADERS:
        raise ConfigError(f"unknown data set {name!r}; offline tabular sets: {', '.join(sorted(_LOADERS))}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(sklearn.datasets, _LOADERS[name])()
    x = np.asarray(bunch.data, dtype=np.float64)
    if name in _TRANSFORMS:
        x = _TRANSFORMS[name](x)
    y = np.asarray(bunch.target, dtype=np.int64)
    check_split(name, y, test_fraction)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    if standardize:
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    names = tuple(str(n) for n in getattr(bunch, "feature_names", range(x.shape[1])))[: x.shape[1]]
    if name in _TRANSFORMS:
        names = tuple(f"f{i}" for i in range(x.shape[1]))
    classes = tuple(str(c) for c in getattr(bunch, "target_names", np.unique(y)))
    return Split(x_tr, y_tr, x_te, y_te, names, classes)
