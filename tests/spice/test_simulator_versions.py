"""The simulator set-up provides and the runners report: ngspice with KLU, and decks that stay valid on
the distribution's ngspice-39.3 (kept unpacked by scripts/setup_ngspice.sh)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.spice import NgspiceRunner, read_raw
from analogopt.spice.netlist import NetlistDeck, OperatingPoint
from analogopt.spice.runner import SharedLibraryRunner, SimulatorInfo, parse_banner, with_solver

ROOT = Path(__file__).resolve().parents[2]
NGSPICE_39 = ROOT / ".cache" / "ngspice-39.3" / "bin" / "ngspice"
EXPORTED = sorted(p.parent for p in (ROOT / "netlists").glob("*/testbench.cir"))


def divider() -> NetlistDeck:
    c = Circuit("divider")
    c.V(1, "a", c.gnd, 2.0)
    c.R(1, "a", "b", 1e3)
    c.R(2, "b", c.gnd, 3e3)
    return NetlistDeck(c, [OperatingPoint()])


def test_setup_gives_ngspice_with_klu_and_the_runner_reports_it(tmp_path):
    info = NgspiceRunner().describe()
    assert info.program == "ngspice" and int(info.version.split(".")[0]) >= 41 and info.klu, info
    result = NgspiceRunner().run(divider(), run_dir=tmp_path)
    assert result.simulator == info and str(info) == f"ngspice-{info.version} (KLU solver)"
    ran = (tmp_path / "netlist.cir").read_text()
    assert ".options klu" in ran and ran.rstrip().endswith(".end")
    assert "Using KLU as Direct Linear Solver" in result.stdout  # ngspice's own word that it used KLU
    assert result.analysis("op").signals["v(b)"][0] == pytest.approx(1.5, rel=1e-12)


def test_sparse_can_be_chosen_and_the_shared_library_reports_its_own_release(tmp_path):
    sparse = NgspiceRunner(klu=False)
    result = sparse.run(divider(), run_dir=tmp_path)
    assert ".options klu" not in (tmp_path / "netlist.cir").read_text()
    assert not result.simulator.klu and "Using SPARSE 1.3" in result.stdout
    shared = SharedLibraryRunner()
    assert shared.describe() is None  # nothing has run yet: the library is loaded per run
    lib = shared.run(divider())
    assert lib.simulator.program == "libngspice" and lib.simulator.klu
    assert shared.describe() == lib.simulator


def test_the_solver_option_goes_before_end_once_and_only_with_klu():
    text = "* t\nR1 a 0 1\n.op\n.end\n"
    klu, plain = SimulatorInfo("ngspice", "46", True), SimulatorInfo("ngspice", "39", False)
    assert with_solver(text, klu) == "* t\nR1 a 0 1\n.op\n.options klu\n.end\n"
    assert with_solver(with_solver(text, klu), klu) == with_solver(text, klu)
    assert with_solver(text, plain) == text
    assert parse_banner("ngspice", "** ngspice-39 : Circuit level simulation program") == plain


@pytest.mark.skipif(not NGSPICE_39.exists(), reason="scripts/setup.sh unpacks ngspice-39.3 where another release is active")
@pytest.mark.parametrize("exported", EXPORTED, ids=[p.name for p in EXPORTED])
def test_exported_decks_stay_valid_on_39_and_agree_with_the_active_release(exported, tmp_path):
    runs = {}
    for name, runner in (("39", NgspiceRunner(str(NGSPICE_39))), ("active", NgspiceRunner())):
        run_dir = tmp_path / name
        shutil.copytree(exported, run_dir)
        result = runner.run((run_dir / "testbench.cir").read_text(), run_dir=run_dir)
        assert not result.warnings, result.warnings
        runs[name] = {p.analysis: p for p in read_raw(run_dir / "out.raw")}
    assert runs["39"].keys() == runs["active"].keys()
    for kind, old in runs["39"].items():
        new = runs["active"][kind]
        assert old.signals.keys() == new.signals.keys()
        for name, values in old.signals.items():
            # the end of the run: time steps differ between releases and solvers, within the decks'
            # tolerances (measured: at most 2.9e-6 of a signal's span, momentum_filter's FAL weight)
            span = max(np.ptp(values), np.max(np.abs(values)), 1e-12)
            assert abs(values[-1] - new.signals[name][-1]) <= 1e-5 * span, (kind, name)
