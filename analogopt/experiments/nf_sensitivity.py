"""Scenario kind ``nf_sensitivity``: what each imperfection of the macro-level NF loop does to what it
learns, simulated in ngspice and predicted by theory, over a range of magnitudes (issue 13, Build 4).

The scenario names a ``base`` NF scenario (kind ``nf_single``; a shipped name or a file path, relative to
this scenario's folder), optional ``set`` overrides of it (``--set`` syntax), and a ``[sensitivity]`` table
that lists, for each modelled imperfection (:data:`analogopt.cosim.imperfections.MODELLED`), the values of
its ``[circuit]`` key to simulate::

    [sensitivity]
    ota_r_out_ohm = ["100meg", "1g", "3g", "10g"]   # finite OTA gain: a leak λ = τ/(r_out·C)
    c_leak_ohm = ["10meg", "30meg", "100meg", "1g"] # capacitor leakage: λ = τ/(R_c·C)
    ota_offset_v = ["100u", "1m", "3m", "10m"]      # OTA input offset: e_os = V_os/s_e
    ota_headroom_v = [1.2912, 1.2951, 1.315, 1.415] # integrator swing limit: weights clip at the rail
    levels = [4, 16, 64, 512]                       # conductance levels: quantized crossbars

The base loop runs once at the macro level with the base's parts (the *nominal macro loop*), and once per
value with that one key changed. For each run the result holds the weights' shift from the nominal macro
loop, simulated (ngspice) and predicted (the imperfect loop equation over the run's duration,
:func:`analogopt.cosim.imperfections.predicted_settling`), and the distance from the ideal mathematics
(the nominal loop's ODE). A point agrees with theory when every weight's |simulated − predicted| is within
``tolerance_rel``·|predicted| or ``tolerance_abs``, whichever is larger.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..circuits.nf_macro import MacroParts
from ..cosim.comparison import write_metrics
from ..cosim.imperfections import MODELLED, loop_imperfections, predicted_settling
from ..cosim.nf_single import CoSimResult, cosimulate
from ..errors import ConfigError
from ..limits import SizeEstimate
from ..progress import Progress
from ..report import markdown_table, write_report
from ..results import RunDirectory
from ..scenarios import Scenario, apply_override, load_scenario
from ..spice.runner import Runner
from ..values import Table
from .base import ExperimentBase, safe_title
from .nf_single import NFSingleExperiment

#: Units of each swept key, as the scenario reads it
_UNITS = {"ota_r_out_ohm": "ohm", "c_leak_ohm": "ohm", "ota_offset_v": "V", "ota_headroom_v": "V", "levels": None}

#: What each imperfection's magnitude is, in the loop equation's terms (docs/nf_macro.md)
MAGNITUDES = {
    "ota_r_out_ohm": "leak λ = τ/(r_out·C)",
    "c_leak_ohm": "leak λ = τ/(R_c·C)",
    "ota_offset_v": "error offset |e_os| = |V_os|/s_e",
    "ota_headroom_v": "clip depth max|w_ideal| − w_rail",
    "levels": "conductance step (g_max − g_min)/(levels − 1), fraction of g_max",
}


@dataclass(frozen=True)
class SensitivityPoint:
    """One simulated value of one imperfection: its key, value, magnitude and the weights' shifts."""

    key: str
    value: float
    magnitude: float
    simulated_shift: np.ndarray
    predicted_shift: np.ndarray
    ideal_error: np.ndarray
    final_loss: float
    spice_s: float

    def agrees(self, rel: float, abs_: float) -> bool:
        tolerance = np.maximum(rel * np.abs(self.predicted_shift), abs_)
        return bool(np.all(np.abs(self.simulated_shift - self.predicted_shift) <= tolerance))


def _load_base(scenario: Scenario, table: Table) -> Scenario:
    name = table.string("base")
    candidate = (scenario.path.parent / name) if name.endswith(".toml") else None
    try:
        base = load_scenario(candidate if candidate is not None and candidate.exists() else name)
    except ConfigError as exc:
        raise ConfigError(f"{scenario.name}.base: {exc}") from None
    if base.kind != "nf_single":
        raise ConfigError(f"{scenario.name}.base: scenario {base.name} is of kind {base.kind!r}; "
                          "a sensitivity study needs an nf_single scenario")
    try:
        for item in table.strings("set", []):
            base = Scenario(base.name, base.path, apply_override(base.config, item))
    except ConfigError as exc:
        raise ConfigError(f"{scenario.name}.set: {exc}") from None
    config = copy.deepcopy(base.config)
    circuit = config.setdefault("circuit", {})
    if not isinstance(circuit, dict):
        raise ConfigError(f"{base.name}.circuit: expected a table")
    circuit["level"] = "macro"
    return Scenario(base.name, base.path, config)


