"""Property tests of the learning rules against the papers' facts and theorems (seeded sweeps over random nets)."""

from __future__ import annotations

import copy

import pytest
import torch

from analogopt.reference.nets import mlp
from analogopt.reference.rules import loss_value, make_rule

SEEDS = range(6)


def _data(seed: int, n_in: int = 6, n_out: int = 3, batch: int = 16, loss: str = "cross_entropy"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_in, generator=g)
    if loss == "cross_entropy":
        y = torch.randint(0, n_out, (batch,), generator=g)
    elif loss == "bce":
        y = torch.randint(0, 2, (batch,), generator=g)
    else:
        y = torch.randn(batch, n_out, generator=g)
    return x, y


def _grads(net) -> list[torch.Tensor]:
    return [None if p.grad is None else p.grad.clone() for p in net.parameters()]


def _true_grads(net, x, y, loss) -> list[torch.Tensor]:
    for p in net.parameters():
        p.grad = None
    loss_value(net(x), y, loss).backward()
    return _grads(net)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule", ["rbp", "srbp", "arbp", "asrbp", "top"])
def test_top_layer_equals_bp(rule, seed):
    """001 Fact 1: the top layer of every RBP variant follows the exact gradient."""
    net = mlp([6, 9, 7, 3], "tanh", seed=seed)
    x, y = _data(seed)
    true = _true_grads(net, x, y, "cross_entropy")
    make_rule(rule, net, seed=seed).compute_grads(x, y)
    got = _grads(net)
    torch.testing.assert_close(got[-2], true[-2])
    torch.testing.assert_close(got[-1], true[-1])
    if rule != "top":  # and the hidden layers really differ from BP (the rule is not secretly BP)
        assert not torch.allclose(got[0], true[0], atol=1e-4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rule,opts", [("rbp", {}), ("srbp", {}), ("rbp", {"fprime": False}), ("srbp", {"feedback": "sparse", "sparse_k": 2}),
                                       ("rbp", {"feedback": "congruent"}), ("srbp", {"error_bits": 3})])
def test_flipping_error_flips_every_update(rule, opts, seed):
    """001 Fact 2: replacing T − O by −(T − O) flips the sign of every update (MSE, targets mirrored about O)."""
    net = mlp([6, 9, 7, 3], "tanh", seed=seed)
    x, _ = _data(seed)
    with torch.no_grad():
        out = net(x)
    t = out + torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 50))
    r = make_rule(rule, net, loss="mse", seed=seed, **opts)
    r.compute_grads(x, t)
    g1 = _grads(net)
    r.compute_grads(x, 2 * out - t)  # T' − O = −(T − O)
    g2 = _grads(net)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, -a)


@pytest.mark.parametrize("rule", ["rbp", "srbp", "arbp", "asrbp", "nf", "reciprocal", "top"])
def test_zero_error_gives_zero_update(rule):
    """001 Fact 3: T = O ⇒ no update."""
    act = "leaky_relu" if rule == "reciprocal" else "tanh"
    net = mlp([6, 9, 7, 3], act, seed=3)
    x, _ = _data(3)
    with torch.no_grad():
        t = net(x)
    make_rule(rule, net, loss="mse").compute_grads(x, t)
    for p in net.parameters():
        assert p.grad is None or torch.count_nonzero(p.grad) == 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "leaky_relu", "leaky_softplus", "hardtanh"])
