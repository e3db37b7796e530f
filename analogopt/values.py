"""Strict reading of every value a user types: scenario tables, ``--set`` overrides, command-line flags.

One home for the rules (documented in docs/scenarios.md, "Values"):

- **numbers** are finite: Python or NumPy integers and floats, or strings in SPICE's number syntax
  (:func:`analogopt.units.parse_si`: ``"4.7u"``, ``"10k"``, ``"1meg"``, the quantity's own unit word
  allowed, ``"10kohm"``). ``inf``, ``nan`` and booleans are never numbers.
- **integers** have no fractional part: ``300``, ``1e4`` (TOML has no integer exponent, so a float
  that *is* a whole number is accepted), ``"10k"``; ``300.9`` and ``3.7`` are errors, never truncated.
- **booleans** are TOML ``true``/``false`` only; the string ``"false"`` and the number 1 are errors.
- **seeds** are integers in ``[0, 2**32 − 1]`` (the range NumPy's legacy seeding and scikit-learn's
  ``random_state`` share with torch's).
- every message names the key with its table path, the value and the allowed range, on one line:
  ``nf_staircase.loop.iterations: must be an integer ≥ 1, got 300.9``.

:class:`Table` wraps one scenario table (a mapping) and its path; the ``as_*`` functions judge one
value under a name, for flags and for the Python API (:mod:`analogopt.problems`).
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError
from .units import describe, is_real, parse_si

#: Largest seed: 2**32 − 1 is the common limit of numpy.random.seed, scikit-learn and torch.
SEED_MAX = 2**32 - 1

#: Default of a required key (no default): a missing key is an error naming it.
REQUIRED: Any = object()


# ----------------------------------------------------------------------------------------- one value
def _is_bool(value: object) -> bool:
    if isinstance(value, bool):
        return True
    numpy = sys.modules.get("numpy")  # a NumPy bool can only exist once NumPy is imported
    return numpy is not None and isinstance(value, numpy.bool_)


def _bound(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _range_text(low: float | None, high: float | None, above: float | None = None,
                below: float | None = None) -> str:
    """`` in [0.5, 1)``, `` > 0``, `` ≥ 1`` or ``""``: the allowed range as a message states it."""
    lower = f"[{_bound(low)}" if low is not None else f"({_bound(above)}" if above is not None else None
    upper = f"{_bound(high)}]" if high is not None else f"{_bound(below)})" if below is not None else None
    if lower and upper:
        return f" in {lower}, {upper}"
    if lower:
        return f" ≥ {_bound(low)}" if low is not None else f" > {_bound(above)}"
    if upper:
        return f" ≤ {_bound(high)}" if high is not None else f" < {_bound(below)}"
    return ""


def _got(value: object, number: float) -> str:
    # a string with a scale factor is shown as typed and as read, so a suffix surprise is visible:
    # got '-1m' (= -0.001)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return f"{describe(value)} (= {number:g})"
    return describe(value)


#: Magnitudes (smallest, largest) a circuit or run value of each unit may have, zero aside (it often means
#: "none" or "ideal"): far wider than any part (aF to kF, fS to MS, fs to decades), and narrow enough that
#: a lost or doubled scale factor (1e30 V, a 1e-300 F capacitor) is refused instead of simulated into
#: nonsense. The explicit bounds of a key apply as well.
PLAUSIBLE = {"V": (1e-15, 1e4), "A": (1e-24, 1e4), "F": (1e-21, 1e3), "S": (1e-18, 1e6), "ohm": (1e-9, 1e18),
             "s": (1e-15, 1e9), "Hz": (1e-9, 1e15), "V/s": (1e-9, 1e15), "V/V": (1e-15, 1e16), "dB": (1e-15, 400.0)}


def as_number(value: Any, name: str, *, unit: str | None = None, low: float | None = None,
              high: float | None = None, above: float | None = None, below: float | None = None,
              positive: bool = False) -> float:
    """``value`` as a finite float within ``[low, high]`` and ``(above, below)`` (each bound optional;
    ``positive`` is ``above=0``). ``unit`` is the quantity's unit (see :data:`analogopt.units.UNIT_WORDS`),
    the one word a string may carry and the unit the range message states."""
    if positive and above is None and low is None:
        above = 0
    number = parse_si(value, name, unit)
    if ((low is not None and number < low) or (high is not None and number > high)
            or (above is not None and number <= above) or (below is not None and number >= below)):
        unit_text = f" {unit}" if unit else ""
        raise ConfigError(f"{name}: must be{_range_text(low, high, above, below)}{unit_text}, "
                          f"got {_got(value, number)}")
    if unit in PLAUSIBLE and number != 0:
        smallest, largest = PLAUSIBLE[unit]
        if not smallest <= abs(number) <= largest:
            raise ConfigError(f"{name}: {_got(value, number)} {unit} is outside the range of any circuit value "
                              f"({smallest:g} to {largest:g} {unit} in magnitude); check its scale factor")
    return number


def as_integer(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``: an integer, a float with no fractional part (``1e4``),
    or a SPICE string that reads as a whole number (``"10k"``); never truncated."""
    wanted = f"an integer{_range_text(low, high)}"
    if _is_bool(value) or not (is_real(value) or isinstance(value, str)):
        raise ConfigError(f"{name}: must be {wanted}, got {describe(value)}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    else:
        try:
            x = parse_si(value, name)
        except ConfigError:  # "x", "inf", "1 k": the integer message states what is wanted
            raise ConfigError(f"{name}: must be {wanted}, got {describe(value)}") from None
        whole = round(x)
        # a suffix multiplies in binary floating point ("4.7k" → 4700.000000000001 is possible): allow a
        # few ulps for strings only; a float the user typed must be whole exactly
        slack = 4 * sys.float_info.epsilon * abs(x) if isinstance(value, str) else 0.0
        if abs(x - whole) > slack:
            raise ConfigError(f"{name}: must be {wanted}, got {describe(value)}")
        number = int(whole)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ConfigError(f"{name}: must be {wanted}, got {describe(value)}")
    return number


def as_seed(value: Any, name: str) -> int:
    """A random seed: an integer in ``[0, SEED_MAX]``."""
    return as_integer(value, name, low=0, high=SEED_MAX)


def as_boolean(value: Any, name: str) -> bool:
    """TOML ``true``/``false`` (or a NumPy bool); a string such as ``"false"`` is an error, not true."""
    if _is_bool(value):
        return bool(value)
    hint = " (write true or false without quotes)" if isinstance(value, str) else ""
    raise ConfigError(f"{name}: must be true or false, got {describe(value)}{hint}")


def as_string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name}: must be a string (in quotes), got {describe(value)}")
    return value


