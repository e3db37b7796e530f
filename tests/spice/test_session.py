"""Persistent libngspice sessions (analogopt.spice.session) against the ngspice program, in real ngspice.

Every comparison is bit for bit: the session's plots (analyses, axis and vector names, dtypes, values)
must be the ones :class:`NgspiceRunner` reads from ``ngspice -b``'s raw file for the same deck, whether
the session loaded the deck fresh or applied its values to the circuit it held with ``alter``."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from analogopt.errors import (
    ConfigError, NetlistError, SimulationError, SimulationTimeoutError, SimulatorNotFoundError,
)
from analogopt.spice import NgspiceRunner, stop_all
from analogopt.spice.runner import SimulatorInfo
from analogopt.spice.session import (
    DeckShape, SessionCache, SessionCrashError, SessionRunner, check_same_release, check_sessions,
    exact_expression, netlist_number, plain_alter_text,
)

from spice_helpers import hanging_netlist, rc_deck

KINDS = "RCLVIEG"


@pytest.fixture(scope="module")
def cache():
    """One session for the comparisons (its start-up, about a second, paid once)."""
    sessions = SessionCache()
    yield sessions
    sessions.close()


def same_results(a, b) -> None:
    """``a`` and ``b`` (RunResults) hold the same plots, to the last bit."""
    assert [(p.analysis, p.axis_name, list(p.signals)) for p in a.plots] == \
        [(p.analysis, p.axis_name, list(p.signals)) for p in b.plots]
    for pa, pb in zip(a.plots, b.plots):
        assert pa.axis.dtype == pb.axis.dtype and np.array_equal(pa.axis, pb.axis), pa.analysis
        for name, values in pa.signals.items():
            other = pb.signals[name]
            assert values.dtype == other.dtype and np.array_equal(values, other), (pa.analysis, name)


def every_kind(v: dict[str, float]) -> str:
    """A transient from initial conditions through one element of each alterable kind, and a diode."""
    return (f"* every kind\nV1 a 0 {v['V']!r}\nR1 a b {v['R']!r}\nC1 b 0 {v['C']!r} ic=0\nL1 b c {v['L']!r}\n"
            f"R2 c 0 1500.0\nI1 0 c {v['I']!r}\nE1 d 0 b 0 {v['E']!r}\nRd d 0 1000.0\nG1 0 f c 0 {v['G']!r}\n"
            "Rf f 0 1000.0\nD1 f 0 dd\n.model dd d\n.options reltol=1e-6\n.save v(b) v(c) v(d) v(f) i(v1) i(l1)\n"
            ".tran 1e-6 1e-4 0 1e-6 uic\n.end\n")


def nonlinear_op(v: dict[str, float]) -> str:
    """An operating point of diodes fed through each alterable kind (Newton from ngspice's own start)."""
    return (f"* diodes\nV1 a 0 {v['V']!r}\nR1 a b {v['R']!r}\nD1 b 0 dd\nR2 b c 2000.0\nD2 c 0 dd\n"
            f"I1 0 c {v['I']!r}\nE1 d 0 b 0 {v['E']!r}\nRd d 0 1000.0\nG1 0 f c 0 {v['G']!r}\nRf f 0 1000.0\n"
            f"D3 f 0 dd\nC1 f 0 {v['C']!r}\nL1 a g {v['L']!r}\nRg g 0 100.0\n.model dd d\n.op\n.end\n")


def draw(rng) -> dict[str, float]:
    return {"R": rng.uniform(500, 2000), "C": rng.uniform(1e-9, 1e-8), "L": rng.uniform(1e-4, 1e-3),
            "V": rng.uniform(0.5, 2.0), "I": rng.uniform(1e-4, 1e-3), "E": rng.uniform(1.0, 3.0),
            "G": rng.uniform(1e-3, 3e-3)}


@pytest.mark.parametrize("kind", KINDS)
def test_each_element_kind_is_altered_to_the_numbers_of_a_fresh_load(kind, cache):
    rng = np.random.default_rng(KINDS.index(kind))
    values = draw(rng)
    runner = SessionRunner(timeout_s=60, cache=cache)
    for build in (every_kind, nonlinear_op):
        runner.run(build(values))  # the shape is loaded
        session = cache.sessions[0]
        alters = session.alters
        for _ in range(2):
            varied = dict(values, **{kind: draw(rng)[kind]})
            same_results(runner.run(build(varied)), NgspiceRunner().run(build(varied)))
        assert session.alters == alters + 2  # both by alter, no reload


def test_a_new_shape_is_loaded_fresh_and_back_again(cache):
    rng = np.random.default_rng(7)
    runner = SessionRunner(timeout_s=60, cache=cache)
    decks = [every_kind(draw(rng)), every_kind(draw(rng)), nonlinear_op(draw(rng)), rc_deck().format(),
             every_kind(draw(rng))]
    runner.run(decks[0])
    session = cache.sessions[0]
    loads, alters = session.loads, session.alters
    for deck in decks[1:]:
        same_results(runner.run(deck), NgspiceRunner().run(deck))
    assert (session.loads - loads, session.alters - alters) == (3, 1)


def test_ngspices_number_parser_and_the_exact_alter_values(cache):
    """The replica of ngspice's netlist number parser against ngspice itself (each value saved as the
    element's parameter), over magnitudes and 17-digit mantissas; then each one set by alter."""
    rng = np.random.default_rng(11)
    magnitudes = rng.uniform(1.0, 10.0, 120) * 10.0 ** rng.integers(-30, 30, 120)
    texts = [repr(float(v)) for v in magnitudes * rng.choice([-1.0, 1.0], 120)]
    texts += ["1.2999999999999998", "1e-300", "-7e+300", "12", "12.", ".5", "3e2", "0.1"]
    # controlled by a node at 0 V: any gain leaves the circuit solvable
    lines = [f"G{k} 0 n{k} z 0 {t}\nRn{k} n{k} 0 1.0" for k, t in enumerate(texts)]
    saves = " ".join(f"@g{k}[gain]" for k in range(len(texts)))
    deck = "* parser\nVz z 0 0.0\n" + "\n".join(lines) + f"\n.save {saves}\n.op\n.end\n"
    read = NgspiceRunner().run(deck).analysis("op")
    got = [float(read.signals[f"@g{k}[gain]"][0]) for k in range(len(texts))]
    assert got == [netlist_number(t) for t in texts]
    runner = SessionRunner(timeout_s=60, cache=cache)
    runner.run(deck)
    others = texts[::-1]
    altered = deck
    for k, (old, new) in enumerate(zip(texts, others)):
        altered = altered.replace(f"G{k} 0 n{k} z 0 {old}\n", f"G{k} 0 n{k} z 0 {new}\n")
    alters = cache.sessions[0].alters
    result = runner.run(altered).analysis("op")
    assert cache.sessions[0].alters == alters + 1
    assert [float(result.signals[f"@g{k}[gain]"][0]) for k in range(len(texts))] == \
        [netlist_number(t) for t in others]
    assert netlist_number("1k") is None and netlist_number("{x}") is None and exact_expression(0.0) is None


def test_plain_and_exact_alters_give_the_numbers_of_a_fresh_load(cache):
    """Values of 15, 16 and 17 digits, both signs and many magnitudes, altered in one run (plainly where
    the form allows, else exactly), read back as ngspice's netlist parser reads them."""
    rng = np.random.default_rng(12)
    values = rng.uniform(1.0, 10.0, 90) * 10.0 ** rng.integers(-30, 30, 90) * rng.choice([-1.0, 1.0], 90)
    texts = [f"{v:.15g}" for v in values[:30]] + [f"{v:.16g}" for v in values[30:60]] + [repr(float(v)) for v in values[60:]]
    texts += ["9007199254740943", "9007199254740944", "9007199254740991", "1.10", "12.", ".5", "3e2", "2.5e299", "1.5e-299",
              # trailing zeros count: the netlist parser reads 0.000010 as 10·10⁻⁶ = 9.999999999999999e-06, not 1e-05
              "0.000010", "2.50e-3", "-7.0000", "1e-300"]
    deck_of = lambda tokens: ("* plain\nVz z 0 0.0\n" + "".join(
        f"G{k} 0 n{k} z 0 {t}\nRn{k} n{k} 0 1.0\n" for k, t in enumerate(tokens))
        + ".save " + " ".join(f"@g{k}[gain]" for k in range(len(tokens))) + "\n.op\n.end\n")
    runner = SessionRunner(timeout_s=60, cache=cache)
    runner.run(deck_of(texts))
    session = cache.sessions[0]
    assert session.plain_refused == "" and session.alter_refused == ""
    others = texts[::-1]
    shape = DeckShape([line for line in deck_of(texts).splitlines() if line])
    commands = shape.commands_to([line for line in deck_of(others).splitlines() if line])
    assert sum("/2^" in c or "*2^" in c for c in commands) >= 10 and sum("^" not in c for c in commands) >= 40
    alters = session.alters
    result = runner.run(deck_of(others)).analysis("op")
    assert session.alters == alters + 1
    fresh = NgspiceRunner().run(deck_of(others)).analysis("op")
    assert [float(result.signals[f"@g{k}[gain]"][0]) for k in range(len(others))] == \
        [float(fresh.signals[f"@g{k}[gain]"][0]) for k in range(len(others))]
    assert float(fresh.signals[f"@g{others.index('0.000010')}[gain]"][0]) == 9.999999999999999e-06


@pytest.mark.parametrize("old, new", [
    (".subckt amp a b\nEa b 0 a 0 2.0\n.ends\nXa in out amp\n", ".subckt amp a b\nEa b 0 a 0 3.0\n.ends\nXa in out amp\n"),
    ("B1 out 0 v=2.0*v(in)\n", "B1 out 0 v=3.0*v(in)\n"),
    ("R9 out 0 1k\n", "R9 out 0 2k\n"),
    ("R9 out 0 1000.0\n", "R9 out 0 0.0\n"),
    ("R9 out 0 1000.0\n", "R9 out 0 1000.0\nR8 out 0 1000.0\n"),
    ("E1 out 0 in 0 2.0\n", "E1 out 0 poly(1) in 0 0 2.0\n"),
    ("R9 out 0 1000.0\n", "R9 out 0 1000.0 tc1=0.001\n"),
])
def test_changes_alter_cannot_repeat_exactly_are_loaded_fresh(old, new):
    head, tail = "* t\nV1 in 0 1.0\nR1 in 0 1000.0\nR2 out 0 1000.0\n", ".op\n.end\n"
    lines = lambda text: [line for line in text.splitlines() if line]
    shape = DeckShape(lines(head + old + tail))
    assert shape.commands_to(lines(head + new + tail)) is None
    changed = lines(head.replace("1.0\n", "2.0\n", 1) + old + tail)
    assert shape.commands_to(changed) == ["alter V1 dc = 20e-1"]
    assert shape.commands_to(changed, plain=False) == ["alter V1 dc = 1*2^1"]


def test_plain_alter_values_keep_the_netlist_parsers_arithmetic():
    """The integer-mantissa form keeps every digit and the power of ten the netlist parser multiplies by
    (so "2.0" is 20e-1, never 2); numbers whose mantissa would not accumulate exactly, values near the
    double's limits and resistances near ngspice's clamp are left to the exact form."""
    assert plain_alter_text("-2.052536017837423", "g") == "-2052536017837423e-15"
    assert plain_alter_text("2.0", "v") == "20e-1" and plain_alter_text("12", "r") == "12"
    assert plain_alter_text("0.001", "c") == "1e-3" and plain_alter_text("1.5e-07", "c") == "15e-8"
    # the netlist parser's sum 10·m + ord(digit) must stay below 2**53: 9007199254740943 + 48 = 2**53 - 1
    assert plain_alter_text("9007199254740943", "e") == "9007199254740943"
    for token, kind in [("9007199254740944", "e"), ("9007199254740991", "e"), ("1.2999999999999998", "v"), ("1k", "r"), ("{x}", "r"),
                        ("0.0", "v"), ("1e-301", "i"), ("7e+301", "v"), ("1e-12", "r"), ("5e-12", "r")]:
        assert plain_alter_text(token, kind) is None, token
    assert plain_alter_text("5e-12", "c") == "5e-12"  # the clamp is a resistor's only
    # ngspice's tokenizer splits 15d-3 (a fresh load fails), and 1e400 is no double: both reload fresh
    assert netlist_number("15d-3") is None and plain_alter_text("15d-3", "v") is None
    assert netlist_number("1e400") is None and netlist_number("٣") is None


def test_a_changed_title_or_subcircuit_value_runs_fresh_to_the_programs_numbers(cache):
    base = "* amp {title}\n.subckt amp a b\nEa b 0 a 0 {gain}\n.ends\nV1 in 0 1.5\nXa in out amp\nR1 out 0 1000.0\n.op\n.end\n"
    runner = SessionRunner(timeout_s=60, cache=cache)
    runner.run(base.format(title="one", gain=2.0))
    session = cache.sessions[0]
    loads = session.loads
    for title, gain in (("one", 3.0), ("two", 3.0)):
        deck = base.format(title=title, gain=gain)
        same_results(runner.run(deck), NgspiceRunner().run(deck))
    assert session.loads == loads + 2


def test_a_deck_that_reads_files_is_loaded_anew_each_time(cache, tmp_path):
    """The same text, another included file: the session must read it again, as the program does."""
    deck = "* includes\n.include part.lib\nV1 a 0 1.0\nX1 a b part\nR1 b 0 1000.0\n.op\n.end\n"
    runner = SessionRunner(timeout_s=60, cache=cache)
    for gain in ("2.0", "3.0"):
        for folder in ("session", "program"):
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / "part.lib").write_text(f".subckt part i o\nE1 o 0 i 0 {gain}\n.ends\n")
        loads = cache.sessions[0].loads if cache.sessions else 0
        result = runner.run(deck, run_dir=tmp_path / "session")
        same_results(result, NgspiceRunner().run(deck, run_dir=tmp_path / "program"))
        assert result.analysis("op")["v(b)"][0] == float(gain) and cache.sessions[0].loads == loads + 1


