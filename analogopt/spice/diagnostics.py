"""Turn ngspice's console output into typed errors with a node name and a suggestion.

ngspice prints many informational lines ("Note:", "Using SPARSE 1.3", gmin and source stepping
progress, "Reference value" progress); those are never errors. Only specific failure messages are, and
only in the form ngspice itself prints them (ngspice-39's wording, e.g.
``doAnalyses: TRAN:  Timestep too small; …: trouble with node "b"``, ``Error: unknown subckt: x1 …``):
every pattern is matched at the start of a line.

ngspice also echoes user text: the title (``Circuit: <title>``) and, after a parse error, the offending
netlist line. A scenario titled "timestep too small" must not fail a healthy run, so before any pattern
is matched, :func:`ngspice_lines` drops every line that echoes the netlist: ``Circuit:`` lines, lines
equal to a netlist line (ngspice lower-cases its echoes), and the indented line after "Error on line N or
its substitute:" and its kin. That costs reading the netlist, so it is done only when the run failed or its
output holds a word of some failure message; a healthy run pays a few substring tests.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from ..errors import ConvergenceError, NetlistError, OutputError, SimulationError

_I = re.I
#: ngspice's own line prefixes: "doAnalyses: TRAN:  ", "Warning: ", "Error: " (any number of them).
#: Every pattern below is used with ``match`` on one line at a time, so it is anchored at the line's start.
_PREFIX = r"[ \t]*(?:[\w.]+:[ \t]+)*"

_NODE_PATTERNS = [
    re.compile(r'trouble with node "([^"\s]+)"', _I),
    re.compile(r"singular matrix:\s+check nodes? (\S+)(?: and (\S+))?", _I),
]
_SINGULAR = re.compile(r"singular matrix", _I)
_INSTANCE = re.compile(r"trouble with ([\w.]+)-instance ([^\s:;,]+)", _I)

_ERROR_ON_LINE = re.compile(r"[ \t]*Error on line (\d+) or its substitute:", _I)
#: ngspice-39 "Netlist line no. 2:"; ngspice-46 "Error in netlist line no. 3, new internal line no. 2:", whose
#: internal number is the deck's own line (its first counts a line ngspice adds)
_NUMPARAM_LINE = re.compile(r"[ \t]*(?:Error in )?Netlist line no\. (?:\d+, new internal line no\. )?(\d+):", _I)
#: ngspice-46's expression parser: "YYparse error, syntax error, in expression: parsing stopped at line 3"
_PARSE_STOPPED = re.compile(r"[ \t]*YYparse error, syntax error\b.*? at line (\d+)", _I)
_MODEL = re.compile(r"[ \t]*warning, can't find model '([^']*)'", _I)

# (pattern, what it means); group 1, when present, is the detail ngspice gave
_NETLIST_FAILURES = [
    (re.compile(r"[ \t]*Error: unknown subckt:[ \t]*(.*)$", _I),
     "unknown subcircuit; define it with .subckt or .include its file"),
    (re.compile(r"[ \t]*could not find a valid modelname()", _I),
     "unknown model; define it with .model or .include its library"),
    (re.compile(r"[ \t]*Unknown model type (\S+)", _I), "unknown model type"),
    (re.compile(r"[ \t]*Undefined parameter \[([^\]]*)\]", _I), "undefined parameter; define it with .param"),
    (re.compile(r"[ \t]*(?:Error: )?no such function(?: as)? '([^']*)'", _I), "undefined function"),
    (re.compile(_PREFIX + r"syntax error\b()", _I), "netlist syntax error"),
    (re.compile(r"[ \t]*YYparse error, syntax error\b()", _I), "netlist syntax error"),
    (re.compile(r"[ \t]*Error: (Mismatch of \S+ \.\.\. \S+ statements|\.subckt/\.ends not balanced)", _I),
     "unbalanced netlist blocks"),
    (re.compile(r"[ \t]*Error: Could not (?:find|open) (?:include|library) file[ \t]*(.*)$", _I),
     "missing include or library file; check the .include/.lib path"),
    (_ERROR_ON_LINE, "ngspice rejected a netlist line"),
    (_NUMPARAM_LINE, "ngspice rejected a netlist line"),
    (re.compile(r"[ \t]*Error: (?:there aren't any circuits loaded|circuit not parsed|no circuits loaded)()", _I),
     "ngspice could not load the circuit"),
]

# (pattern, the reason named in the message); they only explain a run that failed: gmin and source
# stepping failures are often rescued by the next strategy.
_CONVERGENCE_FAILURES = [
    (re.compile(_PREFIX + r"timestep too small|[ \t]*Error: Transient op failed, timestep too small", _I),
     "timestep too small"),
    (re.compile(_PREFIX + r"transient solution failed", _I), "transient solution failed"),
    (re.compile(_PREFIX + r"dc solution failed", _I), "DC solution failed"),
    (re.compile(_PREFIX + r"(?:dynamic |true |spice3 )?gmin stepping failed", _I), "gmin stepping failed"),
    (re.compile(_PREFIX + r"source stepping failed", _I), "source stepping failed"),
    (re.compile(_PREFIX + r"(?:[\w-]+ )*iteration limit reached", _I), "iteration limit reached"),
    (re.compile(_PREFIX + r"(?:ac |dc )?operating point failed", _I), "operating point failed"),
    (re.compile(_PREFIX + r"no convergence", _I), "no convergence"),
]

#: Lines that mean the run failed whatever the exit status and the raw file say.
_FATAL = re.compile(
    r"[ \t]*(?:\w+ )?simulation\(s\) aborted|" + _PREFIX + r"simulation aborted|"
    r"[ \t]*run simulation interrupted|"  # ngspice pauses a run it cannot write (a full disk), exit 0
    + _PREFIX + r"timestep too small|" + _PREFIX + r"transient solution failed|"
    r"[ \t]*Simulation interrupted due to error|[ \t]*ERROR: fatal error in ngspice|"
    r"[ \t]*Error: ngspice\.dll cannot recover|"
    r"[ \t]*Error: unknown subckt:|[ \t]*Error on line \d+ or its substitute:|"
    r"[ \t]*Error: (?:there aren't any circuits loaded|circuit not parsed|no circuits loaded)",
    _I,
)

#: ngspice could not write its output: a full disk, a quota, a file-size limit (searched in a line).
_WRITE_FAILURE = re.compile(r"^[ \t]*Warning: rawfile write error|No space left on device|Disk quota exceeded|"
                            r"File too large", _I)

#: Every pattern above holds one of these words: a healthy run's output (none of them, or only in a
#: title) is cleared by substring tests, microseconds, where one multi-line regex scan takes a millisecond.
_KEYWORDS = ("error", "unknown", "modelname", "undefined", "no such", "netlist line", "timestep", "failed",
             "limit", "convergence", "abort", "interrupted", "no space", "quota", "too large")


def _first(pattern: re.Pattern, lines: list[str]) -> tuple[int, re.Match] | None:
    """The first line of ``lines`` that ``pattern`` matches at its start, with its index."""
    for i, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            return i, match
    return None


#: ngspice introduces an echoed netlist line with these; the indented line after them is the echo.
_ECHO_INTRODUCER = re.compile(
    r"(?:or its substitute:|from line|in line|^Error on line:|^Error: Bad syntax in line:|^Check line)\s*$", re.I
)

_SUGGESTION = (
    "try: lower the comparator or amplifier gain at that node, loosen .options reltol (e.g. 1e-3), "
    "use .options method=gear, or give the node a DC path to ground"
)

#: ngspice's sign-off after an error it already named
_STOPPED = re.compile(r"simulation interrupted due to error", re.I)

_INFORMATIONAL = re.compile(
    r"^(note:|using sparse|using klu|trying gmin|trying source|warning: further gmin|supplies reduced|reference value|"
    r"doing analysis|no\. of data|total (analysis|elapsed)|circuit:|binary raw|ascii raw|\s*$)",
    re.I,
)

#: How messages cite a temporary run, whose files are removed when it ends.
NOT_KEPT = "temporary run directory removed; pass run_dir= to keep the netlist and ngspice's output"

#: Less free space than this after ngspice failed to write means the disk is full (ngspice writes in
#: stdio blocks; a file system also keeps some blocks back).
_FULL_BYTES = 1 << 20


def _normal(line: str) -> str:
    return " ".join(line.split()).lower()


def ngspice_lines(text: str, netlist_text: str) -> list[str]:
    """The lines of ngspice's output ``text`` that ngspice wrote itself: without the echoed title
    (``Circuit: …``), without lines equal to a line of ``netlist_text`` (case and spacing aside), and
    without the netlist line ngspice quotes after "Error on line N or its substitute:" and its kin
    (ngspice reformats those, so they need not equal the netlist line)."""
    echoed = {_normal(line) for line in netlist_text.splitlines()}
    echoed.discard("")
    kept: list[str] = []
    after_introducer = False
    for line in text.splitlines():
        stripped = line.strip()
        if after_introducer and line[:1] in (" ", "\t"):
            after_introducer = False
            continue
        after_introducer = stripped.endswith((":", "line")) and _ECHO_INTRODUCER.search(stripped) is not None
        if stripped.lower().startswith("circuit:") or _normal(stripped) in echoed:
            continue
        kept.append(line)
    return kept


def failed_node(text: str) -> str | None:
    """The node ngspice blamed in ``text``, or None."""
    for pattern in _NODE_PATTERNS:
        matches = list(pattern.finditer(text))
        if matches:
            return matches[-1].group(1).strip('".,')
    return None


def warnings_of(text: str) -> list[str]:
    """Lines starting with ``Warning:`` (stepping chatter removed), in order, without duplicates."""
    seen: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.lower().startswith("warning:") and not _INFORMATIONAL.match(line) and line not in seen:
            seen.append(line)
    return seen


def _free_bytes(directory: Path | None) -> int | None:
    if directory is None:
        return None
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def disk_full(directory: Path | None) -> bool:
    """Is the file system holding ``directory`` (nearly) out of space? Asked only after a write failed."""
    free = _free_bytes(directory)
    return free is not None and free < _FULL_BYTES


def write_failure(raw: str, directory: Path | None, *, cause: str = "") -> OutputError:
    """The error for ngspice failing to write ``raw`` (its display name) in ``directory``: "no space
    left on device" when the file system there is (nearly) full, a write error otherwise."""
    free = _free_bytes(directory)
    if free is not None and free < _FULL_BYTES or "no space left" in cause.lower():
        left = f" ({_size(free)} free)" if free is not None else ""
        return OutputError(f"no space left on device writing {raw}{left}; free space or choose another --out")
    left = f", {_size(free)} free" if free is not None else ""
    why = f"{cause.strip()}{left}" if cause.strip() else f"write error{left}"
    return OutputError(f"ngspice could not write {raw} ({why}); check that file system or choose another --out")


