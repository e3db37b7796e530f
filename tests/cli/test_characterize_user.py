"""``analogopt characterize opamp`` with a user's ``.subckt`` (bring your own block): measured in real
ngspice with no analytic model, agreeing with :func:`~analogopt.blocks.user_block.measure_open_loop`;
the part's files copied into the result; validation errors in one line with nothing written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from analogopt.blocks.user_block import load_user_opamp, measure_open_loop
from analogopt.cli import main
from analogopt.spice import NgspiceRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blocks"))
from user_opamp_files import CM33_LIB, CM33_SUB, write_part  # noqa: E402

PINS = '["inp","inn","out","vdd","vss"]'
#: the same part as a user would write a noiseless one: a VCVS, no resistor
IDEAL_SUB = """* IDEAL -- a noiseless VCVS op-amp, no poles
.subckt IDEAL inp inn out
E1 out 0 inp inn 1e5
.ends IDEAL
"""


def _cm33_args(folder: Path) -> list[str]:
    return ["--set", f"subckt={folder / 'parts' / 'cm33.sub'}", "--set", "name=CM33", "--set", f"pins={PINS}",
            "--set", "supply_v=3.3", "--set", f'lib=[["{folder / "parts" / "cm33_models.lib"}","tt"]]']


@pytest.fixture(scope="module")
def cm33(tmp_path_factory):
    """CM33 characterized through the CLI, and measure_open_loop's numbers for the same files."""
    folder = tmp_path_factory.mktemp("characterize_user")
    sub, lib = write_part(folder)
    out = folder / "cm33"
    assert main(["characterize", "opamp", "--out", str(out), "--quiet", *_cm33_args(folder)]) == 0
    part = load_user_opamp(sub, "CM33", ["inp", "inn", "out", "vdd", "vss"], [(lib, "tt")], supply_v=3.3)
    reference = measure_open_loop(part, NgspiceRunner(timeout_s=60))
    return out, json.loads((out / "characterization.json").read_text()), reference


def test_open_loop_numbers_agree_with_measure_open_loop(cm33):
    _, data, reference = cm33
    assert data["dc_gain_v_per_v"]["measured"] == pytest.approx(reference.gain, rel=0.02)
    assert data["gbw_hz"]["measured"] == pytest.approx(reference.unity_gain_hz, rel=0.02)
    assert data["phase_margin_deg"]["measured"] == pytest.approx(reference.phase_margin_deg, rel=0.02)
    # and the numbers tests/blocks/user_opamp_files.py's author measured for CM33 on 3.3 V
    assert data["dc_gain_v_per_v"]["measured"] == pytest.approx(1.16e5, rel=0.02)
    assert data["gbw_hz"]["measured"] == pytest.approx(3.15e6, rel=0.02)
    assert data["phase_margin_deg"]["measured"] == pytest.approx(80, abs=2)


def test_noise_offset_and_slew_are_measured_with_no_analytic_model(cm33):
    out, data, _ = cm33
    for key in ("dc_gain_v_per_v", "gbw_hz", "phase_margin_deg", "noise_output_v_per_rthz_at_1khz",
                "noise_input_v_per_rthz_at_1khz", "input_offset_v", "input_bias_a", "slew_rate_v_per_s"):
        assert data[key]["measured"] is not None, key
        assert data[key]["analytic"] is None and data[key]["relative_difference"] is None, key
        assert data[key]["comparison"] == "no analytic model", key
    # MOSFETs and resistors: the part is noisy; a follower at 1 kHz has unity gain
    assert 1e-9 < data["noise_input_v_per_rthz_at_1khz"]["measured"] < 1e-6
    assert data["noise_output_v_per_rthz_at_1khz"]["measured"] == pytest.approx(
        data["noise_input_v_per_rthz_at_1khz"]["measured"], rel=0.01)
    # a symmetric pair on a mid-supply reference: no systematic offset; MOSFET gates draw no bias
    assert abs(data["input_offset_v"]["measured"]) < 1e-4
    # the Miller stage slews at (Ga · 20 µA·40 kΩ)/Cc = 80 µA/40 pF = 2 V/µs
    assert data["slew_rate_v_per_s"]["measured"] == pytest.approx(2e6, rel=0.05)
    report = (out / "report.md").read_text()
    assert "| gain-bandwidth (unity-gain frequency) | 3.153" in report
    assert "| DC gain | 115" in report and "| no analytic model | V/V |" in report
    assert "| output swing, low | n/a | n/a | V |" in report
    assert data["title"] == "user op-amp CM33" and data["parameters"]["kind"] == "user"


def test_user_files_are_copied_and_decks_inline_them(cm33):
    out, data, _ = cm33
    assert (out / "blocks" / "cm33.sub").read_text() == CM33_SUB
    assert (out / "blocks" / "cm33_models.lib").read_text() == CM33_LIB
    assert data["parameters"]["file"] == "blocks/cm33.sub"
    assert {f["file"] for f in data["parameters"]["files"]} == {"blocks/cm33.sub", "blocks/cm33_models.lib"}
    for analysis in ("ac", "noise", "offset", "slew"):
        deck = (out / f"netlist_{analysis}.cir").read_text()
        assert ".subckt CM33 1 2 3 4 5" in deck and ".include" not in deck.replace("*@analogopt .include", "")
        assert "Vsdd vdd_s 0 1.65" in deck and "Vsss vss_s 0 -1.65" in deck
    for figure in ("bode.png", "noise.png"):
        assert (out / figure).is_file()
    assert "## Part files" in (out / "report.md").read_text()


