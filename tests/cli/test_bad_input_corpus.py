"""The bad-input corpus (issue 17, item 6) through the real CLI entry point, in process.

Every case of :data:`bad_inputs.BAD_INPUTS` must end in exactly one ``analogopt: error:`` line that
matches its pattern, with its documented exit code (docs/cli.md), never exit 70 and never a traceback,
and must leave the test's own temporary directory (which holds the command's current directory, HOME
and TMPDIR) exactly as it found it: nothing created, nothing deleted, nothing changed.

Cases run in process (``analogopt.cli.main``, stderr through ``capsys``), because a subprocess costs a
second of imports each. Three guards keep a case that the CLI fails to refuse cheap and harmless:

- ``ngspice`` on PATH is a stand-in that fails at once, so a bad value that slips through validation
  ends in an ngspice error (exit 7) instead of a simulation;
- a case that runs past :data:`CASE_LIMIT_S` is stopped (an alarm raises in the main thread);
- ``shutil.rmtree``, ``os.rename`` and ``os.replace`` refuse to touch ``/``, the repository, the real
  home and current directories, or any folder holding the test's own directory: the ``--out /
  --force`` cases must not be able to delete anything even if the refusal they test were missing.

The size-limit cases run as subprocesses under a memory rlimit: a missing limit must fail that child,
not the test process. The positive table (:data:`bad_inputs.GOOD_INPUTS`) runs with the real ngspice.

Read-only parents: the tests run as root, where permission bits do not stop writes, so the read-only
case mounts a small read-only tmpfs (root) or uses ``chmod 0555`` (other users) and is skipped when
neither is possible.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from analogopt.experiments import KINDS
from analogopt.scenarios import SIMS_DIR

from bad_inputs import BAD_INPUTS, BASES, GOOD_INPUTS, KIND_OF_BASE, Case, Ctx

REPO = SIMS_DIR.parent
REAL_HOME = Path(os.path.expanduser("~")).resolve()
REAL_CWD = Path.cwd().resolve()

#: Wall time after which an in-process case is stopped (a refusal takes well under a second).
CASE_LIMIT_S = 60.0
#: Wall time of a subprocess case (imports, then a refusal).
SUBPROCESS_LIMIT_S = 120.0
#: Address-space limit of a subprocess case: enough for torch, far below what a missing size limit asks.
SUBPROCESS_MEMORY = 6 * 2**30

FAKE_NGSPICE = """#!/bin/sh
echo "fake ngspice of tests/cli/test_bad_input_corpus.py: this input should have been refused before simulating" >&2
exit 1
"""

#: Entries analogopt's own scratch would leave beside a target (staging, lock, replaced, failed runs).
STRAY = re.compile(r"(\.partial-|\.lock$|\.old-|\.failed$)")

# Import what the cases reach, once, at collection: the first import of matplotlib or torch inside a
# case would be slow, and could write caches into the case's HOME.
for _module in ("analogopt.cli", "analogopt.train", "analogopt.experiments.rules_table", "analogopt.sweep.engine",
                "analogopt.sweep.results", "analogopt.commands.export", "matplotlib.pyplot",
                *{v.partition(":")[0] for v in KINDS.values()}):
    importlib.import_module(_module)

# Building a torch optimizer the first time imports torch._dynamo, which creates its cache folder in
# the temporary directory: do it now, outside any case's TMPDIR.
def _warm_torch() -> None:
    import torch

    from analogopt.reference.optim import FAL

    FAL([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)


_warm_torch()

#: matplotlib's own config and font-cache folder under the real HOME: a subprocess case gets it through
#: MPLCONFIGDIR, so that its first matplotlib import does not build a font cache in the case's HOME.
MPLCONFIGDIR = importlib.import_module("matplotlib").get_configdir()


class CaseTimeout(BaseException):
    """Raised by the alarm in a case that was not refused in time (BaseException: not caught as an error)."""


class DangerousOperation(BaseException):
    """The CLI tried to delete or move a protected place (see the module docstring)."""


# ------------------------------------------------------------------------------------------- helpers
def tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: type, and for files size and mtime, for links the target (not followed)."""
    entries: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                entries[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                entries[rel] = ("dir",)
            else:
                entries[rel] = ("file", st.st_size, st.st_mtime_ns)
    return entries


def tree_changes(before: dict, after: dict) -> list[str]:
    created = sorted(set(after) - set(before))
    deleted = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    out = []
    for what, paths in (("created", created), ("deleted", deleted), ("changed", changed)):
        if paths:
            shown = ", ".join(paths[:8]) + (f", … ({len(paths)} in all)" if len(paths) > 8 else "")
            out.append(f"{what}: {shown}")
    return out


def strays() -> set[str]:
    """Scratch-looking entries in the places a broken refusal would write to (``/``, the repository,
    ``sims/``); compared before and after each case."""
    found = set()
    for folder in (Path("/"), REPO.parent, REPO, SIMS_DIR):
        try:
            found |= {str(folder / n) for n in os.listdir(folder) if STRAY.search(n)}
        except OSError:
            pass
    return found


def sims_listing() -> dict[str, tuple]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in SIMS_DIR.iterdir()}


