"""The NF loop's ODE (the ideal side of the NF comparison) against closed forms and the twin's limit."""

import dataclasses

import numpy as np
import pytest
import scipy.linalg

from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.nf_single import NFSingleLayerTwin, loop_ode, loop_gain, predicted_euler_error


def linear_problem(**kw):
    x = np.stack([np.linspace(-1, 2, 9), np.ones(9)], 1)
    y = 0.7 * x[:, 0] - 0.2
    base = dict(x=x, y=y, activation=ActivationSpec("identity"), forward_gain=1.0, gamma=1.0, tau_s=1e-3, eta=0.01,
                iterations=600, w0=np.array([0.3, -0.4]))
    return NFSingleLayerProblem(**(base | kw))


def closed_form(p, times):
    """τ·dw/dt = γA·Xᵀ(y − Xw) − w: linear, so w(t) = w* + exp(M t)(w0 − w*)."""
    g = p.gamma * p.forward_gain
    m = -(g * p.x.T @ p.x + np.eye(p.n_weights)) / p.tau_s
    c = g * p.x.T @ p.y / p.tau_s
    w_star = -np.linalg.solve(m, c)
    return np.stack([w_star + scipy.linalg.expm(m * t) @ (p.w0 - w_star) for t in times])


def test_linear_loop_matches_the_matrix_exponential():
    p = linear_problem()
    its = np.arange(0, p.iterations + 1, 20)
    ode = loop_ode(p, its)
    exact = closed_form(p, its * p.dt_s)
    assert np.abs(ode.weights - exact).max() < 1e-8 * np.ptp(exact)


def test_the_twin_converges_to_the_ode_as_eta_shrinks_and_stays_within_theorys_bound():
    p = linear_problem()
    its = np.arange(0, p.iterations + 1, 10)
    ode = loop_ode(p, its).weights
    errors = []
    for k in (1, 4, 16):
        fine = dataclasses.replace(p, eta=p.eta / k, iterations=p.iterations * k)
        twin = NFSingleLayerTwin(fine).run(record_every=10 * k).weights
        errors.append(np.abs(twin - ode).max())
    assert errors[0] > 3.5 * errors[1] > 3.5 * 3.5 * errors[2]  # first order in Δt
    # theory: the Euler error stays within gain/(2e) of the stiffest mode's amplitude
    bound = predicted_euler_error(loop_gain(p)) * np.abs(p.w0 - ode[-1]).max()
    assert errors[0] <= bound


def test_cascade_and_mismatch_follow_the_twin_at_small_steps():
    x = np.stack([np.linspace(-1, 2, 9), np.ones(9)], 1)
    p = NFSingleLayerProblem(x=x, y=np.tanh(0.9 * x[:, 0]), activation=ActivationSpec("tanh", gain=1.0),
                             forward_gain=0.5, gamma=1.0, tau_s=1e-3, eta=0.01, iterations=300, w0=np.zeros(2),
                             integrator="cascade", tau_m_s=3e-3, tau_w_s=np.array([1e-3, 1.3e-3]),
                             forward_gains=np.array([0.5, 0.45]))
    its = np.arange(0, p.iterations + 1, 10)
    ode = loop_ode(p, its).weights
    fine = dataclasses.replace(p, eta=p.eta / 32, iterations=p.iterations * 32)
    twin = NFSingleLayerTwin(fine).run(record_every=320).weights
    assert np.abs(twin - ode).max() < 2e-3 * np.ptp(ode)


def test_a_passed_deadline_stops_the_ode():
    with pytest.raises(TimeoutError, match="loop's ODE"):
        loop_ode(linear_problem(), np.arange(0, 601, 10), deadline=0.0)


def test_a_relay_comparator_exhausts_the_budget_instead_of_running_on():
    """Comparator gain 1e9 on the staircase: a relay whose ODE chatters; the solver gives up in seconds."""
    from analogopt.experiments.nf_single import NFSingleExperiment
    from analogopt.reference.nf_single import StiffLoopError
    from analogopt.scenarios import load_scenario

    p = NFSingleExperiment.from_scenario(load_scenario("nf_staircase", ["loop.iterations=1000",
                                                                         "network.gain=1e9"])).problem
    with pytest.raises(StiffLoopError, match="evaluations"):
        loop_ode(p, np.arange(0, 1001, 10))
