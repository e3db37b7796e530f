"""The filter optimizers of 000 Eq. 10, Eq. 22 and §6.1 as torch optimizers."""

from __future__ import annotations

import io
import math
import re

import pytest
import torch

from analogopt.data.tabular import load_tabular
from analogopt.errors import ConfigError
from analogopt.reference.optim import (
    FAL,
    CascadeMomentum,
    LowPassRC,
    cascade_momentum_update,
    fal_update,
    lowpass_update,
    sgd_lowpass_equivalent,
    sgd_momentum_equivalent,
)


def digits_batches(steps: int, batch: int = 32, seed: int = 0):
    """Real mini-batches of scikit-learn digits (float64), cycling through a fixed permutation."""
    split = load_tabular("digits", seed=seed)
    x = torch.as_tensor(split.x_train)
    y = torch.as_tensor(split.y_train)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    out = []
    for s in range(steps):
        idx = order[(s * batch) % (len(x) - batch) :][:batch]
        out.append((x[idx], y[idx]))
    return out


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 24), torch.nn.Tanh(), torch.nn.Linear(24, 10)).double()


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, batches) -> list[float]:
    losses = []
    for xb, yb in batches:
        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            return loss

        losses.append(float(opt.step(closure).detach()))
    return losses


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# ------------------------------------------------------------------------ equivalences with torch.optim


@pytest.mark.parametrize("beta_m", [0.0, 0.5, 0.9, 0.99])
def test_cascade_momentum_equals_sgd_momentum_on_a_real_model(beta_m):
    batches = digits_batches(60)
    ours, ref = make_model(), make_model()
    lr = 0.5
    train(ours, CascadeMomentum(ours.parameters(), lr=lr, beta_m=beta_m), batches)
    kwargs = sgd_momentum_equivalent(lr=lr, beta_m=beta_m)
    train(ref, torch.optim.SGD(ref.parameters(), **kwargs), batches)
    assert kwargs == {"lr": lr * (1 - beta_m), "momentum": beta_m, "dampening": 0.0}
    moved = (flat(ref) - flat(make_model())).abs().max()
    assert moved > 1e-2  # the weights really travelled
    torch.testing.assert_close(flat(ours), flat(ref), rtol=0, atol=1e-6)


def test_cascade_momentum_with_float32_model_matches_sgd_to_1e6():
    batches = [(x.float(), y) for x, y in digits_batches(40)]
    ours, ref = make_model().float(), make_model().float()
    train(ours, CascadeMomentum(ours.parameters(), lr=0.3, beta_m=0.9), batches)
    train(ref, torch.optim.SGD(ref.parameters(), **sgd_momentum_equivalent(lr=0.3, beta_m=0.9)), batches)
    torch.testing.assert_close(flat(ours), flat(ref), rtol=0, atol=1e-6)


def test_lowpass_with_leak_equals_sgd_with_weight_decay():
    batches = digits_batches(50)
    ours, ref = make_model(), make_model()
    train(ours, LowPassRC(ours.parameters(), lr=0.2, leak=0.01), batches)
    train(ref, torch.optim.SGD(ref.parameters(), **sgd_lowpass_equivalent(lr=0.2, leak=0.01)), batches)
    torch.testing.assert_close(flat(ours), flat(ref), rtol=0, atol=1e-9)


# ------------------------------------------------------------------------ the recurrences themselves


def test_lowpass_follows_eq10_recurrence_and_settles_at_gamma_times_drive():
    # 000 Eq. 10 with a constant w': w_t = γw' + (w_0 − γw')(1 − η)^t.
    eta, gamma, drive = 0.05, 2.0, torch.tensor([0.3, -1.2], dtype=torch.float64)
    w = torch.tensor([1.0, 0.0], dtype=torch.float64)
    w0 = w.clone()
    for t in range(1, 201):
        lowpass_update(w, drive=drive, lr=eta * gamma, leak=eta)
        expected = gamma * drive + (w0 - gamma * drive) * (1 - eta) ** t
        torch.testing.assert_close(w, expected, rtol=1e-12, atol=1e-12)


