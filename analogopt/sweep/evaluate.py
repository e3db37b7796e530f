"""One sweep sample, start to finish, as a flat row of scalars. Runs inside a Dask worker.

:func:`evaluate_sample` never raises for a sample's own failure: a non-converging, timing-out or
invalid sample becomes a row with ``status`` ``failed``/``timeout`` and the one-line reason, so the
sweep goes on. Each ngspice run is its own process (:class:`~analogopt.spice.runner.NgspiceRunner`) in
a private temporary directory that is removed afterwards.

Kinds with a dedicated evaluator (``nf_single``, ``crossbar_*``) skip plots and baselines and apply
per-element variations to both machines; every other kind runs its whole experiment into a scratch
result directory and contributes the scalar entries of its ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnalogOptError, SimulationTimeoutError
from ..scenarios import Scenario
from ..scratch import scratch_dir
from .spec import Sample, SweepPlan, Variation

#: Columns every row has, in this order, before the swept values and the metrics.
ID_COLUMNS = ("id", "point", "mc_index", "seed", "status", "error")
#: Columns that differ between two runs of the same sample (wall times, the worker that ran it).
VOLATILE_PREFIXES = ("time_", "worker")

_NETLIST_PATH = re.compile(r"\s*\((?:netlist|on) [^)]*\)|\s+on /\S+")


def evaluate_sample(plan_json: dict[str, Any], sample_id: str) -> dict[str, Any]:
    """The row of sample ``sample_id`` of the plan ``plan_json`` (a :meth:`SweepPlan.to_json` dict)."""
    import torch

    torch.set_num_threads(1)  # one sample per worker process: threads would only contend
    plan = SweepPlan.from_json(plan_json)
    sample = plan.sample(sample_id)
    row: dict[str, Any] = {"id": sample.id, "point": sample.point, "mc_index": sample.mc_index, "seed": sample.seed,
                           "status": "ok", "error": ""}
    row.update({f"set.{k}": v if not isinstance(v, list) else str(v) for k, v in sample.values.items()})
    start = time.perf_counter()
    with scratch_dir("sweep") as scratch:
        try:
            scenario = plan.scenario_for(sample)
            elements = [v for v in plan.variations if not v.is_global]
            evaluator = _EVALUATORS.get(scenario.kind, _evaluate_generic)
            row.update(evaluator(scenario, sample, elements, plan.timeout_s, scratch))
        except SimulationTimeoutError as exc:
            row.update(status="timeout", error=_one_line(exc))
        except AnalogOptError as exc:
            row.update(status="failed", error=_one_line(exc))
        except Exception as exc:  # a sample's bug must not end a thousand-sample sweep; the row says what it was
            row.update(status="failed", error=f"{type(exc).__name__}: {_one_line(exc)}")
    row["time_sample_s"] = time.perf_counter() - start
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _one_line(exc: BaseException) -> str:
    """The message on one line, without the (deleted) scratch netlist path."""
    return _NETLIST_PATH.sub("", " ".join(str(exc).split()))


# ------------------------------------------------------------------------------------------ nf_single
def perturb_nf_problem(problem, variations: list[Variation], seed: int | None):
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


def _evaluate_nf(scenario: Scenario, sample: Sample, variations: list[Variation], timeout_s: float,
                 scratch: Path) -> dict[str, Any]:
    from ..cosim.nf_experiment import NFSingleExperiment, _safe_title
    from ..cosim.nf_single import cosimulate
    from ..spice.runner import NgspiceRunner

    experiment = NFSingleExperiment.from_scenario(scenario)
    problem = perturb_nf_problem(experiment.problem, variations, sample.seed)
    result = cosimulate(problem, runner=NgspiceRunner(timeout_s=timeout_s), run_dir=scratch / "spice",
                        baseline=False, title=_safe_title(scenario.title))
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
    return row


# ----------------------------------------------------------------------------------------- crossbars
def _evaluate_crossbar(scenario: Scenario, sample: Sample, variations: list[Variation], timeout_s: float,
                       scratch: Path) -> dict[str, Any]:
    import zlib

    from ..blocks.crossbar import map_matrix
    from ..cosim.crossbar import CrossbarExperiment, relative_error
    from ..spice.runner import NgspiceRunner

    experiment = CrossbarExperiment.from_scenario(scenario)
    matrix = experiment.problem["X" if experiment.mode == "pinv" else "A"]
    if sample.seed is None:
        device, rng = experiment.device, None  # a nominal point: the ideal mapping
    else:
        # The scenario's [monte_carlo] device (levels, sigma); --vary g=lognormal:S replaces sigma.
        device = experiment.mc_device
        for v in variations:
            device = dataclasses.replace(device, sigma=v.sigma)
        rng = np.random.default_rng([sample.seed, zlib.crc32(b"g")])
    forward = map_matrix(matrix, device, seed=rng)
    second = map_matrix(matrix, device, seed=rng) if experiment.mode == "pinv" and rng is not None else None
    circuit = experiment.build(forward, second)
    t0 = time.perf_counter()
    result = NgspiceRunner(timeout_s=timeout_s).run(circuit.deck, run_dir=scratch / "spice")
    spice_s = time.perf_counter() - t0
    value = circuit.values(result.analysis("op"))
    t0 = time.perf_counter()
    twin = experiment.twin(forward, second)
    twin_s = time.perf_counter() - t0
    exact = experiment.exact()
    return {
        "rel_error_vs_exact": relative_error(value, exact),
        "twin_rel_error_vs_exact": relative_error(twin, exact),
        "spice_vs_twin_rel": relative_error(value, twin),
        "device_sigma": device.sigma,
        "device_levels": device.levels if device.levels is not None else 0,
        "time_spice_s": spice_s,
        "time_twin_s": twin_s,
    }


# ------------------------------------------------------------------------------------ any other kind
def _evaluate_generic(scenario: Scenario, sample: Sample, variations: list[Variation], timeout_s: float,
                      scratch: Path) -> dict[str, Any]:
    """Run the kind's whole experiment (plots included) and keep the scalar metrics."""
    from ..experiments import build_experiment
    from ..progress import SilentProgress
    from ..results import RunDirectory

    from ..spice.runner import NgspiceRunner

    experiment = build_experiment(scenario, allow_large=True)  # the sweep command checked every point's size
    t0 = time.perf_counter()
    with RunDirectory(scratch / "run") as out:
        metrics = experiment.run(out, SilentProgress(), runner=NgspiceRunner(timeout_s=timeout_s))
    row = flatten_scalars({k: v for k, v in metrics.items() if k not in ("summary", "time")})
    row["time_experiment_s"] = time.perf_counter() - t0
    return row


def flatten_scalars(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict → ``{"a.b": number}`` for every finite int/float/bool leaf (lists and text dropped)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_scalars(value, f"{name}."))
        elif isinstance(value, (bool, np.bool_)):
            out[name] = bool(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
            out[name] = float(value) if isinstance(value, (float, np.floating)) else int(value)
    return out


_EVALUATORS = {
    "nf_single": _evaluate_nf,
    "crossbar_mvm": _evaluate_crossbar,
    "crossbar_solve": _evaluate_crossbar,
    "crossbar_pinv": _evaluate_crossbar,
}