def test_errors_are_judged_by_analogopts_diagnostics_and_the_session_goes_on(cache, tmp_path):
    runner = SessionRunner(timeout_s=60, cache=cache)
    runner.run(rc_deck())
    pid = cache.sessions[0].pid
    with pytest.raises(NetlistError, match="unknown subcircuit") as caught:
        runner.run("* bad\nX1 a 0 nosuchblock\nR1 a 0 1\n.op\n.end\n", run_dir=tmp_path / "bad")
    assert (tmp_path / "bad" / "ngspice.err").read_text()  # what the message tells the user to read
    assert "unknown subckt" in caught.value.stderr.lower() and caught.value.netlist_text.startswith("* bad")
    deck = every_kind(draw(np.random.default_rng(3)))
    same_results(runner.run(deck), NgspiceRunner().run(deck))
    assert cache.sessions[0].pid == pid and runner.sessions_lost == 0


def test_start_returns_at_once_and_a_run_directory_keeps_the_deck_as_run(cache, tmp_path):
    runner = SessionRunner(timeout_s=60, cache=cache)
    runner.run(rc_deck())  # the session is up
    slow = "* slow\nR1 a 0 1k\nB1 a 0 v=sin(2*3.14159*1e6*time)\n.tran 1e-8 2e-4 0 1e-8\n.end\n"
    t0 = time.perf_counter()
    pending = runner.start(slow, run_dir=tmp_path / "run")
    launched = time.perf_counter() - t0
    result = pending.wait()
    assert launched < 0.25 * result.elapsed_s
    written = (tmp_path / "run" / "netlist.cir").read_text()
    assert written.startswith("* slow") and (".options klu" in written) == result.simulator.klu
    assert not (tmp_path / "run" / "ngspice.out").exists()  # a good run's console output is in the result
    # the run says what it used (a small deck: Sparse 1.3); the runner, what it selects by deck size
    described = runner.describe()
    assert result.simulator.program == described.program == "libngspice" and not result.simulator.klu
    assert (result.simulator.version, described.by_size) == (described.version, described.klu)


