"""Weight and node perturbation (003, after Werfel, Xie & Seung 2004): gradient estimates from loss
changes under random perturbations, each a single batched forward pass for the clean and all noisy copies.

* WP: ``ĝ = (1/K) Σ_k [(L(W + σξ_k) − L(W − σξ_k)) / 2σ] ξ_k`` (antithetic pairs; ``antithetic=False``
  uses the clean copy as the reference, ``[L(W + σξ_k) − L(W)]/σ``). The K weight copies run with ``bmm``.
* NP: noise ``σν`` on every pre-activation; ``∂ℓ/∂z ≈ (ℓ_noisy − ℓ_clean)/σ · ν`` per sample, then
  ``ΔW_l ∝ Σ ĝ_z a_{l−1}ᵀ`` with the layer's own input. The batch is repeated ``K + 1`` times in one forward.

WP's estimate variance grows with the number of weights, NP's with the number of units (003).
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import ConfigError
from ..nets import LayeredNet
from .base import LearningRule, per_sample_loss


def _check(sigma: float, samples: int) -> None:
    if not sigma > 0:
        raise ConfigError(f"perturbation sigma must be > 0, got {sigma}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"perturbation samples must be an integer ≥ 1, got {samples!r}")


class WeightPerturbation(LearningRule):
    name = "wp"

    def __init__(self, net: LayeredNet, *, loss: str = "cross_entropy", seed: int = 0, sigma: float = 1e-3,
                 samples: int = 32, antithetic: bool = True) -> None:
        super().__init__(net, loss=loss, seed=seed)
        _check(sigma, samples)
        self.sigma, self.samples, self.antithetic = float(sigma), int(samples), bool(antithetic)

    def options(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "samples": self.samples, "antithetic": self.antithetic}

    @torch.no_grad()
    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k, s = self.samples, self.sigma
        params = [(b.weight, b.bias) for b in self.net.blocks]
        noise = [(torch.randn((k, *w.shape), generator=self.generator).to(w),
                  torch.randn((k, *bb.shape), generator=self.generator).to(bb)) for w, bb in params]
        def spread(n: torch.Tensor) -> torch.Tensor:  # the perturbation of every copy
            if self.antithetic:
                return torch.cat([n, -n]) * s
            return torch.cat([torch.zeros_like(n[:1]), n]) * s  # copy 0 is clean

        copies = 2 * k if self.antithetic else k + 1
        h = x.unsqueeze(0).expand(copies, *x.shape)
        for blk, (w, bb), (nw, nb) in zip(self.net.blocks, params, noise):
            wc = w + spread(nw)
            bc = bb + spread(nb)
            h = blk.act(torch.baddbmm(bc.unsqueeze(1), h, wc.transpose(1, 2)))
        losses = per_sample_loss(h, target.unsqueeze(0).expand(copies, *target.shape), self.loss).mean(1)
        if self.antithetic:
            coef = (losses[:k] - losses[k:]) / (2 * s)
            clean = 0.5 * (losses[:k] + losses[k:]).mean()
        else:
            coef = (losses[1:] - losses[0]) / s
            clean = losses[0]
        for (w, bb), (nw, nb) in zip(params, noise):
            w.grad = torch.tensordot(coef, nw, 1) / k
            bb.grad = torch.tensordot(coef, nb, 1) / k
        return clean


class NodePerturbation(LearningRule):
    name = "np"

    def __init__(self, net: LayeredNet, *, loss: str = "cross_entropy", seed: int = 0, sigma: float = 1e-3,
                 samples: int = 8) -> None:
        super().__init__(net, loss=loss, seed=seed)
        _check(sigma, samples)
        self.sigma, self.samples = float(sigma), int(samples)

    def options(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "samples": self.samples}

    @torch.no_grad()
    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k, s, bsz = self.samples, self.sigma, x.shape[0]
        h = x.repeat(k + 1, *([1] * (x.dim() - 1)))  # copy 0 is clean
        nus, inputs = [], []
        for blk in self.net.blocks:
            z = blk.linear(h)
            nu = torch.randn(z.shape, generator=self.generator).to(z)
            nu[:bsz] = 0.0
            inputs.append(h)
            nus.append(nu)
            h = blk.act(z + s * nu)
        ell = per_sample_loss(h, target.repeat(k + 1, *([1] * (target.dim() - 1))), self.loss)
        coef = ((ell - ell[:bsz].repeat(k + 1)) / s).unsqueeze(1)  # per-sample loss change
        norm = 1.0 / (k * bsz)
        for blk, a, nu in zip(self.net.blocks, inputs, nus):
            gz = coef * nu
            blk.weight.grad = torch.mm(gz.t(), a).mul_(norm)
            blk.bias.grad = gz.sum(0).mul_(norm)
        return ell[:bsz].mean()
