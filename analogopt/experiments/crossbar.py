"""Crossbar solver experiments (scenario kinds ``crossbar_mvm``, ``crossbar_solve``, ``crossbar_pinv``) and
002's Recirculation pseudoinverse rule (``recirculation_pinv``, 002 §3, A.3, Fig. 1A).

Each crossbar experiment runs three comparisons:

1. *ideal*: the problem on ideal devices and op-amps in ngspice against torch.linalg's exact answer;
2. *Monte Carlo*: ``samples`` device draws (quantization to ``levels``, lognormal ``sigma``), each run in
   ngspice and compared per sample with the twin applying the *same* perturbed matrices, and with the
   exact answer of the unperturbed problem (the error distribution a designer cares about);
3. *IR drop* (``crossbar_mvm`` with wire resistance, ``[device]`` ``r_wire`` or ``r_row``/``r_col``,
   ``r_driver``, ``r_sense``): the circuit's output against the ideal MVM and against the IR-drop theory
   (:func:`~analogopt.circuits.crossbar.predict_mvm_outputs`, exact nodal analysis of the wires); the
   twin stays the ideal MVM, outside its valid regime there, and is said to be;
4. *settling* (``crossbar_solve`` only): the transient of the Ax = b loop with single-pole op-amps against
   the model ``ln(1/ε) / (ω_p + ω_GBW·λ_min)`` (IEEE TED 2020). ``[settling.opamp]`` may name a user's
   op-amp subcircuit instead (analogopt.blocks.user_block): it runs from ±``supply_v``/2, its A0 and GBW
   for the model are measured by an open-loop AC run (``spice/opamp_open_loop/``), and its files are
   copied to ``blocks/``.

Transistor level: ``[settling.opamp]`` of ``crossbar_solve`` and ``[opamp]`` of ``crossbar_mvm`` and
``crossbar_pinv`` may ask for the GF180MCU op-amp (``level = "transistor"``, see
:mod:`~analogopt.experiments.transistor_parts`) or a user's part: every DC run then uses it, its measured
open loop (A0 and output resistance) gives the finite-gain theory of the answer (closed form for the solve,
the same netlist with linear op-amps solved by the native solver for MVM and pseudoinverse), and the Monte
Carlo draws draw the kit's device mismatch in every op-amp too (``[monte_carlo] pdk_mismatch``, on by
default there), so each draw's answer carries its op-amps' own offsets.

Every ngspice run keeps its netlist, raw file and console output in the result directory:
``spice/ideal/``, ``spice/mc_<k>/`` per draw and ``spice/settling/``.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from matplotlib.figure import Figure

from ..blocks.crossbar import CrossbarMapping, DeviceModel, map_matrix
from ..blocks.opamp import OpAmpModel, opamp_from_config
from ..blocks.user_block import (
    UserOpAmp, copy_user_files, is_user_table, measure_open_loop, supply_sources, user_opamp_from_table,
)
from ..circuits.crossbar import (
    DEFAULT_MAX_CONDITION, CrossbarCircuit, check_conditioned, finite_gain_solution, measure_settling_time,
    mvm_circuit, pinv_circuit, predict_mvm_outputs, predict_settling_time, solve_circuit,
)
from ..errors import ConfigError
from ..limits import SizeEstimate, size_of
from ..progress import Progress
from ..reference import linalg
from ..results import RunDirectory
from ..scenarios import Scenario
from ..spice import NgspiceRunner, Runner, Transient
from ..spice.native import NativeRunner
from ..values import Table
from ..cosim.comparison import Comparison, Group, PlotOptions, Signal, TwinValidity, plot_options, write_metrics
from ..spice.runner import check_deadline
from .base import ExperimentBase, Variation
from .transistor_parts import (
    KEYS, TransistorOpAmp, fitted_opamp_from_table, is_fitted_table, is_transistor_table, mismatch_seed,
    targets_and_point, transistor_design_from_table,
)

#: Largest circuit − finite-gain theory gap, as a fraction of the error the theory predicts, at which the
#: op-amps still count as linear (measured: 0.07–0.18 in the solve, 0.16 in the pseudoinverse at 10 µS;
#: 9 at 100 µS, where the op-amps' outputs carry up to ~0.5 mA)
THEORY_HOLDS = 0.5

#: What each mode's output is called in comparisons
OUTPUT_NAMES = {"mvm": "y = A·x", "solve": "x = A⁻¹·b", "pinv": "pinv(X)"}


def twin_validity(device: DeviceModel, ir_drop_theory: bool = False) -> TwinValidity:
    """The twin is torch's exact linear algebra on the matrices the devices hold: exact for ideal op-amps
    and ideal wires, blind to the wires' IR drop (``ir_drop_theory``: the run compares with the IR-drop
    theory instead, as ``crossbar_mvm`` does)."""
    if device.wires().ideal:
        return TwinValidity(True, "the twin is torch's exact linear algebra on the matrices the devices actually "
                                  "hold (quantized and perturbed, differential pairs subtracted): exact for ideal "
                                  "op-amps and wires")
    instead = ("the IR-drop section compares the circuit with the ideal MVM and with the IR-drop theory instead"
               if ir_drop_theory else "compare with the ideal (exact) answer instead")
    return TwinValidity(False, f"the twin leaves out the wires' IR drop ({wire_text(device)}), so analog-vs-twin "
                               f"deviations measure that drop, not the twin's accuracy; {instead}",
                        {"wires_ohm": wire_values(device)})


def wire_values(device: DeviceModel) -> dict[str, float]:
    """The wire resistances of ``device`` (Ω), by the scenario's names."""
    return {"r_row": device.row_segment_ohm, "r_col": device.col_segment_ohm, "r_driver": device.r_driver_ohm,
            "r_sense": device.r_sense_ohm}


def wire_text(device: DeviceModel) -> str:
    """``device``'s non-zero wire resistances in words."""
    words = {"r_row": "per row segment", "r_col": "per column segment", "r_driver": "driver output",
             "r_sense": "sense"}
    return ", ".join(f"{v:g} Ω {words[k]}" for k, v in wire_values(device).items() if v)


