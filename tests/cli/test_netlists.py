"""The checked-in ``netlists/`` folder: current (every file equals what the code generates now) and runnable
(every ``testbench.cir`` runs in plain ``ngspice -b``). ``.analogopt-run``, the export's marker, holds a run
id and a time that change on every export, so it is checked for presence only, never compared.

Values computed through LAPACK (a crossbar's scaling, a pseudoinverse) can differ in their last digit
between CPUs (the BLAS kernels sum in other orders), so numbers are compared to 1e-12 relative; every
other character must match."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analogopt.commands.export import REGENERATE_NETLISTS, circuit_scenarios, export_scenario, index_readme
from analogopt.results import MARKER

NETLISTS = Path(__file__).resolve().parents[2] / "netlists"
SCENARIOS = {s.name: s for s in circuit_scenarios()}
# Exports that take more than a few seconds: momentum_filter records its drive with a PyTorch training run.
SLOW_EXPORTS = {"momentum_filter"}
# Testbenches whose plain-ngspice run takes more than a few seconds (none today: nf_perceptron, the
# longest, takes about 2 s).
SLOW_RUNS: set[str] = set()
# Not run here (their flat decks run in tests/experiments/test_multilayer.py; the exported form of the same
# element kinds runs here in ml_xor, ml_breast_mdfa and ml_breast_dfa):
NOT_RUN = {"ml_digits_online": "1800 presentations, about 30 s of ngspice"}
FIX = f"run `{REGENERATE_NETLISTS}` from the repository root and review the diff"


NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")
#: Relative agreement of two numbers written by the export on different machines.
DIGITS_RTOL = 1e-12


def _same_up_to_rounding(a: str, b: str) -> bool:
    """The texts match character for character outside numbers, and number for number to DIGITS_RTOL."""
    if a == b:
        return True
    pa, pb = NUMBER.split(a), NUMBER.split(b)
    if len(pa) != len(pb) or pa[0::2] != pb[0::2]:
        return False
    return all(abs(float(x) - float(y)) <= DIGITS_RTOL * max(abs(float(x)), abs(float(y))) for x, y in zip(pa[1::2], pb[1::2]))


def test_comparison_tolerates_only_last_digits():
    assert _same_up_to_rounding("Gu 0 w0 q24 0 1.0697296218211221e-08\n", "Gu 0 w0 q24 0 1.069729621821122e-08\n")
    assert not _same_up_to_rounding("Gu 0 w0 q24 0 1.0697296218211221e-08", "Gu 0 w0 q24 0 1.0697296218e-08")
    assert not _same_up_to_rounding("Rin a b 5323.95", "Rout a b 5323.95")
    assert not _same_up_to_rounding("Rin a b 5323.95", "Rin a b 5323.95 5")


def _params(slow: set[str]):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in SCENARIOS]


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_netlists_holds_every_circuit_scenario_and_the_index():
    assert NETLISTS.is_dir(), f"netlists/ is missing: {FIX}"
    folders = sorted(p.name for p in NETLISTS.iterdir() if p.is_dir())
    assert folders == sorted(SCENARIOS), f"netlists/ holds {folders}, the circuit scenarios are {sorted(SCENARIOS)}: {FIX}"
    assert sorted(p.name for p in NETLISTS.iterdir() if p.is_file()) == sorted([MARKER, "README.md"]), FIX
    # the marker lets the regenerate command's --force replace the folder; its contents are volatile
    assert (NETLISTS / "README.md").read_text() == index_readme(list(SCENARIOS.values())), \
        f"netlists/README.md is out of date: {FIX}"
    assert REGENERATE_NETLISTS in (NETLISTS / "README.md").read_text()


@pytest.mark.parametrize("name", _params(SLOW_EXPORTS))
def test_checked_in_netlists_are_what_the_code_generates(name, tmp_path):
    export_scenario(SCENARIOS[name], tmp_path / name)  # the code path of `export --all` for one scenario
    now, checked_in = _files(tmp_path / name), _files(NETLISTS / name)
    assert sorted(checked_in) == sorted(now), (
        f"netlists/{name}/ holds {sorted(checked_in)}, the export writes {sorted(now)}: {FIX}")
    for file, text in now.items():
        assert _same_up_to_rounding(checked_in[file], text), \
            f"netlists/{name}/{file} differs from what the code generates now: {FIX}"


@pytest.mark.parametrize("name", _params(SLOW_RUNS))
def test_checked_in_testbench_runs_in_plain_ngspice(name, tmp_path):
    if name in NOT_RUN:
        pytest.skip(NOT_RUN[name])
    copy = tmp_path / name
    shutil.copytree(NETLISTS / name, copy)
    proc = subprocess.run(["ngspice", "-b", "-r", "out.raw", "testbench.cir"], cwd=copy, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"netlists/{name}: ngspice exit {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    assert (copy / "out.raw").stat().st_size > 0, f"netlists/{name}: ngspice wrote no raw file"


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "analogopt.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.mark.slow
def test_export_all_writes_the_folder_and_replaces_only_its_own(tmp_path):
    proc = cli("export", "--all", "nl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "nl"
    assert (out / MARKER).is_file()
    written, checked_in = _files(out), _files(NETLISTS)
    assert sorted(written) == sorted(checked_in), f"netlists/ is out of date: {FIX}"
    stale = [k for k in checked_in if k != MARKER and not _same_up_to_rounding(written[k], checked_in[k])]
    assert not stale, f"netlists/ is out of date in {stale}: {FIX}"
    proc = cli("export", "--all", "nl", cwd=tmp_path)  # a second export needs --force
    assert proc.returncode == 2 and "pass --force" in proc.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    proc = cli("export", "--all", "mine", "--force", cwd=tmp_path)
    assert proc.returncode == 2 and "not written by analogopt" in proc.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("args, pattern", [
    (["nf_staircase", "--all", "nl"], "it takes no SCENARIO"),
    (["--all", "nl", "--out", "x"], "it takes no --out"),
    (["--all", "nl", "--set", "loop.tau_s=1"], "it takes no --set"),
    ([], "SCENARIO is missing"),
    (["nf_staircase"], "--out DIR is missing"),
])
def test_export_all_and_a_scenario_are_exclusive(args, pattern, run_cli, check_one_line_error, tmp_path,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli("export", *args)
    check_one_line_error(code, err, code=2, pattern=pattern, out=tmp_path / "nl")
    assert not any(tmp_path.iterdir())
