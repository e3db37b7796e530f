"""Paper 003 (Schaeffer's notes, after Werfel, Xie & Seung 2004): weight and node perturbation against
backpropagation on the linear student–teacher problem."""

from __future__ import annotations

import numpy as np
import torch

from .base import NOT_REPRODUCED, REPRODUCED, Context, Item, Outcome, pyplot

#: A measured relative variance counts as the theory's when within this many of its own standard errors
#: of it (the squared error of one estimate is heavy-tailed, so its mean converges slowly), plus 3 %.
VARIANCE_SIGMAS = 3.0


def _student(n_in: int, n_out: int, seed: int):
    from ..reference.nets import mlp

    g = torch.Generator().manual_seed(seed)
    student = mlp([n_in, n_out], "identity", seed=seed).double()
    teacher = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) / np.sqrt(n_in)
    return student, teacher, g


def estimator_variance(rule_name: str, n_in: int, n_out: int, trials: int, seed: int = 0) -> tuple[float, float]:
    """E‖ĝ − g‖² / ‖g‖² of one perturbation (K = 1) on one student–teacher sample, over ``trials`` draws:
    the relative variance of the rule's gradient estimate (003; for Gaussian noise theory gives P + 1 for
    weight perturbation over P parameters and M + 1 for node perturbation over M perturbed units), and the
    standard error of that mean."""
    from ..reference.rules import make_rule

    student, teacher, g = _student(n_in, n_out, seed)
    x = torch.randn(1, n_in, generator=g, dtype=torch.float64)
    y = x @ teacher.T
    bp = make_rule("bp", student, loss="mse")
    bp.compute_grads(x, y)
    true = torch.cat([p.grad.ravel() for p in student.parameters()])
    # small σ: the estimates' bias is O(σ), far below the variance measured here
    rule = make_rule(rule_name, student, loss="mse", sigma=1e-6, samples=1, seed=seed + 1,
                     **({"antithetic": True} if rule_name == "wp" else {}))
    errors = np.empty(trials)
    for t in range(trials):
        rule.compute_grads(x, y)
        est = torch.cat([p.grad.ravel() for p in student.parameters()])
        errors[t] = float(((est - true) ** 2).sum())
    norm = float((true**2).sum())
    return float(errors.mean() / norm), float(errors.std(ddof=1) / np.sqrt(trials) / norm)


