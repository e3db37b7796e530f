"""Run a multi-layer training circuit and its twins side by side, and compare them weight by weight.

:func:`cosimulate_multilayer` builds the circuit (:mod:`analogopt.circuits.multilayer`), runs it on the
given runner, steps the twin of the same rule in the same time base (:mod:`analogopt.reference.multilayer`)
at ``substeps`` and half as many (Richardson's estimate of the twin's own integration error, which decides
whether it is in its valid regime), and returns everything a kind reports:

- the weights of both machines at every step (the analog ones read off the waveforms at the twin's times);
- the ideal mathematics: the rule's continuous-time flow, extrapolated from the two twins
  (:func:`analogopt.reference.multilayer.continuous_flow`); for NF at u = β also gradient descent (the ``bp`` rule) in the same discretisation;
- accuracies of the final weights of each side on the training and test sets, and (batch) of the circuit's
  own output nodes;
- 000 §6.2's dead-network predictor on the circuit's own window signals σ'(z) at the start;
- with ``sense`` (mDFA's check of 004 Thm 4): the sign of every integrator's input current against the sign
  of the true gradient at sampled instants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..circuits.multilayer import MultiLayerCircuit, build_multilayer
from ..problems import MultiLayerProblem
from ..reference import multilayer as twin
from ..reference.activations import sigma_slope
from ..spice.runner import Runner
from ..spice.waveforms import Waveforms
from .comparison import Comparison, Group, Signal, TwinValidity

#: The twin is in its valid regime while Richardson's estimate of its integration error stays below this
#: fraction of every weight's range (so a 2 % agreement criterion is not spent on the twin's own error).
TWIN_ERROR_BOUND = 0.01
#: A window |σ'(z)| below this counts as zero for the dead-network predictor (000 §6.2).
DEAD_WINDOW = 1e-9


@dataclass
class MultiLayerResult:
    problem: MultiLayerProblem
    circuit: MultiLayerCircuit
    wave: Waveforms
    twin: twin.TwinTrajectory
    twin_check: twin.TwinTrajectory
    analog: np.ndarray  #: (points, all weights) on the twin's time axis
    names: list[str]
    timings: dict[str, float]
    gradient_descent: twin.TwinTrajectory | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def ideal(self) -> np.ndarray:
        """The rule's continuous-time flow (Richardson extrapolation of the two twins)."""
        return twin.continuous_flow(self.twin, self.twin_check)

    def final_weights(self, flat: np.ndarray) -> tuple[np.ndarray, ...]:
        return unflatten(self.problem, flat)


def unflatten(problem: MultiLayerProblem, flat: np.ndarray) -> tuple[np.ndarray, ...]:
    """Flat weights in the integrator order → per layer (n_l, n_{l−1} + 1), bias last."""
    out, start = [], 0
    for n_in, n_out in zip(problem.sizes[:-1], problem.sizes[1:]):
        w = flat[start : start + n_out * n_in].reshape(n_out, n_in)
        b = flat[start + n_out * n_in : start + n_out * (n_in + 1)]
        out.append(np.concatenate([w, b[:, None]], 1))
        start += n_out * (n_in + 1)
    return tuple(out)


def cosimulate_multilayer(problem: MultiLayerProblem, runner: Runner, run_dir: Path, *, substeps: int = 4,
                          sense: bool = False, title: str = "multi-layer training circuit") -> MultiLayerResult:
    t0 = time.perf_counter()
    circuit = build_multilayer(problem, title=title, sense=sense)
    t1 = time.perf_counter()
    wave = runner.run(circuit.deck, run_dir=run_dir).analysis("tran")
    t2 = time.perf_counter()
    coarse = twin.run_twin(problem, substeps=substeps)
    t3 = time.perf_counter()
    check = twin.run_twin(problem, substeps=twin.check_substeps(substeps))
    gd = twin.run_twin(problem, substeps=substeps, rule="bp") if problem.rule == "nf" else None
    names = [n for layer in circuit.weights for n in layer]
    initial = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(problem.weights, problem.biases)])
    analog = aligned(wave, [f"v({n})" for n in names], coarse.time_s, initial=initial)
    timings = {"netlist_s": t1 - t0, "spice_s": t2 - t1, "twin_s": t3 - t2, "twin_checks_s": time.perf_counter() - t3}
    return MultiLayerResult(problem, circuit, wave, coarse, check, analog, names, timings, gd)


