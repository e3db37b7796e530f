"""Paper 000 (Hasan & Holleman, the negative feedback system as optimizer): its figures and claims."""

from __future__ import annotations


import numpy as np
import torch

from .base import NOT_REPRODUCED, QUALITATIVE, REPRODUCED, Context, Item, Outcome, pyplot

#: Relative distance from a closed-form fixed point that counts as "matches" (issue 15: 1e-6).
FIXED_POINT_TOLERANCE = 1e-6


# -- 000 Fig. 1b: the op-amp log amplifier -----------------------------------------------------------------

def log_amp(ctx: Context) -> Outcome:
    m = ctx.run_scenario("log_amp")
    t, casc = m["transfer"], m["cascade"]
    ok = t["slope_rel_error"] < 1e-4 and t["conformity_fraction_of_full_scale"] < 1e-4
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"ngspice's diode log amp has the slope n·V_T·ln 10 within {t['slope_rel_error']:.1e} and conforms to a "
        f"straight line within {t['conformity_fraction_of_full_scale']:.1e} of full scale over "
        f"{t['conformity_decades']:g} decades; its log → antilog cascade returns the input within "
        f"{casc['max_rel_error']:.1e}.",
        rows=[("output per decade of input", "−V_T·ln 10 (the loop inverts the diode, Eq. 5–6)",
               f"{1e3 * t['slope_v_per_decade']:.3f} mV/dec (ideal {1e3 * t['slope_expected_v_per_decade']:.3f})", "27 °C"),
              ("log → antilog", "returns x_i (two inverses in cascade)", f"{casc['max_rel_error']:.1e} relative", "")],
        figures=[(str(ctx.relative_path("log_amp") / "transfer.png"), "log amp transfer: ngspice against the closed form")],
        setup=["000 draws the log amp as a block diagram; ours is a diode (Is = 1e-14 A) behind an op-amp of gain 1e6 "
               "(sims/log_amp.toml), swept 1 nA … 1 mA."],
        numbers={"transfer": t, "cascade": casc})


# -- 000 Fig. 4a/b: the staircase and gradient descent ------------------------------------------------------

def _staircase_problem(gain: float, iterations: int):
    from ..data.synthetic import staircase_set
    from ..problems import ActivationSpec, NFSingleLayerProblem

    x, y = staircase_set(w=1.0, b=-1.0, x_min=-2.0, x_max=4.0, samples=61)
    return NFSingleLayerProblem(x=np.stack([x, np.ones_like(x)], 1), y=y, activation=ActivationSpec("staircase", gain=gain),
                                error_gain="x", forward_gain=0.05, gamma=1.0, eta=1e-2, iterations=iterations,
                                leak=False, w0=np.array([0.3, 0.4]))


