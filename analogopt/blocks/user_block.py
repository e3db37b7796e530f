"""Bring your own block: a user's op-amp ``.subckt`` file and its model libraries in place of the built-in
macromodel of :mod:`analogopt.blocks.opamp`.

A scenario names the part in an op-amp table (``[circuit.opamp]`` of ``nf_single``, ``[settling.opamp]`` of
``crossbar_solve``)::

    subckt = "cm33.sub"                 # the file holding .subckt CM33 …
    name = "CM33"                       # the subcircuit to instantiate
    pins = ["inp", "inn", "out", "vdd", "vss"]   # the role of each pin, in the .subckt's order
    lib = [["cm33_models.lib", "tt"]]   # model libraries as (file, section) pairs: .lib FILE SECTION
    supply_v = 20.0                     # V across vdd − vss where the circuit has no supply of its own

Pin roles (:data:`PIN_ROLES`): ``inp``/``inn``/``out`` the non-inverting input, inverting input and
output (all three required); ``vdd``/``vss`` the positive and negative supply; ``ref`` a mid-supply
reference pin. Each circuit says which node each supply role connects to (:func:`supply_sources`).

Relative paths resolve against the scenario file's folder; references inside the files (``.include F``,
``.lib F SECTION``) against the folder of the file that holds them, as ngspice resolves them, and must
stay at or below it. Everything is checked once, when the scenario is read, and every failure is one
:class:`ConfigError` line naming the file: the file exists and is readable text, it defines
``.subckt NAME`` with as many pins as ``pins`` lists, each ``.lib`` section exists, and no file used
holds a ``.control``/``.endc`` block or a ``shell`` line (anywhere in it, used section or not) or an
analysis, output or option directive (in the parts the deck uses: analogopt owns those).

The files' text is **inlined** into every deck that uses the part, not referenced by ``.include``: decks
are written and run in many places (``OUT/spice/``, then moved to ``OUT/``; a crossbar's
``OUT/spice/settling/``; a sweep's temporary folders; libngspice, which reads the deck as lines with no
file of its own to resolve paths against), and an inlined deck runs the same in every one of them and
after the run directory is moved. The original files are copied, byte for byte, into the run directory's
``blocks/`` folder (:func:`copy_user_files`) and named, with their SHA-256, in the deck's comments and
in ``metrics.json``; the inlined region is fenced by ``*@analogopt`` marker comments that carry the
equivalent ``.lib``/``.include`` lines, which :mod:`analogopt.spice.export` writes in its place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import ACSweep, NetlistDeck, format_value

#: Roles a user op-amp's pins may take (see the module docstring).
PIN_ROLES: tuple[str, ...] = ("inp", "inn", "out", "vdd", "vss", "ref")
SIGNAL_PINS: tuple[str, ...] = ("inp", "inn", "out")
SUPPLY_PINS: tuple[str, ...] = ("vdd", "vss", "ref")
#: Keys of a user op-amp table.
TABLE_KEYS: frozenset[str] = frozenset({"subckt", "name", "pins", "lib", "supply_v"})
#: Folder of the run (and export) directory that holds the copies of the user's files.
BLOCKS_DIR = "blocks"
#: Largest user file read (bytes): a PDK library is a few MB; more is a wrong path, not a model.
MAX_FILE_BYTES = 32 * 2**20
#: Nesting depth of .include/.lib references followed before giving up (a cycle is caught earlier).
MAX_DEPTH = 16
#: Marker comments fencing an inlined user part in a deck (read by analogopt.spice.export).
MARK = "*@analogopt"

# ngspice accepts subcircuit names beyond SPICE's identifier rule (vendor parts: "OPA1612", "LT1001A",
# "AD8605-X"); these characters keep an X line one token per name
_SUBCKT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,63}")
_CONTROL_LINE = re.compile(r"^[ \t]*(\.control|\.endc|shell)", re.I | re.M)  # the deck's own rule, and .endc
#: Directives that would add analyses or output, or change the simulator's settings, behind the deck's back.
_FORBIDDEN = {".tran", ".ac", ".dc", ".op", ".noise", ".tf", ".pz", ".sens", ".disto", ".four", ".print", ".plot",
              ".probe", ".save", ".meas", ".measure", ".options", ".option", ".opt", ".temp", ".width", ".title"}
_INCLUDES = {".include", ".inc", ".incl"}
_REFERENCE = re.compile(r"""^\s*\S+\s+("[^"]*"|'[^']*'|\S+)(?:\s+(\S+))?""")


