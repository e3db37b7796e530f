"""Crossbar solver circuits in real ngspice against torch.linalg: MVM, Ax = b, least squares, pinv, settling."""

import math

import numpy as np
import pytest
import torch

from analogopt.blocks.crossbar import map_matrix
from analogopt.blocks.opamp import OpAmpModel
from analogopt.circuits.crossbar import (
    lstsq_circuit, measure_settling_time, mvm_circuit, pinv_circuit, predict_settling_time, solve_circuit,
)
from analogopt.errors import ConfigError
from analogopt.reference.linalg import exact_lstsq, exact_pinv, exact_solve
from analogopt.spice import NgspiceRunner, Transient

RUNNER = NgspiceRunner(timeout_s=120)


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


def _op(circuit):
    return circuit.values(RUNNER.run(circuit.deck).analysis("op"))


def _well_conditioned(rng, n, shift=3.0):
    return rng.uniform(-1, 1, (n, n)) + shift * np.eye(n)


@pytest.mark.parametrize("shape", [(6, 4), (3, 7), (5, 5)])
def test_mvm_signed_matches_torch(shape):
    rng = np.random.default_rng(sum(shape))
    a, x = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, shape[1])
    y = _op(mvm_circuit(map_matrix(a), x))
    assert _rel(y, (torch.as_tensor(a) @ torch.as_tensor(x)).numpy()) < 1e-4


@pytest.mark.parametrize("n", [4, 8])
def test_solve_matches_torch(n):
    rng = np.random.default_rng(n)
    a, b = _well_conditioned(rng, n), rng.uniform(-1, 1, n)
    assert (a < 0).any()  # signed entries
    x = _op(solve_circuit(map_matrix(a), b))
    assert _rel(x, exact_solve(a, b).numpy()) < 1e-4


@pytest.mark.parametrize("shape", [(8, 3), (6, 6)])
def test_lstsq_matches_torch(shape):
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    x, y = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, shape[0])
    w = _op(lstsq_circuit(map_matrix(x), y))
    assert _rel(w, exact_lstsq(x, y).numpy()) < 1e-4


def test_pinv_batched_columns_match_torch():
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (6, 3))
    c = pinv_circuit(map_matrix(x))
    p = _op(c)
    assert p.shape == (3, 6)
    assert _rel(p, exact_pinv(x).numpy()) < 1e-4


def test_settling_time_follows_lambda_min():
    """Within 25 % of ln(1/ε)/(ω_p + ω_GBW·λ_min) over three condition numbers, and slower as λ_min shrinks."""
    rng = np.random.default_rng(5)
    n, tol = 6, 1e-3
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    opamp = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    b = rng.uniform(-1, 1, n)
    predicted, measured, lambdas = [], [], []
    for cond in (2.0, 8.0, 32.0):
        a = q @ np.diag(np.geomspace(1.0, 1.0 / cond, n)) @ q.T
        mapping = map_matrix(a)
        pred = predict_settling_time(mapping, opamp, tol)
        c = solve_circuit(mapping, b, opamp=opamp,
                          transient=Transient(2.0 * pred.time_s, max_step_s=pred.time_s / 400))
        waves = RUNNER.run(c.deck).analysis("tran")
        final = exact_solve(a, b).numpy()
        t_meas = measure_settling_time(waves.axis, c.trajectories(waves), final, tol)
        assert abs(t_meas / pred.time_s - 1) < 0.25, (cond, t_meas, pred.time_s)
        predicted.append(pred.time_s); measured.append(t_meas); lambdas.append(pred.lambda_min)
    assert lambdas[0] > lambdas[1] > lambdas[2]
    assert measured[0] < measured[1] < measured[2]
    assert predicted[0] < predicted[1] < predicted[2]


SQUARE = np.array([[2.0, 0.5], [0.3, 1.5]])


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: solve_circuit(map_matrix(np.array([[1.0, 2.0], [2.0, 4.0]])), np.ones(2)), "singular"),
        (lambda: solve_circuit(map_matrix(np.array([[1.0, 0.0], [0.0, 1e-6]])), np.ones(2)),
         r"condition number 1e\+06 exceeds max_condition"),
        (lambda: solve_circuit(map_matrix(np.array([[1.0, 0.0], [0.0, -1.0]])), np.ones(2)),
         "unstable: .*non-positive real part"),
        (lambda: solve_circuit(map_matrix(np.array([[0.0, 1.0], [-1.0, 0.0]])), np.ones(2)), "unstable"),
        (lambda: solve_circuit(map_matrix(SQUARE), np.array([1.0, np.nan])), "non-finite"),
        (lambda: solve_circuit(map_matrix(SQUARE), np.ones(3)), r"shape \(2,\)"),
        (lambda: solve_circuit(map_matrix(np.ones((3, 2))), np.ones(3)), "square"),
        (lambda: lstsq_circuit(map_matrix(np.ones((2, 3))), np.ones(2)), "m ≥ n"),
        (lambda: lstsq_circuit(map_matrix(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])), np.ones(3)), "rank-deficient"),
        (lambda: mvm_circuit(map_matrix(SQUARE), np.array([np.inf, 0.0])), "non-finite"),
        (lambda: predict_settling_time(map_matrix(SQUARE), OpAmpModel()), "single-pole"),
        (lambda: exact_solve(np.array([[1.0, 2.0], [2.0, 4.0]]), np.ones(2)), "singular"),
        (lambda: exact_solve(np.array([[1.0, np.nan], [0.0, 1.0]]), np.ones(2)), "non-finite"),
    ],
)
def test_invalid_problems_get_clear_errors(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()


def test_measure_settling_never_settled_is_inf():
    t = np.linspace(0, 1, 5)
    assert measure_settling_time(t, np.zeros((5, 1)), np.ones(1)) == math.inf


def test_stability_shortcut_agrees_with_the_spectrum():
    """The Cholesky test on the symmetric part decides only what it can (then the loop is stable); a
    stable matrix it cannot decide, and every unstable one, go to the eigenvalues."""
    from analogopt.circuits.crossbar import check_solve_stable, require_solve_stable

    rng = np.random.default_rng(5)
    for _ in range(40):
        a = rng.uniform(-1, 1, (6, 6)) + rng.uniform(-0.5, 2.0) * np.eye(6)
        mapping = map_matrix(a)
        try:
            check_solve_stable(mapping)
            stable = True
        except ConfigError:
            stable = False
        if stable:
            require_solve_stable(mapping)
        else:
            with pytest.raises(ConfigError, match="unstable"):
                require_solve_stable(mapping)
    # stable (eigenvalues 1, 1) with an indefinite symmetric part: the shortcut cannot decide it
    shear = map_matrix(np.array([[1.0, 10.0], [0.0, 1.0]]))
    with pytest.raises(np.linalg.LinAlgError):
        k = shear.g_pos - shear.g_neg
        np.linalg.cholesky(0.5 * (k + k.T))
    require_solve_stable(shear)
