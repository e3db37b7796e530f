"""A netlist deck: a PySpice ``Circuit`` plus the analyses, options and saved vectors to run it with.

The deck formats itself as plain ngspice text that runs unchanged in ``ngspice -b``. Names that reach a
netlist are validated so that user strings can never inject lines or control blocks.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import IO, Iterable, Mapping

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import NetlistError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # used with fullmatch: "$" would accept a trailing "\n"
#: many names at once, joined by newlines (one regex pass in C for a whole array's nodes)
_NAMES = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\n[A-Za-z_][A-Za-z0-9_]{0,63})*")
_TITLE = re.compile(r"^[\w .,:;=+\-()/\[\]×]{0,120}$")


#: Decks of :data:`KLU_MIN_ELEMENTS` elements or more select ngspice's KLU sparse solver: ngspice 46
#: has it and still defaults to Sparse 1.3, and a release built without it ignores the option silently
#: (checked on 39.3), so a deck stays valid everywhere and runs fast by hand too. Decks with a ``.noise``
#: analysis keep Sparse: ngspice-46 refuses noise with KLU.
SOLVER_OPTION = ".options klu"
#: Below this many elements KLU gains little (``python bench/klu_threshold.py``, plain ngspice-46, two
#: runs on this 2-core machine: 580-element decks klu/sparse 0.79-1.41, 8 450-element 64×64 solve
#: 1.04-1.18; 8 480-element NF loop 0.48-0.58, 33 300-element one 0.42), and KLU stalled two small macro
#: NF loops (an OTA offset corner at ~1e-16 s steps, a mismatch chip at "timestep too small") that
#: Sparse runs in a fraction of a second.
KLU_MIN_ELEMENTS = 5000

_ELEMENT_LINE = re.compile(r"^[A-Za-z]", re.M)  # directives start with ".", comments "*", continuations "+"


_NOISE = re.compile(r"^[ \t]*\.noise\b", re.I | re.M)


def wants_klu(text: str) -> bool:
    """Whether a deck selects KLU: :data:`KLU_MIN_ELEMENTS` elements or more, and no ``.noise``."""
    # the count stops at the threshold, and the line-anchored search runs only where the word occurs: on a
    # 512×512 crossbar deck (20 MB) the two full scans took 0.23 s
    if "noise" in text.lower() and _NOISE.search(text):
        return False
    return sum(1 for _ in itertools.islice(_ELEMENT_LINE.finditer(text), KLU_MIN_ELEMENTS)) >= KLU_MIN_ELEMENTS


def validate_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe SPICE identifier (letters, digits, underscore), else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise NetlistError(
            f"{what} {name!r} is not a valid SPICE name (letters, digits and '_', starting with a letter, ≤ 64 chars)"
        )
    return name


def validate_names(names: Iterable[str], what: str = "name") -> None:
    """:func:`validate_name` for every name of ``names`` (the first bad one is named in the error)."""
    names = list(names)
    if not names:
        return
    try:
        joined = "\n".join(names)
    except TypeError:  # a non-string: the loop below names it
        joined = ""
    # as many lines as names: a name holding a newline must not pass as two valid ones
    if joined.count("\n") == len(names) - 1 and _NAMES.fullmatch(joined):
        return
    for name in names:
        validate_name(name, what)


def validate_title(title: str) -> str:
    if not isinstance(title, str) or not _TITLE.fullmatch(title):
        raise NetlistError(f"netlist title {title!r} must be one line of plain text (≤ 120 characters)")
    return title


def format_value(value: float) -> str:
    """A float in SPICE-safe, round-trip exact notation."""
    return repr(float(value))


def format_option(value: float | int | str) -> str:
    """An ``.options`` value: an integer as its digits (ngspice reads ``seed=1.18706e+09`` as 1), a
    float as :func:`format_value`, a word as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return format_value(value)