@dataclass(frozen=True)
class UserFile:
    """One user file as read once, at validation: the inlined text, the copy in the run directory and the
    checksum in the report all come from these bytes, so the record always matches what was simulated
    (an edit to the file afterwards, or a ``--force`` that deletes it, changes nothing).

    The bytes are held outside the dataclass fields (:meth:`of` sets them): ``dataclasses.asdict`` of the
    parts that hold a user op-amp goes into ``metrics.json``, and should carry its provenance, not its
    contents."""

    path: Path              # absolute
    record_name: str        # POSIX path of the copy, relative to blocks/
    sha256: str

    @classmethod
    def of(cls, path: Path, record_name: str, data: bytes) -> "UserFile":
        file = cls(path=path, record_name=record_name, sha256=hashlib.sha256(data).hexdigest())
        object.__setattr__(file, "_data", data)
        return file

    @property
    def data(self) -> bytes:
        return self._data

    @property
    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:  # vendor files often carry Latin-1 comments ("µA", "°C")
            return self.data.decode("latin-1")

    @property
    def copy_name(self) -> str:
        """Where the copy lies relative to the run directory (and to a netlist written there)."""
        return f"{BLOCKS_DIR}/{self.record_name}"


class _InlinedDefinition:
    """Stands in for a PySpice ``SubCircuit`` in ``circuit.subcircuit(...)``: PySpice only reads ``name``
    and ``str()`` of what it holds there, so the user's text is emitted verbatim where subcircuits go."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._text = text

    def __str__(self) -> str:
        return self._text


@dataclass(frozen=True)
class UserOpAmp:
    """A user's op-amp subcircuit, validated (build one with :func:`load_user_opamp` or
    :func:`user_opamp_from_table`).

    ``name``: the ``.subckt`` name; ``pins``: the role of each of its pins in order (:data:`PIN_ROLES`);
    ``source``: the file defining it; ``libs``: ``(file, section)`` model libraries; ``files``: every file
    read (the source, the libraries, anything they reference), each once; ``supply_v``: the total supply
    in V for circuits without a supply of their own (None: the circuit's own, or none needed).
    :attr:`definition_text`, the inlined deck text, is derived from the files and kept outside the fields.
    """

    name: str
    pins: tuple[str, ...]
    source: UserFile
    libs: tuple[tuple[UserFile, str], ...]
    files: tuple[UserFile, ...]
    supply_v: float | None = None

    #: what reports print where a built-in model prints its kind
    kind: ClassVar[str] = "user"

    @property
    def definition_text(self) -> str:
        """The deck text that defines the part: its libraries' sections and its file, inlined and fenced."""
        return self._definition

    @property
    def subcircuit_name(self) -> str:
        return self.name

    @property
    def supply_roles(self) -> tuple[str, ...]:
        """The supply pins (``vdd``, ``vss``, ``ref``) this part has, in pin order."""
        return tuple(p for p in self.pins if p in SUPPLY_PINS)

    def describe(self) -> str:
        """One line for reports: ``user part CM33 (blocks/cm33.sub, sha256 1a2b3c4d…)``."""
        return f"user part {self.name} ({self.source.copy_name}, sha256 {self.source.sha256[:12]}…)"

    def record(self) -> dict[str, Any]:
        """What ``metrics.json`` records: the part, its pins, every file's copy, origin and checksum."""
        return {
            "kind": "user", "name": self.name, "pins": list(self.pins),
            "file": self.source.copy_name, "sha256": self.source.sha256,
            "lib": [{"file": f.copy_name, "section": section} for f, section in self.libs],
            "files": [{"file": f.copy_name, "source": str(f.path), "sha256": f.sha256} for f in self.files],
            "supply_v": self.supply_v,
        }

    def register(self, circuit: Circuit) -> None:
        """Add the inlined definition (libraries and subcircuit) to ``circuit`` once."""
        if self.name not in circuit.subcircuit_names:
            circuit.subcircuit(_InlinedDefinition(self.name, self.definition_text))

    def nodes(self, inp: str, inn: str, out: str, supplies: Mapping[str, str]) -> list[str]:
        """The nodes of one instance in the subcircuit's pin order; ``supplies`` maps each supply role
        to the circuit's node for it."""
        signal = {"inp": inp, "inn": inn, "out": out}
        missing = [p for p in self.supply_roles if p not in supplies]
        if missing:
            have = ", ".join(sorted(supplies)) or "none"
            raise ConfigError(f"user op-amp {self.name}: pin role(s) {', '.join(missing)} have no node in this "
                              f"circuit (it provides {have}); change the part's pins")
        return [signal[p] if p in signal else str(supplies[p]) for p in self.pins]

    def instance_lines(self, names: Sequence[str], inps: Sequence[str], inns: Sequence[str], outs: Sequence[str],
                       supplies: Mapping[str, str]) -> str:
        """``X<name> <nodes in pin order> <subckt>`` for every instance, one line each."""
        self.nodes("inp", "inn", "out", supplies)  # the supply roles are checked once, not per instance
        order = [(p, str(supplies[p]) if p in SUPPLY_PINS else None) for p in self.pins]
        rows = []
        for n, a, b, o in zip(names, inps, inns, outs):
            signal = {"inp": a, "inn": b, "out": o}
            rows.append(f"X{n} {' '.join(signal[p] if node is None else node for p, node in order)} {self.name}\n")
        return "".join(rows)


# --------------------------------------------------------------------------------------------- loading
class _Loader:
    """Reads, checks and expands one part's files; every error names the file (and line)."""

    def __init__(self, where: str) -> None:
        self.where = where
        # keyed by (path, record name): a file that two references reach by different relative paths is
        # copied to both places, so that every reference in the copies still resolves
        self.files: dict[tuple[Path, str], UserFile] = {}
        self.records: dict[str, Path] = {}

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {message}")

    def read(self, path: Path, record_name: str, what: str) -> UserFile:
        """``path`` read and checked once per place it is copied to (``record_name`` under blocks/)."""
        record = PurePosixPath(record_name).as_posix()
        if (path, record) in self.files:
            return self.files[(path, record)]
        if not path.exists():
            raise self.fail(f"{what} {path}: no such file")
        if not path.is_file():
            raise self.fail(f"{what} {path}: not a regular file")
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise self.fail(f"{what} {path}: {size / 2**20:.0f} MiB is too large for a model file "
                                f"(limit {MAX_FILE_BYTES // 2**20} MiB)")
            data = path.read_bytes()
        except OSError as exc:
            raise self.fail(f"{what} {path}: cannot read: {exc.strerror}") from None
        if b"\0" in data:
            raise self.fail(f"{what} {path}: not a text file (it holds NUL bytes)")
        if record in self.records and self.records[record] != path:
            raise self.fail(f"{what} {path} and {self.records[record]} would both be copied to "
                            f"{BLOCKS_DIR}/{record}; rename one of them")
        file = UserFile.of(path, record, data)
        match = _CONTROL_LINE.search(file.text)
        if match is not None:
            line = file.text.count("\n", 0, match.start()) + 1
            raise self.fail(f"{what} {path}: line {line} holds a {match.group(1).lower()} line; a model file "
                            "must not contain .control blocks or shell commands")
        self.records[record] = path
        self.files[(path, record)] = file
        return file

    def nested(self, parent: UserFile, token: str, line: int) -> UserFile:
        """The file a reference on ``line`` of ``parent`` names, relative to ``parent``'s folder."""
        name = token.strip("\"'")
        rel = PurePosixPath(name.replace("\\", "/"))
        if not name or rel.is_absolute() or ".." in rel.parts:
            raise self.fail(f"{parent.path}: line {line} references {name!r}; references inside a model file must "
                            "name a file in its folder or below (no absolute paths, no '..'), so that the copy in "
                            f"{BLOCKS_DIR}/ stays whole; list other libraries in the table's lib = [[FILE, SECTION]]")
        record = PurePosixPath(parent.record_name).parent / rel
        return self.read(parent.path.parent.joinpath(*rel.parts), str(record), "referenced file")

    def expand(self, file: UserFile, section: str | None, stack: tuple[tuple[Path, str | None], ...] = ()) -> list[str]:
        """The lines ngspice would read from ``file`` (the whole file, or one ``.lib`` section), with every
        ``.include``/``.lib`` reference replaced by what it names."""
        key = (file.path, None if section is None else section.lower())
        if key in stack:
            raise self.fail(f"{file.path}: references itself" + (f" (section {section})" if section else ""))
        if len(stack) >= MAX_DEPTH:
            raise self.fail(f"{file.path}: references nest deeper than {MAX_DEPTH} levels")
        stack = (*stack, key)
        lines = file.text.splitlines()
        start, stop = 0, len(lines)
        if section is not None:
            start, stop = self._section(file, lines, section)
        out: list[str] = []
        skipping = False  # inside a section of a library read whole: ngspice reads sections only when asked
        for number in range(start, stop):
            line = lines[number]
            tokens = line.split()
            head = tokens[0].lower() if tokens else ""
            if skipping:
                skipping = not head.startswith(".endl")
                continue
            if head == ".lib" and len(tokens) == 2:
                if section is not None:
                    raise self.fail(f"{file.path}: line {number + 1}: section {tokens[1]} starts inside section "
                                    f"{section} (missing .endl)")
                skipping = True
                continue
            if head == ".lib" or head in _INCLUDES:
                match = _REFERENCE.match(line)
                target = self.nested(file, match.group(1), number + 1)
                if head == ".lib":
                    if match.group(2) is None:
                        raise self.fail(f"{file.path}: line {number + 1}: .lib needs FILE SECTION")
                    out += self.expand(target, match.group(2), stack)
                else:
                    out += self.expand(target, None, stack)
                continue
            if head == ".end":  # the rest of a file after .end is not read, by SPICE's rule
                break
            if head in _FORBIDDEN:
                raise self.fail(f"{file.path}: line {number + 1}: {tokens[0]} is not allowed in a model file "
                                "(analogopt writes the deck's analyses, outputs and options)")
            out.append(line)
        return out

    def _section(self, file: UserFile, lines: list[str], section: str) -> tuple[int, int]:
        """Line indices ``[start, stop)`` of section ``section``'s body (names compare case-insensitively)."""
        sections = []
        for number, line in enumerate(lines):
            tokens = line.split()
            if len(tokens) == 2 and tokens[0].lower() == ".lib":
                sections.append(tokens[1])
                if tokens[1].lower() == section.lower():
                    for end in range(number + 1, len(lines)):
                        if lines[end].strip().lower().startswith(".endl"):
                            return number + 1, end
                    raise self.fail(f"{file.path}: section {section} has no .endl")
        listed = ", ".join(sections) if sections else "none"
        raise self.fail(f"library {file.path}: no section {section!r} (sections: {listed})")


def _subckt_pins(lines: list[str], name: str) -> list[str] | None:
    """The pins of ``.subckt name`` in ``lines`` (continuation lines joined), None when it is not defined."""
    for number, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0].lower() == ".subckt" and tokens[1].lower() == name.lower():
            for more in lines[number + 1:]:
                if not more.startswith("+"):
                    break
                tokens += more[1:].split()
            pins = []
            for token in tokens[2:]:
                if token.lower().startswith("params:") or "=" in token:
                    break
                pins.append(token)
            return pins
    return None