def as_choice(value: Any, name: str, options: Iterable[str], *, what: str | None = None) -> str:
    """One of ``options``; the message calls the value ``what``, by default the key's last word
    (``loop.error_gain`` → ``unknown error gain 'sign'``)."""
    options = tuple(options)
    if isinstance(value, str) and value in options:
        return value
    noun = what or name.rsplit(".", 1)[-1].split("[", 1)[0].lstrip("-").replace("_", " ").replace("-", " ")
    raise ConfigError(f"{name}: unknown {noun} {describe(value)}; choose one of {', '.join(options)}")


def _as_list(value: Any, name: str, what: str, min_len: int, length: int | None) -> list:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{name}: must be a list of {what}, got {describe(value)}")
    if length is not None and len(value) != length:
        raise ConfigError(f"{name}: must be a list of {length} {what}, got {len(value)}: {describe(value)}")
    if len(value) < min_len:
        size = "a non-empty list" if min_len == 1 else f"a list of at least {min_len}"
        raise ConfigError(f"{name}: must be {size} of {what}, got {describe(value)}")
    return list(value)


def as_numbers(value: Any, name: str, *, min_len: int = 1, length: int | None = None, **bounds: Any) -> list[float]:
    """A list of finite numbers (integers too: ``w0 = [0, 1]``); ``bounds`` as for :func:`as_number`."""
    items = _as_list(value, name, "numbers", min_len, length)
    return [as_number(v, f"{name}[{i}]", **bounds) for i, v in enumerate(items)]


def as_integers(value: Any, name: str, *, min_len: int = 1, length: int | None = None, low: int | None = None,
                high: int | None = None) -> list[int]:
    items = _as_list(value, name, "integers", min_len, length)
    return [as_integer(v, f"{name}[{i}]", low=low, high=high) for i, v in enumerate(items)]


def as_strings(value: Any, name: str, *, min_len: int = 0, options: Iterable[str] | None = None,
               what: str | None = None) -> list[str]:
    """A list of strings; with ``options``, each one of them (``what`` names an entry in messages)."""
    items = _as_list(value, name, "strings", min_len, None)
    if options is None:
        return [as_string(v, f"{name}[{i}]") for i, v in enumerate(items)]
    options = tuple(options)
    return [as_choice(v, f"{name}[{i}]", options, what=what) for i, v in enumerate(items)]


