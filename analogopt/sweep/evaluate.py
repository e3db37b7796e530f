"""Sweep samples, start to finish, as flat rows of scalars. Runs inside a Dask worker.

:func:`evaluate_chunk` never raises for a sample's own failure: a non-converging, timing-out or invalid
sample becomes a row with ``status`` ``failed``/``timeout`` and the one-line reason, so the sweep goes on.
Each ngspice run is its own process (:class:`~analogopt.spice.runner.NgspiceRunner`), or with the plan's
``sessions`` a run in one of the worker's persistent libngspice sessions
(:class:`~analogopt.spice.session.SessionRunner`), which the worker keeps across tasks; either way in a
private temporary directory that is removed afterwards.

A task is a *chunk*: samples of one point (and corner), so one scenario and one experiment build serve
them all, and the kind's ``sample_batch`` (:mod:`analogopt.experiments.base`) may share work between
them (the NF loop steps their twins as one batch). Kinds with element targets apply the per-element
variations to both machines and skip plots; the default runs the whole experiment into a scratch result
directory and keeps the scalar entries of its ``metrics.json``. A sweep with global variations builds
each sample's scenario on its own (the variation changes the scenario itself).

``--timeout`` bounds each sample: each ngspice run, and everything done for a chunk of ``n`` samples
within ``n`` times the limit. A sample whose session crashed or hung (the session's process was killed)
is run again, alone, in a fresh session; its second outcome is its row.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import AnalogOptError, SimulationTimeoutError
from ..experiments.base import ExperimentBase, Variation
from ..experiments.registry import build_experiment
from ..scratch import scratch_dir
from ..spice.runner import Runner, make_runner
from .spec import Sample, SweepPlan

#: Columns every row has, in this order, before the swept values and the metrics.
ID_COLUMNS = ("id", "point", "mc_index", "seed", "status", "error")
#: The column naming each row's corner, after the ids, in sweeps with ``--corners`` only.
CORNER_COLUMN = "corner"
#: Columns that differ between two runs of the same sample (wall times, the worker that ran it).
VOLATILE_PREFIXES = ("time_", "worker")
#: Appended to the reason of a sample that lost its session twice.
RETRIED = "; retried once in a fresh libngspice session"

_NETLIST_PATH = re.compile(r"\s*\((?:netlist|on) [^)]*\)|\s+on /\S+")


def evaluate_sample(plan_json: dict[str, Any], sample_id: str) -> dict[str, Any]:
    """The row of sample ``sample_id`` of the plan ``plan_json`` (a :meth:`SweepPlan.to_json` dict)."""
    return evaluate_chunk(plan_json, [sample_id])[0]


def evaluate_chunk(plan_json: dict[str, Any], sample_ids: list[str]) -> list[dict[str, Any]]:
    """The rows of samples ``sample_ids`` of the plan ``plan_json``, in order: the rows
    :func:`evaluate_sample` gives for each (the ``time_*`` and ``worker`` columns aside). The samples
    share one point and corner (:func:`~analogopt.sweep.engine.plan_chunks` makes such chunks)."""
    import torch

    torch.set_num_threads(1)  # one sample at a time per worker process: threads would only contend
    plan = SweepPlan.from_json(plan_json)
    samples = [plan.sample(i) for i in sample_ids]
    if len({(s.point, s.corner) for s in samples}) > 1:
        raise ValueError(f"a chunk holds samples of one point and corner, got {', '.join(sample_ids)}")
    elements = [v for v in plan.variations if not v.is_global]
    # each sample's scenario carries its own draw of a global variation; else all share the first's
    groups = [[s] for s in samples] if any(v.is_global for v in plan.variations) else [samples]
    rows: list[dict[str, Any]] = []
    for group in groups:
        rows += _evaluate_group(plan, group, elements)
    return rows


def _runner_for(plan: SweepPlan, count: int) -> Runner:
    """A runner for ``count`` samples: each ngspice run within ``plan.timeout_s``, all their work within
    ``count`` times it (one sample: exactly the limit of a sample run alone)."""
    if plan.sessions:
        from ..spice.session import SessionRunner

        runner: Runner = SessionRunner(timeout_s=plan.timeout_s, whole_run=True)
    else:
        runner = make_runner(plan.simulator, timeout_s=plan.timeout_s)
    runner.deadline = time.perf_counter() + count * plan.timeout_s
    return runner


def _evaluate_group(plan: SweepPlan, samples: list[Sample], elements: list[Variation]) -> list[dict[str, Any]]:
    start = time.perf_counter()
    rows = [_head(s) for s in samples]
    with scratch_dir("sweep") as scratch:
        try:
            # the sweep command checked every point's size before any worker started
            experiment = build_experiment(plan.scenario_for(samples[0]), allow_large=True)
        except Exception as exc:  # a bad point fails each of its samples with the same reason
            for row in rows:
                _fail(row, exc)
            return [_finish(row, start, len(rows)) for row in rows]
        runner = _runner_for(plan, len(samples))
        outcomes = experiment.sample_batch(elements, [s.seed for s in samples], runner, scratch)
        for row, outcome in zip(rows, outcomes):
            _fill(row, outcome)
        if getattr(runner, "sessions_lost", 0):  # a session died in this batch: whose sample is unknown
            for k, (sample, row) in enumerate(zip(samples, rows)):
                if row["status"] != "ok":
                    rows[k] = _retry(plan, sample, experiment, elements, scratch / f"retry_{k}")
    return [_finish(row, start, len(rows)) for row in rows]


def _retry(plan: SweepPlan, sample: Sample, experiment: ExperimentBase, elements: list[Variation],
           scratch: Path) -> dict[str, Any]:
    """The row of ``sample`` run alone in a fresh session (the lost one's process is gone)."""
    row = _head(sample)
    runner = _runner_for(plan, 1)
    _fill(row, experiment.sample_batch(elements, [sample.seed], runner, scratch)[0])
    if row["status"] != "ok" and runner.sessions_lost:
        row["error"] += RETRIED
    return row


def _head(sample: Sample) -> dict[str, Any]:
    row: dict[str, Any] = {"id": sample.id, "point": sample.point, "mc_index": sample.mc_index, "seed": sample.seed,
                           "status": "ok", "error": ""}
    if sample.corner is not None:
        row[CORNER_COLUMN] = sample.corner
    row.update({f"set.{k}": v if not isinstance(v, list) else str(v) for k, v in sample.values.items()})
    return row


def _fill(row: dict[str, Any], outcome: dict[str, Any] | BaseException) -> None:
    if isinstance(outcome, BaseException):
        _fail(row, outcome)
    else:
        row.update(outcome)


def _fail(row: dict[str, Any], exc: BaseException) -> None:
    if isinstance(exc, SimulationTimeoutError):
        row.update(status="timeout", error=_one_line(exc))
    elif isinstance(exc, AnalogOptError):
        row.update(status="failed", error=_one_line(exc))
    elif isinstance(exc, Exception):  # a sample's bug must not end a thousand-sample sweep; the row says what
        row.update(status="failed", error=f"{type(exc).__name__}: {_one_line(exc)}")
    else:
        raise exc  # an interrupt ends the task


def _finish(row: dict[str, Any], start: float, count: int) -> dict[str, Any]:
    """``time_sample_s``: the group's wall time shared equally (its samples ran interleaved)."""
    row["time_sample_s"] = (time.perf_counter() - start) / count
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def _one_line(exc: BaseException) -> str:
    """The message on one line, without the (deleted) scratch netlist path."""
    return _NETLIST_PATH.sub("", " ".join(str(exc).split()))
