"""Temporary run directories and children never outlive a run: success, failure, timeout, cancel,
Ctrl-C, SIGTERM, stop_all(), a plain script, a process killed outright."""

import gc
import os
import signal
import subprocess
import textwrap
import threading
import time

import pytest

import analogopt.spice.runner as runner_module
from analogopt.errors import NetlistError, SimulationError, SimulationTimeoutError, Terminated
from analogopt.spice import NgspiceRunner, SharedLibraryRunner
from analogopt.spice.runner import stop_all
from spice_helpers import PYTHON, child_env, hanging_netlist, ngspice_children_in, rc_deck

BAD = "bad\nX1 a 0 nosuchblock\nR1 a 0 1\n.op\n.end\n"


def _leftovers(root):
    return sorted(p.name for p in root.iterdir() if p.name.startswith("analogopt-"))


@pytest.mark.parametrize("runner_class", [NgspiceRunner, SharedLibraryRunner])
def test_temporary_directories_go_on_every_exit_path(runner_class, private_tmp):
    runner_class().run(rc_deck())
    runner_class().start(rc_deck()).wait()
    with pytest.raises(NetlistError, match="unknown subcircuit.*temporary run directory removed") as info:
        runner_class().run(BAD)
    assert info.value.netlist_text == BAD and info.value.run_dir is None
    assert "unknown subckt" in info.value.stderr
    with pytest.raises(SimulationTimeoutError, match="exceeded 0.5 s.*temporary run directory removed"):
        runner_class(timeout_s=0.5).run(hanging_netlist())
    pending = runner_class(timeout_s=60).start(hanging_netlist())
    pending.cancel()
    assert pending.proc.poll() is not None
    assert _leftovers(private_tmp) == []


