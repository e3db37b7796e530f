"""Scenario kind ``nf_single``: the single-layer negative-feedback optimizer, analog vs digital.

Scenario tables (documented in docs/scenarios.md): ``[data]`` (source = staircase | noisy_relu |
breast_cancer), ``[network]`` (activation, gain, slope, error_gain, power), ``[loop]`` (forward_gain,
gamma, tau_s, eta, iterations, leak, w0 | init_seed + init_scale), ``[compare]`` (also_error_gains,
least_squares).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import plots
from ..data.synthetic import noisy_relu_set, staircase_set
from ..data.tabular import load_tabular
from ..errors import ConfigError, SimulationTimeoutError
from ..limits import SizeEstimate, size_of
from ..problems import ACTIVATIONS, ERROR_GAINS, INTEGRATORS, ActivationSpec, NFSingleLayerProblem
from ..progress import Progress
from ..reference.activations import sigma
from ..reference.nf_single import (
    TWIN_LOOP_GAIN_BOUND, StiffLoopError, linear_fixed_point, loop_gain, loop_ode, predicted_euler_error,
)
from ..report import markdown_table, write_report
from ..results import RunDirectory
from ..spice.runner import Runner
from ..scenarios import Scenario
from ..values import REQUIRED, Table
from ..blocks.opamp import opamp_from_config
from ..blocks.user_block import UserOpAmp, copy_user_files, is_user_table, user_opamp_from_table, user_parts_of
from ..circuits.nf_macro import BLOCKS, MacroParts
from ..cosim.comparison import Comparison, Group, PlotOptions, TwinValidity, plot_options, signals_of, write_metrics
from ..cosim.imperfections import applied_problem, loop_imperfections, matched_twin, predicted_settling
from ..reference.imperfections import NoFixedPointError, weight_noise_covariance
from ..cosim.nf_single import CoSimResult, build_loop, cosimulate, cosimulate_batch
from .base import ExperimentBase, Variation, safe_title
from .transistor_parts import (
    TransistorOpAmp, fitted_opamp_from_table, is_fitted_table, is_transistor_table, mismatch_seed, targets_and_point,
    transistor_design_from_table, transistor_opamp_from_table,
)
from .nf_mismatch import draw_mismatch, mismatch_of, parameter_sigma, read_mismatch

#: The nominal loops' ODEs this process solved, by problem and record axis (oldest dropped first): a sweep
#: worker runs a point's chunks one after another, and each chunk needs the same nominal solution (23-29
#: ms of LSODA for nf_staircase at 8000 iterations, beside 0.33 s for its chunk of 8 samples)
_NOMINAL_ODES: dict[bytes, dict[str, Any]] = {}
NOMINAL_ODES_KEPT = 8

#: ngspice's time at the macro level over the ideal level's, by weights × samples (bench/nf_levels.py at
#: 8×32, 16×64, 32×128, 64×256): the op-amps' share grows with the crossbars
MACRO_COST_FACTORS = {256: 2.90, 1024: 5.16, 4096: 11.66, 16384: 17.82}


def macro_cost_factor(weights_x_samples: float) -> float:
    """:data:`MACRO_COST_FACTORS` interpolated in log size (held at the ends)."""
    sizes = np.log(np.array(list(MACRO_COST_FACTORS), dtype=float))
    return float(np.interp(np.log(max(weights_x_samples, 1.0)), sizes, list(MACRO_COST_FACTORS.values())))

#: Block levels of ``[circuit] level``: the mathematics as a netlist, or blocks a designer could build
LEVELS = ("ideal", "macro")
#: ``[circuit]`` keys of the macro level (analogopt.circuits.nf_macro.MacroParts) and their units
_MACRO_KEYS = {"supply_v": "V", "v_per_weight": "V", "v_per_error_cell": "V", "z_swing_v": "V", "e_swing_v": "V",
               "g_max_s": "S", "g_min_s": "S", "line_current_a": "A", "ota_r_out_ohm": "ohm", "ota_offset_v": "V",
               "ota_bw_hz": "Hz", "c_w_f": "F", "comparator_bw_hz": "Hz", "r_gain_ohm": "ohm",
               "c_leak_ohm": "ohm", "ota_headroom_v": "V",
               # the chip's operating point and process, against the design above (°C, 1/K, V/K, ratios)
               "temperature_c": None, "gm_tc_per_k": None, "offset_tc_v_per_k": None, "c_tc_per_k": None,
               "g_tc_per_k": None, "gm_scale": None, "supply_scale": None,
               # transient noise of the OTAs (V/√Hz), its sample interval (s)
               "ota_noise_v_per_rthz": None, "noise_step_s": "s"}


def macro_parts(table: Table, base_dir: Path | None = None) -> MacroParts | None:
    """The ``[circuit]`` table: ``level`` (ideal | macro) and the macro level's parts (SI, SPICE suffixes),
    ``levels`` (conductance levels) and an ``[circuit.opamp]`` table for the summing amplifiers (no rails
    unless it sets v_low/v_high), or naming a user's subcircuit file (``subckt = …``, bring your own
    block: analogopt.blocks.user_block, paths relative to ``base_dir``, the scenario's folder); None at the
    ideal level."""
    table.reject_unknown({"level", "levels", "opamp", "mismatch", "noise_seed", "blocks", *_MACRO_KEYS})
    level = table.choice("level", "ideal", LEVELS)
    read_mismatch(table.table("mismatch"))  # the Monte Carlo σ table: checked here, drawn per sweep sample
    values: dict[str, Any] = {key: table.number(key, unit=unit) for key, unit in _MACRO_KEYS.items() if key in table}
    if "levels" in table:
        values["levels"] = table.integer("levels", low=2, high=2**16)
    blocks = table.table("blocks", BLOCKS)
    values["ideal_blocks"] = tuple(b for b in BLOCKS if blocks.choice(b, level, LEVELS) == "ideal")
    if "noise_seed" in table:
        values["noise_seed"] = table.seed("noise_seed")
    for key in ("ota_noise_v_per_rthz", "noise_step_s"):  # 0 in a scenario file: off / the default
        if values.get(key) == 0:
            del values[key]
    sub = table.table("opamp")
    if is_fitted_table(sub.mapping):
        values["opamp"], (low, high) = fitted_opamp_from_table(sub, about_ground=False)
        point_supply = targets_and_point(sub)[1].supply_v
        supply = values.get("supply_v", MacroParts.supply_v)
        # the fitted model has no rails (transistor_parts.fitted_opamp): the loop's signal budget about mid
        # supply must stay inside the swing measured on the transistors
        reach = max(values.get("z_swing_v", MacroParts.z_swing_v), values.get("e_swing_v", MacroParts.e_swing_v))
        if not (low < supply / 2 - reach and supply / 2 + reach < high):
            raise table.error("z_swing_v", f"signals of ±{reach:g} V about {supply / 2:g} V leave the op-amp's "
                                           f"measured swing {low:.3g} … {high:.3g} V; lower z_swing_v/e_swing_v")
        if abs(point_supply - supply) > 1e-9 * supply:
            raise sub.error("supply_v", f"{point_supply:g} V differs from circuit.supply_v = {supply:g} V, the "
                                        "supply the loop's op-amps run from (leave it out, or make them equal)")
    elif is_user_table(sub.mapping) or is_transistor_table(sub.mapping):
        part = transistor_opamp_from_table(sub) if is_transistor_table(sub.mapping) else user_opamp_from_table(sub, base_dir)
        supply = values.get("supply_v", MacroParts.supply_v)
        # the loop powers every op-amp from its own rails: a part rated for another supply is a mistake
        if part.supply_v is not None and abs(part.supply_v - supply) > 1e-9 * supply:
            raise sub.error("supply_v", f"{part.supply_v:g} V differs from circuit.supply_v = {supply:g} V, the "
                                        "supply the loop's op-amps run from (leave it out, or make them equal)")
        values["opamp"] = part
    else:
        default = MacroParts().opamp
        opamp = {"kind": default.kind, "gain": default.gain, "gbw_hz": default.gbw_hz,
                 "stage_gm_s": default.stage_gm_s}
        values["opamp"] = opamp_from_config({**opamp, **sub.mapping}, sub.where)
    try:
        parts = MacroParts(**values)
    except ConfigError as exc:
        raise ConfigError(f"{table.where}: {exc}") from None
    # the parts are checked at either level (a scenario lists them so that --set can change them), used
    # only at the macro level
    return parts if level == "macro" else None


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


def load_dataset(table: Table) -> Dataset:
    source = table.choice("source", REQUIRED, _DATA_KEYS)
    table.reject_unknown(_DATA_KEYS[source])
    num = table.number
    if source == "staircase":
        w, b = num("w", 1.0), num("b", -1.0)
        x, y = staircase_set(w=w, b=b, x_min=num("x_min", -2), x_max=num("x_max", 4),
                             samples=table.integer("samples", 61, low=2))
        return Dataset(np.stack([x, np.ones_like(x)], 1), y, raw_x=x, truth={"w": w, "b": b})
    if source == "noisy_relu":
        w, b = num("w", 1.5), num("b", -0.5)
        x, y = noisy_relu_set(
            w=w, b=b, noise_std=num("noise_std", 0.1, low=0), x_min=num("x_min", -2), x_max=num("x_max", 2),
            samples=table.integer("samples", 60, low=2), seed=table.seed("seed", 0),
        )
        return Dataset(np.stack([x, np.ones_like(x)], 1), y, raw_x=x, truth={"w": w, "b": b})
    test_fraction, seed = num("test_fraction", 0.3, above=0, below=1), table.seed("seed", 0)
    try:
        split = load_tabular("breast_cancer", test_fraction=test_fraction, seed=seed)
    except ConfigError as exc:  # a split that leaves a class out names the table it came from
        raise ConfigError(f"{table.where}: {exc}") from None
    ones = lambda a: np.concatenate([a, np.ones((a.shape[0], 1))], 1)  # noqa: E731
    # Labels as ±1 targets for a tanh output (000 §4.3).
    return Dataset(ones(split.x_train), 2.0 * split.y_train - 1, ones(split.x_test), 2.0 * split.y_test - 1)


@dataclass
class NFSingleExperiment(ExperimentBase):
    kind = "nf_single"
    #: σ of a scenario path for a corner's "±Ksigma" value, and how to reach a corner's [circuit] values
    #: (analogopt.sweep.corners, analogopt.sweep.spec.check_values)
    parameter_sigma = staticmethod(parameter_sigma)
    corner_hint = "add --set circuit.level=macro: the [circuit] values act at the macro level only"
    element_targets = {
        "x": "each data-crossbar conductance (m×n)",
        "u": "each error-crossbar conductance (n×m, Eq. 12)",
        "tau": "each weight integrator's R·C (n)",
        "gain": "each forward amplifier's gain A (n)",
    }
    #: readable names of the loop's blocks (prefixes of analogopt.circuits.nf_single)
    block_titles = {
        "x": "data crossbar: z_k = sum_i x_ki w_i (VCCS array, 1 ohm sum loads)",
        "q": "error nonlinearity: q_k = (y_k - sigma(z_k)) [* sigma'(z_k)^p] (one B source per sample)",
        "u": "error crossbar U of 000 Eq. 12 merged with the forward gain A and the integrator input: "
             "A*gamma*x_ki^p/R per crosspoint (S)",
        "lp": "weight integrators (RC low-pass, 000 Eq. 10, or RC cascade, Eq. 22)",
    }
    scenario: Scenario
    data: Dataset
    problem: NFSingleLayerProblem
    also_error_gains: tuple[str, ...]
    least_squares: bool
    plot: PlotOptions = PlotOptions()
    #: the macro level's parts, or None at the ideal level
    macro: MacroParts | None = None
    #: ``[circuit.opamp] level = "transistor"``: the design behind ``macro.opamp``, whose seeded samples
    #: draw the kit's mismatch in every op-amp (in place of ``[circuit.mismatch] opamp_offset_v``)
    transistor: TransistorOpAmp | None = None

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "NFSingleExperiment":
        cfg = Table(scenario.config, scenario.name)
        # corners: named sets of overrides that `analogopt sweep --corners` reads (analogopt.sweep.corners)
        cfg.reject_unknown({"kind", "title", "description", "data", "network", "loop", "compare", "plot", "circuit",
                            "corners"})
        data = load_dataset(cfg.table("data"))
        net = cfg.table("network", {"activation", "gain", "slope", "error_gain", "power"})
        loop = cfg.table("loop", {"forward_gain", "gamma", "tau_s", "eta", "iterations", "leak", "w0", "init_seed",
                                  "init_scale", "integrator", "tau_m_s"})
        comp = cfg.table("compare", {"also_error_gains", "least_squares"})
        n = data.x_train.shape[1]
        if "w0" in loop:
            w0 = np.array(loop.numbers("w0"), dtype=float)
        else:
            rng = np.random.default_rng(loop.seed("init_seed", 0))
            w0 = loop.number("init_scale", 0.1, low=0) * rng.standard_normal(n)
        names = ("w", "b") if n == 2 and data.raw_x is not None else tuple(f"w{i}" for i in range(n))
        activation = ActivationSpec(
            net.choice("activation", "identity", ACTIVATIONS),
            gain=net.number("gain", 50.0, positive=True, unit="V/V"),
            slope=net.number("slope", 0.01, low=0, below=1),
        )
        problem = NFSingleLayerProblem(
            x=data.x_train, y=data.y_train, activation=activation,
            error_gain=net.choice("error_gain", "x", ERROR_GAINS), power=net.integer("power", 1, low=1),
            forward_gain=loop.number("forward_gain", 1.0, positive=True, unit="V/V"),
            gamma=loop.number("gamma", 1.0, positive=True),
            tau_s=loop.number("tau_s", 1e-3, positive=True, unit="s"),
            eta=loop.number("eta", 1e-2, above=0, high=1),
            iterations=loop.integer("iterations", 1000, low=1),
            leak=loop.boolean("leak", True), w0=w0, weight_names=names,
            integrator=loop.choice("integrator", "rc", INTEGRATORS),
            tau_m_s=loop.number("tau_m_s", positive=True, unit="s") if "tau_m_s" in loop else None,
        )
        also = tuple(comp.strings("also_error_gains", [], options=ERROR_GAINS, what="error gain"))
        least_squares = comp.boolean("least_squares", False)
        if least_squares and data.raw_x is None:
            raise comp.error("least_squares", "needs a one-input regression data set (staircase or noisy_relu)")
        macro = macro_parts(cfg.table("circuit"), scenario.path.parent)
        opamp_table = cfg.table("circuit").table("opamp")
        # the design is cached: this is the one macro_parts already built
        transistor = (transistor_design_from_table(opamp_table)
                      if macro is not None and is_transistor_table(opamp_table.mapping) else None)
        experiment = cls(scenario, data, problem, also, least_squares, plot_options(cfg.table("plot")), macro,
                         transistor)
        if macro is not None:
            experiment.netlist()  # element values and scale factors are checked before anything runs
        return experiment

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Memory and work from the scenario's sizes, before any data is made (see analogopt.limits)."""
        cfg = scenario.config
        data, loop, comp = (cfg.get(k) if isinstance(cfg.get(k), dict) else {} for k in ("data", "loop", "compare"))
        if data.get("source") in ("staircase", "noisy_relu"):
            m, n = size_of(data, "samples", 60), 2
        else:  # a tabular set: breast cancer's 569 samples, 30 features + bias
            m, n = 569 * (1 - size_of(data, "test_fraction", 0.3)), 31
        steps = size_of(loop, "iterations", 1000)
        also = comp.get("also_error_gains", [])
        runs = 1 + (len(also) if isinstance(also, list) else 0)
        elements = 2 * m * n + m + 2 * n
        circuit = cfg.get("circuit") if isinstance(cfg.get("circuit"), dict) else {}
        if circuit.get("level") == "macro":
            # twice the elements (G+/G- pairs), and each costs more: ngspice took 2.9× (8×32) … 17.8× (64×256)
            # the ideal level's time (bench/nf_levels.py), so the work is counted that many times
            elements *= macro_cost_factor(m * n)
        memory = (400 * m * n  # data and crossbar values, the netlist's lines as text (two elements per m·n)
                  + 8 * steps * n * 6 * runs  # twin and analog trajectories, baseline, aligned copies
                  + 8 * steps * (n + 4) * 3 * runs)  # raw file on disk, as read, interpolated
        return SizeEstimate(f"{scenario.name}: {m:.0f} samples × {n} weights, {steps:.3g} iterations",
                            memory_bytes=memory, elements=elements * runs, time_points=steps,
                            twin_macs=4 * steps * m * n * runs)

    # -- the protocol's circuit and sweep members --------------------------------------------------
    def netlist(self) -> str:
        return build_loop(self.problem, macro=self.macro, title=safe_title(self.scenario.title)).deck.format()

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """One sweep sample: the loop with each element variation drawn for ``seed``, no plots, no baseline.

        The twin gets the same mismatch as the circuit; the ideal side stays the *nominal* loop's ODE, so
        ``comparison.analog_vs_ideal`` is what the mismatch costs, and ``comparison.twin_vs_ideal`` the
        twin's estimate of that cost."""
        problem, macro = self._sample_problem(variations, seed)
        perturbed = problem is not self.problem
        result = cosimulate(problem, runner=runner, run_dir=scratch / "spice", baseline=False,
                            title=safe_title(self.scenario.title), macro=macro, ideal=not perturbed)
        if perturbed:
            result = dataclasses.replace(result, **self._nominal_ideal(result.digital.iteration, runner))
        return self._sample_row(problem, result)

    def sample_batch(self, variations: list[Variation], seeds: list[int | None], runner: Runner,
                     scratch: Path) -> list[dict[str, Any] | BaseException]:
        """The rows :meth:`sample` gives for each of ``seeds`` (the same values; the ``time_*`` columns aside),
        with the twins of all samples stepped as one batch (:func:`~analogopt.cosim.nf_single.cosimulate_batch`)
        and the nominal loop's ODE, the same for every sample, solved once. A sample's failure is its slot's
        exception; the other rows are unaffected. ``time_twin_s`` is each sample's share of the batch's
        stepping (:class:`~analogopt.reference.nf_single.NFTwinBatch`: in proportion to the steps each took)."""
        slots: list[dict[str, Any] | BaseException | None] = [None] * len(seeds)
        drawn: dict[int, tuple[NFSingleLayerProblem, MacroParts | None]] = {}
        for i, seed in enumerate(seeds):
            try:
                drawn[i] = self._sample_problem(variations, seed)
            except Exception as exc:
                slots[i] = exc
        members = list(drawn)
        results = cosimulate_batch([drawn[i][0] for i in members], runner=runner,
                                   run_dirs=[scratch / f"spice_{i}" for i in members],
                                   macros=[drawn[i][1] for i in members], title=safe_title(self.scenario.title))
        done = [r for r in results if not isinstance(r, Exception)]
        ideal: dict[str, Any] | Exception = {}
        if done:  # every sample's twin is recorded on the same iterations
            try:
                ideal = self._nominal_ideal(done[0].digital.iteration, runner)
            except SimulationTimeoutError as exc:
                ideal = exc
        for i, result in zip(members, results):
            if isinstance(result, Exception) or isinstance(ideal, Exception):
                slots[i] = result if isinstance(result, Exception) else ideal
                continue
            try:
                slots[i] = self._sample_row(drawn[i][0], dataclasses.replace(result, **ideal))
            except Exception as exc:
                slots[i] = exc
        return slots

    def _sample_problem(self, variations: list[Variation], seed: int | None
                        ) -> tuple[NFSingleLayerProblem, MacroParts | None]:
        """The problem and the macro parts of sample ``seed``: the element variations and, at the macro
        level, the [circuit.mismatch] draws of this chip (the nominal ones for ``seed`` None)."""
        problem, macro = perturb_nf_problem(self.problem, variations, seed), self.macro
        if seed is not None and macro is not None:
            mismatch = mismatch_of(self.scenario.config)
            if self.transistor is not None:  # the kit draws the op-amps' mismatch, offsets and all
                mismatch = dataclasses.replace(mismatch, sigmas={k: v for k, v in mismatch.sigmas.items()
                                                                 if k != "opamp_offset_v"})
                macro = dataclasses.replace(macro, opamp=self.transistor.drawn(mismatch_seed(seed)))
            problem, macro = draw_mismatch(mismatch, problem, macro, seed)
        return problem, macro

    def _nominal_ideal(self, iterations: np.ndarray, runner: Runner) -> dict[str, Any]:
        """The nominal loop's ODE on ``iterations`` as CoSimResult fields (``ideal``, or ``ideal_missing``
        where it is too stiff to solve). Solved once per process for a problem and axis
        (:data:`_NOMINAL_ODES`)."""
        # the answer is fixed by the problem's and the axis's values, which their pickled bytes hold
        key = hashlib.sha1(pickle.dumps((self.problem, np.asarray(iterations)))).digest()
        if key not in _NOMINAL_ODES:
            try:
                fields = {"ideal": loop_ode(self.problem, iterations, deadline=getattr(runner, "deadline", None))}
            except StiffLoopError as exc:
                fields = {"ideal": None, "ideal_missing": str(exc)}
            except TimeoutError as exc:
                raise SimulationTimeoutError(f"the sample exceeded its limit while solving the nominal loop's ODE "
                                             f"({exc}); raise --timeout") from None
            if fields["ideal"] is not None:  # shared by every later chunk: none may change it
                for array in (fields["ideal"].iteration, fields["ideal"].weights, fields["ideal"].loss):
                    array.flags.writeable = False
            if len(_NOMINAL_ODES) >= NOMINAL_ODES_KEPT:
                del _NOMINAL_ODES[next(iter(_NOMINAL_ODES))]
            _NOMINAL_ODES[key] = fields
        return dict(_NOMINAL_ODES[key])

    def _sample_row(self, problem: NFSingleLayerProblem, result: CoSimResult) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, a, d in zip(problem.weight_names, result.analog.final_weights, result.digital.final_weights):
            row[f"analog_{name}"] = float(a)
            row[f"digital_{name}"] = float(d)
        row.update(
            max_abs_deviation=result.max_abs_deviation,
            trajectory_deviation=result.trajectory_deviation,
            analog_final_loss=float(result.analog.final_loss),
            digital_final_loss=float(result.digital.final_loss),
            time_spice_s=result.timings["spice_s"],
            time_twin_s=result.timings["twin_s"],
        )
        gain = loop_gain(problem, result.digital.weights)
        row.update(twin_loop_gain=gain, twin_valid=bool(gain <= TWIN_LOOP_GAIN_BOUND))
        row.update(self.comparison({problem.error_gain: result}).row())
        return row

    # -- running -------------------------------------------------------------------------------
    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        title = self.scenario.title
        main = cosimulate(self.problem, runner=runner, run_dir=out.file("spice"), progress=progress,
                          title=safe_title(title), macro=self.macro)
        (out.path / "spice" / "netlist.cir").replace(out.file("netlist.cir"))
        for name in main.circuit.deck.attachments:  # the files netlist.cir reads, beside it
            shutil.copyfile(out.path / "spice" / name, out.file(name))
        # a user op-amp is inlined in the netlists; the originals go beside them for the record (blocks/)
        user_parts = user_parts_of(self.macro) if self.macro is not None else []
        copy_user_files(user_parts, out.path)
        variants: dict[str, CoSimResult] = {self.problem.error_gain: main}
        for gain in self.also_error_gains:
            variant = dataclasses.replace(self.problem, error_gain=gain)
            variants[gain] = cosimulate(variant, runner=runner, run_dir=out.file(f"spice_{gain}"), progress=progress,
                                        baseline=False, title=safe_title(title), macro=self.macro)
            (out.path / f"spice_{gain}" / "netlist.cir").replace(out.file(f"netlist_{gain}.cir"))
        progress.stage("plots and report")
        metrics = self._metrics(main, variants)
        if user_parts:
            metrics["user_opamp"] = user_parts[0].record()
        energy = self._training_energy(main)
        if energy is not None:
            metrics["energy"] = energy
        comparison = self.comparison(variants)
        matched = self._matched_comparison(main)
        if matched is not None:
            metrics["matched_twin"] = matched.metrics()
            for name, figure in matched.figures(self.plot).items():
                out.save_figure(name, figure)
        self._figures(out, main, variants, metrics)
        write_metrics(out, metrics, comparison, self.plot)
        write_report(out.file("report.md"), self._report(main, variants, metrics, comparison, matched))
        return metrics

    def _training_energy(self, main: CoSimResult) -> dict[str, Any] | None:
        """With op-amp parts on the loop's supply (transistor level): the supply energy of the whole
        training run (J, ∫ V_dd·i dt over ngspice's points), the quiescent power at its start (W) and
        quiescent power × duration (what class-A op-amps should draw), beside the twin's training on this
        CPU (FLOP count, measured time, arithmetic energy at the Horowitz figure)."""
        from ..cosim.energy import DIGITAL_J_PER_FLOP_PAIR, DigitalBaseline, supply_energy, training_flops

        opamp = self.macro.opamp if self.macro is not None else None
        if not (isinstance(opamp, UserOpAmp) and "vdd" in opamp.supply_roles):
            return None
        waves = main.analog_waveforms
        whole, quiescent, _ = supply_energy(waves, {"i(vdd)": self.macro.operating_supply_v})
        duration = float(np.real(np.asarray(waves.axis))[-1])
        p = self.problem
        flops = training_flops(p.iterations, p.n_samples, p.n_weights)
        digital = DigitalBaseline(flops=flops, time_s=main.timings["twin_s"], energy_j=flops / 2 * DIGITAL_J_PER_FLOP_PAIR)
        return {"training_run_j": whole, "quiescent_power_w": quiescent, "duration_s": duration,
                "quiescent_times_duration_j": quiescent * duration, "opamp": opamp.name,
                "digital": {"flops": digital.flops, "time_s": digital.time_s, "energy_j": digital.energy_j,
                            "j_per_flop_source": digital.source}}

    @property
    def _weight_unit(self) -> str:
        """At the ideal level a weight is a node voltage (1 V per unit); at the macro level the weights are
        read back through s_w into the mathematics' own (unitless) units."""
        return "V" if self.macro is None else ""

    @property
    def _loss_unit(self) -> str:
        return "V²" if self.macro is None else ""

    def comparison(self, variants: dict[str, CoSimResult]) -> Comparison:
        """Weights and loss of every run on the twin's axis: analog (ngspice, sampled by a cubic spline),
        twin (Euler, Eq. 10) and ideal (the loop's ODE solved to convergence, :func:`loop_ode`)."""
        groups = []
        validity = self._twin_validity(variants)
        for gain, r in variants.items():
            suffix = "" if gain == self.problem.error_gain else f" (u = {gain})"
            time_s = r.digital.iteration * r.problem.dt_s
            ideal = r.ideal
            theory = {}
            if validity.values.get("predicted_euler_error") is not None:
                # per mode ≤ ηλ/2e of its amplitude; modes of the symmetric error gain are orthogonal, so
                # |Δw| ≤ that fraction times ‖w0 − w_final‖₂ (linearized about the end point)
                fraction = predicted_euler_error(loop_gain(r.problem, r.digital.weights))
                reference = r.ideal.final_weights if r.ideal is not None else r.digital.final_weights
                theory["twin_vs_ideal_predicted_fraction_of_mode"] = fraction
                theory["twin_vs_ideal_predicted_max_abs_v"] = fraction * float(
                    np.linalg.norm(r.problem.w0 - reference))
            twin = f"Euler steps of Eq. 10, Δt = η·τ = {r.problem.dt_s:.3g} s"
            ode = "the loop's ODE (Eq. 10 in continuous time) solved by LSODA, rtol 1e-10"
            groups.append(Group(
                f"weights{suffix}", "time", "s", time_s, self._weight_unit,
                signals_of(r.problem.weight_names, r.analog.weights, r.digital.weights,
                           None if ideal is None else ideal.weights),
                twin=twin, ideal=ode if ideal is not None else "", iteration=r.digital.iteration, theory=theory,
                ideal_missing=r.ideal_missing))
            groups.append(Group(
                f"loss{suffix}", "time", "s", time_s, self._loss_unit,
                signals_of(["mse"], r.analog.loss[:, None], r.digital.loss[:, None],
                           None if ideal is None else ideal.loss[:, None]),
                twin=twin, ideal=ode if ideal is not None else "", iteration=r.digital.iteration,
                ideal_missing=r.ideal_missing))
        return Comparison(tuple(groups), validity)

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
                "level": "ideal" if self.macro is None else "macro",
            },
        }
        if self.macro is not None:
            metrics["circuit"]["macro"] = {"parts": dataclasses.asdict(self.macro), **main.circuit.values()}
            metrics["imperfection_theory"] = self._imperfection_theory(main)
        if main.baseline is not None:
            metrics["baseline_gd"] = {
                "initial_loss": float(main.baseline.loss[0]),
                "final_loss": main.baseline.final_loss,
                "final_weights": named(main.baseline.final_weights),
                "note": "full-batch gradient descent through the derivative of the circuit's own activation model "
                        f"(comparator gain {p.activation.gain:g} V/V), lr = η·γ·A·m/2",
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
        fixed = self._fixed_point(main)
        if fixed is not None:
            metrics["fixed_point"] = fixed
        if self.data.x_test is not None:
            metrics["classification"] = self._classification(main)
        metrics["summary"] = self._summary(metrics)
        return metrics

    def _fixed_point(self, main: CoSimResult) -> dict[str, Any] | None:
        """The ideal loop's closed-form fixed point (identity activation only) and how far the circuit's and
        the twin's final weights land from it, relative to its norm. At the macro level the circuit's
        imperfections move its fixed point; the imperfection theory, not this one, predicts that."""
        w = linear_fixed_point(self.problem)
        if w is None:
            return None
        scale = max(float(np.linalg.norm(w)), 1e-300)
        rel = lambda v: float(np.linalg.norm(np.asarray(v) - w) / scale)  # noqa: E731
        p = self.problem
        form = ("(U·X + I/(γA))·w = U·y, ridge-augmented" if p.leak else "U·X·w = U·y")
        return {"weights": {n: float(v) for n, v in zip(p.weight_names, w)},
                "analog_relative_error": rel(main.analog.final_weights),
                "digital_relative_error": rel(main.digital.final_weights),
                "ridge": 1.0 / (p.gamma * p.forward_gain) if p.leak else 0.0,
                "equation": f"{form}, U = (x^{p.error_power})ᵀ (000 Eq. 10 at dw/dt = 0)"}

    def _twin_validity(self, variants: dict[str, CoSimResult]) -> TwinValidity:
        """docs/nf_loop.md, "The twin and time alignment": the twin (forward Euler, Δt = η·τ) agrees with
        the analog ODE while the per-step loop gain η·γ·A·λ_max stays below TWIN_LOOP_GAIN_BOUND (≈ 0.27:
        theory's worst-case Euler error ηλ/2e within 5 % of a mode's amplitude), λ_max of the linearized error
        gain U·diag(σ')·X (000 Eq. 12) taken along the twin's trajectory
        (:func:`analogopt.reference.nf_single.loop_gain`)."""
        gains = {g: loop_gain(r.problem, r.digital.weights) for g, r in variants.items()}
        worst = max(gains.values())
        valid = bool(worst <= TWIN_LOOP_GAIN_BOUND)
        values: dict[str, Any] = {
            "loop_gain": worst,
            "bound": TWIN_LOOP_GAIN_BOUND,
            # theory's worst case of the twin's own discretization error (fraction of the stiffest mode)
            "predicted_euler_error": predicted_euler_error(worst) if worst < 2 else None,
        }
        if len(gains) > 1:
            values["loop_gain_by_error_gain"] = gains
        if valid:
            note = (f"per-step loop gain η·γ·A·λ_max = {worst:.3g} ≤ {TWIN_LOOP_GAIN_BOUND:.3g} (docs/nf_loop.md): the "
                    f"twin is a faithful discretization of the loop; theory's worst-case Euler error "
                    f"{values['predicted_euler_error']:.1%} of a mode's amplitude")
        else:
            note = (f"per-step loop gain η·γ·A·λ_max = {worst:.3g} > {TWIN_LOOP_GAIN_BOUND:.3g} (docs/nf_loop.md): the "
                    "twin's Euler steps are too coarse, so analog-vs-twin deviations are not a verdict on the "
                    "circuit; compare with the ideal (the loop's ODE) instead, or lower loop.eta or loop.forward_gain")
        warning = (f"{self.scenario.name}: the twin is outside its valid regime: per-step loop gain η·γ·A·λ_max = "
                   f"{worst:.3g} > {TWIN_LOOP_GAIN_BOUND:.3g}; analog-vs-twin deviations are not a verdict on the "
                   "circuit (lower loop.eta or loop.forward_gain)")
        return TwinValidity(valid, note, values, warning)

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

    def _imperfection_theory(self, main: CoSimResult) -> dict[str, Any]:
        """Where theory says the macro loop ends (the imperfect loop equation over the run:
        analogopt.cosim.imperfections), against where it did, both as shifts from the ideal loop's end."""
        if self.problem.integrator == "cascade":
            return {"available": False, "reason": "the theory covers the single integrator (Eq. 10), not the "
                                                  "momentum cascade (Eq. 22)"}
        if main.ideal is None:
            return {"available": False, "reason": f"the ideal loop's ODE is missing ({main.ideal_missing})"}
        names = self.problem.weight_names
        try:
            t = predicted_settling(self.problem, self.macro, main.circuit.scales, main.ideal.final_weights)
        except (RuntimeError, TimeoutError) as exc:  # e.g. an imperfect loop whose ODE is too stiff to solve
            return {"available": False, "reason": str(exc)}
        simulated = main.analog.final_weights - main.ideal.final_weights
        noise = self._noise_theory(main, t["predicted_final_weights"]) if self.macro.ota_noise_v_per_rthz else None
        return {
            **({"noise": noise} if noise else {}),
            "available": True, "leak": t["leak"], "error_offset": t["error_offset"], "weight_rail": t["weight_rail"],
            "predicted_shift": dict(zip(names, t["predicted_shift"].tolist())),
            "simulated_shift": dict(zip(names, simulated.tolist())),
            "unexplained_max_abs": float(np.max(np.abs(simulated - t["predicted_shift"]))),
            "note": "shift of the final weights from the ideal loop's; the unexplained rest is what the theory "
                    "leaves out (op-amps' finite gain, the cells' clipping, the OTA pole)",
        }

    @staticmethod
    def _matched_lines(mm: dict[str, Any], matched: Comparison) -> list[str]:
        """The report's matched-twin section: which part of the distance from the mathematics the modelled
        imperfections explain."""
        g = mm["groups"]["weights (matched twin)"]
        gap, rest = g["analog_vs_ideal"]["final_fraction_of_range"], g["analog_vs_twin"]["final_fraction_of_range"]
        explained = (f"{1 - rest / gap:.1%} of the final gap is explained by the modelled imperfections"
                     if gap and gap > 1e-9 else "the loop ends on the ideal mathematics")
        lines = ["## Matched twin: how much of the gap the modelled imperfections explain", "",
                 "The matched twin is the twin with every imperfection theory models (leak from r_out and "
                 "capacitor leakage, OTA offset, integrator rails, quantized crossbars). Final weights, fraction "
                 f"of range: analog − ideal {gap:.3e}, analog − matched twin {rest:.3e}; {explained}.", ""]
        rows = [[name, f"{e['analog_vs_ideal']['max_abs']:.3e}", f"{e['analog_vs_twin']['max_abs']:.3e}",
                 f"{e['twin_vs_ideal']['max_abs']:.3e}"] for name, e in mm["groups"].items()]
        lines += markdown_table(["group", "analog − ideal, max", "analog − matched twin, max",
                                 "matched twin − ideal, max"], rows) + [""]
        lines += [f"![{grp.name}]({matched.figure_name(grp)})" for grp in matched.groups] + [""]
        return lines

    #: The share of the run at its end whose weights' spread is compared with the noise theory
    NOISE_TAIL = 0.6

    def _noise_theory(self, main: CoSimResult, settled: np.ndarray) -> dict[str, Any]:
        """The OTAs' input noise as weight noise: the linearized loop's stationary spread (an
        Ornstein–Uhlenbeck process, analogopt.reference.imperfections.weight_noise_covariance) against the
        standard deviation of the simulated weights over the last NOISE_TAIL of the run."""
        sc, parts = main.circuit.scales, self.macro
        try:
            cov = weight_noise_covariance(applied_problem(self.problem, parts, sc),
                                          loop_imperfections(self.problem, parts, sc), settled,
                                          parts.ota_noise_v_per_rthz / sc.v_per_error)
        except NoFixedPointError as exc:
            return {"available": False, "reason": str(exc)}
        its = main.analog.iteration
        tail = main.analog.weights[its >= (1 - self.NOISE_TAIL) * its[-1]]
        names = self.problem.weight_names
        return {"available": True, "density_v_per_rthz": parts.ota_noise_v_per_rthz,
                "predicted_std": dict(zip(names, np.sqrt(np.diag(cov)).tolist())),
                "simulated_std": dict(zip(names, tail.std(axis=0).tolist())),
                "tail_fraction": self.NOISE_TAIL,
                "note": "weights' spread about their mean over the run's tail; the theory is the stationary spread "
                        "of the loop linearized at its settling point"}

    def _matched_comparison(self, main: CoSimResult) -> Comparison | None:
        """Analog against the *matched twin* (the twin with the imperfections theory models: leak, offset,
        rail, quantized crossbars; analogopt.reference.imperfections.MatchedTwin) and the ideal
        mathematics, at the macro level of a single-integrator loop."""
        if self.macro is None or self.problem.integrator == "cascade":
            return None
        its = main.digital.iteration
        every = int(its[1] - its[0]) if len(its) > 1 else 1
        matched = matched_twin(self.problem, self.macro, main.circuit.scales, record_every=every)
        if not np.array_equal(matched.iteration, its):
            raise RuntimeError("the matched twin's record does not line up with the twin's")
        ideal = main.ideal
        time_s = its * self.problem.dt_s
        note = "Euler steps of the imperfect loop equation (leak, offset, rail, quantized crossbars), Δt = η·τ"
        groups = (
            Group("weights (matched twin)", "time", "s", time_s, self._weight_unit,
                  signals_of(self.problem.weight_names, main.analog.weights, matched.weights,
                             None if ideal is None else ideal.weights),
                  twin=note, ideal="the ideal loop's ODE" if ideal is not None else "", iteration=its,
                  ideal_missing=main.ideal_missing),
            Group("loss (matched twin)", "time", "s", time_s, self._loss_unit,
                  signals_of(["mse"], main.analog.loss[:, None], matched.loss[:, None],
                             None if ideal is None else ideal.loss[:, None]),
                  twin=note, ideal="the ideal loop's ODE" if ideal is not None else "", iteration=its,
                  ideal_missing=main.ideal_missing),
        )
        return Comparison(groups, TwinValidity(True, "the matched twin steps the same Eq. 10 as the twin, so the "
                                                     "twin's validity applies to it"), twin_label="matched twin")

    def _macro_section(self, main: CoSimResult, theory: dict[str, Any]) -> list[str]:
        """The macro level's scale factors and element values, as a designer checks them, and theory's
        settling point."""
        parts, sc = self.macro, main.circuit.scales
        g_lo, g_hi = main.circuit.values()["conductance_range_s"]
        rows = [
            ["weight", f"{sc.v_per_weight:g} V per unit", f"V_w = {parts.ref_v:g} V + s_w·w"],
            ["pre-activation z", f"{sc.v_per_z:.4g} V per unit", f"summing amplifiers R_z = {sc.r_z_ohm:.4g} Ω"],
            ["error cell q", f"{sc.v_per_error_cell:.4g} V per unit", "behavioral cell, scaled inside the rails"],
            ["integrator input e", f"{sc.v_per_error:.4g} V per unit", f"error lines R_e = {sc.r_e_ohm:.4g} Ω"],
            ["data crossbar", f"{sc.s_per_data:.4g} S per unit", "G⁺ − G⁻ pairs"],
            ["error crossbar", f"{sc.s_per_error_gain:.4g} S per unit", "G⁺ − G⁻ pairs"],
            ["OTA", f"gm = {sc.gm_s:.4g} S", f"r_out = {parts.ota_r_out_ohm:g} Ω, offset {parts.ota_offset_v:g} V, "
                                              f"bandwidth {parts.ota_bw_hz:g} Hz"],
            ["weight capacitor", f"{sc.c_w_f:g} F", "leak " + (f"{sc.r_leak_ohm:.4g} Ω" if sc.r_leak_ohm else "none")],
        ]
        return ["## Macro level: scale factors and element values", "",
                f"Supply 0 … {parts.supply_v:g} V, reference {parts.ref_v:g} V; op-amps "
                + (parts.opamp.describe() if parts.opamp.kind == "user" else f"{parts.opamp.kind} "
                   f"(A0 = {parts.opamp.gain:g}, GBW = {parts.opamp.gbw_hz or 0:g} Hz)") + "; crossbar conductances "
                f"{g_lo:.3g} … {g_hi:.3g} S" + (f" in {parts.levels} levels" if parts.levels else "") + ".", "",
                *markdown_table(["signal", "scale", "set by"], rows), "", *self._theory_lines(theory)]

    @staticmethod
    def _theory_lines(t: dict[str, Any]) -> list[str]:
        if not t.get("available"):
            return [f"Theory of the imperfections: not available ({t.get('reason', 'no macro run')}).", ""]
        rows = [[n, f"{t['predicted_shift'][n]:.3e}", f"{t['simulated_shift'][n]:.3e}"] for n in t["predicted_shift"]]
        offset = t["error_offset"]
        offset_text = (f"{offset:.3g}" if isinstance(offset, (int, float))
                       else f"{min(offset):.3g} … {max(offset):.3g} per weight")
        rail = t.get("weight_rail")
        return ["Theory of the imperfections (docs/nf_macro.md): the imperfect loop equation over the run, with the "
                f"OTA's finite output resistance and the capacitor's leakage as a leak λ = {t['leak']:.3g}, the OTA "
                f"offset as an error offset e_os = {offset_text}, the integrators' swing as a weight rail "
                + (f"±{rail:.3g}" if rail is not None else "(none)")
                + " and the crossbars' quantized matrices; final weights shifted from the ideal loop's:", "",
                *markdown_table(["weight", "predicted shift", "simulated shift"], rows[:40]), "",
                f"Left unexplained by the theory: {t['unexplained_max_abs']:.2e} at most.", "",
                *_noise_lines(t.get("noise"))]

    def _report(self, main: CoSimResult, variants, m: dict[str, Any], comparison: Comparison,
                matched: Comparison | None = None) -> str:
        p = self.problem
        lines = [f"# {self.scenario.title}", ""]
        v = comparison.validity
        lines += [("Twin validity: " if v.valid else "**Warning: the twin is outside its valid regime**: ")
                  + v.note + ".", ""]
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
        if self.macro is not None:
            lines += self._macro_section(main, m.get("imperfection_theory", {}))
            ideal_loss = main.ideal.final_loss if main.ideal is not None else main.digital.final_loss
            if m["analog"]["final_loss"] > 10 * ideal_loss:
                t = m.get("imperfection_theory", {})
                why = (f" The theory above predicts the settled weights within {t['unexplained_max_abs']:.2e}: the "
                       "imperfections it models (leak, offset, rails, quantization) account for the miss."
                       if t.get("available") else "")
                lines += [f"**The imperfections break this loop**: final loss {m['analog']['final_loss']:.4g} against "
                          f"the ideal loop's {ideal_loss:.4g} ({m['analog']['final_loss'] / ideal_loss:.0f}×)." + why, ""]
        lines += comparison.report_section(validity=False)
        if matched is not None:
            lines += self._matched_lines(m["matched_twin"], matched)
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
        if "fixed_point" in m:
            f = m["fixed_point"]
            lines += [f"Closed-form fixed point, {f['equation']}: "
                      + ", ".join(f"{k} = {v:.8g}" for k, v in list(f["weights"].items())[:8])
                      + f". Relative distance of the final weights from it: analog {f['analog_relative_error']:.2e}, "
                      f"digital {f['digital_relative_error']:.2e}.", ""]
        if "classification" in m:
            c = m["classification"]
            lines += [f"Held-out test set ({c['test_samples']} samples): analog accuracy {c['analog_test_accuracy']:.2%}, "
                      f"digital {c['digital_test_accuracy']:.2%}, predictions agree on {c['prediction_agreement']:.2%}.", ""]
        if "energy" in m:
            e, d = m["energy"], m["energy"]["digital"]
            lines += ["## Energy", "",
                      f"The op-amps ({e['opamp']}) drew {e['training_run_j']:.3e} J over the training run's "
                      f"{e['duration_s']:.3e} s (quiescent {e['quiescent_power_w']:.3e} W: × duration "
                      f"{e['quiescent_times_duration_j']:.3e} J). The twin's training on this CPU: {d['flops']:.3g} FLOP "
                      f"in {d['time_s']:.3e} s, {d['energy_j']:.3e} J of arithmetic ({d['j_per_flop_source']}; a lower "
                      "bound for the digital side). The OTA-C integrators and activation cells are macromodels and "
                      "draw nothing in this count.", ""]
        t = m["time"]
        lines += [
            "## Timing", "",
            f"netlist {t['netlist_s']:.3f} s, ngspice {t['spice_s']:.3f} s, twin {t['twin_s']:.3f} s.", "",
            "## Figures", "", "![weights](weights.png)", "", "![loss](loss.png)", "", "![fit](fit.png)", "",
            "Files: `netlist.cir` runs unchanged with `ngspice -b -r out.raw netlist.cir`; `metrics.json` holds the numbers.",
        ]
        return "\n".join(lines) + "\n"


def _noise_lines(noise: dict[str, Any] | None) -> list[str]:
    if not noise:
        return []
    if not noise.get("available"):
        return [f"Weight noise theory: not available ({noise.get('reason')}).", ""]
    rows = [[n, f"{noise['predicted_std'][n]:.3e}", f"{noise['simulated_std'][n]:.3e}"] for n in noise["predicted_std"]]
    return [f"OTA input noise {noise['density_v_per_rthz']:g} V/√Hz (seeded): the weights' spread over the last "
            f"{noise['tail_fraction']:.0%} of the run against the linearized loop's stationary spread:", "",
            *markdown_table(["weight", "predicted std", "simulated std"], rows[:40]), ""]


def perturb_nf_problem(problem: NFSingleLayerProblem, variations: list[Variation], seed: int | None):
    """``problem`` with each element variation drawn for sample ``seed`` (see :class:`Variation`)."""
    if seed is None or not variations:
        return problem
    m, n = problem.n_samples, problem.n_weights
    changes: dict[str, np.ndarray] = {}
    for v in variations:
        if v.target == "x":
            changes["x_forward"] = problem.data_matrix * v.factors(seed, (m, n))
        elif v.target == "u":
            changes["u_matrix"] = problem.error_matrix * v.factors(seed, (n, m))
        elif v.target == "tau":
            changes["tau_w_s"] = problem.weight_taus_s * v.factors(seed, (n,))
        elif v.target == "gain":
            changes["forward_gains"] = problem.weight_gains * v.factors(seed, (n,))
    return dataclasses.replace(problem, **changes)


def least_squares_fit(x: np.ndarray, y: np.ndarray, activation: str, w0: np.ndarray) -> np.ndarray:
    """Weights (w, b) minimizing Σ(y − σ(w·x + b))² for the textbook activation, by scipy."""
    from scipy.optimize import least_squares

    from ..reference.activations import sigma_ideal

    def residual(wb):
        z = torch.as_tensor(wb[0] * x + wb[1])
        return sigma_ideal(activation, z).numpy() - y

    start = np.where(np.abs(w0) > 1e-3, w0, 0.5)
    return least_squares(residual, start, xtol=1e-12, ftol=1e-12, gtol=1e-12).x