def test_the_library_is_the_programs_release_or_sessions_are_refused():
    program = NgspiceRunner().describe()
    library = check_sessions("ngspice")  # this machine's set-up: one ngspice, program and library
    assert (library.version, library.klu) == (program.version, program.klu)
    older = SimulatorInfo("ngspice", "39.3", False)
    with pytest.raises(ConfigError, match=r"^--sessions runs libngspice-\S+ \(\S+ solver\) but --simulator ngspice "
                                          r"is ngspice-39\.3 \(Sparse 1\.3 solver\): their results differ"):
        check_same_release(library, older)


def test_without_libngspice_a_session_says_what_to_install(monkeypatch, tmp_path, private_tmp):
    monkeypatch.setenv("NGSPICE_LIBRARY_PATH", str(tmp_path / "no-such-libngspice.so"))
    with pytest.raises(SimulatorNotFoundError, match=r"^libngspice not available \(OSError: .*no-such-libngspice"
                                                     r"\.so.*\); install it with 'apt-get install libngspice0'"):
        check_sessions("libngspice")


def _gone(pid: int) -> bool:
    """``pid`` ends within 5 s (a zombie not yet reaped counts as ended)."""
    import psutil

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_a_crashing_deck_ends_its_session_and_the_next_run_gets_a_fresh_one(private_tmp, tmp_path):
    """A deck that includes itself: ngspice recurses until it overflows its stack (SIGSEGV), as the
    program does on the same deck."""
    cache = SessionCache()
    try:
        runner = SessionRunner(timeout_s=60, cache=cache)
        runner.run(rc_deck())
        pid = cache.sessions[0].pid
        crash = "* includes itself\n.include netlist.cir\nR1 a 0 1\n.op\n.end\n"
        with pytest.raises(SessionCrashError, match=r"the libngspice session process ended \(killed by SIGSEGV\)"):
            runner.run(crash, run_dir=tmp_path / "crash")
        with pytest.raises(SimulationError, match="killed by SIGSEGV"):
            NgspiceRunner().run(crash, run_dir=tmp_path / "program")
        assert runner.sessions_lost == 1 and _gone(pid)
        deck = every_kind(draw(np.random.default_rng(5)))
        same_results(runner.run(deck), NgspiceRunner().run(deck))
        assert cache.sessions[0].pid not in (None, pid) and cache.sessions[0].starts == 2
    finally:
        cache.close()
    assert not [p.name for p in private_tmp.iterdir() if p.name.startswith("analogopt-")]