def staircase(ctx: Context) -> Outcome:
    from ..reference.nf_single import NFSingleLayerTwin, gradient_descent, loop_gain, matched_gd_rate

    m = ctx.run_scenario("nf_staircase")
    gains = (20.0, 200.0, 1000.0) if ctx.quick else (20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
    iterations = 8000
    sweep = []
    for g in gains:
        p = _staircase_problem(g, iterations)
        ctx.progress.stage(f"{ctx.item.key}: comparator gain {g:g} V/V")
        gd = gradient_descent(p, lr=matched_gd_rate(p), record_every=iterations)
        textbook = gradient_descent(p, lr=matched_gd_rate(p), record_every=iterations, ideal=True)
        nf = NFSingleLayerTwin(p).run(record_every=iterations)
        sweep.append({"gain_v_per_v": g, "initial_loss": float(nf.loss[0]), "nf_final_loss": nf.final_loss,
                      "gd_final_loss": gd.final_loss, "gd_textbook_final_loss": textbook.final_loss,
                      "nf_loop_gain": loop_gain(p, nf.weights)})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    g = [s["gain_v_per_v"] for s in sweep]
    ax.loglog(g, [max(s["nf_final_loss"] / s["initial_loss"], 1e-30) for s in sweep], "o-", label="NF loop, u = x (twin)")
    ax.loglog(g, [s["gd_final_loss"] / s["initial_loss"] for s in sweep], "s-", label="GD through the comparators' derivative")
    ax.set_xlabel("comparator gain (V/V)")
    ax.set_ylabel("final MSE / initial MSE")
    ax.set_title("000 Fig. 4b: after 8000 iterations at η = 1e-2")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    sweep_png = ctx.save_figure("gain_sweep", fig)
    plt.close(fig)
    a = m["analog"]
    at = {s["gain_v_per_v"]: s for s in sweep}
    stall = [s["gain_v_per_v"] for s in sweep if s["gd_final_loss"] > 0.1 * s["initial_loss"]]
    learns = a["final_loss"] < 1e-3 and abs(a["final_weights"]["w"] - 1) < 2e-3 and abs(a["final_weights"]["b"] + 1) < 2e-3
    nf_all = all(s["nf_final_loss"] < 0.02 * s["initial_loss"] for s in sweep)
    verdict = QUALITATIVE if learns and nf_all and stall else NOT_REPRODUCED
    s20 = at[20.0]
    return Outcome(
        verdict,
        ("The loop learns the staircase in ngspice as in the paper. " if learns else
         f"The loop does not learn the staircase here (MSE {a['final_loss']:.3g}). ")
        + f"Through the gain-20 comparators the circuit uses, GD learns too (MSE {s20['initial_loss']:.3g} → "
        f"{s20['gd_final_loss']:.2g}); "
        + (f"it stalls as in Fig. 4b only from {min(stall):g} V/V on, on a tread where no sample sits near a step. "
           if stall else "it stalls at none of the gains tried. ")
        + "The paper's flat SGD curve is the textbook derivative (0 almost everywhere), which cannot move by construction.",
        rows=[("NF loop, u = x: learned w, b", "w = 1, b = −1", f"w = {a['final_weights']['w']:.4f}, b = {a['final_weights']['b']:.4f} "
               f"(ngspice, MSE {a['final_loss']:.2g})", "comparators of gain 20 V/V"),
              ("SGD's squared error", "does not change", f"textbook σ': {s20['gd_textbook_final_loss']:.3g} (unchanged)",
               "σ' = 0 a.e.: cannot move by construction"),
              *[(f"GD through gain-{s['gain_v_per_v']:g} comparators", "—",
                 f"MSE {s['initial_loss']:.3g} → {s['gd_final_loss']:.3g} (NF: {s['nf_final_loss']:.2g})",
                 f"NF's per-step loop gain {s['nf_loop_gain']:.2f}" + (" (the discrete loop is coarser than the ODE "
                 "it stands for above 0.27)" if s["nf_loop_gain"] > 0.27 else ""))
                for s in sweep]],
        figures=[(sweep_png, "final loss against comparator gain: the loop does not care, GD stalls once the comparators are sharp"),
                 (str(ctx.relative_path("nf_staircase") / "loss.png"), "the staircase loop in ngspice and its twin")],
        setup=["000 trains with SGD; ours is full-batch GD at the loop's matched rate η·γ·A·m/2 (000 §5), on the "
               "61-sample grid of sims/nf_staircase.toml."],
        checks=[("the stall criterion (final MSE > 10 % of the initial) applied to gain-20 comparators",
                 f"fails: GD reaches {s20['gd_final_loss'] / s20['initial_loss']:.1e} of the initial MSE")],
        numbers={"scenario": {"analog": a, "trajectory_deviation": m["trajectory_deviation"]}, "gain_sweep": sweep})


# -- 000 Fig. 4c: noisy ReLU data, u = x against the window ---------------------------------------------------

def noisy_relu(ctx: Context) -> Outcome:
    m = ctx.run_scenario("nf_noisy_relu")
    err = m["least_squares"]["relative_slope_error"]
    ok = err["window"] < 1e-3 and err["x"] > 10 * err["window"]
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"With the window u = σ'·x the circuit's slope lands {err['window']:.2%} from scipy's least squares; with u = x "
        f"the saturated side's samples bias it by {err['x']:.1%}, the effect 000 §4.2 describes.",
        rows=[("slope with u = σ'·x (window)", "fits the data (least squares)", f"{err['window']:.3%} from least squares", "ngspice"),
              ("slope with u = x", "biased by the saturated side", f"{err['x']:.2%} from least squares", "ngspice")],
        figures=[(str(ctx.relative_path("nf_noisy_relu") / "fit.png"), "noisy ReLU fits in ngspice: u = x and the window")],
        setup=["000 Fig. 4c shows the fits as a figure only; ours quantifies them against scipy.optimize.least_squares "
               "(sims/nf_noisy_relu.toml: 60 samples, noise σ = 0.15, ReLU knee smoothed to 10 mV)."],
        numbers={"relative_slope_error": err})


