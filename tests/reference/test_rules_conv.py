"""The FA/DFA family and BP on a small conv net (digits 8×8 shape) built by conv_net and from_sequential:
001 Facts 1–3 and a short training run that learns."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from analogopt.reference.nets import conv_net, from_sequential
from analogopt.reference.rules import make_rule, train_step


def _net(kind: str):
    if kind == "conv_net":
        return conv_net((1, 8, 8), [4], [16], 10, seed=0)
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 16),
                        nn.Tanh(), nn.Linear(16, 10))
    return from_sequential(seq)


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 1, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g)


def _grads(net):
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("kind", ["conv_net", "sequential"])
@pytest.mark.parametrize("rule", ["rbp", "srbp"])
def test_conv_facts(kind, rule):
    net = _net(kind)
    x, y = _batch()
    make_rule("bp", net).compute_grads(x, y)
    bp = _grads(net)
    r = make_rule(rule, net, loss="mse")
    t = torch.nn.functional.one_hot(y, 10).double().float()
    r.compute_grads(x, t)
    g1 = _grads(net)
    # Fact 2: flipping T − O (reflect the target about the output) flips every update
    with torch.no_grad():
        out = net(x)
    r.compute_grads(x, 2 * out - t)
    for a, b in zip(g1, _grads(net)):
        torch.testing.assert_close(b, -a, rtol=1e-4, atol=1e-6)
    # Fact 3: zero error, zero update
    r.compute_grads(x, out)
    assert all(float(g.abs().max()) < 1e-6 for g in _grads(net))
    # Fact 1: top layer equals BP (cross-entropy)
    make_rule(rule, net).compute_grads(x, y)
    g = _grads(net)
    torch.testing.assert_close(g[-2], bp[-2], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g[-1], bp[-1], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(g[0], bp[0], atol=1e-6)  # the conv layer's update is not the gradient


@pytest.mark.parametrize("rule", ["bp", "rbp", "srbp"])
def test_conv_net_learns_digits(rule):
    from analogopt.data.tabular import load_tabular

    split = load_tabular("digits", test_fraction=0.2, seed=0)
    x = torch.tensor(split.x_train, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(split.y_train)
    x = (x - x.mean()) / x.std()
    net = conv_net((1, 8, 8), [8], [32], 10, seed=0)
    r = make_rule(rule, net)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float((net(x).argmax(1) == y).float().mean())
    for _ in range(150):
        idx = torch.randint(0, len(x), (32,), generator=g)
        train_step(r, opt, x[idx], y[idx])
    with torch.no_grad():
        after = float((net(x).argmax(1) == y).float().mean())
    assert before < 0.3 and after > 0.85, (before, after)
