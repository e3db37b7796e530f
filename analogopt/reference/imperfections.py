"""Where the NF loop settles when its circuit is imperfect: the fixed point of 000 Eq. 10–12 with the
imperfections written into the loop equation (docs/nf_macro.md, "Theory of the imperfections").

A pure integrator built from an OTA of finite output resistance leaks, and an OTA's input offset adds a
constant to its input. With the loop scaled so that τ·dw/dt = γ·A·e(w) (000 Eq. 10 without leak), both
enter as

    τ·dw/dt = γ·A·(e(w) + e_os) − λ·w − ℓ·w,

``λ`` the leak the circuit adds (τ/(r_out·C) for an OTA of output resistance r_out into C), ``e_os`` the
offset in units of the error (V_os/s_e), ``ℓ`` = 1 for a loop built with a leak (0 without). The loop
settles where the right-hand side vanishes, F(w*) = 0, solved here by Newton's method (scipy's hybrid
root finder) from the ideal loop's own settling point. For the identity activation and u = x it is a
closed form, a ridge solution: w* = (γA·XᵀX + (λ+ℓ)·I)⁻¹·γA·(Xᵀy + e_os·1).
"""

from __future__ import annotations

import numpy as np
import torch

from ..problems import NFSingleLayerProblem
from .nf_single import NFSingleLayerTwin


def settled_weights(problem: NFSingleLayerProblem, *, leak: float = 0.0, error_offset: float | np.ndarray = 0.0,
                    start: np.ndarray | None = None) -> np.ndarray:
    """w* with the circuit's extra ``leak`` λ (dimensionless, per τ) and ``error_offset`` e_os (units of
    e, one value or one per weight); ``start``: the Newton start (default w0)."""
    from scipy.optimize import root

    twin = NFSingleLayerTwin(problem)
    gains = problem.weight_gains if problem.perturbed else np.full(problem.n_weights, problem.forward_gain)
    total_leak = leak + (1.0 if problem.leak else 0.0)
    offset = np.broadcast_to(np.asarray(error_offset, dtype=float), (problem.n_weights,))

    def residual(w: np.ndarray) -> np.ndarray:
        e = twin.error(torch.from_numpy(np.ascontiguousarray(w))).numpy()
        return problem.gamma * gains * (e + offset) - total_leak * w

    first = np.array(problem.w0 if start is None else start, dtype=float)
    solution = root(residual, first, method="hybr", options={"xtol": 1e-12})
    # at machine precision hybr may report "no progress" on a converged point: judge by the residual
    scale = max(float(np.max(np.abs(residual(first)))), 1.0)
    if float(np.max(np.abs(residual(solution.x)))) > 1e-9 * scale:
        raise RuntimeError(f"the imperfect loop has no fixed point near its start: {solution.message}")
    return solution.x


def ridge_weights(x: np.ndarray, y: np.ndarray, *, gain: float, leak: float, error_offset: float = 0.0) -> np.ndarray:
    """The closed form for the identity activation with u = x (module docstring)."""
    n = x.shape[1]
    return np.linalg.solve(gain * x.T @ x + leak * np.eye(n), gain * (x.T @ y + error_offset * np.ones(n)))
