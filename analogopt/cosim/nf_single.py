"""Co-simulation of the single-layer negative-feedback optimizer: ngspice beside the digital twin.

One :class:`~analogopt.problems.NFSingleLayerProblem` drives both sides; twin iteration ``j`` is
aligned with analog time ``t = j·η·τ`` (000 Eq. 10: η = Δt/τ). :func:`cosimulate` runs one problem,
:func:`cosimulate_batch` the samples of a sweep with their twins stepped as one batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..circuits.base import AnalogCircuit
from ..circuits.nf_macro import MacroCircuit, MacroParts, build_nf_macro
from ..circuits.nf_single import build_nf_single
from ..errors import SimulationTimeoutError
from ..problems import NFSingleLayerProblem
from ..progress import Progress, SilentProgress
from ..reference.nf_single import (
    NFSingleLayerTwin, StiffLoopError, gradient_descent, loop_ode, matched_gd_rate, mse, run_twins,
)
from ..reference.trajectory import Trajectory
from ..spice.runner import NgspiceRunner, Pending, Runner
from ..spice.waveforms import Waveforms


@dataclass(frozen=True)
class CoSimResult:
    """Both machines' histories on one iteration axis, and how far apart they are.

    ``analog`` is the SPICE trajectory sampled at the twin's recorded iterations; ``analog_waveforms``
    the raw ngspice output (time in s). ``trajectory_deviation`` is the largest |w_analog − w_digital|
    over all aligned points divided by the weights' range; ``max_abs_deviation`` compares final weights.
    """

    problem: NFSingleLayerProblem
    circuit: AnalogCircuit
    analog: Trajectory
    digital: Trajectory
    baseline: Trajectory | None
    analog_waveforms: Waveforms
    timings: dict[str, float] = field(default_factory=dict)
    #: the loop's ODE solved to convergence on the same axis (the ideal mathematics the twin discretizes)
    ideal: Trajectory | None = None
    #: why ``ideal`` is None although it was asked for ("" when it was not asked for, or is there)
    ideal_missing: str = ""

    @property
    def max_abs_deviation(self) -> float:
        return float(np.max(np.abs(self.analog.final_weights - self.digital.final_weights)))

    @property
    def weight_range(self) -> float:
        both = np.concatenate([self.analog.weights.ravel(), self.digital.weights.ravel()])
        return float(max(both.max() - both.min(), 1e-12))

    @property
    def trajectory_deviation(self) -> float:
        return float(np.max(np.abs(self.analog.weights - self.digital.weights)) / self.weight_range)


def build_loop(problem: NFSingleLayerProblem, *, macro: MacroParts | None = None,
               title: str = "negative feedback optimizer, single layer", points: int | None = None,
               save_all: bool = False) -> AnalogCircuit:
    """The loop's circuit at the ideal level, or at the macro level from ``macro``'s parts (its error
    scale s_e is set from the largest error |e_i| at ``w0``, which the twin computes). ``points`` caps
    ngspice's step at duration/points (None: each level's own cap)."""
    capped = {} if points is None else {"points": points}
    if macro is None:
        return build_nf_single(problem, title=title, **capped)
    twin = NFSingleLayerTwin(problem)
    e_max = float(torch.max(torch.abs(twin.error(torch.as_tensor(problem.w0, dtype=torch.float64)))))
    return build_nf_macro(problem, macro, e_max=e_max, title=title, save_all=save_all, **capped)


def cosimulate(
    problem: NFSingleLayerProblem,
    *,
    runner: Runner | None = None,
    run_dir: Path | None = None,
    progress: Progress | None = None,
    record_points: int = 400,
    max_step_points: int | None = None,
    baseline: bool = True,
    ideal: bool = True,
    title: str = "negative feedback optimizer, single layer",
    macro: MacroParts | None = None,
    save_all: bool = False,
) -> CoSimResult:
    """Build the circuit, run ngspice and the twin (and the gradient-descent baseline), align them.

    The twin is stepped while ngspice runs in its own process, so on two cores the wall time is about
    netlist + max(ngspice, twin) + alignment.

    ``macro``: build the loop at the macro level (:mod:`analogopt.circuits.nf_macro`) from these parts
    instead of the ideal level's mathematics-as-netlist; its weights are read back through its scale
    factors (V per unit weight about the mid-rail reference).

    With ``ideal``, the loop's ODE is also solved to convergence (:func:`loop_ode`) at the twin's recorded
    iterations, the reference that separates the twin's discretization error from the circuit's.

    ngspice picks its own time steps; ``max_step_points`` only caps the step at duration/points
    (None: the level's own cap, 20 at the ideal level, ngspice's rule of 50 at the macro level). The twin
    is recorded at ``record_points`` iterations and the analog weights are sampled there by a cubic spline
    through ngspice's time points.
    """
    progress = progress or SilentProgress()
    runner = runner or NgspiceRunner()
    timings: dict[str, float] = {}

    progress.stage("netlist")
    circuit, deck_text, timings["netlist_s"] = _netlist(problem, macro, title, max_step_points, save_all)

    # ngspice runs in its own process: step the twin (and the baseline) meanwhile, then collect it.
    t_spice = time.perf_counter()
    pending = _start(runner, circuit, deck_text, run_dir)
    deadline = _deadline(runner, t_spice)
    limit_s = getattr(runner, "timeout_s", None)
    try:
        progress.stage("digital twin")
        t0 = time.perf_counter()
        record_every = _record_every(problem, record_points)
        digital = NFSingleLayerTwin(problem).run(record_every=record_every, deadline=deadline)
        timings["twin_s"] = time.perf_counter() - t0
        gd = None
        if baseline:
            progress.stage("GD baseline")
            t0 = time.perf_counter()
            gd = gradient_descent(problem, lr=matched_gd_rate(problem), record_every=record_every,
                                  deadline=deadline)
            timings["baseline_s"] = time.perf_counter() - t0
        ode, ideal_missing = None, ""
        if ideal:
            progress.stage("loop ODE")
            t0 = time.perf_counter()
            try:
                ode = loop_ode(problem, digital.iteration, deadline=deadline)
            except StiffLoopError as exc:  # the comparison then says the ideal side is missing and why
                ideal_missing = str(exc)
            timings["ideal_s"] = time.perf_counter() - t0
    except TimeoutError as exc:
        pending.cancel()
        raise SimulationTimeoutError(
            f"the co-simulation exceeded its {limit_s:g} s limit while the digital twin or the loop's ODE was stepping ({exc}); "
            "shorten the simulated time (loop.iterations) or raise --timeout") from None
    except BaseException:  # the twin failed or was interrupted: do not leave ngspice running
        pending.cancel()
        raise
    progress.stage("ngspice")
    result = pending.wait(progress.update)
    timings["spice_s"] = result.elapsed_s
    timings["parse_s"] = result.parse_s
    # from ngspice's launch until its result is in hand; the twin and the baseline ran inside this window
    timings["overlap_wall_s"] = time.perf_counter() - t_spice
    t0 = time.perf_counter()
    analog, waves = _aligned(problem, circuit, result, digital)
    timings["align_s"] = time.perf_counter() - t0
    return CoSimResult(problem, circuit, analog, digital, gd, waves, timings, ode, ideal_missing)


def cosimulate_batch(
    problems: Sequence[NFSingleLayerProblem],
    *,
    runner: Runner,
    run_dirs: Sequence[Path | None],
    macros: Sequence[MacroParts | None] | None = None,
    record_points: int = 400,
    max_step_points: int | None = None,
    title: str = "negative feedback optimizer, single layer",
) -> list[CoSimResult | Exception]:
    """The co-simulations of several problems of one iteration count (a sweep's samples), each as
    :func:`cosimulate` gives it without the baseline and the loop's ODE, their twins stepped together
    (:func:`run_twins`: one numpy batch per shape), so each twin is the one ``cosimulate`` steps, bit for bit.

    ngspice runs one sample at a time, in order: the first while the twins step, each next one while the
    one before is aligned. A sample's own failure (its circuit, its ngspice run, its alignment) is its
    slot's exception and the others go on; a failure of the twins (their time limit: the runner's
    deadline, else its limit once per sample) is every slot's. An interrupt stops the running ngspice and
    propagates. ``timings["twin_s"]`` is each twin's share of the batch's wall time (:class:`NFTwinBatch`).
    """
    count = len(problems)
    macros = [None] * count if macros is None else list(macros)
    if len(run_dirs) != count or len(macros) != count:
        raise ValueError(f"cosimulate_batch: {count} problems, {len(run_dirs)} run directories, {len(macros)} macros")
    if len({p.iterations for p in problems}) > 1:
        raise ValueError("cosimulate_batch: the problems differ in iterations (one record axis); batch them separately")
    slots: list[CoSimResult | Exception | None] = [None] * count
    built: dict[int, tuple[AnalogCircuit, str, dict[str, float]]] = {}
    for i, (problem, macro) in enumerate(zip(problems, macros)):
        try:
            circuit, text, netlist_s = _netlist(problem, macro, title, max_step_points, False)
            built[i] = (circuit, text, {"netlist_s": netlist_s})
        except Exception as exc:
            slots[i] = exc
    if not built:
        return slots
    members = list(built)
    queue = _Queue(runner, {i: (built[i][0], built[i][1], run_dirs[i]) for i in members}, slots)
    try:
        queue.launch_next()
        t0 = time.perf_counter()
        try:
            digital, seconds = run_twins([problems[i] for i in members],
                                         record_every=_record_every(problems[members[0]], record_points),
                                         deadline=_deadline(runner, t0, len(members)))
        except Exception as exc:
            queue.cancel()
            for i in members:
                if slots[i] is None:
                    slots[i] = exc if not isinstance(exc, TimeoutError) else SimulationTimeoutError(
                        f"the batch of {len(members)} co-simulations exceeded its {_limit_text(runner, len(members))} "
                        f"while the digital twins were stepping ({exc}); shorten the simulated time "
                        "(loop.iterations) or raise --timeout")
            return slots
        twins = dict(zip(members, zip(digital, seconds)))
        while queue.running is not None:
            i, pending, started = queue.running
            circuit, _, timings = built[i]
            try:
                result = pending.wait()
            except Exception as exc:
                slots[i] = exc
                queue.launch_next()
                continue
            # from ngspice's launch until its result is in hand (the first one's window holds the twins)
            timings.update(spice_s=result.elapsed_s, parse_s=result.parse_s,
                           overlap_wall_s=time.perf_counter() - started, twin_s=float(twins[i][1]))
            queue.launch_next()
            try:
                t0 = time.perf_counter()
                analog, waves = _aligned(problems[i], circuit, result, twins[i][0])
                timings["align_s"] = time.perf_counter() - t0
                slots[i] = CoSimResult(problems[i], circuit, analog, twins[i][0], None, waves, timings)
            except Exception as exc:
                slots[i] = exc
    except BaseException:  # interrupted: do not leave ngspice running
        queue.cancel()
        raise
    return slots


class _Queue:
    """The samples' ngspice runs, one in flight at a time, in order: ``running`` is (index, pending run,
    launch time) or None. A run that cannot start is its slot's exception; the next one is tried."""

    def __init__(self, runner: Runner, decks: dict[int, tuple[AnalogCircuit, str, Path | None]],
                 slots: list) -> None:
        self.runner, self.decks, self.slots = runner, decks, slots
        self.waiting = list(decks)
        self.running: tuple[int, Pending, float] | None = None

    def launch_next(self) -> None:
        self.running = None
        while self.waiting:
            i = self.waiting.pop(0)
            circuit, text, run_dir = self.decks[i]
            try:
                started = time.perf_counter()
                self.running = (i, _start(self.runner, circuit, text, run_dir), started)
                return
            except Exception as exc:
                self.slots[i] = exc

    def cancel(self) -> None:
        if self.running is not None:
            self.running[1].cancel()
            self.running = None