# -- 000 Eq. 10 with the leak, and u = β³ (§5), in ngspice -------------------------------------------------

def _least_squares_of_the_scenarios() -> np.ndarray:
    """Plain least squares (w, b) on the data of sims/nf_leaky_ridge.toml and sims/nf_beta_cubed.toml: the fixed
    point of the loop without leak at u = β, the loop each scenario must be told apart from."""
    from ..data.synthetic import noisy_relu_set

    x, y = noisy_relu_set(w=1.5, b=-0.5, noise_std=0.1, x_min=-1.0, x_max=2.0, samples=60, seed=0)
    return np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]


def _fixed_point_outcome(ctx: Context, scenario: str, what: str, paper_value: str, other: str) -> Outcome:
    m = ctx.run_scenario(scenario)
    f = m["fixed_point"]
    worst = max(f["analog_relative_error"], f["digital_relative_error"])
    ok = worst <= FIXED_POINT_TOLERANCE and m["max_abs_deviation"] <= FIXED_POINT_TOLERANCE and m["twin_validity"]["valid"]
    analog = np.array([m["analog"]["final_weights"]["w"], m["analog"]["final_weights"]["b"]])
    ls = _least_squares_of_the_scenarios()
    distance = float(np.linalg.norm(analog - ls) / np.linalg.norm(ls))
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        f"ngspice settles {f['analog_relative_error']:.1e} (relative) from the closed form {f['equation']}, the twin "
        f"{f['digital_relative_error']:.1e}; tolerance {FIXED_POINT_TOLERANCE:g}.",
        rows=[(what, paper_value, ", ".join(f"{k} = {v:.8g}" for k, v in f["weights"].items()), "closed form"),
              ("circuit vs closed form", "—", f"{f['analog_relative_error']:.1e}", "relative, ngspice"),
              ("twin vs closed form", "—", f"{f['digital_relative_error']:.1e}", "relative"),
              ("trajectory, circuit vs twin", "—", f"{m['trajectory_deviation']:.2%} of range",
               f"theory's Euler bound {m['twin_validity']['predicted_euler_error']:.2%}")],
        figures=[(str(ctx.relative_path(scenario) / "weights.png"), f"{scenario}: weights in ngspice and in the twin")],
        setup=[f"sims/{scenario}.toml: identity activation on 60 noisy ReLU samples over [−1, 2] (000 gives the "
               "equations, no numbers)."],
        checks=[(f"the circuit's weights compared with {other}",
                 f"{distance:.1e} relative, {distance / FIXED_POINT_TOLERANCE:.0f}× the tolerance: the check tells the "
                 "two loops apart")],
        numbers={"fixed_point": f, "trajectory_deviation": m["trajectory_deviation"],
                 "max_abs_deviation": m["max_abs_deviation"], "distance_from_least_squares": distance})


