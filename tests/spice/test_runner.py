import math
import os
import shutil
import time

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.errors import ConvergenceError, NetlistError, SimulationTimeoutError, SimulatorNotFoundError
from analogopt.spice import (
    DCSweep, NetlistDeck, NgspiceRunner, OperatingPoint, SharedLibraryRunner, Transient, read_raw, validate_name,
    validate_names,
)


def rc_deck(tau_s=1e-3):
    c = Circuit("rc discharge")
    c.R(1, "a", c.gnd, 1e3)
    c.C(1, "a", c.gnd, tau_s / 1e3, initial_condition=1.0)
    return NetlistDeck(c, [Transient(5 * tau_s)], options={"reltol": 1e-6}, saves=["v(a)"])


def test_rc_transient_matches_exponential(tmp_path):
    result = NgspiceRunner().run(rc_deck(), run_dir=tmp_path)
    w = result.analysis("tran")
    assert (tmp_path / "netlist.cir").exists()
    expected = np.exp(-w.axis / 1e-3)
    assert np.max(np.abs(w["a"] - expected)) < 1e-3
    assert w.sample(["v(a)"], np.array([1e-3]))[0, 0] == pytest.approx(math.exp(-1), rel=1e-3)


def test_progress_reaches_one():
    seen = []
    NgspiceRunner().run(rc_deck(), progress=seen.append)
    assert seen and seen[-1] == 1.0


def test_progress_reports_the_transient_along_the_way():
    c = Circuit("slow")
    c.R(1, "a", c.gnd, 1e3)
    c.BehavioralSource(1, "a", c.gnd, voltage_expression="sin(2*3.14159*1e6*time)")
    seen = []
    NgspiceRunner().run(NetlistDeck(c, [Transient(2e-3, step_s=1e-8, max_step_s=1e-8)]), progress=seen.append)
    assert any(0.0 < v < 1.0 for v in seen) and seen == sorted(seen) and seen[-1] == 1.0


def test_shared_library_runner_agrees_with_subprocess():
    a = NgspiceRunner().run(rc_deck()).analysis("tran")
    b = SharedLibraryRunner().run(rc_deck()).analysis("tran")
    assert b["a"][-1] == pytest.approx(a["a"][-1], rel=1e-9)
    c = SharedLibraryRunner().start(rc_deck()).wait().analysis("tran")
    assert c["a"][-1] == pytest.approx(a["a"][-1], rel=1e-9)


def test_unknown_subcircuit_is_a_netlist_error():
    c = Circuit("bad")
    c.X("u1", "nosuchblock", "a", c.gnd)
    c.R(1, "a", c.gnd, 1)
    with pytest.raises(NetlistError, match="unknown subcircuit"):
        NgspiceRunner().run(NetlistDeck(c, [OperatingPoint()]))


def test_timestep_too_small_names_the_node():
    c = Circuit("stiff")
    c.C(1, "b", c.gnd, 1e-12, initial_condition=0.1)
    c.BehavioralSource(1, c.gnd, "b", current_expression="1e-3*exp(2000*v(b))")
    deck = NetlistDeck(c, [Transient(1e-6, step_s=1e-9)], options={"itl4": 5})
    with pytest.raises(ConvergenceError) as info:
        NgspiceRunner().run(deck)
    assert info.value.node == "b"
    assert "node b" in str(info.value) and "try" in str(info.value)


def test_informational_output_is_not_an_error():
    # A floating node makes ngspice print "singular matrix" and step gmin, then succeed.
    c = Circuit("gmin")
    c.R(1, "a", "b", 1e3)
    c.V(1, "c", c.gnd, 1.0)
    result = NgspiceRunner().run(NetlistDeck(c, [OperatingPoint()]))
    assert result.analysis("op")["c"][0] == pytest.approx(1.0)
    assert any("singular" in w.lower() for w in result.warnings)


def long_deck():
    c = Circuit("long")
    c.R(1, "a", c.gnd, 1e3)
    c.BehavioralSource(1, "a", c.gnd, voltage_expression="sin(2*3.14159*1e9*time)")
    return NetlistDeck(c, [Transient(1.0, step_s=1e-10, max_step_s=1e-10)])


