"""The bad-input corpus (issue 17, item 6): one row per input a user can get wrong.

Each :class:`Case` is ``(id, build, code, pattern)``: ``build(ctx)`` writes whatever the case needs into
the test's own temporary directory (a scenario file, a symlink, a file where a directory should be) and
returns the command line; ``code`` is the documented exit code (docs/cli.md; a tuple where the contract
allows either of two); ``pattern`` is a regular expression the single ``analogopt: error:`` line must
match. Patterns name the key and the nature of the problem (``iterations.*integer``), not whole
sentences, so that messages may be reworded.

Scenario files are written from small *bases*, one per scenario kind (:data:`BASES`), each a valid
scenario of that kind sized so that, should validation ever let a bad value through, the run that
follows is short. :func:`edit` changes one ``table.key`` of a base (TOML text in, TOML text out).

The test modules are ``test_bad_input_corpus.py`` (this table, in process, and the positive table) and
``test_faults.py`` (killed ngspice, hangs, signals, two writers, a full disk; subprocesses).
"""

from __future__ import annotations

import os
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from analogopt.scenarios import SIMS_DIR

# --------------------------------------------------------------------------------------------- bases
NF = """\
kind = "nf_single"
title = "corpus nf staircase"

[data]
source = "staircase"
w = 1.0
b = -1.0
x_min = -2.0
x_max = 4.0
samples = 21

[network]
activation = "staircase"
gain = 20.0
error_gain = "x"
power = 1

[loop]
forward_gain = 0.05
gamma = 1.0
tau_s = 1e-3
eta = 1e-2
iterations = 200
leak = false
w0 = [0.3, 0.4]

[compare]
also_error_gains = []
least_squares = false
"""

NF_RELU = """\
kind = "nf_single"
title = "corpus nf noisy relu"

[data]
source = "noisy_relu"
w = 1.5
b = -0.5
noise_std = 0.15
x_min = -2.0
x_max = 2.0
samples = 20
seed = 0

[network]
activation = "relu"
gain = 100.0
error_gain = "window"

[loop]
forward_gain = 0.1
gamma = 1.0
tau_s = 1e-3
eta = 1e-2
iterations = 200
leak = false
integrator = "cascade"
tau_m_s = 1e-4
init_seed = 0
init_scale = 0.1
"""

NF_CANCER = """\
kind = "nf_single"
title = "corpus nf breast cancer"

[data]
source = "breast_cancer"
test_fraction = 0.3
seed = 0

[network]
activation = "tanh"
error_gain = "window"

[loop]
forward_gain = 2e-3
gamma = 1.0
tau_s = 1e-3
eta = 1e-2
iterations = 100
leak = false
init_seed = 0
init_scale = 0.01
"""

RULES = """\
kind = "rules_table"
title = "corpus rules"
seeds = [0]

[base]
data = "iris"
test_fraction = 0.2
hidden = [8]
activation = "tanh"
epochs = 1
batch_size = 32
lr = 0.05

[[rows]]
label = "BP"
rule = "bp"

[[rows]]
label = "DFA"
rule = "dfa"

[[checks]]
left = "BP"
op = ">="
right = "DFA"
margin = 0.0
metric = "train"
"""

INVERSE = """\
kind = "inverse_loop"
title = "corpus inverse loop"

[loop]
functions = ["tanh"]
gains = [1e2, 1e3]
points = 11

[opamp]
kind = "ideal"
offset_v = 0.0
"""

LOGAMP = """\
kind = "log_amp"
title = "corpus log amp"

[device]
type = "diode"
is_a = 1e-14
n = 1.0

[opamp]
kind = "ideal"
gain = 1e6

[sweep]
i_min_a = 1e-9
i_max_a = 1e-3
points_per_decade = 2
conformity_decades = 5
temperatures_c = [27, 85]
temp_fit_min_a = 1e-7

[error_sources]
rs_ohm = 20.0
bias_a = 1e-10

[cascade]
r_ohm = 1e4
i_min_a = 1e-8
i_max_a = 1e-4

[step]
gain = 1e5
gbw_hz = 10e6
second_pole_hz = 1e6
i_from_a = 1e-5
i_to_a = 1e-4
overshoot = 0.05
stop_s = 20e-6
"""

FAL = """\
kind = "fal_vs_adam"
title = "corpus fal vs adam"

[data]
set = "digits"
test_fraction = 0.3

[training]
epochs = 1
batch_size = 64
seeds = [0]
channels = [2, 2]

[fal]
lr = 1e-3
beta_m = 0.99
beta_v = 0.99
eps = 1e-8
leak = 0.0
bias_correction = false

[adam]
lr = 1e-3

[sgd]
lr = 0.05
momentum = 0.0
"""

MOMENTUM = """\
kind = "momentum_filter"
title = "corpus momentum filter"

[drive]
steps = 20
channels = 2
seed = 0

[timing]
dt_s = "1u"

[rc]
tau_s = "20u"
gamma = 2.0
leak = true

[cascade]
beta_m = 0.9
tau_s = "20u"
gamma = 2.0
leak = true

[fal]
beta_m = 0.9
beta_v = 0.9
tau_s = "20u"
gamma = 0.2
leak = true
s_floor_v = 0.01

[equivalence]
lr = 0.3
beta_m = 0.9
steps = 5

[compare]
tolerance = 1e-3
"""

MVM = """\
kind = "crossbar_mvm"
title = "corpus crossbar mvm"

[problem]
rows = 4
cols = 3
seed = 0

[device]
g_min = "1u"
g_max = "100u"
r_wire = 0.0

[monte_carlo]
samples = 2
levels = 64
sigma = 0.05
seed = 1
"""

SOLVE = """\
kind = "crossbar_solve"
title = "corpus crossbar solve"

[problem]
rows = 4
condition = 10.0
seed = 0

[device]
g_min = "1u"
g_max = "100u"

[monte_carlo]
samples = 2
levels = 64
sigma = 0.05
seed = 1

[settling]
tolerance = 1e-3

[settling.opamp]
kind = "single_pole"
gain = 1e5
gbw_hz = "1meg"
"""

PINV = """\
kind = "crossbar_pinv"
title = "corpus crossbar pinv"

[problem]
rows = 4
cols = 2
seed = 0

[device]
g_min = "1u"
g_max = "100u"

[monte_carlo]
samples = 2
levels = 64
sigma = 0.05
seed = 1
"""

RECIRC = """\
kind = "recirculation_pinv"
title = "corpus recirculation"

[recirculation]
n = 4
inits = 2
max_condition = 20.0
decay = 0.9
steps = 10
noise_samples = 10
seed = 0
"""

SENS = """\
kind = "nf_sensitivity"
title = "corpus sensitivity"
base = "nf_noisy_relu"
set = ["loop.iterations=200"]

[sensitivity]
levels = [4, 16]
ota_offset_v = ["1m", "3m"]
"""

ML = """\
kind = "multilayer"
title = "corpus multilayer"

[data]
source = "breast_cancer"
train_samples = 20

[network]
hidden = [4]

[training]
rule = "dfa"
mode = "batch"
iterations = 20
"""

#: Every base by name; the file written for a case is ``corpus_<name>.toml``.
BASES: dict[str, str] = {
    "nf": NF, "nf_relu": NF_RELU, "nf_cancer": NF_CANCER, "rules": RULES, "inverse": INVERSE,
    "logamp": LOGAMP, "fal": FAL, "momentum": MOMENTUM, "mvm": MVM, "solve": SOLVE, "pinv": PINV,
    "recirc": RECIRC, "sens": SENS, "ml": ML,
    # the shipped staircase itself, for the size limits (61 samples, 8000 iterations)
    "nf_shipped": (SIMS_DIR / "nf_staircase.toml").read_text(),
}

#: One base per scenario kind (the corpus covers every kind in analogopt.experiments.KINDS).
KIND_OF_BASE = {
    "nf": "nf_single", "nf_relu": "nf_single", "nf_cancer": "nf_single", "nf_shipped": "nf_single",
    "rules": "rules_table", "inverse": "inverse_loop", "logamp": "log_amp", "fal": "fal_vs_adam",
    "momentum": "momentum_filter", "mvm": "crossbar_mvm", "solve": "crossbar_solve", "pinv": "crossbar_pinv",
    "recirc": "recirculation_pinv", "sens": "nf_sensitivity", "ml": "multilayer",
}

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.]+)\s*\]\]?\s*$")


