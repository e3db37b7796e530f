"""000 Eq. 10 as written (the leaky low-pass, large A) and u = β³ (§5) in ngspice: each settles on its
closed-form fixed point, computed here independently of the package (issue 15)."""

import numpy as np
import pytest

from analogopt.data.synthetic import noisy_relu_set

from scenario_runs import run_scenario

#: Measured with ngspice 46: the circuit's final weights sit 1.8e-12 (leaky) and 4.1e-12 (β³) of the
#: fixed point's norm from it, the twin's 1e-14; the issue asks for 1e-6, this bound is tighter and
#: still 250× above what ngspice reaches.
FIXED_POINT_BOUND = 1e-9


def _data():
    """The scenarios' data set ([data] of both files), with the bias column last."""
    x, y = noisy_relu_set(w=1.5, b=-0.5, noise_std=0.1, x_min=-1.0, x_max=2.0, samples=60, seed=0)
    return np.stack([x, np.ones_like(x)], 1), y


def _weights(block):
    return np.array([block["w"], block["b"]])


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    return run_scenario(tmp_path_factory, "nf_leaky_ridge")[1]


@pytest.fixture(scope="module")
def cubed(tmp_path_factory):
    return run_scenario(tmp_path_factory, "nf_beta_cubed")[1]


def test_leaky_loop_settles_on_ridge_augmented_least_squares(leaky):
    x, y = _data()
    ridge = 1.0 / (1.0 * 100.0)  # 1/(γA) of the scenario
    # ridge regression as an augmented least-squares problem: [X; √λ·I]·w ≈ [y; 0]
    augmented = np.linalg.lstsq(np.vstack([x, np.sqrt(ridge) * np.eye(2)]), np.concatenate([y, [0.0, 0.0]]),
                                rcond=None)[0]
    plain = np.linalg.lstsq(x, y, rcond=None)[0]
    analog, digital = _weights(leaky["analog"]["final_weights"]), _weights(leaky["digital"]["final_weights"])
    assert _rel(analog, augmented) <= FIXED_POINT_BOUND
    assert _rel(digital, augmented) <= FIXED_POINT_BOUND
    assert _rel(analog, digital) <= FIXED_POINT_BOUND
    # the check can fail: the same circuit is 1.8e-4 from the leak-free answer (no ridge) …
    assert _rel(analog, plain) > 1e-4
    # … and the package's own closed form agrees with this independent one
    assert _rel(_weights(leaky["fixed_point"]["weights"]), augmented) <= 1e-12
    assert leaky["fixed_point"]["analog_relative_error"] <= FIXED_POINT_BOUND


def test_beta_cubed_loop_settles_where_x_cubed_residual_vanishes(cubed):
    x, y = _data()
    s, one = x[:, 0], x[:, 1]
    # X³ᵀ(y − X·w) = 0 written out as its 2×2 system from sums of powers of the inputs
    m = np.array([[np.sum(s**4), np.sum(s**3)], [np.sum(one * s), np.sum(one)]])
    cubed_fixed = np.linalg.solve(m, np.array([np.sum(s**3 * y), np.sum(y)]))
    plain = np.linalg.lstsq(x, y, rcond=None)[0]
    analog, digital = _weights(cubed["analog"]["final_weights"]), _weights(cubed["digital"]["final_weights"])
    assert _rel(analog, cubed_fixed) <= FIXED_POINT_BOUND
    assert _rel(digital, cubed_fixed) <= FIXED_POINT_BOUND
    # the check can fail: u = β (n = 1, least squares) lands 20 % away (measured 0.20)
    assert _rel(analog, plain) > 0.1


@pytest.mark.parametrize("which", ["leaky", "cubed"])
def test_trajectories_stay_within_the_twins_predicted_euler_error(which, request):
    m = request.getfixturevalue(which)
    validity = m["twin_validity"]
    assert validity["valid"]
    # measured 1.2 % (leaky) and 1.3 % (β³) against theory's worst cases of 1.7 % and 1.5 %
    assert m["trajectory_deviation"] <= validity["predicted_euler_error"]


def test_the_docs_rows_are_what_the_scenarios_measure(leaky, cubed):
    """docs/nf_loop.md's last two rows, within the noise it states (trajectory 30 %, final ×3)."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "nf_loop.md").read_text()
    for m in (leaky, cubed):
        final, trajectory = re.search(rf"^\| `{m['scenario']}` \| ([0-9.e+-]+) \| ([0-9.]+) % \|", text, re.M).groups()
        assert m["trajectory_deviation"] == pytest.approx(float(trajectory) / 100, rel=0.3)
        assert float(final) / 3 <= m["max_abs_deviation"] <= 3 * float(final)