def load_user_opamp(subckt: str | Path, name: str, pins: Sequence[str], libs: Sequence[tuple[str | Path, str]] = (),
                    *, supply_v: float | None = None, base_dir: Path | None = None,
                    where: str = "opamp") -> UserOpAmp:
    """Read and check a user op-amp (the module docstring lists the checks); ``base_dir`` resolves relative
    paths (default: the working directory); ``where`` prefixes every error message (the table's path).
    ``supply_v``: total supply in V (> 0) for circuits that power the part themselves."""
    loader = _Loader(where)
    base = Path.cwd() if base_dir is None else Path(base_dir)
    if not isinstance(name, str) or not _SUBCKT_NAME.fullmatch(name):
        raise loader.fail(f"name {name!r} is not a subcircuit name (letters, digits, '_', '.', '+', '-'; ≤ 64)")
    pins = tuple(pins)
    unknown = [p for p in pins if p not in PIN_ROLES]
    if unknown:
        raise loader.fail(f"pins: unknown role(s) {', '.join(map(repr, unknown))}; roles: {', '.join(PIN_ROLES)}")
    if len(set(pins)) != len(pins):
        raise loader.fail(f"pins: each role at most once, got {list(pins)}")
    absent = [p for p in SIGNAL_PINS if p not in pins]
    if absent:
        raise loader.fail(f"pins: an op-amp needs {', '.join(SIGNAL_PINS)}; {', '.join(absent)} missing")
    if supply_v is not None and not (isinstance(supply_v, (int, float)) and math.isfinite(supply_v) and supply_v > 0):
        raise loader.fail(f"supply_v must be a finite number > 0 V, got {supply_v!r}")

    def resolve(path: str | Path) -> Path:
        p = Path(path).expanduser()
        return (p if p.is_absolute() else base / p).absolute()

    source_path = resolve(subckt)
    source = loader.read(source_path, source_path.name, "subckt file")
    lib_entries = []
    for file, section in libs:
        lib_path = resolve(file)
        lib_entries.append((loader.read(lib_path, lib_path.name, "library"), str(section)))
    lib_lines = [(f, s, loader.expand(f, s)) for f, s in lib_entries]
    body = loader.expand(source, None)
    found = _subckt_pins(body, name)
    if found is None:
        defined = [t.split()[1] for t in body if len(t.split()) >= 2 and t.split()[0].lower() == ".subckt"]
        raise loader.fail(f"subckt file {source.path}: no .subckt {name} (it defines: {', '.join(defined) or 'none'})")
    if len(found) != len(pins):
        raise loader.fail(f"subckt file {source.path}: .subckt {name} has {len(found)} pins ({' '.join(found)}), but "
                          f"pins lists {len(pins)} ({' '.join(pins)})")
    head = [f"{MARK} user-block begin {name}",
            *(f"{MARK} .lib {f.copy_name} {s}" for f, s, _ in lib_lines),
            f"{MARK} .include {source.copy_name}",
            f"* user op-amp {name}, pins {' '.join(pins)}: inlined from the files below (copies in {BLOCKS_DIR}/)"]
    text = list(head)
    for f, s, lines in lib_lines:
        text += [f"* --- {f.copy_name} section {s} (sha256 {f.sha256})", *lines]
    text += [f"* --- {source.copy_name} (sha256 {source.sha256})", *body, f"{MARK} user-block end {name}"]
    # the .control check of the finished deck (NetlistDeck.format) sees this text too: a line of it that
    # slipped past the file checks would still be refused there
    part = UserOpAmp(name=name, pins=pins, source=source, libs=tuple((f, s) for f, s, _ in lib_lines),
                     files=tuple(loader.files.values()), supply_v=None if supply_v is None else float(supply_v))
    object.__setattr__(part, "_definition", "\n".join(text) + "\n")
    return part


