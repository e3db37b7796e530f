"""``analogopt characterize``: datasheet numbers measured in real ngspice against the blocks' analytic
values, the result files, and one-line errors for bad input."""

from __future__ import annotations

import json
import math

import pytest

from analogopt.blocks.opamp import OpAmpModel
from analogopt.cli import main

SINGLE_POLE = {"kind": "single_pole", "gain": "1e5", "gbw_hz": "1meg", "offset_v": "1m", "slew_v_per_s": "1e6",
               "noise_v_per_rthz": "20n"}
SINGLE_MODEL = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, offset_v=1e-3, slew_v_per_s=1e6,
                          noise_v_per_rthz=20e-9)


def _sets(settings: dict[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]


def _characterize(out, block: str, settings: dict[str, str], *extra: str) -> dict:
    code = main(["characterize", block, "--out", str(out), "--quiet", *_sets(settings), *extra])
    assert code == 0
    return json.loads((out / "characterization.json").read_text())


@pytest.fixture(scope="module")
def single_pole(tmp_path_factory):
    """One full characterization of the single-pole macromodel, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("characterize") / "single"
    return out, _characterize(out, "opamp", SINGLE_POLE)


def _measured(data: dict, key: str) -> float:
    return data[key]["measured"]


# ----------------------------------------------------------------------------- acceptance numbers
def test_single_pole_gain_gbw_and_phase_margin_match_the_model(single_pole):
    _, data = single_pole
    assert _measured(data, "dc_gain_v_per_v") == pytest.approx(SINGLE_MODEL.gain, rel=0.02)
    assert _measured(data, "gbw_hz") == pytest.approx(SINGLE_MODEL.unity_gain_hz(), rel=0.02)
    assert _measured(data, "phase_margin_deg") == pytest.approx(SINGLE_MODEL.phase_margin_deg(1.0), rel=0.02)
    assert _measured(data, "f_3db_hz") == pytest.approx(SINGLE_MODEL.dominant_pole_hz, rel=0.02)
    assert data["gbw_hz"]["analytic"] == SINGLE_MODEL.unity_gain_hz()
    assert abs(data["gbw_hz"]["relative_difference"]) < 0.02


def test_noise_density_matches_the_model(single_pole):
    _, data = single_pole
    assert _measured(data, "noise_input_v_per_rthz_at_1khz") == pytest.approx(20e-9, rel=0.05)
    assert data["noise_input_v_per_rthz_at_1khz"]["analytic"] == pytest.approx(20e-9)
    # the follower's closed-loop gain is 1 at 1 kHz: the output carries the same density
    assert _measured(data, "noise_output_v_per_rthz_at_1khz") == pytest.approx(20e-9, rel=0.05)


def test_offset_and_slew_match_the_set_values(single_pole):
    _, data = single_pole
    assert _measured(data, "input_offset_v") == pytest.approx(1e-3, rel=0.02)
    assert _measured(data, "slew_rate_v_per_s") == pytest.approx(1e6, rel=0.02)


@pytest.mark.parametrize("gbw, second_pole", [("10meg", "1meg"), ("1meg", "2meg")])
def test_two_pole_phase_margin_matches_the_model(tmp_path, gbw, second_pole):
    settings = {"kind": "two_pole", "gain": "1e5", "gbw_hz": gbw, "second_pole_hz": second_pole}
    data = _characterize(tmp_path / "two", "opamp", settings)
    model = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=float(gbw[:-3]) * 1e6,
                       second_pole_hz=float(second_pole[:-3]) * 1e6)
    assert _measured(data, "phase_margin_deg") == pytest.approx(model.phase_margin_deg(1.0), rel=0.02)
    assert _measured(data, "gbw_hz") == pytest.approx(model.unity_gain_hz(), rel=0.02)
    assert data["slew_rate_v_per_s"]["measured"] is None  # no slew limit: n/a


def test_offset_and_bias_at_mid_rail(tmp_path):
    settings = {"kind": "single_pole", "gain": "1e4", "gbw_hz": "1meg", "v_low": "0", "v_high": "5",
                "offset_v": "-2m", "bias_a": "1n", "slew_v_per_s": "2e6"}
    data = _characterize(tmp_path / "rails", "opamp", settings)
    assert _measured(data, "input_offset_v") == pytest.approx(-2e-3, rel=0.02)
    assert _measured(data, "input_bias_a") == pytest.approx(1e-9, rel=0.02)
    assert _measured(data, "slew_rate_v_per_s") == pytest.approx(2e6, rel=0.02)


def test_ideal_opamp_says_na_for_what_it_lacks(tmp_path):
    data = _characterize(tmp_path / "ideal", "opamp", {"gain": "1e6"})
    assert _measured(data, "dc_gain_v_per_v") == pytest.approx(1e6, rel=1e-6)
    for key in ("gbw_hz", "phase_margin_deg", "slew_rate_v_per_s"):
        assert data[key]["measured"] is None and data[key]["analytic"] is None
    assert "| gain-bandwidth (unity-gain frequency) | n/a | n/a | Hz |" in (tmp_path / "ideal/report.md").read_text()
    assert not (tmp_path / "ideal/noise.png").exists()  # a noiseless ideal op-amp has no noise to plot


def test_integrator_corner_and_gain(tmp_path):
    data = _characterize(tmp_path / "rc", "integrator", {"tau_s": "100u", "gamma": "2"})
    assert _measured(data, "dc_gain_v_per_v") == pytest.approx(2.0, rel=0.02)
    assert _measured(data, "f_3db_hz") == pytest.approx(1 / (2 * math.pi * 100e-6), rel=0.02)
    r_ohm = 100e-6 / 1e-9
    resistor = math.sqrt(4 * 1.38064852e-23 * 300.15 * r_ohm)
    assert _measured(data, "noise_input_v_per_rthz_at_1khz") == pytest.approx(resistor / 2, rel=0.05)
    assert data["phase_margin_deg"]["measured"] is None
    assert (tmp_path / "rc/bode.png").is_file() and (tmp_path / "rc/noise.png").is_file()


def test_pure_integrator_unity_gain_frequency(tmp_path):
    data = _characterize(tmp_path / "pure", "integrator", {"tau_s": "1m", "leak": "false"})
    assert _measured(data, "gbw_hz") == pytest.approx(1 / (2 * math.pi * 1e-3), rel=0.02)
    assert data["f_3db_hz"]["measured"] is None and data["noise_input_v_per_rthz_at_1khz"]["measured"] is None


def test_comparator_transfer_gain_and_swing(tmp_path):
    data = _characterize(tmp_path / "cmp", "comparator", {"name": "sign", "gain": "20", "span_v": "2"})
    assert _measured(data, "dc_gain_v_per_v") == pytest.approx(20.0, rel=0.02)
    assert _measured(data, "output_low_v") == pytest.approx(-1.0, rel=1e-6)
    assert _measured(data, "output_high_v") == pytest.approx(1.0, rel=1e-6)
    assert _measured(data, "transfer_max_deviation_v") < 1e-6
    assert (tmp_path / "cmp/transfer.png").is_file() and not (tmp_path / "cmp/bode.png").exists()
    assert data["gbw_hz"]["measured"] is None


# ----------------------------------------------------------------------------- files and flags
def test_result_directory_holds_decks_raw_files_figures_and_report(single_pole):
    out, data = single_pole
    for analysis in ("ac", "noise", "offset", "slew"):
        assert (out / f"netlist_{analysis}.cir").read_text().endswith(".end\n")
        assert (out / "spice" / analysis / "out.raw").stat().st_size > 0
        assert data["testbenches"][analysis]["netlist"] == f"netlist_{analysis}.cir"
    for figure in ("bode.png", "noise.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Ldc out inn" in (out / "netlist_ac.cir").read_text()
    report = (out / "report.md").read_text()
    assert "| quantity | measured | analytic | unit |" in report
    assert "| phase margin (β = 1) | 90.0006 | 90.0006 | ° |" in report
    assert data["block"] == "opamp" and data["parameters"]["noise_v_per_rthz"] == pytest.approx(20e-9)
    assert (out / ".analogopt-run").is_file()


def test_summary_line_force_and_help(tmp_path, capsys):
    out = tmp_path / "ideal"
    assert main(["characterize", "opamp", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("op-amp (ideal): DC gain 100.0 dB") and str(out) in lines[0]
    assert main(["characterize", "opamp", "--out", str(out)]) == 2  # not empty, no --force
    assert "pass --force" in capsys.readouterr().err
    assert main(["characterize", "opamp", "--out", str(out), "--force", "--quiet", "--timeout", "30"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["characterize", "--help"]) == 0
    assert "--timeout" in capsys.readouterr().out


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, pattern", [
    (["characterize", "resistor"], r"invalid choice: 'resistor'"),
    (["characterize", "opamp", "--set", "gainn=1e5"], r"unknown key\(s\) gainn"),
    (["characterize", "opamp", "--set", "gain=10MHz"], r"opamp\.gain: '10MHz' means 10 milli"),
    (["characterize", "opamp", "--set", "kind=single_pole", "--set", "gbw_hz=-1meg"], r"gbw_hz must be > 0 Hz"),
    (["characterize", "opamp", "--set", "gain"], r"expected KEY=VALUE"),
    (["characterize", "opamp", "--set", "gain=1", "--set", "gain=2"], r"gain: given twice"),
    (["characterize", "opamp", "--set", "noise_v_per_rthz=20nV/rtHz"], r"noise_v_per_rthz"),
    (["characterize", "integrator", "--set", "leak=maybe"], r"integrator\.leak: must be true or false"),
    (["characterize", "integrator", "--set", "tau_s=0"], r"integrator\.tau_s: must be > 0"),
    (["characterize", "comparator", "--set", "name=softmax"], r"unknown activation 'softmax'"),
    (["characterize", "opamp", "--timeout", "0"], r"--timeout must be a finite number of seconds > 0"),
    (["characterize", "opamp", "--timeout", "1e30"], r"--timeout must be at most 2\.592e\+06 s"),
    # magnitudes no part has, and an offset that puts every loop on a rail (it was log10(0), exit 70)
    (["characterize", "opamp", "--set", "gain=1e30"], r"opamp\.gain: 1e\+30 V/V is outside the range"),
    (["characterize", "integrator", "--set", "gamma=1e-30"], r"integrator\.gamma: 1e-30 V/V is outside the range"),
    (["characterize", "integrator", "--set", "tau_s=1e-15", "--set", "c_farad=1000"], r"R = tau_s/c_farad: 1e-18 ohm"),
    (["characterize", "opamp", "--set", "noise_v_per_rthz=1e-30"], r"noise_v_per_rthz must lie in \[1e-15, 0\.001\]"),
    (["characterize", "opamp", "--set", "kind=single_pole", "--set", "gbw_hz=1meg", "--set", "v_low=-1", "--set",
      "v_high=1", "--set", "offset_v=1.5"], r"offset_v = 1\.5 V is not below half its output swing"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, run_cli, check_one_line_error, args, pattern):
    out = tmp_path / "out"
    code, err = run_cli(*args, "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)
    assert list(tmp_path.iterdir()) == []


def test_bad_out_is_one_line_and_writes_nothing(tmp_path, run_cli, check_one_line_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    for out, pattern in (("", r"--out is empty"), (str(a_file), r"exists and is not a directory"),
                         (".", r"is the current directory")):
        code, err = run_cli("characterize", "opamp", "--out", out)
        check_one_line_error(code, err, code=2, pattern=pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and a_file.read_text() == "keep me"


def test_a_slew_limit_the_rails_never_reach_is_not_measured(tmp_path):
    """SR/(2π·GBW) = 159 V against 3.3 V rails: the follower never slews, and its 20–80 % slope (7e9 V/s,
    the loop's settling) was reported as the measured slew rate beside the 1e12 V/s asked for."""
    settings = {"kind": "single_pole", "gain": "1e5", "gbw_hz": "1g", "slew_v_per_s": "1e12", "v_low": "0",
                "v_high": "3.3"}
    data = _characterize(tmp_path / "unreached", "opamp", settings)
    assert data["slew_rate_v_per_s"]["measured"] is None and data["slew_rate_v_per_s"]["analytic"] == 1e12
    assert any(note.startswith("Slew rate not measured: the rails allow a step of 2.64 V, 0.0166 linear ranges")
               for note in data["notes"])
    assert "Slew rate not measured" in (tmp_path / "unreached/report.md").read_text()