def test_a_given_run_directory_keeps_its_files_on_failure(tmp_path, private_tmp):
    with pytest.raises(NetlistError, match=f"netlist {tmp_path / 'run' / 'netlist.cir'}") as info:
        NgspiceRunner().run(BAD, run_dir=tmp_path / "run")
    assert {"netlist.cir", "ngspice.out", "ngspice.err"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert info.value.run_dir == tmp_path / "run"


def test_a_started_run_that_is_dropped_is_cleaned_up(private_tmp):
    pending = NgspiceRunner(timeout_s=0.3).start(hanging_netlist())
    proc = pending.proc
    pending.watcher.join()  # the timeout killed it; nobody collects the run
    del pending
    gc.collect()
    assert proc.poll() is not None and _leftovers(private_tmp) == []


def test_an_interrupted_run_removes_its_directory(monkeypatch, private_tmp):
    seen = {}

    def interrupted(proc, deadline):
        seen["proc"] = proc
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "_sleep_until_exit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        NgspiceRunner(timeout_s=60).run(hanging_netlist())
    assert seen["proc"].poll() is not None and _leftovers(private_tmp) == []


def _signal_soon(signum: int, after_s: float = 0.3) -> threading.Timer:
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


@pytest.fixture
def sigterm_raises_terminated():
    """SIGTERM raises Terminated in the main thread, as the CLI's handler does."""

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("how", ["run", "run-progress", "start-wait", "shared"])
@pytest.mark.parametrize("signum, error", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_waiting_stops_the_child(how, signum, error, sigterm_raises_terminated, private_tmp):
    runner = SharedLibraryRunner(timeout_s=60) if how == "shared" else NgspiceRunner(timeout_s=60)
    started = []
    original = runner_module._popen

    def remember(argv, **kwargs):
        started.append(original(argv, **kwargs))
        return started[-1]

    runner_module._popen, timer = remember, _signal_soon(signum, 0.8 if how == "shared" else 0.3)
    try:
        with pytest.raises(error):
            if how == "run":
                runner.run(hanging_netlist())
            elif how == "run-progress":
                runner.run(hanging_netlist(), progress=lambda fraction: None)
            else:
                runner.start(hanging_netlist()).wait()
    finally:
        runner_module._popen = original
        timer.cancel()
    assert started and all(proc.poll() is not None for proc in started)
    assert _leftovers(private_tmp) == []


def test_stop_all_kills_and_reaps_every_running_child(private_tmp):
    pendings = [NgspiceRunner(timeout_s=60).start(hanging_netlist()) for _ in range(2)]
    pendings.append(SharedLibraryRunner(timeout_s=60).start(hanging_netlist()))
    done = NgspiceRunner().start(rc_deck())
    done.watcher.join()
    t0 = time.perf_counter()
    assert stop_all() == 3
    assert time.perf_counter() - t0 < 5 and all(p.proc.poll() is not None for p in pendings)
    assert stop_all() == 0
    for pending in pendings:
        with pytest.raises(SimulationError, match="killed by SIGKILL"):
            pending.wait()
    done.wait()
    assert _leftovers(private_tmp) == []


def test_the_shared_library_runner_works_from_a_plain_script(tmp_path, private_tmp):
    """No ``if __name__ == "__main__":`` guard: multiprocessing's spawn would re-run this script."""
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent("""\
        import time
        from analogopt.spice import SharedLibraryRunner
        print("script body", flush=True)
        t0 = time.perf_counter()
        netlist = "rc\\nR1 a 0 1k\\nC1 a 0 1u ic=1\\n.tran 0.1m 5m 0 0.1m uic\\n.end\\n"
        result = SharedLibraryRunner(timeout_s=60).run(netlist)
        print("final", round(float(result.analysis("tran")["v(a)"][-1]), 4), round(time.perf_counter() - t0, 1))
    """))
    proc = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, timeout=120,
                          env=child_env(private_tmp), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "script body" and lines.count("script body") == 1  # not re-run in the child
    final, seconds = lines[1].split()[1:]
    assert float(final) == pytest.approx(0.0067, abs=1e-3) and float(seconds) < 20
    assert _leftovers(private_tmp) == []


#: Starts a hanging ngspice the way ``HOW`` says, prints its pid, then waits for it.
HANGING_SCRIPT = """\
import sys, threading, time
from analogopt.spice import NgspiceRunner
netlist = {netlist!r}
how = sys.argv[1]
runner = NgspiceRunner(timeout_s=600)
if how == "run":
    import analogopt.spice.runner as r
    original = r._popen
    def tell(argv, **kwargs):
        proc = original(argv, **kwargs)
        print(proc.pid, flush=True)
        return proc
    r._popen = tell
    runner.run(netlist)
elif how == "start-wait":
    pending = runner.start(netlist)
    print(pending.proc.pid, flush=True)
    pending.wait()
else:  # started from a thread that ends at once: ngspice must run on until the process dies
    box = []
    thread = threading.Thread(target=lambda: box.append(runner.start(netlist)))
    thread.start()
    thread.join()
    print(box[0].proc.pid, flush=True)
    time.sleep(600)
"""


def _hanging_child(tmp_path, tmp_root, how: str) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "hang.py"
    script.write_text(HANGING_SCRIPT.format(netlist=hanging_netlist()))
    proc = subprocess.Popen([PYTHON, str(script), how], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env(tmp_root), cwd=tmp_path)
    pid = int(proc.stdout.readline())
    deadline = time.monotonic() + 10
    while not ngspice_children_in(tmp_root):  # ngspice (exec'd by setpriv) is up
        assert time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    return proc, pid


def _gone_soon(tmp_root, pid: int) -> bool:
    import psutil

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        if not alive and not ngspice_children_in(tmp_root):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("how", ["run", "start-wait"])
def test_ctrl_c_in_a_script_leaves_no_ngspice_and_no_directory(how, tmp_path, private_tmp):
    proc, pid = _hanging_child(tmp_path, private_tmp, how)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "KeyboardInterrupt" in err
    assert _gone_soon(private_tmp, pid)
    assert _leftovers(private_tmp) == []


@pytest.mark.parametrize("how", ["run", "start-wait", "thread"])
def test_sigkill_of_the_python_process_takes_ngspice_down(how, tmp_path, private_tmp):
    if not runner_module._pdeathsig_prefix():
        pytest.skip("no setpriv --pdeathsig here: a SIGKILLed process cannot take its children down")
    proc, pid = _hanging_child(tmp_path, private_tmp, how)
    if how == "thread":
        time.sleep(0.3)  # the launching thread has ended: ngspice must still run
        assert ngspice_children_in(private_tmp)
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone_soon(private_tmp, pid)
    # the directory of the killed process is cleared by the next run that makes one
    assert _leftovers(private_tmp)
    runner_module._stale_swept.clear()
    NgspiceRunner().run(rc_deck())
    assert _leftovers(private_tmp) == []
