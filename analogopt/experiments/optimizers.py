"""Scenario kinds for the filter optimizers of 000 §6.1: ``fal_vs_adam`` and ``momentum_filter``.

``fal_vs_adam`` (000 Fig. 6b, offline): a small CNN on scikit-learn's 8×8 digits trained by FAL, Adam
and SGD over several seeds; test-accuracy and loss curves. Tables: ``[data]`` (test_fraction),
``[training]`` (epochs, batch_size, seeds, channels), ``[fal]`` (lr, beta_m, beta_v, eps, leak,
bias_correction), ``[adam]`` (lr), ``[sgd]`` (lr, momentum).

``momentum_filter``: the weight filters as circuits. A real update sequence (``w' = −∇L`` of a few
weights of a digits classifier under mini-batch SGD) drives the SPICE RC low-pass, RC cascade and FAL
blocks through PWL sources; every filter state is compared with its twin at every sample point. The
cascade optimizer is also checked against ``torch.optim.SGD(momentum=…)`` on a real model. Tables:
``[drive]`` (steps, channels, seed), ``[timing]`` (dt_s), ``[rc]`` (tau_s, gamma, leak), ``[cascade]``
(beta_m, tau_s, gamma, leak), ``[fal]`` (beta_m, beta_v, tau_s, gamma, leak, s_floor_v),
``[equivalence]`` (lr, beta_m, steps), ``[compare]`` (tolerance).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ConfigError
from ..limits import SizeEstimate, size_of
from ..progress import Progress
from ..report import markdown_table, write_report
from ..results import RunDirectory
from ..cosim.comparison import Comparison, Group, PlotOptions, Signal, TwinValidity, plot_options, write_metrics
from ..spice.runner import Runner, check_deadline
from ..scenarios import Scenario
from ..values import Table
from .base import ExperimentBase, safe_title

__all__ = [
    "digits_images",
    "digits_cnn",
    "train_classifier",
    "record_update_sequence",
    "sgd_momentum_deviation",
    "FalVsAdamExperiment",
    "MomentumFilterExperiment",
]


# --------------------------------------------------------------------------------------------------
# Data, model, training
# --------------------------------------------------------------------------------------------------


#: scikit-learn's 8×8 digits: samples in the whole set.
DIGITS_SAMPLES = 1797
#: Multiply-accumulates of one forward pass of :func:`digits_cnn` with its default (16, 32) channels.
CNN_MACS = 8 * 8 * 16 * 9 + 4 * 4 * 32 * 16 * 9 + 2 * 2 * 32 * 10


@dataclass(frozen=True)
class ImageSplit:
    x_train: torch.Tensor  # (n, 1, 8, 8) float32, standardized per pixel with train statistics
    y_train: torch.Tensor  # (n,) int64
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits_images(*, seed: int, test_fraction: float = 0.3) -> ImageSplit:
    """scikit-learn's digits as 1×8×8 images (stratified split by ``seed``)."""
    from ..data.tabular import load_tabular

    s = load_tabular("digits", test_fraction=test_fraction, seed=seed)
    img = lambda a: torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1, 8, 8)  # noqa: E731
    return ImageSplit(img(s.x_train), torch.as_tensor(s.y_train), img(s.x_test), torch.as_tensor(s.y_test))


def digits_cnn(*, seed: int, channels: tuple[int, int] = (16, 32)) -> torch.nn.Module:
    """conv3×3(c1)–ReLU–pool2 → conv3×3(c2)–ReLU–pool2 → linear(10) for 8×8 inputs."""
    c1, c2 = channels
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, c1, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c1, c2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * c2, 10),
    )