# ----------------------------------------------------------------------------------------- a table
class Table:
    """One scenario table and its path (``nf_staircase.loop``), with typed getters.

    Every getter takes the key and its default (:data:`REQUIRED` when the key must be present); the
    default is judged like a typed value, so ``"1u"`` is a valid default for a number. Messages name
    ``path.key``.
    """

    def __init__(self, mapping: Mapping[str, Any] | None, where: str = "") -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{where or 'value'}: must be a table, got {describe(mapping)}")
        self.mapping = mapping
        self.where = where

    def __contains__(self, key: str) -> bool:
        return key in self.mapping

    def __bool__(self) -> bool:
        return bool(self.mapping)

    def keys(self) -> list[str]:
        return list(self.mapping)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, message: str) -> ConfigError:
        """A :class:`ConfigError` for a check across keys: ``path.key: message``."""
        return ConfigError(f"{self.path(key)}: {message}")

    def reject_unknown(self, allowed: Iterable[str]) -> "Table":
        """Unknown keys are errors, so a typo never passes silently; returns the table for chaining."""
        allowed = set(allowed)
        unknown = sorted(set(self.mapping) - allowed)
        if unknown:
            raise ConfigError(f"{self.where or 'scenario'}: unknown key(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(allowed))}")
        return self

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        """The value as stored (for values handed on to a reader of their own)."""
        value = self.mapping.get(key, default)
        if value is REQUIRED:
            raise ConfigError(f"{self.path(key)}: missing (required)")
        return value

    def table(self, key: str, allowed: Iterable[str] | None = None) -> "Table":
        """Sub-table ``key`` (empty when absent); ``allowed`` rejects unknown keys in it."""
        sub = Table(self.mapping.get(key, {}), self.path(key))
        return sub if allowed is None else sub.reject_unknown(allowed)

    def tables(self, key: str) -> list["Table"]:
        """An array of tables (``[[rows]]``), each with its index in its path; empty when absent."""
        value = self.mapping.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"{self.path(key)}: must be an array of tables ([[{key}]]), got {describe(value)}")
        return [Table(v, f"{self.path(key)}[{i}]") for i, v in enumerate(value)]

    def number(self, key: str, default: Any = REQUIRED, **bounds: Any) -> float:
        """A finite float; ``bounds``: ``unit``, ``low``, ``high``, ``above``, ``below``, ``positive``."""
        return as_number(self.raw(key, default), self.path(key), **bounds)

    def integer(self, key: str, default: Any = REQUIRED, *, low: int | None = None, high: int | None = None) -> int:
        return as_integer(self.raw(key, default), self.path(key), low=low, high=high)

    def seed(self, key: str, default: Any = 0) -> int:
        return as_seed(self.raw(key, default), self.path(key))

    def boolean(self, key: str, default: Any = REQUIRED) -> bool:
        return as_boolean(self.raw(key, default), self.path(key))

    def string(self, key: str, default: Any = REQUIRED) -> str:
        return as_string(self.raw(key, default), self.path(key))

    def choice(self, key: str, default: Any, options: Iterable[str], *, what: str | None = None) -> str:
        return as_choice(self.raw(key, default), self.path(key), options, what=what)

    def numbers(self, key: str, default: Any = REQUIRED, **kwargs: Any) -> list[float]:
        """A list of finite numbers; ``min_len`` (1), ``length`` and the bounds of :meth:`number`."""
        return as_numbers(self.raw(key, default), self.path(key), **kwargs)

    def integers(self, key: str, default: Any = REQUIRED, **kwargs: Any) -> list[int]:
        return as_integers(self.raw(key, default), self.path(key), **kwargs)

    def seeds(self, key: str, default: Any = REQUIRED, *, min_len: int = 1) -> list[int]:
        return as_integers(self.raw(key, default), self.path(key), min_len=min_len, low=0, high=SEED_MAX)

    def strings(self, key: str, default: Any = REQUIRED, **kwargs: Any) -> list[str]:
        """A list of strings; ``min_len`` (0), ``options`` (each entry one of them) and ``what``."""
        return as_strings(self.raw(key, default), self.path(key), **kwargs)


__all__ = [
    "REQUIRED", "SEED_MAX", "Table", "as_boolean", "as_choice", "as_integer", "as_integers", "as_number",
    "as_numbers", "as_seed", "as_string", "as_strings",
]
