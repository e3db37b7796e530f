"""Sweeps on persistent libngspice sessions (``--sessions``): chunks of samples per task, rows identical
to one ngspice process per sample, a lost session retried once, resume after SIGKILL, nothing left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from analogopt.errors import ConfigError
from analogopt.results import to_jsonable
from analogopt.scenarios import load_scenario
from analogopt.spice.session import close_sessions, session_cache
from analogopt.sweep.engine import SAMPLES_DIR, load_rows, plan_chunks, prepare_directory
from analogopt.sweep.evaluate import RETRIED, VOLATILE_PREFIXES, evaluate_chunk, evaluate_sample
from analogopt.sweep.results import build_table, stable_columns
from analogopt.sweep.spec import SweepPlan

ROOT = Path(__file__).resolve().parents[2]
ANALOGOPT = [sys.executable, "-m", "analogopt.cli"]
VARY = ["x=lognormal:0.05", "u=gauss:0.05", "tau=lognormal:0.05", "gain=gauss:0.05"]


def stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith(VOLATILE_PREFIXES)}


def plans(scenario, sets, **kw) -> tuple[SweepPlan, SweepPlan]:
    return SweepPlan.build(scenario, sets, **kw), SweepPlan.build(scenario, sets, sessions=True, **kw)


@pytest.fixture
def sessions_closed(tmp_path, monkeypatch):
    """The process's sessions (evaluate_chunk's), in a private temporary directory; at the end of the test
    they are closed, and neither their children nor any ``analogopt-*`` entry may be left."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    cache = session_cache()
    yield cache
    pids = [s.pid for s in cache.sessions if s.pid is not None]
    close_sessions()
    assert not [p.name for p in root.iterdir() if p.name.startswith("analogopt-")]
    assert all(not _alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def session_children(tmp: Path) -> list:
    """Live session processes started with ``tmp`` as their temporary directory."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if any(part.endswith("session_child.py") for part in proc.info["cmdline"] or []) \
                    and proc.info["status"] != psutil.STATUS_ZOMBIE and proc.environ().get("TMPDIR") == str(tmp):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(scope="module")
def nf_staircase():
    """A Monte Carlo point of the NF loop (every element kind of its deck varied) and its rows from one
    ngspice process per sample."""
    spawn, ses = plans(load_scenario("nf_staircase", ["loop.iterations=300"]), [], mc=3, seed=4, vary=VARY)
    return ses, [stable(evaluate_sample(spawn.to_json(), s.id)) for s in spawn.samples]


def test_a_chunk_in_a_session_gives_the_rows_of_one_process_per_sample(nf_staircase, sessions_closed):
    ses, expected = nf_staircase
    rows = [stable(r) for r in evaluate_chunk(ses.to_json(), [s.id for s in ses.samples])]
    assert rows == expected and {r["status"] for r in rows} == {"ok"}
    session = sessions_closed.sessions[0]
    # one child served every sample, the first deck loaded, the others' values altered
    assert (session.starts, session.runs, session.loads, session.alters) == (1, 3, 1, 2)


def test_crossbar_samples_in_sessions_match_one_process_per_sample(sessions_closed):
    spawn, ses = plans(load_scenario("crossbar_mvm"), [], mc=2, seed=2)
    expected = [stable(evaluate_sample(spawn.to_json(), s.id)) for s in spawn.samples]
    assert [stable(r) for r in evaluate_chunk(ses.to_json(), [s.id for s in ses.samples])] == expected


def _kill_runs_of(sample: int, times: int, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the session child whenever it runs the deck of chunk member ``sample`` (its run folder:
    ``spice_<sample>`` in the batch, ``retry_<sample>/…`` when run again alone)."""
    import psutil

    while len(killed) < times and not stop.is_set():
        for session in session_cache().sessions:
            pid = session.pid
            if pid is None or not session.busy or pid in killed:
                continue
            try:
                cwd = Path(psutil.Process(pid).cwd())
            except (psutil.NoSuchProcess, FileNotFoundError):
                continue
            if cwd.name == f"spice_{sample}" and cwd.parent.name.startswith("analogopt-sweep") \
                    or cwd.parent.name == f"retry_{sample}":
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.002)


@pytest.mark.parametrize("kills", [1, 2])
def test_a_sample_whose_session_dies_is_retried_once_then_failed(kills, nf_staircase, sessions_closed):
    """The session running sample 1's deck is killed (once: the retry in a fresh session succeeds; twice:
    the sample fails with the reason); the chunk's other samples are untouched."""
    ses, expected = nf_staircase
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_runs_of, args=(1, kills, stop, killed), daemon=True)
    killer.start()
    try:
        rows = [stable(r) for r in evaluate_chunk(ses.to_json(), [s.id for s in ses.samples])]
    finally:
        stop.set()
        killer.join()
    assert len(killed) == kills
    assert [rows[0], rows[2]] == [expected[0], expected[2]]
    if kills == 1:
        assert rows[1] == expected[1]
    else:
        assert rows[1]["status"] == "failed" and rows[1]["id"] == expected[1]["id"]
        assert "session process ended (killed by SIGKILL)" in rows[1]["error"] and rows[1]["error"].endswith(RETRIED)
        assert "\n" not in rows[1]["error"]