def exit_status(returncode: int) -> str:
    """"exited with status 1", "was killed by SIGSEGV"."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _detail_for(own: list[str], match: re.Match, what: str) -> str:
    """What to add to ``what``: ngspice's detail (a name, the element line), the netlist line number
    and, for a rejected line, ngspice's reason (the line after the echoed netlist line, which
    :func:`ngspice_lines` has already dropped)."""
    located = _first(_ERROR_ON_LINE, own) or _first(_NUMPARAM_LINE, own) or _first(_PARSE_STOPPED, own)
    if what == "ngspice rejected a netlist line":
        if located is None:
            return ""
        index, where = located
        # the first non-blank line after the locator (ngspice-46 puts a blank line between)
        reason = next((" ".join(line.split()).strip(" :") for line in own[index + 1:index + 3] if line.strip()), "")
        return f"line {where.group(1)}" + (f": {reason}" if reason else "")
    detail = match.group(1).strip(" :") if match.groups() and match.group(1) else ""
    if not detail and "model" in what:
        model = _first(_MODEL, own)
        detail = model[1].group(1) if model else ""
    if not detail and what == "ngspice could not load the circuit":
        # ngspice said why before it gave up ("Error: too few nodes: x1 ( line no. 11", "Too few parameters
        # for subcircuit type …"): that is the news, not the "no circuits loaded" that follows it
        said = (" ".join(line.split()) for line in own if not _first(match.re, [line]))
        detail = next((re.sub(r"^error:\s*", "", line, flags=_I).strip(" :") for line in said
                       if not _INFORMATIONAL.match(line) and not _STOPPED.match(line)), "")
    parts = [detail] if detail else []
    if located is not None:
        parts.append(f"line {located[1].group(1)}")
    return ", ".join(parts)


def raise_for_output(
    *,
    stdout: str,
    stderr: str,
    returncode: int | None,
    netlist: Path,
    run_dir: Path | None,
    raw_exists: bool,
    netlist_text: str | None = None,
    where: str | None = None,
    raw: str | None = None,
) -> None:
    """Raise the most specific error the output supports; return quietly on success.

    ``netlist_text`` (read from ``netlist`` when not given) tells echoed lines from ngspice's own;
    ``where`` is how messages cite the run (default: ``netlist <path>``; a temporary run that is
    removed says so instead); ``raw`` names the raw file in write-failure messages.
    """
    text = f"{stdout}\n{stderr}"
    failed = returncode not in (0, None) or not raw_exists
    if not failed:
        lower = text.lower()
        if not any(word in lower for word in _KEYWORDS):
            return  # the common case: a healthy run
    if netlist_text is None:
        try:
            netlist_text = netlist.read_text(errors="replace")
        except OSError:
            netlist_text = ""
    own = ngspice_lines(text, netlist_text)
    own_text = "\n".join(own)
    where = where or f"netlist {netlist}"
    context = dict(run_dir=run_dir, returncode=returncode, stdout=stdout, stderr=stderr)
    fatal = _first(_FATAL, own)
    failed = failed or fatal is not None
    write = next((m for m in map(_WRITE_FAILURE.search, own) if m), None)
    if write is not None:
        error = write_failure(raw or "the raw file", run_dir, cause=write.group(0).strip())
        error.stdout, error.stderr, error.returncode = stdout, stderr, returncode
        raise error
    if not failed:
        return  # a message that some later step recovered from (gmin stepping rescued by source stepping)
    for pattern, what in _NETLIST_FAILURES:
        found = _first(pattern, own)
        if found:
            detail = _detail_for(own, found[1], what)
            error = NetlistError(f"{what}{f' ({detail})' if detail else ''} ({where})")
            error.stdout, error.stderr, error.returncode, error.run_dir = stdout, stderr, returncode, run_dir
            raise error
    for pattern, reason in _CONVERGENCE_FAILURES:
        if _first(pattern, own):
            node = failed_node(own_text)
            instance = _INSTANCE.search(own_text)
            advice = _SUGGESTION
            if node:
                at = f"at node {node}"
            elif instance:
                at = f"at {instance.group(1)} instance {instance.group(2)}"
            else:
                at = "(ngspice named no node)"
            # ngspice blamed the node only through a singular matrix: not a hard nonlinearity, the matrix has
            # no solution at all (a floating node, sources in a loop)
            if not _NODE_PATTERNS[0].search(own_text) and _SINGULAR.search(own_text):
                reason = "singular matrix"
                if node and node.lower().endswith("#branch"):
                    # the unknown is a voltage source's (or inductor's) current: sources in a loop
                    at = f"at the current of {node[:-len('#branch')]}"
                    advice = ("check for voltage sources or inductors in a loop or in parallel with it "
                              "(two sources driving one node pair fix its voltage twice)")
                else:
                    advice = "give the node a DC path to ground (a resistor), or remove the loop of voltage sources"
            raise ConvergenceError(
                f"simulation did not converge {at}: {reason}; {advice} ({where})", node=node, **context
            )
    errors = [line.strip() for line in own if line.strip().lower().startswith("error")]
    last = errors[-1] if errors else None
    if returncode is not None and returncode < 0:
        problem = f"ngspice was {exit_status(returncode)}" + (f" after: {last}" if last else "")
    elif returncode not in (0, None):
        problem = f"ngspice {exit_status(returncode)}: {last}" if last else (
            f"ngspice {exit_status(returncode)} and printed no error (raw file {'written' if raw_exists else 'missing'})")
    elif not raw_exists:
        problem = "ngspice exited with status 0 but wrote no raw file" + (f" ({last})" if last else "")
    else:
        problem = f"ngspice aborted the run: {last or (own[fatal[0]].strip() if fatal else 'no reason given')}"
    advice = "see its console output (the error's stdout/stderr)" if where == NOT_KEPT else (
        "see ngspice.out and ngspice.err beside the netlist")
    raise SimulationError(f"{problem}; {advice} ({where})", **context)
