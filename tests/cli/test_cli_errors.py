"""Bad input through the real CLI: one clear line on stderr, a non-zero exit, nothing half-written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analogopt.scenarios import SIMS_DIR

STAIRCASE = (SIMS_DIR / "nf_staircase.toml").read_text()


def cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "analogopt.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def scenario(tmp_path: Path, old: str, new: str) -> str:
    assert old in STAIRCASE
    path = tmp_path / "bad.toml"
    path.write_text(STAIRCASE.replace(old, new, 1))
    return str(path)


CASES = [
    # (how to build the arguments, expected exit code, message pattern)
    (lambda t: ["nosuch"], 2, "unknown scenario 'nosuch'"),
    (lambda t: [scenario(t, "x_min = -2.0", "x_min = nan")], 2, "x_min: must be finite"),
    (lambda t: [scenario(t, "w0 = [0.3, 0.4]", "w0 = [0.3, 0.4, 0.1]")], 2, "loop.w0: 2 weights but 3 initial values"),
    (lambda t: [scenario(t, 'activation = "staircase"', 'activation = "swish"')], 2, "unknown activation 'swish'"),
    (lambda t: [scenario(t, 'error_gain = "x"', 'error_gain = "sign"')], 2, "unknown error gain 'sign'"),
    (lambda t: ["nf_staircase", "--set", "loop.tau_s=0"], 2, "loop.tau_s: must be > 0 s, got 0"),
    (lambda t: ["nf_staircase", "--set", "loop.tau_s=-1m"], 2, "loop.tau_s: must be > 0 s, got '-1m' (= -0.001)"),
    (lambda t: ["nf_staircase", "--set", "loop.tau=1"], 2, "no parameter 'tau'"),
    (lambda t: ["nf_staircase", "--set", "loop.iterations=0"], 2, "loop.iterations: must be an integer ≥ 1, got 0"),
    (lambda t: [scenario(t, "samples = 61", "samples = 61\nfoo = 1")], 2, "unknown key"),
    (lambda t: [scenario(t, "[loop]", "[loop\n")], 2, "invalid TOML"),
]


@pytest.mark.parametrize("build, code, pattern", CASES)
def test_bad_input_gets_one_line(tmp_path, build, code, pattern):
    out = tmp_path / "out"
    result = cli("run", *build(tmp_path), "--out", str(out))
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("analogopt: error:") and pattern in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]


def test_missing_ngspice_is_one_line_and_leaves_nothing(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(bindir)
    out = tmp_path / "out"
    result = cli("run", "nf_staircase", "--out", str(out), "--quiet", env=env)
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "ngspice not found" in result.stderr
    assert not out.exists()


def test_existing_results_are_not_overwritten_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli("run", "nf_staircase", "--out", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_list_and_help():
    listing = cli("list")
    assert listing.returncode == 0
    for name in ("nf_staircase", "nf_noisy_relu", "nf_perceptron"):
        assert name in listing.stdout
    assert cli("--help").returncode == 0
    assert "--out" in cli("run", "--help").stdout
