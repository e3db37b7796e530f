"""One sweep sample, start to finish, as a flat row of scalars. Runs inside a Dask worker.

:func:`evaluate_sample` never raises for a sample's own failure: a non-converging, timing-out or
invalid sample becomes a row with ``status`` ``failed``/``timeout`` and the one-line reason, so the
sweep goes on. Each ngspice run is its own process (:class:`~analogopt.spice.runner.NgspiceRunner`) in
a private temporary directory that is removed afterwards.

The row comes from the kind's ``sample`` (:mod:`analogopt.experiments.base`): kinds with element
targets apply the per-element variations to both machines and skip plots; the default runs the whole
experiment into a scratch result directory and keeps the scalar entries of its ``metrics.json``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import Any

from ..errors import AnalogOptError, SimulationTimeoutError
from ..experiments.registry import build_experiment
from ..scratch import scratch_dir
from ..spice.runner import make_runner
from .spec import SweepPlan

#: Columns every row has, in this order, before the swept values and the metrics.
ID_COLUMNS = ("id", "point", "mc_index", "seed", "status", "error")
#: The column naming each row's corner, after the ids, in sweeps with ``--corners`` only.
CORNER_COLUMN = "corner"
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
    if sample.corner is not None:
        row[CORNER_COLUMN] = sample.corner
    row.update({f"set.{k}": v if not isinstance(v, list) else str(v) for k, v in sample.values.items()})
    start = time.perf_counter()
    with scratch_dir("sweep") as scratch:
        try:
            scenario = plan.scenario_for(sample)
            elements = [v for v in plan.variations if not v.is_global]
            # the sweep command checked every point's size before any worker started
            experiment = build_experiment(scenario, allow_large=True)
            row.update(experiment.sample(elements, sample.seed, make_runner(plan.simulator, timeout_s=plan.timeout_s), scratch))
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