def leaky_loop(ctx: Context) -> Outcome:
    return _fixed_point_outcome(ctx, "nf_leaky_ridge", "settled weights (A = 100, γ = 1)",
                                "(XᵀX + I/(γA))·w = Xᵀy; large A: least squares (Eq. 6)",
                                "plain least squares (the loop without its leak)")


def beta_cubed(ctx: Context) -> Outcome:
    return _fixed_point_outcome(ctx, "nf_beta_cubed", "settled weights (u = β³)", "any odd n is an optimizer (§5)",
                                "least squares (u = β, n = 1)")


# -- 000 §5, Eq. 21: u = β with a leak is gradient descent with weight decay ------------------------------

def nf_is_gd(ctx: Context) -> Outcome:
    from ..problems import ActivationSpec, NFSingleLayerProblem
    from ..reference.nf_single import NFSingleLayerTwin, gradient_descent

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal((40, 3)), np.ones((40, 1))], 1)
    y = np.tanh(x @ np.array([0.5, -1.0, 0.3, 0.1])) + 0.05 * rng.standard_normal(40)
    p = NFSingleLayerProblem(x=x, y=y, activation=ActivationSpec("tanh"), error_gain="window", forward_gain=0.5,
                             gamma=2.0, eta=1e-2, iterations=300, leak=True, w0=0.1 * rng.standard_normal(4))
    nf = NFSingleLayerTwin(p).run()
    m = p.n_samples
    lr, decay = p.eta * p.gamma * p.forward_gain * m / 2, 2 / (p.gamma * p.forward_gain * m)
    gd = gradient_descent(p, lr=lr, weight_decay=decay)
    dev = float(np.max(np.abs(nf.weights - gd.weights)))
    wrong = gradient_descent(p, lr=lr)  # the same GD without the decay that the leak stands for
    dev_wrong = float(np.max(np.abs(nf.weights - wrong.weights)))
    return Outcome(
        REPRODUCED if dev < 1e-10 else NOT_REPRODUCED,
        f"The twin of the loop with u = β and a leak and autograd's GD with lr = η·γ·A·m/2 and weight decay "
        f"2/(γ·A·m) take the same 300 steps to within {dev:.1e}.",
        rows=[("NF update vs GD + weight decay", "identical (Eq. 21)", f"max |Δw| = {dev:.1e} over 300 steps",
               "40 samples, tanh, 4 weights")],
        setup=["000 derives Eq. 21 without a run; ours steps both on a random tanh regression."],
        checks=[("GD without the weight decay", f"differs by {dev_wrong:.1e}: the leak is the decay")],
        numbers={"max_abs_deviation": dev, "without_decay": dev_wrong})


# -- 000 §6.2–6.3: the dead network, and the σ'_nz skip path --------------------------------------------------

