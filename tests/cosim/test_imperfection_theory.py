"""Theory of the macro loop's imperfections against ngspice (issue 13 Build 4): an OTA's finite output
resistance (a leak) and its input offset (an error offset) shift the settled weights as the fixed point of
the imperfect loop equation predicts, over magnitudes spanning a factor of 100."""

import dataclasses

import numpy as np
import pytest

from analogopt.cosim.imperfections import predicted_settling
from analogopt.cosim.nf_single import cosimulate
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.imperfections import ridge_weights, settled_weights
from analogopt.scenarios import load_scenario


def test_identity_loop_settles_at_the_ridge_solution():
    x = np.stack([np.linspace(-1, 2, 9), np.ones(9)], 1)
    y = 0.7 * x[:, 0] - 0.2
    p = NFSingleLayerProblem(x=x, y=y, activation=ActivationSpec("identity"), forward_gain=0.5, gamma=2.0, eta=0.01,
                             iterations=10, leak=False, w0=np.zeros(2))
    w = settled_weights(p, leak=0.3, error_offset=0.05)
    assert w == pytest.approx(ridge_weights(x, y, gain=1.0, leak=0.3, error_offset=0.05), rel=1e-10)


@pytest.fixture(scope="module")
def loop():
    e = NFSingleExperiment.from_scenario(load_scenario("nf_noisy_relu", ['circuit.level="macro"']))
    base = cosimulate(e.problem, macro=e.macro, baseline=False)
    predicted = predicted_settling(e.problem, e.macro, base.circuit.scales, base.ideal.final_weights)
    return e, base, predicted


@pytest.mark.slow
@pytest.mark.parametrize("key,values", [("ota_r_out_ohm", (1e8, 3e8, 1e9, 1e10)),
                                        ("ota_offset_v", (1e-4, 1e-3, 3e-3, 1e-2))])
def test_simulated_shift_matches_theory(loop, key, values):
    e, base, base_prediction = loop
    for value in values:
        parts = dataclasses.replace(e.macro, **{key: value})
        run = cosimulate(e.problem, macro=parts, baseline=False, ideal=False)
        simulated = run.analog.final_weights - base.analog.final_weights
        theory = predicted_settling(e.problem, parts, run.circuit.scales, base.ideal.final_weights)
        predicted = theory["predicted_settled_weights"] - base_prediction["predicted_settled_weights"]
        tolerance = np.maximum(0.2 * np.abs(predicted), 1e-3)
        assert np.all(np.abs(simulated - predicted) <= tolerance), (key, value, simulated, predicted)
