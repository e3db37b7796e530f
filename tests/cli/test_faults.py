"""Faults while a command runs (issue 17, item 6), through the real CLI in subprocesses.

- ngspice killed mid-run: one line naming the failure (exit 7), no staging directory left;
- a hanging netlist under ``run --timeout 2``: exit 6 within seconds;
- SIGINT (to the process, and to its process group as a terminal's Ctrl-C does) and SIGTERM during
  ``run`` and during ``sweep``: exit 130 / 143, no ngspice or worker process left alive, no staging
  directory, no ``analogopt-*`` entry in TMPDIR (pointed at the test's own directory);
- two writers on one ``--out``: one succeeds, the other exits 8 saying another run is writing there,
  and the result is the winner's complete directory;
- a full disk: a small tmpfs mounted by the test (as root; skipped where mounting is not permitted),
  either too small from the start (refused before simulating) or filled while ngspice runs.

A truncated raw file is covered in the spice layer's tests (tests/spice), not here.

The long-running circuit is the staircase loop with 10 000 samples and 100 iterations: ngspice starts
about 3 s after the command and runs for about 15 s, while the twin's part stays small.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import psutil
import pytest

LONG_SCENARIO = """\
kind = "nf_single"
title = "fault tests: a long ngspice run"

[data]
source = "staircase"
samples = 10000

[network]
activation = "staircase"
gain = 20.0
error_gain = "x"

[loop]
forward_gain = 0.05
iterations = 100
leak = false
w0 = [0.3, 0.4]
"""

#: How long a command may take to start ngspice (imports, building 10 000 samples; a sweep's cluster).
NGSPICE_START_S = 90.0
#: How long a command may take to stop after a signal.
STOP_S = 30.0

STAGING = re.compile(r"\.partial-")

#: matplotlib's config and font cache under the real HOME (each command's HOME is a fresh folder).
MPLCONFIGDIR = matplotlib.get_configdir()


# -------------------------------------------------------------------------------------------- helpers
class Command:
    """One ``python -m analogopt.cli …`` in its own session (so that a whole group can get Ctrl-C),
    with cwd, HOME and TMPDIR inside the test's directory."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        for d in ("work", "home", "tmp"):
            (root / d).mkdir(exist_ok=True)
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if k not in ("ANALOGOPT_DEBUG", "ANALOGOPT_SIMS")}
        env.update(HOME=str(root / "home"), TMPDIR=str(root / "tmp"), MPLCONFIGDIR=MPLCONFIGDIR, **extra)
        self.args = args
        self.start = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "analogopt.cli", *args], cwd=root / "work", env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.seen: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for k in kids:
            self.seen.setdefault(k.pid, k)
        return kids

    def ngspice(self) -> list[psutil.Process]:
        """The command's simulating ngspice processes (``ngspice -b …``); not the short ``ngspice -v``
        that asks the version, which may be gone by the time a test acts on it. Its arguments are what
        tells: the process has the name ``ngspice`` a moment before the kernel shows its arguments."""
        found = []
        for k in self.descendants():
            try:
                if k.name() == "ngspice" and "-b" in k.cmdline()[1:]:
                    found.append(k)
            except psutil.Error:
                pass
        return found

    def wait_for_ngspice(self, timeout: float = NGSPICE_START_S) -> list[psutil.Process]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.ngspice()
            if found:
                return found
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"{' '.join(self.args)} ended (exit {self.proc.returncode}) before ngspice started: {err.strip()}")
            time.sleep(0.05)
        pytest.fail(f"ngspice did not start within {timeout:g} s")

    def finish(self, timeout: float) -> tuple[int, str, str, float]:
        """(exit code, stdout, stderr, seconds since start); kills the session on timeout."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"{' '.join(self.args)} did not finish within {timeout:g} s; stderr: {err.strip()[-2000:]}")
        return self.proc.returncode, out, err, time.perf_counter() - self.start

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        """End this command's own session and every process it started that is still there."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in list(self.seen.values()):
            try:
                p.kill()
            except psutil.Error:
                pass

    def survivors(self, wait_s: float = 10.0) -> list[str]:
        """Processes this command started that are still alive ``wait_s`` after it ended (zombies of a
        live parent count; the command itself is not checked)."""
        deadline = time.monotonic() + wait_s
        while True:
            alive = []
            for p in self.seen.values():
                try:
                    if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                        alive.append(f"{p.pid} {p.name()}")
                except psutil.Error:
                    pass
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.2)