def test_a_hanging_run_is_killed_at_the_limit_and_the_session_restarts(private_tmp):
    cache = SessionCache()
    try:
        runner = SessionRunner(timeout_s=1.0, cache=cache)
        runner.run(rc_deck())
        pid = cache.sessions[0].pid
        t0 = time.perf_counter()
        with pytest.raises(SimulationTimeoutError, match=r"libngspice session exceeded 1 s"):
            runner.run(hanging_netlist())
        assert time.perf_counter() - t0 < 3 and _gone(pid) and runner.sessions_lost == 1
        same_results(SessionRunner(timeout_s=60, cache=cache).run(rc_deck()), NgspiceRunner().run(rc_deck()))
    finally:
        cache.close()
    assert not [p.name for p in private_tmp.iterdir() if p.name.startswith("analogopt-")]


def test_stop_all_and_close_leave_no_child_and_no_directory(private_tmp):
    cache = SessionCache()
    try:
        runner = SessionRunner(timeout_s=60, cache=cache)
        runner.run(rc_deck())
        first = cache.sessions[0].pid
        assert [p.name for p in private_tmp.iterdir()][0].startswith("analogopt-session-")
        assert stop_all() >= 1 and _gone(first)  # the CLI's signal handlers reach session children too
        runner.run(rc_deck())  # a fresh child takes over
        second = cache.sessions[0].pid
        assert second != first
        os.kill(second, signal.SIGKILL)  # dies while idle: the next run is not its victim
        assert _gone(second)
        runner.run(rc_deck())
        assert runner.sessions_lost == 0
        third = cache.sessions[0].pid
    finally:
        cache.close()
    assert _gone(third)
    assert not [p.name for p in private_tmp.iterdir() if p.name.startswith("analogopt-")]


def test_a_grown_child_is_replaced_before_its_next_run(monkeypatch):
    """ngspice keeps memory of every command: a child past the growth bound gives way to a fresh one."""
    import analogopt.spice.session as session_module

    cache = SessionCache()
    try:
        runner = SessionRunner(timeout_s=60, cache=cache)
        runner.run(rc_deck())
        session = cache.sessions[0]
        first = session.pid
        monkeypatch.setattr(session_module, "RECYCLE_GROWTH_BYTES", -1)
        same_results(runner.run(rc_deck()), NgspiceRunner().run(rc_deck()))
        assert session.starts == 2 and session.pid != first and _gone(first) and runner.sessions_lost == 0
    finally:
        cache.close()


def test_a_limit_beyond_what_poll_can_count_still_waits_for_the_run(cache):
    """The child's reply is awaited in stretches: poll's milliseconds are a C int (24.8 days), and a
    --timeout of 30 days was an OverflowError in every sample's row."""
    deck = "rc\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n"
    result = SessionRunner(timeout_s=2.5e6, cache=cache).run(deck)
    assert result.analysis("op")["v(a)"][0] == 1.0