def aligned(wave: Waveforms, vectors: list[str], times: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
    """(len(times), len(vectors)): each vector interpolated at ``times`` (ngspice's own time points differ).

    ``initial``: the vectors' values at t = 0 (the capacitors' initial conditions). A ``uic`` transient's
    output starts at its first step, not at 0 (ngspice-46 and 39), so without them the start would be
    held at the first step's value."""
    axis = wave.axis
    if initial is not None and axis[0] > 0:
        axis = np.concatenate([[0.0], axis])
        return np.stack([np.interp(times, axis, np.concatenate([[v0], wave[v]])) for v, v0 in zip(vectors, initial)], 1)
    return np.stack([np.interp(times, axis, wave[v]) for v in vectors], 1)


# ------------------------------------------------------------------------------------------ comparison
def validity(result: MultiLayerResult) -> TwinValidity:
    """The twin is valid where its integration error (Richardson) is below :data:`TWIN_ERROR_BOUND` of every
    weight's range, and where it models the circuit (no non-ideality set)."""
    ref = result.twin.flat()
    span = np.maximum(np.ptp(ref, 0), 1e-3 * max(np.ptp(ref), 1e-300))
    err = np.abs(twin.integration_error(result.twin, result.twin_check)) / span
    worst = float(err.max())
    values = {"integration_error_fraction_of_range": worst, "substeps": result.twin.substeps, "bound": TWIN_ERROR_BOUND}
    p = result.problem
    if not p.ideal:
        return TwinValidity(False, "the circuit has non-idealities the twin does not model (integrator mismatch, "
                            "feedback conductances, multiplier range or offsets): analog − twin is their cost", values)
    if worst > TWIN_ERROR_BOUND:
        return TwinValidity(False, f"the twin's integration error reaches {worst:.2e} of a weight's range (bound "
                            f"{TWIN_ERROR_BOUND:g}): raise twin.substeps or lower eta", values)
    return TwinValidity(True, f"integration error of the twin ≤ {worst:.2e} of each weight's range (Richardson, "
                        f"{result.twin.substeps} and {result.twin_check.substeps} substeps per step)", values)


def comparison(result: MultiLayerResult) -> Comparison:
    """One group per layer: every weight of the layer, analog vs twin vs the rule's continuous flow."""
    p, coarse = result.problem, result.twin
    ideal, flat = result.ideal, result.twin.flat()
    groups, start = [], 0
    for layer, (n_in, n_out) in enumerate(zip(p.sizes[:-1], p.sizes[1:]), start=1):
        count = n_out * (n_in + 1)
        cols = range(start, start + count)
        signals = tuple(Signal(result.names[c], result.analog[:, c], flat[:, c], ideal[:, c]) for c in cols)
        axis = "presentation" if p.mode == "online" else "iteration"
        groups.append(Group(
            name=f"layer{layer}", axis_name="time", axis_unit="s", axis=coarse.time_s, unit="V", signals=signals,
            twin=f"rule {coarse.rule!r}, {axis} steps of eta = {p.eta:g} integrated in {coarse.substeps} Heun substeps",
            ideal="the rule's continuous-time flow (Richardson extrapolation of the twins at "
                  f"{coarse.substeps} and {result.twin_check.substeps} substeps)",
            iteration=np.arange(len(coarse.time_s), dtype=float),
        ))
        start += count
    return Comparison(tuple(groups), validity(result))


def gradient_descent_deviation(result: MultiLayerResult) -> dict[str, Any] | None:
    """NF at u = β against gradient descent (the ``bp`` rule) in the same discretisation (000 §5)."""
    if result.gradient_descent is None:
        return None
    gd = result.gradient_descent.flat()
    signals = tuple(Signal(n, result.analog[:, c], gd[:, c]) for c, n in enumerate(result.names))
    group = Group("nf_vs_bp", "time", "s", result.twin.time_s, "V", signals, twin="bp")
    out = group.deviation("analog", "twin")
    flat = result.twin.flat()
    twins = Group("nf_twin_vs_bp", "time", "s", result.twin.time_s, "V",
                  tuple(Signal(n, flat[:, c], gd[:, c]) for c, n in enumerate(result.names)), twin="bp")
    out["nf_twin_vs_bp_max_fraction_of_range"] = twins.deviation("analog", "twin")["max_fraction_of_range"]
    return out


# ------------------------------------------------------------------------------------------ accuracies
def predictions(outputs: np.ndarray, classes: int, threshold: float) -> np.ndarray:
    """Class of each output row: argmax of one-hot outputs, or one output against ``threshold``."""
    return np.argmax(outputs, 1) if classes > 2 else (outputs[:, 0] > threshold).astype(np.int64)


def accuracy(problem: MultiLayerProblem, weights: tuple[np.ndarray, ...], x: np.ndarray, labels: np.ndarray,
             threshold: float) -> float:
    """Percent of ``x`` classified as ``labels`` by the network with ``weights``."""
    out = twin.forward(weights, x, problem.hidden.name, problem.output.name, problem.hidden.slope)
    classes = max(problem.sizes[-1], 2)
    return float(100.0 * np.mean(predictions(out, classes, threshold) == labels))


def circuit_output_accuracy(result: MultiLayerResult, labels: np.ndarray, threshold: float) -> float | None:
    """Batch mode: the training accuracy of the circuit's own output nodes at the end of the run."""
    p = result.problem
    if p.mode != "batch":
        return None
    out = np.array([result.wave[f"v({n})"][-1] for n in result.circuit.h[-1]]).reshape(p.copies, p.sizes[-1])
    return float(100.0 * np.mean(predictions(out, max(p.sizes[-1], 2), threshold) == labels))


# ------------------------------------------------------------------------------------------ 000 §6.2
def dead_network(result: MultiLayerResult) -> dict[str, Any]:
    """000 §6.2 on the circuit's own signals at t = 0: per layer, units whose window σ'(z) is 0 on every copy
    and inputs that are 0 on every copy (β = σ'·x is then 0 for their weights); the network is dead when a
    layer has all its units or all its inputs so. The twin's prediction from the same start is beside it."""
    import torch

    from ..reference.rules import dead_network_report

    p, c, wave = result.problem, result.circuit, result.wave
    layers, dead = [], False
    inputs = p.x if p.mode == "batch" else p.x[p.order[:1]]
    for layer in range(1, p.layers + 1):
        spec = p.output if layer == p.layers else p.hidden
        units = p.sizes[layer]
        if layer < p.layers:
            z = np.array([wave[f"v({n})"][0] for n in c.z[layer - 1]]).reshape(-1, units)
        else:  # the output layer's z is not saved; its window is 1 (identity) or from the twin's forward pass
            z = twin.forward(unflatten(p, result.analog[0])[:layer], inputs, p.hidden.name, "identity", p.hidden.slope)
        window = sigma_slope(spec, torch.from_numpy(z)).numpy()
        dead_units = np.flatnonzero(np.all(np.abs(window) < DEAD_WINDOW, 0))
        if layer == 1:
            a = inputs
        else:
            zp = np.array([wave[f"v({n})"][0] for n in c.z[layer - 2]]).reshape(-1, p.sizes[layer - 1])
            from ..reference.activations import sigma

            a = sigma(p.hidden, torch.from_numpy(zp)).numpy()
        zero_inputs = np.flatnonzero(np.all(np.abs(a) < DEAD_WINDOW, 0))
        layer_dead = len(dead_units) == units or len(zero_inputs) == a.shape[1]
        dead |= layer_dead
        layers.append({"layer": layer, "dead_units": len(dead_units), "units": units, "zero_inputs": len(zero_inputs),
                       "inputs": int(a.shape[1]), "dead": bool(layer_dead)})
    report = dead_network_report(twin.twin_net(p), torch.from_numpy(inputs))
    return {"dead": bool(dead), "layers": layers, "twin_predicts_dead": bool(report.dead),
            "agrees_with_twin": bool(report.dead) == bool(dead), "twin_summary": report.summary()}


# ------------------------------------------------------------------------------------------ 004 Thm 4
def sign_check(result: MultiLayerResult, instants: int = 60) -> dict[str, Any] | None:
    """004 Thm 2/4 on the circuit (online mode, sense currents): at ``instants`` mid-presentation times, the
    sign of every integrator's input current against the sign of −∂ℓ/∂θ at the circuit's own weights for the
    sample then presented. Coordinates whose true gradient is below the deck's reltol times that instant's
    largest are not counted: below ngspice's own resolution their sign is rounding."""
    p, c, wave = result.problem, result.circuit, result.wave
    if p.mode != "online" or not c.sense:
        return None
    T = p.step_time_s
    picks = np.unique(np.linspace(0, p.steps - 1, min(instants, p.steps)).astype(int))
    times = (picks + 0.5) * T
    vectors = [s for layer in c.sense for s in layer]
    names = [n for layer in c.weights for n in layer]
    currents = aligned(wave, vectors, times)
    weights = aligned(wave, [f"v({n})" for n in names], times)
    resolution = float(c.deck.options.get("reltol", 1e-3))
    agree = counted = 0
    per_layer = np.zeros((p.layers, 2), dtype=int)
    bounds = np.cumsum([0] + [n_out * (n_in + 1) for n_in, n_out in zip(p.sizes[:-1], p.sizes[1:])])
    for t, k in enumerate(p.order[picks]):
        grad = twin.true_gradient(p, unflatten(p, weights[t]), p.x[k], p.y[k])
        keep = np.abs(grad) > resolution * np.abs(grad).max()
        same = np.sign(currents[t]) == np.sign(-grad)
        agree += int(np.sum(same & keep))
        counted += int(np.sum(keep))
        for layer in range(p.layers):
            sl = slice(bounds[layer], bounds[layer + 1])
            per_layer[layer] += [int(np.sum(same[sl] & keep[sl])), int(np.sum(keep[sl]))]
    return {"instants": len(picks), "coordinates": counted, "agree": agree, "resolution": resolution,
            "fraction": agree / counted if counted else float("nan"),
            "per_layer": [{"layer": l + 1, "agree": int(a), "coordinates": int(n)} for l, (a, n) in enumerate(per_layer)]}


def mono_check(result: MultiLayerResult) -> dict[str, Any] | None:
    """Mono-net: the smallest weight of layers ≥ 2 over every time point of the waveforms, and the clamp's
    predicted floor (its reference less the largest integrator drive over its on-conductance)."""
    p, c = result.problem, result.circuit
    if not p.mono or c.clamp is None:
        return None
    nodes = [n for layer in c.weights[1:] for n in layer if n.startswith("w")]
    lowest = min(float(np.min(result.wave[f"v({n})"])) for n in nodes)
    drive = 0.0
    if c.sense:
        drive = max(float(np.max(np.abs(result.wave[s]))) for layer in c.sense[1:] for s in layer)
    bound = c.clamp.floor_v(drive) if drive else None
    return {"min_weight_v": lowest, "clamp_floor_v": bound, "clamp_g_on_s": c.clamp.g_on_s,
            "clamp_reference_v": c.clamp.v_ref, "nonnegative": bool(lowest >= 0),
            "within_floor": bool(bound is not None and lowest >= bound - 1e-12)}
