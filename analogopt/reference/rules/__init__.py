"""Learning rules of papers 000–004 behind one API (see :mod:`.base`): each writes per-layer updates
into ``.grad`` so any ``torch.optim`` optimizer applies them. Importable without ngspice.

>>> from analogopt.reference.nets import mlp
>>> from analogopt.reference.rules import make_rule
>>> net = mlp([4, 8, 3]); rule = make_rule("srbp", net)
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import ConfigError
from ..nets import LayeredNet
from .backprop import Backprop, TopLayerOnly
from .base import LOSSES, LearningRule, loss_value, output_error, per_sample_loss
from .feedback import (
    AdaptiveRandomBackprop,
    AdaptiveSkippedRandomBackprop,
    RandomBackprop,
    SkippedRandomBackprop,
)
from .mono import MonoDFA
from .negative_feedback import NegativeFeedback, dead_network_report, secant_window
from .perturbation import NodePerturbation, WeightPerturbation
from .reciprocal import Reciprocal, apply_pinv

#: rule name → class; aliases name the same class (FA = RBP, DFA = SRBP).
RULES: dict[str, type[LearningRule]] = {
    "bp": Backprop,
    "top": TopLayerOnly,
    "rbp": RandomBackprop,
    "fa": RandomBackprop,
    "srbp": SkippedRandomBackprop,
    "dfa": SkippedRandomBackprop,
    "arbp": AdaptiveRandomBackprop,
    "asrbp": AdaptiveSkippedRandomBackprop,
    "mdfa": MonoDFA,
    "nf": NegativeFeedback,
    "reciprocal": Reciprocal,
    "wp": WeightPerturbation,
    "np": NodePerturbation,
}


def make_rule(name: str, net: LayeredNet, **options: Any) -> LearningRule:
    """Build rule ``name`` for ``net``; unknown names or options are a one-line :class:`ConfigError`."""
    try:
        cls = RULES[name]
    except KeyError:
        raise ConfigError(f"unknown rule {name!r}; known rules: {', '.join(sorted(RULES))}") from None
    try:
        return cls(net, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            bad = str(exc).split("'")[1] if "'" in str(exc) else str(exc)
            raise ConfigError(f"rule {name!r} has no option {bad!r}") from None
        raise


def train_step(rule: LearningRule, optimizer: torch.optim.Optimizer, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One step: the rule writes ``.grad``, the optimizer applies it, the rule's constraints follow."""
    loss = rule.compute_grads(x, target)
    optimizer.step()
    rule.after_step()
    return loss


__all__ = [
    "RULES", "LOSSES", "LearningRule", "make_rule", "train_step", "loss_value", "output_error", "per_sample_loss",
    "Backprop", "TopLayerOnly", "RandomBackprop", "SkippedRandomBackprop", "AdaptiveRandomBackprop",
    "AdaptiveSkippedRandomBackprop", "MonoDFA", "NegativeFeedback", "dead_network_report", "secant_window",
    "Reciprocal", "apply_pinv", "WeightPerturbation", "NodePerturbation",
]
