"""ngspice's own failure messages fail a run; the same words in the title or a comment do not."""

import os
import signal
import time

import pytest

from analogopt.errors import ConvergenceError, NetlistError, SimulationError
from analogopt.spice import NgspiceRunner, SharedLibraryRunner
from analogopt.spice.diagnostics import NOT_KEPT, ngspice_lines, raise_for_output
from spice_helpers import hanging_netlist, rc_deck

#: Titles that quote ngspice's failure messages, in its own forms where ngspice has one.
ECHOED_PHRASES = [
    "syntax error",
    "timestep too small",
    "unknown subckt",
    "simulation(s) aborted",
    "run simulation(s) aborted",
    "Error: unknown subckt: x1 a 0 nosuchblock",
    "doAnalyses: TRAN:  Timestep too small; initial timepoint: trouble with node zz",
    "Error on line 2 or its substitute:",
    "could not find a valid modelname",
    "Undefined parameter [foo]",
    "PTerror: syntax error, parsing stopped at",
    "Transient solution failed -",
    "Warning: source stepping failed",
    "Error: there aren't any circuits loaded.",
    "ERROR: fatal error in ngspice, exit(1)",
    "Warning: rawfile write error !!",
    "No space left on device",
]


def healthy_netlist(phrase: str) -> str:
    """An RC discharge titled ``phrase``, with comment lines quoting it and an ngspice message."""
    return (
        f"{phrase}\n"
        f"* {phrase}\n"
        "* doAnalyses: TRAN:  Timestep too small; trouble with node \"a\"\n"
        "*   Error: unknown subckt: x9 a 0 nosuchblock\n"
        "R1 a 0 1k\nC1 a 0 1u ic=1\n"
        ".tran 0.1m 5m 0 0.1m uic\n.end\n"
    )


@pytest.mark.parametrize("phrase", ECHOED_PHRASES)
def test_a_healthy_run_titled_with_a_failure_message_succeeds(phrase, private_tmp):
    result = NgspiceRunner().run(healthy_netlist(phrase))
    assert result.analysis("tran")["a"][-1] == pytest.approx(0.0067, abs=1e-3)


@pytest.mark.parametrize("phrase", ["syntax error", "timestep too small", "unknown subckt", "simulation(s) aborted"])
def test_deck_titles_with_failure_words_run_fine(phrase, private_tmp):
    """Through NetlistDeck (its title becomes the first, echoed line) as scenarios build them."""
    result = NgspiceRunner().run(rc_deck(title=phrase))
    assert result.analysis("tran")["a"][-1] == pytest.approx(0.0067, abs=1e-3)


def test_shared_library_runner_ignores_echoed_titles(private_tmp):
    """PySpice itself would raise on the word "error" in the echoed title; the child judges nothing."""
    result = SharedLibraryRunner().run(healthy_netlist("syntax error; Error: unknown subckt: x1 a 0 b"))
    assert result.analysis("tran")["v(a)"][-1] == pytest.approx(0.0067, abs=1e-3)


STIFF = (
    "{title}\n"
    "C1 b 0 1e-12 ic=0.1\n"
    "B1 0 b i=1e-3*exp(2000*v(b))\n"
    ".options itl4=5\n"
    ".tran 1e-9 1e-6 uic\n.end\n"
)


@pytest.mark.parametrize("runner", [NgspiceRunner, SharedLibraryRunner])
def test_a_failing_run_still_names_the_node_ngspice_blamed(runner, private_tmp):
    title = 'stiff doAnalyses: TRAN:  Timestep too small; trouble with node "decoy"'
    with pytest.raises(ConvergenceError, match="at node b: timestep too small") as info:
        runner().run(STIFF.format(title=title))
    assert info.value.node == "b"
    assert "removed; pass run_dir=" in str(info.value)  # the temporary directory is not cited
    assert info.value.netlist_text.startswith("stiff") and "Timestep too small" in info.value.stderr