def ir_drop_error(value: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far an MVM output lies from ``reference``: relative L2 and the largest |difference| as a
    fraction of the reference's range (peak-to-peak over the entries; a single entry's magnitude)."""
    diff = np.ravel(value) - np.ravel(reference)
    return {"rel_l2": relative_error(value, reference),
            "max_fraction_of_range": float(np.abs(diff).max() / output_range(reference))}


def output_range(y: np.ndarray) -> float:
    """Peak-to-peak of an output vector over its entries (a single entry: its magnitude)."""
    return float(np.ptp(y)) if np.size(y) > 1 else float(np.abs(y).max())


MODES = ("mvm", "solve", "pinv")
#: ``[device]`` wire resistances (Ω): both segment kinds, row and column segments, driver and sense ends
WIRE_KEYS = ("r_wire", "r_row", "r_col", "r_driver", "r_sense")


def relative_error(value: np.ndarray, reference: np.ndarray) -> float:
    """``‖value − reference‖₂ / ‖reference‖₂`` over all entries."""
    return float(np.linalg.norm(np.ravel(value) - np.ravel(reference)) / np.linalg.norm(np.ravel(reference)))


def make_problem(mode: str, rows: int, cols: int, condition: float, seed: int, b_v: float = 1.0) -> dict[str, np.ndarray]:
    """A seeded random problem with signed entries. ``solve``: A = Q·diag(geomspace(1, 1/condition))·Qᵀ
    (symmetric positive definite, so the feedback loop is stable, with the requested condition number),
    b uniform in ±``b_v`` (V); ``mvm``/``pinv``: uniform entries in [−1, 1]."""
    rng = np.random.default_rng(seed)
    if mode == "solve":
        q, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
        a = q @ np.diag(np.geomspace(1.0, 1.0 / condition, rows)) @ q.T
        return {"A": a, "b": b_v * rng.uniform(-1, 1, rows)}
    if mode == "mvm":
        return {"A": rng.uniform(-1, 1, (rows, cols)), "x": rng.uniform(-1, 1, cols)}
    return {"X": rng.uniform(-1, 1, (rows, cols))}


def exact_answer(mode: str, problem: dict[str, np.ndarray]) -> np.ndarray:
    """torch.linalg's answer of the unperturbed problem: A·x, A⁻¹·b or pinv(X)."""
    if mode == "mvm":
        return (torch.as_tensor(problem["A"]) @ torch.as_tensor(problem["x"])).numpy()
    if mode == "solve":
        return linalg.exact_solve(problem["A"], problem["b"]).numpy()
    return linalg.exact_pinv(problem["X"]).numpy()


