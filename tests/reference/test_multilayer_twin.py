"""The multi-layer twins integrate the rule's flow with Heun's method: second order, and Richardson's
estimate from two substep counts predicts the distance from a much finer integration."""

import numpy as np
import pytest

from analogopt.experiments import build_experiment
from analogopt.reference import multilayer as twin
from analogopt.scenarios import load_scenario


@pytest.fixture(scope="module")
def iris():
    return build_experiment(load_scenario("ml_iris", ["training.iterations=40", "data.train_samples=30"])).problem


def test_heun_substeps_converge_at_second_order(iris):
    runs = {s: twin.run_twin(iris, substeps=s).flat() for s in (2, 4, 8)}
    ratio = np.abs(runs[2] - runs[4]).max() / np.abs(runs[4] - runs[8]).max()
    assert 3.5 < ratio < 6.0  # about 2^2 for a second-order method (4.6 here); a first-order one gives 2


def test_richardson_estimate_predicts_the_distance_from_a_fine_integration(iris):
    coarse, check = twin.run_twin(iris, substeps=4), twin.run_twin(iris, substeps=2)
    fine = twin.run_twin(iris, substeps=32).flat()
    actual = coarse.flat() - fine
    # the estimate is right to 20 % of the error it estimates (0.2 measured, the order being 2.2 here), and
    # the extrapolated flow lands that much closer to the fine integration than the twin itself
    estimate = twin.integration_error(coarse, check)
    assert np.abs(estimate - actual).max() < 0.25 * np.abs(actual).max()
    flow = twin.continuous_flow(coarse, check)
    assert np.abs(flow - fine).max() < 0.25 * np.abs(actual).max()


def test_online_twin_steps_each_presentation_on_its_own_sample():
    import dataclasses

    online = build_experiment(load_scenario("ml_iris", ["training.mode=online", "training.epochs=1",
                                                        "data.train_samples=10", "training.eta=0.05"])).problem
    t = twin.run_twin(online, substeps=4)
    assert t.flat().shape == (online.steps + 1, online.weight_count)
    # presenting the samples in another order changes the path: each step sees only its own sample
    other = dataclasses.replace(online, order=online.order[::-1].copy())
    assert np.abs(twin.run_twin(other, substeps=4).flat()[1] - t.flat()[1]).max() > 1e-6