def test_nf_beta_equals_bp_gradient(act, seed):
    """000 §3.2/§4.4: NF with u = β is gradient descent on ½‖y − y'‖²; with u = β^1 too (000 §5)."""
    net = mlp([5, 8, 6, 2], act, output_activation="tanh", seed=seed)
    x, y = _data(seed, 5, 2, loss="mse")
    true = _true_grads(net, x, y, "mse")
    for opts in ({"gain": "beta"}, {"gain": "beta_n", "n": 1}):
        make_rule("nf", net, **opts).compute_grads(x, y)
        for a, b in zip(_grads(net), true):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_nf_variants_differ_and_bp_transpose_matches_autograd():
    net = mlp([5, 8, 6, 2], "tanh", output_activation="tanh", seed=1)
    x, y = _data(1, 5, 2, loss="mse")
    true = _true_grads(net, x, y, "mse")
    make_rule("rbp", net, loss="mse", feedback="transpose").compute_grads(x, y)
    for a, b in zip(_grads(net), true):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for opts in ({"gain": "x"}, {"gain": "beta_n", "n": 3}, {"sigma_nz": 0.5}):
        make_rule("nf", net, **opts).compute_grads(x, y)
        assert not torch.allclose(_grads(net)[0], true[0], atol=1e-5), opts


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "leaky_relu", "hardtanh", "leaky_softplus", "silu"])
def test_transpose_chain_matches_autograd_for_every_activation(act):
    """Wᵀ feedback is BP: the explicit chain (fused tanh/sigmoid backward kernels, the other σ' in
    closed form) and its gradient buffers, reused from step to step, agree with autograd each time."""
    net = mlp([5, 8, 6, 3], act, seed=2)
    rule = make_rule("rbp", net, feedback="transpose")
    buffers = None
    for seed in range(3):  # the second and third steps write into the buffers of the first
        x, y = _data(seed, 5, 3)
        true = _true_grads(copy.deepcopy(net), x, y, "cross_entropy")
        rule.compute_grads(x, y)
        for a, b in zip(_grads(net), true):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        if buffers is None:
            buffers = [p.grad for p in net.parameters()]
        assert all(p.grad is g for p, g in zip(net.parameters(), buffers))


@pytest.mark.parametrize("seed", range(20))
def test_mdfa_sign_of_gradient_scalar_output(seed):
    """004 Thm 2: on a one-output mono-net, every mDFA coordinate has the sign of the true gradient."""
    g = torch.Generator().manual_seed(seed)
    act = ["tanh", "sigmoid", "relu", "leaky_relu", "hardtanh"][seed % 5]
    net = mlp([5, 7, 6, 4, 1], act, mono=True, init="abs_normal", seed=seed)
    x = torch.randn(1, 5, generator=g)  # per-sample statement (a batch mean may mix signs)
    y = torch.randint(0, 2, (1,), generator=g)
    true = _true_grads(net, x, y, "bce")
    make_rule("mdfa", net, loss="bce", seed=seed).compute_grads(x, y)
    for a, b in zip(_grads(net), true):
        assert bool((a * b >= -1e-12).all()), (a, b)
    assert any(bool((a != 0).any()) for a in _grads(net)[:-2])


def test_mdfa_two_output_counterexample():
    """004 Thm 5: W2 = [[0,1],[1,0]], B = I, identity hidden layer: the mDFA update is orthogonal to
    the gradient and has a coordinate of the opposite sign."""
    from torch import nn

    from analogopt.reference.nets import Activation, Block, LayeredNet

    l1, l2 = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        l1.weight.copy_(torch.eye(2))
        l1.bias.zero_()
        l2.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        l2.bias.zero_()
    net = LayeredNet([Block(l1, Activation("identity")), Block(l2, Activation("identity"))], mono=True)
    rule = make_rule("mdfa", net, loss="mse")
    rule.feedback_cat = None
    x = torch.tensor([[1.0, 1.0]])
    t = net(x).detach() - torch.tensor([[1.0, 0.0]])  # dL/dh_L = e_1
    cache = net.forward_cache(x)
    rule._init_direct(cache)
    rule.feedback_cat.copy_(torch.eye(2))
    true = _true_grads(net, x, t, "mse")
    rule.compute_grads(x, t)
    got = _grads(net)
    assert float((got[0] * true[0]).sum()) == pytest.approx(0.0)
    assert bool(((got[0] * true[0]) < 0).any() or ((got[0] != 0) & (true[0] == 0)).any())


