"""001's learning-channel options, each against an independent computation: ARBP/ASRBP adaptation, quantized
updates, learning-channel dropout and sparse feedback density. Each test also shows that the option is the
thing measured (without it the check fails)."""

from __future__ import annotations

import math

import pytest
import torch

from analogopt.reference.nets import mlp
from analogopt.reference.rules import make_rule


def _batch(seed: int = 0, n_in: int = 6, n_out: int = 3, batch: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_in, generator=g), torch.randint(0, n_out, (batch,), generator=g)


def test_arbp_moves_each_feedback_matrix_by_its_layers_own_update():
    """001 §3, ARBP: Δc = −η_c·R^{h+1}·O^h, the outer product the forward weights above receive."""
    net = mlp([6, 8, 7, 3], "tanh", seed=1)
    rule = make_rule("arbp", net, feedback_lr=0.05)
    x, y = _batch()
    before = [b.clone() for b in rule.feedback_matrices]
    rule.compute_grads(x, y)
    uppers = [blk.weight.grad.clone() for blk in net.blocks[1:]]
    rule.after_step()
    for old, new, grad in zip(before, rule.feedback_matrices, uppers):
        torch.testing.assert_close(new, old - 0.05 * grad)
        assert float((new - old).abs().max()) > 1e-6  # it moved
    fixed = make_rule("rbp", mlp([6, 8, 7, 3], "tanh", seed=1))
    frozen = [b.clone() for b in fixed.feedback_matrices]
    fixed.compute_grads(x, y)
    fixed.after_step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, fixed.feedback_matrices))  # RBP's channel is fixed


def test_asrbp_moves_the_direct_feedback_by_error_times_activity():
    """001 §3, ASRBP: Δc^h = −η_c·(1/B)·Rᵀ·O^h with R the output error (softmax − one-hot)."""
    net = mlp([6, 8, 7, 3], "tanh", seed=2)
    rule = make_rule("asrbp", net, feedback_lr=0.1)
    x, y = _batch(1)
    rule.compute_grads(x, y)  # the first call draws the matrices
    rule.after_step()  # applies the first step's pending change; measure a fresh one from here
    before = [b.clone() for b in rule.feedback_matrices]
    rule.compute_grads(x, y)
    cache = net.forward_cache(x)
    e = torch.softmax(cache.z[-1], 1)
    e[torch.arange(len(y)), y] -= 1.0
    rule.after_step()
    for i, (old, new) in enumerate(zip(before, rule.feedback_matrices)):
        torch.testing.assert_close(new, old - 0.1 * (e.t() @ cache.h[i]) / len(y), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bits", [1, 3])
def test_quantized_updates_are_means_of_quantized_per_sample_updates(bits):
    """001 §5.2 (Eq. 19 per sample): every sample's update entry is 0 or ±α·2^−k (k < bits), so the batch mean
    times B is a sum of such levels; the unquantized update is not."""
    alpha = 2.0**-4
    levels = torch.tensor([0.0] + [alpha * 2.0**-k for k in range(bits)])
    net = mlp([6, 8, 3], "tanh", seed=3)
    x, y = _batch(2, batch=4)
    rule = make_rule("srbp", net, update_bits=bits, update_alpha=alpha)
    rule.compute_grads(x, y)
    g = net.blocks[0].weight.grad
    # reconstruct the per-sample updates' magnitudes: each entry of B·mean is a sum of B signed levels
    sums = {round(float(sum(c)), 12) for c in _combinations(levels, 4)}
    assert all(round(abs(float(v)) * 4, 12) in sums for v in g.flatten())
    plain = make_rule("srbp", mlp([6, 8, 3], "tanh", seed=3))
    plain.compute_grads(x, y)
    gp = plain.net.blocks[0].weight.grad
    assert not all(round(abs(float(v)) * 4, 12) in sums for v in gp.flatten())


def _combinations(levels: torch.Tensor, n: int):
    """Every sum of n signed levels (with repetition), as tuples."""
    signed = sorted({float(s * v) for v in levels for s in (-1, 1)})
    out = [()]
    for _ in range(n):
        out = [c + (v,) for c in out for v in signed]
    return out


def test_learning_channel_dropout_drops_the_stated_fraction_and_keeps_the_mean():
    """001 §5: each learning-channel signal is dropped with probability p and the survivors scaled by 1/(1 − p):
    without f' the hidden deltas are exactly 0 where dropped (fraction p within 4 standard errors), and their
    mean over many draws is the undropped delta."""
    p, draws = 0.3, 400
    net = mlp([6, 10, 3], "tanh", seed=4)
    x, y = _batch(3, batch=8)
    rule = make_rule("srbp", net, fprime=False, dropout=p, seed=5)
    grads = []
    for _ in range(draws):
        rule.compute_grads(x, y)
        grads.append(net.blocks[0].bias.grad.clone() * len(y))  # Σ_b δ_b: zero only where all samples dropped
    plain = make_rule("srbp", mlp([6, 10, 3], "tanh", seed=4), fprime=False, seed=5)
    plain.compute_grads(x, y)
    mean = torch.stack(grads).mean(0)
    target = plain.net.blocks[0].bias.grad * len(y)
    spread = torch.stack(grads).std(0) / math.sqrt(draws)
    assert bool(((mean - target).abs() <= 4 * spread + 1e-6).all())
    # the dropped fraction, on one sample's deltas (a batch of one: each entry dropped or kept)
    rule1 = make_rule("srbp", net, fprime=False, dropout=p, seed=6)
    zeros = 0
    for _ in range(draws):
        rule1.compute_grads(x[:1], y[:1])
        zeros += int((net.blocks[0].bias.grad == 0).sum())
    frac, n = zeros / (draws * 10), draws * 10
    assert abs(frac - p) <= 4 * math.sqrt(p * (1 - p) / n)
    rule0 = make_rule("srbp", net, fprime=False, seed=6)
    rule0.compute_grads(x[:1], y[:1])
    assert int((net.blocks[0].bias.grad == 0).sum()) == 0  # no dropout: no zeros


@pytest.mark.parametrize("k", [1, 2, 8])
def test_sparse_feedback_has_k_connections_per_sender_on_average(k):
    """001 §5 sparse-k: 0/1 feedback entries, each sender reaching k receivers on average."""
    net = mlp([6, 40, 30, 3], "tanh", seed=7)
    rule = make_rule("rbp", net, feedback="sparse", sparse_k=k, seed=8)
    for b in rule.feedback_matrices:
        assert set(b.unique().tolist()) <= {0.0, 1.0}
        receivers, senders = b.shape[1], b.shape[0]
        p = min(1.0, k / receivers)
        mean = float(b.sum()) / senders
        assert abs(mean - k) <= 4 * math.sqrt(receivers * p * (1 - p) / senders) + 1e-9
