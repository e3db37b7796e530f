"""Scenario kind ``multilayer``: an L-layer network trained in ngspice by NF, BP, FA, DFA or mDFA, beside
the rule library's twin (000 §4.4, Fig. 5; 001 §3; 004 §3; docs/multilayer.md).

A scenario names the data (``xor``, ``iris``, ``breast_cancer``, ``digits16``), the hidden layers, the rule
and the presentation mode; the run writes ``netlist.cir`` (and ``samples.txt`` online), the comparison's
``trajectories.parquet`` and one figure per layer, ``loss.png``, ``metrics.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..cosim import multilayer as cosim
from ..cosim.comparison import PlotOptions, plot_options, write_metrics
from ..data.tabular import load_tabular
from ..errors import ConfigError
from ..limits import SizeEstimate
from ..problems import (HIDDEN_ACTIVATIONS, MULTILAYER_RULES, OUTPUT_ACTIVATIONS, PRESENTATION_MODES, ActivationSpec,
                        MultiLayerProblem)
from ..progress import Progress
from ..report import markdown_table, write_report
from ..results import RunDirectory
from ..scenarios import Scenario
from ..spice import NgspiceRunner, Runner
from ..values import Table
from .base import ExperimentBase, Variation, flatten_scalars, safe_title

SOURCES = ("xor", "iris", "breast_cancer", "digits16")
#: Smoothing of leaky ReLU's knee in the circuit, ε = 1/gain V (the rule library's is exact).
LEAKY_GAIN = 1e4


@dataclass(frozen=True)
class ClassificationSet:
    """Inputs, integer labels and the targets the circuit is driven towards (one-hot for ≥ 3 classes; one
    output at ±1, or 0/1 for a sigmoid output, for two); ``threshold`` splits a single output's classes."""

    x_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray
    classes: int
    threshold: float

    def targets(self, labels: np.ndarray, output: str) -> np.ndarray:
        if self.classes > 2:
            return np.eye(self.classes)[labels]
        low = 0.0 if output == "sigmoid" else -1.0
        return np.where(labels[:, None] == 1, 1.0, low)


#: Inputs are rounded to this many decimals (1 µV at 1 V per unit): a DAC resolves far less, and the online
#: mode's sample files stay short. Circuit and twin read the same rounded values.
INPUT_DECIMALS = 6


def load_classification(table: Table, output: str) -> ClassificationSet:
    source = table.choice("source", "xor", SOURCES)
    table.reject_unknown({"source", "test_fraction", "seed", "train_samples"})
    threshold = 0.5 if output == "sigmoid" else 0.0
    if source == "xor":
        x = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
        labels = np.array([0, 1, 1, 0])
        return ClassificationSet(x, labels, x, labels, 2, threshold)
    split = load_tabular(source, test_fraction=table.number("test_fraction", 0.2, above=0, below=1),
                         seed=table.seed("seed", 0))
    keep = table.integer("train_samples", 0, low=0)
    x, labels = split.x_train, split.y_train
    if keep:
        if keep > len(x):
            raise ConfigError(f"{table.path('train_samples')}: {keep} exceeds the {len(x)} training samples of {source}")
        x, labels = x[:keep], labels[:keep]
    return ClassificationSet(np.round(x, INPUT_DECIMALS), labels, np.round(split.x_test, INPUT_DECIMALS), split.y_test,
                             len(split.class_names), threshold)