def generated_opamp(name: str, pins: Sequence[str], subckt_text: str, preamble: Sequence[str], *,
                    supply_v: float, origin: str, exported_preamble: Sequence[str] = (),
                    links: Mapping[str, Path] | None = None) -> UserOpAmp:
    """A part whose subcircuit analogopt drew itself (a transistor-level op-amp): ``subckt_text`` defines
    ``.subckt name``; ``preamble`` holds the lines it needs before it (a PDK's ``.include``/``.lib`` lines
    and its ``.options temp``), which the simulated deck carries as they are. ``origin`` names the
    generator in the record. The subcircuit is the part's one file (``blocks/<name>.sub`` in a run
    directory). An exported netlist gets ``exported_preamble`` instead (the same lines naming folders by
    relative links) and :func:`copy_user_files` makes each of ``links`` (link name → folder) beside it."""
    data = subckt_text.encode()
    source = UserFile.of(Path("/") / "analogopt-generated" / f"{name}.sub", f"{name}.sub", data)
    found = _subckt_pins(subckt_text.splitlines(), name)
    if found is None or len(found) != len(pins):
        raise ValueError(f"generated subcircuit text does not define .subckt {name} with {len(pins)} pins")
    text = [f"{MARK} user-block begin {name}", *(f"{MARK} {line}" for line in exported_preamble),
            f"{MARK} .include {source.copy_name}",
            f"* generated op-amp {name} ({origin}), pins {' '.join(pins)}", *preamble,
            f"* --- {source.copy_name} (sha256 {source.sha256})", subckt_text.rstrip("\n"),
            f"{MARK} user-block end {name}"]
    part = UserOpAmp(name=name, pins=tuple(pins), source=source, libs=(), files=(source,), supply_v=float(supply_v))
    object.__setattr__(part, "_definition", "\n".join(text) + "\n")
    object.__setattr__(part, "_links", dict(links or {}))
    return part


