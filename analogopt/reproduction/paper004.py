"""Paper 004 (Lechner, mono-nets and monotone DFA): Theorems 1, 2 and 5, and the binary and 10-class tables."""

from __future__ import annotations

import numpy as np
import torch

from .base import NOT_REPRODUCED, REPRODUCED, Context, Item, Outcome


def universal_mono_net(ctx: Context) -> Outcome:
    from ..reference.nets import mlp, mono_net_from_sigmoid

    sizes = (1, 4, 16) if ctx.quick else (1, 4, 16, 64, 256)
    rows, worst, numbers = [], 0.0, []
    g = torch.Generator().manual_seed(0)
    for n in sizes:
        net = mlp([3, n, 2], "sigmoid", seed=n).double()
        with torch.no_grad():  # output weights of both signs, larger than init, so the split matters
            net.blocks[1].weight.normal_(0.0, 2.0, generator=g)
        mono = mono_net_from_sigmoid(net)
        x = torch.rand(4096, 3, generator=g, dtype=torch.float64)  # the unit cube of Thm 1
        with torch.no_grad():
            ref, got = net(x), mono(x)
        err = float((ref - got).abs().max() / ref.abs().max())
        negative = int((net.blocks[1].weight < 0).sum())
        worst = max(worst, err)
        numbers.append({"hidden": n, "mono_hidden": mono.blocks[0].weight.shape[0], "max_rel_error": err,
                        "negative_output_weights": negative, "mono_weights_nonnegative": mono.weights_nonnegative()})
        rows.append((f"N = {n} sigmoid units", "2N tanh units, same function",
                     f"{mono.blocks[0].weight.shape[0]} units, max |Δ| {err:.1e} of the output's range",
                     f"{negative} negative output weights moved to layer 1"))
    ok = worst < 1e-12 and all(r["mono_weights_nonnegative"] for r in numbers)
    # the check can fail: dropping the mirrored half (N units only) loses the negative terms
    net = mlp([3, 16, 2], "sigmoid", seed=16).double()
    with torch.no_grad():
        net.blocks[1].weight.normal_(0.0, 2.0, generator=g)
    mono = mono_net_from_sigmoid(net)
    with torch.no_grad():
        mono.blocks[1].weight[:, 16:] = 0.0
        x = torch.rand(1024, 3, generator=g, dtype=torch.float64)
        half = float((net(x) - mono(x)).abs().max() / net(x).abs().max())
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"The construction of 004 A.1 turns every sigmoid net tried into a tanh mono-net with twice the units whose "
        f"weights after the first layer are all ≥ 0, and it computes the same function to {worst:.1e} (float64 "
        "round-off) on 4096 points of the unit cube.",
        rows=rows,
        setup=["004 proves the statement; ours builds it numerically (analogopt.reference.nets.mono_net_from_sigmoid) "
               "for random 3-N-2 nets with output weights drawn from N(0, 4)."],
        checks=[("the mono-net without its mirrored half (N units)", f"misses by {half:.2f} of the output's range")],
        numbers={"sizes": numbers, "without_mirror": half})


def _sign_agreement(n_out: int, trials: int) -> tuple[float, float]:
    """Fraction of update coordinates with the true gradient's sign (ties count as agreeing), over ``trials``
    random tanh mono-nets 5-7-6-4-n_out, one sample each; and the worst single net's fraction."""
    from ..reference.nets import mlp
    from ..reference.rules import loss_value, make_rule

    fractions = []
    for seed in range(trials):
        g = torch.Generator().manual_seed(seed)
        net = mlp([5, 7, 6, 4, n_out], "tanh", mono=True, init="abs_normal", seed=seed)
        x = torch.randn(1, 5, generator=g)
        y = torch.randn(1, n_out, generator=g)
        for p in net.parameters():
            p.grad = None
        loss_value(net(x), y, "mse").backward()
        true = [p.grad.clone() for p in net.parameters()]
        make_rule("mdfa", net, loss="mse", seed=seed).compute_grads(x, y)
        agree = total = 0
        for p, t in zip(net.parameters(), true):
            agree += int((p.grad * t >= -1e-12).sum())
            total += p.grad.numel()
        fractions.append(agree / total)
    return float(np.mean(fractions)), float(np.min(fractions))


def mdfa_sign(ctx: Context) -> Outcome:
    trials = 50 if ctx.quick else 500
    one_mean, one_min = _sign_agreement(1, trials)
    two_mean, two_min = _sign_agreement(2, trials)
    ten_mean, ten_min = _sign_agreement(10, trials)
    ok = one_min == 1.0 and two_min < 1.0
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"On {trials} random one-output mono-nets every mDFA coordinate has the true gradient's sign (Thm 2); with "
        f"two outputs {100 * (1 - two_mean):.1f} % of the coordinates disagree on average and with ten "
        f"{100 * (1 - ten_mean):.1f} % (Thm 5: the guarantee is for one output only).",
        rows=[("coordinates with the gradient's sign, 1 output", "all (Thm 2)", f"{100 * one_mean:.2f} % (worst net {100 * one_min:.2f} %)", "tanh 5-7-6-4-1"),
              ("2 outputs", "may disagree (Thm 5)", f"{100 * two_mean:.2f} % (worst {100 * two_min:.2f} %)", ""),
              ("10 outputs", "may disagree", f"{100 * ten_mean:.2f} % (worst {100 * ten_min:.2f} %)", "")],
        setup=["004 proves both; ours counts signs per coordinate against autograd on random mono-nets (|normal| init, "
               "one sample, squared error)."],
        checks=[("the one-output criterion (every coordinate agrees) applied to two outputs",
                 f"fails: the worst net agrees on {100 * two_min:.1f} %")],
        numbers={"one_output": [one_mean, one_min], "two_outputs": [two_mean, two_min], "ten_outputs": [ten_mean, ten_min]})


ITEMS = (
    Item("004-thm1", "004", "Thm 1, A.1", "a sigmoid net with N units is a mono-net with 2N",
         "mono-nets (weights ≥ 0 after the first layer, monotone activations) are universal approximators: the "
         "proof rewrites a one-hidden-layer sigmoid net with N units as a tanh mono-net with 2N units.",
         universal_mono_net, minutes=0.1),
    Item("004-thm2", "004", "Thm 2, Thm 5", "mDFA has the gradient's sign for one output, not for two",
         "DFA on a mono-net with a single output computes an update with the sign of the true gradient in every "
         "coordinate (Thm 2/4); with two or more outputs a counterexample has updates orthogonal to the gradient "
         "(Thm 5).", mdfa_sign, minutes=0.3),
)
