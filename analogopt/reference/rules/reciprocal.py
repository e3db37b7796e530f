"""Reciprocal feedback (002 §4, Algorithm 1): Newton-like updates through layer-wise pseudoinverses.

Notation of 002 §4.1: ``a_l = W_l h_{l−1}`` (pre-activation), ``h_l = σ(a_l)``. The output error ``e``
(softmax − one-hot for cross-entropy) is carried down by the reciprocals ``B_l = W_{l+1}⁺ D_σ⁺ B_{l+1}``
(002 §4.2), where ``D_σ⁺`` is the inverse derivative at layer ``l+1``'s pre-activation: ``B_l e`` is the
minimum-norm change of layer ``l``'s *output* ``h_l`` that would move the network output by ``e``.
The layer's own weights then take the Hildebrandt–Graves step with the reciprocal of
``J_{W_l} = h_{l−1} ⊗ J_{h_l}`` (002 §4.2): ``δW_l = (B_l e) h_{l−1}ᵀ / ‖h_{l−1}‖²``. Two details decide
whether this trains (measured in ``sims/rules_reciprocal.toml``):

* ``D_σ⁺`` enters only the recursion to the layers *below*, exactly as 002 derives ``J_{W_l}``; dividing a
  layer's own step by its own σ' as well multiplies the steps of units in the leaky part of a leaky ReLU
  by 1/slope, and training collapses.
* ``batch="solve"`` (default) applies the Hildebrandt–Graves step to the error vector of the whole batch:
  the minimum-norm ``ΔW_l`` with ``ΔW_l [h_b; 1] = B_l e_b`` for every sample ``b``, i.e.
  ``ΔW_l = Sᵀ H`` with ``S = (H Hᵀ + ρ I)⁻¹ (B_l E)`` over the batch rows ``[h_b; 1]``. For one sample this
  is 002's ``1/‖a‖²`` step; for a batch it removes every sample's error, whereas the mean of per-sample
  steps (``batch="mean"``, 002 Algorithm 1's loop read as a batch average) lets the shared direction of
  non-negative inputs (MNIST pixels) pile up in the first layer. ``ρ`` (``ridge``, relative to the mean
  of ``‖h_b‖²+1``, default 0.1) keeps the solve defined when the batch is larger than the layer input
  and damps the directions that tell one batch sample from another (best of 1e-3, 0.1, 0.5 on MNIST).
* Every ``D_σ⁺`` multiplies the carried error by up to ``1/σ'``; through ``L`` layers the change asked of
  the lowest layers grows like ``(1/slope)^L`` for a leaky ReLU (measured on 784-400-200-100-50-10 at
  init: slope 0.1 asks layer 1 for ~100× its own activation and training stalls near 45 %; slope 0.5 asks
  ~1× and trains to about 3 points below BP). This is 002 §4.2's assumption 1 (a well-conditioned
  reciprocal) made concrete; prefer a moderate slope.

The bias is a weight on a constant input 1. The pseudoinverse is exact (Moore–Penrose, equal to
``torch.linalg.pinv``), applied through a Cholesky solve of the smaller Gram matrix ``W Wᵀ`` or ``Wᵀ W``,
with ``torch.linalg.pinv`` as the fallback when that Gram matrix is singular. ``D_σ⁺`` needs σ' ≠ 0
everywhere, so every activation must be bijective (002 §4 assumption 3): leaky ReLU, leaky softplus,
tanh, sigmoid or identity.

``pinv="learned"`` instead keeps a feedback matrix ``V_l ≈ W_l⁺`` per layer and refreshes it before each
wake step with ``sleep_steps`` damped Ben-Israel–Cohen iterations ``V ← V + η(V − V W V)`` (the
sleep-phase rule of 002 §3, :func:`analogopt.reference.linalg.ben_israel_cohen`), starting from
``V₀ = α Wᵀ`` and tracking the slowly moving forward weights afterwards.
"""

from __future__ import annotations

import math

import torch

from ...errors import ConfigError
from ..nets import LayeredNet
from .base import LearningRule, loss_value, output_error