@dataclass
class NFSensitivityExperiment(ExperimentBase):
    kind = "nf_sensitivity"
    scenario: Scenario
    base: NFSingleExperiment
    sweep: dict[str, tuple[float, ...]]
    tolerance_rel: float
    tolerance_abs: float

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "NFSensitivityExperiment":
        cfg = Table(scenario.config, scenario.name)
        cfg.reject_unknown({"kind", "title", "description", "base", "set", "sensitivity"})
        base = NFSingleExperiment.from_scenario(_load_base(scenario, cfg))
        if base.problem.integrator == "cascade":
            raise ConfigError(f"{scenario.name}.base: the theory of the imperfections covers the single integrator "
                              "(loop.integrator = \"rc\"), not the momentum cascade")
        table = cfg.table("sensitivity", {*MODELLED, "tolerance_rel", "tolerance_abs"})
        sweep: dict[str, tuple[float, ...]] = {}
        for key in MODELLED:
            if key not in table:
                continue
            if key == "levels":
                values = tuple(float(v) for v in table.integers(key, low=2, high=2**16))
            else:
                values = tuple(table.numbers(key, unit=_UNITS[key], positive=key != "ota_offset_v"))
            for value in values:
                try:
                    _parts(base.macro, key, value)
                except ConfigError as exc:
                    raise table.error(key, f"value {value:g}: {exc}") from None
            sweep[key] = values
        if not sweep:
            raise ConfigError(f"{table.where}: list at least one imperfection to sweep ({', '.join(MODELLED)})")
        if "ota_r_out_ohm" in sweep and base.problem.leak:
            raise table.error("ota_r_out_ohm", "a loop built with a leak folds r_out into its leak resistor, so "
                              "r_out moves nothing; sweep it on a loop without leak (loop.leak = false)")
        return cls(scenario, base, sweep, table.number("tolerance_rel", 0.2, positive=True),
                   table.number("tolerance_abs", 1e-3, positive=True))

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate | None:
        """The base loop's estimate, once per run (the nominal one and one per swept value)."""
        cfg = scenario.config
        table = cfg.get("sensitivity") if isinstance(cfg.get("sensitivity"), dict) else {}
        runs = 1 + sum(len(v) for v in table.values() if isinstance(v, list))
        try:
            base = _load_base(scenario, Table(cfg, scenario.name))
        except ConfigError:
            return None  # from_scenario names the problem
        one = NFSingleExperiment.estimate(base)
        return SizeEstimate(f"{scenario.name}: {runs} runs of {one.what}", memory_bytes=one.memory_bytes,
                            elements=one.elements * runs, time_points=one.time_points,
                            twin_macs=one.twin_macs * runs)

    def netlist(self) -> str:
        """The nominal macro loop's netlist."""
        return self.base.netlist()

    # -- running -------------------------------------------------------------------------------
    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        t_start = time.perf_counter()
        problem, parts = self.base.problem, self.base.macro
        title = safe_title(self.scenario.title)
        progress.stage("nominal macro loop")
        nominal = cosimulate(problem, runner=runner, run_dir=out.file("spice/nominal"), progress=progress,
                             baseline=False, title=title, macro=parts)
        (out.path / "spice" / "nominal" / "netlist.cir").replace(out.file("netlist.cir"))
        if nominal.ideal is None:
            raise ConfigError(f"{self.scenario.name}: the nominal loop's ODE could not be solved "
                              f"({nominal.ideal_missing}); theory needs it")
        ideal_final = nominal.ideal.final_weights
        nominal_theory = predicted_settling(problem, parts, nominal.circuit.scales, ideal_final)
        points: list[SensitivityPoint] = []
        for key, values in self.sweep.items():
            for i, value in enumerate(values):
                progress.stage(f"{key} = {value:g}")
                point_parts = _parts(parts, key, value)
                run = cosimulate(problem, runner=runner, run_dir=out.file(f"spice/{key}_{i}"), baseline=False,
                                 ideal=False, title=title, macro=point_parts)
                theory = predicted_settling(problem, point_parts, run.circuit.scales, ideal_final)
                points.append(SensitivityPoint(
                    key, value, _magnitude(key, value, problem, point_parts, run, ideal_final),
                    run.analog.final_weights - nominal.analog.final_weights,
                    theory["predicted_final_weights"] - nominal_theory["predicted_final_weights"],
                    run.analog.final_weights - ideal_final, float(run.analog.final_loss), run.timings["spice_s"]))
        wall_s = time.perf_counter() - t_start
        progress.stage("plots and report")
        metrics = self._metrics(nominal, points, wall_s)
        self._table(points).to_parquet(out.file("sensitivity.parquet"), index=False)
        out.save_figure("sensitivity.png", self._figure(points))
        comparison = self.base.comparison({problem.error_gain: nominal})
        write_metrics(out, metrics, comparison, self.base.plot)
        write_report(out.file("report.md"), self._report(metrics, points, comparison))
        return metrics

    def _metrics(self, nominal: CoSimResult, points: list[SensitivityPoint], wall_s: float) -> dict[str, Any]:
        names = self.base.problem.weight_names
        by_key: dict[str, Any] = {}
        for key in self.sweep:
            mine = [p for p in points if p.key == key]
            magnitudes = [p.magnitude for p in mine]
            positive = [m for m in magnitudes if m > 0]
            by_key[key] = {
                "imperfection": MODELLED[key],
                "magnitude": MAGNITUDES[key],
                "values": [p.value for p in mine],
                "magnitudes": magnitudes,
                "magnitude_span": max(positive) / min(positive) if len(positive) > 1 else None,
                "simulated_shift": [dict(zip(names, p.simulated_shift.tolist())) for p in mine],
                "predicted_shift": [dict(zip(names, p.predicted_shift.tolist())) for p in mine],
                "error_vs_ideal": [dict(zip(names, p.ideal_error.tolist())) for p in mine],
                "final_loss": [p.final_loss for p in mine],
                "agrees": [p.agrees(self.tolerance_rel, self.tolerance_abs) for p in mine],
            }
        agree = sum(p.agrees(self.tolerance_rel, self.tolerance_abs) for p in points)
        return {
            "scenario": self.scenario.name,
            "kind": self.kind,
            "title": self.scenario.title,
            "base": self.base.scenario.name,
            "nominal": {"final_weights": dict(zip(names, nominal.analog.final_weights.tolist())),
                        "final_loss": float(nominal.analog.final_loss),
                        "ideal_final_weights": dict(zip(names, nominal.ideal.final_weights.tolist())),
                        "element_count": nominal.circuit.element_count},
            "circuit": {"level": "macro", "macro": {"parts": dataclasses.asdict(self.base.macro),
                                                     **nominal.circuit.values()}},
            "tolerance": {"rel": self.tolerance_rel, "abs": self.tolerance_abs},
            "imperfections": by_key,
            "time": {"wall_s": wall_s, "runs": 1 + len(points),
                     "spice_s": nominal.timings["spice_s"] + sum(p.spice_s for p in points)},
            "summary": f"{agree} of {len(points)} points within theory's tolerance "
                       f"(max({self.tolerance_rel:g}·|predicted|, {self.tolerance_abs:g})) over "
                       f"{len(self.sweep)} imperfections, {1 + len(points)} ngspice runs in {wall_s:.1f} s",
        }

    def _table(self, points: list[SensitivityPoint]):
        import pandas as pd

        rows = []
        for p in points:
            for name, s, d, e in zip(self.base.problem.weight_names, p.simulated_shift, p.predicted_shift,
                                     p.ideal_error):
                rows.append({"imperfection": p.key, "value": p.value, "magnitude": p.magnitude, "weight": name,
                             "simulated_shift": float(s), "predicted_shift": float(d), "error_vs_ideal": float(e),
                             "agrees": p.agrees(self.tolerance_rel, self.tolerance_abs)})
        return pd.DataFrame(rows)

    def _figure(self, points: list[SensitivityPoint]):
        from matplotlib.figure import Figure

        keys = list(self.sweep)
        fig = Figure(figsize=(3.6 * len(keys), 6.4), layout="constrained")
        axes = fig.subplots(2, len(keys), squeeze=False, sharex="col")
        names = self.base.problem.weight_names
        for col, key in enumerate(keys):
            mine = sorted((p for p in points if p.key == key), key=lambda p: p.magnitude)
            top, bottom = axes[0][col], axes[1][col]
            mags = np.array([p.magnitude for p in mine])
            usable = mags > 0
            for j, name in enumerate(names[:4]):
                sim = np.array([abs(p.simulated_shift[j]) for p in mine])
                pred = np.array([abs(p.predicted_shift[j]) for p in mine])
                line, = top.plot(mags[usable], pred[usable], "-", label=f"{name} predicted")
                top.plot(mags[usable], sim[usable], "o", color=line.get_color(), label=f"{name} ngspice")
                diff = np.array([p.simulated_shift[j] - p.predicted_shift[j] for p in mine])
                bottom.plot(mags[usable], diff[usable], "o-", color=line.get_color(), label=name)
            band = np.array([max(self.tolerance_rel * float(np.max(np.abs(p.predicted_shift))), self.tolerance_abs)
                             for p in mine])
            bottom.fill_between(mags[usable], -band[usable], band[usable], color="0.85", label="tolerance")
            top.set_xscale("log")
            top.set_yscale("log")
            top.set_title(MODELLED[key], fontsize=9)
            top.set_ylabel("|weight shift| (weight units)")
            bottom.set_xlabel(MAGNITUDES[key], fontsize=8)
            bottom.set_ylabel("ngspice − predicted")
            top.legend(fontsize=7)
            bottom.legend(fontsize=7)
            top.grid(True, which="both", alpha=0.3)
            bottom.grid(True, alpha=0.3)
        fig.suptitle(f"{self.scenario.title} (shift of the final weights from the nominal macro loop)")
        return fig

    def _report(self, metrics: dict[str, Any], points: list[SensitivityPoint], comparison) -> str:
        names = self.base.problem.weight_names
        lines = [f"# {self.scenario.title}", "", f"Base scenario: `{self.base.scenario.name}` at the macro level "
                 f"({metrics['nominal']['element_count']} elements). {metrics['summary']}.", "",
                 "Each imperfection is swept alone; the shift is from the nominal macro loop's final weights, "
                 "predicted by the imperfect loop equation integrated over the run (docs/nf_macro.md, "
                 "\"Theory of the imperfections\"). *Error vs ideal* is the distance from the ideal mathematics "
                 "(the nominal loop's ODE). Plot: `sensitivity.png`; every row: `sensitivity.parquet`.", ""]
        header = ["imperfection", "value", "magnitude", *(f"{n} ngspice" for n in names[:4]),
                  *(f"{n} predicted" for n in names[:4]), "max error vs ideal", "agrees"]
        rows = []
        for p in points:
            rows.append([p.key, f"{p.value:.4g}", f"{p.magnitude:.3g}",
                         *(f"{v:+.3e}" for v in p.simulated_shift[:4]), *(f"{v:+.3e}" for v in p.predicted_shift[:4]),
                         f"{float(np.max(np.abs(p.ideal_error))):.3e}",
                         "yes" if p.agrees(self.tolerance_rel, self.tolerance_abs) else "**no**"])
        lines += markdown_table(header, rows) + [""]
        lines += ["Magnitudes: " + "; ".join(f"`{k}`: {MAGNITUDES[k]}" for k in self.sweep) + ".", ""]
        lines += ["## The nominal macro loop against the mathematics", ""] + comparison.report_section()
        return "\n".join(lines) + "\n"


def _parts(parts: MacroParts, key: str, value: float) -> MacroParts:
    return dataclasses.replace(parts, **{key: int(value) if key == "levels" else value})


def _magnitude(key: str, value: float, problem, parts: MacroParts, run: CoSimResult, ideal_final: np.ndarray) -> float:
    """The imperfection's size in the loop equation's terms (:data:`MAGNITUDES`)."""
    terms = loop_imperfections(problem, parts, run.circuit.scales)
    if key in ("ota_r_out_ohm", "c_leak_ohm"):
        own = problem.tau_s / (value * parts.c_w_f)
        return own if key == "c_leak_ohm" or not problem.leak else 0.0
    if key == "ota_offset_v":
        return float(np.max(np.abs(terms.offsets(problem.n_weights))))
    if key == "ota_headroom_v":
        return float(np.max(np.abs(ideal_final))) - float(terms.weight_rail)
    return (parts.g_max_s - parts.g_min_s) / (value - 1) / parts.g_max_s