def test_chunks_hold_one_point_and_keep_every_worker_busy():
    plan = SweepPlan.build(load_scenario("nf_staircase"), ["loop.forward_gain=0.05,0.1"], mc=20, seed=1)
    ids = [s.id for s in plan.samples]
    chunks = plan_chunks(plan, ids, workers=2)
    assert [i for c in chunks for i in c] == ids
    assert all(len({plan.sample(i).point for i in c}) == 1 for c in chunks)
    assert len(chunks) >= 4 * 2 and max(map(len, chunks)) == 5  # 40 samples, 8 tasks at least
    assert max(map(len, plan_chunks(plan, ids, workers=1))) == 8  # never more than MAX_CHUNK
    assert plan_chunks(plan, ids[3:5] + ids[30:31], workers=1, size=8) == [ids[3:5], ids[30:31]]
    with pytest.raises(ValueError, match="one point"):
        evaluate_chunk(plan.to_json(), [ids[0], ids[30]])


def test_sessions_are_how_a_sweep_runs_not_what_it_is(tmp_path):
    spawn, ses = plans(load_scenario("nf_staircase"), ["loop.forward_gain=0.05,0.1"], mc=2)
    prepare_directory(spawn, tmp_path / "sw")
    prepare_directory(ses, tmp_path / "sw")  # resuming with --sessions: the same sweep
    assert "sessions" not in json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert SweepPlan.from_json(ses.to_json()).sessions and not SweepPlan.from_json(spawn.to_json()).sessions
    with pytest.raises(ConfigError, match=r"--sessions keeps ngspice's shared library loaded: .* not native"):
        SweepPlan.build(load_scenario("nf_staircase"), [], simulator="native", sessions=True)


NGSPICE_39 = ROOT / ".cache" / "ngspice-39.3" / "bin"


@pytest.mark.skipif(not NGSPICE_39.exists(), reason="scripts/setup.sh unpacks ngspice-39.3 where another release is active")
def test_sessions_refuse_a_program_of_another_release(run_cli, check_one_line_error, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{NGSPICE_39}{os.pathsep}{os.environ['PATH']}")
    code, err = run_cli("sweep", "nf_staircase", "--set", "loop.iterations=300", "--sessions", "--workers", "1",
                        "--quiet", "--out", str(tmp_path / "sw"))
    check_one_line_error(code, err, code=2, pattern=r"--sessions runs libngspice-\S+ \(KLU solver\) but --simulator "
                                                    r"ngspice is ngspice-39\S* \(Sparse 1\.3 solver\)")


@pytest.mark.slow
def test_a_killed_sweep_on_sessions_resumes_to_the_table_of_one_process_per_sample(tmp_path):
    """SIGKILL of the sweep (its workers and their sessions: one process group) mid-way; the same command
    completes every sample exactly once, to the table of one ngspice process per sample, and leaves no
    session process and no scratch directory."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    args = ["sweep", "nf_staircase", "--set", "loop.iterations=300", "--mc", "8", "--vary", "x=lognormal:0.05",
            "--workers", "1", "--quiet"]
    out = tmp_path / "sessions"
    cmd = [*ANALOGOPT, *args, "--sessions", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / SAMPLES_DIR).glob("*.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_text() for p in (out / SAMPLES_DIR).glob("*.json")}
    assert 2 <= len(before) < 8
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["simulated"] == 8 - len(before) and runs[-1]["resumed"] == len(before)
    assert runs[-1]["simulator"].startswith("libngspice-") and runs[-1]["simulator"].endswith("in persistent sessions")
    after = {p.name: p.read_text() for p in (out / SAMPLES_DIR).glob("*.json")}
    assert len(after) == 8 and all(after[k] == v for k, v in before.items())
    plan = SweepPlan.from_json(json.loads((out / "sweep.json").read_text()))
    assert plan.sessions
    spawn = SweepPlan.from_json({**plan.to_json(), "sessions": False})
    # one ngspice process per sample, each row through JSON as the engine stores it
    rows = [json.loads(json.dumps(to_jsonable(evaluate_sample(spawn.to_json(), s.id)))) for s in spawn.samples]
    a = stable_columns(build_table(load_rows(plan, out)))
    assert list(a["id"]) == [f"p000_m{k:04d}" for k in range(8)]
    pd.testing.assert_frame_equal(a, stable_columns(build_table(rows)), check_exact=True)
    deadline = time.monotonic() + 10
    while session_children(tmp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_children(tmp)
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("analogopt-")]
