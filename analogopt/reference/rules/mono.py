"""Monotone direct feedback alignment, mDFA (004 §3).

DFA on a mono-net (004 Def. 1: non-negative weights from layer 2 on, monotone activations) with
non-negative feedback matrices. For one output unit every coordinate of the update has the sign of
the true gradient (004 Thm 2 / Thm 4); with two or more outputs it may not (004 Thm 5). The mono-net
constraint is re-imposed after every optimizer step by :meth:`after_step`.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ..nets import LayeredNet
from .feedback import SkippedRandomBackprop


class MonoDFA(SkippedRandomBackprop):
    """mDFA: direct feedback with |N(0, 1/n)| matrices on a mono-net."""

    name = "mdfa"

    def __init__(self, net: LayeredNet, **kw: Any) -> None:
        if not net.mono:
            raise ConfigError("rule 'mdfa' needs a mono-net: build the network with mono=True (004 Def. 1)")
        if kw.get("feedback", "gaussian") == "congruent":
            raise ConfigError("rule 'mdfa' uses non-negative random feedback; feedback='congruent' does not apply")
        kw["nonneg_feedback"] = True
        super().__init__(net, **kw)
