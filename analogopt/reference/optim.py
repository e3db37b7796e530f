"""The optimizers that paper 000's weight filters imply, as drop-in ``torch.optim`` optimizers.

In a negative-feedback loop every optimizer trick is a filter between the forward block's output
``w'`` and the weight ``w`` (000 §3.2, §5, §6.1). For a torch model the forward block's output is the
negative gradient, ``w' = −∇L`` (000 §5: the loop error is ``e = (m/2)(−∇q)``; the constant factor is
folded into the learning rate). Each rule below is written in terms of that *drive* ``w'``.

Every filter stage is written per step in the form of 000 Eq. (10),
``w ← w + η(γ·x − w) = (1 − leak)·w + lr·x`` with ``leak = η = Δt/τ`` and ``lr = η·γ``. ``leak = 0``
is the ideal (lossless) integrator, the limit ``τ → ∞`` at fixed ``γ/τ``; ``leak > 0`` is the RC
filter's own weight decay (000 Eq. 21: ``lr = η_gd``, ``leak = η_gd·λ``).

=======================  =====================================================================
:class:`LowPassRC`       000 Eq. (10): ``w ← (1 − leak)·w + lr·w'``
:class:`CascadeMomentum` 000 Eq. (22): ``m ← β_m·m + (1 − β_m)·w'``, then ``w ← (1 − leak)·w + lr·m``
:class:`FAL`             000 §6.1: as the cascade, plus ``v ← β_v·v + (1 − β_v)·w'²`` and the second
                         stage's drive divided by ``√(v − m²)``:
                         ``w ← (1 − leak)·w + lr·m / (√max(v − m², 0) + ε)``
=======================  =====================================================================

Exact equivalences with torch's own optimizers (tested to 1e-6 on a real model)::

    LowPassRC(lr=a, leak=b)                  ≡ SGD(lr=a, weight_decay=b/a)
    CascadeMomentum(lr=a, beta_m=μ, leak=0)  ≡ SGD(lr=a·(1 − μ), momentum=μ, dampening=0)

The second holds because torch's momentum buffer ``buf_t = μ·buf_{t−1} + g_t`` (``buf_1 = g_1``) and the
filter state ``m_t = μ·m_{t−1} + (1 − μ)·(−g_t)`` (``m_0 = 0``) satisfy ``m_t = −(1 − μ)·buf_t`` for all
``t`` by induction. With ``leak > 0`` the cascade decays the weight *after* the momentum filter (as the
circuit does: the leak is the second RC's resistor), which is decoupled weight decay, not SGD's.

Each update rule is a pure function with keyword-only arguments (:func:`lowpass_update`,
:func:`cascade_momentum_update`, :func:`fal_update`) that the optimizer classes call, so a co-simulation
can drive the same rule with its own tensors.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

from ..errors import ConfigError

__all__ = [
    "lowpass_update",
    "cascade_momentum_update",
    "fal_update",
    "LowPassRC",
    "CascadeMomentum",
    "FAL",
    "sgd_momentum_equivalent",
    "sgd_lowpass_equivalent",
]


# --------------------------------------------------------------------------------------------------
# Pure update rules (in place on the tensors they are given; no hidden state)
# --------------------------------------------------------------------------------------------------


def lowpass_update(param: Tensor, *, drive: Tensor, lr: float, leak: float) -> None:
    """One step of the first-order low-pass of 000 Eq. (10): ``w ← (1 − leak)·w + lr·w'``.

    ``drive`` is ``w'`` (for a torch model, ``−∇L``); ``leak = η = Δt/τ`` (dimensionless, per step);
    ``lr = η·γ``. Updates ``param`` in place.
    """
    if leak:
        param.mul_(1.0 - leak)
    param.add_(drive, alpha=lr)


def cascade_momentum_update(param: Tensor, *, drive: Tensor, m: Tensor, lr: float, beta_m: float, leak: float) -> None:
    """One step of two first-order filters in cascade (000 Eq. 22, Fig. 6a dark lines).

    First stage (time constant τ_m, ``β_m = 1 − Δt/τ_m``): ``m ← β_m·m + (1 − β_m)·w'``.
    Second stage (τ, γ): ``w ← (1 − leak)·w + lr·m`` using the *updated* ``m``. Both in place.
    """
    m.mul_(beta_m).add_(drive, alpha=1.0 - beta_m)
    if leak:
        param.mul_(1.0 - leak)
    param.add_(m, alpha=lr)


def fal_update(
    param: Tensor,
    *,
    drive: Tensor,
    m: Tensor,
    v: Tensor,
    step: int,
    lr: float,
    beta_m: float,
    beta_v: float,
    eps: float,
    leak: float,
    bias_correction: bool,
) -> None:
    """One step of Filter-Assisted Learning rate (000 §6.1, Fig. 6a gray lines), in place.

    ``m ← β_m·m + (1 − β_m)·w'`` (m = E[w']), ``v ← β_v·v + (1 − β_v)·w'²`` (v = E[w'²]); the second
    stage's rate is divided by the standard deviation ``s = √max(v − m², 0)`` of ``w'`` (plus ``eps``):
    ``w ← (1 − leak)·w + lr·m/(s + eps)``. Only the drive is scaled; the leak (the second stage's
    resistor, :mod:`analogopt.blocks.filters`) is not, because a leak divided by a vanishing spread would
    make the decay factor exceed 1 and the weight diverge (decoupled weight decay, as in AdamW).

    The paper uses no bias correction (the default). With ``bias_correction`` the filter outputs are
    divided by ``1 − β^step`` as Adam does; the spread of one sample is zero, so at ``step == 1`` the
    filters are filled but the weight is left unchanged (its rate would be ``lr/eps``).
    ``step`` counts from 1.
    """
    m.mul_(beta_m).add_(drive, alpha=1.0 - beta_m)
    v.mul_(beta_v).addcmul_(drive, drive, value=1.0 - beta_v)
    if bias_correction:
        if step == 1:
            return
        m_hat = m / (1.0 - beta_m**step)
        v_hat = v / (1.0 - beta_v**step)
    else:
        m_hat, v_hat = m, v
    # v ≥ m² holds exactly when β_m = β_v (Cauchy–Schwarz on the filter weights); rounding or unequal
    # β can make it slightly negative, so it is clamped before the square root.
    spread = torch.addcmul(v_hat, m_hat, m_hat, value=-1.0).clamp_(min=0.0).sqrt_().add_(eps)
    if leak:
        param.mul_(1.0 - leak)
    param.addcdiv_(m_hat, spread, value=lr)


# --------------------------------------------------------------------------------------------------
# Hyper-parameter checks
# --------------------------------------------------------------------------------------------------


def _check_number(name: str, value: Any, *, low: float, high: float, low_open: bool, high_open: bool) -> float:
    allowed = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in {allowed}, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) or (v == high == math.inf)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ConfigError(f"{name} must be in {allowed}, got {value!r}")
    return v


def _check_lr(value: Any) -> float:
    return _check_number("lr", value, low=0.0, high=math.inf, low_open=False, high_open=True)


def _check_beta(name: str, value: Any) -> float:
    return _check_number(name, value, low=0.0, high=1.0, low_open=False, high_open=True)


def _check_leak(value: Any) -> float:
    return _check_number("leak", value, low=0.0, high=1.0, low_open=False, high_open=True)


def _check_eps(value: Any) -> float:
    return _check_number("eps", value, low=0.0, high=math.inf, low_open=True, high_open=True)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


class _FilterOptimizer(Optimizer):
    """Shared machinery: group validation, closure handling, drive ``w' = −∇L``."""

    def _validate_group(self, group: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]) -> None:
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        self._validate_group(self.param_groups[-1])

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        params = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise ConfigError(f"{type(self).__name__} does not support sparse gradients")
            params.append(p)
        return params

    def _run_closure(self, closure: Callable[[], Tensor] | None) -> Tensor | None:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()