def apply_pinv(w: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Rows of ``p`` (shape ``(B, m)``) mapped by ``W⁺`` (``W``: ``(m, n)``) → shape ``(B, n)``, i.e. ``p (W⁺)ᵀ``.

    Square: ``W⁺ = W⁻¹``, one LU solve of ``X Wᵀ = p`` in ``W``'s own dtype (LU works on ``W`` itself, so
    its rounding grows with cond(W), not cond(W)²). Full row rank (m < n): ``W⁺ = Wᵀ (W Wᵀ)⁻¹``; full column
    rank: ``W⁺ = (Wᵀ W)⁻¹ Wᵀ``, with the Gram matrix (condition number squared) factored in float64. A
    singular ``W`` falls back to ``torch.linalg.pinv``.
    """
    m, n = w.shape
    if m == n:
        x, info = torch.linalg.solve_ex(w.t(), p.to(w.dtype), left=False)
        # One sum checks every element (an inf or NaN anywhere makes it non-finite) at a twentieth of the
        # cost of isfinite().all(); finite values summing past the float range only send us to the fallback.
        if int(info) == 0 and math.isfinite(float(x.sum())):
            return x.to(p.dtype)
        return p @ torch.linalg.pinv(w).t()
    w64, p64 = w.double(), p.double()
    gram = w64 @ w64.t() if m < n else w64.t() @ w64
    chol, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        if m < n:  # p (W⁺)ᵀ = p (W Wᵀ)⁻¹ W
            return (torch.cholesky_solve(p64.t(), chol).t() @ w64).to(p.dtype)
        # p (W⁺)ᵀ = p W (Wᵀ W)⁻¹
        return torch.cholesky_solve((p64 @ w64).t(), chol).t().to(p.dtype)
    return p @ torch.linalg.pinv(w).t()


class Reciprocal(LearningRule):
    """Reciprocal feedback with exact pseudoinverses (002 Algorithm 1)."""

    name = "reciprocal"

    def __init__(self, net: LayeredNet, *, loss: str = "cross_entropy", seed: int = 0, pinv: str = "exact",
                 sleep_steps: int = 2, sleep_damping: float = 0.5, batch: str = "solve", ridge: float = 0.1) -> None:
        super().__init__(net, loss=loss, seed=seed)
        if batch not in ("solve", "mean"):
            raise ConfigError(f"reciprocal batch must be 'solve' (Hildebrandt–Graves step on the batch) or 'mean', got {batch!r}")
        if not (isinstance(ridge, (int, float)) and 0.0 < ridge < 1.0):
            raise ConfigError(f"reciprocal ridge must be in (0, 1), got {ridge!r}")
        self.batch, self.ridge = batch, float(ridge)
        if pinv not in ("exact", "learned"):
            raise ConfigError(f"reciprocal pinv must be 'exact' or 'learned', got {pinv!r}")
        if isinstance(sleep_steps, bool) or not isinstance(sleep_steps, int) or sleep_steps < 1:
            raise ConfigError(f"sleep_steps must be an integer ≥ 1, got {sleep_steps!r}")
        if not 0 < sleep_damping <= 1:
            raise ConfigError(f"sleep_damping must be in (0, 1], got {sleep_damping}")
        self.pinv, self.sleep_steps, self.sleep_damping = pinv, sleep_steps, float(sleep_damping)
        self.feedback: list[torch.Tensor | None] = [None] * len(net.blocks)
        for i, b in enumerate(net.blocks):
            if not b.act.spec.bijective:
                raise ConfigError(
                    f"rule 'reciprocal': layer {i + 1} activation {b.act.name!r} is not bijective, so D_σ⁺ does not exist "
                    "(002 §4 assumption 3); use leaky_relu, leaky_softplus, tanh, sigmoid or identity"
                )

    def options(self) -> dict:
        return {"pinv": self.pinv, "sleep_steps": self.sleep_steps, "sleep_damping": self.sleep_damping,
                "batch": self.batch, "ridge": self.ridge}

    def _sleep(self) -> None:
        """Refresh V_l ≈ W_l⁺ by the damped Ben-Israel–Cohen rule (002 §3) for layers 2…L."""
        from ..linalg import ben_israel_cohen, bic_initial

        for i in range(1, len(self.net.blocks)):
            w = self.net.blocks[i].weight.detach().double()
            v = self.feedback[i]
            if v is None:
                v = bic_initial(w)
            try:
                v = ben_israel_cohen(w, self.sleep_steps, x0=v, damping=self.sleep_damping)[-1]
            except ConfigError:  # left the basin after a large forward step: restart from α Wᵀ
                v = ben_israel_cohen(w, self.sleep_steps, damping=self.sleep_damping)[-1]
            self.feedback[i] = v

    def _apply(self, i: int, p: torch.Tensor) -> torch.Tensor:
        if self.pinv == "exact":
            return apply_pinv(self.net.blocks[i].weight.detach(), p)
        return (p.double() @ self.feedback[i].t()).to(p.dtype)

    def _write(self, block, a: torch.Tensor, u: torch.Tensor) -> None:
        """Step of one layer: ``ΔW [a_b; 1] = u_b`` for the batch (``solve``) or the mean of per-sample steps."""
        if self.batch == "mean":
            s = u / (a.square().sum(1, keepdim=True) + 1.0)  # 002: (B_l e) aᵀ / ‖a‖² per sample
            inv_b = 1.0 / a.shape[0]
            block.weight.grad = torch.mm(s.t(), a).mul_(inv_b)
            block.bias.grad = s.sum(0).mul_(inv_b)
            return
        # The ridge bounds the condition number of the B×B Gram matrix by about B/ridge: at the default the
        # network's float32 is plenty; a small ridge gets float64.
        dtype = a.dtype if self.ridge >= 0.05 else torch.float64
        gram = torch.addmm(a.new_ones(a.shape[0], a.shape[0]), a, a.t()).to(dtype)
        gram.diagonal().add_(self.ridge * float(gram.diagonal().mean()))
        chol = torch.linalg.cholesky(gram)
        s = torch.cholesky_solve(u.to(dtype), chol).to(a.dtype)  # (B, m): the batch reciprocal applied to u
        block.weight.grad = torch.mm(s.t(), a)
        block.bias.grad = s.sum(0)

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        net = self.net
        if self.pinv == "learned":
            self._sleep()
        cache = net.forward_cache(x)
        # B_L e: the output error at the output pre-activation (softmax − one-hot, or (O − T)σ' for MSE)
        u = output_error(cache.z[-1], cache.h[-1], target, self.loss, net)
        p = u
        for i in range(len(net.blocks) - 1, -1, -1):
            self._write(net.blocks[i], cache.inputs[i], u)
            if i > 0:
                below = net.blocks[i - 1]
                u = self._apply(i, p)  # B_{i−1} e = W_i⁺ D_σ⁺ B_i e: min-norm change of layer i−1's output
                p = u / below.act.derivative(cache.z[i - 1], cache.h[i - 1])  # D_σ⁺ at a_{i−1}, for the layers below
        return loss_value(cache.output, target, self.loss)
