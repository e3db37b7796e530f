"""Experiments for the function-inverting loop (scenario kind ``inverse_loop``) and the log amplifier
(scenario kind ``log_amp``): SPICE curves beside their digital twins (000 §2, Eq. 1–7, Fig. 1).

Both run small DC sweeps (and, for the log amp, two transients) in ngspice with tight tolerances:
the finite-gain error of Eq. 5 is ``~1/A`` of the signal (1e-5 at A = 1e5), far below ngspice's default
``reltol = 1e-3``, so the decks set ``reltol = 1e-9`` to resolve it (see docs/opamp.md).

Every ngspice run keeps its netlist, raw file and console output under the result's ``spice/<name>/``
(inverse loop: one per feedback function; log amp: ``transfer``, ``temperature_<k>``, ``error_rs``,
``error_bias``, ``cascade``, ``step_uncompensated``, ``step_compensated``).
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from ..blocks.logamp import JunctionModel
from ..blocks.opamp import OpAmpModel, opamp_from_config
from ..blocks.user_block import copy_user_files, measure_open_loop
from ..circuits.inverse_loop import inverse_loop_circuit
from ..circuits.log_amp import log_amp_circuit
from ..errors import ConfigError
from ..progress import Progress
from ..reference import inverse as twin
from ..results import RunDirectory
from ..scenarios import Scenario
from ..spice import DCSweep, NetlistDeck, NgspiceRunner, Runner, Transient
from ..values import Table
from ..cosim.comparison import Comparison, Group, PlotOptions, Signal, TwinValidity, plot_options, write_metrics
from ..spice.runner import check_deadline
from .base import ExperimentBase, Variation
from .transistor_parts import TransistorOpAmp, is_transistor_table, mismatch_seed, transistor_design_from_table

#: Newton tolerances that resolve errors of 1e-9 relative (default ngspice reltol is 1e-3).
TIGHT_OPTIONS: dict[str, float] = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}


def loop_options(gain: float) -> dict[str, float]:
    """:data:`TIGHT_OPTIONS` for a loop of forward gain ``gain`` (V/V): ``x_o = A·(x_i − B(x_o))`` multiplies
    B's rounding (ε·|B| ≈ 2e-16 V at 1 V) by A, so Newton's updates of x_o never fall below ≈ A·ε V and a
    ``vntol`` under that never converges where x_o crosses 0 (exp at x_i = 1, A = 1e5: 2e-11 V noise
    against vntol 1e-12). ``vntol`` is held at 20·A·ε (4e-10 V at A = 1e5), still 1e-5 of the finite-gain
    error x_o/(A·B') it must resolve."""
    floor = float(f"{20 * gain * float(np.finfo(float).eps):.3g}")  # three digits read better in the deck
    return {**TIGHT_OPTIONS, "vntol": max(TIGHT_OPTIONS["vntol"], floor)}


#: Largest VCVS gain of ``loop.gains`` (V/V): up to it, SPICE stays within 2e-5 of the finite-gain twin
#: (measured at 1e10); past it the tolerance that :func:`loop_options` must allow swamps the answer.
MAX_LOOP_GAIN = 1e10

#: Largest open-loop gain a transistor-level op-amp is taken to have before it is measured (V/V): it sets
#: ``vntol`` (:func:`loop_options`) of a deck built without measuring (``netlist``, export)
TRANSISTOR_GAIN_BOUND = 1e5
#: Largest departure of Eq. 5's answer from the op-amp's DC characteristic, as a fraction of the finite-gain
#: error, at which the Eq. 5 twin of a transistor loop still counts as valid
TWIN_MOVED_LIMIT = 0.3
#: Largest input current of a log amp on the transistor op-amp, as a fraction of its output's sink limit
#: (M7's bias): the log law breaks near the limit (measured: 97 µA sink, the law gone at 200 µA)
SINK_FRACTION = 0.5
#: Load of the follower that measures a transistor op-amp's linear range (F): the design's 5 pF
TRANSISTOR_LOAD_F = 5e-12

#: Junction decks also shrink GMIN (a 1e-12 S leak across each junction is 0.05 % of 1 nA).
JUNCTION_OPTIONS: dict[str, float] = {**TIGHT_OPTIONS, "gmin": 1e-15}


def relative_error(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|value − reference| / max(|reference|, 1e-3·full scale)``: pointwise relative error whose
    floor keeps zero crossings (cubic, tanh at x_i = 0) from dividing by zero."""
    full_scale = float(np.max(np.abs(reference)))
    return np.abs(value - reference) / np.maximum(np.abs(reference), 1e-3 * full_scale)


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``log10 y`` against ``log10 x``."""
    return float(np.polyfit(np.log10(x), np.log10(y), 1)[0])


def _nominal(transistor: TransistorOpAmp) -> TransistorOpAmp:
    """The op-amp without its mismatch draw, where the twin and the theory are measured."""
    return TransistorOpAmp(transistor.ota, transistor.point.at(statistical="none", seed=None))


def _mismatched(experiment: Any, seed: int | None) -> Any:
    """``experiment`` with its transistor op-amp drawn for Monte Carlo sample ``seed`` (unchanged without
    either)."""
    if seed is None or getattr(experiment, "transistor", None) is None:
        return experiment
    return replace(experiment, transistor=experiment.transistor.mismatched(mismatch_seed(seed)))


def static_loop(x_i: np.ndarray, function: str, statics: Any, start: np.ndarray, iterations: int = 50) -> np.ndarray:
    """x_o of the loop with a forward block of DC characteristic ``statics`` (its ``vd(out, cm)``, V):
    the op-amp holds x_o where its inputs differ by ``x_i − B(x_o) = vd(x_o, x_i)``, so
    ``x_o = B⁻¹(x_i − vd(x_o, x_i))``, iterated from ``start`` (vd moves by ~1/A0 of x_o: a contraction)."""
    x_o = np.asarray(start, dtype=float)
    for _ in range(iterations):
        x_o = twin.ideal_inverse(x_i - statics.vd(x_o, x_i), function)
    return x_o


# ============================================================================ inverse loop
@dataclass(frozen=True)
class InverseLoopExperiment(ExperimentBase):
    """Sweep ``x_i`` through loops ``x_o = A·(x_i − B(x_o))`` for each function and gain; compare
    with the finite-A twin (Eq. 5) and with the ideal inverse ``B⁻¹`` (Eq. 7)."""

    kind: ClassVar[str] = "inverse_loop"
    functions: tuple[str, ...]
    gains: tuple[float, ...]
    points: int
    opamp: OpAmpModel
    title: str = "inverse loop"
    plot: PlotOptions = PlotOptions()
    #: ``[opamp] level = "transistor"``: the GF180MCU op-amp is the forward block instead of the VCVS
    #: models of ``gains``; its A0 and offset are measured, and the sweep stays where it is linear
    transistor: TransistorOpAmp | None = None

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "InverseLoopExperiment":
        cfg = Table(scenario.config, scenario.name).reject_unknown({"kind", "title", "description", "loop", "opamp",
                                                                    "plot", "corners"})
        loop = cfg.table("loop", {"functions", "gains", "points"})
        functions = loop.strings("functions", ["cubic", "exp", "tanh"], min_len=1)
        for name in functions:
            twin.feedback_function(name)
        points = loop.integer("points", 201, low=5, high=10001)
        if is_transistor_table(cfg.table("opamp").mapping):
            if "gains" in loop.mapping:
                raise loop.error("gains", "sets the VCVS op-amps' gains; a transistor-level op-amp has its own "
                                 "(measured): leave gains out")
            transistor = transistor_design_from_table(cfg.table("opamp"))
            return cls(functions=tuple(functions), gains=(), points=points, opamp=OpAmpModel(), title=scenario.title,
                       plot=plot_options(cfg.table("plot")), transistor=transistor)
        gains = loop.numbers("gains", [1e2, 1e3, 1e4, 1e5], positive=True, unit="V/V")
        if max(gains) > MAX_LOOP_GAIN:
            raise loop.error("gains", f"{max(gains):g} V/V is above {MAX_LOOP_GAIN:g}: the loop's Newton updates "
                             "cannot fall below A·ε (float64), so ngspice's vntol must grow with A and the circuit "
                             f"leaves the twin (1e12: by 77 % of the range); use gains up to {MAX_LOOP_GAIN:g}")
        # the loop's gains come from loop.gains, so the opamp table may not set one
        table = cfg.table("opamp", {"kind", "gbw_hz", "second_pole_hz", "offset_v"})
        opamp = opamp_from_config({**table.mapping, "gain": max(gains)}, table.where)
        return cls(functions=tuple(functions), gains=tuple(sorted(gains)), points=points, opamp=opamp,
                   title=scenario.title, plot=plot_options(cfg.table("plot")))

    def sweep_range(self, function: str, linear_v: tuple[float, float] | None = None) -> tuple[float, float]:
        """The x_i sweep of ``function``: its default, and with a transistor op-amp only where the op-amp is
        linear: ``linear_v`` (V about the split rails' ground) bounds both its inputs, which sit at x_i,
        and its output x_o = B⁻¹(x_i), so x_i stays within B(linear_v) too."""
        fn = twin.feedback_function(function)
        lo, hi = fn.default_sweep
        if linear_v is None:
            return lo, hi
        low, high = linear_v
        lo, hi = max(lo, low, float(fn.f(low))), min(hi, high, float(fn.f(high)))
        if not lo < hi:
            raise ConfigError(f"inverse loop {function}: no x_i lies inside the op-amp's linear range "
                              f"{low:.3g} … {high:.3g} V at both its inputs and its output")
        return lo, hi

    def _forward(self) -> list:
        return [self.transistor.part] if self.transistor is not None else [replace(self.opamp, gain=g) for g in self.gains]

    def _deck(self, function: str, linear_v: tuple[float, float] | None = None):
        """The DC-sweep deck of the loops with feedback ``function``: (generated circuit, deck, lo, hi)."""
        lo, hi = self.sweep_range(function, linear_v)
        generated = inverse_loop_circuit(function, self._forward())
        options = loop_options(max(self.gains) if self.gains else TRANSISTOR_GAIN_BOUND)
        if self.transistor is not None:  # the kit's temperature
            options |= self.transistor.point.options()
        deck = NetlistDeck(generated.circuit, analyses=[DCSweep(generated.source, lo, hi, (hi - lo) / (self.points - 1))],
                           options=options)
        return generated, deck, lo, hi

    def statics(self, runner: Runner, out: RunDirectory) -> tuple[Any, dict[str, Any]]:
        """The transistor op-amp's DC characteristic (:func:`~analogopt.cosim.transistor_ota.static_transfer`,
        two sweeps at this deck's tolerances) and what it says: ``linear_range_v`` (V about mid supply,
        where the unity-gain follower follows: input common mode and swing together) and ``offset_v``, the
        input offset at mid supply."""
        from ..cosim import transistor_ota as t

        part = _nominal(self.transistor)  # see LogAmpExperiment.run: no bench sees a draw's own instance
        mid = part.point.supply_v / 2
        tight = {k: v for k, v in self._deck(self.functions[0])[1].options.items() if k not in ("temp", "seed")}
        statics, (vin, vout) = t.static_transfer(part.ota, part.point, TRANSISTOR_LOAD_F, runner, tight,
                                                 out.file("spice/opamp_static"))
        low, high = t.follower_range(vin, vout, mid)
        if not low < high:
            raise ConfigError(f"inverse loop: the op-amp at {part.point.label} does not follow its input at mid supply")
        # at balance v_d = −V_os + x_o/A0 (Eq. 5's offset adds to x_i), so at x_o = 0 the offset is −v_d
        offset = -float(statics.vd(np.zeros(1), np.zeros(1))[0])
        return statics, {"linear_range_v": [low - mid, high - mid], "offset_v": offset}

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """The whole experiment as one sweep row; a seeded sample (``sweep --mc``) with a transistor op-amp
        draws the kit's mismatch in the loop's op-amp, against the twin and theory of the nominal one."""
        return ExperimentBase.sample(_mismatched(self, seed), variations, seed, runner, scratch) | {
            "pdk_mismatch": int(self.transistor is not None and seed is not None)}

    def netlist(self) -> str:
        """The first function's deck, the ``netlist.cir`` that ``run`` writes: built without simulating, or
        with a transistor op-amp taken from a run (its sweep stays inside the range measured on it)."""
        if self.transistor is not None:
            return super().netlist()
        return self._deck(self.functions[0])[1].format()

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict:
        runner = runner or NgspiceRunner(timeout_s=120)
        if self.transistor is None:
            return self._sweeps(out, progress, runner)
        # the decks inline the part; its file (and the kit's link) go beside them, as for every user part
        copy_user_files([self.transistor.part], out.path)
        progress.stage("op-amp: open loop and DC characteristic")
        loop = measure_open_loop(_nominal(self.transistor).part, runner, run_dir=out.file("spice/opamp_open_loop"))
        statics, found = self.statics(runner, out)
        measured = {"part": self.transistor.part.name, "pdk": self.transistor.point.record(), "gain": loop.gain,
                    "unity_gain_hz": loop.unity_gain_hz, "r_out_ohm": loop.r_out_ohm, **found}
        # the twin's op-amp is the measured one (Eq. 5 with A0 and the offset at mid supply); the static
        # characteristic is the theory beside it
        measured_model = replace(self, gains=(loop.gain,),
                                 opamp=replace(self.opamp, gain=loop.gain, offset_v=measured["offset_v"]))
        return measured_model._sweeps(out, progress, runner, tuple(measured["linear_range_v"]), measured, statics)

    def _sweeps(self, out: RunDirectory, progress: Progress, runner: Runner,
                linear_v: tuple[float, float] | None = None, measured: dict | None = None, statics: Any = None) -> dict:
        results: dict[str, dict] = {}
        curves: dict[str, dict] = {}
        gains, offset = self.gains, self.opamp.offset_v
        for n, function in enumerate(self.functions):
            check_deadline(runner, f"starting the {function} sweep")
            progress.stage(f"ngspice {function}")
            generated, deck, lo, hi = self._deck(function, linear_v)
            text = deck.format()
            out.write_text(f"netlist_{function}.cir", text)
            if n == 0:
                out.write_text("netlist.cir", text)
            wave = runner.run(deck, run_dir=out.file(f"spice/{function}")).analysis("dc")
            x_i = wave.axis
            ideal = twin.ideal_inverse(x_i, function)
            spice = np.stack([wave[generated.probes[f"x_o[{k}]"]] for k in range(len(gains))])
            model = np.stack([twin.solve_closed_loop(x_i, function, gain=g, offset=offset) for g in gains])
            err_spice = np.mean(np.abs(spice - ideal), axis=1)
            err_twin = np.mean(np.abs(model - ideal), axis=1)
            results[function] = {
                "sweep": [float(lo), float(hi)],
                "max_rel_error_vs_ideal_inverse_at_max_gain": float(relative_error(spice[-1], ideal).max()),
                "max_rel_dev_spice_vs_twin": float(max(relative_error(s, m).max() for s, m in zip(spice, model))),
                "mean_abs_error_vs_gain_spice": err_spice.tolist(),
                "mean_abs_error_vs_gain_twin": err_twin.tolist(),
                "error_slope_spice": loglog_slope(np.array(gains), err_spice) if len(gains) > 1 else None,
                "error_slope_twin": loglog_slope(np.array(gains), err_twin) if len(gains) > 1 else None,
            }
            curves[function] = {"x_i": x_i, "spice": spice, "twin": model, "ideal": ideal}
            if statics is not None:
                # how far the circuit lands from B⁻¹ (V): measured, Eq. 5 at A0, the static characteristic
                static = static_loop(x_i, function, statics, model[0])
                curves[function]["static"] = static
                results[function] |= {"max_abs_error_vs_ideal_v": float(np.abs(spice[0] - ideal).max()),
                                      "max_abs_error_eq5_v": float(np.abs(model[0] - ideal).max()),
                                      "max_abs_error_static_v": float(np.abs(static - ideal).max()),
                                      "max_abs_spice_vs_eq5_v": float(np.abs(spice[0] - model[0]).max()),
                                      "max_abs_spice_vs_static_v": float(np.abs(spice[0] - static).max())}
            progress.update((n + 1) / len(self.functions))
        self._plot(out, curves, results, transistor=measured is not None)
        worst_twin = max(r["max_rel_dev_spice_vs_twin"] for r in results.values())
        worst_ideal = max(r["max_rel_error_vs_ideal_inverse_at_max_gain"] for r in results.values())
        slopes = [r["error_slope_spice"] for r in results.values() if r["error_slope_spice"] is not None]
        metrics = {
            "kind": self.kind,
            "gains": list(self.gains),
            "functions": results,
            "ngspice_options": dict(self._deck(self.functions[0], linear_v)[1].options),
            "summary": (f"max rel. error vs B⁻¹ at A={self.gains[-1]:g}: {worst_ideal:.2e}; SPICE vs finite-A twin: "
                        f"{worst_twin:.2e}" + (f"; error-vs-A slopes: {', '.join(f'{s:.3f}' for s in slopes)}"
                                               if slopes else "")),
        }
        if measured:
            metrics["transistor_opamp"] = measured
            worst = {k: max(r[k] for r in results.values()) for k in
                     ("max_abs_error_vs_ideal_v", "max_abs_error_static_v", "max_abs_spice_vs_static_v", "max_abs_error_eq5_v")}
            metrics["summary"] = (f"transistor op-amp, A0 = {self.gains[0]:.3g}: max |x_o − B⁻¹(x_i)| "
                                  f"{worst['max_abs_error_vs_ideal_v']:.2e} V (op-amp's DC characteristic "
                                  f"{worst['max_abs_error_static_v']:.2e} V, ngspice − it "
                                  f"{worst['max_abs_spice_vs_static_v']:.1e} V; Eq. 5 at A0 "
                                  f"{worst['max_abs_error_eq5_v']:.2e} V)")
        comparison = self.comparison(curves, results)
        write_metrics(out, metrics, comparison, self.plot)
        out.write_text("report.md", self._report(results, metrics, comparison, measured))
        return metrics

    def comparison(self, curves: dict, results: dict) -> Comparison:
        """One group per feedback function on the x_i axis: x_o at every gain, SPICE vs the finite-A twin
        (Eq. 5) vs the ideal inverse B⁻¹ (Eq. 7)."""
        groups = []
        for function, c in curves.items():
            signals = tuple(Signal(f"x_o[A={g:g}]", c["spice"][k], c["twin"][k], c["ideal"])
                            for k, g in enumerate(self.gains))
            r = results[function]
            theory: dict[str, Any] = {"error_vs_gain_slope_predicted": -1.0}
            if r["error_slope_spice"] is not None:
                theory["error_vs_gain_slope_spice"] = r["error_slope_spice"]
            if "static" in c:
                theory = {"dc_characteristic_max_abs_error_v": r["max_abs_error_static_v"],
                          "spice_vs_dc_characteristic_max_abs_v": r["max_abs_spice_vs_static_v"]}
            groups.append(Group(function, "x_i", "V", c["x_i"], "V", signals,
                                twin="the exact root of 000 Eq. 5 at finite A (x_i = x_o/A + B(x_o))",
                                ideal="the ideal inverse B⁻¹(x_i) of 000 Eq. 7", theory=theory))
        if not any("static" in c for c in curves.values()):
            return Comparison(tuple(groups), TwinValidity(
                True, "the twin is the exact root of Eq. 5 for the modelled op-amp (bracketed bisection to machine "
                      "precision): no discretization to go wrong"))
        # Eq. 5 takes the gain and offset at mid supply everywhere; the op-amp's DC characteristic says how
        # far that moves the answer, relative to the finite-gain error Eq. 5 is about
        moved = max(float(np.abs(c["twin"][0] - c["static"]).max() / max(np.abs(c["static"] - c["ideal"]).max(), 1e-30))
                    for c in curves.values())
        note = (f"Eq. 5 with the transistor op-amp's A0 and offset at mid supply; its gain and offset change with the "
                f"output and the common mode, which moves the answer by up to {moved:.2g}× the finite-gain error "
                f"(the op-amp's DC characteristic, which ngspice follows, says so)")
        valid = moved <= TWIN_MOVED_LIMIT
        return Comparison(tuple(groups), TwinValidity(valid, note, {"eq5_vs_dc_characteristic_over_error": moved},
                                                      "" if valid else f"the Eq. 5 twin is outside its valid regime: {note}"))

    def _plot(self, out: RunDirectory, curves: dict, results: dict, transistor: bool = False) -> None:
        fig = Figure(figsize=(4.2 * len(curves), 3.6))
        axes = fig.subplots(1, len(curves), squeeze=False)[0]
        for ax, (function, c) in zip(axes, curves.items()):
            ax.plot(c["x_i"], c["ideal"], "k-", lw=3, alpha=0.3, label="B⁻¹(x_i) (Eq. 7)")
            for k, g in enumerate(self.gains):
                ax.plot(c["x_i"], c["spice"][k], "o", ms=2, label=f"SPICE A={g:g}")
                ax.plot(c["x_i"], c["twin"][k], "-", lw=0.8, label=f"twin A={g:g}")
            ax.set_title(f"B = {function}")
            ax.set_xlabel("x_i (V)")
            ax.set_ylabel("x_o (V)")
        axes[0].legend(fontsize=6)
        out.save_figure("transfer.png", fig)
        if transistor:
            self._error_plot(out, curves)
            return

        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        gains = np.array(self.gains)
        for function, r in results.items():
            line = ax.loglog(gains, r["mean_abs_error_vs_gain_twin"], "-", label=f"{function} twin")[0]
            ax.loglog(gains, r["mean_abs_error_vs_gain_spice"], "o", color=line.get_color(),
                      label=f"{function} SPICE (slope {r['error_slope_spice']:.3f})" if r["error_slope_spice"] else function)
        ax.set_xlabel("forward gain A (V/V)")
        ax.set_ylabel("mean |x_o − B⁻¹(x_i)| (V)")
        ax.set_title("Eq. 5: the inversion error falls as 1/A")
        ax.legend(fontsize=7)
        out.save_figure("error_vs_gain.png", fig)

    def _error_plot(self, out: RunDirectory, curves: dict) -> None:
        """|x_o − B⁻¹(x_i)| along the sweep: the transistor loop's, the Eq. 5 twin's (A0 and offset) and the
        op-amp's measured DC characteristic's."""
        fig = Figure(figsize=(4.4 * len(curves), 3.6), layout="constrained")
        axes = fig.subplots(1, len(curves), squeeze=False)[0]
        for ax, (function, c) in zip(axes, curves.items()):
            floor = 1e-9  # V: below ngspice's resolution of these decks
            ax.semilogy(c["x_i"], np.maximum(np.abs(c["spice"][0] - c["ideal"]), floor), "o", ms=2,
                        label="transistor loop (ngspice)")
            ax.semilogy(c["x_i"], np.maximum(np.abs(c["twin"][0] - c["ideal"]), floor), "-",
                        label=f"Eq. 5 twin, A0 = {self.gains[0]:.3g}")
            ax.semilogy(c["x_i"], np.maximum(np.abs(c["static"] - c["ideal"]), floor), "k--", lw=1,
                        label="op-amp's DC characteristic")
            ax.set_title(f"B = {function}")
            ax.set_xlabel("x_i (V)")
            ax.set_ylabel("|x_o − B⁻¹(x_i)| (V)")
        axes[0].legend(fontsize=7)
        out.save_figure("error_vs_x.png", fig)

    def _report(self, results: dict, metrics: dict, comparison: Comparison, measured: dict | None = None) -> str:
        if measured:
            lo, hi = measured["linear_range_v"]
            opamp = (f"Op-amp: {measured['part']} (GF180MCU, {self.transistor.point.label}), measured A0 = "
                     f"{measured['gain']:.4g}, unity gain at {measured['unity_gain_hz']:.3g} Hz, input offset "
                     f"{measured['offset_v'] * 1e6:.3g} µV at mid supply; split rails "
                     f"±{self.transistor.point.supply_v / 2:g} V. "
                     f"Linear range (unity-gain follower within 0.1 mV): {lo:.3g} … {hi:.3g} V about mid supply; "
                     "each sweep keeps x_i (both inputs) and x_o inside it. Twin: Eq. 5 with the measured A0 and "
                     "offset, exact while gain and offset stay what they are at mid supply. Theory beside it: the "
                     "loop solved with the op-amp's measured DC characteristic v_d(x_o, x_i) (a gain −1 sweep "
                     "for the output, a follower sweep for the common mode, which the inputs set to x_i).")
        else:
            opamp = f"Op-amp: {self.opamp.kind}, gains {', '.join(f'{g:g}' for g in self.gains)}"
        lines = [f"# {self.title}", "", "Loop of 000 Fig. 1a: op-amp forward gain A, feedback B(x_o) as an ngspice "
                 "B-source; DC sweep of x_i. Twin: exact root of 000 Eq. 5, x_i = x_o/A + B(x_o).", "",
                 f"{opamp.rstrip('.')}; ngspice options {metrics['ngspice_options']}.", "",
                 "| B | sweep x_i | max rel. err vs B⁻¹ (A max) | max rel. dev SPICE vs twin | error slope SPICE | twin |",
                 "|---|---|---|---|---|---|"]
        for function, r in results.items():
            slope = "–" if r["error_slope_spice"] is None else f"{r['error_slope_spice']:.4f}"
            slope_t = "–" if r["error_slope_twin"] is None else f"{r['error_slope_twin']:.4f}"
            lines.append(f"| {function} | {r['sweep'][0]:g} … {r['sweep'][1]:g} | "
                         f"{r['max_rel_error_vs_ideal_inverse_at_max_gain']:.2e} | {r['max_rel_dev_spice_vs_twin']:.2e} | "
                         f"{slope} | {slope_t} |")
        if measured:
            lines += ["", "| B | max \\|x_o − B⁻¹\\|: ngspice | Eq. 5 twin (A0, offset) | DC characteristic | "
                      "ngspice − twin | ngspice − characteristic |", "|---|---|---|---|---|---|"]
            lines += [f"| {f} | {r['max_abs_error_vs_ideal_v']:.3e} V | {r['max_abs_error_eq5_v']:.3e} V | "
                      f"{r['max_abs_error_static_v']:.3e} V | {r['max_abs_spice_vs_eq5_v']:.3e} V | "
                      f"{r['max_abs_spice_vs_static_v']:.3e} V |" for f, r in results.items()]
        figure = "![error along the sweep](error_vs_x.png)" if measured else "![error vs gain](error_vs_gain.png)"
        lines += ["", "Relative errors use max(|reference|, 1e-3·full scale) as denominator.", "",
                  "![transfer](transfer.png)", "", figure, "",
                  *comparison.report_section(), f"Summary: {metrics['summary']}", ""]
        return "\n".join(lines)


# ============================================================================ log amp
def _junction_from(table: Table) -> JunctionModel:
    table.reject_unknown({"type", "is_a", "n", "bf", "eg_ev", "xti"})
    values: dict[str, Any] = {"device": table.string("type", "diode")}
    for key in ("is_a", "n", "bf", "eg_ev", "xti"):
        if key in table:
            values[key] = table.number(key, unit="A" if key == "is_a" else None)
    try:
        return JunctionModel(**values)
    except ConfigError as exc:
        raise ConfigError(f"{table.where}: {exc}") from None


def _current(table: Table, key: str, default: float) -> float:
    """A sweep current (A): a log amp takes only I > 0."""
    return table.number(key, default, positive=True, unit="A")


def _overshoot(t: np.ndarray, v: np.ndarray, v0: float, v1: float, t0: float) -> float:
    """Peak excursion beyond the final value, as a fraction of the step ``v1 − v0``."""
    y = (v[t >= t0] - v0) / (v1 - v0)
    return float(max(y.max() - 1.0, 0.0))


@dataclass(frozen=True)
class LogAmpExperiment(ExperimentBase):
    """Log amp (000 Fig. 1b) over decades of current: transfer, conformity, temperature, error sources
    (series resistance, bias current), log→antilog cascade, and the two-pole step response."""

    kind: ClassVar[str] = "log_amp"
    device: JunctionModel
    opamp: OpAmpModel
    i_min_a: float
    i_max_a: float
    points_per_decade: int
    conformity_decades: float
    temperatures_c: tuple[float, ...]
    temp_fit_min_a: float
    rs_ohm: float
    bias_a: float
    cascade_r_ohm: float
    cascade_range_a: tuple[float, float]
    step_opamp: OpAmpModel
    step_currents_a: tuple[float, float]
    step_overshoot: float
    step_stop_s: float
    title: str = "log amp"
    plot: PlotOptions = PlotOptions(log_axis=None)
    #: ``[opamp] level = "transistor"``: the GF180MCU op-amp in the log amp and the antilog stage (at each
    #: sweep's temperature); the twin takes its measured A0 and offset. Its MOS inputs draw no bias
    #: current (no bias error source), and the step section keeps its own two-pole model
    transistor: TransistorOpAmp | None = None

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "LogAmpExperiment":
        cfg = Table(scenario.config, scenario.name)
        cfg.reject_unknown({"kind", "title", "description", "device", "opamp", "sweep", "error_sources", "cascade",
                            "step", "plot", "corners"})
        device = _junction_from(cfg.table("device"))
        opamp_table = cfg.table("opamp")
        transistor = None
        if is_transistor_table(opamp_table.mapping):
            transistor = transistor_design_from_table(opamp_table)
            opamp = OpAmpModel()  # the twin's: replaced by the measured A0 and offset when the run starts
        else:
            opamp = opamp_from_config(dict(opamp_table.mapping) or {"kind": "ideal", "gain": 1e6}, opamp_table.where)
        sweep = cfg.table("sweep", {"i_min_a", "i_max_a", "points_per_decade", "conformity_decades",
                                    "temperatures_c", "temp_fit_min_a"})
        i_min = _current(sweep, "i_min_a", 1e-9)
        i_max = _current(sweep, "i_max_a", 1e-3)
        if not i_max > i_min:
            raise sweep.error("i_max_a", f"must exceed i_min_a ({i_min:g} A), got {i_max:g}")
        ppd = sweep.integer("points_per_decade", 10, low=1, high=1000)
        span = math.log10(i_max / i_min)
        decades = sweep.number("conformity_decades", 5, above=0, high=span + 1e-9)
        temps = sweep.numbers("temperatures_c", [-40, 0, 27, 85, 125], above=-273.15, below=500)
        fit_min = _current(sweep, "temp_fit_min_a", 1e-7)
        if not i_min <= fit_min < i_max:
            raise sweep.error("temp_fit_min_a", f"must lie in [i_min_a, i_max_a) = [{i_min:g}, {i_max:g}) A, "
                                                f"got {fit_min:g}")
        errors = cfg.table("error_sources", {"rs_ohm", "bias_a"})
        rs = errors.number("rs_ohm", 10.0, positive=True, unit="ohm")
        bias = errors.number("bias_a", 1e-10, above=0, below=i_min, unit="A")
        cascade = cfg.table("cascade", {"r_ohm", "i_min_a", "i_max_a"})
        r_ohm = cascade.number("r_ohm", 1e4, positive=True, unit="ohm")
        c_lo = _current(cascade, "i_min_a", 1e-8)
        c_hi = _current(cascade, "i_max_a", 1e-4)
        if not c_hi > c_lo:
            raise cascade.error("i_max_a", f"must exceed i_min_a ({c_lo:g} A), got {c_hi:g}")
        step = cfg.table("step", {"gain", "gbw_hz", "second_pole_hz", "i_from_a", "i_to_a", "overshoot", "stop_s"})
        step_opamp = opamp_from_config({"kind": "two_pole", "gain": step.raw("gain", 1e5),
                                        "gbw_hz": step.raw("gbw_hz", 10e6),
                                        "second_pole_hz": step.raw("second_pole_hz", 1e6)}, step.where)
        if transistor is not None:
            # the input current leaves through the op-amp's output: a class-A stage sinks at most its bias
            sink = transistor.ota.i_ref_a * transistor.ota.mirror_ratios[1]
            for table, key, value in ((sweep, "i_max_a", i_max), (cascade, "i_max_a", c_hi)):
                if not value <= SINK_FRACTION * sink:
                    raise table.error(key, f"{value:g} A flows into the transistor op-amp's output, whose class-A "
                                           f"stage sinks at most {sink:.3g} A (M7's bias); keep it under "
                                           f"{SINK_FRACTION * sink:.3g} A")
        i_from = _current(step, "i_from_a", 1e-5)
        i_to = _current(step, "i_to_a", 1e-4)
        overshoot = step.number("overshoot", 0.05, above=0, below=0.5)
        stop = step.number("stop_s", 20e-6, positive=True, unit="s")
        return cls(device=device, opamp=opamp, i_min_a=i_min, i_max_a=i_max, points_per_decade=ppd,
                   conformity_decades=decades, temperatures_c=tuple(temps), temp_fit_min_a=fit_min, rs_ohm=rs,
                   bias_a=bias, cascade_r_ohm=r_ohm, cascade_range_a=(c_lo, c_hi), step_opamp=step_opamp,
                   step_currents_a=(i_from, i_to), step_overshoot=overshoot, step_stop_s=stop, title=scenario.title,
                   plot=plot_options(cfg.table("plot")), transistor=transistor)

    # -------------------------------------------------------------------------------- helpers
    def _sweep_deck(self, device: JunctionModel, opamp: OpAmpModel, temp_c: float, lo_a: float, hi_a: float,
                    antilog_r_ohm: float | None = None):
        """The log-spaced DC sweep of the input current: (generated circuit, deck). A transistor op-amp is
        the design at the sweep's temperature."""
        if self.transistor is not None:
            opamp = self.transistor.ota.as_part(self.transistor.point.at(temp_c=float(temp_c)))
        generated = log_amp_circuit(device, opamp, antilog_r_ohm=antilog_r_ohm)
        lo, hi = math.log10(lo_a), math.log10(hi_a)
        deck = NetlistDeck(generated.circuit, analyses=[DCSweep(generated.source, lo, hi, 1.0 / self.points_per_decade)],
                           options={**JUNCTION_OPTIONS, "temp": float(temp_c), "tnom": twin.TNOM_C})
        return generated, deck

    def sample(self, variations: list[Variation], seed: int | None, runner: Runner, scratch: Path) -> dict[str, Any]:
        """The whole experiment as one sweep row; a seeded sample with a transistor op-amp draws the kit's
        mismatch in every op-amp (log and antilog stage each their own)."""
        return ExperimentBase.sample(_mismatched(self, seed), variations, seed, runner, scratch) | {
            "pdk_mismatch": int(self.transistor is not None and seed is not None)}

    def netlist(self) -> str:
        """The 27 °C transfer sweep, the ``netlist.cir`` that ``run`` writes, built without simulating."""
        return self._sweep_deck(replace(self.device, rs_ohm=0.0), self.opamp, twin.TNOM_C, self.i_min_a,
                                self.i_max_a)[1].format()

    def _sweep(self, runner: NgspiceRunner, device: JunctionModel, opamp: OpAmpModel, temp_c: float,
               lo_a: float, hi_a: float, antilog_r_ohm: float | None = None, *, out: RunDirectory, name: str,
               main: bool = False):
        """Run the sweep in ``out``'s ``spice/<name>/`` (its netlist, raw file and ngspice output stay
        there); ``main``: also write it as the result's ``netlist.cir``."""
        check_deadline(runner, f"starting the {name} sweep")
        generated, deck = self._sweep_deck(device, opamp, temp_c, lo_a, hi_a, antilog_r_ohm)
        if main:
            out.write_text("netlist.cir", deck.format())
        wave = runner.run(deck, run_dir=out.file(f"spice/{name}")).analysis("dc")
        signals = {role: wave[node] for role, node in generated.probes.items()}
        return 10.0 ** wave.axis, signals

    def _twin(self, device: JunctionModel, opamp: OpAmpModel, current_a: np.ndarray, temp_c: float) -> np.ndarray:
        return twin.log_amp_output(current_a, temp_c, junction=asdict(device), gain=opamp.gain,
                                   offset_v=opamp.offset_v, bias_a=opamp.bias_a)

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict:
        runner = runner or NgspiceRunner(timeout_s=120)
        if self.transistor is None:
            return self._run(out, progress, runner)
        from ..cosim.transistor_ota import systematic_offset_v

        copy_user_files([self.transistor.part], out.path)
        progress.stage("op-amp: open loop and offset")
        loop = measure_open_loop(_nominal(self.transistor).part, runner, run_dir=out.file("spice/opamp_open_loop"))
        # the twin's op-amp is the nominal one: a mismatch draw's instances differ from deck to deck, so no
        # bench sees the loop's own draw, and the sample's departure from the twin is the mismatch's effect
        offset = systematic_offset_v(self.transistor.ota, self.transistor.point, runner)
        measured = replace(self, opamp=OpAmpModel(kind="ideal", gain=loop.gain, offset_v=offset))
        return measured._run(out, progress, runner, {
            "part": self.transistor.part.name, "pdk": self.transistor.point.record(), "gain": loop.gain,
            "unity_gain_hz": loop.unity_gain_hz, "offset_v": offset,
            "sink_limit_a": self.transistor.ota.i_ref_a * self.transistor.ota.mirror_ratios[1]})

    def _run(self, out: RunDirectory, progress: Progress, runner: Runner, transistor: dict | None = None) -> dict:
        ideal_device = replace(self.device, rs_ohm=0.0)
        junction = asdict(ideal_device)
        metrics: dict[str, Any] = {"kind": self.kind, "device": asdict(self.device), "opamp": asdict(self.opamp)}
        if transistor is not None:
            metrics["transistor_opamp"] = transistor
        groups: list[Group] = []
        twin_text = "the closed form v_out = (V_os − V_J(I − I_b))/(1 + 1/A) with ngspice's junction and Is(T) laws"
        ideal_text = "the ideal log law −n·V_T·ln(I/Is) of 000 Eq. 7 (infinite gain, no Rs, no bias current)"

        def current_group(name: str, current: np.ndarray, analog, model, ideal, signal: str = "v_out",
                          unit: str = "V", twin_is: str = twin_text, ideal_is: str = ideal_text,
                          theory: dict | None = None) -> None:
            groups.append(Group(name, "input current", "A", current, unit, (Signal(signal, analog, model, ideal),),
                                twin=twin_is, ideal=ideal_is, log_axis=True, theory=theory or {}))

        # 1. transfer curve and log conformity at 27 °C
        progress.stage("transfer")
        i, wave = self._sweep(runner, ideal_device, self.opamp, twin.TNOM_C, self.i_min_a, self.i_max_a, out=out,
                              name="transfer", main=True)
        v = wave["out"]
        v_twin = self._twin(ideal_device, self.opamp, i, twin.TNOM_C)
        v_ideal = twin.ideal_log_law(i, twin.TNOM_C, **junction)
        slope_expected = float(twin.log_slope_per_decade(twin.TNOM_C, self.device.n))
        slope = -float(np.polyfit(np.log10(i), v, 1)[0])
        window = np.log10(i) <= math.log10(self.i_min_a) + self.conformity_decades + 1e-9
        fit = np.polyval(np.polyfit(np.log10(i[window]), v[window], 1), np.log10(i[window]))
        full_scale = float(np.ptp(v[window]))
        conformity = float(np.max(np.abs(v[window] - fit)) / full_scale)
        metrics["transfer"] = {
            "slope_v_per_decade": slope, "slope_expected_v_per_decade": slope_expected,
            "slope_rel_error": abs(slope / slope_expected - 1.0),
            "max_abs_dev_spice_vs_twin_v": float(np.max(np.abs(v - v_twin))),
            "max_abs_dev_spice_vs_ideal_log_v": float(np.max(np.abs(v - v_ideal))),
            "conformity_fraction_of_full_scale": conformity, "conformity_decades": self.conformity_decades,
        }
        self._plot_transfer(out, i, v, v_twin, v_ideal, window, fit)
        current_group("transfer", i, v, v_twin, v_ideal,
                      theory={"slope_predicted_v_per_decade": slope_expected, "slope_spice_v_per_decade": slope})

        # 2. temperature
        progress.stage("temperature")
        slopes, devs, outputs = [], [], []
        for n, temp in enumerate(self.temperatures_c):
            i_t, w_t = self._sweep(runner, ideal_device, self.opamp, temp, self.i_min_a, self.i_max_a,
                                   out=out, name=f"temperature_{n}")
            use = i_t >= self.temp_fit_min_a * (1 - 1e-9)
            slopes.append(-float(np.polyfit(np.log10(i_t[use]), w_t["out"][use], 1)[0]))
            twin_t = self._twin(ideal_device, self.opamp, i_t, temp)
            devs.append(float(np.max(np.abs(w_t["out"] - twin_t))))
            outputs.append((i_t, w_t["out"], twin_t))
            current_group(f"temperature {temp:g} °C", i_t, w_t["out"], twin_t,
                          twin.ideal_log_law(i_t, temp, **junction))
            progress.update((n + 1) / len(self.temperatures_c))
        kelvin = np.array(self.temperatures_c) + twin.KELVIN
        per_kelvin = np.array(slopes) / kelvin
        metrics["temperature"] = {
            "temperatures_c": list(self.temperatures_c), "slope_v_per_decade": slopes,
            "slope_expected_v_per_decade": twin.log_slope_per_decade(np.array(self.temperatures_c), self.device.n).tolist(),
            "slope_over_t_spread": float(np.ptp(per_kelvin) / np.mean(per_kelvin)),
            "fit_from_a": self.temp_fit_min_a, "max_abs_dev_spice_vs_twin_v": max(devs),
        }
        self._plot_temperature(out, kelvin, slopes, outputs)

        # 3. error sources: series resistance (high end) and op-amp bias current (low end)
        progress.stage("error sources")
        base = v
        rs_device = replace(ideal_device, rs_ohm=self.rs_ohm)
        _, w_rs = self._sweep(runner, rs_device, self.opamp, twin.TNOM_C, self.i_min_a, self.i_max_a,
                              out=out, name="error_rs")
        err_rs, err_rs_twin = w_rs["out"] - base, self._twin(rs_device, self.opamp, i, 27.0) - v_twin
        metrics["error_sources"] = {
            "rs_ohm": self.rs_ohm, "rs_error_low_end_v": float(err_rs[0]), "rs_error_high_end_v": float(err_rs[-1]),
            "rs_max_abs_dev_spice_vs_twin_v": float(np.max(np.abs(err_rs - err_rs_twin))),
        }
        current_group(f"series resistance {self.rs_ohm:g} Ω", i, w_rs["out"], self._twin(rs_device, self.opamp, i, 27.0),
                      v_ideal)
        bias = None
        if self.transistor is None:  # a transistor op-amp's MOS inputs draw no bias current
            bias_opamp = replace(self.opamp, bias_a=self.bias_a)
            _, w_b = self._sweep(runner, ideal_device, bias_opamp, twin.TNOM_C, self.i_min_a, self.i_max_a,
                                 out=out, name="error_bias")
            err_b, err_b_twin = w_b["out"] - base, self._twin(ideal_device, bias_opamp, i, 27.0) - v_twin
            metrics["error_sources"] |= {
                "bias_a": self.bias_a, "bias_error_low_end_v": float(err_b[0]), "bias_error_high_end_v": float(err_b[-1]),
                "bias_max_abs_dev_spice_vs_twin_v": float(np.max(np.abs(err_b - err_b_twin)))}
            current_group(f"bias current {self.bias_a:g} A", i, w_b["out"],
                          self._twin(ideal_device, bias_opamp, i, 27.0), v_ideal)
            bias = (err_b, err_b_twin)
        self._plot_errors(out, i, err_rs, err_rs_twin, bias)

        # 4. log → antilog cascade
        progress.stage("cascade")
        i_c, w_c = self._sweep(runner, ideal_device, self.opamp, twin.TNOM_C, *self.cascade_range_a,
                               antilog_r_ohm=self.cascade_r_ohm, out=out, name="cascade")
        returned = w_c["antilog"] / self.cascade_r_ohm
        # both stages are the same op-amp: the antilog's offset is the log stage's
        returned_twin = twin.antilog_amp_output(self._twin(ideal_device, self.opamp, i_c, 27.0), 27.0, junction=junction,
                                                r_ohm=self.cascade_r_ohm, gain=self.opamp.gain,
                                                offset_v=self.opamp.offset_v) / self.cascade_r_ohm
        metrics["cascade"] = {
            "r_ohm": self.cascade_r_ohm, "range_a": list(self.cascade_range_a),
            "max_rel_error": float(np.max(np.abs(returned / i_c - 1))),
            "max_rel_error_twin": float(np.max(np.abs(returned_twin / i_c - 1))),
        }
        self._plot_cascade(out, i_c, returned, returned_twin)
        current_group("log-antilog cascade", i_c, returned, returned_twin, i_c, signal="v_antilog/R", unit="A",
                      twin_is="the log amp's closed form followed by the antilog amp's (finite A)",
                      ideal_is="the input current itself (an ideal log → antilog cascade is the identity)")

        # 5. two-pole op-amp step response, raw and compensated. Always with a diode: its forced
        # current makes the junction a battery (β = 1). A transdiode's collector node has no
        # conductance but gmin in forward activity, so its loop gain is A·gm/gmin — unbounded without
        # the feedback capacitor a real transdiode amp needs, which this toolkit does not model.
        progress.stage("step response")
        ideal_device = replace(ideal_device, device="diode")
        compensated = self.step_opamp.compensated(beta=1.0, overshoot=self.step_overshoot)
        steps = {}
        i_from, i_to = self.step_currents_a
        v0, v1 = self._twin(ideal_device, self.step_opamp, np.array([i_from, i_to]), 27.0)
        t0 = 0.1 * self.step_stop_s
        for label, model in (("uncompensated", self.step_opamp), ("compensated", compensated)):
            generated = log_amp_circuit(ideal_device, model, step=(i_from, i_to, t0, 1e-3 * t0))
            deck = NetlistDeck(generated.circuit, analyses=[Transient(self.step_stop_s, max_step_s=self.step_stop_s / 4000,
                                                                      uic=False)],
                               options={**JUNCTION_OPTIONS, "reltol": 1e-6}, saves=["v(out)"])
            out.write_text(f"netlist_step_{label}.cir", deck.format())
            w = runner.run(deck, run_dir=out.file(f"spice/step_{label}")).analysis("tran")
            t = w.axis
            y_twin = v0 + (v1 - v0) * twin.closed_loop_step(t - t0, gain=model.gain, gbw_hz=model.gbw_hz,
                                                            second_pole_hz=model.second_pole_hz)
            steps[label] = {
                "gbw_hz": model.gbw_hz, "second_pole_hz": model.second_pole_hz,
                "phase_margin_deg": model.phase_margin_deg(1.0),
                "overshoot_spice": _overshoot(t, w["out"], v0, v1, t0),
                "overshoot_twin": _overshoot(t, y_twin, v0, v1, t0),
                "_t": t, "_v": w["out"], "_twin": y_twin,
            }
        for label, st in steps.items():
            groups.append(Group(f"step {label}", "time after the step", "s", st["_t"] - t0, "V",
                                (Signal("v_out", st["_v"], st["_twin"]),),
                                twin="the closed-loop step of the two-pole op-amp model (poles of 1 + A(s)·β)",
                                theory={"overshoot_predicted": st["overshoot_twin"],
                                        "overshoot_spice": st["overshoot_spice"]}))
        metrics["step"] = {k: {kk: vv for kk, vv in s.items() if not kk.startswith("_")} for k, s in steps.items()}
        metrics["step"]["target_overshoot"] = self.step_overshoot
        metrics["step"]["device"] = "diode"
        self._plot_step(out, steps, t0)

        tr, tm, cs, st = metrics["transfer"], metrics["temperature"], metrics["cascade"], metrics["step"]
        metrics["summary"] = (
            f"slope {tr['slope_v_per_decade'] * 1e3:.3f} mV/dec (ideal {tr['slope_expected_v_per_decade'] * 1e3:.3f}); "
            f"conformity {tr['conformity_fraction_of_full_scale'] * 100:.4f} % FS; slope/T spread "
            f"{tm['slope_over_t_spread'] * 100:.3f} %; cascade {cs['max_rel_error'] * 100:.3f} %; overshoot "
            f"{st['uncompensated']['overshoot_spice'] * 100:.1f} % → {st['compensated']['overshoot_spice'] * 100:.1f} %"
        )
        metrics["ngspice_options"] = JUNCTION_OPTIONS
        comparison = Comparison(tuple(groups), TwinValidity(
            True, "the twins are closed forms of the modelled circuit (ngspice's junction equations and Is(T), the "
                  "op-amp's gain, offset and bias; the two-pole step response), with no discretization; the "
                  "temperature slopes are fitted only where the junction is exponential (from sweep.temp_fit_min_a)"))
        write_metrics(out, metrics, comparison, self.plot)
        out.write_text("report.md", self._report(metrics) + "\n".join(comparison.report_section()) + "\n")
        return metrics

    # -------------------------------------------------------------------------------- plots
    def _plot_transfer(self, out, i, v, v_twin, v_ideal, window, fit) -> None:
        fig = Figure(figsize=(9, 3.6))
        ax1, ax2 = fig.subplots(1, 2)
        ax1.semilogx(i, v, "o", ms=3, label="SPICE")
        ax1.semilogx(i, v_twin, "-", label="twin (finite A)")
        ax1.semilogx(i, v_ideal, "--", label="ideal −nV_T ln(I/Is)")
        ax1.set_xlabel("input current (A)")
        ax1.set_ylabel("v_out (V)")
        ax1.set_title(f"log amp ({self.device.device}), 27 °C")
        ax1.legend(fontsize=7)
        ax2.semilogx(i[window], (v[window] - fit) / np.ptp(v[window]) * 100, "o-", ms=3)
        ax2.set_xlabel("input current (A)")
        ax2.set_ylabel("deviation from best-fit line (% FS)")
        ax2.set_title(f"log conformity over {self.conformity_decades:g} decades")
        out.save_figure("transfer.png", fig)

    def _plot_temperature(self, out, kelvin, slopes, outputs) -> None:
        fig = Figure(figsize=(9, 3.6))
        ax1, ax2 = fig.subplots(1, 2)
        tt = np.linspace(kelvin.min(), kelvin.max(), 50)
        ax1.plot(tt - twin.KELVIN, twin.log_slope_per_decade(tt - twin.KELVIN, self.device.n) * 1e3, "-", label="n·kT/q·ln10")
        ax1.plot(kelvin - twin.KELVIN, np.array(slopes) * 1e3, "o", label="SPICE")
        ax1.set_xlabel("temperature (°C)")
        ax1.set_ylabel("slope (mV/decade)")
        ax1.legend(fontsize=7)
        for temp, (i, v, v_t) in zip(self.temperatures_c, outputs):
            ax2.semilogx(i, (v - v_t) * 1e6, label=f"{temp:g} °C")
        ax2.set_xlabel("input current (A)")
        ax2.set_ylabel("SPICE − twin (µV)")
        ax2.set_title("error vs temperature")
        ax2.legend(fontsize=7)
        out.save_figure("temperature.png", fig)

    def _plot_errors(self, out, i, err_rs, err_rs_twin, bias=None) -> None:
        fig = Figure(figsize=(5.5, 4))
        ax = fig.subplots()
        ax.loglog(i, np.abs(err_rs), "o", ms=3, label=f"SPICE Rs = {self.rs_ohm:g} Ω")
        ax.loglog(i, np.abs(err_rs_twin), "-", label="twin Rs")
        if bias is not None:
            ax.loglog(i, np.abs(bias[0]), "s", ms=3, label=f"SPICE I_bias = {self.bias_a:g} A")
            ax.loglog(i, np.abs(bias[1]), "-", label="twin I_bias")
        ax.set_xlabel("input current (A)")
        ax.set_ylabel("|output error| (V)")
        ax.set_title("error sources: Rs at the top, bias current at the bottom")
        ax.legend(fontsize=7)
        out.save_figure("error_sources.png", fig)

    def _plot_cascade(self, out, i, returned, returned_twin) -> None:
        fig = Figure(figsize=(5.5, 4))
        ax = fig.subplots()
        ax.semilogx(i, (returned / i - 1) * 100, "o", ms=3, label="SPICE")
        ax.semilogx(i, (returned_twin / i - 1) * 100, "-", label="twin")
        ax.set_xlabel("input current (A)")
        ax.set_ylabel("v_antilog/R ÷ I_in − 1 (%)")
        ax.set_title("log → antilog cascade")
        ax.legend(fontsize=7)
        out.save_figure("cascade.png", fig)

    def _plot_step(self, out, steps, t0) -> None:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for label, s in steps.items():
            line = ax.plot((s["_t"] - t0) * 1e6, s["_v"], label=f"SPICE {label} (GBW {s['gbw_hz'] / 1e6:.3g} MHz)")[0]
            ax.plot((s["_t"] - t0) * 1e6, s["_twin"], "--", color=line.get_color(), lw=1, label=f"twin {label}")
        ax.set_xlabel("time after the current step (µs)")
        ax.set_ylabel("v_out (V)")
        ax.set_title("two-pole op-amp in the log-amp loop")
        ax.legend(fontsize=7)
        out.save_figure("step.png", fig)

    def _report(self, m: dict) -> str:
        tr, tm, es, cs, st = m["transfer"], m["temperature"], m["error_sources"], m["cascade"], m["step"]
        if "bias_a" in es:
            bias_line = (f"- bias current {es['bias_a']:g} A: error {es['bias_error_low_end_v']:.3e} V at the bottom, "
                         f"{es['bias_error_high_end_v']:.3e} V at the top; twin within "
                         f"{es['bias_max_abs_dev_spice_vs_twin_v']:.2e} V")
        else:
            bias_line = "- bias current: none (the transistor op-amp's inputs are MOS gates)"
        if "transistor_opamp" in m:
            t = m["transistor_opamp"]
            opamp = (f"the transistor-level {t['part']} (GF180MCU, {self.transistor.point.label}, at each sweep's "
                     f"temperature; measured A0 = {t['gain']:.4g}, offset {t['offset_v'] * 1e6:.3g} µV, output sink "
                     f"limit {t['sink_limit_a']:.3g} A)")
        else:
            opamp = f"{self.opamp.kind}, A = {self.opamp.gain:g}"
        rows = "\n".join(f"| {t:g} | {s * 1e3:.4f} | {e * 1e3:.4f} |" for t, s, e in
                         zip(tm["temperatures_c"], tm["slope_v_per_decade"], tm["slope_expected_v_per_decade"]))
        return f"""# {self.title}

Log amplifier of 000 Fig. 1b: input current forced through a {self.device.device} in the feedback path of an
op-amp ({opamp}); the loop outputs the inverse of the exponential (000 Eq. 7).
Twin: closed form v_out = (V_os − V_J(I − I_b))/(1 + 1/A) with ngspice's junction and Is(T) laws.

## Transfer at 27 °C ({self.i_min_a:g} … {self.i_max_a:g} A)
- slope {tr['slope_v_per_decade'] * 1e3:.4f} mV/decade; ideal n·V_T·ln10 = {tr['slope_expected_v_per_decade'] * 1e3:.4f} mV/decade
  (relative error {tr['slope_rel_error']:.2e})
- log conformity over {tr['conformity_decades']:g} decades: {tr['conformity_fraction_of_full_scale'] * 100:.5f} % of full scale
- SPICE vs twin: max |Δ| = {tr['max_abs_dev_spice_vs_twin_v']:.3e} V

![transfer](transfer.png)

## Temperature (slope fitted from {tm['fit_from_a']:g} A up: near Is(T) the junction leaves its exponential region)
| T (°C) | SPICE slope (mV/dec) | n·kT/q·ln10 (mV/dec) |
|---|---|---|
{rows}

slope/T spread {tm['slope_over_t_spread'] * 100:.4f} %; SPICE vs twin max |Δ| {tm['max_abs_dev_spice_vs_twin_v']:.3e} V.

![temperature](temperature.png)

## Error sources
- Rs = {es['rs_ohm']:g} Ω: error {es['rs_error_low_end_v']:.3e} V at the bottom, {es['rs_error_high_end_v']:.3e} V at the top; twin within {es['rs_max_abs_dev_spice_vs_twin_v']:.2e} V
{bias_line}

![error sources](error_sources.png)

## Log → antilog cascade (R = {cs['r_ohm']:g} Ω, {cs['range_a'][0]:g} … {cs['range_a'][1]:g} A)
max |I_out/I_in − 1| = {cs['max_rel_error'] * 100:.4f} % (twin {cs['max_rel_error_twin'] * 100:.4f} %)

![cascade](cascade.png)

## Step response with a two-pole op-amp (diode junction; feedback factor β = 1: the forced current makes the junction a battery)
| op-amp | GBW (Hz) | phase margin (°) | overshoot SPICE | overshoot twin |
|---|---|---|---|---|
| uncompensated | {st['uncompensated']['gbw_hz']:.4g} | {st['uncompensated']['phase_margin_deg']:.1f} | {st['uncompensated']['overshoot_spice'] * 100:.1f} % | {st['uncompensated']['overshoot_twin'] * 100:.1f} % |
| compensated (target {st['target_overshoot'] * 100:g} %) | {st['compensated']['gbw_hz']:.4g} | {st['compensated']['phase_margin_deg']:.1f} | {st['compensated']['overshoot_spice'] * 100:.1f} % | {st['compensated']['overshoot_twin'] * 100:.1f} % |

Compensation: dominant pole moved by `OpAmpModel.compensated(beta=1, overshoot=…)` (docs/opamp.md).

![step](step.png)

Summary: {m['summary']}
"""
