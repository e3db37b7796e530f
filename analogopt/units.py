"""Engineering-notation parsing at the API edge; everything inside is SI floats.

A string value is read as SPICE reads a number field (ngspice manual, "Naming conventions"): a number,
then optionally one scale factor, matched case-insensitively — ``f p n u m k meg g t mil`` (``mil`` =
25.4e-6, one thousandth of an inch) and ``µ`` for ``u``. Where SPICE then *ignores* any trailing letters
(``1x`` is 1, ``1min`` is 1 milli, ``10MHz`` is 10 milli-hertz), analogopt refuses them, except the
quantity's own unit word when the caller names one (``unit="ohm"``: ``"10kohm"``, ``"10kΩ"``): a
trailing word SPICE would drop silently is almost always a mistake. Also refused: ``a`` (ngspice
reads ``1a`` as 1, other simulators as 1e-18 atto), whitespace inside a value (SPICE would read two
fields), and ``inf``/``nan``.
"""

from __future__ import annotations

import math
import numbers
import re

from .errors import ConfigError

#: SPICE scale factors, lower case; looked up longest first so that ``meg`` and ``mil`` win over ``m``.
SCALE_FACTORS: dict[str, float] = {
    "t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6,
    "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15,
}
_SCALE_ORDER = sorted(SCALE_FACTORS, key=len, reverse=True)
SCALE_TEXT = "f p n u m k meg g t mil"

#: The unit words a value of each quantity may carry after its scale factor (compared case-folded).
UNIT_WORDS: dict[str, frozenset[str]] = {
    "s": frozenset({"s"}),
    "Hz": frozenset({"hz"}),
    "ohm": frozenset({"ohm", "ohms", "Ω".casefold(), "Ω".casefold()}),
    "V": frozenset({"v"}),
    "A": frozenset({"a"}),
    "S": frozenset({"s", "mho"}),
    "F": frozenset({"f"}),  # "10uF"; a bare "1F" is 1 femto, as in SPICE
    "V/s": frozenset({"v/s"}),
    "V/V": frozenset({"v/v"}),
}

#: Names for the milli-trap message ("10MHz means 10 milli-hertz").
_WORD_NAMES = {"hz": "hertz", "ohm": "ohm", "ohms": "ohm", "ω": "ohm", "v": "volt", "a": "ampere", "s": "second",
               "f": "farad"}

#: ASCII digits only: ``\d`` and ``float`` also read "٣" (Arabic-Indic three), which no simulator does
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)


def describe(value: object) -> str:
    """``value`` as a message shows it: strings quoted, booleans in TOML spelling, long text cut."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (str, list, tuple, dict)):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_real(value: object) -> bool:
    """True for Python and NumPy integer and float scalars; never for a bool (True is not a number)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_si(value: str | float | int, name: str = "value", unit: str | None = None) -> float:
    """Return ``value`` as a finite SI float; strings follow SPICE's number syntax (module docstring).

    ``unit`` (a key of :data:`UNIT_WORDS`) is the quantity's own unit, the one word allowed after the
    scale factor. Raises :class:`ConfigError` naming ``name`` when the value is not a finite number.
    """
    if isinstance(value, str):
        number = _parse_text(value, name, unit)
    elif is_real(value):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            raise ConfigError(f"{name}: must be finite, got {describe(value)}") from None
    else:
        raise ConfigError(f"{name}: must be a number, got {describe(value)}")
    if not math.isfinite(number):
        raise ConfigError(f"{name}: must be finite, got {describe(value)}")
    return number


def _parse_text(value: str, name: str, unit: str | None) -> float:
    text = value.strip()
    match = _NUMBER.match(text)
    if not match:
        raise ConfigError(f"{name}: cannot read {value!r} as a finite number (e.g. 4.7u, 10k, 1meg, 2.5e-3)")
    digits, rest = match.group(), text[match.end():]
    if any(ch.isspace() for ch in rest):
        raise ConfigError(f"{name}: cannot read {value!r} as a number: a SPICE value has no spaces "
                          f"(SPICE would read two fields); write e.g. 4.7u, 10k, 1meg")
    scale = next((s for s in _SCALE_ORDER if rest.casefold().startswith(s)), "")
    written, word = rest[: len(scale)], rest[len(scale):]
    if written == "M" and word:
        # "10MHz" reads as mega to a person and as milli to SPICE (case-insensitive m): refuse the trap.
        what = _WORD_NAMES.get(word.casefold(), word)
        raise ConfigError(f"{name}: {value!r} means {digits} milli-{what} in SPICE (M and m are both milli); "
                          f"write {digits}meg for mega, or {digits}m for milli")
    if word and word.casefold() not in UNIT_WORDS.get(unit or "", frozenset()):
        raise ConfigError(_word_error(value, name, unit, digits, scale, word))
    return float(digits) * SCALE_FACTORS[scale.casefold()] if scale else float(digits)


def _word_error(value: str, name: str, unit: str | None, digits: str, scale: str, word: str) -> str:
    if not scale and word.casefold() == "a":
        return (f"{name}: cannot read {value!r}: 'a' is not a SPICE scale factor (ngspice reads it as {digits}, "
                f"other simulators as atto); write {digits}e-18 for atto")
    own = f"the unit of this value ({unit})" if unit else "a unit (this value takes none)"
    if scale:
        return f"{name}: cannot read {value!r}: {word!r} after the scale factor {scale!r} is not {own}"
    return f"{name}: cannot read {value!r}: {word!r} is neither a SPICE scale factor ({SCALE_TEXT}) nor {own}"


#: (factor, prefix) of the SI prefixes used to display values
DISPLAY_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"),
                    (1e6, "M"), (1e9, "G"))


#: Units an SI prefix may go on (a prefix on V² or V/V would misread: mV² is not m·V²)
PREFIXABLE_UNITS = frozenset({"V", "A", "s", "S", "F", "H", "Hz", "Ω", "ohm", "W"})


def si_scale(values, unit: str) -> tuple[float, str]:
    """(factor, prefixed unit) such that ``values / factor`` reads in it (``"µV"``): the prefix of the
    largest magnitude in ``values``; values of no unit, or of a compound one (V², V/V), are left as they are."""
    import numpy as np

    magnitudes = np.abs(np.asarray(values, dtype=float))
    peak = float(np.nanmax(magnitudes)) if magnitudes.size and not np.all(np.isnan(magnitudes)) else 0.0
    if unit not in PREFIXABLE_UNITS or not math.isfinite(peak) or peak == 0:
        return 1.0, unit
    factor, prefix = next(((f, p) for f, p in reversed(DISPLAY_PREFIXES) if peak >= f), DISPLAY_PREFIXES[0])
    return factor, f"{prefix}{unit}"


def quantity(value: float, unit: str) -> str:
    """``value`` with an SI-prefixed ``unit`` (3.2e-07, "V" → "320 nV"); unitless as ``%.2e``."""
    factor, shown = si_scale([value], unit)
    if unit not in PREFIXABLE_UNITS or factor == 1.0 and value != 0 and not 1 <= abs(value) < 1000:
        return f"{value:.2e}" + (f" {unit}" if unit else "")
    return f"{value / factor:.3g} {shown}"
