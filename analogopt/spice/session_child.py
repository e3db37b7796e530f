"""The child process of a libngspice session (:mod:`analogopt.spice.session`), and how ngspice reads
numbers.

Run by path (``python -P session_child.py FD``) with nothing but the standard library, so a new session
starts in tens of milliseconds instead of importing analogopt, numpy and PySpice: it binds libngspice
through ``ctypes`` (PySpice is not needed, so ngspice releases whose messages PySpice misreads, 46's
solver lines among them, serve as well as 39), says hello over the socket ``FD`` (the library's banner,
and whether ``alter`` and its plain values are exact here), then serves runs until the parent says quit
or goes away:

- request: JSON ``{"text": deck, "alter": [commands] | null, "cwd": directory}``; the child applies the
  ``alter`` commands to the circuit it holds (reloading the deck if ngspice refuses one) or loads the
  deck fresh (``remcirc``, then the deck), runs it, and destroys the plots afterwards;
- reply: JSON (console output, return code, fresh load or not, whether ngspice asked to exit, the plots'
  vectors named and ordered as ``ngspice -b -r`` writes them to a raw file, timings), then one block of
  the vectors' raw float64/complex128 data.

**Numbers.** ngspice reads a netlist number with ``INPevaluate`` (digits accumulated in a double, then
one multiplication by ``pow(10, exponent)``: not correctly rounded) and an ``alter`` value with its front
end's parser, which rounds differently. :func:`netlist_number` replicates ``INPevaluate``'s arithmetic
and :func:`exact_expression` writes a double as ``m/2^k``, which the front end evaluates exactly; a number
of at most 16 digits needs no arithmetic at all: :func:`plain_alter_text` rewrites it with an integer
mantissa, which both parsers read alike. At start-up :func:`calibrate` checks all three against the
library on a deck of every alterable element kind.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import re
import signal
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

#: The child's exit status when libngspice cannot be loaded.
NOT_FOUND = 3
#: ngspice raises a smaller resistance to this (Ω), with a warning that an alter would not repeat
MIN_RESISTANCE = 1e-12
#: element letter → (position of its value among the line's tokens, the instance parameter alter sets)
ALTERABLE = {"r": (3, "resistance"), "c": (3, "capacitance"), "l": (3, "inductance"), "v": (3, "dc"),
             "i": (3, "dc"), "e": (5, "gain"), "g": (5, "gain")}

# ---------------------------------------------------------------------------------------------------
# Numbers as ngspice reads them, and alter values that give the same doubles

#: (a ``d`` exponent is left out: ngspice's netlist tokenizer reads ``15d-3`` as two tokens)
_PLAIN_NUMBER = re.compile(r"([+-]?)(\d*)(?:(\.)(\d*))?(?:[eE]([+-]?\d+))?", re.ASCII)
#: digits of a mantissa whose integer value is below 2**53: accumulated exactly in a double
_EXACT_DIGITS = 15


def netlist_number(token: str) -> float | None:
    """The double ngspice's netlist parser (``INPevaluate``) makes of ``token``, or None when ``token``
    is not a plain number (a scale suffix such as ``1k``, an expression, a name).

    A replica of its arithmetic, step for step: ``mantissa = 10·mantissa + digit`` in double precision
    (exact while below 2**53; the 16th and 17th digits of a round-trip repr round), then
    ``sign·mantissa · pow(10, exponent)`` with the exponent counting the fraction's digits."""
    match = _PLAIN_NUMBER.fullmatch(token)
    if match is None:
        return None
    sign_text, whole, point, fraction, exponent = match.groups()
    digits = whole + (fraction or "")
    if not digits:
        return None
    sign = -1.0 if sign_text == "-" else 1.0
    mantissa = float(int(digits[:_EXACT_DIGITS]))
    for ch in digits[_EXACT_DIGITS:]:
        mantissa = (10.0 * mantissa + ord(ch)) - 48.0  # C: 10 * mantis + *here - '0', left to right
    if exponent is None and not fraction:  # "12", "12.": returned before any power of ten
        return mantissa * sign
    power = -len(fraction or "") + (int(exponent) if exponent is not None else 0)
    try:
        return (sign * mantissa) * math.pow(10.0, float(power))
    except OverflowError:  # C's pow gives inf: no value alter could repeat
        return None


#: the decimal exponents a plain alter value may span: its double is then normal and finite
_PLAIN_DECADES = (-300, 300)
#: the smallest decade of a plainly altered resistance: clear of the clamp at MIN_RESISTANCE
_PLAIN_MIN_RESISTANCE_DECADE = -11