def dead_network(ctx: Context) -> Outcome:
    from ..reference.nets import mlp
    from ..reference.rules import dead_network_report, loss_value, make_rule, train_step

    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.3]])
    steps = 100 if ctx.quick else 400
    runs = {}
    for label, skip, sigma_nz in (("no skip", 0.0, 0.0), ("σ'_nz in the backward window only", 0.0, 0.5),
                                  ("forward skip path (Fig. 7a)", 0.5, 0.0)):
        net = mlp([3, 4, 4, 2], "relu", seed=0, skip=skip)
        with torch.no_grad():
            net.blocks[0].bias.fill_(-100.0)  # every first-layer unit off for every input
        report = dead_network_report(net, x, sigma_nz=sigma_nz)
        rule = make_rule("nf", net, loss="mse", gain="beta", sigma_nz=sigma_nz)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        with torch.no_grad():
            first = float(loss_value(net(x), y, "mse"))
        for _ in range(steps):
            train_step(rule, opt, x, y)
        with torch.no_grad():
            last = float(loss_value(net(x), y, "mse"))
        runs[label] = {"layer2_inputs_dead": report.layers[1].dead, "summary": report.summary(), "initial_loss": first,
                       "final_loss": last}
    base, window, skip = runs["no skip"], runs["σ'_nz in the backward window only"], runs["forward skip path (Fig. 7a)"]
    ok = (base["layer2_inputs_dead"] and window["layer2_inputs_dead"] and not skip["layer2_inputs_dead"]
          and skip["final_loss"] < 0.6 * base["final_loss"] and window["final_loss"] > 0.9 * base["final_loss"])
    return Outcome(
        REPRODUCED if ok else NOT_REPRODUCED,
        "The §6.2 predictor finds, before training, that the layer above a dead first layer has inputs that are 0 "
        "for every sample, and the net does not learn "
        f"(MSE {base['initial_loss']:.3f} → {base['final_loss']:.3f} in {steps} NF steps: only the output bias moves). "
        "σ'_nz added to the backward window re-opens the first layer's weights but its outputs stay 0, so the layer "
        f"above stays dead ({window['final_loss']:.3f}). With the forward skip path of Fig. 7a, which carries data past "
        f"the dead layer and the difference vector back, the MSE goes {skip['initial_loss']:.3f} → "
        f"{skip['final_loss']:.3f}" + (": the net learns." if ok else ": not the revival the paper describes."),
        rows=[(label, "dead" if label == "no skip" else "β ≠ 0 restores learning",
               f"layer 2 predicted {'dead' if r['layer2_inputs_dead'] else 'alive'}; "
               f"MSE {r['initial_loss']:.3f} → {r['final_loss']:.3f}", "3-4-4-2 ReLU, first-layer biases −100")
              for label, r in runs.items()],
        setup=["000 §6.2–6.3 states the predictor and the skip path without an experiment; ours is a small linear "
               "teacher problem with the first hidden layer switched off."],
        checks=[("the same training without the skip path", f"MSE stays at {base['final_loss']:.3f}: the criterion fails")],
        numbers=runs)


# -- 000 Fig. 6b: FAL against Adam -------------------------------------------------------------------------

def fal(ctx: Context) -> Outcome:
    # SGD at the same learning rate as FAL and Adam: what the adaptive rate buys (a tuned SGD, lr 0.05, reaches
    # Adam on digits too, so it cannot tell FAL from plain SGD)
    overrides = ["sgd.lr=1e-3", *(["training.epochs=4", "training.seeds=[0]"] if ctx.quick else [])]
    m = ctx.run_scenario("fal_vs_adam", overrides)
    per = m["optimizers"]
    final = {k: float(v["mean_test_accuracy_curve"][-1]) for k, v in per.items()}
    curve = {k: [float(a) for a in v["mean_test_accuracy_curve"]] for k, v in per.items()}
    gap = final["FAL"] - final["Adam"]
    sgd_gap = final["SGD"] - final["Adam"]
    ok = abs(gap) <= 0.02 and sgd_gap < -0.2
    lag = max(a - f for a, f in zip(curve["Adam"], curve["FAL"]))
    return Outcome(
        QUALITATIVE if ok else NOT_REPRODUCED,
        f"At the paper's learning rate of 1e-3 FAL ends {100 * abs(gap):.2f} points from Adam, while SGD at the same rate "
        f"ends {100 * -sgd_gap:.1f} points behind" + (": FAL's rate adapts as Adam's does. " if ok else ". ")
        + "It starts slower (up to "
        f"{100 * lag:.0f} points behind Adam in the early epochs: its filters start empty and it has no bias "
        "correction), on digits rather than CIFAR10/ResNet20" + (" (a --quick run: 4 epochs, one seed)." if ctx.quick else "."),
        rows=[("final test accuracy, FAL − Adam", "comparable (Fig. 6b)", f"{100 * gap:+.2f} points",
               f"FAL {100 * final['FAL']:.2f} %, Adam {100 * final['Adam']:.2f} %"),
              ("SGD at lr 1e-3 − Adam", "—", f"{100 * sgd_gap:+.1f} points", f"SGD {100 * final['SGD']:.2f} %"),
              ("largest early lag of FAL behind Adam", "—", f"{100 * lag:.1f} points", "epoch by epoch")],
        figures=[(str(ctx.relative_path("fal_vs_adam") / "accuracy.png"), "test accuracy per epoch: FAL, Adam, SGD at lr 1e-3")],
        setup=["000: CIFAR10, ResNet20, batch 128. Ours: scikit-learn's 8×8 digits, a two-layer CNN, batch 32, 15 epochs, "
               "3 seeds (sims/fal_vs_adam.toml, SGD set to FAL's lr 1e-3); FAL exactly as 000 states it (β_m = β_v = "
               "0.99, lr 1e-3, no bias correction)."],
        checks=[("the \"within 2 points of Adam\" criterion applied to SGD at the same rate",
                 f"fails: {100 * -sgd_gap:.1f} points behind")],
        numbers={"final": final, "curves": curve})


