"""One error tree for the whole toolkit.

Every error a user can cause or meet derives from :class:`AnalogOptError`; the CLI maps each type to
one line and its own exit code (see :data:`EXIT_CODES`).
"""

from __future__ import annotations

from pathlib import Path


class AnalogOptError(Exception):
    """Base of every analogopt error."""


class ConfigError(AnalogOptError, ValueError):
    """A user-supplied value (scenario, parameter, data) is invalid."""


class OutputError(AnalogOptError):
    """A result or scratch location cannot be written: read-only, full, locked by another run, or a
    path analogopt refuses to replace."""


class ResourceLimitError(ConfigError):
    """The problem's estimated size (memory, elements × time points, wall time) exceeds this machine or
    the limit in force; the message names the sizes and the flag that overrides the limit."""


class NetlistError(AnalogOptError):
    """A netlist could not be built or was rejected by the simulator while parsing."""


class SimulatorNotFoundError(AnalogOptError):
    """ngspice (or its shared library) is not installed."""


class SimulationError(AnalogOptError):
    """ngspice ran but failed; carries everything needed to reproduce and diagnose it."""

    def __init__(
        self,
        message: str,
        *,
        run_dir: Path | None = None,
        returncode: int | None = None,
        stdout: str = "",
        stderr: str = "",
        netlist_text: str = "",
    ) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        #: the deck that failed, kept even when its temporary run directory is gone
        self.netlist_text = netlist_text


class SimulationTimeoutError(SimulationError):
    """ngspice did not finish within the allowed wall time."""


class ConvergenceError(SimulationError):
    """Newton iteration or time stepping failed; names the node ngspice blamed."""

    def __init__(self, message: str, *, node: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.node = node


EXIT_CODES: dict[type[AnalogOptError], int] = {
    ResourceLimitError: 9,
    ConfigError: 2,
    NetlistError: 3,
    SimulatorNotFoundError: 4,
    ConvergenceError: 5,
    SimulationTimeoutError: 6,
    SimulationError: 7,
    OutputError: 8,
    AnalogOptError: 1,
}

#: Exit codes of a run stopped by a signal (the shell's convention, 128 + signal number).
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C)
EXIT_TERMINATED = 143  # SIGTERM


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM, so that every ``with`` and
    ``finally`` unwinds (ngspice children stopped, staging directories removed) as for Ctrl-C."""


def exit_code(error: AnalogOptError) -> int:
    """The CLI exit code for ``error``: the entry of its most specific class."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