class Analysis:
    """Base class of the analyses a deck can run."""

    def format(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Transient(Analysis):
    """``.tran``: ``stop_s`` in s. ``max_step_s`` caps ngspice's adaptive step (default: stop/50,
    ngspice's own rule); ``step_s`` is only the print interval. ``uic`` starts from the capacitors'
    initial conditions instead of an operating point."""

    stop_s: float
    step_s: float | None = None
    max_step_s: float | None = None
    uic: bool = True

    def __post_init__(self) -> None:
        if not self.stop_s > 0:
            raise NetlistError(f"transient stop time must be > 0 s, got {self.stop_s}")

    def format(self) -> str:
        step = self.step_s if self.step_s is not None else self.stop_s / 50
        parts = [".tran", format_value(step), format_value(self.stop_s), "0"]
        parts.append(format_value(self.max_step_s if self.max_step_s is not None else self.stop_s / 50))
        if self.uic:
            parts.append("uic")
        return " ".join(parts)


@dataclass(frozen=True)
class OperatingPoint(Analysis):
    def format(self) -> str:
        return ".op"


@dataclass(frozen=True)
class DCSweep(Analysis):
    """``.dc``: sweep the independent source ``source`` from ``start`` to ``stop`` by ``step`` (V or A)."""

    source: str
    start: float
    stop: float
    step: float

    def __post_init__(self) -> None:
        validate_name(self.source, "swept source")
        if self.step == 0:
            raise NetlistError("DC sweep step must be non-zero")

    def format(self) -> str:
        return f".dc {self.source} {format_value(self.start)} {format_value(self.stop)} {format_value(self.step)}"


@dataclass(frozen=True)
class ACSweep(Analysis):
    """``.ac dec``: ``points_per_decade`` from ``start_hz`` to ``stop_hz``."""

    start_hz: float
    stop_hz: float
    points_per_decade: int = 20

    def __post_init__(self) -> None:
        if not (0 < self.start_hz < self.stop_hz):
            raise NetlistError(f"AC sweep needs 0 < start_hz < stop_hz, got {self.start_hz}, {self.stop_hz}")

    def format(self) -> str:
        return f".ac dec {int(self.points_per_decade)} {format_value(self.start_hz)} {format_value(self.stop_hz)}"


@dataclass
class NetlistDeck:
    """Everything ngspice needs: circuit, analyses, options and the vectors to save.

    ``saves`` lists vectors such as ``"v(w0)"``; empty means ngspice's default (all node voltages).
    ``attachments``: files the deck reads by name (name → text, e.g. a noise source's samples), which the
    runners write beside the netlist in its run directory.
    """

    circuit: Circuit
    analyses: list[Analysis] = field(default_factory=list)
    options: Mapping[str, float | str] = field(default_factory=dict)
    saves: list[str] = field(default_factory=list)
    attachments: Mapping[str, str] = field(default_factory=dict)

    def format(self) -> str:
        """The whole netlist as text, ending in ``.end``."""
        title = validate_title(str(self.circuit.title))
        body = str(self.circuit)
        head = f".title {title}\n"
        rest = body[len(head) :].rstrip("\n") if body.startswith(head) else body.rstrip("\n")
        lines = [f"* {title}", rest] if rest else [f"* {title}"]
        if self.options:
            opts = " ".join(
                f"{validate_name(k, 'option')}={format_option(v)}"
                for k, v in self.options.items()
            )
            lines.append(f".options {opts}")
        if wants_klu(body + "\n".join(a.format() for a in self.analyses)):
            lines.append(SOLVER_OPTION)
        if self.saves:
            lines.append(".save " + " ".join(_check_vector(s) for s in self.saves))
        if not self.analyses:
            raise NetlistError("a netlist deck needs at least one analysis (.tran, .op, .dc or .ac)")
        lines.extend(a.format() for a in self.analyses)
        lines.append(".end")
        text = "\n".join(lines) + "\n"
        _check_no_control(text)
        return text

    def write(self, stream: IO[str]) -> None:
        stream.write(self.format())


_VECTOR = re.compile(r"^(?:[vi]\([A-Za-z0-9_.#:]+(?:,[A-Za-z0-9_.#:]+)?\)|@[A-Za-z0-9_.#:]+\[[a-z]+\])$", re.I)


def _check_vector(name: str) -> str:
    if not _VECTOR.match(name):
        raise NetlistError(f"cannot save vector {name!r}: expected v(node), i(source) or @dev[param]")
    return name


_CONTROL = re.compile(r"^[ \t]*(?:\.control|shell)", re.I | re.M)


def _check_no_control(text: str) -> None:
    lower = text.lower()  # two substring scans rule out nearly every netlist before the line-anchored regex
    if (".control" in lower or "shell" in lower) and _CONTROL.search(text):
        raise NetlistError("netlists written by analogopt never contain .control blocks or shell commands")


def format_floats(values: np.ndarray) -> list[str]:
    """Finite float64 values as the shortest text that reads back to the same double (Python's repr):
    netlists hold the very numbers the twins use."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(flat)):
        raise NetlistError("netlist values must be finite")
    if flat.size == 0:
        return []
    # the list's repr formats every float in C, a third faster than one repr call per value
    return repr(flat.tolist())[1:-1].split(", ")


def save_voltages(nodes: Iterable[str]) -> list[str]:
    """``.save`` entries for the voltages of ``nodes``."""
    nodes = list(nodes)
    validate_names(nodes, "node")
    return [f"v({n})" for n in nodes]
