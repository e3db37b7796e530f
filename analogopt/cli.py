"""The ``analogopt`` command line.

Every failure a user can cause ends in one line on stderr and a non-zero exit code chosen by the
error's type (:data:`analogopt.errors.EXIT_CODES`); set ``ANALOGOPT_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from . import __version__
from .commands import flags
from .errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_TERMINATED, AnalogOptError, ConfigError, Terminated, exit_code

#: Modules that add sub-commands: each defines ``register(subparsers)`` and sets ``func`` on its parser.
COMMAND_MODULES: tuple[str, ...] = ("analogopt.commands.train", "analogopt.commands.sweep", "analogopt.commands.export",
                                     "analogopt.commands.characterize", "analogopt.commands.reproduce")


def _cmd_list(args: argparse.Namespace) -> int:
    from .scenarios import list_scenarios

    scenarios = list_scenarios()
    width = max((len(s.name) for s in scenarios), default=4)
    for s in scenarios:
        print(f"{s.name:<{width}}  {s.kind:<16}  {s.title}")
    return 0


#: The whole-run limit (s) of a kind that makes no size estimate, when --timeout is not given.
DEFAULT_RUN_TIMEOUT_S = 600.0


def _cmd_run(args: argparse.Namespace) -> int:
    from .commands.flags import positive_seconds
    from .experiments import build_experiment, estimate
    from .progress import Progress
    from .report import record_simulator
    from .results import RunDirectory, check_target
    from .scenarios import load_scenario
    from .spice.runner import make_runner

    timeout_s = positive_seconds(args.timeout, "--timeout")
    check_target(args.out)  # a refused --out is reported before the scenario is even read
    scenario = load_scenario(args.scenario, args.set)
    # validates everything, sizes first, before any file is written
    experiment = build_experiment(scenario, allow_large=args.allow_large)
    size = estimate(scenario)
    if timeout_s is None:
        timeout_s = size.default_timeout_s() if size is not None else DEFAULT_RUN_TIMEOUT_S
    # one deadline for the whole run: every ngspice run, the twins and the kind's own Python work
    runner = make_runner(args.simulator, timeout_s=timeout_s)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force, protect=[(scenario.path, "the scenario file")]) as out:
        metrics = experiment.run(out, progress, runner=runner)
        if getattr(experiment, "has_circuit", True):
            record_simulator(out.path, runner.describe())
    progress.done()
    for warning in metrics.get("warnings", []):  # the run completed, but its result needs a caveat
        print(f"analogopt: warning: {_one_line(warning)}", file=sys.stderr)
    if not args.quiet:
        summary = metrics.get("summary", "")
        print(f"{scenario.name}: results in {args.out}" + (f" — {summary}" if summary else ""))
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported like every other error: one line, exit code 2."""

    def error(self, message: str):
        command = self.prog.partition(" ")[2]
        print(f"analogopt: error: {command + ': ' if command else ''}{message} (see '{self.prog} --help')",
              file=sys.stderr)
        sys.exit(EXIT_CODES[ConfigError])


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="analogopt",
        description="Analog circuit co-simulation of learning systems: ngspice circuits beside PyTorch twins.",
    )
    parser.add_argument("--version", action="version", version=f"analogopt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list the shipped scenarios")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "run",
        help="run a scenario: netlist, ngspice, digital twin, comparison, report",
        description="Run SCENARIO (a shipped name or a .toml path) and write netlist.cir, metrics.json, "
        "PNG plots and report.md into --out.",
    )
    p.add_argument("scenario", help="shipped scenario name (see 'analogopt list') or path to a .toml file")
    p.add_argument("--out", required=True, help="result directory (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing result directory that analogopt wrote (never any other directory)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="wall-time limit of the whole run (s): every ngspice run, the twins and the kind's own "
                   "work; default: 20 times the run's predicted time, at least 120 s (600 s without an estimate)")
    p.add_argument("--allow-large", action="store_true",
                   help="run a problem whose estimated memory or time exceeds this machine (see docs/cli.md)")
    flags.add_simulator_flag(p)
    p.add_argument(
        "--set", action="append", default=[], metavar="PATH=VALUE",
        help="override a scenario value, e.g. --set circuit.forward_gain=1e4 (repeatable)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display or summary line")
    p.set_defaults(func=_cmd_run)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error already reported (2)
        return int(exc.code or 0)
    debug = bool(os.environ.get("ANALOGOPT_DEBUG"))
    previous = _terminate_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except AnalogOptError as exc:
        if debug:
            raise
        print(f"analogopt: error: {_one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except (KeyboardInterrupt, Terminated) as exc:
        # the outcome is decided: a late Ctrl-C or SIGTERM must not turn exit 130/143 into death by signal
        # while the interpreter shuts down (it restores default handlers there, not ignored ones)
        for signum in (signal.SIGINT, signal.SIGTERM):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signum, signal.SIG_IGN)
        _stop_simulations()
        _forget_unhandled_interrupt()
        interrupted = isinstance(exc, KeyboardInterrupt)
        # a command whose results survive the interrupt (a sweep's finished samples) says where
        kept = getattr(exc, "kept", None) or "no result directory written"
        print(f"analogopt: {'interrupted' if interrupted else 'terminated'}; ngspice stopped, {kept}", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_TERMINATED
    except Exception as exc:  # never a traceback to a CLI user
        if debug:
            raise
        print(
            f"analogopt: internal error: {type(exc).__name__}: {_one_line(exc)} (ANALOGOPT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 70
    finally:
        if previous is not None and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
            signal.signal(signal.SIGTERM, previous)


def _terminate_on_sigterm():
    """SIGTERM raises :class:`Terminated` in the main thread, so clean-up runs as for Ctrl-C; returns the
    handler it replaced (None off the main thread, where Python cannot install one)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def _stop_simulations() -> None:
    """Whatever unwinding missed: ngspice children of this process must not outlive it."""
    from .spice.runner import stop_all

    stop_all()


def _forget_unhandled_interrupt() -> None:
    """Clear CPython's "unhandled KeyboardInterrupt" mark, which a Ctrl-C handled here can leave set.

    ``exec``/``eval`` of a source string (dataclasses and namedtuple build their methods that way, at every
    import that defines one) run through ``PyRun_StringFlags``, which marks the interpreter when a
    KeyboardInterrupt leaves the string's code, whether or not someone catches it later. Under
    ``python -m`` the interpreter then ends by killing itself with SIGINT after a clean shutdown (exit
    status -2 instead of 130). The mark is reset by the next string that runs to its end; this is one."""
    exec("pass")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
