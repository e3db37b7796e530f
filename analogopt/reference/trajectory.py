"""A twin's training history as plain data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """``iteration`` (T,), ``weights`` (T, n), ``loss`` (T,) mean squared error per recorded step."""

    iteration: np.ndarray
    weights: np.ndarray
    loss: np.ndarray

    @property
    def final_weights(self) -> np.ndarray:
        return self.weights[-1]

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])
