"""The registry of experiment kinds that scenario files can name.

An experiment class provides::

    kind: ClassVar[str]
    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Self      # validates; raises ConfigError
    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict
                                                            # writes its files, returns metrics
    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate   # optional: sizes before anything is built

Entries are import strings so that listing scenarios imports neither torch nor PySpice.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from ..limits import SizeEstimate
from ..scenarios import Scenario

KINDS: dict[str, str] = {
    "nf_single": "analogopt.experiments.nf_single:NFSingleExperiment",
    "nf_sensitivity": "analogopt.experiments.nf_sensitivity:NFSensitivityExperiment",
    "rules_table": "analogopt.experiments.rules_table:RulesTableExperiment",
    "inverse_loop": "analogopt.experiments.inverse:InverseLoopExperiment",
    "log_amp": "analogopt.experiments.inverse:LogAmpExperiment",
    "fal_vs_adam": "analogopt.experiments.optimizers:FalVsAdamExperiment",
    "momentum_filter": "analogopt.experiments.optimizers:MomentumFilterExperiment",
    "crossbar_mvm": "analogopt.experiments.crossbar:CrossbarExperiment",
    "crossbar_solve": "analogopt.experiments.crossbar:CrossbarExperiment",
    "crossbar_pinv": "analogopt.experiments.crossbar:CrossbarExperiment",
    "recirculation_pinv": "analogopt.experiments.crossbar:RecirculationExperiment",
    "multilayer": "analogopt.experiments.multilayer:MultiLayerExperiment",
}


def experiment_class(kind: str) -> Any:
    try:
        target = KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown scenario kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def estimate(scenario: Scenario) -> SizeEstimate | None:
    """The kind's size estimate of ``scenario`` (None for kinds that make none)."""
    cls = experiment_class(scenario.kind)
    return cls.estimate(scenario) if hasattr(cls, "estimate") else None


def build_experiment(scenario: Scenario, *, allow_large: bool = False) -> Any:
    """The experiment of ``scenario``, validated; a problem too large for this machine is refused first,
    before any data or circuit is made (``allow_large`` skips that check)."""
    size = estimate(scenario)
    if size is not None:
        size.check(allow_large=allow_large)
    return experiment_class(scenario.kind).from_scenario(scenario)