@pytest.fixture
def commands():
    """Start commands through this; whatever is left of them is killed afterwards."""
    started: list[Command] = []

    def start(root: Path, *args: str, env: dict[str, str] | None = None) -> Command:
        cmd = Command(root, *args, env=env)
        started.append(cmd)
        return cmd

    yield start
    for cmd in started:
        if cmd.proc.poll() is None:
            cmd.kill()
            cmd.proc.communicate()
        else:
            cmd.kill()


def long_scenario(root: Path, **edits: str) -> str:
    text = LONG_SCENARIO
    for key, value in edits.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    path = root / "scen" / "long.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def one_line(err: str, pattern: str, *, prefix: str = "analogopt: error:") -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), f"not one {prefix!r} line: {err.strip()[-2000:]}"
    assert re.search(pattern, lines[0]), f"{lines[0]!r} does not match {pattern!r}"
    return lines[0]


def named_paths_exist(line: str, root: Path) -> None:
    """Every path under ``root`` that a message names must exist (no pointer into a deleted staging dir)."""
    for path in re.findall(r"(/[^\s;,()'\"]+)", line):
        path = path.rstrip(".:")
        if path.startswith(str(root)):
            assert Path(path).exists(), f"the message names {path}, which does not exist: {line}"


def staging_left(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if STAGING.search(p.name)]


def analogopt_temp(root: Path) -> list[str]:
    return sorted(n for n in os.listdir(root / "tmp") if n.startswith("analogopt"))


# ------------------------------------------------------------------------------------ ngspice fails
@pytest.mark.slow
def test_killed_ngspice_is_one_line_and_leaves_no_staging(tmp_path, commands):
    out = tmp_path / "res" / "out"
    cmd = commands(tmp_path, "run", long_scenario(tmp_path), "--out", str(out), "--quiet")
    spice = cmd.wait_for_ngspice()
    time.sleep(1.0)
    for p in spice:
        p.kill()
    code, _, err, _ = cmd.finish(120)
    line = one_line(err, r"(?i)ngspice.*(kill|signal|SIGKILL|-9|status|exit)")
    assert code == 7, err
    assert not out.exists()
    assert not staging_left(tmp_path)
    assert set(os.listdir(out.parent)) <= {"out.failed"}, os.listdir(out.parent)
    named_paths_exist(line, tmp_path)
    assert not cmd.survivors()
    assert not analogopt_temp(tmp_path)


@pytest.mark.slow
def test_hanging_netlist_times_out_in_seconds(tmp_path, commands):
    out = tmp_path / "res" / "out"
    cmd = commands(tmp_path, "run", long_scenario(tmp_path), "--timeout", "2", "--out", str(out),
                   "--quiet")
    cmd.wait_for_ngspice()
    started = time.perf_counter()
    code, _, err, _ = cmd.finish(120)
    after_start = time.perf_counter() - started
    line = one_line(err, r"(?i)(timeout|timed out|exceeded)")
    assert code == 6, err
    assert after_start < 15, f"exit {after_start:.1f} s after ngspice started, with --timeout 2"
    assert not out.exists() and not staging_left(tmp_path)
    named_paths_exist(line, tmp_path)
    assert not cmd.survivors()
    assert not analogopt_temp(tmp_path)


# ---------------------------------------------------------------------------------------- signals
SIGNALS = [
    pytest.param(signal.SIGINT, False, 130, id="SIGINT"),
    pytest.param(signal.SIGINT, True, 130, id="SIGINT-to-group"),  # a terminal's Ctrl-C reaches ngspice too
    pytest.param(signal.SIGTERM, False, 143, id="SIGTERM"),
]


