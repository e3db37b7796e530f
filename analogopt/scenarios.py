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
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        for directory in scenario_dirs():
            candidate = directory / f"{name_or_path}.toml"
            if candidate.exists():
                path = candidate
                break
        else:
            names = ", ".join(s.name for s in list_scenarios()) if str(name_or_path) else ""
            raise ConfigError(f"unknown scenario {str(name_or_path)!r}; shipped scenarios: {names}")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {path.name}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"scenario {path}: cannot read: {exc.strerror}") from None
    if "kind" not in config or not isinstance(config["kind"], str):
        raise ConfigError(f"scenario {path.name}: missing top-level 'kind' (e.g. kind = \"nf_single\")")
    for item in overrides or []:
        config = apply_override(config, item)
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
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def section(config: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """Table ``name`` of ``config`` (empty when absent); a non-table is a :class:`ConfigError`."""
    value = config.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