def _netlist(problem: NFSingleLayerProblem, macro: MacroParts | None, title: str, points: int | None,
             save_all: bool) -> tuple[AnalogCircuit, str, float]:
    """The loop's circuit, its deck's text and the seconds both took."""
    t0 = time.perf_counter()
    circuit = build_loop(problem, macro=macro, title=title, points=points, save_all=save_all)
    return circuit, circuit.deck.format(), time.perf_counter() - t0


def _start(runner: Runner, circuit: AnalogCircuit, deck_text: str, run_dir: Path | None) -> Pending:
    # a deck that reads files (a noise source's samples) goes as a deck, so the runner writes them beside it
    return runner.start(circuit.deck if circuit.deck.attachments else deck_text, run_dir=run_dir)


def _deadline(runner: Runner, started: float, samples: int = 1) -> float | None:
    """When the twins must be done: the runner's whole-run deadline, else its per-run limit from
    ``started`` (once per sample: a batch's twins do the work of ``samples`` co-simulations)."""
    deadline = getattr(runner, "deadline", None)
    limit_s = getattr(runner, "timeout_s", None)
    if deadline is None and limit_s is not None:
        deadline = started + limit_s * samples
    return deadline


def _limit_text(runner: Runner, samples: int) -> str:
    """The batch's time limit in words: "2 s limit", or "2 s per sample limit" for a batch of several."""
    limit_s = getattr(runner, "timeout_s", None)
    if limit_s is None:
        return "time limit"
    return f"{limit_s:g} s limit" if samples == 1 else f"{limit_s:g} s per sample limit"