class LowPassRC(_FilterOptimizer):
    """First-order RC low-pass weight update, 000 Eq. (10): ``w ← (1 − leak)·w + lr·(−∇L)``.

    ``lr = η·γ`` and ``leak = η = Δt/τ``; ``leak = 0`` (default) is an ideal integrator, i.e. plain
    SGD. Equivalent to ``SGD(lr=lr, weight_decay=leak/lr)`` (000 Eq. 21). Use
    :meth:`from_time_constants` to build it from circuit values.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2, leak: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "leak": leak})

    @classmethod
    def from_time_constants(
        cls, params: Iterable[Tensor] | Iterable[dict], *, dt_s: float, tau_s: float, gamma: float
    ) -> "LowPassRC":
        """From an RC filter ``τ dw/dt = −w + γ·w'`` sampled every ``dt_s``: ``η = Δt/τ`` (000 Eq. 10)."""
        _check_number("dt_s", dt_s, low=0.0, high=math.inf, low_open=True, high_open=True)
        _check_number("tau_s", tau_s, low=dt_s, high=math.inf, low_open=True, high_open=True)
        _check_number("gamma", gamma, low=0.0, high=math.inf, low_open=True, high_open=True)
        eta = dt_s / tau_s
        return cls(params, lr=eta * gamma, leak=eta)

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = _check_lr(group["lr"])
        group["leak"] = _check_leak(group["leak"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = self._run_closure(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                lowpass_update(p, drive=p.grad.neg(), lr=group["lr"], leak=group["leak"])
        return loss


class CascadeMomentum(_FilterOptimizer):
    """Two RC low-pass filters in cascade, 000 Eq. (22) and Fig. 6a: momentum.

    ``m ← β_m·m + (1 − β_m)·(−∇L)``, then ``w ← (1 − leak)·w + lr·m``. With ``leak = 0`` this equals
    ``SGD(lr=lr·(1 − β_m), momentum=β_m, dampening=0)`` exactly (see the module docstring). State:
    ``"m"`` per parameter, created on the first step.
    """

    def __init__(
        self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-1, beta_m: float = 0.9, leak: float = 0.0
    ) -> None:
        super().__init__(params, {"lr": lr, "beta_m": beta_m, "leak": leak})

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = _check_lr(group["lr"])
        group["beta_m"] = _check_beta("beta_m", group["beta_m"])
        group["leak"] = _check_leak(group["leak"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = self._run_closure(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                cascade_momentum_update(
                    p, drive=p.grad.neg(), m=state["m"], lr=group["lr"], beta_m=group["beta_m"], leak=group["leak"]
                )
        return loss


class FAL(_FilterOptimizer):
    """Filter-Assisted Learning rate, 000 §6.1 (Fig. 6): the cascade plus a variance filter.

    Defaults are the paper's: ``β_m = β_v = 0.99``, learning rate ``1e-3``, no bias correction.
    ``w ← (1 − leak)·w + lr·m/(√max(v − m², 0) + eps)``. Unlike Adam the spread subtracts ``m²``
    (000 §6.1). State per parameter: ``"step"`` (int), ``"m"``, ``"v"``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        beta_m: float = 0.99,
        beta_v: float = 0.99,
        eps: float = 1e-8,
        leak: float = 0.0,
        bias_correction: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "beta_m": beta_m,
            "beta_v": beta_v,
            "eps": eps,
            "leak": leak,
            "bias_correction": bias_correction,
        }
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = _check_lr(group["lr"])
        group["beta_m"] = _check_beta("beta_m", group["beta_m"])
        group["beta_v"] = _check_beta("beta_v", group["beta_v"])
        group["eps"] = _check_eps(group["eps"])
        group["leak"] = _check_leak(group["leak"])
        group["bias_correction"] = _check_bool("bias_correction", group["bias_correction"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = self._run_closure(closure)
        for group in self.param_groups:
            for p in self._params_with_grad(group):
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                fal_update(
                    p,
                    drive=p.grad.neg(),
                    m=state["m"],
                    v=state["v"],
                    step=state["step"],
                    lr=group["lr"],
                    beta_m=group["beta_m"],
                    beta_v=group["beta_v"],
                    eps=group["eps"],
                    leak=group["leak"],
                    bias_correction=group["bias_correction"],
                )
        return loss


def sgd_momentum_equivalent(*, lr: float, beta_m: float) -> dict[str, float]:
    """``torch.optim.SGD`` keyword arguments equal to ``CascadeMomentum(lr, beta_m, leak=0)``."""
    return {"lr": _check_lr(lr) * (1.0 - _check_beta("beta_m", beta_m)), "momentum": beta_m, "dampening": 0.0}


def sgd_lowpass_equivalent(*, lr: float, leak: float) -> dict[str, float]:
    """``torch.optim.SGD`` keyword arguments equal to ``LowPassRC(lr, leak)`` (000 Eq. 21); needs lr > 0."""
    lr = _check_number("lr", lr, low=0.0, high=math.inf, low_open=True, high_open=True)
    return {"lr": lr, "weight_decay": _check_leak(leak) / lr}
