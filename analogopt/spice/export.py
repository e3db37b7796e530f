"""Export a flat ngspice netlist as a standalone, hierarchical, parameterized netlist set.

Input: the flat netlist analogopt simulates (``deck.format()``). Output (all relative paths)::

    testbench.cir   title, ``.lib models.lib nominal``, ``.include blocks.cir``, ``.param`` lines,
                    one ``X`` instance per block, the stimulus sources, options, saves and analyses
    blocks.cir      one ``.subckt`` per block (and the macromodel subcircuits the design uses)
    models.lib      the ``.model`` cards in section ``nominal``: swap in a PDK's corner section with
                    ``.lib models.lib <corner>`` (or another file)
    README.md       blocks with their ports, parameters, analyses, how to run

A user's op-amp (bring your own block) is inlined in the flat netlist between ``*@analogopt user-block``
marker comments; the export leaves that text out and writes the ``.lib``/``.include`` lines the markers
carry (``blocks/FILE``) into ``testbench.cir`` instead; the caller copies the files there
(:func:`analogopt.blocks.user_block.copy_user_files`, :attr:`ExportedNetlist.user_blocks`).

Blocks are found from element names, which analogopt's generators give a block prefix: the element's
name without its type letter, up to the first ``_``, with digits removed (``Glp0_s1_drive`` → ``lp``,
``Gx_3_1`` → ``x``, ``Bq17`` → ``q``). Independent sources and XSPICE sources stay in the testbench (they are
stimuli),
and so do behavioral sources that read a branch current. A node is a block's port when another block,
the testbench or a ``.save`` uses it (every node, when the netlist keeps ngspice's default of saving all
voltages); the others are internal. Ground ``0`` is global.

Parameters: for each block and element *role* (the name with its indices removed, ``Clp_s2_hold``), a
value that every element of the role shares becomes one ``.param``; a role of at most
:data:`MAX_PER_ELEMENT_PARAMS` elements with differing values gets one ``.param`` per element (initial
weights, per-weight time constants); larger arrays of distinct values (crossbar conductances: data, not
knobs) stay literal. Values are written with ``repr`` so the exported circuit is numerically the same.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import NetlistError
from .netlist import validate_name

#: Comment prefix fencing an inlined user op-amp in a flat netlist (analogopt.blocks.user_block.MARK).
USER_MARK = "*@analogopt"

#: Roles with more distinct values than this stay literal (see the module docstring).
MAX_PER_ELEMENT_PARAMS = 64

_VREF = re.compile(r"\bv\(\s*([A-Za-z0-9_.#:]+)\s*(?:,\s*([A-Za-z0-9_.#:]+)\s*)?\)", re.I)
_IREF = re.compile(r"\bi\(", re.I)
#: Element letter → index of the value token in ``NAME n1 n2 … value`` (linear forms only).
_VALUE_INDEX = {"r": 3, "c": 3, "l": 3, "g": 5, "e": 5, "f": 4, "h": 4}
_NODE_COUNT = {"r": 2, "c": 2, "l": 2, "g": 4, "e": 4, "f": 2, "h": 2, "v": 2, "i": 2, "b": 2, "d": 2, "q": 3,
               "m": 4, "j": 3, "k": 0, "s": 4, "w": 2}
_KIND_OF = {"r": "resistance (ohm)", "c": "capacitance (F)", "l": "inductance (H)", "g": "transconductance (S)",
            "e": "voltage gain (V/V)", "f": "current gain (A/A)", "h": "transresistance (ohm)"}


@dataclass
class Element:
    line: str
    name: str
    nodes: list[str]
    block: str | None  # None: stays in the testbench


@dataclass
class ExportedNetlist:
    """The files of an export (name → text) and what the README lists."""

    files: dict[str, str]
    blocks: dict[str, list[str]] = field(default_factory=dict)      # block → ports
    parameters: dict[str, tuple[float, str]] = field(default_factory=dict)  # name → (value, meaning)
    analyses: list[str] = field(default_factory=list)
    #: user op-amps (bring your own block) the netlist inlined: their files must be copied beside it
    user_blocks: list[str] = field(default_factory=list)


def block_of(name: str) -> str:
    """``Glp0_s1_drive`` → ``lp`` (see the module docstring)."""
    body = name[1:].split("_", 1)[0]
    return re.sub(r"\d+", "", body).lower() or name[0].lower()


def role_of(name: str) -> str:
    """``Glp0_s1_drive`` → ``Glp_s1_drive``; ``Gx_3_1`` → ``Gx``; ``Bq17`` → ``Bq``."""
    parts = name.split("_")
    parts[0] = re.sub(r"\d+$", "", parts[0])
    while len(parts) > 1 and parts[-1].isdigit():
        parts.pop()
    return "_".join(parts)


def _elements(lines: list[str]) -> list[Element]:
    out = []
    for line in lines:
        tokens = line.split()
        name = tokens[0]
        letter = name[0].lower()
        if letter == "x":
            nodes = tokens[1:-1]
            nodes = [t for t in nodes if "=" not in t]
        elif letter == "a":  # XSPICE: ``aNAME %v([n1 n2 …]) model``, its ports in brackets
            nodes = [t for t in re.split(r"[\s\[\]()]+", " ".join(tokens[1:-1])) if t and not t.startswith("%")]
        else:
            nodes = tokens[1: 1 + _NODE_COUNT.get(letter, 2)]
        if letter in "via" or (letter == "b" and _IREF.search(line)):  # stimuli (an XSPICE source too)
            block = None
        else:
            block = block_of(name)
        out.append(Element(line, name, nodes, block))
    return out


def _expression_nodes(line: str) -> set[str]:
    found = set()
    for a, b in _VREF.findall(line):
        found.add(a.lower())
        if b:
            found.add(b.lower())
    return found


def export_netlist(flat: str, *, title: str | None = None, block_titles: Mapping[str, str] | None = None,
                   models_file: str = "models.lib", section: str = "nominal") -> ExportedNetlist:
    """Split the flat netlist text ``flat`` into the exported files (see the module docstring)."""
    block_titles = dict(block_titles or {})
    lines: list[str] = []
    for ln in flat.splitlines():
        if ln.startswith("+") and lines:
            lines[-1] += " " + ln[1:].strip()  # SPICE continuation lines: one logical line
        elif ln.strip():
            lines.append(ln)
    if not lines or not lines[-1].strip().lower().startswith(".end"):
        raise NetlistError("export needs a complete flat netlist ending in .end")
    head = lines[0].lstrip("* ").strip() if lines[0].startswith("*") else "analogopt export"
    title = title or head
    body = lines[1:-1] if lines[0].startswith("*") else lines[:-1]
    element_lines, subckts, models, directives, analyses = [], [], [], [], []
    saves: set[str] = set()
    inside: list[str] | None = None
    # a user's op-amp is inlined in the flat netlist between marker comments that carry the .lib/.include
    # lines naming its files (analogopt.blocks.user_block): the export references the copied files
    # instead, so that the user's own text, corners and all, stays as they wrote it
    user_refs: list[str] = []
    user_blocks: list[str] = []
    in_user: bool = False
    for line in body:
        low = line.strip().lower()
        if line.startswith(USER_MARK):
            words = line[len(USER_MARK):].split()
            if words[:2] == ["user-block", "begin"]:
                in_user = True
                user_blocks.append(words[2])
            elif words[:2] == ["user-block", "end"]:
                in_user = False
            elif words and words[0].startswith(".") and " ".join(words) not in user_refs:
                user_refs.append(" ".join(words))
            continue
        if in_user:
            continue
        if inside is not None:
            inside.append(line)
            if low.startswith(".ends"):
                subckts.append("\n".join(inside))
                inside = None
        elif low.startswith(".subckt"):
            inside = [line]
        elif low.startswith(".model"):
            models.append(line)
        elif low.startswith((".tran", ".op", ".dc", ".ac", ".noise", ".tf")):
            analyses.append(line)
        elif low.startswith(".save"):
            directives.append(line)
            saves |= _expression_nodes(line)
        elif low.startswith(".title") or low.startswith("*"):
            continue
        elif low.startswith("."):
            directives.append(line)
        else:
            element_lines.append(line)
    elements = _elements(element_lines)

    # Which blocks touch which nodes (directly, or read through v() in an expression).
    users: dict[str, set[str]] = defaultdict(set)
    for e in elements:
        owner = e.block or "<testbench>"
        for n in set(n.lower() for n in e.nodes) | _expression_nodes(e.line):
            users[n].add(owner)
    for n in saves:
        users[n].add("<testbench>")
    if not any(d.lower().startswith(".save") for d in directives):
        # ngspice then writes every top-level node voltage: keep them all at the top level (as ports)
        for n in users:
            users[n].add("<testbench>")

    by_block: dict[str, list[Element]] = defaultdict(list)
    for e in elements:
        if e.block is not None:
            by_block[e.block].append(e)

    params: dict[str, tuple[float, str]] = {}
    blocks: dict[str, list[str]] = {}
    subckt_texts, instances = [], []
    for block, members in by_block.items():
        sub = validate_name(f"{block}_block", "block name")
        touched = set()
        for e in members:
            touched |= set(n.lower() for n in e.nodes) | _expression_nodes(e.line)
        ports = sorted((n for n in touched if n != "0" and len(users[n]) > 1), key=_natural)
        blocks[sub] = ports
        rewritten = _parameterize(members, block, params)
        text = [f"* {block_titles.get(block, f'block {block!r}')}: {len(members)} elements",
                f".subckt {sub} {' '.join(ports)}".rstrip(), *rewritten, f".ends {sub}"]
        subckt_texts.append("\n".join(text))
        instances.append(f"X{sub} {' '.join(ports)} {sub}")

    # Macromodel subcircuits the design already had: their element values become parameters too.
    subckts = [_parameterize_subckt(text, params) for text in subckts]
    testbench = [f"* {title}", "* exported by analogopt: standalone, hierarchical, parameterized; run with",
                 "*   ngspice -b -r out.raw testbench.cir", f".lib {models_file} {section}", ".include blocks.cir",
                 *user_refs, ""]
    testbench += ["* tunable values (see README.md)"]
    testbench += [f".param {name}={value!r}" for name, (value, _) in params.items()]
    testbench += ["", "* blocks", *instances, "", "* stimuli (independent sources) and testbench elements"]
    testbench += [e.line for e in elements if e.block is None]
    testbench += ["", *directives, *analyses, ".end"]
    blocks_text = ["* blocks of the exported design (included by testbench.cir)", *subckts, *subckt_texts]
    models_text = [f"* model cards; sections selected with .lib {models_file} SECTION", f".lib {section}",
                   *(models or ["* (this design uses no device models)"]), f".endl {section}"]
    files = {
        "testbench.cir": "\n".join(testbench) + "\n",
        "blocks.cir": "\n\n".join(blocks_text) + "\n",
        models_file: "\n".join(models_text) + "\n",
    }
    return ExportedNetlist(files=files, blocks=blocks, parameters=params, analyses=analyses, user_blocks=user_blocks)


def _natural(node: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", node)]


def _parameterize_subckt(text: str, params: dict[str, tuple[float, str]]) -> str:
    lines = text.splitlines()
    name = validate_name(lines[0].split()[1], "subcircuit name")
    body = [i for i, ln in enumerate(lines[1:-1], 1) if ln.strip() and ln.strip()[0].isalpha()]
    members = _elements([lines[i] for i in body])
    for i, new in zip(body, _parameterize(members, name, params, prefix=f"{name}_")):
        lines[i] = new
    return "\n".join(lines)


def _parameterize(members: list[Element], block: str, params: dict[str, tuple[float, str]],
                  prefix: str = "") -> list[str]:
    """Element lines with tunable values replaced by ``{param}`` references (``params`` is filled)."""
    slots: dict[str, list[tuple[int, int, float]]] = defaultdict(list)  # role/field → (member, token, value)
    tokens = [m.line.split() for m in members]
    for k, (m, toks) in enumerate(zip(members, tokens)):
        letter = m.name[0].lower()
        index = _VALUE_INDEX.get(letter)
        if index is not None and len(toks) > index and "=" not in toks[index]:
            value = _float(toks[index])
            if value is not None:
                slots[f"{role_of(m.name)}|{letter}"].append((k, index, value))
        for j, tok in enumerate(toks):
            if tok.lower().startswith("ic="):
                value = _float(tok[3:])
                if value is not None:
                    slots[f"{role_of(m.name)}|ic"].append((k, j, value))
    for key, entries in slots.items():
        role, what = key.split("|")
        meaning = "initial condition (V)" if what == "ic" else _KIND_OF[what]
        suffix = "_ic" if what == "ic" else ""
        values = {v for _, _, v in entries}
        if len(values) == 1:
            name = _param_name(f"{prefix}{role}{suffix}", params)
            params[name] = (entries[0][2], f"{meaning} of every {role} in block {block} ({len(entries)})")
            for k, j, _ in entries:
                tokens[k][j] = ("ic=" if what == "ic" else "") + "{" + name + "}"
        elif len(entries) <= MAX_PER_ELEMENT_PARAMS:
            for k, j, value in entries:
                name = _param_name(f"{prefix}{members[k].name}{suffix}", params)
                params[name] = (value, f"{meaning} of {members[k].name}")
                tokens[k][j] = ("ic=" if what == "ic" else "") + "{" + name + "}"
    return [" ".join(t) for t in tokens]


def _param_name(base: str, params: dict) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", base).lower()
    if name[0].isdigit():
        name = f"p_{name}"
    if name in params:
        raise NetlistError(f"export: parameter name {name!r} would be defined twice")
    return name


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def format_readme(exported: ExportedNetlist, *, title: str, scenario: str, notes: Mapping[str, str] = ()) -> str:
    """A short README: files, how to run, blocks and ports, parameters, analyses."""
    lines = [f"# {title}", "", f"Exported by `analogopt export {scenario}`: a standalone netlist set for your own "
             "simulator flow. No absolute paths: the directory can be moved anywhere.", "",
             "| file | contents |", "| --- | --- |",
             "| `testbench.cir` | top level: `.param` values, one instance per block, stimuli, options, analyses |",
             "| `blocks.cir` | one `.subckt` per block (and macromodels) |",
             "| `models.lib` | model cards in section `nominal` (`.lib models.lib nominal`): point this line at "
             "a PDK's corner section to swap corners |", "",
             "Run: `ngspice -b -r out.raw testbench.cir` (the same numbers as `analogopt run "
             f"{scenario}`).", ""]
    if notes:
        lines += [f"- {k}: {v}" for k, v in notes.items()] + [""]
    lines += ["## Blocks and ports", "", "| subcircuit | ports |", "| --- | --- |"]
    for name, ports in exported.blocks.items():
        shown = " ".join(ports[:24]) + (f" … ({len(ports)} ports)" if len(ports) > 24 else "")
        lines.append(f"| `{name}` | {shown or '(none)'} |")
    lines += ["", "## Parameters", "", "| parameter | value | meaning |", "| --- | --- | --- |"]
    for name, (value, meaning) in list(exported.parameters.items())[:200]:
        lines.append(f"| `{name}` | {value!r} | {meaning} |")
    if len(exported.parameters) > 200:
        lines.append(f"| … | | {len(exported.parameters) - 200} more in testbench.cir |")
    lines += ["", "Larger arrays of distinct values (crossbar conductances: the data) are written literally "
              "in `blocks.cir`.", "", "## Analyses", ""] + [f"- `{a}`" for a in exported.analyses] + [""]
    return "\n".join(lines)