@pytest.mark.parametrize("seed", range(3))
def test_mono_weights_never_negative_during_training(seed):
    net = mlp([6, 10, 8, 3], "tanh", mono=True, init="uniform_mono", seed=seed)
    rule = make_rule("mdfa", net, seed=seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    from analogopt.reference.rules import train_step

    x, y = _data(seed, batch=64)
    for _ in range(30):
        train_step(rule, opt, x, y)
        assert net.weights_nonnegative()
    assert bool((net.blocks[0].weight < 0).any())  # layer 1 stays unconstrained (004 Def. 1)


def _cos(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    va, vb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float(va @ vb / (va.norm() * vb.norm()))


@pytest.mark.parametrize("rule,opts", [("wp", {"samples": 4000, "sigma": 1e-3}), ("np", {"samples": 3000, "sigma": 1e-3})])
def test_perturbation_estimates_align_with_gradient(rule, opts):
    """003: WP and NP are unbiased gradient estimators; with enough samples cosine > 0.9."""
    net = mlp([4, 6, 3], "tanh", seed=0)
    net.double()
    x, y = _data(0, 4, 3, batch=8)
    x = x.double()
    true = _true_grads(net, x, y, "cross_entropy")
    make_rule(rule, net, **opts).compute_grads(x, y)
    assert _cos(_grads(net), true) > 0.9
    make_rule(rule, net, **{**opts, "samples": 2}).compute_grads(x, y)  # few samples: a poor estimate
    assert _cos(_grads(net), true) < 0.9


def test_reciprocal_pinv_exact():
    """002 §4: the exact pseudoinverse equals torch.linalg.pinv (full row rank, full column rank, rank deficient)."""
    from analogopt.reference.rules import apply_pinv

    g = torch.Generator().manual_seed(0)
    for shape in ((5, 9), (9, 5), (6, 6)):
        w = torch.randn(shape, generator=g, dtype=torch.float64)
        p = torch.randn(4, shape[0], generator=g, dtype=torch.float64)
        torch.testing.assert_close(apply_pinv(w, p), p @ torch.linalg.pinv(w).t())
    for shape in ((3, 4), (4, 4)):  # rank deficient, rectangular and square: falls back to torch.linalg.pinv
        w = torch.zeros(shape, dtype=torch.float64)
        w[0, 0] = 1.0
        p = torch.randn(2, shape[0], generator=g, dtype=torch.float64)
        torch.testing.assert_close(apply_pinv(w, p), p @ torch.linalg.pinv(w).t())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reciprocal_batch_newton_step_and_dplus_placement(seed):
    """002 §4.2 on a batch: layer l's step moves its pre-activation a_l by exactly −B_l e_b for *every*
    sample b, with B_l e = W_{l+1}⁺ D_σ⁺(a_{l+1}) B_{l+1} e built here from torch.linalg.pinv (σ' of the
    layer itself is not inverted: 002's J_{W_l} = h_{l−1} ⊗ J_{h_l}); so the top layer's step alone removes
    every sample's output error. The mean of per-sample 1/‖a‖² steps misses this for a batch."""
    g = torch.Generator().manual_seed(seed)
    net = mlp([12, 8, 6, 3], "leaky_relu", negative_slope=0.2, seed=seed).double()
    x = torch.randn(4, 12, generator=g, dtype=torch.float64)
    with torch.no_grad():
        t = net(x) + 0.1 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    cache = net.forward_cache(x)
    u = [None, None, (cache.output - t)]  # B_l e per layer, post-activation changes
    for i in (2, 1):
        d = net.blocks[i].act.derivative(cache.z[i], cache.h[i])
        u[i - 1] = (u[i] / d) @ torch.linalg.pinv(net.blocks[i].weight.detach()).t()
    for mode, exact in (("solve", True), ("mean", False)):
        make_rule("reciprocal", net, loss="mse", batch=mode, ridge=1e-9).compute_grads(x, t)
        steps = _grads(net)
        for i, block in enumerate(net.blocks):
            moved = cache.inputs[i] @ steps[2 * i].t() + steps[2 * i + 1]  # ΔW a_b + Δb for each sample
            assert torch.allclose(moved, u[i], atol=1e-6) is exact, (mode, i)


def test_quantize_eq19():
    from analogopt.reference.quantize import quantize

    x = torch.tensor([0.3, -0.05, 0.0, 0.126, -1.0, 0.001])
    q1 = quantize(x, bits=1, alpha=0.125)
    torch.testing.assert_close(q1, torch.tensor([0.125, -0.125, 0.0, 0.125, -0.125, 0.125]))
    q3 = quantize(x, bits=3, alpha=0.125)
    torch.testing.assert_close(q3, torch.tensor([0.125, -0.0625, 0.0, 0.125, -0.125, 0.03125]))
    assert set(quantize(torch.randn(1000), bits=4, alpha=1.0).abs().unique().tolist()) <= {1.0, 0.5, 0.25, 0.125}


def _surrogate_grads(net, x, y, extra: float):
    """Autograd of the batch's squared error through activations whose value is σ(z) and whose derivative
    is σ'(z) + ``extra`` (z − z.detach() adds ``extra`` to the slope and nothing to the value): an
    independent construction of what 000 §6.3's β = (σ' + σ'_nz)·x asks of the NF rule."""
    for p in net.parameters():
        p.grad = None
    a = x
    for b in net.blocks:
        z = b.linear(a)
        a = b.act(z) + extra * (z - z.detach())
    loss_value(a, y, "mse").backward()
    return _grads(net)


def test_nf_sigma_nz_window_is_the_gradient_with_sigma_prime_plus_sigma_nz():
    """000 §6.3, backward path: on a staircase net (σ' = 0 a.e.) u = (σ' + σ'_nz)·x equals autograd through
    a surrogate of slope σ' + σ'_nz, layer by layer, and σ'_nz = 0 leaves layer 1 without any update."""
    net = mlp([3, 5, 2], "staircase", output_activation="identity", seed=0)
    x, y = _data(0, 3, 2, batch=64, loss="mse")
    make_rule("nf", net, loss="mse", sigma_nz=0.1).compute_grads(x, y)
    window = _grads(net)
    for got, want in zip(window, _surrogate_grads(net, x, y, 0.1)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert float(window[0].abs().max()) > 1e-3  # layer 1 moves …
    # mutation: a window that drops σ'_nz is autograd through σ' alone, and the comparison above tells it apart
    dropped = _surrogate_grads(net, x, y, 0.0)
    assert not torch.allclose(window[0], dropped[0], rtol=1e-5, atol=1e-7)
    make_rule("nf", net, loss="mse", gain="beta").compute_grads(x, y)
    assert torch.count_nonzero(net.blocks[0].weight.grad) == 0  # … and without σ'_nz it cannot (σ' = 0 a.e.)
    make_rule("nf", net, loss="mse", window="secant").compute_grads(x, y)
    assert torch.count_nonzero(net.blocks[0].weight.grad) > 0  # the §6.4 window lets the error through


def _dead_relu(skip: float):
    """A 3-4-4-2 ReLU net whose first hidden layer is dead for every input (biases −100)."""
    net = mlp([3, 4, 4, 2], "relu", seed=0, skip=skip)
    with torch.no_grad():
        net.blocks[0].bias.fill_(-100.0)
    return net


def test_dead_network_predictor_and_the_backward_window_alone():
    from analogopt.reference.rules import dead_network_report

    x, _ = _data(0, 3, 2, batch=64, loss="mse")
    relu = mlp([3, 4, 2], "relu", seed=0)
    with torch.no_grad():
        relu.blocks[0].bias.copy_(torch.tensor([-100.0, 0.0, 0.0, -100.0]))
    report = dead_network_report(relu, x)
    assert report.layers[0].dead_units == (0, 3) and not report.dead
    report = dead_network_report(_dead_relu(0.0), x)
    assert report.dead and "DEAD" in report.summary()
    revived = dead_network_report(_dead_relu(0.0), x, sigma_nz=0.1)  # σ'_nz in the backward window only:
    assert revived.layers[0].dead_units == () and not revived.layers[0].dead
    assert revived.layers[1].dead  # layer 2's inputs are still all 0: the window alone does not revive it


def test_forward_skip_path_revives_the_layer_after_a_dead_one():
    """000 §6.3, Fig. 7a as a forward path: h = σ(W·a + b) + σ'_nz·W_nz·a. Behind a dead first layer the
    second layer's inputs are no longer all 0, the §6.2 predictor says the net is alive, the NF rule at
    u = β equals autograd's gradient through both paths, and training lowers the loss. Without the skip
    (σ'_nz = 0) the same net is dead, its layer-2 update is exactly 0 and the loss does not move."""
    from analogopt.reference.rules import dead_network_report, train_step

    x, _ = _data(1, 3, 2, batch=64, loss="mse")
    y = x @ torch.tensor([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.3]])  # a teacher the inputs determine
    outcome = {}
    for skip in (0.0, 0.5):
        net = _dead_relu(skip)
        report = dead_network_report(net, x)
        assert report.layers[0].dead_units == (0, 1, 2, 3)
        rule = make_rule("nf", net, loss="mse", gain="beta")
        rule.compute_grads(x, y)
        nf = _grads(net)
        for got, want in zip(nf, _true_grads(net, x, y, "mse")):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        first = float(loss_value(net(x), y, "mse").detach())
        for _ in range(100):
            train_step(rule, opt, x, y)
        outcome[skip] = (report.layers[1].dead, float(nf[2].abs().max()), first, float(loss_value(net(x), y, "mse").detach()))
    dead, grad2, first, last = outcome[0.0]
    assert dead and grad2 == 0.0
    dead, grad2, first_skip, last_skip = outcome[0.5]
    assert not dead and grad2 > 1e-3
    assert last_skip < 0.9 * first_skip
    # without the skip only the output bias can learn (measured 1.81 → 1.80 in 100 steps); the skip net
    # halves its loss (2.01 → 0.85)
    assert last_skip < 0.9 * last


def test_nf_through_skip_paths_is_the_gradient_and_a_rule_ignoring_them_is_not():
    """On a live tanh net with skip paths (3-5-5-2), NF at u = β equals autograd through both paths. Mutation:
    a backward pass that ignores the skip path (forward with it, its gradient detached) gives other
    first-layer updates, which the same comparison rejects."""
    net = mlp([3, 5, 5, 2], "tanh", seed=3, skip=0.5)
    x, y = _data(2, 3, 2, batch=32, loss="mse")
    make_rule("nf", net, loss="mse", gain="beta").compute_grads(x, y)
    nf = _grads(net)
    for got, want in zip(nf, _true_grads(net, x, y, "mse")):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    for p in net.parameters():
        p.grad = None
    a = x
    for b in net.blocks:
        h = b.act(b.linear(a))
        a = h if b.skip is None else h + torch.nn.functional.linear(a, b.skip).detach()
    loss_value(a, y, "mse").backward()
    assert not torch.allclose(nf[0], net.blocks[0].weight.grad, rtol=1e-5, atol=1e-7)


def test_rules_that_ignore_skip_paths_refuse_them():
    from analogopt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"rule 'rbp' does not carry its error through skip paths"):
        make_rule("rbp", _dead_relu(0.5))


def test_reciprocal_learned_pinv_converges_to_exact():
    """The sleep-phase option (damped Ben-Israel–Cohen, 002 §3) reproduces the exact-pinv updates once converged."""
    net = mlp([12, 8, 6, 3], "leaky_relu", negative_slope=0.2, seed=1)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(5, 12, generator=g), torch.randint(0, 3, (5,), generator=g)
    make_rule("reciprocal", net).compute_grads(x, y)
    exact = _grads(net)
    make_rule("reciprocal", net, pinv="learned", sleep_steps=1, sleep_damping=1.0).compute_grads(x, y)
    assert not torch.allclose(_grads(net)[0], exact[0], atol=1e-4)  # one sleep step: not there yet
    make_rule("reciprocal", net, pinv="learned", sleep_steps=40, sleep_damping=1.0).compute_grads(x, y)
    for a, b in zip(_grads(net), exact):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "leaky_relu", "staircase", "leaky_softplus"])
