"""Turn ngspice's console output into typed errors with a node name and a suggestion.

ngspice prints many informational lines ("Note:", "Using SPARSE 1.3", gmin and source stepping
progress, "Reference value" progress); those are never errors. Only specific failure messages are.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConvergenceError, NetlistError, SimulationError

_NODE_PATTERNS = [
    re.compile(r'trouble with node "?([^"\s]+)"?', re.I),
    re.compile(r"check nodes? ([^\s]+)(?: and ([^\s]+))?", re.I),
    re.compile(r"singular matrix:.*?node ([^\s]+)", re.I),
]

_NETLIST_FAILURES = [
    (re.compile(r"unknown subckt:?(.*)", re.I), "unknown subcircuit; define it with .subckt or .include its file"),
    (re.compile(r"could not find a valid modelname(.*)", re.I), "unknown model; define it with .model or .include its library"),
    (re.compile(r"unknown model type(.*)", re.I), "unknown model type"),
    (re.compile(r"(?:error on line|error: mismatch|syntax error)(.*)", re.I), "netlist syntax error"),
    (re.compile(r"undefined (?:parameter|function)(.*)", re.I), "undefined parameter or function"),
    (re.compile(r"there aren't any circuits loaded()", re.I), "ngspice could not load the circuit"),
]

_CONVERGENCE_FAILURES = [
    re.compile(r"timestep too small", re.I),
    re.compile(r"transient solution failed", re.I),
    re.compile(r"gmin stepping failed", re.I),
    re.compile(r"source stepping failed", re.I),
    re.compile(r"iteration limit reached", re.I),
    re.compile(r"operating point failed", re.I),
    re.compile(r"no convergence in dc", re.I),
]

_FATAL = re.compile(r"timestep too small|transient solution failed|simulation\(s\) aborted|analysis failed", re.I)

_SUGGESTION = (
    "try: lower the comparator or amplifier gain at that node, loosen .options reltol (e.g. 1e-3), "
    "use .options method=gear, or give the node a DC path to ground"
)

_INFORMATIONAL = re.compile(
    r"^(note:|using sparse|trying gmin|trying source|warning: further gmin|supplies reduced|reference value|"
    r"doing analysis|no\. of data|total (analysis|elapsed)|circuit:|binary raw|ascii raw|\s*$)",
    re.I,
)


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


def raise_for_output(
    *, stdout: str, stderr: str, returncode: int | None, netlist: Path, run_dir: Path | None, raw_exists: bool
) -> None:
    """Raise the most specific error the output supports; return quietly on success."""
    text = f"{stdout}\n{stderr}"
    context = dict(run_dir=run_dir, returncode=returncode, stdout=stdout, stderr=stderr)
    for pattern, what in _NETLIST_FAILURES:
        match = pattern.search(text)
        if match:
            detail = match.group(1).strip(" :")
            raise NetlistError(f"{what}{f' ({detail})' if detail else ''} (netlist {netlist})")
    # gmin/source stepping failures are often rescued by the next strategy: they only explain a run
    # that actually failed.
    failed = returncode not in (0, None) or not raw_exists or _FATAL.search(text) is not None
    if not failed:
        return
    for pattern in _CONVERGENCE_FAILURES:
        if pattern.search(text):
            node = failed_node(text)
            where = f"at node {node}" if node else "(ngspice named no node)"
            reason = pattern.pattern.replace("\\", "")
            raise ConvergenceError(
                f"simulation did not converge {where}: {reason}; {_SUGGESTION} (netlist {netlist})",
                node=node,
                **context,
            )
    errors = [line.strip() for line in text.splitlines() if line.strip().lower().startswith("error")]
    detail = errors[-1] if errors else f"exit status {returncode}, raw file {'written' if raw_exists else 'missing'}"
    raise SimulationError(f"ngspice failed: {detail} (netlist {netlist})", **context)
