"""Size estimates made before anything is built, and the limits they are held to.

An experiment kind estimates, from its scenario's numbers alone, the peak memory of a run, the circuit's
element count and the time points ngspice will compute, plus the digital twin's work. A run that
cannot fit this machine's memory, or whose predicted wall time exceeds :data:`MAX_PREDICTED_S`, is
refused in one line naming the sizes and the override flag (``--allow-large``), instead of growing until
the kernel kills it. The same estimate gives ngspice's default wall-time limit.

The costs per unit are calibrated on this project's NF loops (``analogopt run nf_perceptron``: 25 503
elements × 3 000 time points in 2.4 s of ngspice, 3e-8 s per element·point) and kept pessimistic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ResourceLimitError

#: ngspice wall time per circuit element per time point (s), pessimistic.
SPICE_S_PER_ELEMENT_POINT = 5e-8
#: Twin wall time per multiply-accumulate (s), pessimistic for a CPU.
TWIN_S_PER_MAC = 2e-9
#: Longest predicted run accepted without ``--allow-large`` (s).
MAX_PREDICTED_S = 24 * 3600.0
#: Share of the machine's available memory a run may plan to use.
MEMORY_SHARE = 0.8
#: The default ngspice limit: this many times the predicted time, and never less than the floor (s).
TIMEOUT_FACTOR, TIMEOUT_FLOOR_S = 20.0, 120.0
#: The longest ``--timeout`` a command takes (s, 30 days): a longer one means "no limit", which the
#: default already nearly is, and past 24.8 days the operating system's waits cannot count it (1e30 s hung).
MAX_TIMEOUT_S = 30 * 24 * 3600.0

OVERRIDE_FLAG = "--allow-large"


def available_memory_bytes() -> float:
    """Memory the kernel says a new allocation can get now (``MemAvailable``), or the physical size."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _seconds(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    return f"{s:.3g} s"


@dataclass(frozen=True)
class SizeEstimate:
    """What a run will take, estimated from the scenario's numbers before anything is built.

    ``what`` names the sizes in the scenario's terms (e.g. ``"398 samples × 31 weights, 3000
    iterations"``); ``memory_bytes`` is the run's planned peak (data, twin trajectories, raw file as
    read); ``elements`` × ``time_points`` is ngspice's work, summed over the runs of the experiment;
    ``twin_macs`` the digital side's multiply-accumulates."""

    what: str
    memory_bytes: float
    elements: float = 0.0
    time_points: float = 0.0
    twin_macs: float = 0.0

    @property
    def spice_s(self) -> float:
        """Predicted ngspice wall time (s)."""
        return self.elements * self.time_points * SPICE_S_PER_ELEMENT_POINT

    @property
    def twin_s(self) -> float:
        """Predicted digital-twin wall time (s)."""
        return self.twin_macs * TWIN_S_PER_MAC

    def default_timeout_s(self) -> float:
        """ngspice's wall-time limit when the user gives no ``--timeout`` (s)."""
        return max(TIMEOUT_FLOOR_S, TIMEOUT_FACTOR * self.spice_s)

    def check(self, *, allow_large: bool = False, available_bytes: float | None = None) -> None:
        """Raise :class:`ResourceLimitError` when the run cannot fit this machine's memory or the time
        limit; ``allow_large`` (the user knows better than the estimate) skips both checks."""
        if allow_large:
            return
        available = available_memory_bytes() if available_bytes is None else available_bytes
        if self.memory_bytes > MEMORY_SHARE * available:
            raise ResourceLimitError(
                f"{self.what}: needs about {_bytes(self.memory_bytes)} of memory, this machine has "
                f"{_bytes(available)} available; reduce the problem or pass {OVERRIDE_FLAG}")
        predicted = self.spice_s + self.twin_s
        if predicted > MAX_PREDICTED_S:
            raise ResourceLimitError(
                f"{self.what}: predicted to run {_seconds(predicted)} (ngspice {_seconds(self.spice_s)} for "
                f"{self.elements:.3g} elements × {self.time_points:.3g} time points, twin {_seconds(self.twin_s)}), "
                f"over the {_seconds(MAX_PREDICTED_S)} limit; reduce the problem or pass {OVERRIDE_FLAG}")


def size_of(table: object, key: str, default: float) -> float:
    """``table[key]`` as a plain number for estimating, or ``default`` when absent or not a number.

    Estimates run before the strict reading of the scenario, which reports a malformed value itself.
    """
    from .units import parse_si

    value = table.get(key, default) if isinstance(table, dict) else default
    if isinstance(value, bool):
        return default
    try:
        number = parse_si(value, key) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number == number and abs(number) != float("inf") else default
