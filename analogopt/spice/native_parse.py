"""Reading a linear SPICE netlist into numpy arrays, for the native DC solver (:mod:`.native_solve`).

The text is read in whole-text passes, never element by element: the bytes become one numpy array,
token boundaries come from one comparison over it, every line's element letter and token count from
array indexing. Node names are hashed from fixed-width byte rows (exactly: every name is compared
with its class's first name afterwards, and a hash collision falls back to exact string keys) and
numbered in order of first appearance, ngspice's own order. Values are parsed in one C pass
(``np.fromstring``); only values with a scale suffix (``1k``, ``10meg``) go through a regular
expression, one token at a time. Subcircuits are flattened per definition, bottom-up, each
definition's element arrays broadcast over all of its instances at once.

Supported, exactly as ngspice reads them at DC: ``R``, ``G`` (VCCS), ``E`` (VCVS), ``V`` and ``I`` (a
plain value or ``dc <value>``, whatever transient or AC specification follows it), ``C`` (open) and
``L`` (short), ``X`` instances of ``.subckt`` definitions (nested instances, not nested definitions),
``.param`` values referenced as plain ``{name}``, ``.op``, ``.dc`` of one source, ``.save``. Anything
else is a :class:`NetlistError` naming the element or card and its line, in one line.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import NetlistError

#: How a refusal ends: the way out.
USE_NGSPICE = "run it with --simulator ngspice"

#: ngspice's scale factors (``1a`` is 1 to ngspice: letters that are no factor are a unit, ignored)
_SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6, "n": 1e-9,
          "p": 1e-12, "f": 1e-15}
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpf])?[a-z]*")

#: element letter → its node count
_LINEAR = {"r": 2, "g": 4, "e": 4, "v": 2, "i": 2, "c": 2, "l": 2}
_WHAT = {"b": "behavioral source (nonlinear)", "d": "diode", "q": "bipolar transistor", "m": "MOSFET",
         "j": "JFET", "z": "MESFET", "a": "XSPICE code model", "k": "coupled inductor", "s": "switch",
         "w": "switch", "t": "transmission line", "o": "transmission line", "u": "transmission line",
         "y": "transmission line", "f": "current-controlled source", "h": "current-controlled source",
         "n": "device model", "p": "device model"}
_ANALYSES = {"op", "dc", "tran", "ac", "noise", "tf", "sens", "pz", "disto", "four", "sp", "pss"}
#: cards with no effect on a linear circuit's DC solution
_HARMLESS = {"title", "model", "nodeset", "width", "print", "plot", "probe", "temp", "meas", "measure", "csparam"}

_SPACE, _NL = 32, 10
#: bytes a plain number (no scale suffix) is made of, and the padding after it
_PLAIN = np.zeros(256, dtype=bool)
_PLAIN[np.frombuffer(b"0123456789.+-e\x00", np.uint8)] = True


@dataclass
class Elements:
    """One kind of element, flattened: ``nodes`` (count × terminals) are indices into
    :attr:`Netlist.node_names` (0 is ground), ``values`` in SI units (Ω, S, V/V, V, A), ``lines`` the
    netlist line (1-based) that defines each, ``names`` the instance paths (``v1``, ``x1.vos``) of the
    kinds whose name matters (V, E and L carry branch currents, V and I can be swept), else None."""

    nodes: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    names: list[str] | None = None

    @property
    def count(self) -> int:
        return len(self.values)


@dataclass
class Netlist:
    """A flat linear circuit: node names (index 0 is ground, ``"0"``), the elements by letter, the
    analyses in netlist order (``("op",)`` or ``("dc", source, start, stop, step)``) and the saved
    vectors (None: ngspice's default, every node voltage and branch current)."""

    node_names: list[str]
    elements: dict[str, Elements]
    analyses: list[tuple]
    saves: list[str] | None


def refuse(what: str, line: int | None, why: str) -> NetlistError:
    at = f" (line {line})" if line is not None else ""
    return NetlistError(f"the native simulator cannot run {what}{at}: {why}; {USE_NGSPICE}")


# ---------------------------------------------------------------------------------------- the text
def _prepare(text: str) -> tuple[bytes, bytes]:
    """The text as bytes with ``{param}`` references substituted (what messages quote) and the
    lower-cased bytes the parser reads, with the title blanked, continuation lines joined and inline
    comments blanked, every byte offset kept where it was (comment lines and what follows ``.end`` are
    dropped by line, after tokenizing)."""
    try:
        original = text.encode("ascii")
    except UnicodeEncodeError:
        # only the title may hold other characters: replace them, so that offsets stay byte offsets
        original = text.encode("ascii", errors="replace")
    if b"{" in original:
        original = _substitute_params(original)
    raw = original.lower()
    first = raw.find(b"\n")
    raw = b" " * first + raw[first:] if first >= 0 else b""  # the title line is no element
    if b"\n+" in raw:
        raw = re.sub(rb"\n[ \t]*\+", lambda m: b" " * (len(m.group()) - 1) + b"\x00", raw)
    if b";" in raw or b"$" in raw:
        raw = re.sub(rb"(?:;|(?<=[ \t])\$)[^\n]*", lambda m: b" " * len(m.group()), raw)
    return original, raw


def _substitute_params(original: bytes) -> bytes:
    """``{name}`` → the value of ``.param name=value`` (names in any case); anything else in braces is
    refused. Lines stay where they were (values hold no line break)."""
    params: dict[bytes, bytes] = {}
    for match in re.finditer(rb"(?im)^[ \t]*\.param[ \t]+([^\n]*)", original):
        for name, value in re.findall(rb"([a-z_]\w*)[ \t]*=[ \t]*([^\s=]+)", match.group(1), re.I):
            if value.startswith(b"{") or _number_or_none(value.decode().lower()) is None:
                raise refuse(f".param {name.decode()}={value.decode()}", _line_of(original, match.start()),
                             "only plain numbers are read as parameter values (no expressions)")
            params[name.lower()] = value

    def value(m: re.Match) -> bytes:
        name = m.group(1).strip().lower()
        if name not in params:
            raise refuse(f"{{{m.group(1).decode()}}}", _line_of(original, m.start()),
                         "only references to .param names with plain values are read (no expressions)")
        return params[name]

    return re.sub(rb"\{([^}\n]*)\}", value, original)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _number_or_none(token: str) -> float | None:
    m = _NUMBER.fullmatch(token)
    if m is None:
        return None
    return float(m.group(1)) * _SCALE.get(m.group(2) or "", 1.0)


class _Tokens:
    """Token boundaries of the whole text and, per line holding any token, its first token, token
    count, element letter and line number (of the original text: joined continuation lines keep
    the number of their first line)."""

    def __init__(self, raw: bytes, original: bytes) -> None:
        data = np.frombuffer(raw, dtype=np.uint8)
        self.data = data
        word = data > _SPACE
        edges = np.flatnonzero(word[1:] != word[:-1]) + 1
        if word.size and word[0]:
            edges = np.concatenate([[0], edges])
        if word.size and word[-1]:
            edges = np.concatenate([edges, [word.size]])
        starts, ends = edges[0::2], edges[1::2]
        self.starts, self.ends = starts, ends
        newlines = np.flatnonzero(data == _NL)
        line = np.searchsorted(newlines, starts)  # logical line of each token
        first = np.ones(starts.size, dtype=bool)
        first[1:] = line[1:] != line[:-1]
        self.first = np.flatnonzero(first)  # token index of each line's first token
        self.count = np.diff(np.append(self.first, starts.size))
        if b"\n+" in original:  # joined lines: number them as the original text does
            newlines = np.flatnonzero(np.frombuffer(original, dtype=np.uint8) == _NL)
            self.line = np.searchsorted(newlines, starts[self.first]) + 1
        else:
            self.line = line[self.first] + 1
        self.letter = data[starts[self.first]] if starts.size else np.zeros(0, np.uint8)
        self._padded: np.ndarray | None = None

    def rows(self, tokens: np.ndarray, width: int | None = None) -> np.ndarray:
        """The bytes of ``tokens`` as a (count × width) uint8 array, zero-padded."""
        lengths = self.ends[tokens] - self.starts[tokens]
        width = int(lengths.max(initial=1)) if width is None else width
        width = max(width, 1)
        if self._padded is None or self._padded.size < self.data.size + width:
            self._padded = np.concatenate([self.data, np.zeros(max(width, 64), np.uint8)])
        # every offset of the text as one overlapping item of `width` bytes: a gather copies rows whole
        windows = np.ndarray(shape=(self.data.size + 1,), dtype=f"V{width}", buffer=self._padded, strides=(1,))
        out = windows[self.starts[tokens]].view(np.uint8).reshape(tokens.size, width)
        out *= np.arange(width)[None, :] < lengths[:, None]
        return out

    def text(self, token: int) -> str:
        return bytes(self.data[self.starts[token]:self.ends[token]]).decode()

    def equals(self, tokens: np.ndarray, word: bytes) -> np.ndarray:
        return _is_word(self.rows(tokens, len(word) + 1), word)


def _is_word(rows: np.ndarray, word: bytes) -> np.ndarray:
    """Which rows (zero-padded bytes) hold exactly ``word``."""
    if rows.shape[1] < len(word):
        return np.zeros(rows.shape[0], dtype=bool)
    same = np.all(rows[:, :len(word)] == np.frombuffer(word, np.uint8), axis=1)
    return same if rows.shape[1] == len(word) else same & (rows[:, len(word)] == 0)


def _numbers(tok: _Tokens, tokens: np.ndarray, lines: np.ndarray, what: str) -> np.ndarray:
    """The values of ``tokens`` (SPICE numbers, scale suffixes allowed), all finite."""
    if tokens.size == 0:
        return np.zeros(0)
    rows = tok.rows(tokens)
    plain = _PLAIN[rows].all(axis=1)
    values = np.empty(tokens.size)
    if plain.any():
        buf = rows[plain].copy()
        buf[buf == 0] = _SPACE
        buf = np.concatenate([buf, np.full((buf.shape[0], 1), _SPACE, np.uint8)], axis=1).tobytes()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                parsed = np.fromstring(buf, sep=" ")
            except (ValueError, DeprecationWarning):
                parsed = np.zeros(0)
        if parsed.size == plain.sum():
            values[plain] = parsed
        else:  # some token only looked like a number: read each, to name the bad one
            plain[:] = False
    for k in np.flatnonzero(~plain):
        value = _number_or_none(tok.text(tokens[k]))
        if value is None:
            raise refuse(f"{what} value {tok.text(tokens[k])!r}", int(lines[k]),
                         "it is not a number (plain numbers with an optional scale suffix are read)")
        values[k] = value
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise refuse(f"{what} value {tok.text(tokens[bad[0]])!r}", int(lines[bad[0]]), "it is not finite")
    return values


# ------------------------------------------------------------------------------------ the structure
@dataclass
class _Block:
    """One scope (the top level or one subcircuit definition), flattened: local node ids (0 ground,
    1…pins, then internal nodes), element arrays per letter over those ids."""

    pins: int
    internal: list[str]
    kinds: dict[str, Elements]

    @property
    def size(self) -> int:
        return 1 + self.pins + len(self.internal)


def parse(text: str) -> Netlist:
    """The flat linear circuit of netlist ``text`` (see the module docstring for what is read)."""
    original, raw = _prepare(text)
    tok = _Tokens(raw, original)
    letters = tok.letter.copy()
    letters[letters == ord("*")] = 0  # comment lines
    dots = np.flatnonzero(letters == ord("."))
    cards = [(int(tok.line[k]), [tok.text(t) for t in range(tok.first[k], tok.first[k] + tok.count[k])])
             for k in dots]
    end = next((k for k, (_, words) in enumerate(cards) if words[0] == ".end"), None)
    if end is not None:  # nothing after .end is read
        letters[dots[end]:] = 0
        cards, dots = cards[:end], dots[:end]
    letters[dots] = 0
    analyses, saves, defs = _cards(cards)
    scope = _scopes(tok, defs)
    _refuse_unknown(tok, letters, original)
    node_id, names, pins = _nodes(tok, letters, scope, defs)
    blocks = _blocks(tok, letters, scope, node_id, names, pins, defs, original)
    top = blocks[0]
    node_names = ["0", *top.internal]
    netlist = Netlist(node_names, top.kinds, analyses, saves)
    _check_analyses(netlist)
    return netlist


def _cards(cards: list[tuple[int, list[str]]]):
    analyses: list[tuple] = []
    saves: list[str] | None = None
    defs: list[tuple[int, int, str, list[str]]] = []  # (first line, last line, name, pins)
    open_def: tuple[int, str, list[str]] | None = None
    for line, words in cards:
        card = words[0][1:]
        if card == "subckt":
            if open_def is not None:
                raise refuse(f".subckt {words[1] if len(words) > 1 else ''}".strip(), line,
                             "nested .subckt definitions are not read")
            if len(words) < 2:
                raise refuse(".subckt", line, "it names no subcircuit")
            if any("=" in w or w == "params:" for w in words[2:]):
                raise refuse(f".subckt {words[1]}", line, "subcircuit parameters are not read")
            open_def = (line, words[1], words[2:])
        elif card == "ends":
            if open_def is None:
                raise refuse(".ends", line, "no .subckt is open")
            defs.append((open_def[0], line, open_def[1], open_def[2]))
            open_def = None
        elif card in ("op", "dc"):
            if open_def is not None:
                raise refuse(f".{card}", line, "analyses inside a .subckt are not read")
            analyses.append(("op",) if card == "op" else _dc(words, line))
        elif card in _ANALYSES:
            raise refuse(f".{card}", line, "it solves DC operating points (.op) and DC sweeps (.dc) only")
        elif card == "save":
            saves = (saves or []) + words[1:]
        elif card in ("options", "option", "opt"):
            shunts = [w for w in words[1:] if w.split("=")[0] in ("rshunt", "gshunt", "cshunt")]
            if shunts:
                raise refuse(f".options {shunts[0]}", line, "ngspice adds shunt elements for it")
        elif card == "param" or card in _HARMLESS:
            continue
        else:
            raise refuse(f".{card}", line, "this control card is not read")
    if open_def is not None:
        raise refuse(f".subckt {open_def[1]}", open_def[0], "it has no .ends")
    if saves is not None and "all" in saves:
        saves = None
    return analyses, saves, defs


def _dc(words: list[str], line: int) -> tuple:
    if len(words) != 5:
        what = "a nested sweep" if len(words) > 5 else "an incomplete sweep"
        raise refuse(" ".join(words), line, f"{what}; one source swept by start stop step is read")
    values = [_number_or_none(w) for w in words[2:]]
    if any(v is None for v in values) or values[2] == 0:
        raise refuse(" ".join(words), line, "start, stop and a non-zero step must be numbers")
    return ("dc", words[1], *values)


def _scopes(tok: _Tokens, defs) -> np.ndarray:
    """Per line: 0 at the top level, k for lines inside the k-th definition (1-based)."""
    scope = np.zeros(tok.line.size, dtype=np.int64)
    if defs:
        first = np.array([d[0] for d in defs])
        last = np.array([d[1] for d in defs])
        k = np.searchsorted(first, tok.line, side="right")  # definitions starting at or before the line
        inside = (k > 0) & (tok.line <= last[np.maximum(k - 1, 0)])
        scope[inside] = k[inside]
    return scope


def _refuse_unknown(tok: _Tokens, letters: np.ndarray, original: bytes) -> None:
    known = np.frombuffer(b"rgevilcx\x00", np.uint8)
    bad = np.flatnonzero(~np.isin(letters, known))
    if bad.size:
        k = bad[0]
        name = _original_token(tok, original, tok.first[k])
        letter = chr(letters[k])
        what = _WHAT.get(letter, "element")
        raise refuse(f"{name}", int(tok.line[k]), f"it is a {what}; the native simulator solves linear R, C, L, "
                                                   "G (VCCS), E (VCVS), V, I and subcircuits only")


def _original_token(tok: _Tokens, original: bytes, token: int) -> str:
    return original[tok.starts[token]:tok.ends[token]].decode(errors="replace")


def _nodes(tok: _Tokens, letters: np.ndarray, scope: np.ndarray, defs):
    """Every node token's scope-local id: pins first (in pin order), then the scope's other nodes in
    order of first appearance; ground ("0", "gnd") is 0 everywhere. Returns the element lines' node ids
    (all lines' ids in one array, and where each line's begin), the names of each scope's non-pin
    nodes, and each definition's pin count."""
    # pin tokens of the definitions come first, so that pins are numbered before any use
    pin_tokens: list[np.ndarray] = []
    pin_scopes: list[np.ndarray] = []
    line_index = {int(l): i for i, l in enumerate(tok.line)} if defs else {}
    for k, d in enumerate(defs, start=1):
        i = line_index[d[0]]
        first = tok.first[i]
        pin_tokens.append(np.arange(first + 2, first + tok.count[i]))
        pin_scopes.append(np.full(tok.count[i] - 2, k))
    counts = np.zeros(letters.size, dtype=np.int64)
    two = np.isin(letters, np.frombuffer(b"rvilc", np.uint8))
    four = np.isin(letters, np.frombuffer(b"ge", np.uint8))
    xs = letters == ord("x")
    counts[two], counts[four] = 2, 4
    counts[xs] = tok.count[xs] - 2
    needed = np.where(xs, 3, counts + 2)  # name, nodes, value (X: name, a node at least, subcircuit)
    short = np.flatnonzero((letters != 0) & (tok.count < needed))
    if short.size:
        k = short[0]
        raise refuse(tok.text(tok.first[k]), int(tok.line[k]), "it has too few nodes or no value")
    lines_with = np.flatnonzero(counts > 0)
    reps = counts[lines_with]
    offsets = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    element_tokens = np.repeat(tok.first[lines_with], reps) + 1 + offsets
    tokens = np.concatenate([*pin_tokens, element_tokens])
    scopes = np.concatenate([*pin_scopes, np.repeat(scope[lines_with], reps)])
    rows = tok.rows(tokens)
    ground = _is_word(rows, b"0") | _is_word(rows, b"gnd")
    codes = _factorize(rows, scopes)
    # renumber without ground (0 and gnd are ground in every scope), keeping first-appearance order
    valid = ~ground
    present = np.zeros(int(codes.max(initial=-1)) + 1, dtype=bool)
    present[codes[valid]] = True
    renumber = np.cumsum(present) - 1
    codes = np.where(valid, renumber[codes], -1)
    n_codes = int(present.sum())
    # the scope-local id of each code: pins by position, then first appearance
    positions = np.flatnonzero(valid)
    code_first = np.empty(n_codes, dtype=np.int64)
    code_first[codes[positions][::-1]] = positions[::-1]
    code_scope = scopes[code_first]
    order = np.lexsort((code_first, code_scope))
    scope_of_sorted = code_scope[order]
    rank = np.arange(n_codes) - np.searchsorted(scope_of_sorted, scope_of_sorted)
    local = np.empty(n_codes, dtype=np.int64)
    local[order] = rank + 1
    ids = np.where(valid, local[np.maximum(codes, 0)], 0)
    n_pins = [len(p) for p in pin_tokens]
    if pin_tokens:
        pin_ids = ids[: sum(n_pins)]
        start = 0
        for k, count in enumerate(n_pins, start=1):
            mine = pin_ids[start:start + count]
            if np.any(mine == 0) or len(np.unique(mine)) != count:
                raise refuse(f".subckt {defs[k - 1][2]}", defs[k - 1][0], "its pins must be distinct and not ground")
            start += count
    # names of every scope's non-pin nodes, in id order
    first_rows = rows[code_first[order]]
    names_sorted = first_rows.view(f"S{rows.shape[1]}").ravel().astype(str)
    n_scopes = len(defs) + 1
    bounds = np.searchsorted(scope_of_sorted, np.arange(n_scopes + 1))
    internal = []
    for k in range(n_scopes):
        skip = n_pins[k - 1] if k else 0
        internal.append(names_sorted[bounds[k] + skip:bounds[k + 1]].tolist())
    element_ids = ids[sum(n_pins):]
    per_line = np.zeros(letters.size + 1, dtype=np.int64)
    per_line[1:][lines_with] = reps
    line_start = np.cumsum(per_line)[:-1]  # where each line's node ids begin in element_ids
    return (element_ids, line_start), internal, n_pins


def _factorize(rows: np.ndarray, scopes: np.ndarray) -> np.ndarray:
    """Codes numbering the distinct (scope, bytes) pairs in order of first appearance: a 64-bit hash
    of each row, then an exact check that every row equals the first row of its code."""
    width = -(-rows.shape[1] // 8) * 8
    padded = np.zeros((rows.shape[0], width), np.uint8)
    padded[:, : rows.shape[1]] = rows
    words = padded.view(np.uint64)
    h = scopes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for k in range(words.shape[1]):
        h = (h ^ words[:, k]) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    codes, _ = pd.factorize(h)
    first = np.empty(int(codes.max(initial=-1)) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size)[::-1]
    if np.array_equal(rows, rows[first[codes]]) and np.array_equal(scopes, scopes[first[codes]]):
        return codes.astype(np.int64)
    keys = pd.Series(rows.view(f"S{rows.shape[1]}").ravel()).astype(str) + "\x00" + pd.Series(scopes).astype(str)
    return pd.factorize(keys)[0].astype(np.int64)


def _blocks(tok, letters, scope, node_ids, internal, n_pins, defs, original) -> list[_Block]:
    element_ids, line_start = node_ids
    names = ["", *[d[2] for d in defs]]
    index = {}
    for k, name in enumerate(names[1:], start=1):
        if name in index:
            raise refuse(f".subckt {name}", defs[k - 1][0], "it is defined twice")
        index[name] = k
    raw: list[dict[str, Elements]] = [{} for _ in names]
    instances: list[list[tuple[int, np.ndarray, list[str]]]] = [[] for _ in names]
    for letter in "rgevilc":
        lines = np.flatnonzero(letters == ord(letter))
        if lines.size == 0:
            continue
        k = _LINEAR[letter]
        nodes = element_ids[line_start[lines][:, None] + np.arange(k)[None, :]]
        values, element_names = _values(tok, letter, lines, original)
        for s in np.unique(scope[lines]):
            mine = scope[lines] == s
            raw[s][letter] = Elements(nodes[mine], values[mine], tok.line[lines[mine]],
                                      None if element_names is None else
                                      [n for n, m in zip(element_names, mine) if m])
    xlines = np.flatnonzero(letters == ord("x"))
    if xlines.size:
        subs = [tok.text(tok.first[i] + tok.count[i] - 1) for i in xlines]
        xnames = [tok.text(tok.first[i]) for i in xlines]
        for line, sub in zip(xlines, subs):
            if "=" in sub or sub not in index:
                why = "instance parameters are not read" if "=" in sub else f"subcircuit {sub!r} is not defined"
                raise refuse(_original_token(tok, original, tok.first[line]), int(tok.line[line]), why)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, line in enumerate(xlines):
            groups.setdefault((int(scope[line]), index[subs[i]]), []).append(i)
        for (s, target), members in groups.items():
            lines = xlines[members]
            count = n_pins[target - 1]
            wrong = np.flatnonzero(tok.count[lines] - 2 != count)
            if wrong.size:
                line = lines[wrong[0]]
                raise refuse(_original_token(tok, original, tok.first[line]), int(tok.line[line]),
                             f"subcircuit {names[target]} has {count} pins, the instance connects "
                             f"{tok.count[line] - 2} nodes")
            nodes = element_ids[line_start[lines][:, None] + np.arange(count)[None, :]]
            instances[s].append((target, nodes, [xnames[m] for m in members]))
    done: dict[int, _Block] = {}

    def flatten(s: int, stack: tuple[int, ...]) -> _Block:
        if s in done:
            return done[s]
        if s in stack:
            raise refuse(f".subckt {names[s]}", defs[s - 1][0], "it instantiates itself")
        block = _Block(n_pins[s - 1] if s else 0, list(internal[s]), dict(raw[s]))
        for target, nodes, xnames in instances[s]:
            _expand(block, flatten(target, (*stack, s)), nodes, xnames)
        done[s] = block
        return block

    return [flatten(0, ())]


def _values(tok: _Tokens, letter: str, lines: np.ndarray, original: bytes) -> tuple[np.ndarray, list[str] | None]:
    first, count, line_no = tok.first[lines], tok.count[lines], tok.line[lines]
    what = {"r": "resistor", "g": "VCCS", "e": "VCVS", "v": "voltage source", "i": "current source",
            "c": "capacitor", "l": "inductor"}[letter]
    names = None
    if letter in "veli":
        names = [tok.text(t) for t in first]
    if letter in "cl":
        return np.zeros(lines.size), names
    if letter in "rge":
        expected = 4 if letter == "r" else 6
        wrong = np.flatnonzero(count != expected)
        if wrong.size:
            k = wrong[0]
            form = "R<name> n+ n- value" if letter == "r" else f"{letter.upper()}<name> n+ n- nc+ nc- value"
            raise refuse(_original_token(tok, original, first[k]), int(line_no[k]),
                         f"only the linear form '{form}' is read (no models, parameters or nonlinear forms)")
        values = _numbers(tok, first + expected - 1, line_no, what)
        if letter == "r" and np.any(values == 0):
            k = np.flatnonzero(values == 0)[0]
            raise refuse(_original_token(tok, original, first[k]), int(line_no[k]),
                         "a 0 Ω resistor (ngspice replaces it by 1e-12 Ω); use a 0 V source as a short")
        return values, names
    # V and I: "n+ n- value" or "n+ n- dc value …" (what follows dc value is transient or AC only)
    dc = np.zeros(lines.size, dtype=bool)
    long = count >= 5
    if long.any():
        dc[long] = tok.equals(first[long] + 3, b"dc")
    plain = count == 4
    with_ac = (count >= 6) & ~dc
    if with_ac.any():
        ac = tok.equals(first[with_ac] + 4, b"ac")
        plain[np.flatnonzero(with_ac)[ac]] = True
    bad = np.flatnonzero(~dc & ~plain)
    if bad.size:
        k = bad[0]
        raise refuse(_original_token(tok, original, first[k]), int(line_no[k]),
                     "it has no DC value (write 'dc <value>' before any transient function)")
    return _numbers(tok, first + np.where(dc, 4, 3), line_no, what), names


def _expand(parent: _Block, child: _Block, nodes: np.ndarray, xnames: list[str]) -> None:
    """Add every instance of ``child`` (``nodes``: instances × pins, parent-local ids) to ``parent``:
    one index array maps every child-local id of every instance to a parent-local id."""
    count = len(xnames)
    n_internal = len(child.internal)
    base = parent.size
    mapping = np.empty((count, child.size), dtype=np.int64)
    mapping[:, 0] = 0
    mapping[:, 1:1 + child.pins] = nodes
    mapping[:, 1 + child.pins:] = base + np.arange(count * n_internal).reshape(count, n_internal)
    parent.internal.extend(f"{x}.{n}" for x in xnames for n in child.internal)
    for letter, el in child.kinds.items():
        mapped = mapping[:, el.nodes].reshape(count * el.count, el.nodes.shape[1])
        names = None if el.names is None else [f"{x}.{n}" for x in xnames for n in el.names]
        new = Elements(mapped, np.tile(el.values, count), np.tile(el.lines, count), names)
        old = parent.kinds.get(letter)
        parent.kinds[letter] = new if old is None else Elements(
            np.concatenate([old.nodes, new.nodes]), np.concatenate([old.values, new.values]),
            np.concatenate([old.lines, new.lines]), None if old.names is None else old.names + names)


def _check_analyses(netlist: Netlist) -> None:
    if not netlist.analyses:
        raise NetlistError("the netlist has no analysis: add .op or .dc (the native simulator runs those two)")
    sources = {}
    for letter in "vi":
        el = netlist.elements.get(letter)
        if el is not None:
            sources.update((name, letter) for name in ([] if el.names is None else el.names))
    for analysis in netlist.analyses:
        if analysis[0] == "dc" and analysis[1] not in sources:
            raise NetlistError(f".dc sweeps {analysis[1]!r}, which is no independent V or I source of the netlist; "
                               "name a source (the native simulator sweeps one V or I source)")