def plain_alter_text(token: str, kind: str) -> str | None:
    """``token``, a plain number of an element line of kind ``kind`` (``"r"``, ``"v"``…), as an integer
    mantissa and a power of ten (``-2052536017837423e-15`` for ``-2.052536017837423``) that ngspice's
    front end (``alter``) reads as the very double its netlist parser reads ``token`` as; None when that
    cannot be promised, and the exact form (:func:`exact_expression`) must serve.

    The netlist parser accumulates every digit into one mantissa and multiplies it once by
    ``pow(10, exponent)``; the front end does the same with an integer mantissa, but adds a fraction's
    digits separately (which rounds differently). With at most 16 significant digits, their value plus 48
    below 2**53, the mantissa is exact in both, so both compute the same product. Values within 300
    decades of 1 (no subnormal, no overflow; a resistance clear of ngspice's clamp) only. A plain value
    costs ngspice about half an ``m/2^k`` one to read (measured, ngspice-46: 5.8 µs against 10.7 µs per
    alter)."""
    match = _PLAIN_NUMBER.fullmatch(token)
    if match is None:
        return None
    sign, whole, _, fraction, exponent = match.groups()
    fraction = fraction or ""
    digits = (whole + fraction).lstrip("0")
    # the netlist parser adds a digit's character code and then takes off '0' (48): its sums stay exact
    # while they stay below 2**53
    if not digits or len(digits) > 16 or (len(digits) == 16 and int(digits) + 48 >= 1 << 53):
        return None
    power = (int(exponent) if exponent is not None else 0) - len(fraction)
    decade = len(digits) - 1 + power
    if not _PLAIN_DECADES[0] <= decade <= _PLAIN_DECADES[1]:
        return None
    if kind == "r" and decade < _PLAIN_MIN_RESISTANCE_DECADE:
        return None
    return f"{'-' if sign == '-' else ''}{digits}" + (f"e{power}" if power else "")


def exact_expression(value: float) -> str | None:
    """``value`` as ``m/2^k`` (or ``m*2^k``) with integer ``m`` (|m| < 2**53), which ngspice's front end
    (``alter``) evaluates to exactly ``value``; None for zero, subnormal or non-finite values."""
    if value == 0.0 or not math.isfinite(value) or abs(value) < 2.2250738585072014e-308:
        return None
    fraction, exponent = math.frexp(value)
    mantissa, exponent = int(fraction * (1 << 53)), exponent - 53
    zeros = (abs(mantissa) & -abs(mantissa)).bit_length() - 1
    mantissa, exponent = mantissa >> zeros if mantissa > 0 else -((-mantissa) >> zeros), exponent + zeros
    if exponent >= 0:
        return f"{mantissa}*2^{exponent}"
    if exponent < -1022:  # 2^-exponent would overflow: two exact divisions (the first stays normal)
        return f"{mantissa}/2^1022/2^{-exponent - 1022}"
    return f"{mantissa}/2^{-exponent}"


# ---------------------------------------------------------------------------------------------------
# libngspice through ctypes


class _VectorInfo(ctypes.Structure):
    _fields_ = [("v_name", ctypes.c_char_p), ("v_type", ctypes.c_int), ("v_flags", ctypes.c_short),
                ("v_realdata", ctypes.POINTER(ctypes.c_double)), ("v_compdata", ctypes.c_void_p),
                ("v_length", ctypes.c_int)]


#: ngspice's vector types (simulation_types) that the raw file names v(…) and i(…)
_VOLTAGE, _CURRENT = 3, 4
#: plot types whose raw-file name (read_raw's analysis) is not the type itself
_ANALYSIS = {"tf": "transfer", "sens": "sensitivity", "pz": "pole-zero", "disto": "distortion"}

_SEND_CHAR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_SEND_STAT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_EXIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_bool, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p)
_BG_RUNNING = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p)