def _protected(path, root: Path) -> bool:
    p = Path(os.path.abspath(path))
    candidates = [p]
    try:
        candidates.append(p.resolve())
    except OSError:
        pass
    for q in candidates:
        if q == Path("/"):
            return True
        for keep in (SIMS_DIR, REPO, root, REAL_HOME, REAL_CWD):
            if keep == q or keep.is_relative_to(q):
                return True
        # a __pycache__ holds compiled code that imports write and replace (Python's, numba's): not the user's
        if q.is_relative_to(REPO) and not (q.name.startswith(".") and STRAY.search(q.name)) \
                and "__pycache__" not in q.relative_to(REPO).parts:
            return True
    return False


def guard_filesystem(monkeypatch, root: Path) -> None:
    real_rmtree, real_rename, real_replace = shutil.rmtree, os.rename, os.replace

    def rmtree(path, *args, **kwargs):
        if _protected(path, root):
            raise DangerousOperation(f"the CLI tried to delete {path}")
        return real_rmtree(path, *args, **kwargs)

    rmtree.avoids_symlink_attacks = getattr(real_rmtree, "avoids_symlink_attacks", False)

    def rename(src, dst, *args, **kwargs):
        if _protected(src, root):
            raise DangerousOperation(f"the CLI tried to move {src} to {dst}")
        return real_rename(src, dst, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        if _protected(src, root):
            raise DangerousOperation(f"the CLI tried to move {src} over {dst}")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", replace)


class NotRefused(BaseException):
    """A sweep case reached its Dask cluster: the input was not refused before the work."""


def keep_dask_out(monkeypatch) -> None:
    """A sweep that gets as far as starting its cluster was not refused up front: stop it there, in
    the case's own process, instead of starting worker processes from inside the test."""
    import distributed

    def refuse(*args, **kwargs):
        raise NotRefused("the sweep started its Dask cluster: the input was not refused before the work")

    monkeypatch.setattr(distributed, "LocalCluster", refuse)
    monkeypatch.setattr(distributed, "Client", refuse)


def prepare(tmp_path: Path, monkeypatch, *, fake_ngspice: bool = True) -> Ctx:
    """The case's world: cwd, HOME and TMPDIR inside ``tmp_path``, the ngspice stand-in, the guards."""
    ctx = Ctx(tmp_path)
    ctx.make()
    path = os.environ.get("PATH", "")
    if fake_ngspice:
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (bindir / "ngspice").write_text(FAKE_NGSPICE)
        (bindir / "ngspice").chmod(0o755)
        path = f"{bindir}{os.pathsep}{path}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("HOME", str(ctx.home))
    monkeypatch.setenv("TMPDIR", str(ctx.tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(ctx.tmp))
    for name in ("ANALOGOPT_DEBUG", "ANALOGOPT_SIMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ctx.work)
    guard_filesystem(monkeypatch, tmp_path)
    if fake_ngspice:
        keep_dask_out(monkeypatch)
    return ctx


def call_main(argv: list[str], capsys, limit_s: float = CASE_LIMIT_S) -> tuple[int | str, str, str]:
    """``analogopt.cli.main(argv)`` → (exit code, stdout, stderr); an argparse exit counts as its code,
    a case stopped by the alarm as ``"timeout"``."""
    from analogopt.cli import main

    def on_alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        try:
            code: int | str = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CaseTimeout:
        code = "timeout"
    except NotRefused:
        code = "not refused"
    finally:
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refusal_problems(case: Case, code, err: str) -> list[str]:
    """What is wrong with a refusal: the exit code, the one line, the pattern."""
    problems = []
    if code == "timeout":
        problems.append(f"not refused: still running after {CASE_LIMIT_S:g} s")
    elif code == "not refused":
        problems.append("not refused: the sweep started its Dask cluster")
    elif code == 70:
        problems.append("internal error (exit 70)")
    elif code not in case.codes:
        problems.append(f"exit {code}, expected {' or '.join(map(str, case.codes))}")
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    lines = err.strip().splitlines()
    if len(lines) != 1 or not lines[0].startswith("analogopt: error:"):
        problems.append(f"stderr is {len(lines)} line(s), not one 'analogopt: error:' line")
    elif not re.search(case.pattern, lines[0]):
        problems.append(f"the message does not match {case.pattern!r}")
    return problems


def report(case_id: str, problems: list[str], code, err: str) -> str:
    shown = err.strip()
    if len(shown) > 1500:
        shown = shown[:700] + "\n…\n" + shown[-700:]
    return f"{case_id}: " + "; ".join(problems) + f"\n  exit: {code}\n  stderr: {shown}"


IN_PROCESS = [c for c in BAD_INPUTS if not c.subprocess]
SUBPROCESS = [c for c in BAD_INPUTS if c.subprocess]


# ---------------------------------------------------------------------------------------- the corpus
def test_corpus_size_and_coverage():
    """Issue 17: at least 150 cases, over every scenario kind, --set, sweep, export, train and --out."""
    assert len(BAD_INPUTS) >= 170, len(BAD_INPUTS)
    assert len({c.id for c in BAD_INPUTS}) == len(BAD_INPUTS), "duplicate case ids"
    assert set(KIND_OF_BASE.values()) == set(KINDS), "a scenario kind without a base"
    areas = {c.area for c in BAD_INPUTS}
    assert {"set", "sweep", "export", "train", "out", "limits"} <= areas, areas
    kinds_hit = set()
    for c in BAD_INPUTS:
        kind = {"nf": "nf_single", "rules": "rules_table", "inverse": "inverse_loop", "logamp": "log_amp",
                "fal": "fal_vs_adam", "momentum": "momentum_filter", "mvm": "crossbar_mvm",
                "solve": "crossbar_solve", "pinv": "crossbar_pinv", "recirc": "recirculation_pinv",
                "sens": "nf_sensitivity", "ml": "multilayer"}.get(c.area)
        if kind:
            kinds_hit.add(kind)
    assert kinds_hit == set(KINDS), set(KINDS) - kinds_hit


@pytest.mark.parametrize("base", sorted(BASES))
def test_corpus_bases_are_valid(base, tmp_path, monkeypatch):
    """Each base is a valid scenario of its kind, so that a case fails for its one edit alone."""
    from analogopt.experiments import build_experiment
    from analogopt.scenarios import load_scenario

    ctx = prepare(tmp_path, monkeypatch)
    scenario = load_scenario(ctx.scenario(base))
    assert scenario.kind == KIND_OF_BASE[base]
    build_experiment(scenario)


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_bad_input(case: Case, tmp_path, monkeypatch, capsys):
    ctx = prepare(tmp_path, monkeypatch)
    argv = case.build(ctx)
    before, strays_before, sims_before = tree(tmp_path), strays(), sims_listing()
    code, _, err = call_main(argv, capsys)
    problems = refusal_problems(case, code, err)
    problems += [f"files {c}" for c in tree_changes(before, tree(tmp_path))]
    if strays() - strays_before:
        problems.append(f"left {', '.join(sorted(strays() - strays_before))}")
    if sims_listing() != sims_before:
        problems.append("changed the shipped sims/ folder")
    assert not problems, report(case.id, problems, code, err)


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_MEMORY, SUBPROCESS_MEMORY))


@pytest.mark.slow  # a subprocess each: about 5 s of imports
@pytest.mark.parametrize("case", SUBPROCESS, ids=[c.id for c in SUBPROCESS])
def test_bad_input_subprocess(case: Case, tmp_path, monkeypatch):
    """The size limits: refused before any work (in seconds, nothing written) with exit 9."""
    ctx = prepare(tmp_path, monkeypatch)
    argv = case.build(ctx)
    before = tree(tmp_path)
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "analogopt.cli", *argv], capture_output=True, text=True,
                              cwd=ctx.work, env={**os.environ, "MPLCONFIGDIR": MPLCONFIGDIR},
                              timeout=SUBPROCESS_LIMIT_S,
                              preexec_fn=_limit_memory)
        code, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        code = "timeout"
    wall = time.perf_counter() - start
    problems = refusal_problems(case, code, err)
    if code != "timeout" and wall > 30:
        problems.append(f"took {wall:.0f} s: not refused before the work")
    problems += [f"files {c}" for c in tree_changes(before, tree(tmp_path))]
    assert not problems, report(case.id, problems, code, err)