def _record_every(problem: NFSingleLayerProblem, record_points: int) -> int:
    return max(1, problem.iterations // record_points)


def _aligned(problem: NFSingleLayerProblem, circuit: AnalogCircuit, result, digital: Trajectory
             ) -> tuple[Trajectory, Waveforms]:
    """ngspice's weights on the twin's recorded iterations (a cubic spline through its time points, the
    t = 0 point restored from the capacitors' initial conditions) and the waveforms they came from."""
    probes = [circuit.probes[name] for name in problem.weight_names]
    if isinstance(circuit, MacroCircuit):
        start_v = circuit.ref_v + circuit.scales.v_per_weight * problem.w0
        waves = result.analysis("tran").with_initial(dict(zip(probes, start_v)))
        analog_w = circuit.weights(waves.sample(probes, digital.iteration * problem.dt_s, method="cubic"))
    else:
        waves = result.analysis("tran").with_initial(dict(zip(probes, problem.w0)))
        analog_w = waves.sample(probes, digital.iteration * problem.dt_s, method="cubic")
    x = torch.as_tensor(problem.x)
    y = torch.as_tensor(problem.y)
    analog_loss = mse(x, y, torch.as_tensor(analog_w), problem.activation).numpy()
    return Trajectory(digital.iteration.copy(), analog_w, analog_loss), waves