class _Library:
    """libngspice in this process: commands, circuits, plots; its console output collected per run."""

    def __init__(self) -> None:
        path = os.environ.get("NGSPICE_LIBRARY_PATH") or ctypes.util.find_library("ngspice")
        if not path:
            raise OSError("no libngspice shared library found (ctypes.util.find_library('ngspice'))")
        lib = ctypes.CDLL(path)
        lib.ngSpice_Command.argtypes = [ctypes.c_char_p]
        lib.ngSpice_Circ.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.ngGet_Vec_Info.argtypes = [ctypes.c_char_p]
        lib.ngGet_Vec_Info.restype = ctypes.POINTER(_VectorInfo)
        lib.ngSpice_AllPlots.restype = ctypes.POINTER(ctypes.c_char_p)
        lib.ngSpice_AllVecs.argtypes = [ctypes.c_char_p]
        lib.ngSpice_AllVecs.restype = ctypes.POINTER(ctypes.c_char_p)
        self.lib = lib
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.exiting = False
        self.has_circuit = False
        # kept referenced: ngspice calls them for the life of the process
        self._callbacks = (_SEND_CHAR(self._char), _SEND_STAT(lambda *_: 0), _EXIT(self._exit),
                           _BG_RUNNING(lambda *_: 0))
        send_char, send_stat, controlled_exit, bg_running = self._callbacks
        if lib.ngSpice_Init(send_char, send_stat, controlled_exit, None, None, bg_running, None) != 0:
            raise OSError("ngSpice_Init failed")
        self.command("set nomoremode")  # never page long output (it would wait for a key)

    def _char(self, message: bytes, _ident: int, _user: Any) -> int:
        text = message.decode("utf-8", errors="replace")
        stream, _, line = text.partition(" ")
        (self.stderr if stream == "stderr" else self.stdout).append(line)
        return 0

    def _exit(self, _status: int, _immediate: bool, _quit: bool, _ident: int, _user: Any) -> int:
        self.exiting = True  # ngspice cannot go on in this process
        return 0

    def command(self, text: str) -> int:
        return self.lib.ngSpice_Command(text.encode())

    def clear(self) -> None:
        self.stdout.clear()
        self.stderr.clear()

    def load(self, lines: list[str]) -> int:
        """Replace the held circuit by ``lines``; ngspice's return code."""
        if self.has_circuit:
            self.command("remcirc")
        self.clear()
        encoded = [line.encode() for line in lines] + [b""]  # ngspice wants a last, empty line
        array = (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)
        self.has_circuit = True
        return self.lib.ngSpice_Circ(array)

    def names(self, listed: Any) -> list[str]:
        out, i = [], 0
        while listed and listed[i]:
            out.append(listed[i].decode())
            i += 1
        return out

    def vector(self, name: str) -> _VectorInfo | None:
        info = self.lib.ngGet_Vec_Info(name.encode())
        return info.contents if info else None

    def results(self) -> tuple[list[dict[str, Any]], bytes]:
        """The run's plots in raw-file order (ngspice lists plots and vectors newest first), vectors
        named as ``ngspice -b -r`` names them, and their data as one block."""
        described, chunks = [], []
        for plot in reversed(self.names(self.lib.ngSpice_AllPlots())):
            if plot == "const":
                continue
            vectors = []
            self.command(f"setplot {plot}")
            for name in reversed(self.names(self.lib.ngSpice_AllVecs(plot.encode()))):
                info = self.vector(name)
                if info is None or info.v_length <= 0:
                    continue
                is_complex = not info.v_realdata
                size = info.v_length * (16 if is_complex else 8)
                chunks.append(ctypes.string_at(info.v_compdata if is_complex else info.v_realdata, size))
                vectors.append((_raw_name(name, info.v_type), is_complex, info.v_length))
            kind = re.sub(r"\d+$", "", plot)
            if kind == "noise" and not any(n == "frequency" for n, _, _ in vectors):
                kind = "integrated"
            described.append({"analysis": _ANALYSIS.get(kind, kind), "vectors": vectors})
        return described, b"".join(chunks)


def _raw_name(name: str, kind: int) -> str:
    """A vector's name in a raw file of ``ngspice -b -r``: ``v(node)``, ``i(source)``, ``time``…"""
    name = name.lower()
    if kind == _CURRENT:
        return f"i({name[:-7] if name.endswith('#branch') else name})"
    if kind == _VOLTAGE:
        return f"v({name})"
    return name


def _calibration_deck() -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """A deck with every alterable element kind at values across magnitudes (1e-11 … 1e13, 17-digit
    mantissas among them; for sources and gains also 1e-300 and 7e300), and per element: name,
    parameter, its value as written, a second value to alter it to."""
    import random

    draw = random.Random(20260415)

    def number() -> float:
        return draw.uniform(1.0, 10.0) * 10.0 ** draw.randint(-11, 12)

    # one per kind, in the order of "rclvieg"
    fixed = ["1.0", "0.1", "1e-09", "1e-300", "-7e+300", "1.2999999999999998", "9.855113040134106e-08"]
    lines, elements = ["* session calibration", "Vref nref 0 1.0"], []
    for k, text in enumerate(fixed + [repr(number()) for _ in range(49)]):
        kind = "rclvieg"[k % 7]
        other = number() if kind in "rcl" or k % 2 else -number()
        nodes = f"n{k} 0 nref 0" if kind in "eg" else f"n{k} 0"
        lines.append(f"{kind}{k} {nodes} {text}")
        elements.append((f"{kind}{k}", ALTERABLE[kind][1], text, repr(other)))
    return lines + [".op", ".end"], elements