# ----------------------------------------------------------------------------- inputs that must work
@pytest.mark.parametrize("good", [pytest.param(g, marks=pytest.mark.slow) if g.slow else g for g in GOOD_INPUTS],
                         ids=[g.id for g in GOOD_INPUTS])
def test_good_input(good, tmp_path, monkeypatch, capsys):
    ctx = prepare(tmp_path, monkeypatch, fake_ngspice=False)
    argv = good.build(ctx)
    out = Path(argv[argv.index("--out") + 1])
    out = out if out.is_absolute() else ctx.work / out
    before = tree(tmp_path)
    code, _, err = call_main(argv, capsys, limit_s=300)
    assert code == 0, f"{good.id}: exit {code}: {err.strip()}"
    assert "error" not in err.lower(), err
    assert (out / ".analogopt-run").is_file(), f"no marker in {out}"
    changes = tree_changes(before, tree(tmp_path))
    inside = str(out.relative_to(tmp_path))
    created = [p for p in set(tree(tmp_path)) - set(before) if not (p == inside or p.startswith(inside + os.sep))]
    parents = {str(Path(inside).parents[i]) for i in range(len(Path(inside).parents) - 1)}
    created = [p for p in created if p not in parents]
    assert not created, f"{good.id}: created outside {inside}: {created}; {changes}"
    assert not [c for c in changes if not c.startswith("created")], changes
    if good.check is not None:
        metrics = json.loads((out / "metrics.json").read_text())
        assert good.check(metrics), f"{good.id}: metrics.json does not show the value as read: {metrics.get('circuit')}"


