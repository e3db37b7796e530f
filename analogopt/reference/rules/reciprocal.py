"""Reciprocal feedback (002 §4, Algorithm 1): Newton-like updates through layer-wise pseudoinverses.

The output error ``e`` (at the output pre-activation) is carried down by the reciprocals
``B_l = W_{l+1}⁺ D_σ⁺ B_{l+1}`` (002 §4.2) instead of transposes, and every layer takes the minimum-norm
step that would remove its share of the error, ``δW_l = (B_l e) a_{l−1}ᵀ / ‖a_{l−1}‖²`` (002 Algorithm 1).
The bias is treated as a weight on a constant input 1, so the norm is ``‖a‖² + 1``.

The pseudoinverse here is exact (Moore–Penrose, equal to ``torch.linalg.pinv``), applied through a
Cholesky solve of the smaller Gram matrix ``W Wᵀ`` or ``Wᵀ W``, with ``torch.linalg.pinv`` as the
fallback when that Gram matrix is singular. ``D_σ⁺`` needs σ' ≠ 0 everywhere, so every activation must
be bijective (002 §4 assumption 3): leaky ReLU, leaky softplus, tanh, sigmoid or identity.
"""

from __future__ import annotations

import torch

from ...errors import ConfigError
from ..nets import LayeredNet
from .base import LearningRule, loss_value, output_error


def apply_pinv(w: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Rows of ``p`` (shape ``(B, m)``) mapped by ``W⁺`` (``W``: ``(m, n)``) → shape ``(B, n)``, i.e. ``p (W⁺)ᵀ``.

    Full row rank (m ≤ n): ``W⁺ = Wᵀ (W Wᵀ)⁻¹``; full column rank: ``W⁺ = (Wᵀ W)⁻¹ Wᵀ``. The Gram
    matrix is factored in float64 to keep the squared condition number harmless.
    """
    m, n = w.shape
    w64 = w.double()
    gram = w64 @ w64.t() if m <= n else w64.t() @ w64
    chol, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        if m <= n:  # p (W⁺)ᵀ = p (W Wᵀ)⁻¹ W
            return (torch.cholesky_solve(p.double().t(), chol).t() @ w64).to(p.dtype)
        # p (W⁺)ᵀ = p W (Wᵀ W)⁻¹
        return torch.cholesky_solve((p.double() @ w64).t(), chol).t().to(p.dtype)
    return p @ torch.linalg.pinv(w).t()


class Reciprocal(LearningRule):
    """Reciprocal feedback with exact pseudoinverses (002 Algorithm 1)."""

    name = "reciprocal"

    def __init__(self, net: LayeredNet, *, loss: str = "cross_entropy", seed: int = 0) -> None:
        super().__init__(net, loss=loss, seed=seed)
        for i, b in enumerate(net.blocks):
            if not b.act.spec.bijective:
                raise ConfigError(
                    f"rule 'reciprocal': layer {i + 1} activation {b.act.name!r} is not bijective, so D_σ⁺ does not exist "
                    "(002 §4 assumption 3); use leaky_relu, leaky_softplus, tanh, sigmoid or identity"
                )

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        net = self.net
        cache = net.forward_cache(x)
        p = output_error(cache.z[-1], cache.h[-1], target, self.loss, net)  # B_L e at the top
        inv_b = 1.0 / x.shape[0]
        for i in range(len(net.blocks) - 1, -1, -1):
            block, a = net.blocks[i], cache.inputs[i]
            s = p / (a.square().sum(1, keepdim=True) + 1.0)  # minimum-norm step on [W b] for input [a; 1]
            block.weight.grad = torch.mm(s.t(), a).mul_(inv_b)
            block.bias.grad = s.sum(0).mul_(inv_b)
            if i > 0:
                below = net.blocks[i - 1]
                q = apply_pinv(block.weight.detach(), p)  # W_l⁺ (…)
                p = q / below.act.derivative(cache.z[i - 1], cache.h[i - 1])  # D_σ⁺
        return loss_value(cache.output, target, self.loss)
