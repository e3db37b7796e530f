"""Worked example of docs/extending.md: a new circuit kind ``rc_step`` in one file.

In the package the three parts go to three files (see the comments): the generator to
``analogopt/circuits/rc_step.py``, the twin to ``analogopt/reference/rc_step.py`` and the experiment to
``analogopt/experiments/rc_step.py``; then one line in ``analogopt/experiments/registry.py`` and a
scenario ``sims/rc_step.toml``. ``tests/test_extending_example.py`` registers and runs this file.

The circuit is the weight integrator of 000 Eq. 10 in its simplest form: a resistor ``r_ohm`` into a
capacitor ``c_f`` charged by a step of ``v_step_v``. The twin steps the same low-pass as the NF loop's
twin does, ``v ← v + (Δt/τ)(V − v)`` with τ = R·C, and the ideal math is ``V(1 − exp(−t/τ))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PySpice.Spice.Netlist import Circuit

from analogopt.circuits.base import AnalogCircuit
from analogopt.cosim.comparison import Comparison, Group, Signal, TwinValidity, write_metrics
from analogopt.experiments.base import ExperimentBase, safe_title
from analogopt.limits import SizeEstimate, size_of
from analogopt.progress import Progress
from analogopt.results import RunDirectory
from analogopt.scenarios import Scenario
from analogopt.spice.netlist import NetlistDeck, Transient
from analogopt.spice.runner import NgspiceRunner, Runner
from analogopt.values import Table


# --- analogopt/circuits/rc_step.py: the generator (pure: parameters in, circuit and probes out) -----
def rc_step_circuit(*, r_ohm: float, c_f: float, v_step_v: float, stop_s: float, title: str) -> AnalogCircuit:
    """A step source ``v_step_v`` (V) through ``r_ohm`` (Ω) into ``c_f`` (F), simulated for ``stop_s`` (s)."""
    circuit = Circuit(title)
    circuit.V("step", "vin", circuit.gnd, v_step_v)
    circuit.R("1", "vin", "w", r_ohm)
    circuit.C("1", "w", circuit.gnd, c_f, initial_condition=0.0)
    deck = NetlistDeck(circuit, analyses=[Transient(stop_s, max_step_s=stop_s / 200)], saves=["v(w)"])
    return AnalogCircuit(deck, probes={"w": "v(w)"}, element_count=3)


# --- analogopt/reference/rc_step.py: the digital twin (PyTorch, discrete time, η = Δt/τ) -----------
def rc_step_twin(*, tau_s: float, v_step_v: float, dt_s: float, steps: int) -> np.ndarray:
    """The low-pass stepped ``steps`` times: v_k for k = 0…steps (V). A closed form of the recursion
    (v_k = V(1 − (1 − η)^k)), so no Python loop runs over the steps."""
    eta = torch.tensor(dt_s / tau_s, dtype=torch.float64)
    k = torch.arange(steps + 1, dtype=torch.float64)
    return (v_step_v * (1 - (1 - eta) ** k)).numpy()


# --- analogopt/experiments/rc_step.py: the kind (reads the scenario, runs both sides, compares) ------
@dataclass(frozen=True)
class RCStepExperiment(ExperimentBase):
    kind = "rc_step"
    scenario: Scenario
    r_ohm: float
    c_f: float
    v_step_v: float
    steps: int

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> "RCStepExperiment":
        cfg = Table(scenario.config, scenario.name).reject_unknown({"kind", "title", "description", "rc"})
        rc = cfg.table("rc", {"r_ohm", "c_f", "v_step_v", "steps"})
        return cls(scenario, r_ohm=rc.number("r_ohm", "10k", unit="ohm", low=1, high=1e9),
                   c_f=rc.number("c_f", "100n", unit="F", positive=True, high=1e-3),
                   v_step_v=rc.number("v_step_v", 1.0, unit="V", low=-10, high=10),
                   steps=rc.integer("steps", 400, low=10, high=10**6))

    @classmethod
    def estimate(cls, scenario: Scenario) -> SizeEstimate:
        rc = scenario.config.get("rc") if isinstance(scenario.config.get("rc"), dict) else {}
        steps = size_of(rc, "steps", 400)
        return SizeEstimate(f"{scenario.name}: {steps:.3g} steps", memory_bytes=8 * 8 * steps,
                            elements=3, time_points=steps, twin_macs=steps)

    @property
    def tau_s(self) -> float:
        return self.r_ohm * self.c_f

    @property
    def stop_s(self) -> float:
        return 5 * self.tau_s  # five time constants: within 0.7 % of the final value

    def circuit(self) -> AnalogCircuit:
        return rc_step_circuit(r_ohm=self.r_ohm, c_f=self.c_f, v_step_v=self.v_step_v, stop_s=self.stop_s,
                               title=safe_title(self.scenario.title))

    def netlist(self) -> str:
        return self.circuit().netlist

    def run(self, out: RunDirectory, progress: Progress, runner: Runner | None = None) -> dict[str, Any]:
        runner = runner or NgspiceRunner(timeout_s=60)
        circuit = self.circuit()
        progress.stage("ngspice")
        result = runner.run(circuit.deck, run_dir=out.file("spice"), progress=progress.update)
        (out.path / "spice" / "netlist.cir").replace(out.file("netlist.cir"))
        dt_s = self.stop_s / self.steps
        t = np.arange(self.steps + 1) * dt_s
        analog = result.analysis("tran").with_initial({"v(w)": 0.0}).sample(["v(w)"], t)[:, 0]
        twin = rc_step_twin(tau_s=self.tau_s, v_step_v=self.v_step_v, dt_s=dt_s, steps=self.steps)
        exact = self.v_step_v * (1 - np.exp(-t / self.tau_s))
        scale = abs(self.v_step_v) or 1.0
        # theory of the twin's error: exp(−kη) − (1 − η)^k ≈ (kη²/2)·exp(−kη), largest at kη = 1
        predicted = 0.5 * (dt_s / self.tau_s) * np.exp(-1.0)
        metrics = {
            "scenario": self.scenario.name, "kind": self.kind, "tau_s": self.tau_s, "dt_s": dt_s,
            "analog_vs_exact_max": float(np.max(np.abs(analog - exact)) / scale),
            "twin_vs_exact_max": float(np.max(np.abs(twin - exact)) / scale),
            "analog_vs_twin_max": float(np.max(np.abs(analog - twin)) / scale),
            "twin_vs_exact_predicted": float(predicted),
        }
        metrics["summary"] = (f"analog vs exact {metrics['analog_vs_exact_max']:.2e}, twin vs exact "
                              f"{metrics['twin_vs_exact_max']:.2e} (theory {predicted:.2e}) of the step")
        # the shared comparison: metrics.json's "comparison" keys, trajectories.parquet, compare_*.png
        eta = dt_s / self.tau_s
        comparison = Comparison(
            (Group("step", "time", "s", t, "V", (Signal("w", analog, twin, exact),),
                   twin=f"Euler steps of the low-pass, η = {eta:.3g}", ideal="V(1 − exp(−t/τ))",
                   iteration=np.arange(self.steps + 1), theory={"twin_vs_ideal_predicted_fraction": predicted}),),
            TwinValidity(eta <= 0.05, f"η = Δt/τ = {eta:.3g} (faithful while ≤ 0.05)"))
        write_metrics(out, metrics, comparison)
        out.write_text("report.md", "\n".join([f"# {self.scenario.title}", "", metrics["summary"], "",
                                               *comparison.report_section()]))
        return metrics