def train_classifier(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ImageSplit,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    on_epoch: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Mini-batch training; per epoch: mean train loss, test loss, test accuracy (arrays of length epochs+1,
    entry 0 before training)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(data.x_train)

    def evaluate() -> tuple[float, float, float]:
        with torch.no_grad():
            logits_tr = model(data.x_train)
            logits_te = model(data.x_test)
            return (
                float(torch.nn.functional.cross_entropy(logits_tr, data.y_train)),
                float(torch.nn.functional.cross_entropy(logits_te, data.y_test)),
                float((logits_te.argmax(1) == data.y_test).float().mean()),
            )

    rows = [evaluate()]
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            optimizer.step()
        rows.append(evaluate())
        if on_epoch is not None:
            on_epoch(epoch + 1)
    arr = np.array(rows)
    return {"train_loss": arr[:, 0], "test_loss": arr[:, 1], "test_accuracy": arr[:, 2]}


def record_update_sequence(*, steps: int, channels: int, seed: int, batch_size: int = 16,
                           check: Callable[[], None] | None = None) -> np.ndarray:
    """``w' = −∇L`` of ``channels`` weights of a softmax classifier on digits under mini-batch SGD,
    recorded over ``steps`` updates and scaled to 1 V peak: shape (steps, channels), V. ``check`` is
    called before every update (a run's deadline: it raises to stop)."""
    from ..data.tabular import load_tabular

    s = load_tabular("digits", seed=seed)
    x, y = torch.as_tensor(s.x_train), torch.as_tensor(s.y_train)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(64, 10).double()
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(seed)
    # the watched weights: informative pixels (non-constant features), one per class in turn
    pixels = torch.nonzero(x.std(0) > 0.5).ravel()
    pick = pixels[torch.randperm(len(pixels), generator=gen)[:channels]]
    classes = torch.arange(channels) % 10
    order = torch.randperm(len(x), generator=gen)
    rows = []
    for k in range(steps):
        if check is not None:
            check()
        idx = order[(k * batch_size) % (len(x) - batch_size) :][:batch_size]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(x[idx]), y[idx]).backward()
        rows.append(-layer.weight.grad[classes, pick].clone())
        opt.step()
    drive = torch.stack(rows).numpy()
    return drive / np.abs(drive).max()


def sgd_momentum_deviation(*, lr: float, beta_m: float, steps: int, seed: int = 0,
                           check: Callable[[], None] | None = None) -> dict[str, float]:
    """Train the digits CNN twice from the same start, with :class:`CascadeMomentum` (leak 0) and with
    ``SGD(**sgd_momentum_equivalent(...))``; the largest weight difference and how far weights moved.
    ``check`` as for :func:`record_update_sequence`."""
    from ..reference.optim import CascadeMomentum, sgd_momentum_equivalent

    data = digits_images(seed=seed)
    finals = []
    start = torch.cat([p.detach().ravel() for p in digits_cnn(seed=seed).parameters()])
    for make in (lambda ps: CascadeMomentum(ps, lr=lr, beta_m=beta_m),
                 lambda ps: torch.optim.SGD(ps, **sgd_momentum_equivalent(lr=lr, beta_m=beta_m))):
        model = digits_cnn(seed=seed)
        opt = make(model.parameters())
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            if check is not None:
                check()
            idx = torch.randint(len(data.x_train), (32,), generator=gen)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
        finals.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    return {
        "max_abs_weight_difference": float((finals[0] - finals[1]).abs().max()),
        "max_abs_weight_travel": float((finals[1] - start).abs().max()),
        "parameters": int(start.numel()),
        "steps": int(steps),
    }


# --------------------------------------------------------------------------------------------------
# Scenario parsing helpers
# --------------------------------------------------------------------------------------------------


def _beta(table: Table, key: str, default: float) -> float:
    """A filter pole β in (0, 1): τ = −Δt/ln β needs it strictly inside."""
    return table.number(key, default, above=0, below=1)


def _description(scenario: Scenario) -> list[str]:
    text = scenario.config.get("description")
    return [str(text).strip(), ""] if text else []


# --------------------------------------------------------------------------------------------------
# fal_vs_adam
# --------------------------------------------------------------------------------------------------