def _learning_curves(n_in: int, n_out: int, steps: int, seed: int = 0) -> dict[str, list[float]]:
    """BP, WP and NP (K = 1) on the same student–teacher stream, each at the rate 1/(variance factor) of
    BP's: the largest step the noisier estimate tolerates, so the curves compare learning speed."""
    from ..reference.rules import make_rule

    out = {}
    p_count = n_in * n_out + n_out
    lr_bp = 0.5 / n_in  # per-sample steps: stable below 2/‖x‖² ≈ 2/N
    for name, lr, opts in (("bp", lr_bp, {}), ("np", lr_bp / (n_out + 2), {"sigma": 1e-4, "samples": 1}),
                           ("wp", lr_bp / (p_count + 2), {"sigma": 1e-4, "samples": 1})):
        student, teacher, g = _student(n_in, n_out, seed)
        rule = make_rule(name, student, loss="mse", seed=seed + 1, **opts)
        opt = torch.optim.SGD(student.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed + 7)
        x_test = torch.randn(256, n_in, generator=gen, dtype=torch.float64)
        curve = []
        for step in range(steps + 1):
            if step % max(1, steps // 50) == 0:
                with torch.no_grad():
                    curve.append(float(((student(x_test) - x_test @ teacher.T) ** 2).sum(1).mean()))
            if step == steps:
                break
            x = torch.randn(1, n_in, generator=gen, dtype=torch.float64)
            opt.zero_grad(set_to_none=True)
            rule.compute_grads(x, x @ teacher.T)
            opt.step()
        out[name] = curve
    return out


def student_teacher(ctx: Context) -> Outcome:
    trials = 1500 if ctx.quick else 6000
    n_ins = (4, 16) if ctx.quick else (4, 8, 16, 32)
    n_outs = (2, 8) if ctx.quick else (2, 4, 8, 16)
    rows, worst, grid = [], 0.0, []
    for n_out in n_outs:
        for n_in in n_ins:
            ctx.progress.stage(f"{ctx.item.key}: N = {n_in}, M = {n_out}")
            wp, wp_se = estimator_variance("wp", n_in, n_out, trials)
            np_, np_se = estimator_variance("np", n_in, n_out, trials)
            p = n_in * n_out + n_out
            grid.append({"n_in": n_in, "n_out": n_out, "parameters": p, "wp": wp, "np": np_, "wp_se": wp_se,
                         "np_se": np_se, "wp_theory": p + 1, "np_theory": n_out + 1})
            # how far from theory, in the measurement's own standard errors beyond a 3 % allowance
            worst = max(worst, (abs(wp - (p + 1)) - 0.03 * (p + 1)) / wp_se,
                        (abs(np_ - (n_out + 1)) - 0.03 * (n_out + 1)) / np_se)
    steps = 600 if ctx.quick else 3000
    curves = _learning_curves(16, 4, steps)
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for n_out in n_outs:
        pts = [r for r in grid if r["n_out"] == n_out]
        a1.loglog([r["parameters"] for r in pts], [r["wp"] for r in pts], "o-", label=f"WP, M = {n_out}")
        a1.loglog([r["parameters"] for r in pts], [r["np"] for r in pts], "s--", label=f"NP, M = {n_out}")
    ps = sorted({r["parameters"] for r in grid})
    a1.loglog(ps, [q + 1 for q in ps], "k:", label="theory WP: P + 1")
    a1.set_xlabel("parameters P = N·M + M")
    a1.set_ylabel("relative variance E‖ĝ − g‖² / ‖g‖²")
    a1.set_title("one perturbation, one sample")
    a1.legend(fontsize=7)
    a1.grid(True, which="both", alpha=0.3)
    x = np.linspace(0, steps, len(curves["bp"]))
    for name, label in (("bp", "BP"), ("np", "NP"), ("wp", "WP")):
        a2.semilogy(x, curves[name], label=label)
    a2.set_xlabel("samples seen (one per step)")
    a2.set_ylabel("test squared error")
    a2.set_title("student–teacher, N = 16, M = 4, rate ∝ 1/(variance + 1)")
    a2.legend()
    a2.grid(True, which="both", alpha=0.3)
    png = ctx.save_figure("variance", fig)
    plt.close(fig)
    final = {k: v[-1] for k, v in curves.items()}
    ordered = final["bp"] < final["np"] < final["wp"]
    ok = worst <= VARIANCE_SIGMAS and ordered
    spread = max(max(abs(r["wp"] / r["wp_theory"] - 1), abs(r["np"] / r["np_theory"] - 1)) for r in grid)
    big = max(grid, key=lambda r: r["parameters"])
    rows = [(f"relative variance at N = {r['n_in']}, M = {r['n_out']}", "WP ∝ P, NP ∝ M",
             f"WP {r['wp']:.1f} ± {r['wp_se']:.1f} (P + 1 = {r['wp_theory']}), NP {r['np']:.2f} ± {r['np_se']:.2f} "
             f"(M + 1 = {r['np_theory']})", f"{trials} draws, ± one standard error")
            for r in grid]
    rows.append(("test error after the same samples", "BP < NP < WP",
                 f"BP {final['bp']:.2e}, NP {final['np']:.2e}, WP {final['wp']:.2e}", f"{steps} samples"))
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"Measured relative variance of one estimate: weight perturbation's against P + 1 over P parameters, node "
        f"perturbation's against M + 1 over M output units, largest deviation {spread:.1%} over the grid "
        f"({max(worst, 0.0):.1f} standard errors beyond a 3 % allowance; at P = {big['parameters']} WP is "
        f"{big['wp'] / big['np']:.0f}× noisier than NP)"
        + ("; the theory holds, independent of the input size. " if worst <= VARIANCE_SIGMAS else
           "; the theory does not hold within the measurement's error. ")
        + f"At rates scaled to that variance the test error after {steps} samples is BP {final['bp']:.1e}, NP "
        f"{final['np']:.1e}, WP {final['wp']:.1e}"
        + (": BP learns fastest, then NP, then WP, the ordering Werfel, Xie & Seung report." if ordered else "."),
        rows=rows, figures=[(png, "estimator variance against parameters, and learning curves of BP, NP, WP")],
        setup=["003 states the comparison (after Werfel et al.) without numbers; ours measures it on y = W·x with a "
               "random teacher, Gaussian inputs, σ = 1e-6 perturbations and one sample per estimate."],
        checks=[("WP's variance compared with NP's theory (M + 1)",
                 f"off by {big['wp'] / big['np_theory']:.0f}× at P = {big['parameters']}: the variance tracks the parameter count")],
        numbers={"grid": grid, "final_test_error": final})


ITEMS = (
    Item("003-wp-np", "003", "§ Werfel et al.", "weight and node perturbation: estimator variance and speed",
         "on the linear student–teacher problem y = W*·x the perturbation estimates are unbiased but noisy: weight "
         "perturbation's noise grows with the number of weights, node perturbation's with the number of units, "
         "so BP learns faster than NP, and NP faster than WP.", student_teacher, minutes=1.7, long=True),
)