@dataclass
class MultiLayerExperiment(ExperimentBase):
    kind: ClassVar[str] = "multilayer"
    element_targets: ClassVar[dict[str, str]] = {
        "tau": "each weight integrator's time constant (every weight and bias of every layer)",
        "feedback": "each fixed feedback conductance (FA/DFA/mDFA)",
        "multiplier_offset": "every multiplier's input offset: sigma in V (not relative), drawn per sample",
    }
    block_titles: ClassVar[dict[str, str]] = {
        "x": "layer 1 data conductances: z1 = W1 x + b1 (batch: x fixed)",
        "z": "forward multipliers: z = W a + b (one behavioral cell per unit, 1 ohm load)",
        "h": "activation cells h = sigma(z)",
        "d": "error cells: the output difference through its window, hidden delta = j * sigma'(z)",
        "dz": "output difference of a linear output: z - y (unit transconductance, 1 ohm load)",
        "yd": "targets of a linear output (fixed currents)",
        "fb": "fixed random feedback crossbars (FA: per layer; DFA and mDFA: from the output error)",
        "gw": "layer 1 weight updates: -g <delta x> (batch: x fixed, conductances)",
        "gb": "bias updates: -g <delta> (conductances)",
        "g": "weight-update multipliers: -g <delta a> into each weight capacitor",
        "k": "mono-net clamps (super-diodes) on the weights of layers >= 2",
        "w": "weight integrator capacitors",
        "b": "bias integrator capacitors",
        "sw": "0 V sources sensing each weight integrator's input current",
        "sb": "0 V sources sensing each bias integrator's input current",
        "samples": "online: XSPICE file sources playing the presented samples (inputs, targets)",
        "clock": "online: a pulse source putting breakpoints on the sample boundaries",
    }
    scenario: Scenario
    data: ClassificationSet
    problem: MultiLayerProblem
    substeps: int
    plot: PlotOptions = PlotOptions()

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "MultiLayerExperiment":
        cfg = Table(scenario.config, scenario.name).reject_unknown(
            {"kind", "title", "description", "data", "network", "training", "twin", "circuit", "plot"})
        net = cfg.table("network", {"hidden", "activation", "output", "negative_slope", "init", "init_seed"})
        output = net.choice("output", "identity", OUTPUT_ACTIVATIONS)
        data = load_classification(cfg.table("data"), output)
        train = cfg.table("training", {"rule", "mode", "eta", "iterations", "epochs", "tau_s", "shuffle_seed"})
        rule = train.choice("rule", "nf", MULTILAYER_RULES)
        mode = train.choice("mode", "batch", PRESENTATION_MODES)
        hidden_sizes = net.integers("hidden", [4], min_len=1)
        if any(n < 1 for n in hidden_sizes):
            raise ConfigError(f"{net.path('hidden')}: every hidden layer needs ≥ 1 unit, got {hidden_sizes}")
        out_units = data.classes if data.classes > 2 else 1
        sizes = (data.x_train.shape[1], *hidden_sizes, out_units)
        act = net.choice("activation", "tanh", HIDDEN_ACTIVATIONS)
        slope = net.number("negative_slope", 0.01, above=0, below=1)
        from ..reference import multilayer as twin

        init = net.choice("init", "uniform_mono" if rule == "mdfa" else "xavier_normal",
                          ("xavier_normal", "uniform_mono", "abs_normal", "zeros"))
        torch_net = twin.make_net(sizes, act, output, negative_slope=slope, mono=rule == "mdfa", init=init,
                                  seed=net.seed("init_seed", 0))
        weights, biases = twin.net_weights(torch_net)
        y = data.targets(data.labels_train, output)
        feedback = twin.library_feedback(rule, torch_net, data.x_train, y, seed=net.seed("init_seed", 0))
        m = len(data.x_train)
        if mode == "batch":
            steps = train.integer("iterations", 200, low=1)
            order = None
        else:
            epochs = train.integer("epochs", 10, low=1)
            rng = np.random.default_rng(train.seed("shuffle_seed", 0))
            order = np.concatenate([rng.permutation(m) for _ in range(epochs)])
            steps = len(order)
        circuit = cfg.table("circuit", {"multiplier_range_v", "multiplier_offset_v", "multiplier_seed"})
        range_v = circuit.number("multiplier_range_v", 0.0, low=0, unit="V")
        problem = MultiLayerProblem(
            sizes=sizes, hidden=ActivationSpec(act, gain=LEAKY_GAIN, slope=slope), output=ActivationSpec(output), rule=rule,
            weights=weights, biases=biases, feedback=feedback, x=data.x_train, y=y, mode=mode,
            tau_s=train.number("tau_s", 1e-3, positive=True, unit="s"), eta=train.number("eta", 0.05, above=0, high=1),
            steps=steps, order=order, multiplier_range_v=range_v or None,
            multiplier_offset_v=circuit.number("multiplier_offset_v", 0.0, low=0, unit="V"),
            multiplier_seed=circuit.seed("multiplier_seed", 0))
        substeps = cfg.table("twin", {"substeps"}).integer("substeps", 4, low=1, high=256)
        return cls(scenario=scenario, data=data, problem=problem, substeps=substeps, plot=plot_options(cfg.table("plot")))

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Elements and time points from the scenario's sizes (before any data set is loaded)."""
        cfg = scenario.config
        tables = {k: cfg.get(k) if isinstance(cfg.get(k), dict) else {} for k in ("data", "network", "training")}
        inputs, samples, classes = {"xor": (2, 4, 1), "iris": (4, 120, 3), "breast_cancer": (30, 455, 1),
                                    "digits16": (16, 1437, 10)}.get(tables["data"].get("source", "xor"), (2, 4, 1))
        hidden = tables["network"].get("hidden", [4])
        # the raw values, before from_scenario judges them: anything but whole numbers is its error to name
        usable = isinstance(hidden, list) and all(isinstance(h, int) and not isinstance(h, bool) for h in hidden)
        sizes = [inputs, *(hidden if usable else [4]), classes]
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        online = tables["training"].get("mode") == "online"
        copies = 1 if online else samples
        elements = 3 * copies * weights + 4 * copies * sum(sizes[1:])
        epochs = tables["training"].get("epochs", 10) if online else 0
        epochs = epochs if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) else 10
        points = (8 * samples * epochs) if online else 400
        points = int(points) if isinstance(points, (int, float)) else 400
        return SizeEstimate(f"{scenario.name}: {'-'.join(map(str, sizes))}, {copies} copies", memory_bytes=400 * elements
                            + 8 * points * (weights + 2 * copies * sum(sizes[1:])) * 3, elements=elements,
                            time_points=points, twin_macs=12 * weights * samples * max(epochs, 1) * 200)

    def _circuit(self):
        from ..circuits.multilayer import build_multilayer

        return build_multilayer(self.problem, title=safe_title(self.scenario.title), sense=self.problem.mono)

    def netlist(self) -> str:
        return self._circuit().deck.format()

    def netlist_attachments(self) -> dict[str, str]:
        """The files :meth:`netlist` reads by name (online: the presented samples), for ``export``."""
        return dict(self._circuit().deck.attachments)

    # -------------------------------------------------------------------------------- running
    def _result(self, problem: MultiLayerProblem, runner: Runner, run_dir: Path) -> cosim.MultiLayerResult:
        return cosim.cosimulate_multilayer(problem, runner, run_dir, substeps=self.substeps, sense=problem.mono,
                                           title=safe_title(self.scenario.title))

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        runner = runner or NgspiceRunner(timeout_s=600)
        p = self.problem
        progress.stage(f"ngspice: {'-'.join(map(str, p.sizes))} {p.rule} {p.mode}")
        result = self._result(p, runner, out.file("spice"))
        (out.path / "spice" / "netlist.cir").replace(out.file("netlist.cir"))
        for name in result.circuit.deck.attachments:
            shutil.copyfile(out.path / "spice" / name, out.file(name))
        progress.stage("comparison, plots and report")
        comparison = cosim.comparison(result)
        metrics = self._metrics(result)
        out.save_figure("loss.png", self._loss_figure(result))
        metrics = write_metrics(out, metrics, comparison, self.plot)
        write_report(out.file("report.md"), self._report(result, metrics, comparison))
        return metrics

    def _accuracies(self, result: cosim.MultiLayerResult) -> dict[str, Any]:
        d, p = self.data, self.problem
        analog = cosim.unflatten(p, result.analog[-1])
        digital = cosim.unflatten(p, result.twin.flat()[-1])
        out = {
            "analog_train": cosim.accuracy(p, analog, d.x_train, d.labels_train, d.threshold),
            "analog_test": cosim.accuracy(p, analog, d.x_test, d.labels_test, d.threshold),
            "twin_train": cosim.accuracy(p, digital, d.x_train, d.labels_train, d.threshold),
            "twin_test": cosim.accuracy(p, digital, d.x_test, d.labels_test, d.threshold),
            "initial_test": cosim.accuracy(p, cosim.unflatten(p, result.analog[0]), d.x_test, d.labels_test, d.threshold),
        }
        own = cosim.circuit_output_accuracy(result, d.labels_train, d.threshold)
        if own is not None:
            out["circuit_outputs_train"] = own
        out["test_gap_points"] = abs(out["analog_test"] - out["twin_test"])
        return out

    def _metrics(self, result: cosim.MultiLayerResult) -> dict[str, Any]:
        p = self.problem
        acc = self._accuracies(result)
        ideal = result.ideal
        loss_analog = self._losses(result.analog)
        m: dict[str, Any] = {
            "kind": self.kind, "rule": p.rule, "mode": p.mode, "sizes": list(p.sizes), "samples": p.n_samples,
            "steps": p.steps, "eta": p.eta, "tau_s": p.tau_s, "step_time_s": p.step_time_s, "duration_s": p.duration_s,
            "equivalent_learning_rate": self._rate_text(),
            "elements": result.circuit.element_count, "time_points": int(len(result.wave.axis)),
            "accuracy_percent": acc,
            "loss": {"analog_initial": float(loss_analog[0]), "analog_final": float(loss_analog[-1]),
                     "twin_final": float(result.twin.loss[-1])},
            "final_weights": {"analog_vs_twin_max_abs_v": float(np.max(np.abs(result.analog[-1] - result.twin.flat()[-1]))),
                              "analog_vs_ideal_max_abs_v": float(np.max(np.abs(result.analog[-1] - ideal[-1])))},
            "dead_network": cosim.dead_network(result),
            "circuit_notes": dict(result.circuit.notes),
            "time": dict(result.timings),
        }
        gd = cosim.gradient_descent_deviation(result)
        if gd is not None:
            m["nf_vs_gradient_descent"] = gd
        signs = cosim.sign_check(result)
        if signs is not None:
            m["mdfa_sign_check"] = signs
        mono = cosim.mono_check(result)
        if mono is not None:
            m["mono_net"] = mono
        m["summary"] = (f"{p.rule} {p.mode} {'-'.join(map(str, p.sizes))}: test accuracy analog {acc['analog_test']:.1f} % "
                        f"vs twin {acc['twin_test']:.1f} %, {result.circuit.element_count} elements, "
                        f"ngspice {result.timings['spice_s']:.2f} s")
        return m

    def _losses(self, flat: np.ndarray) -> np.ndarray:
        from ..reference.multilayer import forward

        p = self.problem
        picks = [0, len(flat) - 1]
        return np.array([0.5 * np.mean(np.sum((forward(cosim.unflatten(p, flat[i]), p.x, p.hidden.name, p.output.name,
                                                       p.hidden.slope) - p.y) ** 2, 1)) for i in picks])

    def _rate_text(self) -> str:
        p = self.problem
        if p.mode == "batch":
            return (f"full-batch steps of eta = dt/tau = {p.eta:g} per {p.step_time_s:g} s (the circuit is their "
                    "continuous limit: equal while eta times the loss's largest curvature is small)")
        return (f"one per-sample step of eta = T/tau = {p.eta:g} per presentation of T = {p.step_time_s:g} s (exact while "
                "the weights move little within one presentation); an epoch equals full-batch steps of "
                f"{p.eta * p.n_samples:g} in the limit of small eta")

    def _loss_figure(self, result: cosim.MultiLayerResult):
        from matplotlib.figure import Figure

        from ..reference.multilayer import forward

        p = self.problem
        picks = np.unique(np.linspace(0, len(result.analog) - 1, min(200, len(result.analog))).astype(int))
        loss = [0.5 * np.mean(np.sum((forward(cosim.unflatten(p, result.analog[i]), p.x, p.hidden.name, p.output.name,
                                              p.hidden.slope) - p.y) ** 2, 1)) for i in picks]
        fig = Figure(figsize=(7, 4.5))
        ax, diff = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        t = result.twin.time_s[picks] * 1e3
        ax.semilogy(t, loss, label="analog (ngspice weights)")
        ax.semilogy(t, result.twin.loss[picks], "--", label="digital twin")
        ax.set_ylabel("training loss ½‖a − y‖² (mean)")
        ax.set_title(f"{p.rule} {p.mode}, {'-'.join(map(str, p.sizes))}")
        ax.legend()
        diff.plot(t, np.array(loss) - result.twin.loss[picks])
        diff.set_ylabel("analog − twin")
        diff.set_xlabel("time (ms)")
        fig.tight_layout()
        return fig

    def _report(self, result: cosim.MultiLayerResult, m: dict[str, Any], comparison) -> str:
        p, acc = self.problem, m["accuracy_percent"]
        lines = [f"# {self.scenario.title}", "", m["summary"] + ".", "",
                 f"- network {'-'.join(map(str, p.sizes))}, hidden {p.hidden.name}, output {p.output.name}; rule `{p.rule}` "
                 f"({result.circuit.notes['backward path']}); {p.n_samples} training samples",
                 f"- presentation: {result.circuit.notes['presentation']}; equivalent learning rate: {m['equivalent_learning_rate']}",
                 f"- multipliers: {result.circuit.notes['multipliers']}; integrators: {result.circuit.notes['integrators']}",
                 f"- {m['elements']} elements, {m['time_points']} time points; netlist {m['time']['netlist_s']:.2f} s, "
                 f"ngspice {m['time']['spice_s']:.2f} s, twin {m['time']['twin_s']:.2f} s", "",
                 "## Accuracy (percent)", ""]
        rows = [["analog (circuit's final weights)", f"{acc['analog_train']:.1f}", f"{acc['analog_test']:.1f}"],
                ["digital twin", f"{acc['twin_train']:.1f}", f"{acc['twin_test']:.1f}"],
                ["before training", "", f"{acc['initial_test']:.1f}"]]
        if "circuit_outputs_train" in acc:
            rows.insert(1, ["circuit's own output nodes", f"{acc['circuit_outputs_train']:.1f}", ""])
        lines += markdown_table(["", "train", "test"], rows) + [""]
        dn = m["dead_network"]
        lines += ["## Dead-network predictor (000 §6.2) on the circuit's window signals at t = 0", "",
                  ("**DEAD**" if dn["dead"] else "alive") + " — " + "; ".join(
                      f"layer {d['layer']}: {d['dead_units']}/{d['units']} units with σ' = 0, {d['zero_inputs']}/{d['inputs']} zero inputs"
                      for d in dn["layers"]) + f". The twin predicts: {dn['twin_summary']}.", ""]
        if "nf_vs_gradient_descent" in m:
            g = m["nf_vs_gradient_descent"]
            lines += ["## NF at u = β against gradient descent (000 §5)", "",
                      f"Circuit against the `bp` rule in the same discretisation: largest gap {g['max_fraction_of_range']:.2e} of a "
                      f"weight's range ({g['worst_signal']}); the NF twin against BP: {g['nf_twin_vs_bp_max_fraction_of_range']:.1e}.", ""]
        if "mono_net" in m:
            mn = m["mono_net"]
            floor = "n/a" if mn["clamp_floor_v"] is None else f"{mn['clamp_floor_v']:.2e} V"
            lines += ["## Mono-net (004 Def. 1)", "", f"Smallest weight of layers ≥ 2 over every time point of the "
                      f"transient: {mn['min_weight_v']:.3e} V ({'≥ 0' if mn['nonnegative'] else '**below 0**'}); the "
                      f"clamp's predicted floor (reference {mn['clamp_reference_v']:g} V less the largest drive / g_on): "
                      f"{floor}.", ""]
        if "mdfa_sign_check" in m:
            s = m["mdfa_sign_check"]
            lines += ["## Sign of the update against the true gradient (004 Thm 2 / Thm 4)", "",
                      f"{s['agree']} of {s['coordinates']} integrator input currents at {s['instants']} instants have the sign "
                      f"of −∂ℓ/∂θ ({100 * s['fraction']:.2f} %)" + (" — one output, so the theorem says all." if p.sizes[-1] == 1
                                                                  else " — more than one output: not guaranteed (004 Thm 5)."), ""]
        lines += comparison.report_section()
        return "\n".join(lines) + "\n"

    # -------------------------------------------------------------------------------- sweeps
    def _sample_problem(self, variations: list[Variation], seed: int | None) -> MultiLayerProblem:
        p = self.problem
        if seed is None or not variations:
            return p
        changes: dict[str, Any] = {}
        for v in variations:
            if v.target == "tau":  # one draw for every integrator: a variation is one stream
                shapes = [(n_out, n_in + 1) for n_in, n_out in zip(p.sizes[:-1], p.sizes[1:])]
                changes["tau_factors"] = _split(v.factors(seed, (p.weight_count,)), shapes)
            elif v.target == "feedback":
                if not p.feedback:
                    raise ConfigError(f"rule {p.rule!r} has no fixed feedback conductances to vary")
                shapes = [f.shape for f in p.feedback]
                changes["feedback_factors"] = _split(v.factors(seed, (sum(f.size for f in p.feedback),)), shapes)
            elif v.target == "multiplier_offset":
                changes["multiplier_offset_v"] = v.sigma
                changes["multiplier_seed"] = zlib.crc32(f"{seed}".encode()) & 0xFFFFFFFF
        return dataclasses.replace(p, **changes)

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """One sweep sample: the circuit with the variations drawn for ``seed``; the twin stays the ideal
        rule, so ``comparison.analog_vs_twin`` is what the variations cost."""
        problem = self._sample_problem(variations, seed)
        result = self._result(problem, runner, scratch / "spice")
        experiment = dataclasses.replace(self, problem=problem)
        row = flatten_scalars({k: v for k, v in experiment._metrics(result).items()
                               if k not in ("summary", "circuit_notes", "dead_network")})
        row.update(cosim.comparison(result).row())
        row["time_spice_s"] = result.timings["spice_s"]
        row["time_twin_s"] = result.timings["twin_s"]
        return row


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    """Consecutive pieces of ``flat`` in ``shapes``."""
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    return tuple(flat[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes))