def test_force_replaces_only_analogopts_own_directory(tmp_path, monkeypatch, capsys):
    """The marker is what --force trusts: our own result directory is replaced, with a new run id, unless
    it holds a file the user added."""
    ctx = prepare(tmp_path, monkeypatch, fake_ngspice=False)
    scenario = ctx.scenario("nf")
    out = tmp_path / "res"
    code, _, err = call_main(["run", scenario, "--out", str(out), "--quiet"], capsys, limit_s=300)
    assert code == 0, err
    first = (out / ".analogopt-run").read_text()
    code, _, err = call_main(["run", scenario, "--out", str(out), "--quiet"], capsys, limit_s=300)
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1, err
    assert (out / ".analogopt-run").read_text() == first
    (out / "notes.txt").write_text("added by the user")  # --force would delete it: refused
    code, _, err = call_main(["run", scenario, "--out", str(out), "--force", "--quiet"], capsys, limit_s=300)
    assert code == 2 and "notes.txt" in err and len(err.strip().splitlines()) == 1, err
    assert (out / ".analogopt-run").read_text() == first and (out / "notes.txt").is_file()
    (out / "notes.txt").unlink()
    code, _, err = call_main(["run", scenario, "--out", str(out), "--force", "--quiet"], capsys, limit_s=300)
    assert code == 0, err
    assert (out / ".analogopt-run").read_text() != first and (out / "metrics.json").is_file()
    assert not [n for n in os.listdir(tmp_path) if STRAY.search(n)], os.listdir(tmp_path)
    assert not os.listdir(ctx.tmp), os.listdir(ctx.tmp)


