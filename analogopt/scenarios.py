"""Scenario files: TOML, one per experiment a user can run by name (schema in docs/scenarios.md).

Every scenario has a top-level ``kind`` that selects the experiment class (see
:mod:`analogopt.experiments`), an optional ``title`` and ``description``, and kind-specific tables.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .values import as_string

#: Shipped scenarios live in the repository's ``sims/`` folder; ``ANALOGOPT_SIMS`` adds more folders.
SIMS_DIR = Path(__file__).resolve().parent.parent / "sims"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    config: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def title(self) -> str:
        return str(self.config.get("title", self.name))


def scenario_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("ANALOGOPT_SIMS", "").split(os.pathsep) if p]
    return [*extra, SIMS_DIR]


def list_scenarios() -> list[Scenario]:
    seen: dict[str, Scenario] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                if path.stem not in seen:
                    seen[path.stem] = load_scenario(path)
    return sorted(seen.values(), key=lambda s: s.name)


def load_scenario(name_or_path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """A scenario by shipped name (``nf_staircase``) or by file path, with ``--set`` overrides applied."""
    if not str(name_or_path).strip():
        raise ConfigError("the scenario name is empty; give a shipped name (see 'analogopt list') or a .toml path")
    path = Path(name_or_path)
    if path.suffix == ".toml" and not path.exists():
        shipped = any((d / path.name).exists() for d in scenario_dirs())
        hint = f"; the shipped scenario is named without .toml: {path.stem}" if shipped else ""
        raise ConfigError(f"scenario file {name_or_path}: no such file{hint}")
    if path.suffix != ".toml" or not path.exists():
        for directory in scenario_dirs():
            candidate = directory / f"{name_or_path}.toml"
            if candidate.exists():
                path = candidate
                break
        else:
            names = ", ".join(s.name for s in list_scenarios())
            raise ConfigError(f"unknown scenario {str(name_or_path)!r}; shipped scenarios: {names}")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
        raise ConfigError(f"scenario {path.name}: not UTF-8 text (invalid byte at offset {exc.start}); "
                          "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {path.name}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"scenario {path}: cannot read: {exc.strerror}") from None
    if "kind" not in config:
        raise ConfigError(f"scenario {path.name}: missing top-level 'kind' (e.g. kind = \"nf_single\")")
    if not isinstance(config["kind"], str):
        raise ConfigError(f"scenario {path.name}: 'kind' must be a string (e.g. kind = \"nf_single\"), "
                          f"got {config['kind']!r}")
    for item in overrides or []:
        config = apply_override(config, item)
    for key in ("title", "description"):  # they reach reports and netlist titles as text
        if key in config:
            as_string(config[key], f"{path.stem}.{key}")
    return Scenario(name=path.stem, path=path, config=config)


def apply_override(config: dict[str, Any], item: str) -> dict[str, Any]:
    """``"circuit.forward_gain=1e4"`` → a copy of ``config`` with that value replaced.

    The path must already exist in the scenario (typos are errors, not silent additions); the value
    is read as TOML (numbers, booleans, strings, arrays), or as a bare string.
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected PATH=VALUE, e.g. circuit.forward_gain=1e4")
    parts = key.strip().split(".")
    out = copy.deepcopy(config)
    node = out
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise ConfigError(f"--set {key}: scenario has no table {'.'.join(parts[: i + 1])!r}")
        node = node[part]
    if parts[-1] not in node:
        known = ", ".join(sorted(node)) or "none"
        raise ConfigError(f"--set {key}: scenario has no parameter {parts[-1]!r} there (known: {known})")
    node[parts[-1]] = parse_value(raw.strip())
    return out


def parse_value(raw: str) -> Any:
    """``raw`` read as one TOML value (``1e-3``, ``true``, ``"tanh"``, ``[0, 1]``), else the bare string.

    The result carries its TOML type; the experiment's strict getters (:mod:`analogopt.values`) then judge
    it, so ``300.9`` for an integer key or the bare word ``False`` for a boolean is an error there.
    """
    try:
        document = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    # "1\nw = 2" parses as two keys: that is not one value, so it stays the text it was
    return document["v"] if len(document) == 1 else raw
