"""``analogopt export``: every shipped circuit scenario's export runs in plain ``ngspice -b`` from another
directory and gives the numbers of the netlist ``analogopt run`` simulates."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analogopt.blocks.miller_ota import PDK_LINK
from analogopt.commands.export import flat_netlist
from analogopt.experiments import experiment_class
from analogopt.pdk.gf180mcu import models_dir
from analogopt.scenarios import list_scenarios, load_scenario
from analogopt.spice.rawfile import read_raw

CIRCUIT_SCENARIOS = [s.name for s in list_scenarios() if experiment_class(s.kind).has_circuit]
PURE_TORCH = [s.name for s in list_scenarios() if not experiment_class(s.kind).has_circuit]
# Kinds whose export takes seconds: momentum_filter records its drive with a PyTorch training run
# (every kind builds its netlist without simulating).
SLOW_KINDS = ("momentum_filter",)
# Multi-layer training runs not exported and simulated here (each would be two training runs of 8 s to a
# minute): their element kinds run exported in ml_xor (batch) and ml_breast_mdfa (online: file sources,
# clamps, sense sources), and tests/cli/test_netlists.py checks their exports file by file.
NOT_SIMULATED = {"ml_iris": "20 000 elements", "ml_breast_dfa": "ml_breast_mdfa without its clamps",
                 "ml_digits_online": "1800 presentations"}


#: Scenarios with transistor-level op-amps: their export links the PDK's models (README: re-link after a move).
TRANSISTOR_LEVEL = ("crossbar_solve_gf180", "crossbar_pinv_gf180", "inverse_loop_gf180", "log_amp_gf180")


def attachments(name: str) -> dict[str, str]:
    """The data files a scenario's netlist reads by name (the multi-layer online samples), else none."""
    from analogopt.experiments import build_experiment

    experiment = build_experiment(load_scenario(name))
    return experiment.netlist_attachments() if hasattr(experiment, "netlist_attachments") else {}


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "analogopt.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def ngspice(netlist: str, raw: Path, cwd: Path) -> list:
    proc = subprocess.run(["ngspice", "-b", "-r", str(raw), netlist], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and raw.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return read_raw(raw)


def _param(name):
    kind = next(s.kind for s in list_scenarios() if s.name == name)
    return pytest.param(name, marks=pytest.mark.slow) if kind in SLOW_KINDS else name


@pytest.mark.parametrize("name", [_param(n) for n in CIRCUIT_SCENARIOS])
def test_export_runs_in_plain_ngspice_and_matches(name, tmp_path):
    if name in NOT_SIMULATED:
        pytest.skip(f"{name}: {NOT_SIMULATED[name]}; its element kinds run exported in ml_xor and ml_breast_mdfa")
    out = tmp_path / "export"
    proc = cli("export", name, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    files = {p.name for p in out.iterdir() if p.name != ".analogopt-run"}
    data = attachments(name)
    transistor = name in TRANSISTOR_LEVEL
    extra = {"blocks", PDK_LINK} if transistor else set()
    assert files == {"testbench.cir", "blocks.cir", "models.lib", "README.md", *data, *extra}
    if transistor:  # the kit's models by a relative link (the committed netlists/ folder carries it too)
        link = out / PDK_LINK
        assert link.is_symlink() and not os.readlink(link).startswith("/") and (link / "design.ngspice").is_file()
    for file, text in data.items():
        assert (out / file).read_text() == text
    tb, blocks = (out / "testbench.cir").read_text(), (out / "blocks.cir").read_text()
    assert ".lib models.lib nominal" in tb and ".include blocks.cir" in tb and ".param " in tb
    assert re.search(r"^\.subckt \w+_block ", blocks, re.M) and re.search(r"^X\w+_block ", tb, re.M)
    for text in (tb, blocks, (out / "models.lib").read_text()):
        assert str(tmp_path) not in text and "/home" not in text and not re.search(r"\s/(tmp|work)/", text)
        assert ".control" not in text.lower()
    readme = (out / "README.md").read_text()
    assert "## Blocks and ports" in readme and "## Parameters" in readme and "## Analyses" in readme

    # moved elsewhere and run from an unrelated working directory: no absolute paths anywhere
    moved = tmp_path / "moved" / "deep"
    out.rename(moved.parent.mkdir(parents=True) or moved)
    if transistor:  # what its README says to do after a move: point the link at the models again
        (moved / PDK_LINK).unlink()
        (moved / PDK_LINK).symlink_to(models_dir(), target_is_directory=True)
    (tmp_path / "cwd").mkdir()
    exported = ngspice(str(moved / "testbench.cir"), tmp_path / "export.raw", tmp_path / "cwd")
    (tmp_path / "flat.cir").write_text(flat_netlist(load_scenario(name)))
    for file, text in data.items():
        (tmp_path / file).write_text(text)
    reference = ngspice("flat.cir", tmp_path / "flat.raw", tmp_path)
    assert [p.analysis for p in exported] == [p.analysis for p in reference]
    for a, b in zip(exported, reference):
        # every top-level node voltage is still there (branch currents of elements now inside a block
        # are named through their instance, e.g. i(xfb_block.bfb0), so only shared names are compared)
        # (nodes inside a subcircuit instance, e.g. a transistor op-amp's v(xfwd0.d1), move one level down)
        voltages = {k for k in b.signals if k.startswith("v(") and "." not in k}
        assert voltages and voltages <= set(a.signals)
        shared = sorted(set(a.signals) & set(b.signals))
        scale = max(1.0, max(float(np.max(np.abs(b.signals[k]))) for k in shared))
        for k in shared:
            # same circuit, same equations: ngspice takes the same steps and lands on the same values
            np.testing.assert_allclose(a.signals[k][-1], b.signals[k][-1], rtol=0, atol=1e-9 * scale, err_msg=k)


@pytest.mark.parametrize("name", ["nf_staircase", "crossbar_mvm"])
def test_flat_netlist_is_the_one_analogopt_run_simulates(name, tmp_path):
    proc = cli("run", name, "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert flat_netlist(load_scenario(name)) == (tmp_path / "run" / "netlist.cir").read_text()
    if name == "nf_staircase":
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert cli("export", name, "--out", str(tmp_path / "ex")).returncode == 0
        waves = ngspice("testbench.cir", tmp_path / "ex.raw", tmp_path / "ex")[0]
        for weight, probe in metrics["probes"].items():
            assert abs(waves[probe][-1] - metrics["analog"]["final_weights"][weight]) < 1e-9


@pytest.mark.parametrize("name", PURE_TORCH)
def test_pure_torch_scenarios_have_nothing_to_export(name, tmp_path):
    start = time.monotonic()
    proc = cli("export", name, "--out", str(tmp_path / "ex"))
    assert proc.returncode == 2 and time.monotonic() - start < 60
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pure-PyTorch experiment: it has no circuit to export" in lines[0]
    assert not (tmp_path / "ex").exists()


def test_export_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "keep.txt").write_text("x")
    proc = cli("export", "nf_staircase", "--out", str(tmp_path / "ex"))
    assert proc.returncode == 2 and "is not empty; choose another directory or pass --force" in proc.stderr
    proc = cli("export", "nf_staircase", "--out", str(tmp_path / "ex"), "--force")
    assert proc.returncode == 2 and "not written by analogopt" in proc.stderr
    assert [p.name for p in (tmp_path / "ex").iterdir()] == ["keep.txt"]
