"""Checks of command-line flags shared by several commands (one line each, naming the flag)."""

from __future__ import annotations

import math

from ..errors import ConfigError


def positive_seconds(value: float | None, flag: str) -> float | None:
    """``value`` (s) when it is a finite number > 0 (or None: not given); :class:`ConfigError` otherwise."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a finite number of seconds > 0, got {value:g}")
    return value