def test_dense_layer_forward_equals_the_blocks(act):
    """The rules' reference-holding forward pass leaves exactly the cache the block-by-block pass does."""
    from analogopt.reference.nets import from_sequential

    acts = {"tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(), "relu": torch.nn.ReLU(),
            "leaky_relu": torch.nn.LeakyReLU(0.2)}
    if act in acts:  # with an input flatten, as torch models are written
        net = from_sequential(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), acts[act],
                                                  torch.nn.Linear(8, 3)))
        x = torch.randn(5, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    else:
        net, x = mlp([12, 8, 6, 3], act, seed=1), torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    plain, dense = net.forward_cache(x), net.forward_cache(x, net.dense_layers())
    for a, b in zip([*plain.inputs, *plain.z, *plain.h, plain.output], [*dense.inputs, *dense.z, *dense.h, dense.output]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("rule", ["srbp", "rbp", "mdfa"])
def test_rules_follow_parameters_updated_in_place(rule):
    """A rule holds the network's parameters (like an optimizer): loading new values in place is seen."""
    kw = {"mono": True, "init": "uniform_mono"} if rule == "mdfa" else {}
    net, other = mlp([6, 10, 8, 3], "tanh", seed=0, **kw), mlp([6, 10, 8, 3], "tanh", seed=5, **kw)
    x, y = _data(3)
    held = make_rule(rule, net, seed=1)
    held.compute_grads(x, y)
    net.load_state_dict(other.state_dict())
    held.compute_grads(x, y)
    make_rule(rule, other, seed=1).compute_grads(x, y)
    for a, b in zip(_grads(net), _grads(other)):
        torch.testing.assert_close(a, b)
