"""Small generated regression sets from paper 000 §4 (no files, fully seeded)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def _grid(x_min: float, x_max: float, samples: int) -> np.ndarray:
    if not (np.isfinite(x_min) and np.isfinite(x_max) and x_min < x_max):
        raise ConfigError(f"need finite x_min < x_max, got {x_min}, {x_max}")
    if int(samples) < 2:
        raise ConfigError(f"samples must be ≥ 2, got {samples}")
    return np.linspace(x_min, x_max, int(samples))


def staircase_set(*, w: float = 1.0, b: float = -1.0, x_min: float = -2.0, x_max: float = 4.0, samples: int = 61):
    """000 Fig. 4a: ``y = sgn(z+1) + sgn(z) + sgn(z−1)``, ``z = w·x + b``, on a uniform grid."""
    x = _grid(x_min, x_max, samples)
    z = w * x + b
    y = np.sign(z + 1) + np.sign(z) + np.sign(z - 1)
    return x, y


def noisy_relu_set(
    *, w: float = 1.5, b: float = -0.5, noise_std: float = 0.1, x_min: float = -2.0, x_max: float = 2.0,
    samples: int = 60, seed: int = 0,
):
    """000 Fig. 4c: ``y = relu(w·x + b) + N(0, noise_std²)`` on a uniform grid, noise seeded."""
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise ConfigError(f"noise_std must be ≥ 0, got {noise_std}")
    x = _grid(x_min, x_max, samples)
    rng = np.random.default_rng(seed)
    y = np.maximum(w * x + b, 0.0) + noise_std * rng.standard_normal(x.shape)
    return x, y
