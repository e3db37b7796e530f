"""PyTorch versions of the activations the circuits build (see :mod:`analogopt.blocks.activation`).

The formulas match the SPICE expressions term by term so that twin and circuit share one model;
:func:`sigma` and :func:`sigma_slope` are differentiable by autograd as well.
"""

from __future__ import annotations

import torch

from ..problems import ActivationSpec

_STEPS = (-1.0, 0.0, 1.0)


def _relu(z: torch.Tensor, eps: float) -> torch.Tensor:
    return 0.5 * (z + torch.sqrt(z * z + eps * eps))


def _relu_slope(z: torch.Tensor, eps: float) -> torch.Tensor:
    return 0.5 * (1 + z / torch.sqrt(z * z + eps * eps))


def sigma(spec: ActivationSpec, z: torch.Tensor) -> torch.Tensor:
    """σ(z) for the smooth, hardware form of ``spec``."""
    g, eps, a = spec.gain, 1.0 / spec.gain, spec.slope
    if spec.name == "identity":
        return z
    if spec.name == "tanh":
        return torch.tanh(z)
    if spec.name == "sigmoid":
        return torch.sigmoid(z)
    if spec.name == "relu":
        return _relu(z, eps)
    if spec.name == "leaky_relu":
        return a * z + (1 - a) * _relu(z, eps)
    if spec.name == "sign":
        return torch.tanh(g * z)
    if spec.name == "staircase":
        return sum(torch.tanh(g * (z - c)) for c in _STEPS)
    raise ValueError(spec.name)


def sigma_slope(spec: ActivationSpec, z: torch.Tensor) -> torch.Tensor:
    """σ'(z), the window function of 000 §4.2, in closed form."""
    g, eps, a = spec.gain, 1.0 / spec.gain, spec.slope
    if spec.name == "identity":
        return torch.ones_like(z)
    if spec.name == "tanh":
        return 1 - torch.tanh(z) ** 2
    if spec.name == "sigmoid":
        return torch.sigmoid(z) * torch.sigmoid(-z)
    if spec.name == "relu":
        return _relu_slope(z, eps)
    if spec.name == "leaky_relu":
        return a + (1 - a) * _relu_slope(z, eps)
    if spec.name == "sign":
        return g * (1 - torch.tanh(g * z) ** 2)
    if spec.name == "staircase":
        return g * sum(1 - torch.tanh(g * (z - c)) ** 2 for c in _STEPS)
    raise ValueError(spec.name)


def sigma_ideal(name: str, z: torch.Tensor, slope: float = 0.01) -> torch.Tensor:
    """The textbook activation without hardware smoothing (used to make targets, e.g. 000 Fig. 4a)."""
    if name == "identity":
        return z
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, slope)
    if name == "sign":
        return torch.sign(z)
    if name == "staircase":
        return torch.sign(z + 1) + torch.sign(z) + torch.sign(z - 1)
    raise ValueError(name)