def calibrate(ng: _Library) -> tuple[str, str]:
    """Why ``alter`` must not be used in this library, and why its plain values must not
    (:func:`plain_alter_text`; "" each when the parser replica and the alter values agree with what it
    reads for every element of the calibration deck: the exact form for every value, the plain form for
    each value, its 15- and 16-digit roundings and a fixed-point form with trailing zeros, that has one)."""
    lines, elements = _calibration_deck()
    ng.load(lines)

    def read(name: str, param: str) -> float | None:
        info = ng.vector(f"@{name}[{param}]")
        return info.v_realdata[0] if info is not None and info.v_realdata else None

    try:
        for name, param, text, _ in elements:
            got, want = read(name, param), netlist_number(text)
            if got != want:
                return f"ngspice read {name} = {text} as {got!r}, analogopt's replica of its parser gives {want!r}", ""
        for name, param, _, other in elements:
            want = netlist_number(other)
            ng.command(f"alter {name} {param} = {exact_expression(want)}")
            got = read(name, param)
            if got != want:
                return f"alter {name} {param} = {exact_expression(want)} gave {got!r}, not {want!r}", ""
        for name, param, text, other in elements:
            for token in (text, other, f"{float(other):.15g}", f"{float(other):.16g}", f"{float(other):.12f}"):
                plain = plain_alter_text(token, name[0])
                if plain is None:
                    continue
                ng.command(f"alter {name} {param} = {plain}")
                got, want = read(name, param), netlist_number(token)
                if got != want:
                    return "", f"alter {name} {param} = {plain} gave {got!r}, not {want!r} ({token} in a netlist)"
        return "", ""
    finally:
        ng.command("remcirc")
        ng.has_circuit = False
        ng.clear()


def _serve(ng: _Library, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    t0 = time.perf_counter()
    os.chdir(request["cwd"])
    ng.clear()
    loaded, returncode = True, 0
    if request["alter"] is not None and ng.has_circuit:
        for command in request["alter"]:
            ng.command(command)
        loaded = any(line.lower().startswith("error") for line in ng.stderr)  # ngspice refused one: reload
    if loaded:
        returncode = ng.load(request["text"].split("\n"))
    t1 = time.perf_counter()
    returncode = returncode or ng.command("run")
    t2 = time.perf_counter()
    described, blob = ng.results()
    ng.command("destroy all")
    timings = {"prepare_s": t1 - t0, "analysis_s": t2 - t1, "results_s": time.perf_counter() - t2}
    reply = {"stdout": "\n".join(ng.stdout), "stderr": "\n".join(ng.stderr), "returncode": int(returncode),
             "loaded": loaded, "fatal": ng.exiting, "plots": described, "timings": timings,
             "rss_bytes": resident_bytes()}
    return reply, blob


def resident_bytes() -> int:
    """This process's resident memory (bytes; 0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def main() -> None:
    """The child's body (module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the parent's to answer
    conn = Connection(int(sys.argv[1]))
    try:
        ng = _Library()
    except (OSError, AttributeError) as exc:  # no library, or one without the shared API
        conn.send_bytes(json.dumps({"missing": f"{type(exc).__name__}: {exc}"}).encode())
        sys.exit(NOT_FOUND)
    ng.clear()
    ng.command("version -f")
    banner = "\n".join(ng.stdout)
    refused, plain_refused = calibrate(ng)
    conn.send_bytes(json.dumps({"banner": banner, "alter_refused": refused, "plain_refused": plain_refused,
                                "rss_bytes": resident_bytes()}).encode())
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:  # the parent is gone
            return
        if request.get("quit"):
            return
        if os.fstat(2).st_size:  # the log holds what ngspice wrote itself during this run only
            os.ftruncate(2, 0)
        reply, blob = _serve(ng, request)
        conn.send_bytes(json.dumps(reply).encode())
        conn.send_bytes(blob)
        if ng.exiting:
            return


if __name__ == "__main__":
    main()