ITEMS = (
    Item("000-fig1b", "000", "Fig. 1b", "the op-amp log amplifier inverts its feedback diode",
         "a high-gain loop with a diode in its feedback path outputs the diode's inverse, the logarithm of the input "
         "current (Eq. 5–6).", log_amp, minutes=0.3),
    Item("000-fig4ab", "000", "Fig. 4a/b", "the staircase: the NF loop learns, gradient descent does not",
         "the non-differentiable staircase sgn(z+1)+sgn(z)+sgn(z−1) with w = 1, b = −1 is learned by the loop with "
         "u = x at γ = 1, η = 1e-2, while SGD's squared error stays flat because the activation's gradient is mostly "
         "zero.", staircase, minutes=0.8),
    Item("000-fig4c", "000", "Fig. 4c", "noisy ReLU data: u = x against the window σ'·x",
         "on noisy ReLU data u = x bends the fit toward the saturated side; the window u = σ'·x silences those "
         "samples and fits the data.", noisy_relu, minutes=0.1),
    Item("000-eq10-leak", "000", "Eq. 6, 10", "the leaky loop settles on ridge-augmented least squares",
         "Eq. 10 is a leaky low-pass τ·dw/dt = −w + γ·w'; for large A the loop inverts the data map (Eq. 6), and §5 "
         "reads the leak as weight decay.", leaky_loop, minutes=0.1),
    Item("000-sec5-beta3", "000", "§5", "u = β³ is another optimizer, with its own fixed point",
         "any odd power n of β keeps the loop's sign, so u = β^n gives infinitely many optimizers; n = 1 is gradient "
         "descent.", beta_cubed, minutes=0.1),
    Item("000-eq21", "000", "Eq. 18–21", "u = β with a leak is gradient descent with weight decay",
         "with u = β the loop's error is (m/2)·(−∇q) (Eq. 19–20), and with η ← ηλ, γ ← 2/(Amλ) the leaky update is GD "
         "with weight decay λ (Eq. 21).", nf_is_gd, minutes=0.1),
    Item("000-sec6-skip", "000", "§6.2–6.3, Fig. 7a", "the dead-network predictor and the σ'_nz skip path",
         "a layer with β = σ'·x = 0 for every sample opens the loop and stops learning, which can be predicted "
         "before training (§6.2); adding σ'_nz gives β = (σ' + σ'_nz)·x, and with σ_nz the identity this is a "
         "residual skip connection (§6.3, Fig. 7a).", dead_network, minutes=0.1),
    Item("000-fig6b", "000", "Fig. 6b", "Filter-Assisted Learning rate against Adam",
         "FAL (β_m = β_v = 0.99, rate over √(v − m²), no bias correction) trains ResNet20 on CIFAR10 about as well "
         "as Adam.", fal, minutes=0.5),
)
