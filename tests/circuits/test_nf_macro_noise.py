"""Seeded transient noise of the macro loop's OTAs (issue 13, Build 1): off by default, one reproducible
stream per OTA, and the weights' simulated spread matches the linearized loop's stationary spread."""

import json

import pytest

from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario

MACRO = ['circuit.level="macro"']


def _circuit(*sets):
    e = NFSingleExperiment.from_scenario(load_scenario("nf_noisy_relu", MACRO + list(sets)))
    from analogopt.cosim.nf_single import build_loop

    return build_loop(e.problem, macro=e.macro)


def test_noise_is_off_by_default_and_one_seeded_stream_per_ota():
    quiet = _circuit()
    assert not quiet.deck.attachments and "filesource" not in quiet.deck.format()
    noisy = _circuit("circuit.ota_noise_v_per_rthz=1e-5", "circuit.noise_seed=3")
    assert sorted(noisy.deck.attachments) == ["noise_ota0_nz.txt", "noise_ota1_nz.txt"]
    a, b = noisy.deck.attachments.values()
    assert a != b  # each OTA its own noise
    assert noisy.deck.attachments == _circuit("circuit.ota_noise_v_per_rthz=1e-5", "circuit.noise_seed=3").deck.attachments
    assert noisy.deck.attachments != _circuit("circuit.ota_noise_v_per_rthz=1e-5", "circuit.noise_seed=4").deck.attachments
    # the transient steps no further than one noise sample (the twin's step by default)
    assert ".tran" in noisy.deck.format() and noisy.deck.analyses[0].max_step_s == pytest.approx(1e-5)


@pytest.mark.slow
def test_theory_predicts_the_spread_of_a_noisy_run(run_cli, tmp_path):
    """One seeded run (its netlist and sample files are a seed's alone, so the run is too: ngspice is
    deterministic); 200 ms with 80 µs samples, the last 60 % compared."""
    out = tmp_path / "r"
    args = ["run", "nf_noisy_relu", "--quiet", "--out", str(out)]
    for s in [*MACRO, "circuit.ota_noise_v_per_rthz=1e-5", "circuit.noise_step_s=80e-6", "loop.iterations=20000",
              "compare.also_error_gains=[]", "circuit.noise_seed=1"]:
        args += ["--set", s]
    code, err = run_cli(*args)
    assert code == 0, err
    assert (out / "noise_ota0_nz.txt").exists() and (out / "netlist.cir").exists()
    noise = json.loads((out / "metrics.json").read_text())["imperfection_theory"]["noise"]
    for w, predicted in noise["predicted_std"].items():
        assert predicted > 1e-4  # the noise moves the weights: the comparison can fail
        assert noise["simulated_std"][w] == pytest.approx(predicted, rel=0.25), w
    assert "OTA input noise" in (out / "report.md").read_text()


def test_export_of_a_noisy_loop_is_refused_in_one_line(run_cli, check_one_line_error, tmp_path):
    out = tmp_path / "exp"
    code, err = run_cli("export", "nf_noisy_relu", "--set", 'circuit.level="macro"', "--set",
                        "circuit.ota_noise_v_per_rthz=1e-6", "--out", str(out))
    check_one_line_error(code, err, code=2, pattern="seeded noise samples", out=out)
