"""The common API of every learning rule, and the losses they share.

A rule turns ``(network, batch, targets)`` into per-layer weight and bias updates written to each
parameter's ``.grad`` (sign convention: a descent direction's negative, like a gradient), so any
``torch.optim`` optimizer applies them::

    rule = make_rule("srbp", net)
    loss = rule.compute_grads(x, y)      # writes .grad of every trainable parameter
    optimizer.step()
    rule.after_step()                    # mono-net projection, adaptive feedback, …

Targets are class indices (``int64``, shape ``(B,)``) for ``cross_entropy`` and ``bce``, or a float
tensor shaped like the output for ``mse``. Losses are means over the batch.

A rule holds the network's parameters the way an optimizer does: updates in place (optimizer steps,
``load_state_dict``) are seen; a parameter replaced by a new object after the rule was made is not, so
make a new rule (and optimizer) then.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ..nets import LayeredNet

LOSSES = ("cross_entropy", "bce", "mse")


def check_loss(net: LayeredNet, loss: str) -> None:
    """The output layer must fit the loss: ``cross_entropy``/``bce`` read logits (identity output)."""
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    out_act = net.blocks[-1].act.name
    if loss in ("cross_entropy", "bce") and out_act != "identity":
        raise ConfigError(f"loss {loss!r} expects logits: the output activation must be identity, got {out_act!r}")
    if loss == "bce" and net.out_features != 1:
        raise ConfigError(f"loss 'bce' needs a single output unit, the network has {net.out_features}")


def loss_value(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean loss over the batch (differentiable; the BP rule and the tests use it with autograd)."""
    if loss == "cross_entropy":
        return F.cross_entropy(output, target)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(output[:, 0], target.to(output.dtype))
    return 0.5 * (output - target).square().sum(1).mean()


def per_sample_loss(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss of each sample, shape ``output.shape[:-1]`` (leading batch dimensions are kept)."""
    if loss == "cross_entropy":
        return -torch.log_softmax(output, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(output[..., 0], target.to(output.dtype), reduction="none")
    return 0.5 * (output - target).square().sum(-1)


def output_error(z_out: torch.Tensor, h_out: torch.Tensor, target: torch.Tensor, loss: str, net: LayeredNet) -> torch.Tensor:
    """Per-sample error at the output pre-activation, ``∂ℓ_b/∂z_L`` (not divided by the batch size).

    Cross-entropy: softmax − one-hot (001's T − O with the sign flipped); BCE: sigmoid − t; MSE:
    (O − T)·σ'_L(z_L) (000 Eq. 16 difference vector d = y − y' through the output window).
    """
    if loss == "cross_entropy":
        e = torch.softmax(z_out, 1)
        e[torch.arange(e.shape[0]), target] -= 1.0
        return e
    if loss == "bce":
        return torch.sigmoid(z_out) - target.to(z_out.dtype).unsqueeze(1)
    return (h_out - target) * net.blocks[-1].act.derivative(z_out, h_out)


def output_error_and_loss(z_out: torch.Tensor, h_out: torch.Tensor, target: torch.Tensor, loss: str, net: LayeredNet,
                          scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale · ∂ℓ_b/∂z_L, mean loss)`` from one pass over the output (the rules' hot path).

    Cross-entropy reads both from a single log-softmax: ``ℓ_b = −log p_{b,t}`` (picked and averaged by
    one NLL kernel) and ``e_b = p_b − onehot`` (exponentiated in place, one-hot subtracted with a
    scatter), so no second softmax runs.
    ``scale`` folds a batch mean into ``e`` (the feedback rules' channel is linear in ``e``).
    """
    if loss != "cross_entropy":
        e = output_error(z_out, h_out, target, loss, net)
        return (e.mul_(scale) if scale != 1.0 else e), loss_value(h_out, target, loss)
    logp = torch.log_softmax(z_out, 1)
    value = F.nll_loss(logp, target)
    e = logp.exp_()
    idx = target.unsqueeze(1)
    e.scatter_add_(1, idx, e.new_full(idx.shape, -1.0))
    if scale != 1.0:
        e.mul_(scale)
    return e, value


class LearningRule:
    """Base class: subclasses implement :meth:`compute_grads`; options are validated in ``__init__``."""

    name: ClassVar[str] = ""
    #: whether conv blocks (Conv2d, pooling) are handled
    supports_conv: ClassVar[bool] = False
    #: whether the rule carries its error through a block's skip path (000 §6.3)
    supports_skip: ClassVar[bool] = False

    def __init__(self, net: LayeredNet, *, loss: str = "cross_entropy", seed: int = 0) -> None:
        if not isinstance(net, LayeredNet):
            raise ConfigError(f"rule {self.name!r} needs a LayeredNet (use from_sequential), got {type(net).__name__}")
        if not self.supports_conv and not net.is_mlp:
            raise ConfigError(f"rule {self.name!r} is defined for MLPs only (Linear layers); the FA/DFA family and BP handle conv nets")
        if net.has_skip and not self.supports_skip:
            raise ConfigError(f"rule {self.name!r} does not carry its error through skip paths (000 §6.3); "
                              "use bp, top or nf on a net built with skip")
        check_loss(net, loss)
        self.net = net
        self.loss = loss
        self.generator = torch.Generator().manual_seed(int(seed))
        # held like an optimizer holds its parameters: updated in place, never looked up again
        self._constrained = net.constrained_weights()

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Write the rule's update into every parameter's ``.grad``; return the batch loss (detached)."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after the optimizer step: mono-net projection (004 Def. 1) and rule state updates."""
        if self._constrained:
            self.net.constrain_(self._constrained)

    def options(self) -> dict[str, Any]:
        """The rule's resolved options (for configs and reports)."""
        return {}

    # helpers shared by the explicit-error rules ------------------------------------------------
    @staticmethod
    def _set_grad(p: torch.Tensor, g: torch.Tensor | None) -> None:
        p.grad = g


def randn(shape: tuple[int, ...], std: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=like.dtype).mul_(std).to(like.device)
