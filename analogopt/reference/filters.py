"""Digital twins of the weight filters in :mod:`analogopt.blocks.filters` and ``blocks.integrator``.

Each function takes a drive sequence ``w'_k`` (the forward block's output, held constant over each
sample interval Δt, as a sample-and-hold or a PWL source with short ramps delivers it) and returns the
filter states at the sample instants ``t_k = k·Δt``, ``k = 0 … steps``. The maps are exact for the
continuous filters under a held input, so they are what SPICE must reproduce at every sample point:

* first-order RC (000 Eq. 10): ``w_{k+1} = a·w_k + γ(1 − a)·w'_k`` with ``a = exp(−Δt/τ)``, i.e. Eq. (10)
  with ``η = 1 − exp(−Δt/τ)`` (≈ Δt/τ, the paper's first-order form). This is
  :func:`analogopt.reference.optim.lowpass_update` with ``leak = η``, ``lr = γ·η``, which is called here.
* RC cascade (000 Eq. 22): the 2-state linear system discretized exactly (Van Loan's matrix
  exponential). Its first stage is Eq. (22) with ``β_m = exp(−Δt/τ_m)``. Its second stage sees ``m``
  moving *within* the interval, so the map differs from the optimizer's step-wise recurrence
  (:func:`~analogopt.reference.optim.cascade_momentum_update`) by O(Δt/τ_m); both agree as Δt/τ → 0.
* FAL (000 §6.1): ``m`` and ``v`` are first-order stages (exact as above); the weight stage,
  ``τ dw/dt = −w + γ·s_ref·m/s`` with ``s = √(max(v − m², 0) + s_floor²)``, is integrated over each
  interval with the closed forms of ``m(t)``, ``v(t)`` and Gauss–Legendre quadrature of the
  variation-of-constants integral (error far below 1e-6 of the signal for Δt ≤ τ_m).

All arrays are float64, shape ``(steps + 1, channels)``; recurrences loop over time only, vectorized
over channels.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from ..errors import ConfigError
from .optim import lowpass_update

__all__ = ["rc_lowpass_samples", "cascade_samples", "fal_samples", "pole_factor"]


def _as_drive(drive: np.ndarray) -> np.ndarray:
    d = np.asarray(drive, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    if d.ndim != 2 or d.shape[0] < 1:
        raise ConfigError(f"drive must have shape (steps, channels), got {np.shape(drive)}")
    if not np.all(np.isfinite(d)):
        raise ConfigError("drive contains NaN or inf")
    return d


def _initial(value: float | np.ndarray, channels: int, what: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (channels,)).copy()
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} contains NaN or inf")
    return arr


def _positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def pole_factor(*, dt_s: float, tau_s: float) -> float:
    """``a = exp(−Δt/τ)``: the sample-to-sample decay of a first-order RC (β of 000 Eq. 22, exactly)."""
    return math.exp(-_positive("dt_s", dt_s) / _positive("tau_s", tau_s))


def rc_lowpass_samples(
    drive: np.ndarray, *, dt_s: float, tau_s: float, gamma: float = 1.0, leak: bool = True,
    initial: float | np.ndarray = 0.0,
) -> np.ndarray:
    """States of ``τ dw/dt = −w + γ·w'`` (or ``γ·w'`` without ``leak``) at ``t_k = k·Δt``."""
    d = torch.as_tensor(_as_drive(drive))
    w = torch.as_tensor(_initial(initial, d.shape[1], "initial"))
    if leak:
        eta = 1.0 - pole_factor(dt_s=dt_s, tau_s=tau_s)
        lr, decay = gamma * eta, eta
    else:
        lr, decay = gamma * _positive("dt_s", dt_s) / _positive("tau_s", tau_s), 0.0
    out = torch.empty(d.shape[0] + 1, d.shape[1], dtype=torch.float64)
    out[0] = w
    for k in range(d.shape[0]):
        lowpass_update(w, drive=d[k], lr=lr, leak=decay)
        out[k + 1] = w
    return out.numpy()


def _zoh(a: np.ndarray, b: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact discretization of ``dx/dt = A x + B u`` with ``u`` held over Δt (Van Loan)."""
    n = a.shape[0]
    big = np.zeros((n + 1, n + 1))
    big[:n, :n] = a
    big[:n, n] = b
    e = scipy.linalg.expm(big * dt_s)
    return e[:n, :n], e[:n, n]