@dataclass(frozen=True)
class CrossbarExperiment(ExperimentBase):
    """One crossbar problem: ideal run, Monte Carlo runs and (solve) settling; see the module docstring."""

    kind: ClassVar[str] = "crossbar"
    element_targets: ClassVar[dict[str, str]] = {
        "g": "each crossbar device conductance (lognormal only: the block's device model)"}
    element_distributions: ClassVar[tuple[str, ...]] = ("lognormal",)
    mode: str
    rows: int
    cols: int
    condition: float
    seed: int
    device: DeviceModel
    mc_device: DeviceModel
    samples: int
    mc_seed: int
    max_condition: float = DEFAULT_MAX_CONDITION
    #: the settling transient's op-amp: a single-pole model, or a user's subcircuit (bring your own block)
    settling_opamp: OpAmpModel | UserOpAmp | None = None
    #: the op-amp of the DC runs (ideal run, Monte Carlo, sweep samples): a transistor-level or user part
    #: (the op-amps are then part of the circuit under test), else an ideal VCVS
    dc_opamp: UserOpAmp | None = None
    #: the design behind a transistor-level :attr:`dc_opamp`, for the Monte Carlo's mismatch draws
    transistor: TransistorOpAmp | None = None
    #: whether Monte Carlo draws (and seeded sweep samples) draw the kit's mismatch in every op-amp
    pdk_mismatch: bool = False
    settling_tolerance: float = 1e-3
    title: str = "crossbar"
    problem: dict = field(default_factory=dict, compare=False)
    plot: PlotOptions = PlotOptions()

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "CrossbarExperiment":
        where = scenario.name
        mode = scenario.kind.removeprefix("crossbar_")
        if mode not in MODES:
            raise ConfigError(f"{where}: crossbar kind must be one of crossbar_{', crossbar_'.join(MODES)}")
        cfg = Table(scenario.config, where)
        cfg.reject_unknown({"kind", "title", "description", "problem", "device", "monte_carlo", "settling", "plot",
                            "corners", "opamp"})
        prob = cfg.table("problem", {"rows", "cols", "condition", "seed", "max_condition", "b_v"})
        rows = prob.integer("rows", 8, low=1, high=4096)
        cols = prob.integer("cols", rows, low=1, high=4096)
        if mode == "solve" and cols != rows:
            raise ConfigError(f"{where}: crossbar_solve needs a square matrix (problem.cols = rows = {rows})")
        if mode == "pinv" and rows < cols:
            raise ConfigError(f"{where}: crossbar_pinv needs rows ≥ cols (tall X), got {rows}×{cols}")
        max_condition = prob.number("max_condition", DEFAULT_MAX_CONDITION, low=1)
        condition = prob.number("condition", 10.0, low=1, high=max_condition)
        seed = prob.seed("seed", 0)
        b_v = prob.number("b_v", 1.0, unit="V", positive=True)
        if "b_v" in prob.mapping and mode != "solve":
            raise prob.error("b_v", "sets the right-hand side of crossbar_solve only")
        dev = cfg.table("device", {"g_min", "g_max", *WIRE_KEYS})
        wires = {k: dev.number(k, unit="ohm", low=0) for k in WIRE_KEYS if k in dev.mapping}
        if wires.get("r_wire") and ("r_row" in wires or "r_col" in wires):
            raise ConfigError(f"{dev.path('r_wire')} sets both row and column segments: give it or "
                              f"{dev.path('r_row')}/{dev.path('r_col')}, not both")
        device = DeviceModel(g_min_s=dev.number("g_min", "1u", unit="S"),
                             g_max_s=dev.number("g_max", "100u", unit="S"),
                             **{f"{k}_ohm": v for k, v in wires.items()})
        mc = cfg.table("monte_carlo", {"samples", "levels", "sigma", "seed", "pdk_mismatch"})
        levels = mc.integer("levels", 64, low=2, high=2**20)
        mc_device = dataclasses.replace(device, levels=levels, sigma=mc.number("sigma", 0.05))
        samples = mc.integer("samples", 20, low=1, high=10000)
        mc_seed = mc.seed("seed", 1)
        settling_opamp, dc_opamp, transistor_table, tolerance, fitted_swing = None, None, None, 1e-3, None
        st = cfg.table("settling")
        if mode == "solve" and "opamp" in cfg.mapping:
            raise cfg.error("opamp", "crossbar_solve takes its op-amp from [settling.opamp]")
        if mode != "solve" and "opamp" in cfg.mapping:
            opamp_table = cfg.table("opamp")
            if is_transistor_table(opamp_table.mapping):
                transistor_table = opamp_table
            elif is_user_table(opamp_table.mapping):
                dc_opamp = user_opamp_from_table(opamp_table, scenario.path.parent)
                supply_sources(dc_opamp)
            else:
                level = opamp_table.mapping.get("level")
                given = f"level = {level!r} is not one of its choices; " if level is not None else ""
                raise ConfigError(f"{opamp_table.where}: {given}the {mode} circuit's op-amps are ideal VCVSs unless "
                                  "this table asks for a part: level = \"transistor\" or a user subcircuit (subckt = …)")
        if mode == "solve":
            st.reject_unknown({"tolerance", "opamp"})
            tolerance = st.number("tolerance", 1e-3, above=0, below=1)
            opamp_table = st.table("opamp")
            if is_transistor_table(opamp_table.mapping):
                transistor_table = opamp_table
            elif is_user_table(opamp_table.mapping):
                settling_opamp = user_opamp_from_table(opamp_table, scenario.path.parent)
                supply_sources(settling_opamp)  # a part with supply pins needs supply_v: say so now
            elif is_fitted_table(opamp_table.mapping):
                settling_opamp, fitted_swing = fitted_opamp_from_table(opamp_table, about_ground=True)
            else:
                settling_opamp = opamp_from_config(
                    dict(opamp_table.mapping) if "opamp" in st else {"kind": "single_pole", "gain": 1e5,
                                                                     "gbw_hz": "1meg"},
                    opamp_table.where)
                if settling_opamp.kind != "single_pole":
                    raise ConfigError(f"{where}: settling.opamp.kind must be 'single_pole' (the model uses one GBW pole)")
        elif st:
            raise ConfigError(f"{where}: [settling] applies to crossbar_solve only")
        pdk_mismatch = mc.boolean("pdk_mismatch", transistor_table is not None)
        if pdk_mismatch and transistor_table is None:
            raise mc.error("pdk_mismatch", "draws the PDK's mismatch in transistor-level op-amps; this scenario has "
                           "none (set level = \"transistor\" in its op-amp table)")
        problem = make_problem(mode, rows, cols, condition, seed, b_v)
        main = problem["A"] if mode != "pinv" else problem["X"]
        if mode != "mvm":
            check_conditioned(main, "A" if mode == "solve" else "X", max_condition)
        part = settling_opamp if isinstance(settling_opamp, UserOpAmp) else dc_opamp
        if transistor_table is not None:
            transistor_table.reject_unknown(KEYS)
        supply_v = targets_and_point(transistor_table)[1].supply_v if transistor_table is not None \
            else part.supply_v if part is not None else None
        if supply_v is not None:
            # the answer is the op-amps' output voltage: it must fit between the rails the part runs from
            # (checked before a transistor op-amp is designed: that takes a second of ngspice)
            peak = float(np.max(np.abs(exact_answer(mode, problem))))
            if not peak < supply_v / 2:
                name = part.name if part is not None else "the transistor op-amps"
                raise ConfigError(f"{opamp_table.path('supply_v')}: the answer reaches |x| = {peak:.3g} V, outside the "
                                  f"±{supply_v / 2:g} V rails of {name}; raise supply_v or scale the problem down")
        if fitted_swing is not None:
            peak = float(np.max(np.abs(exact_answer(mode, problem))))
            if not fitted_swing[0] < -peak and peak < fitted_swing[1]:
                raise ConfigError(f"{opamp_table.where}: the answer reaches ±{peak:.3g} V, outside the op-amp's "
                                  f"measured swing {fitted_swing[0]:.3g} … {fitted_swing[1]:.3g} V; scale the "
                                  "problem down")
        transistor = None
        if transistor_table is not None:
            transistor = transistor_design_from_table(transistor_table)
            dc_opamp = transistor.part
            if mode == "solve":
                settling_opamp = dc_opamp
        return cls(mode=mode, rows=rows, cols=cols, condition=condition, seed=seed, device=device,
                   mc_device=mc_device, samples=samples, mc_seed=mc_seed, max_condition=max_condition,
                   settling_opamp=settling_opamp, dc_opamp=dc_opamp, transistor=transistor, pdk_mismatch=pdk_mismatch,
                   settling_tolerance=tolerance, title=scenario.title, problem=problem,
                   plot=plot_options(cfg.table("plot")))

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Sizes before the matrix is made. ngspice's operating point of an N-node crossbar costs about
        a dense factorization, N³: counted as N² elements over 8·N equivalent points (measured: 256² in
        5 s, docs/crossbar.md)."""
        cfg = scenario.config
        prob, mc = (cfg.get(k) if isinstance(cfg.get(k), dict) else {} for k in ("problem", "monte_carlo"))
        rows = size_of(prob, "rows", 8)
        cols = size_of(prob, "cols", rows)
        runs = 2 + size_of(mc, "samples", 20)  # ideal mapping, Monte Carlo samples, settling transient
        # elements per netlist (measured): ideal wires ≈ 1.25 per device (differential pair, sources, sum
        # loads), 2 devices per matrix entry; pinv batches one least-squares circuit (4·rows·cols devices)
        # per row of I
        devices = 4 * rows * rows * cols if scenario.kind == "crossbar_pinv" else 2 * rows * cols
        # wires add, per device, one segment on each line kind that has resistance, and one resistor per
        # line end of each array with a sense or driver resistance
        dev = cfg.get("device") if isinstance(cfg.get("device"), dict) else {}
        r = {k: size_of(dev, k, 0.0) for k in WIRE_KEYS}
        kinds = sum(bool(r["r_wire"] or r[k]) for k in ("r_row", "r_col"))
        # (sizes are estimated before they are validated: an empty array must reach its own error)
        ends = (rows * bool(r["r_sense"]) + cols * bool(r["r_driver"])) / max(rows * cols, 1)
        cells = devices * (1.25 + kinds + ends)
        n = max(rows, cols)
        # the MVM's IR-drop theory: a sparse LU of ~2 nodes per device, ~10·nodes^1.5 (256² in 3 s)
        nodes = 2 * devices if scenario.kind == "crossbar_mvm" and (kinds or ends) else 0
        return SizeEstimate(f"{scenario.name}: {rows:.0f}×{cols:.0f} crossbar, {runs - 2:.0f} Monte Carlo samples",
                            memory_bytes=1000 * cells + 8 * n * n * 8, elements=cells * runs, time_points=8 * n,
                            twin_macs=runs * (n**3 + 10 * nodes**1.5))

    # --------------------------------------------------------------------------------- one sample
    def netlist(self) -> str:
        """The ideally mapped crossbar's netlist (the first one ``run`` simulates)."""
        return self.build(map_matrix(self.problem["X" if self.mode == "pinv" else "A"], self.device), None).netlist

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """One sweep sample: the ideal mapping at a nominal point, else the scenario's [monte_carlo]
        device drawn for ``seed`` (``--vary g=lognormal:S`` replaces its sigma)."""
        matrix = self.problem["X" if self.mode == "pinv" else "A"]
        if seed is None:
            device, rng = self.device, None
        else:
            device = self.mc_device
            for v in variations:
                device = dataclasses.replace(device, sigma=v.sigma)
            rng = np.random.default_rng([seed, zlib.crc32(b"g")])
        forward = map_matrix(matrix, device, seed=rng)
        second = map_matrix(matrix, device, seed=rng) if self.mode == "pinv" and rng is not None else None
        opamp = self.mc_opamp(seed) if seed is not None else self.dc_opamp
        circuit = self.build(forward, second, opamp)
        t0 = time.perf_counter()
        result = runner.run(circuit.deck, run_dir=scratch / "spice")
        spice_s = time.perf_counter() - t0
        value = circuit.values(result.analysis("op"))
        t0 = time.perf_counter()
        twin = self.twin(forward, second)
        twin_s = time.perf_counter() - t0
        exact = self.exact()
        row = self.comparison([("sample", value, twin)], exact).row()
        if self.mode == "mvm":
            theory = predict_mvm_outputs(forward, self.problem["x"])
            for name, (side, ref) in {"circuit_vs_ideal": (value, twin), "theory_vs_ideal": (theory, twin),
                                      "circuit_vs_theory": (value, theory)}.items():
                row |= {f"ir_drop.{name}.{k}": v for k, v in ir_drop_error(side, ref).items()}
        if self.dc_opamp is not None:
            row |= {f"finite_gain.{k}": v for k, v in self.finite_gain(forward, second, value, runner).items()}
            row["pdk_mismatch"] = int(opamp is not self.dc_opamp)
        if seed is None and self.mode == "solve" and isinstance(self.settling_opamp, UserOpAmp):
            # a nominal point (a corner of --corners): time and energy to solution, as a run reports them
            settled = self._settling(forward, exact, runner, None)
            row |= {"settling.measured_s": settled["measured_s"], "settling.predicted_s": settled["predicted_s"]}
            row |= {f"energy.{k}": v for k, v in settled.get("energy", {}).items() if not isinstance(v, dict)}
        return row | {
            "rel_error_vs_exact": relative_error(value, exact),
            "twin_rel_error_vs_exact": relative_error(twin, exact),
            "spice_vs_twin_rel": relative_error(value, twin),
            "device_sigma": device.sigma,
            "device_levels": device.levels if device.levels is not None else 0,
            "time_spice_s": spice_s,
            "time_twin_s": twin_s,
        }

    def mc_opamp(self, *seed: int) -> UserOpAmp | None:
        """The op-amp of the Monte Carlo draw ``seed`` (one or more integers): with :attr:`pdk_mismatch`, the
        transistor op-amp with the kit's mismatch drawn from a seed derived from it (each instance its own
        draw)."""
        if not self.pdk_mismatch:
            return self.dc_opamp
        return self.transistor.drawn(mismatch_seed(*seed))

    def finite_gain(self, mapping: CrossbarMapping, second: CrossbarMapping | None, value: np.ndarray,
                    runner: Runner) -> dict[str, float]:
        """How far the DC answer with :attr:`dc_opamp` should land from the answer of ``mapping``'s devices
        (the twin's): the part's open loop measured (A0, output resistance, one AC run) into the circuit's
        theory: :func:`finite_gain_solution` for the solve; for MVM and pseudoinverse the same netlist with
        linear op-amps of that gain and output resistance, solved by the native solver (no ngspice, no
        transistors). Errors relative to max |answer| of the devices."""
        loop = measure_open_loop(self.dc_opamp, runner)
        devices = self.twin(mapping, second)
        if self.mode == "solve":
            theory = finite_gain_solution(mapping, self.problem["b"], loop.gain, 0.0, loop.r_out_ohm)
        else:
            linear = OpAmpModel(kind="ideal", gain=loop.gain, r_out_ohm=loop.r_out_ohm)
            c = self.build(mapping, second, linear)
            theory = c.values(NativeRunner(timeout_s=getattr(runner, "timeout_s", 600.0)).run(c.deck).analysis("op"))
        scale = float(np.abs(devices).max())
        predicted = float(np.abs(theory - devices).max() / scale)
        gap = float(np.abs(value - theory).max() / scale)
        # the theory is linear: a circuit further from it than half the effect it predicts has op-amps
        # outside their linear range (a class-A output asked for more than its bias current, or a rail)
        return {"gain": loop.gain, "r_out_ohm": loop.r_out_ohm, "predicted_rel_error": predicted,
                "measured_rel_error": float(np.abs(value - devices).max() / scale), "circuit_vs_theory_rel": gap,
                "theory_holds": gap <= THEORY_HOLDS * predicted}

    def build(self, forward: CrossbarMapping, second: CrossbarMapping | None,
              opamp: UserOpAmp | OpAmpModel | None = None) -> CrossbarCircuit:
        """The mode's circuit on ``forward`` (and ``second``, pinv's own Xᵀ draw) with ``opamp`` (None: the
        DC op-amp, :attr:`dc_opamp` or an ideal VCVS)."""
        p = self.problem
        parts = {"opamp": opamp} if opamp is not None else {"opamp": self.dc_opamp} if self.dc_opamp is not None else {}
        if self.mode == "mvm":
            return mvm_circuit(forward, p["x"], **parts)
        if self.mode == "solve":
            return solve_circuit(forward, p["b"], max_condition=self.max_condition, **parts)
        return pinv_circuit(forward, transposed=second, max_condition=self.max_condition, **parts)

    def twin(self, forward: CrossbarMapping, second: CrossbarMapping | None) -> np.ndarray:
        """torch's answer for the matrices the devices actually hold."""
        p = self.problem
        a = forward.effective_matrix
        if self.mode == "mvm":
            return (torch.as_tensor(a) @ torch.as_tensor(p["x"])).numpy()
        if self.mode == "solve":
            return linalg.exact_solve(a, p["b"]).numpy()
        x2 = a if second is None else second.effective_matrix
        return linalg.two_array_lstsq(a, x2, np.eye(self.rows)).numpy()

    def exact(self) -> np.ndarray:
        return exact_answer(self.mode, self.problem)

    # ---------------------------------------------------------------------------------------- run
    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict:
        runner = runner or NgspiceRunner(timeout_s=600)
        matrix = self.problem["X" if self.mode == "pinv" else "A"]
        exact = self.exact()
        progress.stage("ideal")
        ideal_map = map_matrix(matrix, self.device)
        circuit = self.build(ideal_map, None)
        out.write_text("netlist.cir", circuit.netlist)
        ideal = circuit.values(runner.run(circuit.deck, run_dir=out.file("spice/ideal")).analysis("op"))
        ideal_twin = self.twin(ideal_map, None)
        metrics: dict[str, Any] = {
            "mode": self.mode, "shape": [self.rows, self.cols], "element_count": circuit.element_count,
            "g_unit_s": ideal_map.g_unit_s, "device": {"g_min_s": self.device.g_min_s, "g_max_s": self.device.g_max_s,
                                                      "r_wire_ohm": self.device.r_wire_ohm},
            "ideal": {"rel_error_vs_exact": relative_error(ideal, exact),
                      "rel_error_vs_twin": relative_error(ideal, ideal_twin)},
        }
        if self.mode != "mvm":
            metrics["condition_number"] = float(np.linalg.cond(matrix))
        if self.dc_opamp is not None:
            metrics["ideal"]["finite_gain"] = self.finite_gain(ideal_map, None, ideal, runner)
        wired = not self.device.wires().ideal
        if wired:
            metrics["device"] |= wire_values(self.device)
        if wired and self.mode == "mvm":
            progress.stage("IR-drop theory")
            t0 = time.perf_counter()
            theory = predict_mvm_outputs(ideal_map, self.problem["x"])
            metrics["ir_drop"] = {"output_range": output_range(ideal_twin), "theory_s": time.perf_counter() - t0,
                                  "circuit_vs_ideal": ir_drop_error(ideal, ideal_twin),
                                  "theory_vs_ideal": ir_drop_error(theory, ideal_twin),
                                  "circuit_vs_theory": ir_drop_error(ideal, theory)}
            self._ir_drop_plot(ideal, theory, ideal_twin, out)

        progress.stage("monte carlo")
        rng = np.random.default_rng(self.mc_seed)
        spice_err, twin_err, agree, mc_theory_gap, opamp_gap = [], [], [], [], []
        draws: list[tuple[str, np.ndarray, np.ndarray]] = []
        width = len(str(self.samples - 1))  # spice/mc_00 … spice/mc_19: each draw's files stay in the result
        for k in range(self.samples):
            check_deadline(runner, f"starting Monte Carlo draw {k} of {self.samples}")
            forward = map_matrix(matrix, self.mc_device, seed=rng)
            second = map_matrix(matrix, self.mc_device, seed=rng) if self.mode == "pinv" else None
            c = self.build(forward, second, self.mc_opamp(self.mc_seed, k))
            value = c.values(runner.run(c.deck, run_dir=out.file(f"spice/mc_{k:0{width}d}")).analysis("op"))
            twin = self.twin(forward, second)
            if self.dc_opamp is not None:
                opamp_gap.append(float(np.abs(value - twin).max() / np.abs(twin).max()))
            if "ir_drop" in metrics:
                mc_theory_gap.append(relative_error(value, predict_mvm_outputs(forward, self.problem["x"])))
            spice_err.append(relative_error(value, exact))
            twin_err.append(relative_error(twin, exact))
            agree.append(relative_error(value, twin))
            draws.append((f"draw {k:0{width}d}", value, twin))
            progress.update((k + 1) / self.samples)
        spice_err, twin_err, agree = map(np.asarray, (spice_err, twin_err, agree))
        metrics["monte_carlo"] = {
            "samples": self.samples, "levels": self.mc_device.levels, "sigma": self.mc_device.sigma,
            "rel_error_vs_exact": {"mean": spice_err.mean(), "std": spice_err.std(), "max": spice_err.max(),
                                   "values": spice_err},
            "twin_rel_error_vs_exact_mean": twin_err.mean(),
            "mean_error_difference": abs(spice_err.mean() - twin_err.mean()),
            "spice_vs_twin_rel_max": agree.max(),
        }
        if mc_theory_gap:
            metrics["ir_drop"]["mc_circuit_vs_theory_rel_max"] = max(mc_theory_gap)
        if opamp_gap:
            gaps = np.asarray(opamp_gap)
            # against the nominal op-amps' finite-gain prediction: what the draws' own offsets add
            metrics["monte_carlo"]["opamps"] = {
                "pdk_mismatch": self.pdk_mismatch, "part": self.dc_opamp.name,
                "rel_error_vs_devices": {"mean": gaps.mean(), "std": gaps.std(), "max": gaps.max()},
                "nominal_predicted_rel_error": metrics["ideal"]["finite_gain"]["predicted_rel_error"]}
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.subplots()
        ax.hist(spice_err, bins=min(20, max(5, self.samples // 2)), color="tab:blue", alpha=0.7, label="ngspice")
        ax.hist(twin_err, bins=min(20, max(5, self.samples // 2)), histtype="step", color="k", label="twin (same devices)")
        ax.set_xlabel("relative error vs exact answer")
        ax.set_ylabel("samples")
        ax.set_title(f"{self.mode}: {self.samples} draws, {self.mc_device.levels} levels, σ = {self.mc_device.sigma:g}")
        ax.legend()
        out.save_figure("mc_error.png", fig)

        if isinstance(self.settling_opamp, UserOpAmp):
            # the settling deck inlines the user's files; the originals are kept beside it (blocks/)
            copy_user_files([self.settling_opamp], out.path)
        if self.mode == "solve" and self.settling_opamp is not None:
            progress.stage("settling")
            metrics["settling"] = self._settling(ideal_map, exact, runner, out)
        summary = (f"{self.mode} {self.rows}×{self.cols}: ideal rel. error {metrics['ideal']['rel_error_vs_exact']:.2e}; "
                   f"MC mean error {spice_err.mean():.3g} (twin {twin_err.mean():.3g}, max sample gap {agree.max():.1e})")
        if "ir_drop" in metrics:
            d = metrics["ir_drop"]
            summary += (f"; IR drop {d['circuit_vs_ideal']['rel_l2']:.3g} rel. (theory "
                        f"{d['theory_vs_ideal']['rel_l2']:.3g}, circuit vs theory {d['circuit_vs_theory']['rel_l2']:.1e})")
        if "settling" in metrics:
            s = metrics["settling"]
            summary += f"; settling {s['measured_s'] * 1e6:.3g} µs vs predicted {s['predicted_s'] * 1e6:.3g} µs"
        metrics["summary"] = summary
        comparison = self.comparison([("ideal devices", ideal, ideal_twin)], exact, draws, metrics.get("settling"),
                                     metrics.get("ir_drop"))
        write_metrics(out, metrics, comparison, self.plot)
        out.write_text("report.md", self._report(metrics) + "\n".join(comparison.report_section()) + "\n")
        return metrics

    def comparison(self, nominal: list[tuple[str, np.ndarray, np.ndarray]], exact: np.ndarray,
                   draws: list[tuple[str, np.ndarray, np.ndarray]] = (), settling: dict | None = None,
                   ir_drop: dict | None = None) -> Comparison:
        """The answer's entries (row-major) on an entry axis: ngspice vs the twin on the same devices vs
        the exact answer of the unperturbed problem; ``nominal`` (name, analog, twin) as one group each,
        the Monte Carlo ``draws`` as the signals of one more. ``settling`` and ``ir_drop`` (the metrics'
        entries) are the nominal groups' theory."""
        entries = np.arange(np.size(exact))
        name = OUTPUT_NAMES[self.mode]
        truth = np.ravel(exact)
        exact_text = "torch.linalg's exact answer for the unperturbed problem"
        twin_text = "torch.linalg on the matrices the devices hold"
        groups = []
        for label, value, twin in nominal:
            theory = {}
            if settling is not None:
                theory = {"settling_predicted_s": settling["predicted_s"], "settling_measured_s": settling["measured_s"]}
            if ir_drop is not None:
                theory = {"ir_drop_theory_rel_l2_vs_ideal": ir_drop["theory_vs_ideal"]["rel_l2"],
                          "ir_drop_circuit_rel_l2_vs_theory": ir_drop["circuit_vs_theory"]["rel_l2"]}
            groups.append(Group(label, "entry", "", entries, "", (Signal(name, np.ravel(value), np.ravel(twin), truth),),
                                twin=twin_text, ideal=exact_text, theory=theory))
        if draws:
            groups.append(Group(f"monte carlo ({len(draws)} draws)", "entry", "", entries, "",
                                tuple(Signal(label, np.ravel(v), np.ravel(t), truth) for label, v, t in draws),
                                twin=twin_text + " (each draw's own devices)", ideal=exact_text))
        return Comparison(tuple(groups), twin_validity(self.device, self.mode == "mvm"))

    def _settling(self, mapping: CrossbarMapping, exact: np.ndarray, runner: NgspiceRunner,
                  out: RunDirectory | None) -> dict:
        """The settling transient against its model, with energy for a part on supplies; ``out`` None (a
        sweep sample): ngspice's files and the figure are not kept."""
        run_dir = (lambda name: None) if out is None else (lambda name: out.file(f"spice/{name}"))
        model, extra = self.settling_opamp, {}
        if isinstance(model, UserOpAmp):
            # the prediction needs A0 and GBW: measured on the part itself (one AC run), as the
            # single-pole model that the theory assumes; a part far from dominant-pole shows in the ratio
            loop = measure_open_loop(model, runner, run_dir=run_dir("opamp_open_loop"))
            extra = {"opamp": model.record() | {"measured_gain": loop.gain, "measured_unity_gain_hz": loop.unity_gain_hz,
                                                "measured_phase_margin_deg": loop.phase_margin_deg,
                                                "measured_r_out_ohm": loop.r_out_ohm}}
            gain, r_out = loop.gain, loop.r_out_ohm
            model = OpAmpModel(kind="single_pole", gain=loop.gain, gbw_hz=loop.unity_gain_hz)
        else:
            gain, r_out = model.gain, model.r_out_ohm
            if model.kind == "two_pole":  # a fitted macromodel: the settling model takes its GBW pole
                extra = {"opamp_model": dataclasses.asdict(model)}
                model = OpAmpModel(kind="single_pole", gain=model.gain, gbw_hz=model.gbw_hz)
        # where the loop comes to rest with these op-amps: finite gain, loaded by the array
        theory = finite_gain_solution(mapping, self.problem["b"], gain, 0.0, r_out)
        pred = predict_settling_time(mapping, model, self.settling_tolerance)
        c = solve_circuit(mapping, self.problem["b"], opamp=self.settling_opamp, max_condition=self.max_condition,
                          transient=Transient(2.5 * pred.time_s, max_step_s=pred.time_s / 400))
        supplies = self._supply_vectors()
        deck = dataclasses.replace(c.deck, saves=[*c.deck.saves, *supplies]) if supplies else c.deck
        waves = runner.run(deck, run_dir=run_dir("settling")).analysis("tran")
        traj = c.trajectories(waves)
        measured = measure_settling_time(waves.axis, traj, theory, self.settling_tolerance)
        if supplies:
            extra["energy"] = self._energy(waves, supplies, measured)
        scale = float(np.abs(exact).max())
        extra["final_rel_error"] = float(np.abs(traj[-1] - exact).max() / scale)
        extra["finite_gain_theory"] = {
            "gain": gain, "r_out_ohm": r_out,
            "predicted_rel_error": float(np.abs(theory - exact).max() / scale),
            "circuit_vs_theory_rel": float(np.abs(traj[-1] - theory).max() / scale)}
        result = {"predicted_s": pred.time_s, "measured_s": measured, "ratio": measured / pred.time_s,
                  "lambda_min": pred.lambda_min, "gbw_hz": model.gbw_hz, "tolerance": self.settling_tolerance, **extra}
        if out is None:
            return result
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.subplots()
        err = np.abs(traj - theory).max(axis=1) / np.abs(exact).max()
        ax.semilogy(waves.axis * 1e6, np.maximum(err, 1e-12))
        ax.axhline(self.settling_tolerance, color="k", lw=0.8, ls=":")
        ax.axvline(pred.time_s * 1e6, color="tab:red", ls="--", label="predicted")
        ax.axvline(measured * 1e6, color="tab:green", ls="-.", label="measured")
        ax.set_xlabel("time (µs)")
        ax.set_ylabel("max |x − x_∞| / max |x*|  (x_∞: finite-gain rest point)")
        ax.set_title(f"Ax = b settling, GBW = {model.gbw_hz:g} Hz, λ_min = {pred.lambda_min:.3g}")
        ax.legend()
        out.save_figure("settling.png", fig)
        return result

    def _supply_vectors(self) -> dict[str, float]:
        """The op-amps' supply sources (vector → voltage), for a part with ``vdd``/``vss`` pins."""
        part = self.settling_opamp
        if not isinstance(part, UserOpAmp) or part.supply_v is None:
            return {}
        half = part.supply_v / 2
        return {f"i(vop{role[1:]})": sign * half for role, sign in (("vdd", 1.0), ("vss", -1.0))
                if role in part.supply_roles}

    def _energy(self, waves, supplies: dict[str, float], settle_s: float) -> dict[str, Any]:
        """Supply energy of the op-amps until the answer settles (J), their quiescent power at the end of
        the run (W), and the same solve on this CPU (digital baseline, :mod:`analogopt.cosim.energy`)."""
        from ..cosim.energy import digital_solve_baseline, energy_j, supply_energy

        t = np.real(np.asarray(waves.axis))
        whole, _, power = supply_energy(waves, supplies)
        until = t <= settle_s if np.isfinite(settle_s) else np.ones_like(t, dtype=bool)
        to_solution = energy_j(t[until], np.ones(int(until.sum())), power[until])
        digital = digital_solve_baseline(self.problem["A"], self.problem["b"])
        return {"to_solution_j": to_solution, "quiescent_power_w": float(power[-1]), "time_to_solution_s": settle_s,
                "whole_run_j": whole,
                "digital": {"flops": digital.flops, "time_s": digital.time_s, "energy_j": digital.energy_j,
                            "j_per_flop_source": digital.source}}

    def _report(self, m: dict) -> str:
        mc = m["monte_carlo"]
        lines = [f"# {self.title}", "", f"Mode `{self.mode}`, matrix {self.rows}×{self.cols}, "
                 f"{m['element_count']} netlist elements, g_unit = {m['g_unit_s']:.3g} S.", "",
                 "| comparison | value |", "| --- | --- |",
                 f"| ideal devices, ngspice vs torch exact (rel.) | {m['ideal']['rel_error_vs_exact']:.2e} |",
                 f"| MC mean rel. error vs exact ({mc['samples']} draws, {mc['levels']} levels, σ = {mc['sigma']:g}) | "
                 f"{mc['rel_error_vs_exact']['mean']:.4g} ± {mc['rel_error_vs_exact']['std']:.2g} |",
                 f"| same, twin with the same perturbed devices | {mc['twin_rel_error_vs_exact_mean']:.4g} |",
                 f"| largest per-sample ngspice vs twin gap (rel.) | {mc['spice_vs_twin_rel_max']:.2e} |"]
        if "condition_number" in m:
            lines.append(f"| condition number | {m['condition_number']:.3g} |")
        if "r_row" in m["device"] and "ir_drop" not in m:
            lines.append(f"| wires ({wire_text(self.device)}) | no IR-drop theory for mode `{self.mode}`: the twin "
                         "is outside its valid regime |")
        if "settling" in m:
            s = m["settling"]
            lines.append(f"| settling to {s['tolerance']:g}: measured / predicted | {s['measured_s']:.3e} s / "
                         f"{s['predicted_s']:.3e} s (ratio {s['ratio']:.3f}) |")
            if "opamp" in s:
                o = s["opamp"]
                lines.append(f"| settling op-amp: user part {o['name']} (`{o['file']}`, sha256 {o['sha256'][:12]}…), "
                             f"±{o['supply_v'] / 2:g} V | measured A0 = {o['measured_gain']:.3g}, unity gain at "
                             f"{o['measured_unity_gain_hz']:.3g} Hz, phase margin {o['measured_phase_margin_deg']:.0f}° |")
                lines.append(f"| settled answer vs exact (rel., end of transient) | {s['final_rel_error']:.2e} |")
            fg = s["finite_gain_theory"]
            lines.append(f"| finite-gain theory (A0 = {fg['gain']:.3g}, r_out = {fg['r_out_ohm']:.3g} Ω into the array): "
                         f"predicted rel. error / settled circuit vs theory | {fg['predicted_rel_error']:.2e} / "
                         f"{fg['circuit_vs_theory_rel']:.2e} |")
            if "energy" in s:
                e, d = s["energy"], s["energy"]["digital"]
                lines.append(f"| op-amp supply energy to solution / quiescent power / time to solution | "
                             f"{e['to_solution_j']:.3e} J / {e['quiescent_power_w']:.3e} W / {e['time_to_solution_s']:.3e} s |")
                lines.append(f"| digital baseline: numpy.linalg.solve on this CPU | {d['flops']:.3g} FLOP in {d['time_s']:.3e} s; "
                             f"{d['energy_j']:.3e} J of arithmetic ({d['j_per_flop_source']}) |")
        if self.dc_opamp is not None and "finite_gain" in m["ideal"]:
            fg = m["ideal"]["finite_gain"]
            lines.append(f"| op-amps {self.dc_opamp.name} (A0 = {fg['gain']:.3g}, r_out = {fg['r_out_ohm']:.3g} Ω), nominal: "
                         f"measured / predicted rel. error vs the devices' answer | {fg['measured_rel_error']:.2e} / "
                         f"{fg['predicted_rel_error']:.2e} (circuit vs theory {fg['circuit_vs_theory_rel']:.2e}) |")
            if not fg["theory_holds"]:
                lines.append(f"| **finite-gain theory does not hold** | the circuit is further from it than "
                             f"{THEORY_HOLDS:g}× the error it predicts: the op-amps leave the linear range it assumes "
                             "(output current beyond a class-A output's bias, or a rail); lower g_max or the signal |")
        if "opamps" in mc:
            o = mc["opamps"]
            what = "each op-amp with the PDK's mismatch drawn" if o["pdk_mismatch"] else "nominal op-amps"
            lines.append(f"| MC draws ({what}): rel. error vs each draw's devices, mean ± std (max) | "
                         f"{o['rel_error_vs_devices']['mean']:.2e} ± {o['rel_error_vs_devices']['std']:.1e} "
                         f"({o['rel_error_vs_devices']['max']:.2e}); nominal finite-gain theory "
                         f"{o['nominal_predicted_rel_error']:.2e} |")
        plots = ["mc_error.png", *(["ir_drop.png"] if "ir_drop" in m else []), *(["settling.png"] if "settling" in m else [])]
        lines += ["", "Plots: " + ", ".join(f"`{p}`" for p in plots) + ".", ""]
        if "ir_drop" in m:
            lines += self._ir_drop_report(m)
        return "\n".join(lines)

    def _ir_drop_report(self, m: dict) -> list[str]:
        d = m["ir_drop"]

        def pct(e: dict) -> list[str]:
            return [f"{100 * e['rel_l2']:.4g} %", f"{100 * e['max_fraction_of_range']:.4g} %"]

        return ["## IR drop", "",
                f"Wires: {wire_text(self.device)}. The ideal MVM is `g_unit·A_eff·x` on the same devices (the digital "
                "twin, outside its valid regime here: it has no wires); the IR-drop theory is the exact nodal analysis "
                "of both arrays with every wire and end resistance and the TIAs' finite gain "
                f"(`predict_mvm_outputs`, {d['theory_s']:.3g} s). Output range (peak-to-peak of the ideal MVM over its rows): "
                f"{d['output_range']:.4g} V.", "",
                "| comparison | relative L2 | max, % of output range |", "| --- | --- | --- |",
                "| circuit (ngspice) vs ideal MVM: the IR-drop error | " + " | ".join(pct(d["circuit_vs_ideal"])) + " |",
                "| IR-drop theory vs ideal MVM: the predicted error | " + " | ".join(pct(d["theory_vs_ideal"])) + " |",
                f"| circuit vs IR-drop theory | {d['circuit_vs_theory']['rel_l2']:.2e} | "
                f"{100 * d['circuit_vs_theory']['max_fraction_of_range']:.2e} % |",
                *([f"| circuit vs IR-drop theory, worst Monte Carlo draw | {d['mc_circuit_vs_theory_rel_max']:.2e} | |"]
                  if "mc_circuit_vs_theory_rel_max" in d else []),
                "", "Plot: `ir_drop.png` (per output, the circuit's and the theory's difference from the ideal MVM).", ""]

    def _ir_drop_plot(self, circuit: np.ndarray, theory: np.ndarray, ideal: np.ndarray, out: RunDirectory) -> None:
        fig = Figure(figsize=(6.4, 3.6))
        ax = fig.subplots()
        rows = np.arange(len(ideal))
        ax.plot(rows, theory - ideal, color="k", lw=1.0, label="IR-drop theory")
        ax.plot(rows, circuit - ideal, "o", ms=3, color="tab:blue", label="ngspice")
        ax.set_xlabel("output (row)")
        ax.set_ylabel("y − ideal MVM (V)")
        ax.set_title(f"IR drop, {self.rows}×{self.cols}: {wire_text(self.device)}")
        ax.legend()
        out.save_figure("ir_drop.png", fig)


# ================================================================================== Recirculation
@dataclass(frozen=True)
class RecirculationExperiment(ExperimentBase):
    """002 Fig. 1A: ‖pinv(U) − V‖_F and ‖pinv(V) − U‖_F over ``inits`` random A.3 initialisations, for the
    expected rule (damped Ben-Israel–Cohen) and the noise-driven Recirculation rule of §3."""

    kind: ClassVar[str] = "recirculation_pinv"
    has_circuit: ClassVar[bool] = False
    n: int = 10
    inits: int = 100
    max_condition: float = 20.0
    decay: float = 0.9
    steps: int = 300
    noise_samples: int = 4000
    seed: int = 0
    title: str = "Recirculation pseudoinverse"

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "RecirculationExperiment":
        cfg = Table(scenario.config, scenario.name).reject_unknown({"kind", "title", "description", "recirculation"})
        t = cfg.table("recirculation", {"n", "inits", "max_condition", "decay", "steps", "noise_samples", "seed"})
        # decay λ in [0.5, 1): the rule's rate η = 1 − λ must stay ≤ ½ (002 A.3)
        decay = t.number("decay", 0.9, low=0.5, below=1)
        max_condition = t.number("max_condition", 20.0, above=1)
        return cls(n=t.integer("n", 10, low=1, high=512), inits=t.integer("inits", 100, low=1, high=100000),
                   max_condition=max_condition, decay=decay, steps=t.integer("steps", 300, low=1, high=10**6),
                   noise_samples=t.integer("noise_samples", 4000, low=1, high=10**7), seed=t.seed("seed", 0),
                   title=scenario.title)

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        """Pure PyTorch: each noisy step draws two n × K probe blocks per initial pair."""
        t = scenario.config.get("recirculation")
        t = t if isinstance(t, dict) else {}
        n, inits, steps = size_of(t, "n", 10), size_of(t, "inits", 100), size_of(t, "steps", 300)
        k = size_of(t, "noise_samples", 4000)
        return SizeEstimate(f"{scenario.name}: n = {n:.0f}, {inits:.0f} initial pairs, {steps:.0f} steps, "
                            f"{k:.0f} noise samples", memory_bytes=8 * inits * n * (4 * k + 8 * n),
                            twin_macs=steps * inits * (2 * n * n * k + 12 * n**3))

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small batched matmuls: threads only contend
        try:
            u0, v0 = linalg.recirculation_inits(self.n, self.inits, max_condition=self.max_condition, seed=self.seed)
            progress.stage("expected rule")
            expected = linalg.recirculation(u0, v0, self.steps, decay=self.decay, record_every=5)
            progress.stage("noise rule")
            noisy = linalg.recirculation(u0, v0, self.steps, decay=self.decay, noise_samples=self.noise_samples,
                                         seed=self.seed + 1, record_every=5)
        finally:
            torch.set_num_threads(threads)
        condition = ("every eigenvalue μ of V₀U₀ lies in the basin of attraction of μ = 1 of "
                     f"μ ← μ(1 + η(1 − μ))², η = {1 - self.decay:g} (sufficient: ρ(I − V₀U₀) < 1)")
        metrics: dict[str, Any] = {"convergence_condition": condition, "n": self.n, "inits": self.inits,
                                   "max_condition": self.max_condition, "decay": self.decay, "steps": self.steps,
                                   "noise_samples": self.noise_samples,
                                   "condition_met_fraction": expected.condition_met.double().mean().item(),
                                   "disc_condition_met_fraction": expected.disc_condition_met.double().mean().item()}
        fig = Figure(figsize=(9.0, 3.6))
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (name, res) in zip(axes, (("expected", expected), ("noise", noisy))):
            met, conv = res.condition_met, res.converged(1e-3)
            final = torch.maximum(res.err_u[-1], res.err_v[-1])
            metrics[name] = {
                "converged_fraction": conv.double().mean().item(),
                "condition_met_and_converged": int((met & conv).sum()), "condition_met": int(met.sum()),
                "diverged": int(res.diverged.sum()),
                "max_final_error_where_condition_met": final[met].max().item() if met.any() else None,
            }
            steps = res.steps.numpy()
            for k in range(res.err_u.shape[1]):
                e = torch.maximum(res.err_u[:, k], res.err_v[:, k]).numpy()
                ok = np.isfinite(e)
                ax.semilogy(steps[ok], np.maximum(e[ok], 1e-16), lw=0.7,
                            color="tab:blue" if bool(met[k]) else "tab:gray", alpha=0.8 if bool(met[k]) else 0.3)
            ax.axhline(1e-3, color="k", ls=":", lw=0.8)
            ax.set_ylim(1e-16, 1e4)
            ax.set_xlabel("iteration")
            ax.set_title(f"{name} rule: {conv.sum().item()}/{len(conv)} converge")
        axes[0].set_ylabel("max(‖pinv(U)−V‖_F, ‖pinv(V)−U‖_F)")
        out.save_figure("fig1a_frobenius.png", fig)
        metrics["summary"] = (f"{metrics['condition_met_fraction'] * 100:.0f}% of {self.inits} inits meet the "
                              f"condition; converged: expected {metrics['expected']['converged_fraction'] * 100:.0f}%, "
                              f"noise {metrics['noise']['converged_fraction'] * 100:.0f}%")
        write_metrics(out, metrics)
        out.write_text("report.md", "\n".join([
            f"# {self.title}", "", f"Convergence condition checked up front: {condition}.", "",
            f"{self.inits} inits U₀ = I − E_U, V₀ = I − E_V (E ~ U[−1, 1], {self.n}×{self.n}, cond ≤ "
            f"{self.max_condition:g}), damped Ben-Israel–Cohen step η = 1 − λ = {1 - self.decay:g}, {self.steps} steps "
            f"(A.3's update as printed has fixed point UVU = 0; see analogopt.reference.linalg).", "",
            "| rule | condition met | converged (< 1e-3) | diverged | worst final error where met |", "| --- | --- | --- | --- | --- |",
            *[f"| {k} | {metrics[k]['condition_met']} | {metrics[k]['converged_fraction'] * 100:.0f}% | "
              f"{metrics[k]['diverged']} | {metrics[k]['max_final_error_where_condition_met']} |" for k in ("expected", "noise")],
            "", "Plot: `fig1a_frobenius.png` (blue: inits meeting the condition).", ""]))
        return metrics
