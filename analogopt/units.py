"""Engineering-notation parsing at the API edge; everything inside is SI floats."""

from __future__ import annotations

import math
import re

from .errors import ConfigError

_SUFFIX = {
    "t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "": 1.0,
    "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15,
}
_PATTERN = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(meg|[tgkmuµnpf]?)[a-zA-ZΩ]*\s*$", re.I)


def parse_si(value: str | float | int, name: str = "value") -> float:
    """Return ``value`` as an SI float; strings may carry SPICE suffixes (``"4.7u"``, ``"10k"``, ``"1meg"``).

    Raises :class:`ConfigError` naming ``name`` when the value is not a finite number.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise ConfigError(f"{name}: cannot read {value!r} as a number (e.g. 4.7u, 10k, 1meg, 2.5e-3)")
        number = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    else:
        raise ConfigError(f"{name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ConfigError(f"{name}: must be finite, got {value!r}")
    return number
