"""The negative-feedback optimizer for deep networks (000 §4.4, Fig. 5, Eq. 13–17) and its §6 tools.

The difference vector of the output, ``d^L = y − y'``, is carried down through the backward gain
``σ'^l W^l`` (000 Eq. 16–17: ``d^{l−1}_i = Σ_c σ'^l_c w^l_ic d^l_c``), and each weight integrates
``e_w = u · d`` with the error-function gain ``u``:

* ``gain="beta"``: ``u = β = σ' x`` — the gradient of ½‖y − y'‖² (000 §3.2; the loop is then GD);
* ``gain="x"``: ``u = x`` — no window at the layer (000 §4.1, learns non-differentiable σ);
* ``gain="beta_n"``: ``u = β^n`` elementwise, ``n`` odd (000 §5, Eq. 18–21; n = 1 is GD).

``sigma_nz`` adds the constant σ'_nz to the window, ``β = (σ' + σ'_nz) x`` (000 §6.3, the skip
connection's backward path alone). The forward skip path itself (Fig. 7a: the block outputs
``σ(z) + σ'_nz·W_nz·a``) is a property of the network (:func:`~analogopt.reference.nets.mlp` ``skip=``);
the difference vector then returns through both the weights and the skip matrix. ``window="secant"`` replaces σ' by the slope between each sample's
neighbours ``z₋``/``z₊`` along the batch, clipped at 1 (000 §6.4), which is what makes sign or
staircase activations trainable. :func:`dead_network_report` is the §6.2 predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...errors import ConfigError
from ..nets import Block, LayeredNet
from .base import LearningRule, loss_value, output_error

GAINS = ("beta", "x", "beta_n")
WINDOWS = ("derivative", "secant")


def secant_window(block: Block, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Approximate σ' per sample from its neighbours in the batch (000 §6.4, Fig. 7b).

    For every unit the batch's pre-activations are sorted; a sample's window is
    ``(σ(z₊) − σ(z₋)) / (z₊ − z₋)`` with ``z₋``/``z₊`` the next lower/higher samples, clipped to
    [−1, 1]. Ties (``z₊ = z₋``) give 0. Vectorized: one sort per layer, no loop over samples.
    """
    zs, idx = torch.sort(z, dim=0)
    hs = torch.gather(h, 0, idx)
    z_lo = torch.cat([zs[:1], zs[:-1]])
    z_hi = torch.cat([zs[1:], zs[-1:]])
    h_lo = torch.cat([hs[:1], hs[:-1]])
    h_hi = torch.cat([hs[1:], hs[-1:]])
    dz = z_hi - z_lo
    slope = torch.where(dz > 0, (h_hi - h_lo) / torch.where(dz > 0, dz, 1.0), 0.0).clamp_(-1.0, 1.0)
    return torch.empty_like(z).scatter_(0, idx, slope)


