"""Named corner sets of a scenario (``[corners.NAME]``), resolved into plain scenario overrides.

    [corners.pvt]
    tt = {}
    hot = { "circuit.temperature_c" = 125 }
    vdd_lo = { "circuit.supply_scale" = "x0.9" }
    os_hi = { "circuit.ota_offset_v" = "+3sigma" }

Each entry of a set is one corner: a table of scenario paths (quoted dotted keys, or nested tables:
``{ circuit = { temperature_c = 125 } }`` is the same corner) and their values. A value is

- a scenario value as ``--set`` takes it (``125``, ``"10m"``, ``true``);
- ``"xF"``: the scenario's nominal value times F (``"x0.9"``);
- ``"±Ksigma"`` (or ``"±Kσ"``): the nominal moved by K standard deviations of that parameter, the σ the scenario's
  kind declares for it (its ``parameter_sigma(config, path)``, e.g. a ``[circuit.mismatch]`` entry of the
  same name); an absolute σ
  (V) adds ``K·σ``, a relative one multiplies by ``1 + K·σ``.

Relative values are resolved here, against the scenario as loaded, so the sweep's manifest holds the
numbers each corner ran with. ``analogopt sweep SCENARIO --corners NAME`` makes the set a sweep axis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..scenarios import Scenario
from ..units import describe, parse_si

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TIMES = re.compile(rf"^\s*[x×]\s*({_NUMBER})\s*$")
_SIGMA = re.compile(r"^\s*([-+]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:sigma|σ)\s*$")
#: corner names become sample labels and table values: plain identifiers
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class Corner:
    """One corner: its name and the scenario values it sets (resolved numbers, path → value)."""

    name: str
    values: tuple[tuple[str, Any], ...]


def corner_sets(scenario: Scenario) -> dict[str, Any]:
    """The scenario's ``[corners]`` table (empty when it has none)."""
    table = scenario.config.get("corners", {})
    if not isinstance(table, dict):
        raise ConfigError(f"scenario {scenario.name}: 'corners' must be a table of corner sets ([corners.NAME])")
    return table


def resolve_corners(scenario: Scenario, name: str) -> tuple[Corner, ...]:
    """The corners of set ``name`` with every value resolved (module docstring); one-line errors naming
    the set, the corner and the path."""
    sets = corner_sets(scenario)
    if not sets:
        raise ConfigError(f"--corners {name}: scenario {scenario.name} has no corner sets; add a [corners.{name}] "
                          "table (docs/nf_macro.md, \"Corners and Monte Carlo of the macro parts\")")
    if name not in sets:
        raise ConfigError(f"--corners {name}: scenario {scenario.name} has no corner set {name!r}; "
                          f"its corner sets: {', '.join(sets)}")
    entries = sets[name]
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"--corners {name}: [corners.{name}] must hold at least one corner, e.g. tt = {{}}")
    corners = []
    for corner, overrides in entries.items():
        where = f"--corners {name}: corner {corner}"
        if not _NAME.match(corner):
            raise ConfigError(f"{where}: a corner name is letters, digits, _ . + - (at most 64)")
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}: must be a table of scenario paths and values, e.g. "
                              f"{corner} = {{ \"circuit.temperature_c\" = 125 }}, got {describe(overrides)}")
        values = tuple((path, _resolve(scenario, path, raw, where)) for path, raw in _flatten(overrides))
        corners.append(Corner(corner, values))
    return tuple(corners)


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        out += _flatten(value, f"{path}.") if isinstance(value, dict) else [(path, value)]
    return out


def _nominal(scenario: Scenario, path: str, where: str) -> Any:
    node: Any = scenario.config
    for i, part in enumerate(path.split(".")):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: scenario {scenario.name} has no parameter {path!r} "
                              f"(a corner sets values the scenario lists, as --set does)")
        node = node[part]
    if isinstance(node, dict):
        raise ConfigError(f"{where}: {path} is a table; a corner sets single values such as {path}.KEY")
    return node


def _resolve(scenario: Scenario, path: str, raw: Any, where: str) -> Any:
    nominal = _nominal(scenario, path, where)
    if not isinstance(raw, str):
        return raw
    times, sigma = _TIMES.match(raw), _SIGMA.match(raw)
    if not (times or sigma):
        return raw  # a plain value ("10m"): the kind's strict reader judges it
    try:
        base = parse_si(nominal, path)
    except ConfigError:
        raise ConfigError(f"{where}: {path} = {raw!r} needs a numeric nominal value, the scenario has "
                          f"{describe(nominal)}") from None
    if times:
        value = base * float(times.group(1))
    else:
        from ..experiments.registry import experiment_class

        k = float(sigma.group(1).replace(" ", ""))
        hook = getattr(experiment_class(scenario.kind), "parameter_sigma", None)
        if hook is None:
            raise ConfigError(f"{where}: {path} = {raw!r} needs the parameter's σ; kind {scenario.kind} declares "
                              "no σ for its parameters")
        try:
            sigma_value, absolute = hook(scenario.config, path)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {path} = {raw!r} needs the parameter's σ; {exc}") from None
        value = base + k * sigma_value if absolute else base * (1.0 + k * sigma_value)
    # an integer parameter stays an integer when the factor lands on a whole number
    if isinstance(nominal, int) and not isinstance(nominal, bool) and float(value).is_integer():
        return int(value)
    return float(value)