# ------------------------------------------------------------------------------ a read-only parent
@pytest.fixture
def readonly_dir(tmp_path):
    """A directory no one can create entries in: a read-only tmpfs mount as root (where permission
    bits do not stop writes), ``chmod 0555`` otherwise; skipped where neither works."""
    d = tmp_path / "ro"
    d.mkdir()
    mounted = False
    if os.geteuid() == 0:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64m,mode=0755", "tmpfs", str(d)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            d.rmdir()
            pytest.skip(f"running as root and cannot mount a read-only tmpfs: {proc.stderr.strip()}")
        mounted = True
    else:
        d.chmod(0o555)
    try:
        probe = d / "probe"
        try:
            probe.mkdir()
        except OSError as exc:
            assert exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        else:
            probe.rmdir()
            pytest.skip("could not make a read-only directory here")
        yield d
    finally:
        if mounted:
            subprocess.run(["umount", str(d)], check=False)
        else:
            d.chmod(0o755)


READ_ONLY = [
    ("run", lambda c, ro: ["run", c.scenario("nf"), "--out", str(ro / "out"), "--quiet"]),
    ("run-nested", lambda c, ro: ["run", c.scenario("nf"), "--out", str(ro / "a" / "b"), "--quiet"]),
    ("train", lambda c, ro: ["train", "--rule", "bp", "--data", "iris", "--arch", "8", "--epochs", "1",
                             "--out", str(ro / "out"), "--quiet"]),
    ("export", lambda c, ro: ["export", c.scenario("nf"), "--out", str(ro / "out")]),
    ("sweep", lambda c, ro: ["sweep", c.scenario("nf"), "--workers", "1", "--out", str(ro / "out"), "--quiet"]),
]


@pytest.mark.parametrize("build", [b for _, b in READ_ONLY], ids=[i for i, _ in READ_ONLY])
def test_read_only_parent(build, readonly_dir, tmp_path, monkeypatch, capsys):
    ctx = prepare(tmp_path, monkeypatch)
    argv = build(ctx, readonly_dir)
    before = tree(tmp_path)
    code, _, err = call_main(argv, capsys)
    case = Case("out-read-only", lambda c: argv, 8, r"(?i)(read-only|not writable|cannot (write|create)|permission)")
    problems = refusal_problems(case, code, err)
    problems += [f"files {c}" for c in tree_changes(before, tree(tmp_path))]
    assert not problems, report(f"read-only parent ({argv[0]})", problems, code, err)


def test_the_guards_protect_what_they_should(tmp_path):
    """The delete/move guard itself (checked on paths only: nothing is deleted here)."""
    for place in ("/", SIMS_DIR, REPO, REPO / "analogopt", tmp_path, tmp_path.parent, REAL_HOME, REAL_CWD):
        assert _protected(place, tmp_path), place
    for place in (tmp_path / "out", tmp_path / "work" / "x", REPO / ".sims.partial-abc", Path("/.partial-x")):
        assert not _protected(place, tmp_path), place