@dataclass
class FalVsAdamExperiment(ExperimentBase):
    """000 Fig. 6b offline: FAL vs Adam (and SGD) on digits with a small CNN, several seeds."""

    kind = "fal_vs_adam"
    has_circuit = False
    scenario: Scenario
    test_fraction: float
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    channels: tuple[int, int]
    fal: dict[str, Any]
    adam_lr: float
    sgd: dict[str, float]

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "FalVsAdamExperiment":
        from ..reference.optim import FAL

        cfg = Table(scenario.config, scenario.name)
        cfg.reject_unknown({"kind", "title", "description", "data", "training", "fal", "adam", "sgd"})
        data = cfg.table("data", {"set", "test_fraction"})
        data_set = data.string("set", "digits")
        if data_set != "digits":
            raise data.error("set", f"the CNN needs 8×8 images; only 'digits' is supported, got {data_set!r}")
        test_fraction = data.number("test_fraction", 0.3, low=0.05, high=0.8)
        tr = cfg.table("training", {"epochs", "batch_size", "seeds", "channels"})
        seeds = tr.seeds("seeds", [0, 1, 2])
        channels = tr.integers("channels", [16, 32], length=2, low=1)
        fal = cfg.table("fal", {"lr", "beta_m", "beta_v", "eps", "leak", "bias_correction"})
        fal_kwargs = {
            "lr": fal.number("lr", 1e-3),
            "beta_m": fal.number("beta_m", 0.99),
            "beta_v": fal.number("beta_v", 0.99),
            "eps": fal.number("eps", 1e-8),
            "leak": fal.number("leak", 0.0),
            "bias_correction": fal.boolean("bias_correction", False),
        }
        try:  # the optimizer's own checks name the parameter and its range
            FAL([torch.nn.Parameter(torch.zeros(1))], **fal_kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{fal.where}: {exc}") from None
        adam = cfg.table("adam", {"lr"})
        sgd = cfg.table("sgd", {"lr", "momentum"})
        adam_lr = adam.number("lr", 1e-3, positive=True)
        sgd_kwargs = {"lr": sgd.number("lr", 0.05, positive=True), "momentum": sgd.number("momentum", 0.0, low=0, below=1)}
        return cls(
            scenario, test_fraction, tr.integer("epochs", 15, low=1), tr.integer("batch_size", 32, low=1),
            tuple(seeds), (channels[0], channels[1]), fal_kwargs, adam_lr, sgd_kwargs,
        )

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Pure PyTorch: three optimizers × seeds × epochs over the digits training split."""
        cfg = scenario.config
        data, tr = (cfg.get(k) if isinstance(cfg.get(k), dict) else {} for k in ("data", "training"))
        epochs = size_of(tr, "epochs", 15)
        seeds = tr.get("seeds", [0, 1, 2])
        runs = 3 * (len(seeds) if isinstance(seeds, list) else 3)
        samples = DIGITS_SAMPLES * (1 - size_of(data, "test_fraction", 0.3))
        return SizeEstimate(f"{scenario.name}: {epochs:.3g} epochs × {runs} trainings of the digits CNN",
                            memory_bytes=8 * epochs * runs * 64 + 2e8, twin_macs=3 * CNN_MACS * samples * epochs * runs)

    def optimizers(self) -> dict[str, Callable[[Any], torch.optim.Optimizer]]:
        from ..reference.optim import FAL

        return {
            "FAL": lambda ps: FAL(ps, **self.fal),
            "Adam": lambda ps: torch.optim.Adam(ps, lr=self.adam_lr),
            "SGD": lambda ps: torch.optim.SGD(ps, **self.sgd),
        }

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small CNN: one core is fastest and leaves the others free
        try:
            curves, seconds = self._train_all(progress)
        finally:
            torch.set_num_threads(torch_threads)
        progress.stage("plots and report")
        metrics = self._metrics(curves, seconds)
        self._figures(out, curves)
        write_metrics(out, metrics)
        write_report(out.file("report.md"), self._report(metrics))
        return metrics

    def _train_all(self, progress: Progress):
        curves: dict[str, dict[str, list[np.ndarray]]] = {}
        seconds: dict[str, float] = {}
        total = len(self.optimizers()) * len(self.seeds) * self.epochs
        done = 0
        for name, make in self.optimizers().items():
            progress.stage(f"training {name}")
            curves[name] = {"train_loss": [], "test_loss": [], "test_accuracy": []}
            t0 = time.perf_counter()
            for seed in self.seeds:
                data = digits_images(seed=seed, test_fraction=self.test_fraction)
                model = digits_cnn(seed=seed, channels=self.channels)

                def tick(epoch: int, base=done) -> None:
                    progress.update((base + epoch) / total)

                result = train_classifier(model, make(model.parameters()), data, epochs=self.epochs,
                                          batch_size=self.batch_size, seed=seed, on_epoch=tick)
                done += self.epochs
                for key, arr in result.items():
                    curves[name][key].append(arr)
            seconds[name] = (time.perf_counter() - t0) / len(self.seeds)
        return curves, seconds

    def _metrics(self, curves, seconds) -> dict[str, Any]:
        per = {}
        for name, c in curves.items():
            acc = np.array(c["test_accuracy"])
            per[name] = {
                "final_test_accuracy": {str(s): float(a[-1]) for s, a in zip(self.seeds, acc)},
                "mean_final_test_accuracy": float(acc[:, -1].mean()),
                "std_final_test_accuracy": float(acc[:, -1].std()),
                "mean_test_accuracy_curve": acc.mean(0),
                "mean_train_loss_curve": np.array(c["train_loss"]).mean(0),
                "mean_test_loss_curve": np.array(c["test_loss"]).mean(0),
                "seconds_per_seed": seconds[name],
            }
        gap = per["Adam"]["mean_final_test_accuracy"] - per["FAL"]["mean_final_test_accuracy"]
        metrics = {
            "scenario": self.scenario.name,
            "kind": self.kind,
            "title": self.scenario.title,
            "optimizers": per,
            "fal_gap_to_adam_points": 100 * gap,
            "fal_within_2_points_of_adam": bool(abs(100 * gap) <= 2.0),
            "settings": {
                "data": "scikit-learn digits, 8×8 images", "test_fraction": self.test_fraction,
                "epochs": self.epochs, "batch_size": self.batch_size, "seeds": list(self.seeds),
                "channels": list(self.channels), "fal": self.fal, "adam_lr": self.adam_lr, "sgd": self.sgd,
            },
        }
        metrics["summary"] = (
            f"mean test accuracy over {len(self.seeds)} seeds: "
            + ", ".join(f"{n} {p['mean_final_test_accuracy']:.2%}" for n, p in per.items())
            + f"; FAL − Adam = {-100 * gap:+.2f} points"
        )
        return metrics

    def _figures(self, out: RunDirectory, curves) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = np.arange(self.epochs + 1)
        for key, label, fname in (("test_accuracy", "test accuracy", "accuracy.png"),
                                  ("train_loss", "training loss (cross-entropy)", "loss.png")):
            fig, ax = plt.subplots(figsize=(7, 4))
            for name, c in curves.items():
                arr = np.array(c[key])
                line, = ax.plot(epochs, arr.mean(0), lw=2, label=f"{name} (mean of {len(arr)} seeds)")
                ax.fill_between(epochs, arr.min(0), arr.max(0), color=line.get_color(), alpha=0.2)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            if key == "test_accuracy":
                ax.set_ylim(max(0.0, min(np.array(c[key])[:, 2:].min() for c in curves.values()) - 0.05), 1.0)
            else:
                ax.set_yscale("log")
            ax.set_title(f"digits CNN: {label}, FAL vs Adam vs SGD (band: min–max over seeds)", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
            out.save_figure(fname, fig)

    def _report(self, m: dict[str, Any]) -> str:
        s = m["settings"]
        lines = [f"# {self.scenario.title}", "", *_description(self.scenario)]
        lines += [
            f"Small CNN (conv {s['channels'][0]} → conv {s['channels'][1]} → linear 10) on scikit-learn digits "
            f"(8×8 images, {s['test_fraction']:.0%} held out), batch {s['batch_size']}, {s['epochs']} epochs, "
            f"seeds {s['seeds']}. FAL: lr {s['fal']['lr']:g}, β_m {s['fal']['beta_m']:g}, β_v {s['fal']['beta_v']:g}, "
            f"bias correction {'on' if s['fal']['bias_correction'] else 'off'} (000 §6.1). Adam: lr {s['adam_lr']:g}, "
            f"torch defaults otherwise. SGD: lr {s['sgd']['lr']:g}, momentum {s['sgd']['momentum']:g}.",
            "",
        ]
        rows = [
            [n, f"{p['mean_final_test_accuracy']:.2%}", f"{p['std_final_test_accuracy']:.2%}",
             ", ".join(f"{v:.2%}" for v in p["final_test_accuracy"].values()), f"{p['seconds_per_seed']:.1f}"]
            for n, p in m["optimizers"].items()
        ]
        lines += markdown_table(["optimizer", "mean test accuracy", "std", "per seed", "s per seed"], rows) + [""]
        lines += [
            f"FAL − Adam: {-m['fal_gap_to_adam_points']:+.2f} points "
            f"({'within' if m['fal_within_2_points_of_adam'] else 'NOT within'} 2 points).",
            "", "![test accuracy](accuracy.png)", "", "![training loss](loss.png)", "",
            "`metrics.json` holds the per-epoch mean curves. No circuit is simulated in this scenario; the FAL "
            "filter as a circuit is in the `momentum_filter` scenario.",
        ]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# momentum_filter
# --------------------------------------------------------------------------------------------------


@dataclass
class MomentumFilterExperiment(ExperimentBase):
    """The weight filters in ngspice, driven by a recorded update sequence, against their twins."""

    kind = "momentum_filter"
    scenario: Scenario
    steps: int
    channels: int
    seed: int
    dt_s: float
    rc: dict[str, Any]
    cascade: dict[str, Any]
    fal: dict[str, Any]
    equivalence: dict[str, Any]
    tolerance: float
    plot: PlotOptions = PlotOptions()

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "MomentumFilterExperiment":
        from ..blocks.filters import FALIntegrator, RCCascade
        from ..blocks.integrator import RCLowPass

        cfg = Table(scenario.config, scenario.name)
        cfg.reject_unknown({"kind", "title", "description", "drive", "timing", "rc", "cascade", "fal", "equivalence",
                            "compare", "plot"})
        drive = cfg.table("drive", {"steps", "channels", "seed"})
        steps = drive.integer("steps", 200, low=2)
        channels = drive.integer("channels", 3, low=1)
        if steps * channels > 20000:
            raise ConfigError(f"{drive.where}: steps × channels must be ≤ 20000 (PWL sources), got {steps * channels}")
        dt = cfg.table("timing", {"dt_s"}).number("dt_s", 1e-6, positive=True, unit="s")
        # time constants, gains and floors are judged by the blocks themselves (RCLowPass etc. below)
        rc_t = cfg.table("rc", {"tau_s", "gamma", "leak"})
        rc = {"tau_s": rc_t.number("tau_s", 20 * dt, unit="s"), "gamma": rc_t.number("gamma", 1.0),
              "leak": rc_t.boolean("leak", True)}
        c_t = cfg.table("cascade", {"beta_m", "tau_s", "gamma", "leak"})
        cascade = {"beta_m": _beta(c_t, "beta_m", 0.9), "tau_s": c_t.number("tau_s", 20 * dt, unit="s"),
                   "gamma": c_t.number("gamma", 1.0), "leak": c_t.boolean("leak", True)}
        f_t = cfg.table("fal", {"beta_m", "beta_v", "tau_s", "gamma", "leak", "s_floor_v"})
        fal = {"beta_m": _beta(f_t, "beta_m", 0.9), "beta_v": _beta(f_t, "beta_v", 0.9),
               "tau_s": f_t.number("tau_s", 20 * dt, unit="s"), "gamma": f_t.number("gamma", 0.2),
               "leak": f_t.boolean("leak", True), "s_floor_v": f_t.number("s_floor_v", 1e-2, unit="V")}
        eq = cfg.table("equivalence", {"lr", "beta_m", "steps"})
        equivalence = {"lr": eq.number("lr", 0.3, positive=True), "beta_m": _beta(eq, "beta_m", 0.9),
                       "steps": eq.integer("steps", 40, low=1)}
        tolerance = cfg.table("compare", {"tolerance"}).number("tolerance", 1e-3, positive=True)
        exp = cls(scenario, steps, channels, drive.seed("seed", 0), dt, rc, cascade, fal, equivalence, tolerance,
                  plot_options(cfg.table("plot")))
        # build the blocks once here so that bad circuit values fail before anything runs
        RCLowPass(**rc)
        RCCascade(**exp._cascade_block_kwargs())
        FALIntegrator(**exp._fal_block_kwargs())
        return exp

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Three PWL-driven filter banks in ngspice, plus the digits-CNN equivalence check."""
        cfg = scenario.config
        drive, eq = (cfg.get(k) if isinstance(cfg.get(k), dict) else {} for k in ("drive", "equivalence"))
        steps, channels = size_of(drive, "steps", 200), size_of(drive, "channels", 3)
        eq_steps = size_of(eq, "steps", 40)
        return SizeEstimate(f"{scenario.name}: {steps:.3g} steps × {channels:.3g} channels, {eq_steps:.3g} "
                            "equivalence steps", memory_bytes=8 * steps * channels * 40 + 2e8,
                            elements=30 * channels, time_points=20 * steps,
                            twin_macs=3 * CNN_MACS * 32 * (steps + 2 * eq_steps))

    def _tau_of(self, beta: float) -> float:
        """τ whose sampled pole is β: ``exp(−Δt/τ) = β`` (000 Eq. 22 with the exact pole)."""
        return -self.dt_s / math.log(beta)

    def _cascade_block_kwargs(self) -> dict[str, Any]:
        c = self.cascade
        return {"tau_m_s": self._tau_of(c["beta_m"]), "tau_s": c["tau_s"], "gamma": c["gamma"], "leak": c["leak"]}

    def _fal_block_kwargs(self) -> dict[str, Any]:
        f = self.fal
        return {"tau_m_s": self._tau_of(f["beta_m"]), "tau_v_s": self._tau_of(f["beta_v"]), "tau_s": f["tau_s"],
                "gamma": f["gamma"], "leak": f["leak"], "s_floor_v": f["s_floor_v"]}

    def _circuit(self, drive: np.ndarray):
        """The three filter banks driven by ``drive`` (the recorded update sequence)."""
        from ..blocks.filters import FALIntegrator, RCCascade
        from ..blocks.integrator import RCLowPass
        from ..circuits.filter_check import build_filter_check

        blocks = {"rc": RCLowPass(**self.rc), "casc": RCCascade(**self._cascade_block_kwargs()),
                  "fal": FALIntegrator(**self._fal_block_kwargs())}
        return build_filter_check(drive, dt_s=self.dt_s, filters=blocks, title=safe_title(self.scenario.title))

    def netlist(self) -> str:
        """The ``netlist.cir`` that ``run`` writes, without ngspice: records the update sequence (a short
        PyTorch training run) and builds the deck it drives."""
        drive = record_update_sequence(steps=self.steps, channels=self.channels, seed=self.seed)
        return self._circuit(drive).deck.format()

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        from ..circuits.filter_check import sample_times
        from ..reference.filters import cascade_samples, fal_samples, rc_lowpass_samples
        from ..spice import NgspiceRunner

        timings: dict[str, float] = {}
        progress.stage("recording updates")
        t0 = time.perf_counter()
        runner = runner or NgspiceRunner()
        drive = record_update_sequence(steps=self.steps, channels=self.channels, seed=self.seed,
                                       check=lambda: check_deadline(runner, "recording the update sequence"))
        timings["record_s"] = time.perf_counter() - t0

        progress.stage("netlist")
        circuit = self._circuit(drive)
        progress.stage("ngspice")
        result = runner.run(circuit.deck, run_dir=out.file("spice"), progress=progress.update)
        (out.path / "spice" / "netlist.cir").replace(out.file("netlist.cir"))
        timings["spice_s"] = result.elapsed_s
        waves = result.analysis("tran")

        progress.stage("digital twins")
        check_deadline(runner, "stepping the filters' twins")
        t0 = time.perf_counter()
        twins = {
            "rc": {"w": rc_lowpass_samples(drive, dt_s=self.dt_s, **self.rc)},
            "casc": cascade_samples(drive, dt_s=self.dt_s, **self._cascade_block_kwargs()),
            "fal": fal_samples(drive, dt_s=self.dt_s, **self._fal_block_kwargs()),
        }
        timings["twin_s"] = time.perf_counter() - t0
        at = sample_times(self.steps, self.dt_s)
        compared: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for f, states in twins.items():
            compared[f] = {}
            for role, ref in states.items():
                spice = waves.sample([circuit.probes[f"{f}/{c}/{role}"] for c in range(self.channels)], at[1:])
                compared[f][role] = {"spice": spice, "twin": ref[1:]}

        progress.stage("SGD equivalence")
        t0 = time.perf_counter()
        equivalence = sgd_momentum_deviation(**self.equivalence, seed=self.seed,
                                             check=lambda: check_deadline(runner, "checking the SGD equivalence"))
        timings["equivalence_s"] = time.perf_counter() - t0

        progress.stage("plots and report")
        metrics = self._metrics(compared, equivalence, circuit, timings)
        self._figures(out, drive, compared)
        comparison = self.comparison(compared, at[1:])
        write_metrics(out, metrics, comparison, self.plot)
        write_report(out.file("report.md"), self._report(metrics) + "\n".join(comparison.report_section()) + "\n")
        return metrics

    def comparison(self, compared, times_s: np.ndarray) -> Comparison:
        """One group per filter bank at the sample instants t_k = k·Δt: every state of every channel,
        SPICE vs the filter's exact sampled map (which is also its ideal mathematics)."""
        names = {"rc": "RC low-pass (Eq. 10)", "casc": "RC cascade (Eq. 22)", "fal": "FAL (§6.1)"}
        groups = []
        for f, roles in compared.items():
            signals = tuple(Signal(f"{role}[{c}]", pair["spice"][:, c], pair["twin"][:, c])
                            for role, pair in roles.items() for c in range(self.channels))
            groups.append(Group(names.get(f, f), "time", "s", times_s, "V", signals,
                                twin="the filter's exact map under a held input, sampled at t_k = k·Δt",
                                iteration=np.arange(1, len(times_s) + 1)))
        return Comparison(tuple(groups), TwinValidity(
            True, "the twins are the filters' exact solutions under a held drive (matrix exponential; FAL's weight "
                  "stage by Gauss–Legendre quadrature, far below 1e-6 of the signal for Δt ≤ τ_m): valid while the "
                  "PWL ramps stay short against Δt"))

    def _metrics(self, compared, equivalence, circuit, timings) -> dict[str, Any]:
        errors = {}
        for f, roles in compared.items():
            errors[f] = {}
            for role, pair in roles.items():
                scale = np.abs(pair["twin"]).max(axis=0)
                rel = np.abs(pair["spice"] - pair["twin"]) / np.where(scale > 0, scale, 1.0)
                errors[f][role] = float(rel.max())
        worst = max(v for roles in errors.values() for v in roles.values())
        metrics = {
            "scenario": self.scenario.name,
            "kind": self.kind,
            "title": self.scenario.title,
            "max_relative_error": errors,
            "worst_relative_error": worst,
            "tolerance": self.tolerance,
            "within_tolerance": bool(worst <= self.tolerance),
            "sgd_momentum_equivalence": equivalence | self.equivalence,
            "circuit": {"element_count": circuit.element_count, "steps": self.steps, "channels": self.channels,
                        "dt_s": self.dt_s, "rc": self.rc, "cascade": self._cascade_block_kwargs(),
                        "fal": self._fal_block_kwargs()},
            "time": timings,
        }
        metrics["summary"] = (
            f"worst SPICE-vs-twin error {worst:.2e} of range over {self.steps} samples × {self.channels} channels "
            f"({'within' if metrics['within_tolerance'] else 'OUTSIDE'} {self.tolerance:g}); cascade vs SGD momentum "
            f"max |Δw| {equivalence['max_abs_weight_difference']:.1e}"
        )
        return metrics

    def _figures(self, out: RunDirectory, drive: np.ndarray, compared) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = np.arange(1, self.steps + 1)
        fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
        axes[0].step(np.arange(self.steps), drive[:, 0], where="post", color="0.4", lw=1)
        axes[0].set_ylabel("w' (V)")
        axes[0].set_title("channel 0: recorded update sequence and filter states, ngspice (lines) vs twin (dots)",
                          fontsize=10)
        panels = [("rc", ["w"], "RC low-pass (Eq. 10)"), ("casc", ["m", "w"], "RC cascade (Eq. 22)"),
                  ("fal", ["m", "s", "w"], "FAL (§6.1)")]
        for ax, (f, roles, label) in zip(axes[1:], panels):
            for role in roles:
                pair = compared[f][role]
                line, = ax.plot(k, pair["spice"][:, 0], lw=1.5, label=f"{role} ngspice")
                ax.plot(k[::4], pair["twin"][::4, 0], ".", ms=3, color=line.get_color(), label=f"{role} twin")
            ax.set_ylabel(f"{label}\n(V)", fontsize=8)
            ax.legend(fontsize=7, ncol=len(roles) * 2)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel("sample k (t = k·Δt)")
        out.save_figure("filters.png", fig)

        fig, ax = plt.subplots(figsize=(7, 4))
        for f, roles in compared.items():
            for role, pair in roles.items():
                scale = np.abs(pair["twin"]).max(axis=0)
                rel = (np.abs(pair["spice"] - pair["twin"]) / scale).max(axis=1)
                ax.semilogy(k, np.maximum(rel, 1e-12), lw=1, label=f"{f}.{role}")
        ax.axhline(self.tolerance, color="k", ls="--", lw=1, label="tolerance")
        ax.set_xlabel("sample k")
        ax.set_ylabel("|SPICE − twin| / signal range (worst channel)")
        ax.set_title("SPICE vs discrete twin at every sample point", fontsize=10)
        ax.legend(fontsize=7, ncol=3)
        ax.grid(alpha=0.3, which="both")
        out.save_figure("errors.png", fig)

    def _report(self, m: dict[str, Any]) -> str:
        c = m["circuit"]
        lines = [f"# {self.scenario.title}", "", *_description(self.scenario)]
        lines += [
            f"Drive: w' = −∇L of {c['channels']} weights of a softmax classifier on digits, recorded over "
            f"{c['steps']} mini-batch SGD updates, scaled to 1 V peak, held for Δt = {c['dt_s']:g} s each (PWL). "
            f"Circuit: {c['element_count']} elements (FAL's squarer, square root and divider are behavioral).",
            "",
            "## SPICE vs twin, every sample point",
            "",
        ]
        rows = [[f, role, f"{err:.2e}"] for f, roles in m["max_relative_error"].items() for role, err in roles.items()]
        lines += markdown_table(["filter", "state", "max abs(SPICE − twin) / range"], rows) + [""]
        lines += [f"Worst: {m['worst_relative_error']:.2e} (tolerance {m['tolerance']:g}: "
                  f"{'met' if m['within_tolerance'] else 'NOT met'}).", ""]
        e = m["sgd_momentum_equivalence"]
        lines += [
            "## Cascade momentum = SGD momentum",
            "",
            f"CascadeMomentum(lr={e['lr']:g}, β_m={e['beta_m']:g}, leak=0) vs SGD(lr={e['lr'] * (1 - e['beta_m']):g}, "
            f"momentum={e['beta_m']:g}, dampening=0) on the digits CNN ({e['parameters']} parameters, {e['steps']} steps): "
            f"max |Δw| = {e['max_abs_weight_difference']:.2e} while weights moved up to {e['max_abs_weight_travel']:.3g}.",
            "",
            "![filters](filters.png)", "", "![errors](errors.png)", "",
            "Files: `netlist.cir` runs unchanged with `ngspice -b -r out.raw netlist.cir`; `metrics.json` holds the numbers.",
        ]
        t = m["time"]
        lines += ["", f"Timing: recording {t['record_s']:.2f} s, ngspice {t['spice_s']:.2f} s, twins {t['twin_s']:.2f} s, "
                  f"equivalence {t['equivalence_s']:.2f} s."]
        return "\n".join(lines) + "\n"