@pytest.mark.slow
@pytest.mark.parametrize("signum, group, expected", SIGNALS)
def test_signal_during_run(signum, group, expected, tmp_path, commands):
    out = tmp_path / "res" / "out"
    cmd = commands(tmp_path, "run", long_scenario(tmp_path), "--out", str(out), "--quiet")
    cmd.wait_for_ngspice()
    time.sleep(1.0)
    cmd.descendants()
    sent = time.perf_counter()
    cmd.signal(signum, group=group)
    code, _, err, _ = cmd.finish(STOP_S + 30)
    assert time.perf_counter() - sent < STOP_S, "slow to stop"
    assert code == expected, err
    one_line(err, r".", prefix="analogopt:")
    assert not cmd.survivors(), "ngspice outlived the command"
    assert not out.exists() and not staging_left(tmp_path)
    assert not out.parent.exists() or not os.listdir(out.parent), os.listdir(out.parent)
    assert not analogopt_temp(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("signum, group, expected", SIGNALS)
def test_signal_during_sweep(signum, group, expected, tmp_path, commands):
    out = tmp_path / "res" / "sweep"
    cmd = commands(tmp_path, "sweep", long_scenario(tmp_path), "--set", "loop.forward_gain=0.05,0.04", "--workers", "1",
                   "--out", str(out), "--quiet")
    cmd.wait_for_ngspice()
    time.sleep(1.0)
    cmd.descendants()  # the workers and their ngspice: none may outlive the sweep
    sent = time.perf_counter()
    cmd.signal(signum, group=group)
    code, _, err, _ = cmd.finish(STOP_S + 30)
    assert time.perf_counter() - sent < STOP_S, "slow to stop"
    assert code == expected, err
    # the sweep had started: its directory stays, and the message says so (not "no result directory")
    one_line(err, r"[0-2] of 2 samples are in .*sweep: run the same command again to resume", prefix="analogopt:")
    assert (out / "sweep.json").exists()
    survivors = cmd.survivors(15.0)
    assert not survivors, f"left running: {survivors}"
    assert not staging_left(tmp_path)
    assert not analogopt_temp(tmp_path), analogopt_temp(tmp_path)


@pytest.mark.slow
def test_a_worker_lost_mid_sweep_is_one_line_and_keeps_the_sweep(tmp_path, commands):
    """A Dask worker process that dies (the OOM killer's way) as often as Dask retries a task: one line
    that says how to resume, no traceback from Dask's teardown, no process left, the sweep directory kept."""
    out = tmp_path / "res" / "sweep"
    cmd = commands(tmp_path, "sweep", long_scenario(tmp_path), "--set", "loop.forward_gain=0.05,0.04", "--workers", "1",
                   "--out", str(out), "--quiet", env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    spice = cmd.wait_for_ngspice()[0]
    worker = spice
    while worker.ppid() != cmd.proc.pid:  # the worker process is the command's child; its nanny is in-process
        worker = worker.parent()
    cmd.descendants()
    worker.kill()
    code, _, err, _ = cmd.finish(STOP_S + 30)
    one_line(err, r"worker process died.*run the same command again to resume")
    assert code == 7, err
    assert not cmd.survivors(15.0)
    assert (out / "sweep.json").exists()
    assert not staging_left(tmp_path)
    assert not analogopt_temp(tmp_path), analogopt_temp(tmp_path)


INTERRUPTED_IN_GENERATED_CODE = """\
import sys
from analogopt import cli
from analogopt.spice import runner  # imported, as in a real run: its dataclasses are not built in the clean-up


def run_interrupted(args):
    # Ctrl-C landing in code that exec() runs from a string, as in every dataclass's generated methods
    exec("raise KeyboardInterrupt")


cli._cmd_run = run_interrupted
sys.exit(cli.main(["run", "nf_single", "--out", "never"]))
"""


def test_ctrl_c_inside_string_exec_still_exits_130(tmp_path):
    """CPython marks a KeyboardInterrupt that leaves exec'd source text as unhandled even when it is caught
    later; under ``python -m`` that mark made the process kill itself with SIGINT (-2) after printing
    the interrupted line."""
    (tmp_path / "interrupted_cli.py").write_text(INTERRUPTED_IN_GENERATED_CODE)
    env = {k: v for k, v in os.environ.items() if k != "ANALOGOPT_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "interrupted_cli"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, (done.returncode, done.stderr)
    one_line(done.stderr, r"interrupted", prefix="analogopt:")
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------------------------------------- two writers
def _complete(out: Path) -> None:
    names = {p.name for p in out.iterdir()}
    assert {".analogopt-run", "metrics.json", "report.md", "netlist.cir"} <= names, names


@pytest.mark.slow
def test_second_writer_is_refused_while_the_first_runs(tmp_path, commands):
    scenario = long_scenario(tmp_path)
    out = tmp_path / "res" / "out"
    first = commands(tmp_path, "run", scenario, "--out", str(out), "--quiet")
    first.wait_for_ngspice()
    second = commands(tmp_path, "run", scenario, "--out", str(out), "--quiet")
    code2, _, err2, _ = second.finish(120)
    assert first.proc.poll() is None, "the first run ended before the second was refused: no overlap was tested"
    code1, _, err1, _ = first.finish(180)
    assert code1 == 0, err1
    one_line(err2, r"(?i)(another .*(run|writ)|locked|in use|being written)")
    assert code2 == 8, err2
    _complete(out)
    assert sorted(os.listdir(out.parent)) == ["out"], os.listdir(out.parent)


@pytest.mark.slow
def test_two_writers_started_together(tmp_path, commands):
    scenario = long_scenario(tmp_path, samples="3000")  # each run holds its lock for about 5 s
    out = tmp_path / "res" / "out"
    runs = [commands(tmp_path, "run", scenario, "--out", str(out), "--quiet") for _ in range(2)]
    results = [r.finish(180) for r in runs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 8], [(r[0], r[2].strip()) for r in results]
    loser = next(r for r in results if r[0] == 8)
    one_line(loser[2], r"(?i)(another .*(run|writ)|locked|in use|being written)")
    _complete(out)
    assert sorted(os.listdir(out.parent)) == ["out"], os.listdir(out.parent)


# ---------------------------------------------------------------------------------------- full disk
@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)`` → a fresh tmpfs of that size under ``tmp_path`` (root only; skipped otherwise)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        if subprocess.run(["umount", str(d)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(directory: Path) -> Path:
    """Write ``directory/filler`` until the file system is full."""
    filler = directory / "filler"
    chunk = b"\0" * 2**20
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    with open(filler, "ab", buffering=0) as fh:  # the last partial chunk's worth
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


@pytest.mark.slow
def test_disk_without_room_is_refused_before_simulating(tmp_path, commands, small_disk):
    disk = small_disk("2m")
    cmd = commands(tmp_path, "run", long_scenario(tmp_path), "--out", str(disk / "out"), "--quiet")
    code, _, err, _ = cmd.finish(120)
    one_line(err, r"(?i)(no space|full|free|room)")
    assert code == 8, err
    assert os.listdir(disk) == [], os.listdir(disk)


@pytest.mark.slow
def test_disk_filling_up_during_the_run(tmp_path, commands, small_disk):
    disk = small_disk("40m")
    out = disk / "out"
    cmd = commands(tmp_path, "run", long_scenario(tmp_path), "--out", str(out), "--quiet")
    cmd.wait_for_ngspice()
    fill(disk)
    code, _, err, _ = cmd.finish(180)
    line = one_line(err, r"(?i)(no space|disk.*full|device.*full|full)")
    assert code == 8, err
    assert not out.exists()
    assert not staging_left(disk)
    assert set(os.listdir(disk)) <= {"filler", "out.failed"}, os.listdir(disk)
    named_paths_exist(line, tmp_path)
    assert not cmd.survivors()
