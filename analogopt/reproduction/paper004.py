"""Paper 004 (Lechner, mono-nets and monotone DFA): Theorems 1, 2 and 5, and the binary and 10-class tables."""

from __future__ import annotations

import numpy as np
import torch

from .base import NOT_REPRODUCED, QUALITATIVE, REPRODUCED, Context, Item, Outcome
from .tables import gap, run_table, table_rows


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


def binary(ctx: Context) -> Outcome:
    easy = run_table(ctx, "rules_mdfa_binary")
    hard = run_table(ctx, "rules_mdfa_binary_hard")
    easy_gap = gap(easy, "mDFA", "DFA", "train")
    train_gap = gap(hard, "mDFA (abs-normal init)", "DFA (zero init)", "train")
    test_gap = gap(hard, "mDFA (abs-normal init)", "DFA (zero init)")
    random_init = gap(hard, "mDFA (abs-normal init)", "DFA (scaled normal init)", "train")
    holds = all(c["holds"] for c in hard["checks"])
    verdict = QUALITATIVE if holds and train_gap > 0 else NOT_REPRODUCED
    t = hard["table"]
    reason = (f"On breast cancer every rule fits the training set and mDFA − DFA is {easy_gap:+.2f} points. On MNIST 0–4 "
              f"against 5–9, mDFA minus DFA from 004's best DFA init (all-zero forward weights) is {train_gap:+.1f} points "
              f"of training accuracy and {test_gap:+.1f} of test accuracy (004 Table 1, tanh, fully connected: +15.9 and "
              f"+0.5); against DFA from a random init it is {random_init:+.1f}. ")
    pr = {label: row["participation_ratio"] for label, row in t.items()}
    low_rank = pr["DFA (zero init)"][0] < 0.2 * pr["DFA (scaled normal init)"][0]
    reason += (f"Effective rank (participation ratio) of W1 after training: zero-init DFA {pr['DFA (zero init)'][0]:.1f}, "
               f"DFA from a random init {pr['DFA (scaled normal init)'][0]:.0f}, mDFA "
               f"{pr['mDFA (abs-normal init)'][0]:.0f}. ")
    if holds and low_rank:
        reason += ("With zero forward weights and a single output, DFA moves every first-layer row along the one "
                   "feedback direction, so its hidden layers stay low-rank: that is what loses to mDFA here, and "
                   "the advantage is smaller than 004's on CIFAR-100.")
    else:
        reason += "The check does not hold" + (" at --quick size." if ctx.quick else ".")
    return Outcome(
        verdict, reason,
        rows=[("mDFA − DFA, train (binarised task)", "+15.9 (100.0 vs 84.1 ± 8.2)", f"{train_gap:+.2f} points", "MNIST 0–4 vs 5–9, zero-init DFA"),
              ("mDFA − DFA, test", "+0.5 (77.3 vs 76.8 ± 11.5)", f"{test_gap:+.2f} points", ""),
              ("mDFA − DFA, train, breast cancer", "—", f"{easy_gap:+.2f} points", "every rule fits the data"),
              *table_rows(hard, {"mDFA (abs-normal init)": "100.0 (train)", "DFA (zero init)": "84.1 (train)",
                                 "BP": "100.0 (train)"})],
        figures=[(str(ctx.relative_path("rules_mdfa_binary_hard") / "curves.png"), "MNIST 0–4 vs 5–9: mean learning curves")],
        setup=["004: binarised CIFAR-100 and ImageNet, FC 1024-1024 (and CNNs), batch 64, inits tuned per rule. Ours: "
               "the offline MNIST subset binarised 0–4 against 5–9, 784-256-256-1 tanh, batch 64, lr 0.2, 30 epochs, "
               "two seeds (sims/rules_mdfa_binary_hard.toml), and breast cancer with a 64-64 net (sims/rules_mdfa_binary.toml)."],
        checks=[(c["check"], "holds" if c["holds"] else "does not hold") for c in hard["checks"] + easy["checks"]],
        numbers={"hard": t, "easy": easy["table"], "participation_ratio": pr})


def ten_classes(ctx: Context) -> Outcome:
    m = run_table(ctx, "rules_mdfa_10class")
    holds = all(c["holds"] for c in m["checks"])
    train_gap, test_gap = gap(m, "mDFA", "DFA", "train"), gap(m, "mDFA", "DFA")
    return Outcome(
        REPRODUCED if holds else NOT_REPRODUCED,
        f"On 10-class digits mDFA − DFA is {train_gap:+.2f} points of training and {test_gap:+.2f} of test accuracy "
        f"(004 at 10 classes: fully connected +1.2 train, +1.3 test with sd 1–3; CNN +11.4, −1.1). "
        + ("That is level within 004's spread, and mDFA stays below BP on the training set. " if holds else
           "A check does not hold" + (" at --quick size. " if ctx.quick else ". "))
        + "004 has mDFA clearly behind DFA only beyond 10 classes (CNN, 25 and 50 classes), which digits cannot test.",
        rows=table_rows(m, {"BP": "100.0 train / 57.3 test (FC)", "DFA": "24.7 / 25.0 (FC)", "mDFA": "25.9 / 26.3 (FC)"}),
        setup=["004 Tables 3–4: 10-class CIFAR-100, FC 1024-1024 and a CNN. Ours: scikit-learn's digits, 64-64 tanh, "
               "batch 32, lr 0.05, 40 epochs, three seeds (sims/rules_mdfa_10class.toml)."],
        checks=[(c["check"], "holds" if c["holds"] else "does not hold") for c in m["checks"]],
        numbers={"table": m["table"]})


ITEMS = (
    Item("004-thm1", "004", "Thm 1, A.1", "a sigmoid net with N units is a mono-net with 2N",
         "mono-nets (weights ≥ 0 after the first layer, monotone activations) are universal approximators: the "
         "proof rewrites a one-hidden-layer sigmoid net with N units as a tanh mono-net with 2N units.",
         universal_mono_net, minutes=0.1),
    Item("004-thm2", "004", "Thm 2, Thm 5", "mDFA has the gradient's sign for one output, not for two",
         "DFA on a mono-net with a single output computes an update with the sign of the true gradient in every "
         "coordinate (Thm 2/4); with two or more outputs a counterexample has updates orthogonal to the gradient "
         "(Thm 5).", mdfa_sign, minutes=0.1),
    Item("004-binary", "004", "Table 1", "mDFA against DFA on a binary task",
         "on binarised CIFAR-100 with a fully connected tanh net, mDFA fits the training set (100.0 %) where DFA "
         "reaches 84.1 ± 8.2 %; their test accuracies are 77.3 and 76.8 ± 11.5 %.", binary, minutes=1.2, long=True),
    Item("004-10class", "004", "Tables 3–4", "mDFA on ten classes",
         "at 10 classes mDFA is level with DFA (fully connected 25.9 against 24.7 % train; CNN 94.4 against 83.0 % "
         "train, 63.9 against 65.0 % test) and below BP; it falls behind DFA with 25 and 50 classes.", ten_classes,
         minutes=0.2),
)