def cascade_samples(
    drive: np.ndarray, *, dt_s: float, tau_m_s: float, tau_s: float, gamma: float = 1.0, leak: bool = True,
    initial_w: float | np.ndarray = 0.0, initial_m: float | np.ndarray = 0.0,
) -> dict[str, np.ndarray]:
    """States ``{"m", "w"}`` of ``τ_m dm/dt = −m + w'``, ``τ dw/dt = −w + γ·m`` at ``t_k = k·Δt``."""
    d = _as_drive(drive)
    tau_m, tau = _positive("tau_m_s", tau_m_s), _positive("tau_s", tau_s)
    a = np.array([[-1.0 / tau_m, 0.0], [gamma / tau, -(1.0 / tau if leak else 0.0)]])
    phi, gam = _zoh(a, np.array([1.0 / tau_m, 0.0]), _positive("dt_s", dt_s))
    x = np.stack([_initial(initial_m, d.shape[1], "initial_m"), _initial(initial_w, d.shape[1], "initial_w")])
    out = np.empty((d.shape[0] + 1, 2, d.shape[1]))
    out[0] = x
    for k in range(d.shape[0]):
        x = phi @ x + gam[:, None] * d[k][None, :]
        out[k + 1] = x
    return {"m": out[:, 0], "w": out[:, 1]}


def fal_samples(
    drive: np.ndarray, *, dt_s: float, tau_m_s: float, tau_v_s: float, tau_s: float, gamma: float = 1.0,
    leak: bool = True, s_floor_v: float = 1e-3, s_ref_v: float = 1.0, initial_w: float | np.ndarray = 0.0,
    quadrature_points: int = 16,
) -> dict[str, np.ndarray]:
    """States ``{"m", "v", "s", "w"}`` of the FAL arrangement (:class:`~analogopt.blocks.filters.FALIntegrator`)."""
    d = _as_drive(drive)
    dt = _positive("dt_s", dt_s)
    tau_m, tau_v, tau = _positive("tau_m_s", tau_m_s), _positive("tau_v_s", tau_v_s), _positive("tau_s", tau_s)
    floor2 = _positive("s_floor_v", s_floor_v) ** 2
    g = gamma * _positive("s_ref_v", s_ref_v) / tau
    nodes, weights = np.polynomial.legendre.leggauss(int(quadrature_points))
    t = 0.5 * dt * (nodes + 1.0)[:, None]  # (q, 1) times inside the interval
    quad_w = 0.5 * dt * weights[:, None]
    em_t, ev_t = np.exp(-t / tau_m), np.exp(-t / tau_v)
    # variation of constants: w(Δt) = a·w0 + ∫ kernel(Δt − t)·g·m(t)/s(t) dt
    kernel = np.exp(-(dt - t) / tau) if leak else np.ones_like(t)
    a = math.exp(-dt / tau) if leak else 1.0
    em, ev = math.exp(-dt / tau_m), math.exp(-dt / tau_v)

    channels = d.shape[1]
    m = np.zeros(channels)
    v = np.zeros(channels)
    w = _initial(initial_w, channels, "initial_w")
    spread = lambda mm, vv: np.sqrt(np.maximum(vv - mm * mm, 0.0) + floor2)  # noqa: E731
    out = {key: np.empty((d.shape[0] + 1, channels)) for key in ("m", "v", "s", "w")}
    out["m"][0], out["v"][0], out["s"][0], out["w"][0] = m, v, spread(m, v), w
    for k in range(d.shape[0]):
        dk, dk2 = d[k], d[k] * d[k]
        m_t = dk + (m - dk) * em_t  # (q, channels)
        v_t = dk2 + (v - dk2) * ev_t
        w = a * w + (quad_w * kernel * g * m_t / spread(m_t, v_t)).sum(axis=0)
        m = dk + (m - dk) * em
        v = dk2 + (v - dk2) * ev
        out["m"][k + 1], out["v"][k + 1], out["s"][k + 1], out["w"][k + 1] = m, v, spread(m, v), w
    return out
