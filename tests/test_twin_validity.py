"""Twin validity of the NF loop (issue 12 item 5): the per-step loop gain η·γ·A·λ_max of docs/nf_loop.md."""

import json
import subprocess
import sys

import numpy as np
import pytest

from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.nf_single import TWIN_LOOP_GAIN_BOUND, NFSingleLayerTwin, loop_gain
from analogopt.scenarios import load_scenario

NF_SCENARIOS = ("nf_staircase", "nf_noisy_relu", "nf_perceptron", "nf_momentum")


def test_identity_loop_gain_is_eta_gamma_a_lambda_max_of_xtx():
    x = np.stack([np.linspace(-1, 2, 9), np.ones(9)], 1)
    p = NFSingleLayerProblem(x=x, y=x[:, 0], activation=ActivationSpec("identity"), forward_gain=0.3, gamma=2.0,
                             eta=0.01)
    expected = 0.01 * 2.0 * 0.3 * np.linalg.eigvalsh(x.T @ x).max()
    assert loop_gain(p) == pytest.approx(expected, rel=1e-12)
    assert p.step_gains == pytest.approx(np.full(2, 0.01 * 2.0 * 0.3))
    # the window gain for identity (σ' = 1) is the same matrix; beta_pow takes the general path
    import dataclasses
    assert loop_gain(dataclasses.replace(p, error_gain="window")) == pytest.approx(expected, rel=1e-12)
    assert loop_gain(dataclasses.replace(p, error_gain="beta_pow", power=1)) == pytest.approx(expected, rel=1e-9)


def _gain(name, sets=()):
    p = NFSingleExperiment.from_scenario(load_scenario(name, list(sets))).problem
    return loop_gain(p, NFSingleLayerTwin(p).run(record_every=max(1, p.iterations // 400)).weights)


def test_forward_gain_10_on_noisy_relu_is_far_outside_the_regime():
    # beyond forward Euler's stability limit (2) for the stiffest mode: the twin diverges from the ODE
    assert _gain("nf_noisy_relu", ["loop.forward_gain=10"]) > 2 > TWIN_LOOP_GAIN_BOUND


# Measured (largest along the twin's trajectory): staircase 0.198, noisy_relu 0.068, perceptron 0.105,
# momentum 0.068; the twin's own Euler error (vs the same twin at η/16) is 0.15–0.55 % of the weights' range.
@pytest.mark.parametrize("name", NF_SCENARIOS)
def test_shipped_nf_scenarios_are_inside_the_twin_regime(name):
    assert _gain(name) <= TWIN_LOOP_GAIN_BOUND


@pytest.mark.slow
def test_run_warns_once_records_and_reports_outside_the_regime(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "analogopt.cli", "run", "nf_noisy_relu", "--set",
                           "loop.forward_gain=10", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("analogopt: warning:")]
    assert len(warnings) == 1, proc.stderr
    assert "outside its valid regime" in warnings[0] and "> 0.272" in warnings[0]
    m = json.loads((out / "metrics.json").read_text())
    tv = m["twin_validity"]
    assert tv["valid"] is False and tv["bound"] == pytest.approx(0.2718, abs=1e-4) and tv["loop_gain"] > 5
    assert tv["predicted_euler_error"] is None and m["warnings"]  # beyond Euler's stability limit: no estimate
    c = m["comparison"]
    assert c["twin_valid"] is False
    # the circuit still follows the loop's ODE; it is the twin that left it
    assert c["analog_vs_ideal"]["max_fraction_of_range"] < 0.01 < c["twin_vs_ideal"]["max_fraction_of_range"]
    head = (out / "report.md").read_text().splitlines()[:4]
    assert any("outside its valid regime" in line for line in head), head
