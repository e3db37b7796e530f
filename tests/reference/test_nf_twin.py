import numpy as np
import pytest
import torch

from analogopt.errors import ConfigError
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.reference.nf_single import NFSingleLayerTwin, gradient_descent, nf_error


def _problem(**kw):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((40, 3)), np.ones((40, 1))], 1)
    y = np.tanh(x @ np.array([0.5, -1.0, 0.3, 0.1])) + 0.05 * rng.standard_normal(40)
    base = dict(x=x, y=y, activation=ActivationSpec("tanh"), error_gain="window", forward_gain=0.5, gamma=2.0,
                eta=1e-2, iterations=300, leak=True, w0=0.1 * rng.standard_normal(4))
    base.update(kw)
    return NFSingleLayerProblem(**base)


def test_nf_with_u_beta_and_leak_is_gradient_descent_with_weight_decay():
    """000 Eq. 21: η_GD = η·γ·A·m/2 and λ = 2/(γ·A·m) make the two updates identical."""
    p = _problem()
    nf = NFSingleLayerTwin(p).run()
    m = p.n_samples
    lr = p.eta * p.gamma * p.forward_gain * m / 2
    gd = gradient_descent(p, lr=lr, weight_decay=2 / (p.gamma * p.forward_gain * m))
    assert np.max(np.abs(nf.weights - gd.weights)) < 1e-10


def test_window_error_is_minus_m_over_2_times_the_gradient():
    p = _problem()
    x, y = torch.as_tensor(p.x), torch.as_tensor(p.y)
    w = torch.as_tensor(p.w0).clone().requires_grad_(True)
    loss = ((y - torch.tanh(x @ w)) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, w)
    e = nf_error(x=x, y=y, w=w.detach(), activation=p.activation, error_gain="window")
    torch.testing.assert_close(e, -(p.n_samples / 2) * grad)


def test_beta_pow_keeps_the_sign_of_beta():
    """000 §5: the error gain U = β^n (β_ki = σ'(z_k)·x_ki, n odd) makes e_i = Σ_k β_ki^n·(y_k − σ(z_k)).
    Checked against a sum written sample by sample in plain floats (math.tanh, no tensors), against the
    window gain it equals at n = 1, and by its oddness."""
    import math

    p = _problem()
    x, y, w = torch.as_tensor(p.x), torch.as_tensor(p.y), torch.as_tensor(p.w0)
    e3 = nf_error(x=x, y=y, w=w, activation=p.activation, error_gain="beta_pow", power=3).numpy()
    expected = []
    for i in range(p.n_weights):
        total = 0.0
        for k in range(p.n_samples):
            z = sum(float(p.x[k, j]) * float(p.w0[j]) for j in range(p.n_weights))
            beta = (1.0 - math.tanh(z) ** 2) * float(p.x[k, i])
            total += beta**3 * (float(p.y[k]) - math.tanh(z))
        expected.append(total)
    np.testing.assert_allclose(e3, expected, rtol=1e-12, atol=1e-15)
    e1 = nf_error(x=x, y=y, w=w, activation=p.activation, error_gain="beta_pow", power=1)
    torch.testing.assert_close(e1, nf_error(x=x, y=y, w=w, activation=p.activation, error_gain="window"))
    assert not np.allclose(e3, e1.numpy())  # n = 3 is another direction, not a rescaled window
    # odd n: flipping x and w together keeps z (so σ and σ') and flips β, so every e_i flips
    flipped = nf_error(x=-x, y=y, w=-w, activation=p.activation, error_gain="beta_pow", power=3).numpy()
    np.testing.assert_allclose(flipped, -e3, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "change, pattern",
    [
        (dict(error_gain="beta_pow", power=2), "odd positive power"),
        (dict(error_gain="grad"), "unknown error gain"),
        (dict(tau_s=0.0), "tau_s: must be > 0 s"),
        (dict(tau_s=-1e-3), "tau_s: must be > 0 s"),
        (dict(iterations=300.9), r"iterations: must be an integer ≥ 1, got 300.9"),
        (dict(error_gain="beta_pow", power=3.7), r"power: must be an integer ≥ 1, got 3.7"),
        (dict(leak="false"), "leak: must be true or false"),
        (dict(eta=2.0), "eta"),
        (dict(forward_gain=float("nan")), "forward_gain"),
        (dict(y=np.zeros(39)), "shape mismatch"),
        (dict(w0=np.zeros(3)), r"loop.w0: \d+ weights but 3 initial values"),
        (dict(x=np.full((40, 4), np.nan)), "NaN or inf"),
    ],
)
def test_invalid_problems(change, pattern):
    with pytest.raises(ConfigError, match=pattern):
        _problem(**change)


@pytest.mark.parametrize("kw, pattern", [(dict(name="softsign"), "unknown activation"),
                                         (dict(name="sign", gain=0.0), "gain: must be > 0"),
                                         (dict(name="leaky_relu", slope=1.5), "slope")])
def test_invalid_activations(kw, pattern):
    with pytest.raises(ConfigError, match=pattern):
        ActivationSpec(**kw)


def _staircase(gain: float, iterations: int = 8000) -> NFSingleLayerProblem:
    """sims/nf_staircase.toml's problem (000 §4.1) with comparators of ``gain`` V/V."""
    from analogopt.data.synthetic import staircase_set

    x, y = staircase_set(w=1.0, b=-1.0, x_min=-2.0, x_max=4.0, samples=61)
    return NFSingleLayerProblem(x=np.stack([x, np.ones_like(x)], 1), y=y, activation=ActivationSpec("staircase", gain=gain),
                                error_gain="x", forward_gain=0.05, gamma=1.0, eta=1e-2, iterations=iterations,
                                leak=False, w0=np.array([0.3, 0.4]))


@pytest.mark.parametrize("gain, stalls", [(200.0, True), (20.0, False)])
def test_gradient_descent_through_the_comparators_derivative_stalls_only_when_they_are_sharp(gain, stalls):
    """000 Fig. 4b without the textbook σ' = 0: GD takes autograd through the circuit's own tanh comparators,
    whose derivative at w0 is far from zero (norm 3.0 at 200 V/V). At 200 V/V GD settles on a tread where
    no sample sits near a step (loss 1.03 of 4.62, unchanged from 8000 to 16000 iterations) while the loop
    with u = x learns exactly; at the scenario's 20 V/V the same GD learns as well (loss 1.3e-4), so this
    check fails for smooth comparators."""
    from analogopt.reference.activations import sigma
    from analogopt.reference.nf_single import matched_gd_rate

    p = _staircase(gain)
    x, y = torch.as_tensor(p.x), torch.as_tensor(p.y)
    w = torch.as_tensor(p.w0).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(((y - sigma(p.activation, x @ w)) ** 2).mean(), w)
    assert float(grad.norm()) > 0.1  # not zero by construction
    lr = matched_gd_rate(p)
    gd = gradient_descent(p, lr=lr, record_every=p.iterations)
    longer = gradient_descent(_staircase(gain, 2 * p.iterations), lr=lr, record_every=2 * p.iterations)
    nf = NFSingleLayerTwin(p).run(record_every=p.iterations)
    assert nf.final_loss < 1e-3 * nf.loss[0]
    stalled = bool(gd.final_loss > 0.1 * gd.loss[0] and abs(longer.final_loss - gd.final_loss) < 1e-3 * gd.final_loss)
    assert stalled is stalls, (gd.final_loss, longer.final_loss)
