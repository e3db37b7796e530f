"""What every scenario kind provides, and the defaults a kind inherits.

A kind is one class in one module of this package, named in :mod:`analogopt.experiments.registry`.
The CLI, ``export`` and ``sweep`` reach it only through this protocol:

- ``from_scenario(scenario)`` (required): read and validate the scenario (through
  :class:`analogopt.values.Table`); raise :class:`~analogopt.errors.ConfigError` before anything runs.
- ``run(out, progress, runner)`` (required): simulate on ``runner`` (made once by the caller: its
  ``--timeout``, its simulator), write the result files into ``out`` and return the metrics.
- ``estimate(scenario)``: sizes before anything is built (:class:`analogopt.limits.SizeEstimate`).
- ``netlist()``: the flat netlist ``run`` simulates, or None for a pure-PyTorch kind.
- ``sample(variations, seed, runner, scratch)``: one sweep sample as a flat row of scalars.
- ``sample_batch(variations, seeds, runner, scratch)``: the rows of several samples, in order, a failed
  sample's exception in its slot (default: ``sample`` per seed; a kind that can share work overrides it).
- ``element_targets`` / ``element_distributions``: what ``sweep --vary TARGET=DIST:σ`` may name.
- ``block_titles``: readable names of the circuit's blocks for ``export``.

:class:`ExperimentBase` gives every optional member a default; a kind overrides what it can do better.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ..errors import ConfigError
from ..limits import SizeEstimate
from ..progress import Progress, SilentProgress
from ..results import RunDirectory
from ..scenarios import Scenario
from ..spice.runner import Runner

#: Distributions of a variation: multiplicative factor ``exp(σ·z)`` or ``1 + σ·z``, ``z ~ N(0, 1)``.
DISTRIBUTIONS = ("lognormal", "gauss")


@dataclass(frozen=True)
class Variation:
    """``target``: an element target of the scenario's kind (``x``) or a scenario path (``loop.tau_s``);
    ``distribution`` one of :data:`DISTRIBUTIONS`; ``sigma`` ≥ 0 (relative)."""

    target: str
    distribution: str
    sigma: float

    @property
    def is_global(self) -> bool:
        return "." in self.target

    def factors(self, sample_seed: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Multiplicative factors for ``shape`` elements, drawn from a stream owned by this target
        alone, so adding another variation (or changing σ) never changes this one's ``z`` draws."""
        rng = np.random.default_rng([int(sample_seed), zlib.crc32(self.target.encode())])
        z = rng.standard_normal(shape)
        if self.distribution == "lognormal":
            return np.exp(self.sigma * z)
        factors = 1.0 + self.sigma * z
        # an element (a conductance, a time constant, a gain) of the other sign is no mismatch; a scenario
        # path may be signed by nature, and its key's reader judges the scaled value
        if not self.is_global and np.any(factors <= 0):
            raise ConfigError(f"--vary {self.target}=gauss:{self.sigma:g} drew the factor {float(factors.min()):.3g} "
                              "≤ 0 for this sample; use lognormal (always positive) or a smaller σ")
        return factors


class Experiment(Protocol):
    """The protocol of a scenario kind (module docstring)."""

    kind: ClassVar[str]
    element_targets: ClassVar[dict[str, str]]
    element_distributions: ClassVar[tuple[str, ...]]
    block_titles: ClassVar[dict[str, str]]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "Experiment": ...

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate | None: ...

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]: ...

    def netlist(self) -> str | None: ...

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]: ...

    def sample_batch(self, variations: list[Variation], seeds: list[int | None], runner: Runner,
                     scratch: Path) -> list[dict[str, Any] | BaseException]: ...


def safe_title(title: str) -> str:
    """``title`` as a netlist's first line may hold it: letters, digits and plain punctuation, ≤ 120 chars."""
    return "".join(ch if ch.isalnum() or ch in " .,:;=+-()/" else " " for ch in title)[:120]


class ExperimentBase:
    """Defaults of the optional protocol members; a kind subclasses it and overrides what it can."""

    kind: ClassVar[str] = ""
    #: ``--vary`` element targets: name → what varies (empty: only scenario paths can vary)
    element_targets: ClassVar[dict[str, str]] = {}
    element_distributions: ClassVar[tuple[str, ...]] = DISTRIBUTIONS
    block_titles: ClassVar[dict[str, str]] = {}
    #: False for a pure-PyTorch kind: nothing to export, no circuit in its results
    has_circuit: ClassVar[bool] = True

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate | None:
        return None

    def netlist(self) -> str | None:
        """The main netlist, by running the experiment once into a scratch directory and reading the
        ``netlist.cir`` it wrote; a kind that can build its circuit without simulating overrides this."""
        if not self.has_circuit:
            return None
        from ..scratch import scratch_dir

        with scratch_dir("export") as scratch:
            with RunDirectory(scratch / "run") as out:
                self.run(out, SilentProgress())
            path = scratch / "run" / "netlist.cir"
            if not path.exists():
                raise ConfigError(f"kind {self.kind} wrote no netlist: nothing to export")
            return path.read_text()

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """The whole experiment (plots included) into ``scratch``; its scalar metrics as the row.
        Kinds without element targets ignore ``variations`` and ``seed`` (global variations are already
        applied to the scenario)."""
        t0 = time.perf_counter()
        with RunDirectory(scratch / "run") as out:
            metrics = self.run(out, SilentProgress(), runner=runner)
        row = flatten_scalars({k: v for k, v in metrics.items() if k not in ("summary", "time")})
        row["time_experiment_s"] = time.perf_counter() - t0
        return row

    def sample_batch(self, variations: list[Variation], seeds: list[int | None], runner: Runner,
                     scratch: Path) -> list[dict[str, Any] | BaseException]:
        """:meth:`sample` for each of ``seeds``, in order, each in its own folder of ``scratch``; a sample
        that raises leaves its exception in its slot and the others go on (an interrupt ends the batch)."""
        rows: list[dict[str, Any] | BaseException] = []
        for i, seed in enumerate(seeds):
            folder = scratch / f"sample_{i}"
            folder.mkdir(parents=True, exist_ok=True)
            try:
                rows.append(self.sample(variations, seed, runner, folder))
            except Exception as exc:
                rows.append(exc)
        return rows


def flatten_scalars(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict → ``{"a.b": number}`` for every finite int/float/bool leaf (lists and text dropped)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_scalars(value, f"{name}."))
        elif isinstance(value, (bool, np.bool_)):
            out[name] = bool(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
            out[name] = float(value) if isinstance(value, (float, np.floating)) else int(value)
    return out
