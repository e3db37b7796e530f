"""Bring your own block (issue 13): a user's op-amp subcircuit file and model libraries read, checked and
inlined (analogopt.blocks.user_block); every refusal one ConfigError line naming the file."""

import hashlib

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.crossbar import map_matrix
from analogopt.blocks.opamp import OpAmpModel, opamp_lines
from analogopt.blocks.user_block import (
    copy_user_files, load_user_opamp, measure_open_loop, supply_sources, user_opamp_from_table, user_parts_of,
)
from analogopt.circuits.crossbar import solve_circuit
from analogopt.errors import ConfigError
from analogopt.experiments.crossbar import CrossbarExperiment
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner
from analogopt.spice.export import export_netlist
from analogopt.values import Table
from user_opamp_files import CM33_LIB, CM33_SUB, write_part, write_scenario

PINS = ["inp", "inn", "out", "vdd", "vss"]


@pytest.fixture
def part_files(tmp_path):
    return write_part(tmp_path)


def load(tmp_path, sub="parts/cm33.sub", name="CM33", pins=PINS, libs=(("parts/cm33_models.lib", "tt"),), **kw):
    return load_user_opamp(sub, name, pins, libs, base_dir=tmp_path, where="t.opamp", **kw)


def test_a_part_is_read_once_with_its_library_section_and_a_checksum(tmp_path, part_files):
    sub, lib = part_files
    part = load(tmp_path)
    assert part.name == "CM33" and part.pins == tuple(PINS) and part.kind == "user"
    assert part.source.sha256 == hashlib.sha256(sub.read_bytes()).hexdigest()
    assert [f.record_name for f in part.files] == ["cm33.sub", "cm33_models.lib"]
    text = part.definition_text
    # the tt section and the common section it references, not the other corners
    assert "vto=0.55" in text and "cm33_dclamp" in text and "vto=0.65" not in text
    assert ".subckt CM33 1 2 3 4 5" in text and text.count(".ends CM33") == 1
    assert ".lib" not in "\n".join(ln for ln in text.splitlines() if not ln.startswith("*"))
    assert "*@analogopt .lib blocks/cm33_models.lib tt" in text and "*@analogopt .include blocks/cm33.sub" in text
    record = part.record()
    assert record["file"] == "blocks/cm33.sub" and record["lib"] == [{"file": "blocks/cm33_models.lib", "section": "tt"}]
    assert str(tmp_path) not in text, "the deck names no host path"
    # editing the file after validation changes nothing that is recorded or simulated
    sub.write_text("* changed\n")
    assert part.definition_text == text
    (tmp_path / "out").mkdir()
    written = copy_user_files([part], tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["blocks/cm33.sub", "blocks/cm33_models.lib"]
    assert (tmp_path / "out/blocks/cm33.sub").read_text() == CM33_SUB
    assert (tmp_path / "out/blocks/cm33_models.lib").read_text() == CM33_LIB


def test_pins_are_wired_in_the_subcircuits_order_with_the_circuits_supplies(tmp_path):
    write_part(tmp_path, sub=CM33_SUB.replace(".subckt CM33 1 2 3 4 5", ".subckt CM33 4 5 2 1 3"))
    part = load(tmp_path, pins=["vdd", "vss", "inn", "inp", "out"])
    circuit = Circuit("t")
    lines = opamp_lines(circuit, ["a", "b"], ["p0", "p1"], ["n0", "n1"], ["o0", "o1"], part,
                        {"vdd": "vdd", "vss": "0", "ref": "ref"})
    assert lines == "Xa vdd 0 n0 p0 o0 CM33\nXb vdd 0 n1 p1 o1 CM33\n"
    opamp_lines(circuit, ["c"], ["p"], ["n"], ["o"], part, {"vdd": "vdd", "vss": "0"})
    assert str(circuit).count(".subckt CM33") == 1, "the definition is added once per circuit"
    with pytest.raises(ConfigError, match="pin role.*vss.*no node"):
        opamp_lines(Circuit("t"), ["a"], ["p"], ["n"], ["o"], part, {"vdd": "vdd"})


def test_the_crossbar_powers_a_user_part_from_split_rails(tmp_path, part_files):
    part = load(tmp_path, supply_v=20.0)
    lines, nodes = supply_sources(part)
    assert lines == "Vopdd vdd_op 0 10.0\nVopss vss_op 0 -10.0\n"
    assert nodes == {"vdd": "vdd_op", "vss": "vss_op", "ref": "0"}
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    netlist = solve_circuit(map_matrix(a), np.array([0.3, -0.2]), opamp=part).netlist
    assert "Xop0 0 r0 x0 vdd_op vss_op CM33" in netlist and netlist.count("Vopdd") == 1
    with pytest.raises(ConfigError, match="set supply_v"):
        supply_sources(load(tmp_path))


def test_the_part_measures_as_designed(tmp_path, part_files):
    """CM33 (tests/blocks/user_opamp_files.py) was designed for A0 ≈ 1.1e5 and GBW ≈ 3.2 MHz."""
    loop = measure_open_loop(load(tmp_path, supply_v=3.3), NgspiceRunner(timeout_s=60), run_dir=tmp_path / "ac")
    assert 8e4 < loop.gain < 2e5
    assert 2e6 < loop.unity_gain_hz < 5e6
    assert loop.phase_margin_deg > 60
    assert loop.dominant_pole_hz == pytest.approx(loop.unity_gain_hz / loop.gain)


def test_references_inside_files_follow_ngspice_and_are_copied_in_their_folders(tmp_path):
    parts = tmp_path / "parts"
    (parts / "inc").mkdir(parents=True)
    (parts / "amp.sub").write_text(".include inc/stage.inc\n.subckt AMP inp inn out\nXs inp inn out STAGE\n.ends AMP\n")
    (parts / "inc" / "stage.inc").write_text(".subckt STAGE a b c\nE1 c 0 a b 1e5\n.ends STAGE\n")
    part = load_user_opamp("parts/amp.sub", "AMP", ["inp", "inn", "out"], base_dir=tmp_path)
    assert [f.record_name for f in part.files] == ["amp.sub", "inc/stage.inc"]
    assert "E1 c 0 a b 1e5" in part.definition_text
    (tmp_path / "out").mkdir()
    copy_user_files([part], tmp_path / "out")
    assert (tmp_path / "out/blocks/inc/stage.inc").is_file()


def test_two_files_that_would_share_a_copy_are_refused(tmp_path, part_files):
    other = tmp_path / "other"
    other.mkdir()
    (other / "cm33_models.lib").write_text(CM33_LIB)
    with pytest.raises(ConfigError, match=r"would both be copied to blocks/cm33_models\.lib; rename one"):
        load(tmp_path, libs=[("parts/cm33_models.lib", "tt"), ("other/cm33_models.lib", "ss")])
    # the same file twice (two sections of one library) is one copy
    part = load(tmp_path, libs=[("parts/cm33_models.lib", "tt"), ("parts/cm33_models.lib", "common")])
    assert [f.record_name for f in part.files] == ["cm33.sub", "cm33_models.lib"]


def test_a_latin1_file_is_text(tmp_path, part_files):
    sub, _ = part_files
    sub.write_bytes(CM33_SUB.replace("20 uA", "20 µA").encode("latin-1"))
    assert "20 µA" in load(tmp_path).definition_text


def _broken(tmp_path, what):
    """Write CM33 with one defect; returns the keyword arguments of :func:`load` that use it."""
    write_part(tmp_path)
    parts = tmp_path / "parts"
    if what == "control in subckt":
        (parts / "cm33.sub").write_text(CM33_SUB + ".control\nrun\n.endc\n")
    elif what == "control in an unused corner":
        (parts / "cm33_models.lib").write_text(CM33_LIB + "\n.lib bad\n.CONTROL\nshell rm -rf x\n.ENDC\n.endl bad\n")
    elif what == "endc alone":
        (parts / "cm33.sub").write_text(CM33_SUB + "  .endc\n")
    elif what == "shell line":
        (parts / "cm33.sub").write_text("shell echo hi\n" + CM33_SUB)
    elif what == "control in an included file":
        (parts / "more.inc").write_text("* more\n.control\n.endc\n")
        (parts / "cm33.sub").write_text(".include more.inc\n" + CM33_SUB)
    elif what == "binary":
        (parts / "cm33.sub").write_bytes(b"\x00\x01\x02")
    elif what == "analysis":
        (parts / "cm33.sub").write_text(CM33_SUB + ".tran 1n 1u\n")
    elif what == "reference upwards":
        (parts / "cm33.sub").write_text(".include ../elsewhere.inc\n" + CM33_SUB)
    elif what == "reference cycle":
        (parts / "cm33.sub").write_text(".include cm33.sub\n" + CM33_SUB)
    elif what == "directory":
        return {"sub": "parts"}
    return {}


@pytest.mark.parametrize("what, pattern", [
    ("control in subckt", r"cm33\.sub: line 34 holds a \.control line"),
    ("control in an unused corner", r"cm33_models\.lib: line \d+ holds a \.control line"),
    ("endc alone", r"holds a \.endc line"),
    ("shell line", r"line 1 holds a shell line"),
    ("control in an included file", r"more\.inc: line 2 holds a \.control line"),
    ("binary", r"not a text file"),
    ("analysis", r"\.tran is not allowed"),
    ("reference upwards", r"references '\.\./elsewhere\.inc'.*no '\.\.'"),
    ("reference cycle", r"references itself"),
    ("directory", r"parts: not a regular file"),
])
def test_a_defective_file_is_refused_in_one_line_naming_it(tmp_path, what, pattern):
    kwargs = _broken(tmp_path, what)
    with pytest.raises(ConfigError, match=pattern) as info:
        load(tmp_path, **kwargs)
    message = str(info.value)
    assert message.startswith("t.opamp: ") and "\n" not in message


@pytest.mark.parametrize("kwargs, pattern", [
    ({"sub": "parts/missing.sub"}, r"subckt file .*missing\.sub: no such file"),
    ({"libs": [("parts/nope.lib", "tt")]}, r"library .*nope\.lib: no such file"),
    ({"libs": [("parts/cm33_models.lib", "corner")]}, r"no section 'corner' \(sections: common, tt, ss, ff\)"),
    ({"name": "CM34"}, r"no \.subckt CM34 \(it defines: CM33\)"),
    ({"name": "bad name"}, r"is not a subcircuit name"),
    ({"pins": ["inp", "inn", "out"]}, r"has 5 pins \(1 2 3 4 5\), but pins lists 3"),
    ({"pins": ["inp", "inn", "out", "vdd", "gnd"]}, r"unknown role\(s\) 'gnd'"),
    ({"pins": ["inp", "inn", "out", "vdd", "vdd"]}, r"each role at most once"),
    ({"pins": ["inp", "inn", "vdd", "vss", "ref"]}, r"out missing"),
    ({"supply_v": -5.0}, r"supply_v must be a finite number > 0"),
])
def test_a_wrong_declaration_is_refused_in_one_line(tmp_path, part_files, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load(tmp_path, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("table, pattern", [
    ({"subckt": "parts/cm33.sub", "name": "CM33", "pins": PINS, "kind": "ideal"}, r"unknown key\(s\) kind"),
    ({"subckt": "parts/cm33.sub", "name": "CM33", "pins": PINS, "lib": "parts/cm33_models.lib"}, r"lib: must be a list"),
    ({"subckt": "parts/cm33.sub", "name": "CM33", "pins": PINS, "lib": [["parts/cm33_models.lib"]]},
     r"lib\[0\]: must be a \[FILE, SECTION\] pair"),
    ({"subckt": "parts/cm33.sub", "pins": PINS}, r"t\.opamp\.name: missing"),
    ({"subckt": "parts/cm33.sub", "name": "CM33", "pins": PINS, "supply_v": "ten"}, r"supply_v"),
])
def test_the_table_is_read_strictly(tmp_path, part_files, table, pattern):
    with pytest.raises(ConfigError, match=pattern):
        user_opamp_from_table(Table(table, "t.opamp"), tmp_path)


def test_a_scenario_resolves_paths_against_its_folder_and_checks_the_supply(tmp_path, part_files, monkeypatch):
    path = write_scenario(tmp_path, "nf_staircase", "circuit.opamp")
    monkeypatch.chdir(tmp_path / "parts")  # not the scenario's folder: the paths must not depend on it
    e = NFSingleExperiment.from_scenario(load_scenario(path, ['circuit.level="macro"']))
    assert e.macro.opamp.name == "CM33" and user_parts_of(e) == [e.macro.opamp]
    netlist = e.netlist()
    assert "Xbuf0 w0 wf0 wf0 vdd 0 CM33" in netlist and "Xz0 ref s0 z0 vdd 0 CM33" in netlist
    assert not any(ln.lower().startswith((".include", ".lib")) for ln in netlist.splitlines())
    write_scenario(tmp_path, "nf_staircase", "circuit.opamp", 'supply_v = 5.0\n')
    with pytest.raises(ConfigError, match=r"circuit\.opamp\.supply_v: 5 V differs from circuit\.supply_v = 3\.3 V"):
        NFSingleExperiment.from_scenario(load_scenario(path, ['circuit.level="macro"']))


def test_the_ideal_level_netlist_is_unchanged_by_a_user_part(tmp_path, part_files):
    path = write_scenario(tmp_path, "nf_staircase", "circuit.opamp")
    with_part = NFSingleExperiment.from_scenario(load_scenario(path)).netlist()
    shipped = NFSingleExperiment.from_scenario(load_scenario("nf_staircase")).netlist()
    assert with_part == shipped


def test_the_crossbar_scenario_checks_the_rails_against_the_answer(tmp_path, part_files):
    path = write_scenario(tmp_path, "crossbar_solve", "settling.opamp", "supply_v = 20.0\n")
    e = CrossbarExperiment.from_scenario(load_scenario(path))
    assert e.settling_opamp.supply_v == 20.0
    assert e.netlist() == CrossbarExperiment.from_scenario(load_scenario("crossbar_solve")).netlist()
    with pytest.raises(ConfigError, match=r"settling\.opamp\.supply_v: the answer reaches \|x\| = 6\.4 V, outside "
                                          r"the ±5 V rails of CM33"):
        CrossbarExperiment.from_scenario(load_scenario(path, ["settling.opamp.supply_v=10"]))
    write_scenario(tmp_path, "crossbar_solve", "settling.opamp")
    with pytest.raises(ConfigError, match="set supply_v"):
        CrossbarExperiment.from_scenario(load_scenario(path))


def test_export_references_the_copies_instead_of_the_inlined_text(tmp_path, part_files):
    part = load(tmp_path)
    circuit = Circuit("t")
    circuit.raw_spice += "Vdd vdd 0 3.3\nVin p 0 1.65\n" + opamp_lines(
        circuit, ["a"], ["p"], ["o"], ["o"], part, {"vdd": "vdd", "vss": "0"})
    flat = f"* t\n{str(circuit).split(chr(10), 1)[1]}.op\n.end\n"
    exported = export_netlist(flat)
    assert exported.user_blocks == ["CM33"]
    bench = exported.files["testbench.cir"]
    assert ".lib blocks/cm33_models.lib tt\n.include blocks/cm33.sub\n" in bench
    assert "cm33_nin" not in exported.files["blocks.cir"] + exported.files["models.lib"]
    assert "Xa p o o vdd 0 CM33" in exported.files["blocks.cir"] + bench


def test_a_built_in_model_is_untouched_by_the_supplies(tmp_path):
    circuit = Circuit("t")
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    assert opamp_lines(circuit, ["a"], ["p"], ["n"], ["o"], model, {"vdd": "vdd"}) == \
        f"Xa p n o {model.subcircuit_name}\n"