def is_user_table(mapping: Mapping[str, Any]) -> bool:
    """Whether an op-amp table names a user part (it has ``subckt``) rather than a built-in model."""
    return isinstance(mapping, Mapping) and "subckt" in mapping


def user_opamp_from_table(table: Any, base_dir: Path | None = None) -> UserOpAmp:
    """A :class:`UserOpAmp` from a scenario table (an :class:`analogopt.values.Table`; keys in the module
    docstring); relative paths resolve against ``base_dir`` (the scenario file's folder)."""
    from ..values import Table

    if not isinstance(table, Table):
        table = Table(table, "opamp")
    table.reject_unknown(TABLE_KEYS)
    libs_raw = table.raw("lib", [])
    if not isinstance(libs_raw, list):
        raise table.error("lib", "must be a list of [FILE, SECTION] pairs, e.g. [[\"models.lib\", \"tt\"]]")
    libs = []
    for i, entry in enumerate(libs_raw):
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) and v for v in entry)):
            raise ConfigError(f"{table.path('lib')}[{i}]: must be a [FILE, SECTION] pair of strings, got {entry!r}")
        libs.append((entry[0], entry[1]))
    pins = table.strings("pins", min_len=3)
    supply = table.number("supply_v", unit="V", positive=True) if "supply_v" in table else None
    return load_user_opamp(table.string("subckt"), table.string("name"), pins, libs, supply_v=supply,
                           base_dir=base_dir, where=table.where)