@pytest.mark.parametrize(
    "body, error, pattern",
    [
        ("X1 a 0 nosuchblock\nR1 a 0 1\n.op\n", NetlistError, r"unknown subcircuit.*\(x1 a 0 nosuchblock\)"),
        ("D1 a 0 nomodel\nV1 a 0 1\n.op\n", NetlistError, r"unknown model.*\(nomodel, line 2\)"),
        ("R1 a 0 {foo}\nV1 a 0 1\n.op\n", NetlistError, r"undefined parameter.*\(foo, line 2\)"),
        ("V1 a 0 1\nB1 b 0 v=v(a)*(2+\nR1 b 0 1k\n.op\n", NetlistError, r"syntax error \(line 3\)"),
        ("V1 a 0 1\nB1 b 0 v=nosuchfn(v(a))\nR1 b 0 1k\n.op\n", NetlistError, r"undefined function \(nosuchfn"),
        ("R1 a 0 {1+(2}\nV1 a 0 1\n.op\n", NetlistError, r"rejected a netlist line \(line 2: Closing"),
        ("R1 a 0 inf\nV1 a 0 1\n.op\n", NetlistError, r"line 2: unknown parameter \(inf\)"),
        (".subckt foo a b\nR1 a b 1k\nR1 a 0 1k\nV1 a 0 1\n.op\n", NetlistError, r"unbalanced"),
        (".include /nonexistent/models.lib\nR1 a 0 1k\nV1 a 0 1\n.op\n", NetlistError,
         r"missing include or library file.*\(/nonexistent/models.lib\)"),
        ("V1 in 0 1\nB2 out 0 i=-1e3*exp(100*v(out)) + v(in)\nR2 out 0 1k\n.options itl2=3\n.dc V1 0 10 1\n",
         ConvergenceError, r"at node out: timestep too small"),
        ("V1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.op\n", ConvergenceError,
         r"at the current of v\d: singular matrix; check for voltage sources or inductors in a loop"),
        # ngspice's reason comes before its "no circuits loaded": the message carries it
        (".subckt amp a b\nR1 a b 1k\n.ends amp\nX1 a amp\nV1 a 0 1\nR2 a 0 1k\n.op\n", NetlistError,
         r"could not load the circuit \(Too few parameters for subcircuit type \"amp\" \(instance: xx1\)\)"),
    ],
    ids=["subckt", "model", "param", "syntax", "function", "paren", "inf", "unbalanced", "include", "dc",
         "source-loop", "not-loaded"],
)
def test_real_failures_are_typed_and_named(body, error, pattern, private_tmp, tmp_path):
    # titled with a different failure, so that only ngspice's own message can explain the error
    netlist = f"timestep too small; unknown subckt\n{body}.end\n"
    with pytest.raises(error, match=pattern) as info:
        NgspiceRunner().run(netlist)
    assert "\n" not in str(info.value)
    # with a run directory, the message cites the netlist that is kept there
    with pytest.raises(error, match=pattern) as kept:
        NgspiceRunner().run(netlist, run_dir=tmp_path / "run")
    assert f"netlist {tmp_path / 'run' / 'netlist.cir'}" in str(kept.value)
    assert (tmp_path / "run" / "netlist.cir").exists()


def test_a_killed_ngspice_is_named_with_its_signal(private_tmp):
    pending = NgspiceRunner(timeout_s=60).start(hanging_netlist())
    time.sleep(0.2)
    os.kill(pending.proc.pid, signal.SIGTERM)
    with pytest.raises(SimulationError, match="ngspice was killed by SIGTERM") as info:
        pending.wait()
    assert info.value.returncode == -signal.SIGTERM


def test_echo_filter_keeps_ngspice_lines_and_drops_the_netlist_it_quotes():
    netlist = "my title with Error: unknown subckt: y\nD1 a 0 nomodel\n.op\n.end\n"
    output = (
        "Circuit: my title with Error: unknown subckt: y\n"
        "warning, can't find model 'nomodel' from line\n    d1 a 0 nomodel\n"
        "Error on line 2 or its substitute:\n  d1    a 0 NOMODEL\ncould not find a valid modelname\n"
        "my title with Error: unknown subckt: y\n"
    )
    assert ngspice_lines(output, netlist) == [
        "warning, can't find model 'nomodel' from line",
        "Error on line 2 or its substitute:",
        "could not find a valid modelname",
    ]


@pytest.mark.parametrize(
    "returncode, stderr, pattern",
    [
        (1, "Error: a message analogopt does not know\n", r"^ngspice exited with status 1: Error: a message analogopt"),
        (2, "", r"^ngspice exited with status 2 and printed no error \(raw file written\)"),
        (-11, "", r"^ngspice was killed by SIGSEGV"),
        (0, "run simulation(s) aborted\n", r"^ngspice aborted the run: run simulation\(s\) aborted"),
    ],
)
def test_unrecognised_failures_name_the_exit_status(returncode, stderr, pattern, tmp_path):
    netlist = tmp_path / "netlist.cir"
    netlist.write_text("t\nR1 a 0 1\n.op\n.end\n")
    with pytest.raises(SimulationError, match=pattern) as info:
        raise_for_output(stdout="Circuit: t\n", stderr=stderr, returncode=returncode, netlist=netlist,
                         run_dir=tmp_path, raw_exists=True)
    assert str(info.value).endswith(f"(netlist {netlist})") and info.value.returncode == returncode
    with pytest.raises(SimulationError, match=r"see its console output .*\(" + NOT_KEPT.split(";")[0]):
        raise_for_output(stdout="", stderr=stderr, returncode=returncode, netlist=netlist, run_dir=None,
                         raw_exists=True, where=NOT_KEPT)