def test_timeout_kills_the_run():
    with pytest.raises(SimulationTimeoutError, match="exceeded"):
        NgspiceRunner(timeout_s=0.5).run(long_deck())


def test_timeout_counts_from_launch_while_the_caller_is_busy():
    """The watchdog stops ngspice at the deadline even when nobody is waiting yet (the co-simulation
    steps its twin meanwhile); collecting afterwards reports the timeout."""
    pending = NgspiceRunner(timeout_s=0.3).start(long_deck())
    time.sleep(1.0)
    assert pending.proc.poll() is not None  # killed by the watchdog, not by wait()
    with pytest.raises(SimulationTimeoutError, match="exceeded"):
        pending.wait()


@pytest.mark.parametrize("watched", [True, False])
def test_a_limit_beyond_what_poll_can_count_still_waits_for_the_run(tmp_path, watched):
    """poll() takes a C int of milliseconds (24.8 days): a longer limit must not kill the watcher."""
    import threading

    deck = "rc\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n"
    runner = NgspiceRunner(timeout_s=1e30)
    results = []
    # in a thread: the failure this guards against is a wait that never ends
    worker = threading.Thread(target=lambda: results.append(runner.start(deck).wait() if watched else runner.run(deck)),
                              daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the run was never collected"
    assert results[0].analysis("op")["v(a)"][0] == 1.0


def test_cancel_stops_a_started_run():
    pending = NgspiceRunner(timeout_s=60).start(long_deck())
    t0 = time.perf_counter()
    pending.cancel()
    assert pending.proc.poll() is not None and time.perf_counter() - t0 < 5


def test_started_runs_overlap_with_the_caller():
    """start() returns before ngspice ends; elapsed_s is ngspice's own launch-to-exit time."""
    pending = NgspiceRunner().start(rc_deck())
    time.sleep(1.0)
    result = pending.wait()
    assert result.elapsed_s < 0.9
    assert result.analysis("tran")["a"][-1] == pytest.approx(math.exp(-5), abs=1e-3)


def test_dc_sweep_and_raw_reader(tmp_path):
    c = Circuit("divider")
    c.V("in", "i", c.gnd, 0)
    c.R(1, "i", "o", 1e3)
    c.R(2, "o", c.gnd, 3e3)
    NgspiceRunner().run(NetlistDeck(c, [DCSweep("vin", 0, 4, 1)]), run_dir=tmp_path)
    (plot,) = read_raw(tmp_path / "out.raw")
    assert plot.analysis == "dc"
    np.testing.assert_allclose(plot["o"], 0.75 * plot.axis, rtol=1e-9)


@pytest.mark.parametrize("name", ["a b", "x\n.control", "a\n", "", "1abc", "w;shell rm"])
def test_names_that_could_inject_lines_are_rejected(name):
    with pytest.raises(NetlistError, match="not a valid SPICE name"):
        validate_name(name)


@pytest.mark.parametrize("bad", ["a b", "x\n.control", "a\nR1", "a\n", "", "1abc", 7, "n" * 65])
def test_one_bad_name_among_many_is_named(bad):
    names = [f"n{k}" for k in range(100)]
    validate_names(names)
    names[57] = bad
    with pytest.raises(NetlistError, match="not a valid SPICE name") as info:
        validate_names(names, "node")
    assert repr(bad)[:20] in str(info.value)


@pytest.mark.parametrize("title", ["ok\n.control\nshell ls", "ok\n"])
def test_title_cannot_inject_lines(title):
    c = Circuit(title)
    c.R(1, "a", c.gnd, 1)
    with pytest.raises(NetlistError, match="one line"):
        NetlistDeck(c, [OperatingPoint()]).format()


def test_operating_point_keeps_every_saved_vector(tmp_path):
    c = Circuit("op vectors")
    c.V(1, "a", c.gnd, 2.0)
    c.R(1, "a", "b", 1e3)
    c.R(2, "b", c.gnd, 1e3)
    deck = NetlistDeck(c, [OperatingPoint()], saves=["v(a)", "v(b)"])
    op = NgspiceRunner().run(deck).analysis("op")
    assert op.axis_name == "index"
    np.testing.assert_allclose(op.final(["v(a)", "v(b)"]), [2.0, 1.0], rtol=1e-9)


def test_plain_run_needs_no_helper_thread(monkeypatch):
    """run() sleeps on ngspice in the caller's thread; only start() (the caller computes meanwhile) and
    progress reports use a watcher thread."""
    import analogopt.spice.runner as runner_module

    def no_threads(*args, **kwargs):
        raise AssertionError("run() started a thread")

    monkeypatch.setattr(runner_module.threading, "Thread", no_threads)
    result = NgspiceRunner().run(rc_deck())
    assert result.analysis("tran")["a"][-1] == pytest.approx(math.exp(-5), abs=1e-3)


def test_waiting_without_pidfd_falls_back_to_popen_wait(monkeypatch):
    """Where the OS has no pidfd, runs and timeouts still work (through Popen.wait's own timeout)."""
    import analogopt.spice.runner as runner_module

    def missing(pid):
        raise OSError("no pidfd here")

    monkeypatch.setattr(runner_module.os, "pidfd_open", missing)
    assert NgspiceRunner().run(rc_deck()).analysis("tran")["a"][-1] == pytest.approx(math.exp(-5), abs=1e-3)
    with pytest.raises(SimulationTimeoutError, match="exceeded"):
        NgspiceRunner(timeout_s=0.5).run(long_deck())


def test_missing_or_vanished_ngspice_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(SimulatorNotFoundError, match="not found on PATH"):
        NgspiceRunner(executable="ngspice-not-installed").run(rc_deck())
    # found once (and remembered), then removed: the next launch says so instead of raising OSError
    link = tmp_path / "bin" / "myspice"
    link.parent.mkdir()
    link.symlink_to(shutil.which("ngspice"))
    monkeypatch.setenv("PATH", f"{link.parent}{os.pathsep}{os.environ['PATH']}")
    runner = NgspiceRunner(executable="myspice")
    assert runner.run(rc_deck()).analysis("tran")["a"][-1] == pytest.approx(math.exp(-5), abs=1e-3)
    link.unlink()
    with pytest.raises(SimulatorNotFoundError, match="myspice"):
        runner.run(rc_deck())


def test_an_interrupted_run_leaves_no_ngspice_behind(monkeypatch):
    """Ctrl-C while run() sleeps on ngspice kills and reaps it before the interrupt goes on."""
    import analogopt.spice.runner as runner_module

    seen = {}

    def interrupted(proc, deadline):
        seen["proc"] = proc
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "_sleep_until_exit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        NgspiceRunner(timeout_s=60).run(long_deck())
    assert seen["proc"].poll() is not None


def test_a_relative_ngspice_path_names_the_program_from_the_callers_directory(tmp_path, monkeypatch):
    """ngspice runs in its run directory: a relative ``--ngspice`` path is fixed before it gets there."""
    link = tmp_path / "tools" / "myspice"
    link.parent.mkdir()
    link.symlink_to(shutil.which("ngspice"))
    monkeypatch.chdir(tmp_path)
    runner = NgspiceRunner(executable=os.path.join("tools", "myspice"))
    assert runner.executable == str(link)
    assert runner.run(rc_deck()).analysis("tran")["a"][-1] == pytest.approx(math.exp(-5), abs=1e-3)


def test_an_integer_option_reaches_ngspice_whole():
    """ngspice reads ``seed=1.18706e+09`` as seed 1: two Monte Carlo seeds that share a leading digit would
    draw the same devices. Options are written as their digits, and each seed draws its own value."""
    from analogopt.spice.netlist import format_option

    assert format_option(1187058043) == "1187058043" and format_option(np.int64(7)) == "7"
    assert format_option(27.0) == "27.0" and format_option("gear") == "gear"
    drawn = []
    for seed in (1187058043, 1317197938):
        c = Circuit("agauss seed")
        c.raw_spice = ".param r={agauss(1k, 100, 1)}"
        c.R(1, "a", c.gnd, "{r}")
        c.V(1, "a", c.gnd, 1.0)
        deck = NetlistDeck(c, [OperatingPoint()], options={"seed": seed}, saves=["i(v1)"])
        assert f".options seed={seed}" in deck.format()
        drawn.append(float(NgspiceRunner().run(deck).analysis("op")["i(v1)"][-1]))
    assert drawn[0] != drawn[1] and all(0.5e-3 < -i < 2e-3 for i in drawn), drawn