# ------------------------------------------------------------------------------------- in a circuit
def supply_sources(part: UserOpAmp, prefix: str = "op") -> tuple[str, dict[str, str]]:
    """Supply sources for a circuit whose signals swing about ground (the crossbar solvers): ``vdd`` at
    ``+supply_v/2``, ``vss`` at ``−supply_v/2``, ``ref`` at ground. Returns the source lines and the
    role → node map for :meth:`UserOpAmp.instance_lines`; no lines for a part without supply pins."""
    roles = part.supply_roles
    if not roles:
        return "", {}
    if ("vdd" in roles or "vss" in roles) and part.supply_v is None:
        raise ConfigError(f"user op-amp {part.name} has supply pins ({', '.join(roles)}) and this circuit no supply "
                          "of its own: set supply_v (total V, split ± about ground) in its table")
    half = None if part.supply_v is None else part.supply_v / 2
    lines, nodes = [], {"ref": "0"}
    if "vdd" in roles:
        lines.append(f"V{prefix}dd vdd_{prefix} 0 {format_value(half)}")
        nodes["vdd"] = f"vdd_{prefix}"
    if "vss" in roles:
        lines.append(f"V{prefix}ss vss_{prefix} 0 {format_value(-half)}")
        nodes["vss"] = f"vss_{prefix}"
    return "".join(line + "\n" for line in lines), nodes


def user_parts_of(obj: Any, depth: int = 3) -> list[UserOpAmp]:
    """Every :class:`UserOpAmp` held by ``obj`` or the dataclasses in its fields (an experiment, its
    parts), each once: what an export or a run directory must carry copies of."""
    found: list[UserOpAmp] = []

    def walk(value: Any, level: int) -> None:
        if isinstance(value, UserOpAmp):
            if value not in found:
                found.append(value)
        elif level > 0 and dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name, None), level - 1)

    walk(obj, depth)
    return found


def copy_user_files(parts: Iterable[UserOpAmp], directory: Path) -> list[Path]:
    """Write every file of ``parts``, byte for byte as validated, under ``directory/blocks/`` (their record
    names keep the folders that references inside them rely on); returns the written paths."""
    written: list[Path] = []
    for part in parts:
        for file in part.files:
            target = Path(directory) / BLOCKS_DIR / file.record_name
            if target in written:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.data)
            written.append(target)
        for link, folder in getattr(part, "_links", {}).items():
            # a generated part's PDK models: a relative link, never a copy of the kit's files
            target = Path(directory) / link
            if target.is_symlink() or target.exists():
                continue
            target.symlink_to(os.path.relpath(folder, Path(directory).resolve()), target_is_directory=True)
            written.append(target)
    return written


# ------------------------------------------------------------------------------------- characterizing
@dataclass(frozen=True)
class OpenLoop:
    """Small-signal open-loop response of a part (from :func:`measure_open_loop`): ``gain`` A0 (V/V) at
    ``dc_hz``, ``unity_gain_hz`` where |A| = 1, ``phase_margin_deg`` there, ``supply_v`` the supply (V),
    ``r_out_ohm`` the open-loop output resistance at DC (Ω) from the gain's drop into :data:`LOAD_OHM`."""

    gain: float
    unity_gain_hz: float
    phase_margin_deg: float
    supply_v: float
    dc_hz: float
    r_out_ohm: float = 0.0

    @property
    def dominant_pole_hz(self) -> float:
        return self.unity_gain_hz / self.gain