def test_relative_paths_resolve_against_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ideal.sub").write_text(IDEAL_SUB)
    assert main(["characterize", "opamp", "--out", "runs/ideal", "--set", "subckt=ideal.sub", "--set", "name=IDEAL",
                 "--set", 'pins=["inp","inn","out"]']) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("user op-amp IDEAL: DC gain 100.0 dB, noiseless — results in runs/ideal")
    data = json.loads((tmp_path / "runs/ideal/characterization.json").read_text())
    assert data["dc_gain_v_per_v"]["measured"] == pytest.approx(1e5, rel=1e-6)
    assert data["noise_output_v_per_rthz_at_1khz"]["measured"] == 0.0
    assert any("noiseless" in note for note in data["notes"])
    assert any("Slew rate not measured" in note for note in data["notes"])  # no pole: |A| never crosses 1
    assert data["gbw_hz"]["measured"] is None and "slew" not in data["testbenches"]
    assert not (tmp_path / "runs/ideal/noise.png").exists()
    assert (tmp_path / "runs/ideal/blocks/ideal.sub").read_text() == IDEAL_SUB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ideal.sub", "runs"]


@pytest.mark.parametrize("case, pattern", [
    ("missing", r"opamp: subckt file .*missing\.sub: no such file"),
    ("control", r"opamp: subckt file .*control\.sub: line 4 holds a \.control line"),
    ("no_supply", r"opamp: user op-amp CM33 has supply pins \(vdd, vss\): set its total supply with --set supply_v"),
    ("extra_key", r"opamp: unknown key\(s\) gain; allowed: lib, name, pins, subckt, supply_v"),
    ("bad_section", r"library .*cm33_models\.lib: no section 'typ' \(sections: common, tt, ss, ff\)"),
    ("pin_count", r"\.subckt CM33 has 5 pins \(1 2 3 4 5\), but pins lists 3"),
])
def test_validation_errors_are_one_line_and_leave_no_directory(tmp_path, run_cli, check_one_line_error, case, pattern):
    sub, lib = write_part(tmp_path)
    (tmp_path / "control.sub").write_text(".subckt BAD inp inn out\nE1 out 0 inp inn 1e5\n.ends BAD\n.control\n"
                                          "run\n.endc\n")
    args = {"missing": ["--set", f"subckt={tmp_path / 'missing.sub'}", "--set", "name=CM33", "--set", f"pins={PINS}"],
            "control": ["--set", f"subckt={tmp_path / 'control.sub'}", "--set", "name=BAD",
                        "--set", 'pins=["inp","inn","out"]'],
            "no_supply": ["--set", f"subckt={sub}", "--set", "name=CM33", "--set", f"pins={PINS}",
                          "--set", f'lib=[["{lib}","tt"]]'],
            "extra_key": _cm33_args(tmp_path) + ["--set", "gain=1e5"],
            "bad_section": ["--set", f"subckt={sub}", "--set", "name=CM33", "--set", f"pins={PINS}",
                            "--set", "supply_v=3.3", "--set", f'lib=[["{lib}","typ"]]'],
            "pin_count": ["--set", f"subckt={sub}", "--set", "name=CM33", "--set", 'pins=["inp","inn","out"]',
                          "--set", f'lib=[["{lib}","tt"]]'],
            }[case]
    out = tmp_path / "out"
    code, err = run_cli("characterize", "opamp", *args, "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control.sub", "parts"]


@pytest.mark.parametrize("body, pattern", [
    # inputs swapped: |A| is a healthy 1e5, but the loop it would close is a positive-feedback one
    ("E1 out 0 inn inp 1e5", r"output moves against inp − inn at .* Hz \(phase -?180°\): inp and inn are swapped"),
    # nothing drives the output: no gain at all (it was log10(0), an internal error)
    ("C1 out 0 1p\nC2 inp inn 1p", r"open-loop gain at .* Hz is .* V/V, not above 1: its output does not follow inp − inn"),
])
def test_a_miswired_part_is_one_line_not_a_datasheet(tmp_path, run_cli, check_one_line_error, body, pattern):
    (tmp_path / "bad.sub").write_text(f".subckt BAD inp inn out\n{body}\n.ends BAD\n")
    out = tmp_path / "out"
    code, err = run_cli("characterize", "opamp", "--set", f"subckt={tmp_path / 'bad.sub'}", "--set", "name=BAD",
                        "--set", 'pins=["inp","inn","out"]', "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sub"]


#: a gm-C integrator with a second pole: its pole lies below any analysed frequency, so its open loop
#: already lags by 90° at the lowest one (GBW 159 Hz, second pole 10 kHz)
GM_C = "G1 0 n1 {drive} 1u\nC1 n1 0 1n\nE2 n2 0 n1 0 1\nR2 n2 out 1k\nC2 out 0 15.9n"


def test_an_integrator_part_passes_the_wiring_check_and_its_swapped_twin_does_not(tmp_path, run_cli):
    for drive, code in (("inp inn", 0), ("inn inp", 2)):
        (tmp_path / "gmc.sub").write_text(f".subckt GMC inp inn out\n{GM_C.format(drive=drive)}\n.ends GMC\n")
        out = tmp_path / f"out_{code}"
        got, err = run_cli("characterize", "opamp", "--set", f"subckt={tmp_path / 'gmc.sub'}", "--set", "name=GMC",
                           "--set", 'pins=["inp","inn","out"]', "--out", str(out), "--quiet")
        assert got == code, err
        assert (code == 0) == out.is_dir()
        if code:
            assert "(phase 90°): inp and inn are swapped" in err