def edit(text: str, dotted: str, raw: str | None) -> str:
    """``text`` with ``dotted`` (``loop.iterations``, ``seeds``, ``rows[1].rule``, ``settling.opamp.kind``)
    set to the TOML value ``raw``, or removed when ``raw`` is None; a key not there yet is added to its
    table (a table not there yet is appended)."""
    lines = text.splitlines()
    headers: list[tuple[int, str]] = []  # (line index, name with [[array]] occurrence as name[i])
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if m:
            name = m.group(2)
            if m.group(1) == "[[":
                k = seen.get(name, 0)
                seen[name] = k + 1
                name = f"{name}[{k}]"
            headers.append((i, name))
    names = {n for _, n in headers}
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, -1, -1):
        section, key = ".".join(parts[:cut]), ".".join(parts[cut:])
        if section == "" or section in names:
            break
    else:  # pragma: no cover - the loop always breaks at cut = 0
        raise AssertionError(dotted)
    if section == "" and len(parts) > 1 and parts[0] not in names:
        section, key = ".".join(parts[:-1]), parts[-1]  # a new table
        assert raw is not None, f"cannot remove {dotted}: no table {section}"
        return text.rstrip("\n") + f"\n\n[{section}]\n{key} = {raw}\n"
    if section == "":
        start, end = 0, headers[0][0] if headers else len(lines)
    else:
        index = [n for _, n in headers].index(section)
        start = headers[index][0] + 1
        end = headers[index + 1][0] if index + 1 < len(headers) else len(lines)
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start, end):
        if key_re.match(lines[i]):
            if raw is None:
                del lines[i]
            else:
                lines[i] = f"{key} = {raw}"
            return "\n".join(lines) + "\n"
    assert raw is not None, f"cannot remove {dotted}: not in the base"
    insert_at = end
    while insert_at > start and not lines[insert_at - 1].strip():
        insert_at -= 1
    lines.insert(insert_at, f"{key} = {raw}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- context
@dataclass
class Ctx:
    """Where a case may write: everything lies under ``root``, the test's own temporary directory.

    ``work`` is the current directory of the command, ``home`` its HOME, ``tmp`` its TMPDIR, ``scen``
    the folder scenario files go to, ``out`` the default result directory (not created)."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def scen(self) -> Path:
        return self.root / "scen"

    @property
    def out(self) -> str:
        return str(self.root / "out")

    def make(self) -> None:
        for d in (self.work, self.home, self.tmp, self.scen):
            d.mkdir(parents=True, exist_ok=True)

    def scenario(self, base: str, *edits: tuple[str, str | None], folder: Path | None = None,
                 name: str | None = None) -> str:
        """Write base ``base`` with ``edits`` applied; returns the file's path."""
        text = BASES[base]
        for dotted, raw in edits:
            text = edit(text, dotted, raw)
        folder = folder or self.scen
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or f"corpus_{base}.toml")
        path.write_text(text)
        return str(path)

    def raw_scenario(self, data: bytes | str, name: str = "corpus_raw.toml") -> str:
        path = self.scen / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def dir_with(self, name: str, files: Sequence[str] = ("keep.txt",), marker_dir: bool = False) -> str:
        """A directory ``root/name`` holding ``files`` (text "mine"); ``marker_dir``: a *directory*
        named like analogopt's marker, which must not count as one."""
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            (d / f).write_text("mine\n")
        if marker_dir:
            (d / ".analogopt-run").mkdir()
        return str(d)

    def file(self, name: str, text: str = "mine\n") -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    def symlink(self, name: str, target: str | None) -> str:
        """``root/name`` → ``root/target`` (created as an empty directory), or dangling when None."""
        link = self.root / name
        if target is None:
            link.symlink_to(self.root / "nowhere")
        else:
            (self.root / target).mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.root / target, target_is_directory=True)
        return str(link)

    def sweep_dir(self, name: str = "swept", manifest: str | dict | None = None) -> str:
        """A directory with a ``sweep.json``: the plan of the ``nf`` base (no samples run) unless
        ``manifest`` gives the text (or JSON object) to write instead."""
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        if manifest is None:
            from analogopt.results import to_jsonable
            from analogopt.scenarios import load_scenario
            from analogopt.sweep.spec import SweepPlan

            plan = SweepPlan.build(load_scenario(self.scenario("nf")), [])
            manifest = to_jsonable(plan.to_json())
        (d / "sweep.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
        return str(d)


# ---------------------------------------------------------------------------------------- the cases
Build = Callable[[Ctx], list]


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    code: int | tuple[int, ...]
    pattern: str
    #: run as a subprocess under a memory limit (the size-limit cases: a missing limit must not take
    #: the test process down with it)
    subprocess: bool = False

    @property
    def area(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def codes(self) -> tuple[int, ...]:
        return self.code if isinstance(self.code, tuple) else (self.code,)


# patterns: the key, then the nature of the problem
INT = r"integer"
BOOL = r"(true or false|boolean|bool)"
FINITE = r"(finite|inf|nan)"
NUMBER = r"(number|numeric|read|unit|suffix|scale)"
SEED = r"(integer|negative|≥|>=)"
LIST = r"list"
RANGE = r"(must|range|between|[<>≤≥]|in [\[(]|exceed|positive|needs|leaves)"
UNKNOWN = r"unknown"
FLAG_9 = r"--[a-z][a-z-]+"  # the override flag a size refusal names


def k(key: str, nature: str) -> str:
    """``key`` (regex-escaped) and ``nature`` in one message, in either order."""
    key = re.escape(key)
    return rf"({key}.*{nature}|{nature}.*{key})"


def run_file(base: str, *edits: tuple[str, str | None], args: Sequence[str] = (), out: str | None = None) -> Build:
    """``analogopt run <base with edits> [args] --out OUT --quiet``."""
    return lambda c: ["run", c.scenario(base, *edits), *args, "--out", out or c.out, "--quiet"]


def run_set(base: str, *sets: str, args: Sequence[str] = ()) -> Build:
    """``analogopt run <base or shipped name> --set …``; ``base`` ``sims:NAME`` means the shipped scenario."""
    def build(c: Ctx) -> list:
        scenario = base[5:] if base.startswith("sims:") else c.scenario(base)
        return ["run", scenario, *[a for s in sets for a in ("--set", s)], *args, "--out", c.out, "--quiet"]
    return build


def export_file(base: str, *edits: tuple[str, str | None], args: Sequence[str] = ()) -> Build:
    return lambda c: ["export", c.scenario(base, *edits), *args, "--out", c.out]


TRAIN_DEFAULTS = ("--rule", "bp", "--data", "iris", "--arch", "8", "--epochs", "1")


def train(*args: str, out: Callable[[Ctx], str] | None = None) -> Build:
    """``analogopt train`` on a small default problem (iris, one 8-unit layer, one epoch) with ``args``
    appended: argparse keeps a flag's last value, so ``args`` override the defaults."""
    return lambda c: ["train", *TRAIN_DEFAULTS, *args, "--out", out(c) if out else c.out, "--quiet"]


def sweep(*args: str, base: str = "nf", edits: Sequence[tuple[str, str | None]] = (),
          out: Callable[[Ctx], str] | None = None) -> Build:
    """``analogopt sweep <base> args --workers 1 --out OUT --quiet`` (``--workers`` first: a case may
    give its own, which argparse takes instead)."""
    def build(c: Ctx) -> list:
        scenario = base[5:] if base.startswith("sims:") else c.scenario(base, *edits)
        return ["sweep", scenario, "--workers", "1", *args, "--out", out(c) if out else c.out, "--quiet"]
    return build


def out_case(command: str, out: Callable[[Ctx], str], *extra: str, scenario: Callable[[Ctx], str] | None = None) -> Build:
    """``command`` (run, train, export, sweep) with ``--out out(ctx)`` and ``extra`` flags."""
    def build(c: Ctx) -> list:
        target = out(c)
        if command == "train":
            return ["train", *TRAIN_DEFAULTS, "--out", target, *extra, "--quiet"]
        name = scenario(c) if scenario else c.scenario("nf")
        tail = ["--quiet"] if command in ("run", "sweep") else []
        if command == "sweep":
            tail = ["--workers", "1", *tail]
        return [command, name, "--out", target, *extra, *tail]
    return build


def C(id: str, build: Build, code: int | tuple[int, ...], pattern: str, **kw) -> Case:
    return Case(id, build, code, pattern, **kw)


# --- every scenario kind: values ------------------------------------------------------------------
NF_CASES = [
    C("nf-least_squares-string-false", run_file("nf", ("compare.least_squares", '"false"')), 2, k("least_squares", BOOL)),
    C("nf-least_squares-int", run_file("nf", ("compare.least_squares", "1")), 2, k("least_squares", BOOL)),
    C("nf-leak-string-true", run_file("nf", ("loop.leak", '"true"')), 2, k("leak", BOOL)),
    C("nf-leak-int", run_file("nf", ("loop.leak", "0")), 2, k("leak", BOOL)),
    C("nf-power-float", run_file("nf", ("network.error_gain", '"beta_pow"'), ("network.power", "3.7")), 2, k("power", INT)),
    C("nf-power-float-x-gain", run_file("nf", ("network.power", "3.7")), 2, k("power", INT)),
    C("nf-power-even", run_file("nf", ("network.error_gain", '"beta_pow"'), ("network.power", "2")), 2, k("power", "odd")),
    C("nf-power-string", run_file("nf", ("network.power", '"three"')), 2, k("power", INT)),
    C("nf-iterations-float", run_file("nf", ("loop.iterations", "300.9")), 2, k("iterations", INT)),
    C("nf-iterations-zero", run_file("nf", ("loop.iterations", "0")), 2, k("iterations", RANGE)),
    C("nf-iterations-negative", run_file("nf", ("loop.iterations", "-5")), 2, k("iterations", RANGE)),
    C("nf-iterations-inf", run_file("nf", ("loop.iterations", "inf")), 2, k("iterations", f"({INT}|{FINITE})")),
    C("nf-iterations-nan", run_file("nf", ("loop.iterations", "nan")), 2, k("iterations", f"({INT}|{FINITE})")),
    C("nf-iterations-bool", run_file("nf", ("loop.iterations", "true")), 2, k("iterations", INT)),
    C("nf-iterations-word", run_file("nf", ("loop.iterations", '"many"')), 2, k("iterations", INT)),
    C("nf-tau_s-1x", run_file("nf", ("loop.tau_s", '"1x"')), 2, k("tau_s", "1x")),
    C("nf-tau_s-1-min", run_file("nf", ("loop.tau_s", '"1 min"')), 2, k("tau_s", "1 min")),
    C("nf-tau_s-1min", run_file("nf", ("loop.tau_s", '"1min"')), 2, k("tau_s", "1min")),
    C("nf-tau_s-10MHz", run_file("nf", ("loop.tau_s", '"10MHz"')), 2, k("tau_s", "10MHz")),
    C("nf-tau_s-inf", run_file("nf", ("loop.tau_s", "inf")), 2, k("tau_s", FINITE)),
    C("nf-tau_s-nan", run_file("nf", ("loop.tau_s", "nan")), 2, k("tau_s", FINITE)),
    C("nf-tau_s-string-inf", run_file("nf", ("loop.tau_s", '"inf"')), 2, k("tau_s", f"({FINITE}|{NUMBER})")),
    C("nf-tau_s-empty", run_file("nf", ("loop.tau_s", '""')), 2, k("tau_s", NUMBER)),
    C("nf-tau_s-list", run_file("nf", ("loop.tau_s", "[1e-3]")), 2, k("tau_s", NUMBER)),
    C("nf-tau_s-negative", run_file("nf", ("loop.tau_s", '"-1m"')), 2, k("tau_s", RANGE)),
    C("nf-tau_s-1a", run_file("nf", ("loop.tau_s", '"1a"')), 2, k("tau_s", "1a")),
    C("nf-eta-inf", run_file("nf", ("loop.eta", "inf")), 2, k("eta", FINITE)),
    C("nf-eta-nan", run_file("nf", ("loop.eta", "nan")), 2, k("eta", FINITE)),
    C("nf-eta-above-one", run_file("nf", ("loop.eta", "2.0")), 2, k("eta", RANGE)),
    C("nf-forward_gain-inf", run_file("nf", ("loop.forward_gain", "inf")), 2, k("forward_gain", FINITE)),
    C("nf-forward_gain-nan", run_file("nf", ("loop.forward_gain", "nan")), 2, k("forward_gain", FINITE)),
    C("nf-forward_gain-word", run_file("nf", ("loop.forward_gain", '"big"')), 2, k("forward_gain", NUMBER)),
    C("nf-gamma-nan", run_file("nf", ("loop.gamma", "nan")), 2, k("gamma", FINITE)),
    C("nf-gain-inf", run_file("nf", ("network.gain", "inf")), 2, k("gain", FINITE)),
    C("nf-gain-bool", run_file("nf", ("network.gain", "true")), 2, k("gain", NUMBER)),
    C("nf-slope-nan", run_file("nf", ("network.activation", '"leaky_relu"'), ("network.slope", "nan")), 2, k("slope", FINITE)),
    C("nf-x_min-inf", run_file("nf", ("data.x_min", "-inf")), 2, k("x_min", FINITE)),
    C("nf-x_max-nan", run_file("nf", ("data.x_max", "nan")), 2, k("x_max", FINITE)),
    C("nf-w-inf", run_file("nf", ("data.w", "inf")), 2, k("data.w", FINITE)),
    C("nf-b-nan", run_file("nf", ("data.b", "nan")), 2, k("data.b", FINITE)),
    C("nf-samples-float", run_file("nf", ("data.samples", "61.5")), 2, k("samples", INT)),
    C("nf-samples-zero", run_file("nf", ("data.samples", "0")), 2, k("samples", RANGE)),
    C("nf-samples-negative", run_file("nf", ("data.samples", "-3")), 2, k("samples", RANGE)),
    C("nf-samples-bool", run_file("nf", ("data.samples", "true")), 2, k("samples", INT)),
    C("nf-w0-inf", run_file("nf", ("loop.w0", "[0.3, inf]")), 2, k("w0", FINITE)),
    C("nf-w0-nan", run_file("nf", ("loop.w0", "[nan, 0.4]")), 2, k("w0", FINITE)),
    C("nf-w0-word", run_file("nf", ("loop.w0", '[0.3, "x"]')), 2, k("w0", NUMBER)),
    C("nf-w0-nested", run_file("nf", ("loop.w0", "[[0.3, 0.4]]")), 2, r"w0"),
    C("nf-w0-bools", run_file("nf", ("loop.w0", "[true, false]")), 2, k("w0", NUMBER)),
    C("nf-w0-empty", run_file("nf", ("loop.w0", "[]")), 2, r"w0"),
    C("nf-w0-scalar-string", run_file("nf", ("loop.w0", '"0.3"')), 2, k("w0", f"({LIST}|shape)")),
    C("nf-w0-too-long", run_file("nf", ("loop.w0", "[0.3, 0.4, 0.1]")), 2, r"(w0|shape)"),
    C("nf-init_seed-negative", run_file("nf_relu", ("loop.init_seed", "-1")), 2, k("init_seed", SEED)),
    C("nf-init_seed-float", run_file("nf_relu", ("loop.init_seed", "1.5")), 2, k("init_seed", SEED)),
    C("nf-init_seed-string", run_file("nf_relu", ("loop.init_seed", '"abc"')), 2, k("init_seed", SEED)),
    C("nf-init_seed-huge", run_file("nf_relu", ("loop.init_seed", "9223372036854775807")), 2, k("init_seed", SEED)),
    C("nf-init_scale-inf", run_file("nf_relu", ("loop.init_scale", "inf")), 2, k("init_scale", FINITE)),
    C("nf-init_scale-nan", run_file("nf_relu", ("loop.init_scale", "nan")), 2, k("init_scale", FINITE)),
    C("nf-data-seed-negative", run_file("nf_relu", ("data.seed", "-1")), 2, k("seed", SEED)),
    C("nf-data-seed-float", run_file("nf_relu", ("data.seed", "0.5")), 2, k("seed", SEED)),
    C("nf-data-seed-string", run_file("nf_relu", ("data.seed", '"zero"')), 2, k("seed", SEED)),
    C("nf-data-seed-bool", run_file("nf_relu", ("data.seed", "true")), 2, k("seed", SEED)),
    C("nf-noise_std-nan", run_file("nf_relu", ("data.noise_std", "nan")), 2, k("noise_std", FINITE)),
    C("nf-noise_std-negative", run_file("nf_relu", ("data.noise_std", "-0.1")), 2, k("noise_std", RANGE)),
    C("nf-tau_m_s-inf", run_file("nf_relu", ("loop.tau_m_s", "inf")), 2, k("tau_m_s", FINITE)),
    C("nf-tau_m_s-1x", run_file("nf_relu", ("loop.tau_m_s", '"1x"')), 2, k("tau_m_s", "1x")),
    C("nf-integrator-unknown", run_file("nf_relu", ("loop.integrator", '"lc"')), 2, k("integrator", UNKNOWN)),
    C("nf-test_fraction-tiny", run_file("nf_cancer", ("data.test_fraction", "1e-6")), 2, k("test_fraction", RANGE)),
    C("nf-test_fraction-zero", run_file("nf_cancer", ("data.test_fraction", "0")), 2, k("test_fraction", RANGE)),
    C("nf-test_fraction-one", run_file("nf_cancer", ("data.test_fraction", "1.0")), 2, k("test_fraction", RANGE)),
    C("nf-test_fraction-nan", run_file("nf_cancer", ("data.test_fraction", "nan")), 2, k("test_fraction", FINITE)),
    C("nf-cancer-seed-negative", run_file("nf_cancer", ("data.seed", "-1")), 2, k("seed", SEED)),
    C("nf-also_error_gains-string", run_file("nf", ("compare.also_error_gains", '"x"')), 2, k("also_error_gains", LIST)),
    C("nf-also_error_gains-number", run_file("nf", ("compare.also_error_gains", "1")), 2, k("also_error_gains", LIST)),
    C("nf-also_error_gains-unknown", run_file("nf", ("compare.also_error_gains", '["sign"]')), 2, k("also_error_gains", UNKNOWN)),
    C("nf-also_error_gains-table", run_file("nf", ("compare.also_error_gains", "{ x = 1 }")), 2, k("also_error_gains", LIST)),
    C("nf-least_squares-classifier", run_file("nf_cancer", ("compare.least_squares", "true")), 2, r"least_squares.*(regression|one-input)"),
    C("nf-activation-unknown", run_file("nf", ("network.activation", '"swish"')), 2, r"unknown activation 'swish'"),
    C("nf-activation-number", run_file("nf", ("network.activation", "3")), 2, r"activation"),
    C("nf-error_gain-unknown", run_file("nf", ("network.error_gain", '"sign"')), 2, r"unknown error.gain 'sign'"),
    C("nf-source-unknown", run_file("nf", ("data.source", '"mnist"')), 2, k("source", UNKNOWN)),
    C("nf-source-missing", run_file("nf", ("data.source", None)), 2, r"source"),
    C("nf-unknown-key-loop", run_file("nf", ("loop.tau", "1e-3")), 2, r"unknown key.*\btau\b"),
    C("nf-unknown-key-data", run_file("nf", ("data.noise_std", "0.1")), 2, r"unknown key.*noise_std"),
    C("nf-unknown-table", run_file("nf", ("circuits.forward_gain", "1")), 2, r"unknown key.*circuits"),
    C("nf-table-not-table", lambda c: ["run", c.raw_scenario('kind = "nf_single"\ndata = 3\n'), "--out", c.out, "--quiet"], 2,
      r"data.*table"),
]

RULES_CASES = [
    C("rules-seeds-negative", run_file("rules", ("seeds", "[-1]")), 2, k("seeds", SEED)),
    C("rules-seeds-float", run_file("rules", ("seeds", "[0.5]")), 2, k("seeds", SEED)),
    C("rules-seeds-string", run_file("rules", ("seeds", '"0"')), 2, k("seeds", LIST)),
    C("rules-seeds-empty", run_file("rules", ("seeds", "[]")), 2, k("seeds", r"(empty|list)")),
    C("rules-seeds-bool", run_file("rules", ("seeds", "[true]")), 2, k("seeds", SEED)),
    C("rules-epochs-zero", run_file("rules", ("base.epochs", "0")), 2, k("epochs", INT)),
    C("rules-epochs-float", run_file("rules", ("base.epochs", "1.5")), 2, k("epochs", INT)),
    C("rules-epochs-string", run_file("rules", ("base.epochs", '"one"')), 2, k("epochs", INT)),
    C("rules-batch_size-zero", run_file("rules", ("base.batch_size", "0")), 2, k("batch_size", INT)),
    C("rules-lr-inf", run_file("rules", ("base.lr", "inf")), 2, k("lr", FINITE)),
    C("rules-lr-nan", run_file("rules", ("base.lr", "nan")), 2, k("lr", f"({FINITE}|{RANGE})")),
    C("rules-lr-zero", run_file("rules", ("base.lr", "0")), 2, k("lr", RANGE)),
    C("rules-lr-word", run_file("rules", ("base.lr", '"fast"')), 2, k("lr", f"({NUMBER}|{RANGE})")),
    C("rules-test_fraction-tiny", run_file("rules", ("base.test_fraction", "1e-6")), 2, k("test_fraction", RANGE)),
    C("rules-test_fraction-one", run_file("rules", ("base.test_fraction", "1.0")), 2, k("test_fraction", RANGE)),
    C("rules-hidden-negative", run_file("rules", ("base.hidden", "[8, -3]")), 2, k("hidden", r"(positive|negative|≥|>=)")),
    C("rules-hidden-float", run_file("rules", ("base.hidden", "[8.5]")), 2, k("hidden", r"(integer|positive)")),
    C("rules-hidden-dash-string", run_file("rules", ("base.hidden", '"8,-3"')), 2, k("hidden", r"(positive|negative|-3|≥|>=)")),
    C("rules-activation-unknown", run_file("rules", ("base.activation", '"swish"')), 2, k("activation", UNKNOWN)),
    C("rules-rule-unknown", run_file("rules", ("rows[1].rule", '"nosuch"')), 2, r"unknown rule 'nosuch'"),
    C("rules-row-no-label", run_file("rules", ("rows[1].label", None)), 2, r"rows\[1\].*label"),
    C("rules-row-labels-duplicate", run_file("rules", ("rows[1].label", '"BP"')), 2, r"label.*unique"),
    C("rules-no-rows", lambda c: ["run", c.raw_scenario('kind = "rules_table"\nseeds = [0]\n[base]\ndata = "iris"\n'),
                                  "--out", c.out, "--quiet"], 2, r"rows"),
    C("rules-check-op", run_file("rules", ("checks[0].op", '"~"')), 2, k("op", r"(one of|unknown)")),
    C("rules-check-row", run_file("rules", ("checks[0].right", '"FA"')), 2, r"checks\[0\].*(unknown|rows)"),
    C("rules-check-metric", run_file("rules", ("checks[0].metric", '"val"')), 2, k("metric", r"(train|test)")),
    C("rules-check-margin-word", run_file("rules", ("checks[0].margin", '"x"')), 2, k("margin", NUMBER)),
    C("rules-check-margin-nan", run_file("rules", ("checks[0].margin", "nan")), 2, k("margin", FINITE)),
    C("rules-base-unknown-key", run_file("rules", ("base.learning_rate", "0.1")), 2, r"unknown key.*learning_rate"),
    C("rules-data-unknown", run_file("rules", ("base.data", '"cifar"')), 2, r"unknown data set 'cifar'"),
    C("rules-train_limit-negative", run_file("rules", ("base.train_limit", "-1")), 2, r"train.limit.*integer"),
    C("rules-momentum-one", run_file("rules", ("base.momentum", "1.0")), 2, k("momentum", RANGE)),
    C("rules-optimizer-unknown", run_file("rules", ("base.optimizer", '"rmsprop"')), 2, k("optimizer", UNKNOWN)),
    C("rules-init-unknown", run_file("rules", ("base.init", '"nosuch"')), 2, k("init", UNKNOWN)),
    C("rules-mono-string", run_file("rules", ("base.mono", '"yes"')), 2, k("mono", BOOL)),
    C("rules-loss-unknown", run_file("rules", ("base.loss", '"hinge"')), 2, k("loss", UNKNOWN)),
    C("rules-seed-negative", run_file("rules", ("base.seed", "-1")), 2, k("seed", SEED)),
    C("rules-data_seed-float", run_file("rules", ("base.data_seed", "0.5")), 2, k("data_seed", SEED)),
    C("rules-rule_options-not-table", run_file("rules", ("rows[1].rule_options", '"fast"')), 2, k("rule_options", "table")),
]

INVERSE_CASES = [
    C("inverse-functions-string", run_file("inverse", ("loop.functions", '"tanh"')), 2, k("functions", LIST)),
    C("inverse-functions-empty", run_file("inverse", ("loop.functions", "[]")), 2, k("functions", r"(empty|list)")),
    C("inverse-functions-unknown", run_file("inverse", ("loop.functions", '["sin"]')), 2, r"sin"),
    C("inverse-gains-inf", run_file("inverse", ("loop.gains", "[1e2, inf]")), 2, k("gains", FINITE)),
    C("inverse-gains-nan", run_file("inverse", ("loop.gains", "[nan]")), 2, k("gains", FINITE)),
    C("inverse-gains-beyond-float64", run_file("inverse", ("loop.gains", "[1e2, 1e15]")), 2,
      k("gains", r"1e\+15 V/V is above 1e\+10.*use gains up to 1e\+10")),
    C("inverse-gains-negative", run_file("inverse", ("loop.gains", "[-1e2]")), 2, k("gains", RANGE)),
    C("inverse-gains-1x", run_file("inverse", ("loop.gains", '["1x"]')), 2, k("gains", "1x")),
    C("inverse-gains-scalar", run_file("inverse", ("loop.gains", "100")), 2, k("gains", LIST)),
    C("inverse-points-float", run_file("inverse", ("loop.points", "11.5")), 2, k("points", INT)),
    C("inverse-points-small", run_file("inverse", ("loop.points", "3")), 2, k("points", INT)),
    C("inverse-points-bool", run_file("inverse", ("loop.points", "true")), 2, k("points", INT)),
    C("inverse-opamp-kind", run_file("inverse", ("opamp.kind", '"magic"')), 2, k("kind", r"(unknown|magic)")),
    C("inverse-opamp-gain-key", run_file("inverse", ("opamp.gain", "1e5")), 2, r"(unknown key|gain)"),
    C("inverse-offset-nan", run_file("inverse", ("opamp.offset_v", "nan")), 2, k("offset_v", FINITE)),
    C("inverse-gbw-10MHz", run_file("inverse", ("opamp.kind", '"single_pole"'), ("opamp.gbw_hz", '"10MHz"')), 2, k("gbw_hz", "10MHz")),
    C("inverse-unknown-key", run_file("inverse", ("loop.steps", "3")), 2, r"unknown key.*steps"),
]

LOGAMP_CASES = [
    C("logamp-device-type", run_file("logamp", ("device.type", '"triode"')), 2, r"triode"),
    C("logamp-is_a-negative", run_file("logamp", ("device.is_a", "-1e-14")), 2, k("is_a", RANGE)),
    C("logamp-is_a-nan", run_file("logamp", ("device.is_a", "nan")), 2, k("is_a", FINITE)),
    C("logamp-n-inf", run_file("logamp", ("device.n", "inf")), 2, k("n", FINITE)),
    C("logamp-i_min-zero", run_file("logamp", ("sweep.i_min_a", "0")), 2, k("i_min_a", RANGE)),
    C("logamp-i_max-below-min", run_file("logamp", ("sweep.i_max_a", "1e-10")), 2, k("i_max_a", RANGE)),
    C("logamp-ppd-float", run_file("logamp", ("sweep.points_per_decade", "2.5")), 2, k("points_per_decade", INT)),
    C("logamp-ppd-zero", run_file("logamp", ("sweep.points_per_decade", "0")), 2, k("points_per_decade", INT)),
    C("logamp-decades-too-many", run_file("logamp", ("sweep.conformity_decades", "10")), 2, k("conformity_decades", RANGE)),
    C("logamp-temperature-below-zero-k", run_file("logamp", ("sweep.temperatures_c", "[-300]")), 2, k("temperatures_c", RANGE)),
    C("logamp-temperature-nan", run_file("logamp", ("sweep.temperatures_c", "[27, nan]")), 2, k("temperatures_c", FINITE)),
    C("logamp-temperatures-scalar", run_file("logamp", ("sweep.temperatures_c", "27")), 2, k("temperatures_c", LIST)),
    C("logamp-fit-min-outside", run_file("logamp", ("sweep.temp_fit_min_a", "1e-2")), 2, k("temp_fit_min_a", RANGE)),
    C("logamp-rs-negative", run_file("logamp", ("error_sources.rs_ohm", "-1")), 2, k("rs_ohm", RANGE)),
    C("logamp-rs-wrong-unit", run_file("logamp", ("error_sources.rs_ohm", '"10kV"')), 2, k("rs_ohm", "10kV")),
    C("logamp-bias-above-min", run_file("logamp", ("error_sources.bias_a", "1e-3")), 2, k("bias_a", RANGE)),
    C("logamp-cascade-r-zero", run_file("logamp", ("cascade.r_ohm", "0")), 2, k("r_ohm", RANGE)),
    C("logamp-cascade-r-10MHz", run_file("logamp", ("cascade.r_ohm", '"10MHz"')), 2, k("r_ohm", "10MHz")),
    C("logamp-overshoot-large", run_file("logamp", ("step.overshoot", "0.7")), 2, k("overshoot", RANGE)),
    C("logamp-stop-1-min", run_file("logamp", ("step.stop_s", '"1 min"')), 2, k("stop_s", "1 min")),
    C("logamp-step-gbw-10MHz", run_file("logamp", ("step.gbw_hz", '"10MHz"')), 2, k("gbw_hz", "10MHz")),
    C("logamp-step-gbw-inf", run_file("logamp", ("step.gbw_hz", "inf")), 2, k("gbw_hz", FINITE)),
    C("logamp-opamp-kind", run_file("logamp", ("opamp.kind", '"nosuch"')), 2, r"nosuch"),
]

FAL_CASES = [
    C("fal-data-set", run_file("fal", ("data.set", '"cifar"')), 2, r"cifar"),
    C("fal-test_fraction-tiny", run_file("fal", ("data.test_fraction", "1e-6")), 2, k("test_fraction", RANGE)),
    C("fal-test_fraction-nan", run_file("fal", ("data.test_fraction", "nan")), 2, k("test_fraction", FINITE)),
    C("fal-seeds-negative", run_file("fal", ("training.seeds", "[-1]")), 2, k("seeds", SEED)),
    C("fal-seeds-float", run_file("fal", ("training.seeds", "[0.5]")), 2, k("seeds", SEED)),
    C("fal-seeds-scalar", run_file("fal", ("training.seeds", "3")), 2, k("seeds", LIST)),
    C("fal-channels-one", run_file("fal", ("training.channels", "[16]")), 2, k("channels", r"(two|2|list)")),
    C("fal-channels-negative", run_file("fal", ("training.channels", "[16, -2]")), 2, k("channels", r"(≥|>=|positive|integer)")),
    C("fal-channels-float", run_file("fal", ("training.channels", "[2.5, 2]")), 2, k("channels", INT)),
    C("fal-epochs-zero", run_file("fal", ("training.epochs", "0")), 2, k("epochs", INT)),
    C("fal-epochs-float", run_file("fal", ("training.epochs", "2.5")), 2, k("epochs", INT)),
    C("fal-batch_size-zero", run_file("fal", ("training.batch_size", "0")), 2, k("batch_size", INT)),
    C("fal-lr-inf", run_file("fal", ("fal.lr", "inf")), 2, k("lr", FINITE)),
    C("fal-beta_m-above-one", run_file("fal", ("fal.beta_m", "1.5")), 2, k("beta_m", RANGE)),
    C("fal-eps-nan", run_file("fal", ("fal.eps", "nan")), 2, k("eps", FINITE)),
    C("fal-bias_correction-string", run_file("fal", ("fal.bias_correction", '"false"')), 2, k("bias_correction", BOOL)),
    C("fal-adam-lr-zero", run_file("fal", ("adam.lr", "0")), 2, k("lr", RANGE)),
    C("fal-sgd-momentum-one", run_file("fal", ("sgd.momentum", "1")), 2, k("momentum", RANGE)),
    C("fal-sgd-lr-1x", run_file("fal", ("sgd.lr", '"1x"')), 2, k("lr", "1x")),
    C("fal-unknown-key", run_file("fal", ("training.momentum", "0.9")), 2, r"unknown key.*momentum"),
]

MOMENTUM_CASES = [
    C("momentum-steps-one", run_file("momentum", ("drive.steps", "1")), 2, k("steps", INT)),
    C("momentum-steps-float", run_file("momentum", ("drive.steps", "20.5")), 2, k("steps", INT)),
    C("momentum-channels-zero", run_file("momentum", ("drive.channels", "0")), 2, k("channels", INT)),
    C("momentum-pwl-too-long", run_file("momentum", ("drive.steps", "20000")), (2, 9), r"steps"),
    C("momentum-seed-negative", run_file("momentum", ("drive.seed", "-1")), 2, k("seed", SEED)),
    C("momentum-seed-float", run_file("momentum", ("drive.seed", "1.5")), 2, k("seed", SEED)),
    C("momentum-dt-1x", run_file("momentum", ("timing.dt_s", '"1x"')), 2, k("dt_s", "1x")),
    C("momentum-dt-1-min", run_file("momentum", ("timing.dt_s", '"1 min"')), 2, k("dt_s", "1 min")),
    C("momentum-dt-zero", run_file("momentum", ("timing.dt_s", "0")), 2, k("dt_s", RANGE)),
    C("momentum-rc-tau-inf", run_file("momentum", ("rc.tau_s", "inf")), 2, k("tau_s", FINITE)),
    C("momentum-rc-leak-string", run_file("momentum", ("rc.leak", '"true"')), 2, k("leak", BOOL)),
    C("momentum-cascade-beta-one", run_file("momentum", ("cascade.beta_m", "1.0")), 2, k("beta_m", RANGE)),
    C("momentum-fal-beta_v-zero", run_file("momentum", ("fal.beta_v", "0")), 2, k("beta_v", RANGE)),
    C("momentum-fal-floor-nan", run_file("momentum", ("fal.s_floor_v", "nan")), 2, k("s_floor_v", FINITE)),
    C("momentum-equivalence-steps-zero", run_file("momentum", ("equivalence.steps", "0")), 2, k("steps", INT)),
    C("momentum-tolerance-nan", run_file("momentum", ("compare.tolerance", "nan")), 2, k("tolerance", FINITE)),
    C("momentum-unknown-table", run_file("momentum", ("adam.lr", "1e-3")), 2, r"unknown key.*adam"),
]

CROSSBAR_CASES = [
    C("mvm-rows-zero", run_file("mvm", ("problem.rows", "0")), 2, k("rows", INT)),
    C("mvm-rows-float", run_file("mvm", ("problem.rows", "4.5")), 2, k("rows", INT)),
    C("mvm-rows-string", run_file("mvm", ("problem.rows", '"four"')), 2, k("rows", INT)),
    C("mvm-cols-negative", run_file("mvm", ("problem.cols", "-1")), 2, k("cols", INT)),
    C("mvm-seed-negative", run_file("mvm", ("problem.seed", "-1")), 2, k("seed", SEED)),
    C("mvm-seed-float", run_file("mvm", ("problem.seed", "0.5")), 2, k("seed", SEED)),
    C("mvm-g_min-1x", run_file("mvm", ("device.g_min", '"1x"')), 2, k("g_min", "1x")),
    C("mvm-g_min-inf", run_file("mvm", ("device.g_min", "inf")), 2, k("g_min", FINITE)),
    C("mvm-g_max-nan", run_file("mvm", ("device.g_max", "nan")), 2, k("g_max", FINITE)),
    C("mvm-r_wire-10MHz", run_file("mvm", ("device.r_wire", '"10MHz"')), 2, k("r_wire", "10MHz")),
    C("mvm-r_row-negative", run_file("mvm", ("device.r_row", "-2")), 2, k("r_row", RANGE)),
    C("mvm-r_col-word", run_file("mvm", ("device.r_col", '"x"')), 2, k("r_col", NUMBER)),
    C("mvm-r_driver-nan", run_file("mvm", ("device.r_driver", "nan")), 2, k("r_driver", FINITE)),
    C("mvm-r_sense-farads", run_file("mvm", ("device.r_sense", '"10uF"')), 2, k("r_sense", "unit")),
    C("mvm-r_wire-and-r_row", run_file("mvm", ("device.r_wire", "2.0"), ("device.r_row", "1.0")), 2,
      r"device\.r_wire sets both row and column segments"),
    C("mvm-mc-samples-zero", run_file("mvm", ("monte_carlo.samples", "0")), 2, k("samples", INT)),
    C("mvm-mc-levels-one", run_file("mvm", ("monte_carlo.levels", "1")), 2, k("levels", INT)),
    C("mvm-mc-sigma-nan", run_file("mvm", ("monte_carlo.sigma", "nan")), 2, k("sigma", FINITE)),
    C("mvm-mc-seed-negative", run_file("mvm", ("monte_carlo.seed", "-1")), 2, k("seed", SEED)),
    C("mvm-settling-table", run_file("mvm", ("settling.tolerance", "1e-3")), 2, r"settling"),
    C("mvm-unknown-key", run_file("mvm", ("problem.size", "4")), 2, r"unknown key.*size"),
    C("solve-not-square", run_file("solve", ("problem.cols", "3")), 2, r"square"),
    C("solve-condition-below-one", run_file("solve", ("problem.condition", "0.5")), 2, k("condition", RANGE)),
    C("solve-condition-inf", run_file("solve", ("problem.condition", "inf")), 2, k("condition", FINITE)),
    C("solve-tolerance-two", run_file("solve", ("settling.tolerance", "2")), 2, k("tolerance", RANGE)),
    C("solve-opamp-kind", run_file("solve", ("settling.opamp.kind", '"ideal"')), 2, r"single_pole"),
    C("solve-opamp-gbw-10MHz", run_file("solve", ("settling.opamp.gbw_hz", '"10MHz"')), 2, k("gbw_hz", "10MHz")),
    C("solve-opamp-gbw-nan", run_file("solve", ("settling.opamp.gbw_hz", "nan")), 2, k("gbw_hz", FINITE)),
    C("solve-opamp-not-table", lambda c: ["run", c.raw_scenario(
        SOLVE.replace('[settling.opamp]\nkind = "single_pole"\ngain = 1e5\ngbw_hz = "1meg"\n', "")
             .replace("tolerance = 1e-3", "tolerance = 1e-3\nopamp = 3")), "--out", c.out, "--quiet"], 2, r"opamp.*table"),
    C("solve-b_v-negative", run_file("solve", ("problem.b_v", "-1")), 2, k("b_v", RANGE)),
    C("mvm-b_v", run_file("mvm", ("problem.b_v", "0.1")), 2, r"b_v.*crossbar_solve only"),
    C("solve-transistor-with-macro-keys", run_file("solve", ("settling.opamp.level", '"transistor"')), 2,
      r"unknown key.*(gain|gbw_hz|kind)"),
    C("solve-transistor-corner-tt", lambda c: ["run", c.raw_scenario(
        SOLVE.replace('[settling.opamp]\nkind = "single_pole"\ngain = 1e5\ngbw_hz = "1meg"\n',
                      '[settling.opamp]\nlevel = "transistor"\ncorner = "tt"\n')), "--out", c.out, "--quiet"], 2,
      r"corner 'tt'"),
    C("solve-transistor-supply-5V", lambda c: ["run", c.raw_scenario(
        SOLVE.replace('[settling.opamp]\nkind = "single_pole"\ngain = 1e5\ngbw_hz = "1meg"\n',
                      '[settling.opamp]\nlevel = "transistor"\nsupply_v = 5.0\n')), "--out", c.out, "--quiet"], 2,
      r"supply_v"),
    C("pinv-wide", run_file("pinv", ("problem.cols", "6")), 2, r"rows ≥ cols|rows >= cols|tall"),
    C("pinv-max_condition-nan", run_file("pinv", ("problem.max_condition", "nan")), 2, k("max_condition", FINITE)),
    C("pinv-mc-samples-float", run_file("pinv", ("monte_carlo.samples", "1.5")), 2, k("samples", INT)),
    C("pinv-levels-huge", run_file("pinv", ("monte_carlo.levels", "1e9")), 2, k("levels", INT)),
    C("inverse-transistor-with-gains", run_file("inverse", ("opamp.level", '"transistor"')), 2,
      r"gains.*transistor-level op-amp has its own"),
    C("inverse-transistor-with-macro-keys", lambda c: ["run", c.raw_scenario(
        INVERSE.replace("gains = [1e2, 1e3]\n", "").replace('kind = "ideal"', 'level = "transistor"')),
        "--out", c.out, "--quiet"], 2, r"unknown key.*offset_v"),
    C("solve-fitted-with-macro-keys", run_file("solve", ("settling.opamp.level", '"macro"')), 2,
      r"unknown key.*(gain|gbw_hz|kind)"),
    C("solve-fitted-corner-typ", lambda c: ["run", c.raw_scenario(
        SOLVE.replace('[settling.opamp]\nkind = "single_pole"\ngain = 1e5\ngbw_hz = "1meg"\n',
                      '[settling.opamp]\nlevel = "macro"\ncorner = "typ"\n')), "--out", c.out, "--quiet"], 2,
      r"corner 'typ'"),
    C("solve-top-level-opamp", run_file("solve", ("opamp.level", '"transistor"')), 2, r"\[settling\.opamp\]"),
    C("pinv-opamp-macro-table", run_file("pinv", ("opamp.gain", "1e4")), 2, r"ideal VCVSs unless.*transistor"),
    C("pinv-pdk-mismatch-without-transistors", run_file("pinv", ("monte_carlo.pdk_mismatch", "true")), 2,
      r"pdk_mismatch.*transistor"),
    C("pinv-transistor-corner-typ", run_set("sims:crossbar_pinv_gf180", 'opamp.corner="typ"'), 2, r"corner 'typ'"),
    C("mvm-transistor-answer-beyond-rails", run_file("mvm", ("problem.rows", "16"), ("problem.cols", "12"),
                                                     ("opamp.level", '"transistor"')), 2,
      r"answer reaches \|x\| = 2\.38 V, outside the ±1\.65 V rails of the transistor op-amps"),
]

CHOICE = r"(choose one of|one of)"

ML_CASES = [
    C("ml-rule-unknown", run_file("ml", ("training.rule", '"wp"')), 2, k("rule", CHOICE)),
    C("ml-mode-unknown", run_file("ml", ("training.mode", '"stream"')), 2, k("mode", CHOICE)),
    C("ml-activation-relu", run_file("ml", ("network.activation", '"relu"')), 2, k("activation", CHOICE)),
    C("ml-output-leaky", run_file("ml", ("network.output", '"leaky_relu"')), 2, k("output", CHOICE)),
    C("ml-hidden-empty", run_file("ml", ("network.hidden", "[]")), 2, k("hidden", LIST)),
    C("ml-hidden-zero", run_file("ml", ("network.hidden", "[0]")), 2, k("hidden", RANGE)),
    C("ml-hidden-float", run_file("ml", ("network.hidden", "[4.5]")), 2, k("hidden", INT)),
    C("ml-eta-over-one", run_file("ml", ("training.eta", "2")), 2, k("eta", RANGE)),
    C("ml-eta-nan", run_file("ml", ("training.eta", "nan")), 2, k("eta", FINITE)),
    C("ml-tau-zero", run_file("ml", ("training.tau_s", "0")), 2, k("tau_s", RANGE)),
    C("ml-iterations-float", run_file("ml", ("training.iterations", "2.5")), 2, k("iterations", INT)),
    C("ml-samples-too-many", run_file("ml", ("data.train_samples", "100000")), 2, k("train_samples", RANGE)),
    C("ml-source-unknown", run_file("ml", ("data.source", '"cifar"')), 2, k("source", CHOICE)),
    C("ml-substeps-zero", run_file("ml", ("twin.substeps", "0")), 2, k("substeps", RANGE)),
    C("ml-range-negative", run_file("ml", ("circuit.multiplier_range_v", "-1")), 2, k("multiplier_range_v", RANGE)),
    C("ml-offset-unit", run_file("ml", ("circuit.multiplier_offset_v", '"1mA"')), 2, k("multiplier_offset_v", NUMBER)),
    C("ml-unknown-key", run_file("ml", ("training.lr", "1")), 2, k("lr", UNKNOWN)),
]

RECIRC_CASES = [
    C("sens-levels-one", run_file("sens", ("sensitivity.levels", "[1, 4]")), 2, k("levels[0]", RANGE)),
    C("sens-levels-float", run_file("sens", ("sensitivity.levels", "[4.5]")), 2, k("levels[0]", INT)),
    C("sens-offset-suffix", run_file("sens", ("sensitivity.ota_offset_v", '["1q"]')), 2, k("ota_offset_v[0]", NUMBER)),
    C("sens-offset-nan", run_file("sens", ("sensitivity.ota_offset_v", "[nan]")), 2, k("ota_offset_v[0]", FINITE)),
    C("sens-headroom-outside", run_file("sens", ("sensitivity.ota_headroom_v", "[2.0]")), 2, k("ota_headroom_v", RANGE)),
    C("sens-unknown-key", run_file("sens", ("sensitivity.gm_s", "[1]")), 2, k("gm_s", UNKNOWN)),
    C("sens-empty", run_file("sens", ("sensitivity.levels", None), ("sensitivity.ota_offset_v", None)), 2,
      "at least one imperfection"),
    C("sens-base-kind", run_file("sens", ("base", '"crossbar_mvm"')), 2, k("base", "nf_single")),
    C("sens-base-missing", run_file("sens", ("base", '"nope"')), 2, k("base", UNKNOWN)),
    C("sens-base-set", run_file("sens", ("set", '["loop.nope=1"]')), 2, k("nope", "no parameter")),
    C("sens-leaky-r_out", run_file("sens", ("set", '["loop.leak=true"]'), ("sensitivity.ota_r_out_ohm", '["1g"]')), 2,
      k("ota_r_out_ohm", "leak")),
    C("sens-tolerance-zero", run_file("sens", ("sensitivity.tolerance_rel", "0")), 2, k("tolerance_rel", RANGE)),
    C("recirc-n-zero", run_file("recirc", ("recirculation.n", "0")), 2, k("n", INT)),
    C("recirc-n-float", run_file("recirc", ("recirculation.n", "4.5")), 2, k("n", INT)),
    C("recirc-inits-negative", run_file("recirc", ("recirculation.inits", "-1")), 2, k("inits", INT)),
    C("recirc-decay-one", run_file("recirc", ("recirculation.decay", "1")), 2, k("decay", RANGE)),
    C("recirc-decay-nan", run_file("recirc", ("recirculation.decay", "nan")), 2, k("decay", FINITE)),
    C("recirc-decay-suffix", run_file("recirc", ("recirculation.decay", '"0.9x"')), 2, k("decay", "0.9x")),
    C("recirc-max_condition-one", run_file("recirc", ("recirculation.max_condition", "1")), 2, k("max_condition", RANGE)),
    C("recirc-steps-zero", run_file("recirc", ("recirculation.steps", "0")), 2, k("steps", INT)),
    C("recirc-noise_samples-bool", run_file("recirc", ("recirculation.noise_samples", "true")), 2, k("noise_samples", INT)),
    C("recirc-seed-negative", run_file("recirc", ("recirculation.seed", "-1")), 2, k("seed", SEED)),
    C("recirc-seed-float", run_file("recirc", ("recirculation.seed", "1.5")), 2, k("seed", SEED)),
    C("recirc-unknown-key", run_file("recirc", ("recirculation.lr", "0.1")), 2, r"unknown key.*lr"),
]

# --- the scenario file itself ------------------------------------------------------------------------
FILE_CASES = [
    C("file-unknown-name", lambda c: ["run", "nosuch", "--out", c.out, "--quiet"], 2, r"unknown scenario 'nosuch'"),
    C("file-missing-path", lambda c: ["run", str(c.scen / "missing.toml"), "--out", c.out, "--quiet"], 2, r"missing\.toml: no such file"),
    C("file-missing-name", lambda c: ["run", "missing.toml", "--out", c.out, "--quiet"], 2, r"scenario file missing\.toml: no such file"),
    C("file-empty-name", lambda c: ["run", "", "--out", c.out, "--quiet"], 2, r"the scenario name is empty"),
    C("file-shipped-name-with-suffix", lambda c: ["run", "nf_staircase.toml", "--out", c.out, "--quiet"], 2,
      r"no such file; the shipped scenario is named without \.toml: nf_staircase"),
    C("file-invalid-toml", lambda c: ["run", c.raw_scenario(NF.replace("[loop]", "[loop\n")), "--out", c.out, "--quiet"], 2, r"TOML"),
    C("file-not-utf8", lambda c: ["run", c.raw_scenario(b'kind = "nf_single"\ntitle = "caf\xe9 \xff\xfe"\n' + NF.split("\n", 2)[2].encode()),
                                  "--out", c.out, "--quiet"], 2, r"(?i)(utf-?8|decod|encod)"),
    C("file-utf16", lambda c: ["run", c.raw_scenario(NF.encode("utf-16")), "--out", c.out, "--quiet"], 2, r"(?i)(utf-?8|decod|encod|TOML)"),
    C("file-empty", lambda c: ["run", c.raw_scenario(""), "--out", c.out, "--quiet"], 2, r"kind"),
    C("file-kind-unknown", run_file("nf", ("kind", '"nf_double"')), 2, r"kind.*nf_double"),
    C("file-kind-number", run_file("nf", ("kind", "3")), 2, r"'kind' must be a string.*got 3"),
    C("file-kind-missing", run_file("nf", ("kind", None)), 2, r"kind"),
    C("file-directory", lambda c: ["run", str((c.scen / "dir.toml").mkdir() or (c.scen / "dir.toml")), "--out", c.out,
                                   "--quiet"], 2, r"(?i)(cannot read|directory|not a file)"),
    C("file-unknown-top-key", run_file("nf", ("seed", "0")), 2, r"unknown key.*seed"),
    C("file-title-table", run_file("nf", ("title", "{ a = 1 }")), 2, r"title"),
]

# --- --set on run -------------------------------------------------------------------------------------
SET_CASES = [
    C("set-iterations-float", run_set("sims:nf_staircase", "loop.iterations=300.9"), 2, k("iterations", INT)),
    C("set-tau_s-1x", run_set("sims:nf_staircase", "loop.tau_s=1x"), 2, k("tau_s", "1x")),
    C("set-tau_s-inf", run_set("sims:nf_staircase", "loop.tau_s=inf"), 2, k("tau_s", FINITE)),
    C("set-tau_s-nan", run_set("sims:nf_staircase", "loop.tau_s=nan"), 2, k("tau_s", FINITE)),
    C("set-tau_s-1-min", run_set("sims:nf_staircase", 'loop.tau_s="1 min"'), 2, k("tau_s", "1 min")),
    # a lost or doubled scale factor: no circuit value is this large or small (analogopt.values.PLAUSIBLE)
    C("set-tau_s-tiny", run_set("sims:nf_staircase", "loop.tau_s=1e-300"), 2, r"tau_s: 1e-300 s is outside the range"),
    C("set-supply-huge", run_set("sims:nf_staircase", "circuit.level=macro", "circuit.supply_v=1e30"), 2,
      r"supply_v: 1e\+30 V is outside the range of any circuit value"),
    C("set-c_w-tiny", run_set("sims:nf_staircase", "circuit.level=macro", "circuit.c_w_f=1e-300"), 2, r"c_w_f: .* F is outside"),
    C("set-g_max-huge", run_set("solve", "device.g_max=1e30"), 2, r"g_max: .* S is outside"),
    C("set-offset-huge", run_set("inverse", "opamp.offset_v=1e30"), 2, r"offset_v: .* V is outside"),
    C("set-iterations-unicode-digit", run_set("sims:nf_staircase", "loop.iterations=٣"), 2, k("iterations", INT)),
    C("set-ml-hidden-word", run_set("ml", "network.hidden=[4,'a']"), 2, r"network\.hidden\[1\]: must be an integer"),
    C("set-tau_s-10MHz", run_set("sims:nf_staircase", "loop.tau_s=10MHz"), 2, k("tau_s", "10MHz")),
    C("set-least_squares-string", run_set("sims:nf_noisy_relu", 'compare.least_squares="false"'), 2, k("least_squares", BOOL)),
    C("set-leak-bare-word", run_set("sims:nf_staircase", "loop.leak=yes"), 2, k("leak", BOOL)),
    C("set-power-float", run_set("nf", "network.error_gain=beta_pow", "network.power=3.7"), 2, k("power", INT)),
    C("set-w0-inf", run_set("sims:nf_staircase", "loop.w0=[0.3,inf]"), 2, k("w0", FINITE)),
    C("set-w0-short", run_set("sims:nf_staircase", "loop.w0=[0.3]"), 2, r"(w0|shape)"),
    C("set-iterations-empty", run_set("sims:nf_staircase", "loop.iterations="), 2, r"iterations"),
    C("set-no-table", run_set("sims:nf_staircase", "nosuch.key=1"), 2, r"no table 'nosuch'"),
    C("set-no-parameter", run_set("sims:nf_staircase", "loop.tau=1"), 2, r"no parameter 'tau'"),
    C("set-into-scalar", run_set("sims:nf_staircase", "loop.iterations.x=1"), 2, r"(no table|iterations)"),
    C("set-no-equals", run_set("sims:nf_staircase", "loop"), 2, r"PATH=VALUE"),
    C("set-empty-path", run_set("sims:nf_staircase", "=1"), 2, r"PATH=VALUE"),
    C("set-empty", run_set("sims:nf_staircase", ""), 2, r"PATH=VALUE"),
    C("set-table-to-scalar", run_set("sims:nf_staircase", "data=1"), 2, r"data"),
    C("set-kind-change", run_set("sims:nf_staircase", "kind=crossbar_mvm"), 2, r"(unknown key|kind)"),
    C("set-mc-samples-float", run_set("sims:crossbar_mvm", "monte_carlo.samples=2.5"), 2, k("samples", INT)),
    C("set-rows-negative", run_set("sims:crossbar_mvm", "problem.rows=-4"), 2, k("rows", INT)),
    C("set-recirc-seed-negative", run_set("recirc", "recirculation.seed=-1"), 2, k("seed", SEED)),
    C("set-fal-seeds-negative", run_set("fal", "training.seeds=[0,-1]"), 2, k("seeds", SEED)),
    C("set-rules-hidden-negative", run_set("rules", "base.hidden=[8,-3]"), 2, k("hidden", r"(positive|negative|≥|>=)")),
    C("set-logamp-points-float", run_set("logamp", "sweep.points_per_decade=2.5"), 2, k("points_per_decade", INT)),
    C("set-inverse-gains-string", run_set("inverse", "loop.gains=fast"), 2, k("gains", LIST)),
    C("set-momentum-dt-word", run_set("momentum", "timing.dt_s=soon"), 2, k("dt_s", "soon")),
    C("set-solve-gbw-10MHz", run_set("solve", "settling.opamp.gbw_hz=10MHz"), 2, k("gbw_hz", "10MHz")),
    C("set-pinv-seed-string", run_set("pinv", "problem.seed=abc"), 2, k("seed", SEED)),
]

# --- flags of run -------------------------------------------------------------------------------------
FLAG_CASES = [
    C("flags-run-timeout-zero", run_file("nf", args=("--timeout", "0")), 2, r"--timeout"),
    C("flags-run-timeout-negative", run_file("nf", args=("--timeout=-1",)), 2, r"--timeout"),
    C("flags-run-timeout-nan", run_file("nf", args=("--timeout", "nan")), 2, r"--timeout"),
    C("flags-run-timeout-inf", run_file("nf", args=("--timeout", "inf")), 2, r"--timeout"),
    C("flags-run-timeout-huge", run_file("nf", args=("--timeout", "1e30")), 2, r"--timeout must be at most 2\.592e\+06 s"),
    C("flags-run-timeout-word", run_file("nf", args=("--timeout", "soon")), 2, r"--timeout"),
    C("flags-run-no-out", lambda c: ["run", c.scenario("nf"), "--quiet"], 2, r"--out"),
    C("flags-run-no-scenario", lambda c: ["run", "--out", c.out], 2, r"scenario"),
    C("flags-run-unknown-flag", run_file("nf", args=("--bogus",)), 2, r"--bogus"),
    C("flags-unknown-command", lambda c: ["frobnicate"], 2, r"frobnicate"),
]

# --- sweep -------------------------------------------------------------------------------------------
SWEEP_CASES = [
    C("sweep-set-iterations-float", sweep("--set", "loop.iterations=300.9,400"), 2, k("iterations", INT)),
    C("sweep-set-iterations-word", sweep("--set", "loop.iterations=100,abc"), 2, k("iterations", INT)),
    C("sweep-set-tau-1x", sweep("--set", "loop.tau_s=1x,2x"), 2, k("tau_s", "1x")),
    C("sweep-set-tau-inf", sweep("--set", "loop.tau_s=1e-3,inf"), 2, k("tau_s", FINITE)),
    C("sweep-set-least_squares-string", sweep("--set", 'compare.least_squares="false",true'), 2, k("least_squares", BOOL)),
    C("sweep-set-unknown", sweep("--set", "loop.bogus=1,2"), 2, r"no parameter 'bogus'"),
    C("sweep-set-empty-list", sweep("--set", "loop.forward_gain="), 2, r"empty value list"),
    C("sweep-set-twice", sweep("--set", "loop.forward_gain=0.1", "--set", "loop.forward_gain=0.2"), 2, r"once"),
    C("sweep-set-no-equals", sweep("--set", "loop.forward_gain"), 2, r"PATH=V1"),
    C("sweep-set-empty-path", sweep("--set", "=1,2"), 2, r"PATH=V1"),
    C("sweep-scenario-bad-value", sweep(edits=[("loop.iterations", "300.9")]), 2, k("iterations", INT)),
    C("sweep-scenario-bad-kind-value", sweep(base="mvm", edits=[("problem.rows", "0")]), 2, k("rows", INT)),
    C("sweep-mc-zero", sweep("--mc", "0"), 2, r"--mc"),
    C("sweep-mc-negative", sweep("--mc=-1"), 2, r"--mc"),
    C("sweep-mc-float", sweep("--mc", "1.5"), 2, r"--mc"),
    C("sweep-mc-word", sweep("--mc", "many"), 2, r"--mc"),
    C("sweep-mc-too-many", sweep("--mc", "2000000"), (2, 9), r"(samples|--mc)"),
    C("sweep-seed-negative", sweep("--mc", "2", "--seed=-1"), 2, r"--seed"),
    C("sweep-seed-float", sweep("--mc", "2", "--seed", "1.5"), 2, r"--seed"),
    C("sweep-vary-unknown-target", sweep("--mc", "2", "--vary", "q=gauss:0.1"), 2, r"not an element target"),
    C("sweep-vary-distribution", sweep("--mc", "2", "--vary", "x=uniform:0.1"), 2, r"distribution"),
    C("sweep-vary-sigma-large", sweep("--mc", "2", "--vary", "x=gauss:2"), 2, r"sigma"),
    C("sweep-vary-sigma-nan", sweep("--mc", "2", "--vary", "x=gauss:nan"), 2, r"sigma"),
    C("sweep-vary-sigma-word", sweep("--mc", "2", "--vary", "x=gauss:abc"), 2, r"sigma"),
    C("sweep-vary-no-sigma", sweep("--mc", "2", "--vary", "x=gauss"), 2, r"TARGET=DIST:SIGMA"),
    C("sweep-vary-without-mc", sweep("--vary", "x=gauss:0.1"), 2, r"--mc"),
    C("sweep-vary-bool-path", sweep("--mc", "2", "--vary", "loop.leak=gauss:0.1"), 2, r"numeric"),
    C("sweep-vary-missing-path", sweep("--mc", "2", "--vary", "loop.nosuch=gauss:0.1"), 2, r"nosuch"),
    C("sweep-vary-crossbar-gauss", sweep("--mc", "2", "--vary", "g=gauss:0.1", base="mvm"), 2, r"lognormal"),
    C("sweep-spec-operator", sweep("--spec", "max_abs_deviation~1"), 2, r"METRIC<VALUE"),
    C("sweep-spec-value-word", sweep("--spec", "max_abs_deviation<abc"), 2, r"--spec"),
    C("sweep-spec-nan", sweep("--spec", "max_abs_deviation<nan"), 2, r"--spec"),
    C("sweep-spec-inf", sweep("--spec", "max_abs_deviation<1e999"), 2, r"--spec.*not a finite number"),
    C("sweep-spec-status", sweep("--spec", "status<1"), 2, r"'status' is a column of the sweep's own bookkeeping"),
    C("sweep-spec-set-column", sweep("--spec", "set.loop.iterations>100"), 2, r"not a metric"),
    C("sweep-vary-gauss-sign-flip", sweep("--mc", "2", "--vary", "tau=gauss:1"), 2, r"gauss:1.*≤ 0.*lognormal"),
    C("sweep-vary-twice", sweep("--mc", "2", "--vary", "loop.eta=gauss:0.05", "--vary", "loop.eta=gauss:0.1"), 2,
      r"each target may vary once"),
    C("sweep-native-transient", sweep("--simulator", "native"), 2, r"--simulator native: .*cannot run \.tran"),
    C("sweep-workers-zero", sweep("--workers", "0"), 2, r"--workers"),
    C("sweep-workers-negative", sweep("--workers=-1"), 2, r"--workers"),
    C("sweep-workers-float", sweep("--workers", "1.5"), 2, r"--workers"),
    C("sweep-workers-huge", sweep("--workers", "100000"), 2, r"--workers"),
    C("sweep-workers-and-scheduler", sweep("--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), 2, r"either --workers"),
    C("sweep-timeout-zero", sweep("--timeout", "0"), 2, r"--timeout"),
    C("sweep-timeout-negative", sweep("--timeout=-5"), 2, r"--timeout"),
    C("sweep-timeout-nan", sweep("--timeout", "nan"), 2, r"--timeout"),
    C("sweep-timeout-inf", sweep("--timeout", "inf"), 2, r"--timeout"),
    C("sweep-timeout-huge", sweep("--timeout", "1e30"), 2, r"--timeout must be at most"),
    C("sweep-timeout-word", sweep("--timeout", "soon"), 2, r"--timeout"),
    C("sweep-no-scenario", lambda c: ["sweep", "--out", c.out], 2, r"SCENARIO"),
    C("sweep-no-out", lambda c: ["sweep", c.scenario("nf")], 2, r"--out"),
    C("sweep-unknown-scenario", lambda c: ["sweep", "nosuch", "--out", c.out], 2, r"unknown scenario 'nosuch'"),
    C("sweep-rerun-no-dir", lambda c: ["sweep", "--rerun", str(c.root / "nodir"), "p000"], 2, r"(sweep\.json|not a sweep)"),
    C("sweep-rerun-not-json", lambda c: ["sweep", "--rerun", c.sweep_dir(manifest="{not json"), "p000"], 2, r"sweep\.json"),
    C("sweep-rerun-wrong-json", lambda c: ["sweep", "--rerun", c.sweep_dir(manifest={"mc": 1}), "p000"], 2, r"sweep\.json"),
    C("sweep-rerun-file", lambda c: ["sweep", "--rerun", c.file("afile"), "p000"], 2, r"(sweep\.json|not a sweep|directory)"),
    C("sweep-rerun-unknown-id", lambda c: ["sweep", "--rerun", c.sweep_dir(), "p999"], 2, r"no sample 'p999'"),
    C("sweep-rerun-path-id", lambda c: ["sweep", "--rerun", c.sweep_dir(), "../../p000"], 2, r"no sample"),
    C("sweep-rerun-one-arg", lambda c: ["sweep", "--rerun", c.sweep_dir()], 2, r"--rerun"),
]

# --- export -----------------------------------------------------------------------------------------
EXPORT_CASES = [
    C("export-rules-no-circuit", export_file("rules"), 2, r"(no circuit|pure)"),
    C("export-fal-no-circuit", export_file("fal"), 2, r"(no circuit|pure)"),
    C("export-recirc-no-circuit", export_file("recirc"), 2, r"(no circuit|pure)"),
    C("export-nf-iterations-float", export_file("nf", ("loop.iterations", "300.9")), 2, k("iterations", INT)),
    C("export-nf-tau-inf", export_file("nf", ("loop.tau_s", "inf")), 2, k("tau_s", FINITE)),
    C("export-mvm-rows-zero", export_file("mvm", ("problem.rows", "0")), 2, k("rows", INT)),
    C("export-inverse-points-float", export_file("inverse", ("loop.points", "11.5")), 2, k("points", INT)),
    C("export-logamp-gbw-10MHz", export_file("logamp", ("step.gbw_hz", '"10MHz"')), 2, k("gbw_hz", "10MHz")),
    C("export-momentum-dt-1x", export_file("momentum", ("timing.dt_s", '"1x"')), 2, k("dt_s", "1x")),
    C("export-set-unknown", export_file("nf", args=("--set", "loop.nosuch=1")), 2, r"no parameter 'nosuch'"),
    C("export-set-value", export_file("nf", args=("--set", "loop.leak=yes")), 2, k("leak", BOOL)),
    C("export-unknown-scenario", lambda c: ["export", "nosuch", "--out", c.out], 2, r"unknown scenario 'nosuch'"),
    C("export-no-out", lambda c: ["export", c.scenario("nf")], 2, r"--out"),
]

# --- train --------------------------------------------------------------------------------------------
TRAIN_CASES = [
    C("train-arch-negative", train("--arch", "10,-3"), 2, r"(arch|hidden).*(positive|negative|-3|≥|>=)"),
    C("train-arch-zero", train("--arch", "10,0"), 2, r"(arch|hidden).*(positive|≥|>=)"),
    C("train-arch-float", train("--arch", "1.5"), 2, r"(arch|hidden)"),
    C("train-arch-leading-negative", train("--arch=-3"), 2, r"(arch|hidden).*(positive|negative|-3|≥|>=)"),
    C("train-arch-word", train("--arch", "10,x"), 2, r"(arch|hidden)"),
    C("train-arch-too-large", train("--arch", "100000000"), 9, r"layers 4-100000000-3: needs about .* of memory"),
    C("train-lr-huge", train("--lr", "1e300"), 2, r"lr: must be in \(0, 1000\]"),
    C("train-data-dir-unused", train("--data-dir", "somewhere"), 2, r"data_dir: data 'iris' ships with the package"),
    C("train-seed-negative", train("--seed=-1"), 2, k("seed", SEED)),
    C("train-seed-float", train("--seed", "1.5"), 2, r"seed"),
    C("train-seed-huge", train("--seed", str(2**70)), 2, k("seed", SEED)),
    C("train-lr-inf", train("--lr", "inf"), 2, k("lr", FINITE)),
    C("train-lr-nan", train("--lr", "nan"), 2, k("lr", f"({FINITE}|{RANGE})")),
    C("train-lr-zero", train("--lr", "0"), 2, k("lr", RANGE)),
    C("train-lr-negative", train("--lr=-0.1"), 2, k("lr", RANGE)),
    C("train-lr-word", train("--lr", "fast"), 2, r"lr"),
    C("train-epochs-zero", train("--epochs", "0"), 2, k("epochs", INT)),
    C("train-epochs-negative", train("--epochs=-1"), 2, k("epochs", INT)),
    C("train-epochs-float", train("--epochs", "1.5"), 2, r"epochs"),
    C("train-batch-size-zero", train("--batch-size", "0"), 2, k("batch", INT)),
    C("train-train-limit-negative", train("--train-limit=-1"), 2, r"train.limit.*integer"),
    C("train-data-unknown", train("--data", "nosuch"), 2, r"unknown data set 'nosuch'"),
    C("train-rule-unknown", train("--rule", "nosuch"), 2, r"unknown rule 'nosuch'"),
    C("train-option-junk", train("--option", "junk"), 2, r"KEY=VALUE"),
    C("train-option-empty-key", train("--option", "=1"), 2, r"KEY=VALUE"),
    C("train-option-unknown", train("--rule", "srbp", "--option", "nonsense=1"), 2, r"nonsense"),
    C("train-option-bits-float", train("--rule", "srbp", "--option", "error_bits=1.5"), 2, r"bits.*integer"),
    C("train-option-bits-inf", train("--rule", "srbp", "--option", "error_bits=inf"), 2, r"bits"),
    C("train-option-bool-string", train("--rule", "rbp", "--option", 'fprime="no"'), 2, k("fprime", BOOL)),
    C("train-optimizer-unknown", train("--optimizer", "rmsprop"), 2, k("optimizer", UNKNOWN)),
    C("train-loss-unknown", train("--loss", "hinge"), 2, k("loss", UNKNOWN)),
    C("train-init-unknown", train("--init", "nosuch"), 2, k("init", UNKNOWN)),
    C("train-activation-unknown", train("--activation", "swish"), 2, k("activation", UNKNOWN)),
    C("train-mnist-idx-missing-dir", lambda c: train("--data", "mnist_idx", "--data-dir", str(c.root / "nodir"))(c), 2,
      r"(?i)(nodir|data.dir|idx)"),
    C("train-no-rule", lambda c: ["train", "--data", "iris", "--out", c.out], 2, r"--rule"),
]

# --- --out: run, train, export, sweep -------------------------------------------------------------------
def _home(c: Ctx) -> str:
    return str(c.home)


OUT_CASES = [
    # names that are never a result directory, whatever the flags
    C("out-run-dot", out_case("run", lambda c: "."), 2, r"--out.*current directory"),
    C("out-run-dot-force", out_case("run", lambda c: ".", "--force"), 2, r"--out.*current directory"),
    C("out-run-dot-slash", out_case("run", lambda c: "./", "--force"), 2, r"--out.*current directory"),
    C("out-run-empty", out_case("run", lambda c: ""), 2, r"--out.*empty"),
    C("out-run-not-utf8", out_case("run", lambda c: os.path.join(os.path.dirname(str(c.out)), "z\udcff")), 2,
      r"--out .*not valid UTF-8"),
    C("out-run-empty-force", out_case("run", lambda c: "", "--force"), 2, r"--out.*empty"),
    C("out-run-blank-force", out_case("run", lambda c: "  ", "--force"), 2, r"--out.*empty"),
    C("out-run-home", out_case("run", _home), 2, r"--out.*home directory"),
    C("out-run-home-force", out_case("run", _home, "--force"), 2, r"--out.*home directory"),
    C("out-run-tilde-force", out_case("run", lambda c: "~", "--force"), 2, r"--out.*home directory"),
    C("out-run-root", out_case("run", lambda c: "/"), 2, r"--out.*(current directory|home directory|scenario)"),
    C("out-run-root-force", out_case("run", lambda c: "/", "--force"), 2, r"--out.*(current directory|home directory|scenario)"),
    C("out-run-dotdot-force", out_case("run", lambda c: "..", "--force"), 2, r"--out.*(current|home) directory"),
    C("out-run-dotdot-dotdot-force", out_case("run", lambda c: "../..", "--force"), 2, r"--out.*(current|home) directory"),
    C("out-run-cwd-absolute-force", out_case("run", lambda c: str(c.work), "--force"), 2, r"--out.*current directory"),
    C("out-run-cwd-roundabout-force", out_case("run", lambda c: str(c.work / "sub" / ".."), "--force"), 2, r"--out.*current directory"),
    C("out-run-home-parent-force", out_case("run", lambda c: str(c.home.parent), "--force"), 2, r"--out.*(current|home) directory"),
    C("out-run-scenario-folder-force", out_case("run", lambda c: str(c.scen / "sub"), "--force",
                                                scenario=lambda c: c.scenario("nf", folder=c.scen / "sub")), 2, r"--out.*scenario"),
    C("out-run-scenario-ancestor-force", out_case("run", lambda c: str(c.scen), "--force",
                                                  scenario=lambda c: c.scenario("nf", folder=c.scen / "sub" / "deeper")), 2, r"--out.*scenario"),
    C("out-run-scenario-folder", out_case("run", lambda c: str(c.scen / "sub"),
                                          scenario=lambda c: c.scenario("nf", folder=c.scen / "sub")), 2, r"--out.*(scenario|--force)"),
    C("out-run-scenario-file", out_case("run", lambda c: str(c.scen / "corpus_nf.toml"), "--force"), 2, r"--out.*(scenario|not a directory)"),
    C("out-run-sims-folder-force", out_case("run", lambda c: str(SIMS_DIR), "--force", scenario=lambda c: "nf_staircase"), 2, r"--out.*scenario"),
    C("out-run-repo-force", out_case("run", lambda c: str(SIMS_DIR.parent), "--force", scenario=lambda c: "nf_staircase"), 2, r"--out.*scenario"),
    # directories analogopt did not write
    C("out-run-not-ours-force", out_case("run", lambda c: c.dir_with("keep"), "--force"), 2, r"--out.*(\.analogopt-run|not written by analogopt|marker)"),
    C("out-run-not-ours", out_case("run", lambda c: c.dir_with("keep")), 2, r"--out.*--force"),
    C("out-run-hidden-file-force", out_case("run", lambda c: c.dir_with("keep", files=(".hidden",)), "--force"), 2, r"--out.*(\.analogopt-run|not written by analogopt|marker)"),
    C("out-run-marker-is-dir-force", out_case("run", lambda c: c.dir_with("keep", marker_dir=True), "--force"), 2, r"--out.*(\.analogopt-run|not written by analogopt|marker)"),
    # links and files
    C("out-run-symlink", out_case("run", lambda c: c.symlink("link", "real")), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-run-symlink-force", out_case("run", lambda c: c.symlink("link", "real"), "--force"), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-run-dangling-symlink", out_case("run", lambda c: c.symlink("link", None)), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-run-existing-file", out_case("run", lambda c: c.file("afile")), 2, r"--out.*not a directory"),
    C("out-run-existing-file-force", out_case("run", lambda c: c.file("afile"), "--force"), 2, r"--out.*not a directory"),
    C("out-run-parent-is-file", out_case("run", lambda c: str(Path(c.file("afile")) / "out")), (2, 8), r"(?i)--out.*(not a directory|is a file)"),
    C("out-run-grandparent-is-file", out_case("run", lambda c: str(Path(c.file("afile")) / "a" / "b")), (2, 8), r"(?i)--out.*(not a directory|is a file)"),
    C("out-run-name-too-long", out_case("run", lambda c: str(c.root / ("x" * 300))), (2, 8), r"(?i)--out.*(too long|name)"),
    # the same rules for train, export and sweep
    C("out-train-dot-force", out_case("train", lambda c: ".", "--force"), 2, r"--out.*current directory"),
    C("out-train-empty", out_case("train", lambda c: ""), 2, r"--out.*empty"),
    C("out-train-home-force", out_case("train", _home, "--force"), 2, r"--out.*home directory"),
    C("out-train-root-force", out_case("train", lambda c: "/", "--force"), 2, r"--out.*(current directory|home directory)"),
    C("out-train-not-ours-force", out_case("train", lambda c: c.dir_with("keep"), "--force"), 2, r"--out.*(\.analogopt-run|not written by analogopt|marker)"),
    C("out-train-symlink", out_case("train", lambda c: c.symlink("link", "real")), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-train-parent-is-file", out_case("train", lambda c: str(Path(c.file("afile")) / "out")), (2, 8), r"(?i)--out.*(not a directory|is a file)"),
    C("out-export-dot-force", out_case("export", lambda c: ".", "--force"), 2, r"--out.*current directory"),
    C("out-export-empty", out_case("export", lambda c: ""), 2, r"--out.*empty"),
    C("out-export-tilde-force", out_case("export", lambda c: "~", "--force"), 2, r"--out.*home directory"),
    C("out-export-not-ours-force", out_case("export", lambda c: c.dir_with("keep"), "--force"), 2, r"--out.*(\.analogopt-run|not written by analogopt|marker)"),
    C("out-export-symlink", out_case("export", lambda c: c.symlink("link", "real")), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-export-scenario-folder-force", out_case("export", lambda c: str(c.scen / "sub"), "--force",
                                                   scenario=lambda c: c.scenario("nf", folder=c.scen / "sub")), 2, r"--out.*scenario"),
    C("out-export-existing-file", out_case("export", lambda c: c.file("afile")), 2, r"--out.*not a directory"),
    C("out-sweep-dot", out_case("sweep", lambda c: "."), 2, r"--out.*current directory"),
    C("out-sweep-empty", out_case("sweep", lambda c: ""), 2, r"--out.*empty"),
    C("out-sweep-home", out_case("sweep", _home), 2, r"--out.*home directory"),
    C("out-sweep-root", out_case("sweep", lambda c: "/"), 2, r"--out.*(current directory|home directory|scenario)"),
    C("out-sweep-dotdot", out_case("sweep", lambda c: ".."), 2, r"--out.*(current|home) directory"),
    C("out-sweep-symlink", out_case("sweep", lambda c: c.symlink("link", "real")), 2, r"(?i)--out.*(symbolic link|symlink)"),
    C("out-sweep-existing-file", out_case("sweep", lambda c: c.file("afile")), 2, r"--out.*(not a directory|exists)"),
    C("out-sweep-parent-is-file", out_case("sweep", lambda c: str(Path(c.file("afile")) / "out")), (2, 8), r"(?i)--out.*(not a directory|is a file)"),
    C("out-sweep-not-a-sweep", out_case("sweep", lambda c: c.dir_with("keep")), 2, r"--out.*(sweep\.json|not empty)"),
    C("out-sweep-scenario-folder", out_case("sweep", lambda c: str(c.scen / "sub"),
                                            scenario=lambda c: c.scenario("nf", folder=c.scen / "sub")), 2, r"--out.*(scenario|not empty)"),
]

# --- sizes: refused before any work, exit 9, naming the size and the override flag ------------------------
LIMIT_CASES = [
    C("limits-samples-1e8", run_file("nf_shipped", ("data.samples", "1e8")), 9, k("samples", FLAG_9), subprocess=True),
    C("limits-samples-100000000", run_file("nf_shipped", ("data.samples", "100000000")), 9, k("samples", FLAG_9), subprocess=True),
    C("limits-iterations-1e12", run_file("nf_shipped", ("loop.iterations", "1e12")), 9, k("iterations", FLAG_9), subprocess=True),
    C("limits-iterations-int-1e12", run_file("nf_shipped", ("loop.iterations", "1000000000000")), 9, k("iterations", FLAG_9), subprocess=True),
    C("limits-set-samples-1e8", run_set("sims:nf_staircase", "data.samples=1e8"), 9, k("samples", FLAG_9), subprocess=True),
    C("limits-set-iterations-1e12", run_set("sims:nf_staircase", "loop.iterations=1e12"), 9, k("iterations", FLAG_9), subprocess=True),
    C("limits-export-samples-1e8", export_file("nf_shipped", ("data.samples", "1e8")), 9, k("samples", FLAG_9), subprocess=True),
    C("limits-recirculation-memory", run_file("recirc", ("recirculation.n", "512"), ("recirculation.inits", "100000")), 9,
      r"(?i)(memory|[GT]B).*" + FLAG_9, subprocess=True),
]

BAD_INPUTS: list[Case] = [
    *NF_CASES, *RULES_CASES, *INVERSE_CASES, *LOGAMP_CASES, *FAL_CASES, *MOMENTUM_CASES, *CROSSBAR_CASES,
    *RECIRC_CASES, *ML_CASES, *FILE_CASES, *SET_CASES, *FLAG_CASES, *SWEEP_CASES, *EXPORT_CASES, *TRAIN_CASES, *OUT_CASES,
    *LIMIT_CASES,
]

# --- inputs that must work (exit 0) -----------------------------------------------------------------------
@dataclass(frozen=True)
class Good:
    """``build`` as for :class:`Case`; ``check(metrics)`` judges the result's ``metrics.json`` (or None)."""

    id: str
    build: Build
    check: Callable[[dict], bool] | None = None
    slow: bool = False


def _close(value: float, want: float) -> bool:
    return abs(value - want) <= 1e-9 * abs(want)


GOOD_INPUTS: list[Good] = [
    Good("tau_s-1mil", run_file("nf", ("loop.tau_s", '"1mil"')), lambda m: _close(m["circuit"]["tau_s"], 25.4e-6)),
    Good("tau_s-1MIL-upper-case", run_file("nf", ("loop.tau_s", '"1MIL"')), lambda m: _close(m["circuit"]["tau_s"], 25.4e-6)),
    Good("tau_s-1ms-own-unit", run_file("nf", ("loop.tau_s", '"1ms"')), lambda m: _close(m["circuit"]["tau_s"], 1e-3)),
    Good("tau_s-set-1mil", run_set("nf", "loop.tau_s=1mil"), lambda m: _close(m["circuit"]["tau_s"], 25.4e-6)),
    Good("w0-integers", run_file("nf", ("loop.w0", "[0, 1]"))),
    Good("iterations-integral-float", run_file("nf", ("loop.iterations", "2e2")), lambda m: m["circuit"]["iterations"] == 200),
    Good("forward_gain-50m", run_file("nf", ("loop.forward_gain", '"50m"')), lambda m: _close(m["circuit"]["forward_gain"], 0.05)),
    Good("title-with-ngspice-error-words", run_file("nf", ("title", '"syntax error; timestep too small; unknown subckt; '
                                                          'simulation(s) aborted; Error: no such vector"'))),
    Good("logamp-r-10k", run_file("logamp", ("cascade.r_ohm", '"10k"')), slow=True),
    Good("logamp-r-10kohm", run_file("logamp", ("cascade.r_ohm", '"10kohm"')), slow=True),
    Good("out-nested-new", lambda c: ["run", c.scenario("nf"), "--out", "results/a/b", "--quiet"]),
]
