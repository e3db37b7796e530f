"""Bring your own block (issue 13), end to end through the CLI with real ngspice: a user's op-amp file
(CM33, tests/blocks/user_opamp_files.py) drives the NF loop at the macro level and the crossbar solver's
settling transient, the run directory keeps copies of the files, the export references them, and a bad
file is refused in one line before any directory is written."""

import json
import subprocess

import pytest

from user_opamp_files import CM33_LIB, CM33_SUB, write_part, write_scenario


@pytest.mark.slow
def test_a_user_opamp_drives_the_nf_loop_at_the_macro_level_and_it_still_learns(tmp_path, run_cli):
    write_part(tmp_path)
    scenario = write_scenario(tmp_path, "nf_staircase", "circuit.opamp")
    out = tmp_path / "out"
    code, err = run_cli("run", str(scenario), "--set", 'circuit.level="macro"', "--out", str(out), "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["analog"]["final_loss"] < 1e-2  # the scenario's MSE with the user's op-amps in every slot
    part = metrics["user_opamp"]
    assert part["name"] == "CM33" and part["file"] == "blocks/cm33.sub"
    assert (out / "blocks/cm33.sub").read_text() == CM33_SUB
    assert (out / "blocks/cm33_models.lib").read_text() == CM33_LIB
    netlist = (out / "netlist.cir").read_text()
    instances = [ln for ln in netlist.splitlines() if ln.startswith("X") and ln.endswith(" vdd 0 CM33")]
    assert len(instances) == 69  # 2 buffers, 2 inverters, 61 summing amplifiers, 4 error lines
    assert f"sha256 {part['sha256']}" in netlist
    assert "CM33" in (out / "report.md").read_text()


@pytest.mark.slow
def test_a_user_opamp_settles_the_crossbar_solve_to_the_right_answer(tmp_path, run_cli):
    write_part(tmp_path)
    scenario = write_scenario(tmp_path, "crossbar_solve", "settling.opamp", "supply_v = 20.0\n")
    out = tmp_path / "out"
    code, err = run_cli("run", str(scenario), "--set", "monte_carlo.samples=2", "--out", str(out), "--quiet")
    assert code == 0, err
    s = json.loads((out / "metrics.json").read_text())["settling"]
    assert s["final_rel_error"] < s["tolerance"]  # the answer, within the scenario's tolerance of the exact one
    assert s["measured_s"] < 2.5 * s["predicted_s"]  # settled inside the recorded window
    assert 0.8 < s["ratio"] < 1.25, "the single-pole theory, fed the part's measured A0 and GBW, predicts it"
    assert 8e4 < s["opamp"]["measured_gain"] < 2e5 and 2e6 < s["opamp"]["measured_unity_gain_hz"] < 5e6
    assert (out / "blocks/cm33.sub").read_text() == CM33_SUB
    assert "CM33" in (out / "spice/settling/netlist.cir").read_text()


@pytest.mark.slow
def test_the_export_copies_the_files_and_runs_in_plain_ngspice_from_anywhere(tmp_path, run_cli):
    write_part(tmp_path)
    scenario = write_scenario(tmp_path, "nf_staircase", "circuit.opamp")
    out = tmp_path / "export"
    code, err = run_cli("export", str(scenario), "--set", 'circuit.level="macro"', "--out", str(out))
    assert code == 0, err
    bench = (out / "testbench.cir").read_text()
    assert ".lib blocks/cm33_models.lib tt\n.include blocks/cm33.sub\n" in bench
    assert (out / "blocks/cm33.sub").read_text() == CM33_SUB
    assert "blocks/cm33.sub" in (out / "README.md").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(["ngspice", "-b", "-r", str(elsewhere / "out.raw"), str(out / "testbench.cir")],
                         cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "error" not in (run.stdout + run.stderr).lower(), run.stdout[-2000:] + run.stderr
    assert (elsewhere / "out.raw").stat().st_size > 0


@pytest.mark.parametrize("defect, pattern", [
    ("control", r"cm33\.sub: line \d+ holds a \.control line"),
    ("missing", r"subckt file .*cm33\.sub: no such file"),
])
@pytest.mark.parametrize("command", ["run", "export"])
def test_a_bad_file_is_refused_in_one_line_and_no_directory_is_left(tmp_path, run_cli, check_one_line_error,
                                                                    defect, pattern, command):
    sub, _ = write_part(tmp_path)
    if defect == "control":
        sub.write_text(CM33_SUB + ".control\nrun\nwrite out.raw\n.endc\n")
    else:
        sub.unlink()
    scenario = write_scenario(tmp_path, "nf_staircase", "circuit.opamp")
    out = tmp_path / "out"
    code, err = run_cli(command, str(scenario), "--set", 'circuit.level="macro"', "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nf_staircase_cm33.toml", "parts"]
