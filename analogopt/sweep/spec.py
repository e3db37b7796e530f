"""What a sweep is: swept scenario values, Monte Carlo samples, variations, and the list of samples.

A :class:`SweepPlan` is plain data (JSON round-trip through :meth:`SweepPlan.to_json`): the resolved
scenario, the ``--set PATH=V1,V2,…`` axes whose cartesian product gives the *points*, ``mc`` Monte
Carlo samples per point with seeds derived from ``seed``, and the variations each sample draws. Every
sample has a stable id (``p003_m0012``) and everything needed to re-run it alone
(:meth:`SweepPlan.sample`).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..experiments.base import DISTRIBUTIONS, ExperimentBase, Variation
from ..experiments.registry import experiment_class
from ..limits import MAX_TIMEOUT_S
from ..scenarios import Scenario, apply_override, parse_value
from ..units import parse_si
from ..values import as_integer, as_number
from .corners import Corner, resolve_corners

#: Largest number of samples one sweep may plan (a typo like --mc 1e9 should not fill a disk).
MAX_SAMPLES = 1_000_000
#: Manifest keys that say how samples run, not what they are: a sweep may resume with other values.
EXECUTION_KEYS = ("sessions",)
#: The simulators a persistent libngspice session can stand in for (the same ngspice, loaded once).
SESSION_SIMULATORS = ("ngspice", "libngspice")


@dataclass(frozen=True)
class Axis:
    """One ``--set PATH=V1,V2,…``: a scenario path and the values it takes."""

    path: str
    values: tuple[Any, ...]


def parse_axis(item: str, scenario: Scenario) -> Axis:
    """``"loop.forward_gain=0.02,0.05"`` → :class:`Axis`; each value is checked against the scenario."""
    path, sep, raw = item.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ConfigError(f"--set {item!r}: expected PATH=V1,V2,…, e.g. loop.forward_gain=0.02,0.05")
    values = tuple(parse_value(v.strip()) for v in _split_values(raw) if v.strip())
    if not values:
        raise ConfigError(f"--set {path}: empty value list; give at least one value, e.g. {path}=1,2")
    for v in values:
        apply_override(scenario.config, f"{path}={_toml(v)}")  # unknown paths raise here, naming the path
    return Axis(path, values)


def _split_values(raw: str) -> list[str]:
    """Split on commas outside brackets, so array values such as ``[0.3,0.4],[0.1,0.2]`` survive."""
    parts, depth, current = [], 0, ""
    for ch in raw:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_toml(v) for v in value) + "]"
    return repr(value)


#: The largest relative σ of a ``gauss`` element variation (conductances, time constants, gains: positive
#: by nature): a factor 1 + σ·z ≤ 0 then needs z ≤ −6.7, 1e-11 of draws, so even a sample of 10⁶ elements
#: fails (:meth:`Variation.factors`) once in 10⁵. A scenario path may be signed (a temperature in °C, a
#: tempco): its scaled value is judged by the key's own reader instead.
GAUSS_MAX_SIGMA = 0.15


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def parse_variation(item: str, scenario: Scenario) -> Variation:
    """``"x=lognormal:0.02"`` (element target of the kind) or ``"loop.tau_s=gauss:0.05"`` (global)."""
    target, sep, raw = item.partition("=")
    target = target.strip()
    dist, colon, sigma_text = raw.partition(":")
    if not sep or not colon or not target:
        raise ConfigError(f"--vary {item!r}: expected TARGET=DIST:SIGMA, e.g. x=lognormal:0.02")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"--vary {target}: unknown distribution {dist!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    sigma = as_number(sigma_text.strip(), f"--vary {target} sigma (relative)", low=0, high=1)
    if dist == "gauss" and sigma > GAUSS_MAX_SIGMA and "." not in target:
        share = 100 * float(_normal_cdf(-1.0 / sigma))
        raise ConfigError(f"--vary {target}=gauss:{sigma:g}: the factor 1 + σ·z is ≤ 0 (a sign flip, not a mismatch) "
                          f"in {share:.2g} % of draws at this σ; gauss takes σ ≤ {GAUSS_MAX_SIGMA:g}, lognormal "
                          "(always positive) any σ")
    if "." in target:
        node: Any = scenario.config
        for part in target.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--vary {target}: scenario {scenario.name} has no parameter {target!r}")
            node = node[part]
        try:  # a number or a SPICE string ("20u"); the factor multiplies what parse_si reads
            parse_si(node, target)
        except ConfigError:
            raise ConfigError(f"--vary {target}: only numeric parameters can vary, got {node!r}") from None
    else:
        kind = experiment_class(scenario.kind)
        known = kind.element_targets
        if target not in known:
            allowed = ", ".join(known) if known else "none (use a scenario path such as loop.tau_s)"
            raise ConfigError(f"--vary {target}: not an element target of kind {scenario.kind}; allowed: {allowed}")
        if dist not in kind.element_distributions:
            raise ConfigError(f"--vary {target}: kind {scenario.kind}'s elements vary only as "
                              f"{', '.join(kind.element_distributions)} (the block's model)")
    return Variation(target, dist, sigma)


def check_values(scenario: Scenario, axes: tuple[Axis, ...], corners: tuple[Corner, ...] = (),
                 corner_set: str = "") -> None:
    """Read every swept value with the kind's strict reader before any worker starts, so that
    ``--set loop.iterations=300.9,400`` is one error line, not a sweep of failed samples.

    Each axis is checked value by value with every other axis at its first value (the sum of the axis
    lengths, not their product); without axes, the scenario itself; then each corner with every axis at
    its first value. A point too large to build here is left to the sweep's size check, which refuses it
    or lets ``--allow-large`` run it.
    """
    from ..errors import ResourceLimitError
    from ..experiments.registry import estimate

    first = {a.path: a.values[0] for a in axes}
    points = [({**first, a.path: v}, None) for a in axes for v in a.values] or [({}, None)]
    points += [({**dict(c.values), **first}, c.name) for c in corners]
    overrides = {c.name: ", ".join(f"{p}={_toml(v)}" for p, v in c.values) for c in corners}
    nominal_netlist: str | None = None  # the first point's: every axis at its first value, no corner
    for values, corner in points:
        config = scenario.config
        for path, value in values.items():
            config = apply_override(config, f"{path}={_toml(value)}")
        point = Scenario(scenario.name, scenario.path, config)
        try:
            size = estimate(point)
            if size is not None:
                size.check()
        except ResourceLimitError:
            continue
        shown = ", ".join(f"{p}={_toml(v)}" for p, v in values.items()) if corner is None else overrides[corner]
        try:
            experiment = experiment_class(point.kind).from_scenario(point)
        except ConfigError as exc:
            if corner is not None:
                raise ConfigError(f"--corners {corner_set}: corner {corner} ({shown}): {exc}") from None
            raise ConfigError(f"--set {shown}: {exc}" if shown else str(exc)) from None
        # a corner whose circuit is the nominal one would fill the table with copies of the nominal row
        # (a kind may use some values at one level only: its corner_hint says how to reach them)
        if corners and type(experiment).netlist is not ExperimentBase.netlist and experiment.has_circuit:
            if corner is None:
                nominal_netlist = experiment.netlist() if nominal_netlist is None else nominal_netlist
            elif overrides[corner] and experiment.netlist() == nominal_netlist:
                hint = getattr(type(experiment), "corner_hint", "")
                hint = f"; {hint}" if hint else ""
                raise ConfigError(f"--corners {corner_set}: corner {corner} ({shown}) builds the nominal circuit: "
                                  f"its values act on nothing here{hint}")


@dataclass(frozen=True)
class Sample:
    """One simulation: its id, point, Monte Carlo index and seed, and the scenario values it sets."""

    id: str
    point: int
    mc_index: int | None
    seed: int | None
    values: dict[str, Any]
    #: the corner of the plan's corner set this sample runs at (None: no corners)
    corner: str | None = None


_SAMPLE_ID = re.compile(r"p(\d+)(?:_m(\d+))?")


def sample_seed(base_seed: int, mc_index: int) -> int:
    """The seed of Monte Carlo sample ``mc_index``: the same for every point, so each point sees the
    same draws ``z`` (common random numbers: differences between points are not sampling noise)."""
    return int(np.random.SeedSequence([int(base_seed), int(mc_index)]).generate_state(1)[0])


@dataclass(frozen=True)
class SweepPlan:
    """Everything that defines a sweep (see the module docstring)."""

    scenario: Scenario
    axes: tuple[Axis, ...] = ()
    mc: int = 0
    seed: int = 0
    variations: tuple[Variation, ...] = ()
    timeout_s: float = 600.0
    samples: tuple[Sample, ...] = field(default=(), compare=False)
    #: the SPICE engine every sample runs on (a key of analogopt.spice.runner.SIMULATORS)
    simulator: str = "ngspice"
    #: ``--corners NAME``: the scenario's corner set, resolved (an outer axis of the points)
    corner_set: str = ""
    corners: tuple[Corner, ...] = ()
    #: run the samples in persistent libngspice sessions (analogopt.spice.session), same numbers
    sessions: bool = False

    @classmethod
    def build(cls, scenario: Scenario, sets: list[str], *, mc: int = 0, seed: int = 0, vary: list[str] = (),
              timeout_s: float = 600.0, simulator: str = "ngspice", corners: str | None = None,
              sessions: bool = False) -> "SweepPlan":
        """Parse and validate the command line's ``--set``/``--mc``/``--seed``/``--vary``/``--corners``/
        ``--sessions`` values."""
        if sessions and simulator not in SESSION_SIMULATORS:
            raise ConfigError(f"--sessions keeps ngspice's shared library loaded: it runs --simulator "
                              f"{' or '.join(SESSION_SIMULATORS)}, not {simulator}; drop --sessions")
        mc = as_integer(mc, "--mc (samples per point, 0: none)", low=0)
        seed = as_integer(seed, "--seed", low=0, high=2**63 - 1)  # sample seeds come from SeedSequence: any size
        timeout_s = as_number(timeout_s, "--timeout", positive=True, high=MAX_TIMEOUT_S, unit="s")
        axes = tuple(parse_axis(s, scenario) for s in sets)
        paths = [a.path for a in axes]
        if len(set(paths)) != len(paths):
            raise ConfigError(f"--set: each path may be swept once, got {', '.join(paths)}")
        variations = tuple(parse_variation(v, scenario) for v in vary)
        targets = [v.target for v in variations]
        if len(set(targets)) != len(targets):  # two would draw the same z (one stream per target): one σ each
            raise ConfigError(f"--vary: each target may vary once, got {', '.join(targets)}")
        if variations and mc < 1:
            raise ConfigError("--vary needs Monte Carlo samples: add --mc N with N ≥ 1")
        corner_list = resolve_corners(scenario, corners) if corners is not None else ()
        for c in corner_list:
            both = sorted(set(paths) & {p for p, _ in c.values})
            if both:
                raise ConfigError(f"--set {both[0]}: corner {c.name} of --corners {corners} sets it too; "
                                  "sweep each path in one place")
        points = math.prod(len(a.values) for a in axes) * max(len(corner_list), 1)
        total = points * max(mc, 1)
        if total > MAX_SAMPLES:
            raise ConfigError(f"sweep has {total} samples, more than {MAX_SAMPLES}; reduce the values or --mc")
        check_values(scenario, axes, corner_list, corners or "")
        plan = cls(scenario, axes, mc, seed, variations, float(timeout_s), simulator=simulator,
                   corner_set=corners or "", corners=corner_list, sessions=bool(sessions))
        return plan._with_samples()

    def _with_samples(self) -> "SweepPlan":
        samples = []
        combos = itertools.product(self.corners or [None], *(a.values for a in self.axes))
        for p, (corner, *combo) in enumerate(combos):
            values = {a.path: v for a, v in zip(self.axes, combo)}
            name = corner.name if corner is not None else None
            if self.mc:
                for k in range(self.mc):
                    samples.append(Sample(f"p{p:03d}_m{k:04d}", p, k, sample_seed(self.seed, k), values, name))
            else:
                samples.append(Sample(f"p{p:03d}", p, None, None, values, name))
        object.__setattr__(self, "samples", tuple(samples))
        return self

    def sample(self, sample_id: str) -> Sample:
        # the id says where the sample is (p<point>[_m<k>]): found without a scan of a million samples
        match = _SAMPLE_ID.fullmatch(sample_id)
        if match is not None:
            index = int(match.group(1)) * max(self.mc, 1) + int(match.group(2) or 0)
            if index < len(self.samples) and self.samples[index].id == sample_id:
                return self.samples[index]
        raise ConfigError(f"sweep has no sample {sample_id!r} (ids look like {self.samples[0].id})")

    def scenario_for(self, sample: Sample) -> Scenario:
        """The scenario with the sample's corner, swept values and global variations applied."""
        config = copy.deepcopy(self.scenario.config)
        corner = {c.name: c for c in self.corners}.get(sample.corner)
        for path, value in (corner.values if corner is not None else ()):
            config = apply_override(config, f"{path}={_toml(value)}")
        for path, value in sample.values.items():
            config = apply_override(config, f"{path}={_toml(value)}")
        for v in self.variations:
            if v.is_global:
                *head, last = v.target.split(".")
                node = config
                for part in head:
                    node = node[part]
                node[last] = parse_si(node[last], v.target) * float(v.factors(sample.seed))
        return Scenario(self.scenario.name, self.scenario.path, config)

    def to_json(self) -> dict[str, Any]:
        """The manifest written to ``DIR/sweep.json`` (compared on resume, :data:`EXECUTION_KEYS` aside; a
        sweep without corners or sessions writes no such keys, so manifests written before they existed
        still match)."""
        corners = {"corner_set": self.corner_set,
                   "corners": [{"name": c.name, "values": dict(c.values)} for c in self.corners]}
        return {**(corners if self.corners else {}), **({"sessions": True} if self.sessions else {}),
            "scenario": {"name": self.scenario.name, "config": self.scenario.config},
            "axes": [{"path": a.path, "values": list(a.values)} for a in self.axes],
            "mc": self.mc,
            "seed": self.seed,
            "variations": [{"target": v.target, "distribution": v.distribution, "sigma": v.sigma}
                           for v in self.variations],
            "timeout_s": self.timeout_s,
            "simulator": self.simulator,
            "samples": len(self.samples),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SweepPlan":
        from pathlib import Path

        sc = Scenario(data["scenario"]["name"], Path(f"{data['scenario']['name']}.toml"), data["scenario"]["config"])
        axes = tuple(Axis(a["path"], tuple(a["values"])) for a in data["axes"])
        variations = tuple(Variation(v["target"], v["distribution"], float(v["sigma"])) for v in data["variations"])
        corners = tuple(Corner(str(c["name"]), tuple(c["values"].items())) for c in data.get("corners", []))
        plan = cls(sc, axes, int(data["mc"]), int(data["seed"]), variations, float(data["timeout_s"]),
                   simulator=str(data.get("simulator", "ngspice")), corner_set=str(data.get("corner_set", "")),
                   corners=corners, sessions=bool(data.get("sessions", False)))
        return plan._with_samples()