class NegativeFeedback(LearningRule):
    """Deep negative-feedback optimizer (000 §4.4). Defaults to squared error (``loss="mse"``)."""

    name = "nf"
    supports_skip = True

    def __init__(
        self,
        net: LayeredNet,
        *,
        loss: str = "mse",
        seed: int = 0,
        gain: str = "beta",
        n: int = 3,
        sigma_nz: float = 0.0,
        window: str = "derivative",
    ) -> None:
        super().__init__(net, loss=loss, seed=seed)
        if gain not in GAINS:
            raise ConfigError(f"unknown NF error gain {gain!r}; known: {', '.join(GAINS)}")
        if gain == "beta_n" and (isinstance(n, bool) or not isinstance(n, int) or n < 1 or n % 2 == 0):
            raise ConfigError(f"NF gain beta_n needs an odd integer n ≥ 1 (000 §5), got {n!r}")
        if window not in WINDOWS:
            raise ConfigError(f"unknown NF window {window!r}; known: {', '.join(WINDOWS)}")
        if not sigma_nz >= 0:
            raise ConfigError(f"sigma_nz must be ≥ 0 (000 §6.3), got {sigma_nz}")
        self.gain, self.n, self.sigma_nz, self.window = gain, int(n), float(sigma_nz), window

    def options(self) -> dict[str, Any]:
        return {"gain": self.gain, "n": self.n, "sigma_nz": self.sigma_nz, "window": self.window}

    def windows(self, cache) -> list[torch.Tensor]:
        """The per-layer window g_l = σ'(z_l) (or its §6.4 secant estimate) + σ'_nz."""
        out = []
        for b, z, h in zip(self.net.blocks, cache.z, cache.h):
            g = secant_window(b, z, h) if (self.window == "secant" and not b.act.spec.differentiable) else b.act.derivative(z, h)
            out.append(g + self.sigma_nz if self.sigma_nz else g)
        return out

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        net = self.net
        cache = net.forward_cache(x)
        g = self.windows(cache)
        if self.loss == "mse":
            d = cache.h[-1] - target  # difference vector d^L = y − y'
        else:  # logits: the difference at the pre-activation (identity output, window 1)
            d = output_error(cache.z[-1], cache.h[-1], target, self.loss, net)
        inv_b = 1.0 / x.shape[0]
        for i in range(len(net.blocks) - 1, -1, -1):
            block, a = net.blocks[i], cache.inputs[i]
            gd = g[i] * d
            if self.gain == "beta":
                post, pre = gd, a
            elif self.gain == "x":
                post, pre = d, a
            else:
                post, pre = d * g[i].pow(self.n), a.pow(self.n)
            block.weight.grad = torch.mm(post.t(), pre).mul_(inv_b)
            block.bias.grad = post.sum(0).mul_(inv_b)
            if i > 0:
                skip = block.skip
                d_next = torch.mm(gd, block.weight.detach())  # Eq. 17: d^{l−1} = (σ'^l ⊙ d^l) W^l
                # the skip path of 000 Fig. 7a carries d back with its own gain σ'_nz·W_nz
                d = d_next if skip is None else d_next.addmm_(d, skip)
        return loss_value(cache.output, target, self.loss)


@dataclass(frozen=True)
class DeadLayer:
    """Units whose window is 0 for every sample and inputs that are 0 for every sample (β = σ'x = 0)."""

    layer: int
    dead_units: tuple[int, ...]
    dead_inputs: tuple[int, ...]
    n_units: int
    n_inputs: int

    @property
    def dead(self) -> bool:
        """No weight of this layer can move: β = 0 for all of them and all samples."""
        return len(self.dead_units) == self.n_units or len(self.dead_inputs) == self.n_inputs


@dataclass(frozen=True)
class DeadNetworkReport:
    layers: tuple[DeadLayer, ...]

    @property
    def dead(self) -> bool:
        """000 §6.2: if any layer has β = 0 for all samples, the loop is open there and learning stops."""
        return any(layer.dead for layer in self.layers)

    def summary(self) -> str:
        parts = [f"layer {d.layer + 1}: {len(d.dead_units)}/{d.n_units} dead units, {len(d.dead_inputs)}/{d.n_inputs} zero inputs"
                 for d in self.layers]
        return ("DEAD — " if self.dead else "alive — ") + "; ".join(parts)


@torch.no_grad()
def dead_network_report(net: LayeredNet, x: torch.Tensor, *, sigma_nz: float = 0.0) -> DeadNetworkReport:
    """Predict a dead network before training (000 §6.2): report, per layer, the units where σ' = 0
    and the inputs that are 0 for every sample of ``x`` (so β = σ'·x = 0 everywhere for their weights).
    """
    if not net.is_mlp:
        raise ConfigError("dead_network_report is defined for MLPs")
    cache = net.forward_cache(x)
    layers = []
    for i, (b, z, h, a) in enumerate(zip(net.blocks, cache.z, cache.h, cache.inputs)):
        window = b.act.derivative(z, h) + sigma_nz
        dead_u = torch.nonzero((window == 0).all(0)).flatten().tolist()
        dead_i = torch.nonzero((a == 0).all(0)).flatten().tolist()
        layers.append(DeadLayer(i, tuple(dead_u), tuple(dead_i), z.shape[1], a.shape[1]))
    return DeadNetworkReport(tuple(layers))