#: The load of the open-loop bench's second copy (Ω): the output resistance is read from its gain.
LOAD_OHM = 1e5


def open_loop_deck(part: UserOpAmp, *, start_hz: float = 1e-2, stop_hz: float = 1e9) -> NetlistDeck:
    """AC testbench of ``part`` alone on its split supply (:func:`supply_sources`), inputs at ground: a DC
    servo (1 GΩ from the output to ``inn``, 1 F from ``inn`` to ground) closes the loop at DC, so the
    output sits at its operating point, and opens it above ~1e-10 Hz, where ``v(out)/v(inp)`` is A(jf).
    A second copy drives :data:`LOAD_OHM` to ground from ``outl``: ``A0·R_L/(R_L + r_out)`` there."""
    circuit = Circuit(f"open-loop gain of user op-amp {part.name}")
    lines, supplies = supply_sources(part, "t")
    part.register(circuit)
    circuit.raw_spice += (lines + "Vin inp 0 dc 0 ac 1\nRservo out inn 1e9\nCservo inn 0 1.0\n"
                          f"Rservol outl innl 1e9\nCservol innl 0 1.0\nRload outl 0 {format_value(LOAD_OHM)}\n"
                          + part.instance_lines(["dut", "dutl"], ["inp", "inp"], ["inn", "innl"], ["out", "outl"],
                                                supplies))
    return NetlistDeck(circuit, analyses=[ACSweep(start_hz, stop_hz, 20)], saves=["v(out)", "v(outl)"])


def measure_open_loop(part: UserOpAmp, runner: Any, run_dir: Path | None = None) -> OpenLoop:
    """A0, unity-gain frequency, phase margin and output resistance of ``part`` from one ngspice AC run
    (:func:`open_loop_deck`); ``runner`` is an :class:`analogopt.spice.runner.Runner`. The unity-gain
    frequency stands in for the GBW of a dominant-pole model; the two agree for a part with a good phase
    margin."""
    deck = open_loop_deck(part)
    waves = runner.run(deck, run_dir=run_dir).analysis("ac")
    f = np.real(np.asarray(waves.axis))
    a = np.asarray(waves["v(out)"], dtype=complex)
    mag = np.abs(a)
    below = np.nonzero(mag < 1.0)[0]
    if below.size == 0 or below[0] == 0:
        raise ConfigError(f"user op-amp {part.name}: open-loop gain never crosses 1 between {f[0]:g} and {f[-1]:g} Hz "
                          f"(|A| = {mag[0]:.3g} … {mag[-1]:.3g}); is it an op-amp with its pins in the declared order?")
    if not np.real(a[0]) > 0:
        raise ConfigError(f"user op-amp {part.name}: the output falls when inp rises (A(0) = {np.real(a[0]):.3g}); "
                          "are inp and inn swapped in its pins?")
    k = below[0]
    # log-log interpolation between the samples either side of |A| = 1
    t = math.log(mag[k - 1]) / (math.log(mag[k - 1]) - math.log(mag[k]))
    fu = math.exp(math.log(f[k - 1]) + t * (math.log(f[k]) - math.log(f[k - 1])))
    phase = np.unwrap(np.angle(a))
    ph = phase[k - 1] + t * (phase[k] - phase[k - 1])
    loaded = abs(complex(waves["v(outl)"][0]))
    r_out = max(0.0, LOAD_OHM * (float(mag[0]) / loaded - 1.0)) if loaded > 0 else math.inf
    return OpenLoop(gain=float(mag[0]), unity_gain_hz=float(fu), phase_margin_deg=float(180.0 + math.degrees(ph)),
                    supply_v=float(part.supply_v) if part.supply_v is not None else float("nan"), dc_hz=float(f[0]),
                    r_out_ohm=r_out)


__all__ = [
    "BLOCKS_DIR", "PIN_ROLES", "OpenLoop", "UserFile", "UserOpAmp", "copy_user_files", "generated_opamp", "is_user_table",
    "load_user_opamp", "measure_open_loop", "open_loop_deck", "supply_sources", "user_opamp_from_table",
    "user_parts_of",
]