def test_from_time_constants_maps_dt_over_tau_to_eta():
    p = torch.nn.Parameter(torch.ones(3))
    opt = LowPassRC.from_time_constants([p], dt_s=1e-6, tau_s=1e-4, gamma=5.0)
    assert opt.param_groups[0]["leak"] == pytest.approx(0.01)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_cascade_recurrence_is_eq22_then_eq10():
    g = torch.Generator().manual_seed(3)
    drives = torch.randn(100, 4, generator=g, dtype=torch.float64)
    w = torch.zeros(4, dtype=torch.float64)
    m = torch.zeros(4, dtype=torch.float64)
    m_ref, w_ref = [0.0] * 4, [0.0] * 4
    for d in drives:
        cascade_momentum_update(w, drive=d, m=m, lr=0.1, beta_m=0.8, leak=0.02)
        for i in range(4):  # scalar restatement of Eq. 22 and Eq. 10, one weight at a time
            m_ref[i] = 0.8 * m_ref[i] + 0.2 * float(d[i])
            w_ref[i] = w_ref[i] + 0.02 * ((0.1 / 0.02) * m_ref[i] - w_ref[i])
    torch.testing.assert_close(w, torch.tensor(w_ref, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_fal_first_step_and_rate_scaling_by_spread():
    # After one step from zero state with β = 0.99: m = 0.01 d, v = 0.01 d², v − m² = 0.0099 d².
    d = torch.tensor([2.0, -0.5], dtype=torch.float64)
    w = torch.zeros(2, dtype=torch.float64)
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    fal_update(w, drive=d, m=m, v=v, step=1, lr=1e-3, beta_m=0.99, beta_v=0.99, eps=0.0, leak=0.0,
               bias_correction=False)
    expected = 1e-3 * 0.01 * d / torch.sqrt(0.0099 * d**2)
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


def test_fal_differs_from_adam_by_the_m_squared_term():
    # Same filters, Adam's denominator √v versus FAL's √(v − m²): FAL steps are larger.
    d = torch.tensor([1.0], dtype=torch.float64)
    w = torch.zeros(1, dtype=torch.float64)
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    for t in range(1, 11):
        before = w.clone()
        fal_update(w, drive=d * (1 + 0.1 * t), m=m, v=v, step=t, lr=1.0, beta_m=0.9, beta_v=0.9, eps=0.0,
                   leak=0.0, bias_correction=False)
        adam_like = m / v.sqrt()
        assert float(w - before) > float(adam_like)


def test_fal_bias_correction_skips_the_one_sample_step_then_moves():
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = FAL([p], lr=1e-2, bias_correction=True)
    g = torch.Generator().manual_seed(0)
    p.grad = torch.randn(3, generator=g, dtype=torch.float64)
    opt.step()
    assert torch.equal(p.detach(), torch.zeros(3, dtype=torch.float64))
    p.grad = torch.randn(3, generator=g, dtype=torch.float64)
    opt.step()
    assert torch.all(p.detach() != 0) and torch.all(torch.isfinite(p.detach()))


# ------------------------------------------------------------------------ state_dict, closure, groups


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: LowPassRC(ps, lr=0.1, leak=1e-3),
        lambda ps: CascadeMomentum(ps, lr=0.3, beta_m=0.9, leak=1e-3),
        lambda ps: FAL(ps, lr=1e-2),
        lambda ps: FAL(ps, lr=1e-2, bias_correction=True, leak=1e-4),
    ],
    ids=["lowpass", "cascade", "fal", "fal_bias_corrected"],
)
def test_state_dict_round_trip_resumes_bit_identically(factory):
    batches = [(x.float(), y) for x, y in digits_batches(40)]
    straight = make_model().float()
    train(straight, factory(straight.parameters()), batches)

    first = make_model().float()
    opt = factory(first.parameters())
    train(first, opt, batches[:17])
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed = make_model(seed=99).float()
    resumed.load_state_dict(saved["model"])
    opt2 = factory(resumed.parameters())
    opt2.load_state_dict(saved["opt"])
    train(resumed, opt2, batches[17:])
    assert torch.equal(flat(resumed), flat(straight))


def test_param_groups_use_their_own_hyper_parameters():
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(2))
    opt = CascadeMomentum([{"params": [a]}, {"params": [b], "lr": 0.0}], lr=1.0, beta_m=0.5)
    a.grad = torch.ones(2)
    b.grad = torch.ones(2)
    opt.step()
    assert torch.equal(a.detach(), torch.full((2,), -0.5)) and torch.equal(b.detach(), torch.zeros(2))


def test_step_returns_the_closure_loss_and_skips_params_without_grad():
    p = torch.nn.Parameter(torch.ones(2))
    idle = torch.nn.Parameter(torch.ones(2))
    opt = FAL([p, idle])

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure).detach()) == 2.0
    assert opt.step() is None
    assert torch.equal(idle.detach(), torch.ones(2)) and idle not in opt.state


# ------------------------------------------------------------------------ invalid hyper-parameters

INVALID = [
    (LowPassRC, {"lr": -0.1}, r"lr must be in \[0, inf\), got -0\.1"),
    (LowPassRC, {"lr": math.nan}, r"lr must be in \[0, inf\), got nan"),
    (LowPassRC, {"lr": "fast"}, r"lr must be a number in \[0, inf\), got 'fast'"),
    (LowPassRC, {"leak": 1.0}, r"leak must be in \[0, 1\), got 1\.0"),
    (LowPassRC, {"leak": -1e-3}, r"leak must be in \[0, 1\), got -0\.001"),
    (CascadeMomentum, {"beta_m": 1.0}, r"beta_m must be in \[0, 1\), got 1\.0"),
    (CascadeMomentum, {"beta_m": -0.1}, r"beta_m must be in \[0, 1\), got -0\.1"),
    (CascadeMomentum, {"lr": -1}, r"lr must be in \[0, inf\), got -1"),
    (FAL, {"beta_v": 1.5}, r"beta_v must be in \[0, 1\), got 1\.5"),
    (FAL, {"beta_m": True}, r"beta_m must be a number in \[0, 1\), got True"),
    (FAL, {"eps": 0.0}, r"eps must be in \(0, inf\), got 0\.0"),
    (FAL, {"lr": -1e-3}, r"lr must be in \[0, inf\), got -0\.001"),
    (FAL, {"bias_correction": 1}, r"bias_correction must be True or False, got 1"),
]


@pytest.mark.parametrize("cls, kwargs, message", INVALID)
def test_invalid_hyper_parameters_raise_config_error(cls, kwargs, message):
    p = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ConfigError, match=message):
        cls([p], **kwargs)
    with pytest.raises(ValueError, match=message):  # ConfigError is a ValueError, as torch users expect
        cls([p], **kwargs)


def test_invalid_value_in_a_later_param_group_is_rejected():
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = FAL([a])
    with pytest.raises(ConfigError, match=re.escape("beta_v must be in [0, 1), got 1")):
        opt.add_param_group({"params": [b], "beta_v": 1})


def test_from_time_constants_rejects_tau_not_longer_than_dt():
    p = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ConfigError, match=r"tau_s must be in \(1e-06, inf\), got 1e-06"):
        LowPassRC.from_time_constants([p], dt_s=1e-6, tau_s=1e-6, gamma=1.0)
