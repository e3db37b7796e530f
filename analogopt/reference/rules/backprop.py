"""Backpropagation (001 Eq. 3–5) by autograd, and the top-layer-only baseline of 001 Table 1."""

from __future__ import annotations

import torch

from .base import LearningRule, loss_value, output_error


class Backprop(LearningRule):
    """Exact gradient of the loss by autograd: ``Δw^h_ij ∝ −(W^{h+1}ᵀ δ^{h+1} ⊙ f'(S^h))_i O^{h−1}_j`` (001 Eq. 3–5)."""

    name = "bp"
    supports_conv = True
    supports_skip = True  # autograd follows every path of the forward pass

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        params = list(self.net.parameters())
        for p in params:
            p.grad = None
        loss = loss_value(self.net(x), target, self.loss)
        loss.backward()
        return loss.detach()


class TopLayerOnly(LearningRule):
    """Only the output layer learns (its exact gradient); hidden layers keep their random weights.

    Hidden parameters get ``.grad = None`` so optimizers skip them (no weight decay drift either).
    """

    name = "top"
    supports_conv = True
    supports_skip = True  # only the output layer learns, from its own inputs

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cache = self.net.forward_cache(x)
        top = self.net.blocks[-1]
        e = output_error(cache.z[-1], cache.h[-1], target, self.loss, self.net)
        inv_b = 1.0 / x.shape[0]
        for b in self.net.blocks[:-1]:
            b.weight.grad = None
            b.bias.grad = None
        top.weight.grad = torch.mm(e.t(), cache.inputs[-1]).mul_(inv_b)
        top.bias.grad = e.sum(0).mul_(inv_b)
        return loss_value(cache.output, target, self.loss)
