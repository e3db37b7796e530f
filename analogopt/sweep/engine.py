"""Running a sweep's samples on Dask distributed, resumably.

Layout of a sweep directory::

    DIR/sweep.json            the plan (compared on resume: a different sweep is refused)
    DIR/samples/<id>.json     one finished sample's row, written atomically as it arrives
    DIR/runs.jsonl            one line per invocation: simulated, resumed, wall time, workers, simulator
    DIR/results.parquet|csv   the tidy table (rebuilt from samples/ at the end of every invocation)

A sample whose row file exists is finished (``ok``, ``failed`` or ``timeout``) and is never simulated
again, so killing a sweep and re-running the same command completes only the missing samples (a killed
task loses the rows of its chunk it had not returned yet).

Engine: ``workers`` local worker *processes* (a :class:`distributed.LocalCluster`, one thread each:
every sample already runs ngspice in its own process, and torch/numpy threads would only contend), or
an existing cluster through its scheduler ``address``. Each task is a chunk of samples of one point
(:func:`plan_chunks`, :func:`~analogopt.sweep.evaluate.evaluate_chunk`); the engine writes each row of
a finished chunk as it arrives.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ConfigError
from ..progress import Progress, SilentProgress
from ..interrupts import DeferredSignals, signals_held
from ..results import to_jsonable
from ..scratch import remove_stale, scratch_dir
from .evaluate import evaluate_chunk
from .spec import EXECUTION_KEYS, SweepPlan

MANIFEST = "sweep.json"
SAMPLES_DIR = "samples"
#: Tasks per worker a sweep is cut into at least (so uneven samples still keep every worker busy) …
TASKS_PER_WORKER = 4
#: … and the most samples one task carries (what a killed worker can lose, the rows it had not returned).
MAX_CHUNK = 8
#: How often the sweep looks for finished tasks and for a Ctrl-C (s).
POLL_S = 0.1
#: How long the client and the local cluster each get to close before what is left is killed (s).
CLOSE_S = 10.0


@dataclass(frozen=True)
class SweepOutcome:
    """Counts of one invocation: ``simulated`` now, ``resumed`` from earlier runs, and the totals."""

    total: int
    simulated: int
    resumed: int
    ok: int
    failed: int
    timeout: int
    wall_s: float
    workers: int


def prepare_directory(plan: SweepPlan, out: Path) -> None:
    """Create ``out`` with the plan's manifest, or check that an existing one holds the same sweep."""
    manifest = to_jsonable(plan.to_json())
    path = out / MANIFEST
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--out {out}: cannot read its {MANIFEST} ({exc}); it was edited or damaged: "
                              "choose another directory") from None
        if not isinstance(previous, dict) or _identity(previous) != _identity(manifest):
            raise ConfigError(f"--out {out} holds a different sweep (its {MANIFEST} differs); choose another directory")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is not empty and holds no {MANIFEST}; choose another directory")
    (out / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a manifest says the sweep *is*: without how its samples run (they give the same rows)."""
    return {k: v for k, v in manifest.items() if k not in EXECUTION_KEYS}


def plan_chunks(plan: SweepPlan, pending: list[str], workers: int, size: int | None = None) -> list[list[str]]:
    """``pending`` sample ids (in plan order) cut into tasks: runs of one point (and corner) each, of
    ``size`` samples at most (default: enough tasks for :data:`TASKS_PER_WORKER` per worker, at most
    :data:`MAX_CHUNK` samples each)."""
    if size is None:
        size = max(1, min(MAX_CHUNK, -(-len(pending) // (TASKS_PER_WORKER * max(workers, 1)))))
    chunks: list[list[str]] = []
    point = None
    for sample_id in pending:
        sample_point = plan.sample(sample_id).point
        if not chunks or sample_point != point or len(chunks[-1]) >= size:
            chunks.append([])
            point = sample_point
        chunks[-1].append(sample_id)
    return chunks


def finished_ids(out: Path) -> set[str]:
    return {p.stem for p in (out / SAMPLES_DIR).glob("*.json")}


def load_rows(plan: SweepPlan, out: Path) -> list[dict[str, Any]]:
    """The finished rows in plan order."""
    rows = []
    for s in plan.samples:
        path = out / SAMPLES_DIR / f"{s.id}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
    return rows


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


@contextmanager
def _dask_scratch(*, own_cluster: bool) -> Iterator[None]:
    """Dask's scratch (``temporary-directory``) for this sweep's own cluster: a scratch directory of
    analogopt's, removed with it (or by the next sweep, when this one was killed outright). Dask's default,
    ``dask-scratch-space`` in the temporary directory, outlives every sweep with its lock files, and a
    killed worker's folder with them."""
    if not own_cluster:
        yield
        return
    import dask

    with scratch_dir("dask") as path, dask.config.set({"temporary-directory": str(path)}):
        yield


def _connect(workers: int | None, scheduler: str | None):
    """A Dask client and the cluster it owns (``None`` for an external scheduler)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:  # its address was checked before the sweep directory was made
        try:
            return Client(scheduler, timeout="5s", set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ConfigError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({reason[:200]})") from None
    n = workers if workers is not None else (os.cpu_count() or 1)
    # Workers inherit an ignored SIGINT: a terminal's Ctrl-C reaches the whole process group, and only
    # this process should answer it (by closing the cluster), not every worker with a traceback.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None
    try:
        # Port 0: no dashboard, and no warning when another cluster holds the default port. Dask's own
        # logs only at CRITICAL: the sweep reports every failure itself (a failed row, or one line for a
        # lost worker), and what Dask logs at ERROR is teardown noise, e.g. a worker's heartbeat that
        # finds the scheduler already closed after a Ctrl-C, printed with a traceback.
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": False}, silence_logs=logging.CRITICAL)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return Client(cluster, set_as_default=False), cluster


def _check_address(scheduler: str) -> None:
    """A malformed address is refused here: a Client built on one fails only after its own 10 s close,
    printing a traceback on the way."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        protocol, location = parse_address(scheduler)
        if protocol in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as exc:
        raise ConfigError(f"--scheduler {scheduler}: not a scheduler address ({exc}); give "
                          "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786") from None


def _close(client, cluster, worker_pids: list[int], *, interrupted: bool) -> None:
    """Close the client and this sweep's own cluster within :data:`CLOSE_S` each, then kill whatever of
    its worker processes (``worker_pids``) and their children is still running. Interrupted, the
    workers' ngspice processes are killed first: a worker waits for its sample's simulator before it can
    stop, and the sweep must end in seconds. Nothing else of this process is touched (a test runner's
    or multiprocessing's own helpers live beside the cluster)."""
    if interrupted:
        _kill([p for p in _tree(worker_pids) if _named(p, "ngspice")])
    try:
        client.close(timeout=CLOSE_S)
    except Exception:  # noqa: BLE001 - a client that cannot close cleanly is dropped; the processes go below
        pass
    if cluster is None:
        return
    try:
        cluster.close(timeout=CLOSE_S)
    except Exception:  # noqa: BLE001
        pass
    _kill(_tree(worker_pids))
    # workers stopped mid-sample could not remove their scratch directories
    remove_stale()


def _tree(pids: list[int]) -> list:
    """The processes ``pids`` that still run, and their descendants."""
    import psutil

    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
    return found


def _named(proc, name: str) -> bool:
    try:
        return proc.name() == name
    except Exception:  # noqa: BLE001 - gone or not ours to read
        return False


def _kill(procs) -> None:
    import psutil

    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_sweep(
    plan: SweepPlan,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    chunk_size: int | None = None,
) -> SweepOutcome:
    """Simulate every sample of ``plan`` that ``out`` does not hold yet; returns this invocation's counts.
    ``chunk_size``: samples per task (default: :func:`plan_chunks`' choice)."""
    if workers is not None and scheduler is not None:
        raise ConfigError("give either --workers (local cluster) or --scheduler (existing cluster), not both")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= 1024):
        raise ConfigError(f"--workers must be an integer in [1, 1024], got {workers!r}")
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be an integer ≥ 1, got {chunk_size!r}")
    progress = progress or SilentProgress()
    out = Path(out)
    if scheduler is not None:
        _check_address(scheduler)
    fresh = not out.exists()
    prepare_directory(plan, out)
    try:
        return _run_pending(plan, out, workers, scheduler, progress, on_row, chunk_size)
    except ConfigError:
        # refused before any task ran (no scheduler there): no directory it created is left behind. A sweep
        # that started (a lost worker, an interrupt) keeps its directory, the message's way to resume.
        if fresh and not any((out / SAMPLES_DIR).iterdir()):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_pending(plan: SweepPlan, out: Path, workers: int | None, scheduler: str | None, progress: Progress,
                 on_row: Callable[[dict[str, Any]], None] | None, chunk_size: int | None) -> SweepOutcome:
    done = finished_ids(out)
    pending = [s.id for s in plan.samples if s.id not in done]
    start = time.perf_counter()
    counts = {"ok": 0, "failed": 0, "timeout": 0}
    n_workers = 0
    simulator = ""
    if pending:
        from distributed import as_completed

        if plan.sessions and scheduler is None:  # an external cluster's workers have their own libraries
            from ..spice.session import check_sessions

            # before any worker starts: one line, not a table of failed rows
            simulator = f"{check_sessions(plan.simulator)} in persistent sessions"
        else:
            simulator = _simulator_here(plan)
        # Dask's client shares locks with its event-loop thread: a KeyboardInterrupt raised inside one of
        # its waits can leave a lock held and the close below waiting for ever. Signals are recorded while
        # Dask runs and raised at the polls, where no Dask lock is held.
        with DeferredSignals() as stop, _dask_scratch(own_cluster=scheduler is None):
            client, cluster = _connect(workers, scheduler)
            worker_pids: list[int] = []
            try:
                stop.check()
                info = client.scheduler_info(n_workers=-1).get("workers", {})
                n_workers = len(info)
                if cluster is not None:  # this sweep's own worker processes (and below them, their ngspice)
                    worker_pids = [int(pid) for pid in client.run(os.getpid).values()]
                manifest = plan.to_json()  # a few kB: sent with each task, so any worker can run any sample
                chunks = plan_chunks(plan, pending, n_workers, chunk_size)
                futures = client.map(evaluate_chunk, [manifest] * len(chunks), chunks, pure=False)
                progress.stage("sweep")
                finished = 0
                waiting = as_completed(futures, loop=client.loop)
                while not waiting.is_empty():
                    stop.check()
                    ready = waiting.next_batch(block=False)
                    if not ready:
                        time.sleep(POLL_S)
                        continue
                    for future in ready:
                        for row in _chunk_rows(future):
                            _write_atomic(out / SAMPLES_DIR / f"{row['id']}.json",
                                          json.dumps(to_jsonable(row), sort_keys=True) + "\n")
                            finished += 1
                            counts[row["status"]] = counts.get(row["status"], 0) + 1
                            bad = counts["failed"] + counts["timeout"]
                            progress.update(finished / len(pending), f"{finished}/{len(pending)} done, {bad} failed")
                            if on_row is not None:
                                on_row(row)
            finally:
                with signals_held():  # a second Ctrl-C must not leave the cluster half closed
                    _close(client, cluster, worker_pids, interrupted=stop.pending or sys.exc_info()[0] is not None)
            stop.check()  # a signal that arrived during the close
        progress.done()
    wall = time.perf_counter() - start
    rows = load_rows(plan, out)
    totals = {k: sum(r["status"] == k for r in rows) for k in ("ok", "failed", "timeout")}
    outcome = SweepOutcome(total=len(plan.samples), simulated=len(pending), resumed=len(plan.samples) - len(pending),
                           wall_s=wall, workers=n_workers, **totals)
    with open(out / "runs.jsonl", "a") as log:
        log.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "simulated": outcome.simulated,
                              "resumed": outcome.resumed, "wall_s": round(wall, 3), "workers": n_workers,
                              "scheduler": scheduler or "local", "simulator": simulator}, sort_keys=True) + "\n")
    return outcome


def _chunk_rows(future) -> list[dict[str, Any]]:
    """A finished task's rows; a task whose worker process died (out of memory, killed) as often as Dask
    allows is one line that says the finished rows are kept."""
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        from ..errors import SimulationError

        raise SimulationError(
            "sweep: a Dask worker process died while simulating a chunk of samples, as often as Dask retries "
            "one (out of memory, or killed from outside); the finished rows are kept: run the same command "
            "again to resume, with fewer --workers if memory ran out") from None


def _simulator_here(plan: SweepPlan) -> str:
    """The simulator this machine's workers run (release and solver, for ``runs.jsonl``); "" where only a
    run can tell (libngspice loads per run) or it is not installed (every row then says so)."""
    from ..errors import AnalogOptError
    from ..spice.runner import make_runner

    try:
        info = make_runner(plan.simulator, timeout_s=60.0).describe()
    except AnalogOptError:
        return ""
    return str(info) if info is not None else ""
