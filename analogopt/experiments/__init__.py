"""Scenario kinds: the one home of everything that knows a kind by name.

:mod:`.registry` lists the kinds (import strings, so that listing scenarios imports neither torch nor
PySpice), :mod:`.base` states the protocol every kind provides, and one module per kind family holds
the kinds: :mod:`.nf_single`, :mod:`.crossbar`, :mod:`.inverse`, :mod:`.optimizers`, :mod:`.rules_table`.
"""

from .registry import KINDS, build_experiment, estimate, experiment_class

__all__ = ["KINDS", "build_experiment", "estimate", "experiment_class"]
