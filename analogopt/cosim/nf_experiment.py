"""Scenario kind ``nf_single``: the single-layer negative-feedback optimizer, analog vs digital.

Scenario tables (documented in docs/scenarios.md): ``[data]`` (source = staircase | noisy_relu |
breast_cancer), ``[network]`` (activation, gain, slope, error_gain, power), ``[loop]`` (forward_gain,
gamma, tau_s, eta, iterations, leak, w0 | init_seed + init_scale), ``[compare]`` (also_error_gains,
least_squares).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import plots
from ..data.synthetic import noisy_relu_set, staircase_set
from ..data.tabular import load_tabular
from ..errors import ConfigError
from ..problems import ERROR_GAINS, ActivationSpec, NFSingleLayerProblem
from ..progress import Progress
from ..reference.activations import sigma
from ..report import markdown_table, write_report
from ..results import RunDirectory
from ..spice.runner import Runner
from ..scenarios import Scenario, reject_unknown, section
from ..units import parse_si
from .nf_single import CoSimResult, cosimulate

_DATA_KEYS = {
    "staircase": {"source", "w", "b", "x_min", "x_max", "samples"},
    "noisy_relu": {"source", "w", "b", "x_min", "x_max", "samples", "noise_std", "seed"},
    "breast_cancer": {"source", "test_fraction", "seed"},
}


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray  # (m, n) with the bias column last
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    raw_x: np.ndarray | None = None  # the 1-D input, for fit plots
    truth: dict[str, float] | None = None


def _number(table: dict, key: str, default: Any, where: str) -> float:
    return parse_si(table.get(key, default), f"{where}.{key}")


def load_dataset(table: dict[str, Any], where: str) -> Dataset:
    source = table.get("source")
    if source not in _DATA_KEYS:
        raise ConfigError(f"{where}.source: unknown data source {source!r}; choose one of {', '.join(_DATA_KEYS)}")
    reject_unknown(table, _DATA_KEYS[source], where)
    num = lambda k, d: _number(table, k, d, where)  # noqa: E731
    if source == "staircase":
        w, b = num("w", 1.0), num("b", -1.0)
        x, y = staircase_set(w=w, b=b, x_min=num("x_min", -2), x_max=num("x_max", 4), samples=int(num("samples", 61)))
        return Dataset(np.stack([x, np.ones_like(x)], 1), y, raw_x=x, truth={"w": w, "b": b})
    if source == "noisy_relu":
        w, b = num("w", 1.5), num("b", -0.5)
        x, y = noisy_relu_set(
            w=w, b=b, noise_std=num("noise_std", 0.1), x_min=num("x_min", -2), x_max=num("x_max", 2),
            samples=int(num("samples", 60)), seed=int(num("seed", 0)),
        )
        return Dataset(np.stack([x, np.ones_like(x)], 1), y, raw_x=x, truth={"w": w, "b": b})
    split = load_tabular("breast_cancer", test_fraction=num("test_fraction", 0.3), seed=int(num("seed", 0)))
    ones = lambda a: np.concatenate([a, np.ones((a.shape[0], 1))], 1)  # noqa: E731
    # Labels as ±1 targets for a tanh output (000 §4.3).
    return Dataset(ones(split.x_train), 2.0 * split.y_train - 1, ones(split.x_test), 2.0 * split.y_test - 1)


@dataclass
class NFSingleExperiment:
    kind = "nf_single"
    scenario: Scenario
    data: Dataset
    problem: NFSingleLayerProblem
    also_error_gains: tuple[str, ...]
    least_squares: bool

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "NFSingleExperiment":
        cfg = scenario.config
        where = scenario.name
        reject_unknown(cfg, {"kind", "title", "description", "data", "network", "loop", "compare"}, where)
        data = load_dataset(section(cfg, "data", where), f"{where}.data")
        net = section(cfg, "network", where)
        reject_unknown(net, {"activation", "gain", "slope", "error_gain", "power"}, f"{where}.network")
        loop = section(cfg, "loop", where)
        reject_unknown(
            loop, {"forward_gain", "gamma", "tau_s", "eta", "iterations", "leak", "w0", "init_seed", "init_scale",
                   "integrator", "tau_m_s"},
            f"{where}.loop",
        )
        comp = section(cfg, "compare", where)
        reject_unknown(comp, {"also_error_gains", "least_squares"}, f"{where}.compare")
        n = data.x_train.shape[1]
        if "w0" in loop:
            w0 = np.array([parse_si(v, f"{where}.loop.w0") for v in np.atleast_1d(loop["w0"])], dtype=float)
        else:
            rng = np.random.default_rng(int(loop.get("init_seed", 0)))
            w0 = parse_si(loop.get("init_scale", 0.1), f"{where}.loop.init_scale") * rng.standard_normal(n)
        names = ("w", "b") if n == 2 and data.raw_x is not None else tuple(f"w{i}" for i in range(n))
        activation = ActivationSpec(
            str(net.get("activation", "identity")),
            gain=parse_si(net.get("gain", 50.0), f"{where}.network.gain"),
            slope=parse_si(net.get("slope", 0.01), f"{where}.network.slope"),
        )
        leak = loop.get("leak", True)
        if not isinstance(leak, bool):
            raise ConfigError(f"{where}.loop.leak must be true or false, got {leak!r}")
        problem = NFSingleLayerProblem(
            x=data.x_train, y=data.y_train, activation=activation,
            error_gain=str(net.get("error_gain", "x")), power=int(net.get("power", 1)),
            forward_gain=parse_si(loop.get("forward_gain", 1.0), f"{where}.loop.forward_gain"),
            gamma=parse_si(loop.get("gamma", 1.0), f"{where}.loop.gamma"),
            tau_s=parse_si(loop.get("tau_s", 1e-3), f"{where}.loop.tau_s"),
            eta=parse_si(loop.get("eta", 1e-2), f"{where}.loop.eta"),
            iterations=int(parse_si(loop.get("iterations", 1000), f"{where}.loop.iterations")),
            leak=leak, w0=w0, weight_names=names, integrator=str(loop.get("integrator", "rc")),
            tau_m_s=parse_si(loop["tau_m_s"], f"{where}.loop.tau_m_s") if "tau_m_s" in loop else None,
        )
        also = tuple(str(g) for g in comp.get("also_error_gains", []))
        for g in also:
            if g not in ERROR_GAINS:
                raise ConfigError(f"{where}.compare.also_error_gains: unknown error gain {g!r}; choose from {', '.join(ERROR_GAINS)}")
        least_squares = bool(comp.get("least_squares", False))
        if least_squares and data.raw_x is None:
            raise ConfigError(f"{where}.compare.least_squares needs a one-input regression data set")
        return cls(scenario, data, problem, also, least_squares)

    # -- running -------------------------------------------------------------------------------
    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        title = self.scenario.title
        main = cosimulate(self.problem, runner=runner, run_dir=out.file("spice"), progress=progress,
                          title=_safe_title(title))
        (out.path / "spice" / "netlist.cir").replace(out.file("netlist.cir"))
        variants: dict[str, CoSimResult] = {self.problem.error_gain: main}
        for gain in self.also_error_gains:
            variant = dataclasses.replace(self.problem, error_gain=gain)
            variants[gain] = cosimulate(variant, runner=runner, run_dir=out.file(f"spice_{gain}"), progress=progress,
                                        baseline=False, title=_safe_title(title))
            (out.path / f"spice_{gain}" / "netlist.cir").replace(out.file(f"netlist_{gain}.cir"))
        progress.stage("plots and report")
        metrics = self._metrics(main, variants)
        self._figures(out, main, variants, metrics)
        out.write_json("metrics.json", metrics)
        write_report(out.file("report.md"), self._report(main, variants, metrics))
        return metrics

    def _metrics(self, main: CoSimResult, variants: dict[str, CoSimResult]) -> dict[str, Any]:
        p = self.problem
        named = lambda w: {n: float(v) for n, v in zip(p.weight_names, w)}  # noqa: E731
        metrics: dict[str, Any] = {
            "scenario": self.scenario.name,
            "kind": self.kind,
            "title": self.scenario.title,
            "analog": {"final_weights": named(main.analog.final_weights), "final_loss": main.analog.final_loss},
            "digital": {"final_weights": named(main.digital.final_weights), "final_loss": main.digital.final_loss},
            "max_abs_deviation": main.max_abs_deviation,
            "trajectory_deviation": main.trajectory_deviation,
            "probes": dict(main.circuit.probes),
            "time": {k: v for k, v in main.timings.items()},
            "circuit": {
                "element_count": main.circuit.element_count,
                "samples": p.n_samples,
                "weights": p.n_weights,
                "duration_s": p.duration_s,
                "dt_s": p.dt_s,
                "activation": p.activation.name,
                "comparator_gain": p.activation.gain,
                "error_gain": p.error_gain,
                "forward_gain": p.forward_gain,
                "gamma": p.gamma,
                "tau_s": p.tau_s,
                "eta": p.eta,
                "leak": p.leak,
                "integrator": p.integrator,
                "tau_m_s": p.tau_m_s,
                "iterations": p.iterations,
            },
        }
        if main.baseline is not None:
            metrics["baseline_gd"] = {
                "initial_loss": float(main.baseline.loss[0]),
                "final_loss": main.baseline.final_loss,
                "final_weights": named(main.baseline.final_weights),
                "note": "full-batch gradient descent through the textbook activation's derivative, lr = η·γ·A·m/2",
            }
        if len(variants) > 1:
            metrics["variants"] = {
                g: {
                    "analog": {"final_weights": named(r.analog.final_weights), "final_loss": r.analog.final_loss},
                    "digital": {"final_weights": named(r.digital.final_weights), "final_loss": r.digital.final_loss},
                    "max_abs_deviation": r.max_abs_deviation,
                    "trajectory_deviation": r.trajectory_deviation,
                }
                for g, r in variants.items()
            }
        if self.least_squares:
            fit = least_squares_fit(self.data.raw_x, self.data.y_train, p.activation.name, p.w0)
            metrics["least_squares"] = {
                "weights": named(fit),
                "relative_slope_error": {
                    g: float(abs(r.analog.final_weights[0] - fit[0]) / abs(fit[0])) for g, r in variants.items()
                },
                "method": "scipy.optimize.least_squares on the textbook activation",
            }
        if self.data.x_test is not None:
            metrics["classification"] = self._classification(main)
        metrics["summary"] = self._summary(metrics)
        return metrics

    def _classification(self, main: CoSimResult) -> dict[str, float]:
        xt, yt = self.data.x_test, self.data.y_test
        z_a, z_d = xt @ main.analog.final_weights, xt @ main.digital.final_weights
        pa, pd = np.where(z_a >= 0, 1.0, -1.0), np.where(z_d >= 0, 1.0, -1.0)
        return {
            "analog_test_accuracy": float(np.mean(pa == yt)),
            "digital_test_accuracy": float(np.mean(pd == yt)),
            "prediction_agreement": float(np.mean(pa == pd)),
            "test_samples": int(len(yt)),
        }

    @staticmethod
    def _summary(m: dict[str, Any]) -> str:
        parts = [
            f"analog loss {m['analog']['final_loss']:.3g}",
            f"digital loss {m['digital']['final_loss']:.3g}",
            f"max |Δw| {m['max_abs_deviation']:.2e}",
        ]
        if "classification" in m:
            parts.append(f"test accuracy {m['classification']['analog_test_accuracy']:.1%}")
        return ", ".join(parts)

    def _figures(self, out: RunDirectory, main: CoSimResult, variants, metrics) -> None:
        p = self.problem
        out.save_figure("weights.png", plots.weight_trajectories(main))
        curves = {
            f"analog, u = {g}": (r.analog.iteration, r.analog.loss) for g, r in variants.items()
        }
        curves[f"digital twin, u = {p.error_gain}"] = (main.digital.iteration, main.digital.loss)
        if main.baseline is not None:
            curves["gradient descent (SGD baseline)"] = (main.baseline.iteration, main.baseline.loss)
        out.save_figure("loss.png", plots.loss_curves(curves, f"{self.scenario.title}: loss"))
        if self.data.raw_x is not None:
            xs = np.linspace(self.data.raw_x.min(), self.data.raw_x.max(), 400)
            grid = np.stack([xs, np.ones_like(xs)], 1)
            act = lambda w: sigma(p.activation, torch.as_tensor(grid @ w)).numpy()  # noqa: E731
            fits = {f"analog fit, u = {g}": (xs, act(r.analog.final_weights)) for g, r in variants.items()}
            fits["digital twin fit"] = (xs, act(main.digital.final_weights))
            if "least_squares" in metrics:
                w_ls = np.array(list(metrics["least_squares"]["weights"].values()))
                fits["least-squares fit (scipy)"] = (xs, act(w_ls))
            out.save_figure("fit.png", plots.fit_1d(self.data.raw_x, self.data.y_train, fits, "fitted function vs data"))
        else:
            xt = self.data.x_test
            out.save_figure("fit.png", plots.prediction_scatter(
                xt @ main.analog.final_weights, xt @ main.digital.final_weights, self.data.y_test,
                "held-out predictions, analog vs digital"))

    def _report(self, main: CoSimResult, variants, m: dict[str, Any]) -> str:
        p = self.problem
        lines = [f"# {self.scenario.title}", ""]
        if self.scenario.config.get("description"):
            lines += [str(self.scenario.config["description"]).strip(), ""]
        lines += [
            f"Circuit: {p.n_weights} weights, {p.n_samples} training samples, {main.circuit.element_count} elements; "
            f"activation {p.activation.name} (comparator gain {p.activation.gain:g} V/V); error gain u = {p.error_gain}; "
            f"A = {p.forward_gain:g}, γ = {p.gamma:g}, τ = {p.tau_s:g} s, leak {'on' if p.leak else 'off'}; "
            f"integrator: {main.circuit.notes['integrator']}. "
            f"Twin: Eq. 10 with η = {p.eta:g} ({p.iterations} iterations = {p.duration_s:g} s of analog time).",
            "",
            "## Final weights",
            "",
        ]
        rows = [[n, f"{a:.6g}", f"{d:.6g}", f"{abs(a - d):.2e}"] for n, a, d in
                zip(p.weight_names, main.analog.final_weights, main.digital.final_weights)]
        lines += markdown_table(["weight", "analog (ngspice)", "digital twin", "|Δ|"], rows[:40]) + [""]
        lines += [
            f"Final loss: analog {m['analog']['final_loss']:.4g}, digital {m['digital']['final_loss']:.4g}"
            + (f", gradient descent {m['baseline_gd']['final_loss']:.4g} (from {m['baseline_gd']['initial_loss']:.4g})"
               if "baseline_gd" in m else "") + ".",
            f"Largest trajectory deviation: {main.trajectory_deviation:.3%} of the weights' range; "
            f"final weights differ by at most {main.max_abs_deviation:.2e}.",
            "",
        ]
        if "variants" in m:
            lines += ["## Error gains compared", ""]
            rows = [[g, f"{v['analog']['final_loss']:.4g}",
                     ", ".join(f"{k} = {x:.4g}" for k, x in v["analog"]["final_weights"].items())]
                    for g, v in m["variants"].items()]
            lines += markdown_table(["u", "analog loss", "analog weights"], rows) + [""]
        if "least_squares" in m:
            ls = m["least_squares"]
            lines += ["Least-squares fit (scipy): " + ", ".join(f"{k} = {v:.4g}" for k, v in ls["weights"].items()),
                      "Relative slope error vs least squares: "
                      + ", ".join(f"u = {g}: {e:.2%}" for g, e in ls["relative_slope_error"].items()), ""]
        if "classification" in m:
            c = m["classification"]
            lines += [f"Held-out test set ({c['test_samples']} samples): analog accuracy {c['analog_test_accuracy']:.2%}, "
                      f"digital {c['digital_test_accuracy']:.2%}, predictions agree on {c['prediction_agreement']:.2%}.", ""]
        t = m["time"]
        lines += [
            "## Timing", "",
            f"netlist {t['netlist_s']:.3f} s, ngspice {t['spice_s']:.3f} s, twin {t['twin_s']:.3f} s.", "",
            "## Figures", "", "![weights](weights.png)", "", "![loss](loss.png)", "", "![fit](fit.png)", "",
            "Files: `netlist.cir` runs unchanged with `ngspice -b -r out.raw netlist.cir`; `metrics.json` holds the numbers.",
        ]
        return "\n".join(lines) + "\n"


def least_squares_fit(x: np.ndarray, y: np.ndarray, activation: str, w0: np.ndarray) -> np.ndarray:
    """Weights (w, b) minimizing Σ(y − σ(w·x + b))² for the textbook activation, by scipy."""
    from scipy.optimize import least_squares

    from ..reference.activations import sigma_ideal

    def residual(wb):
        z = torch.as_tensor(wb[0] * x + wb[1])
        return sigma_ideal(activation, z).numpy() - y

    start = np.where(np.abs(w0) > 1e-3, w0, 0.5)
    return least_squares(residual, start, xtol=1e-12, ftol=1e-12, gtol=1e-12).x


def _safe_title(title: str) -> str:
    return "".join(ch if ch.isalnum() or ch in " .,:;=+-()/" else " " for ch in title)[:120]
