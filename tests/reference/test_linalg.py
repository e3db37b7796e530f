"""Linear-algebra twins: exact answers, Ben-Israel–Cohen's error squaring, and 002's Recirculation rule."""

import pytest
import torch

from analogopt.errors import ConfigError
from analogopt.reference.linalg import (
    ben_israel_cohen, bic_initial, exact_lstsq, exact_pinv, exact_solve, mutual_pinv_errors, recirculation,
    recirculation_basin, recirculation_condition, recirculation_inits, two_array_lstsq,
)

GEN = torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _one_thread():
    # Small batched matmuls: extra threads only contend on the shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rand(*shape):
    return torch.rand(shape, generator=GEN, dtype=torch.float64) * 2 - 1


def test_exact_answers_agree_with_each_other():
    x, y = _rand(9, 4), _rand(9)
    w = exact_lstsq(x, y)
    torch.testing.assert_close(w, exact_pinv(x) @ y)
    torch.testing.assert_close(x.T @ (x @ w - y), torch.zeros(4, dtype=torch.float64), atol=1e-12, rtol=0)
    a = _rand(5, 5) + 3 * torch.eye(5, dtype=torch.float64)
    b = _rand(5)
    torch.testing.assert_close(a @ exact_solve(a, b), b)
    # Two identical arrays give ordinary least squares.
    torch.testing.assert_close(two_array_lstsq(x, x, y), w)


def test_ben_israel_cohen_error_squares():
    a = _rand(7, 4)
    xs = ben_israel_cohen(a, 20)
    proj = exact_pinv(a) @ a
    # Residual R_t = A⁺A − X_t A: R_{t+1} = R_t² exactly, so its spectral norm squares each step.
    norms = [torch.linalg.matrix_norm(proj - x @ a, ord=2).item() for x in xs]
    assert norms[0] < 1
    for t in range(len(norms) - 1):
        if norms[t] > 1e-7:
            assert norms[t + 1] == pytest.approx(norms[t] ** 2, rel=1e-6, abs=1e-14)
    torch.testing.assert_close(xs[-1], exact_pinv(a), atol=1e-12, rtol=0)


def test_ben_israel_cohen_damped_converges_linearly():
    a = _rand(5, 5) + 2 * torch.eye(5, dtype=torch.float64)
    xs = ben_israel_cohen(a, 400, damping=0.1)
    torch.testing.assert_close(xs[-1], torch.linalg.inv(a), atol=1e-9, rtol=0)


def test_bic_invalid_start_is_reported():
    a = _rand(4, 4) + 2 * torch.eye(4, dtype=torch.float64)
    with pytest.raises(ConfigError, match="diverged"):
        ben_israel_cohen(a, 60, x0=bic_initial(a, 1.0) * -3.0)


def test_recirculation_inits_follow_a3():
    u, v = recirculation_inits(10, 100, seed=1)
    assert u.shape == v.shape == (100, 10, 10)
    eye = torch.eye(10, dtype=torch.float64)
    assert ((eye - u).abs() <= 1).all() and ((eye - v).abs() <= 1).all()
    assert (torch.linalg.cond(u) <= 20).all() and (torch.linalg.cond(v) <= 20).all()


def test_disc_condition_lies_inside_basin():
    # Pairs built near each other's inverse meet the disc ρ(I − VU) < 1; the basin test must accept them.
    u = torch.eye(6, dtype=torch.float64) + 0.1 * _rand(50, 6, 6)
    v = torch.linalg.inv(u) + 0.1 * _rand(50, 6, 6)
    disc = recirculation_condition(u, v) < 1
    assert disc.all()
    assert recirculation_basin(u, v).all()
    result = recirculation(u, v, 300)
    assert result.converged(1e-9).all()


@pytest.mark.parametrize("noise_samples", [None, pytest.param(4000, marks=pytest.mark.slow)])
def test_recirculation_fig1a_converges_exactly_where_predicted_and_everywhere_for_small_e(noise_samples):
    """002 Fig. 1A (A.3: 10×10, cond < 20, λ = 0.9). Fig. 1A shows every one of 100 inits converging. The rule
    converges exactly on the inits whose spectrum of V₀U₀ lies in the basin (tested up front, before the
    first step), and with E ~ U[−0.3, 0.3] that is all 100 of them, as in the figure; A.3's E ~ U[−1, 1]
    leaves most outside (measured 15 of 100 inside: docs/reproduction.md, item 002-fig1a)."""
    small = recirculation(*recirculation_inits(10, 100, seed=0, amplitude=0.3), 300, noise_samples=noise_samples,
                          seed=3, record_every=25)
    assert bool(small.condition_met.all()) and bool(small.converged(1e-3).all())
    assert (small.err_u[-1] < 1e-6 * small.err_u[0]).all()  # the recorded errors fall, not only end small
    u, v = recirculation_inits(10, 100, seed=0)
    result = recirculation(u, v, 300, noise_samples=noise_samples, seed=3, record_every=25)
    met = result.condition_met
    assert (result.err_u[-1][met] < 1e-3).all() and (result.err_v[-1][met] < 1e-3).all()
    if noise_samples is None:
        # the expected rule converges exactly on the basin and nowhere else: the prediction can fail both ways
        assert torch.equal(result.converged(1e-3), met)
        assert int(met.sum()) < 100 and bool(result.diverged[~met].all())


def test_recirculation_noise_fixed_point_is_exact():
    u = torch.eye(4, dtype=torch.float64) + 0.2 * _rand(3, 4, 4)
    v = torch.linalg.inv(u)
    result = recirculation(u, v, 20, noise_samples=8, record_every=5)
    eu, ev = mutual_pinv_errors(result.u, result.v)
    assert (eu < 1e-10).all() and (ev < 1e-10).all()


def test_diverging_inits_are_frozen_not_overflowing():
    u = torch.eye(3, dtype=torch.float64).expand(2, 3, 3).clone()
    v = -u.clone()  # VU = −I: every eigenvalue outside the basin
    v[1] = torch.eye(3, dtype=torch.float64)
    result = recirculation(u, v, 500)
    assert result.diverged.tolist() == [True, False]
    assert torch.isfinite(result.u).all()
    assert result.condition_met.tolist() == [False, True]


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: recirculation(torch.eye(3), torch.eye(3), 5, decay=0.2), "decay"),
        (lambda: recirculation(torch.eye(3), torch.eye(2), 5), "equal shape"),
        (lambda: recirculation(torch.eye(3), torch.eye(3), 5, noise_samples=0), "noise_samples"),
        (lambda: recirculation(torch.full((2, 2), float("nan")), torch.eye(2), 5), "non-finite"),
        (lambda: exact_lstsq(torch.ones(3, 2), torch.ones(3)), "rank-deficient"),
        (lambda: exact_solve(torch.diag(torch.tensor([1.0, 1e-13])), torch.ones(2)), "condition number"),
        (lambda: exact_solve(torch.ones(2, 3), torch.ones(2)), "square"),
        (lambda: bic_initial(torch.eye(2), 2.5), "alpha_fraction"),
        (lambda: ben_israel_cohen(torch.eye(2), -1), "steps"),
    ],
)
def test_invalid_inputs(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()
