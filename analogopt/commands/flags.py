"""Checks of command-line flags shared by several commands (one line each, naming the flag)."""

from __future__ import annotations

import argparse
import math

from ..errors import ConfigError

#: ``--simulator`` choices: the keys of analogopt.spice.runner.SIMULATORS (named here so that building
#: the parser imports no simulator code; a test keeps the two equal)
SIMULATOR_NAMES = ("ngspice", "libngspice", "native")


def add_simulator_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--simulator", choices=SIMULATOR_NAMES, default="ngspice",
                   help="the SPICE engine: the ngspice program (default) or libngspice through PySpice, "
                        "each run in its own process, or native: analogopt's own DC solver for linear "
                        "netlists (.op and .dc only)")


def positive_seconds(value: float | None, flag: str) -> float | None:
    """``value`` (s) when it is a finite number > 0 (or None: not given); :class:`ConfigError` otherwise."""
    from ..limits import MAX_TIMEOUT_S

    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a finite number of seconds > 0, got {value:g}")
    if value is not None and value > MAX_TIMEOUT_S:
        raise ConfigError(f"{flag} must be at most {MAX_TIMEOUT_S:g} s (30 days), got {value:g}")
    return value
