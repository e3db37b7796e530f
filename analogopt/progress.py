"""Progress display for long runs: one self-overwriting line on stderr.

Quiet for the first ``delay_s`` seconds (short runs print nothing) and when stderr is not a terminal,
where it prints one line per stage instead of animating.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports ``stage`` names and a fraction done; ``update`` is cheap enough to call often."""

    def __init__(self, stream: TextIO | None = None, *, delay_s: float = 2.0, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.delay_s = delay_s
        self.enabled = enabled
        self._start = time.monotonic()
        self._stage = ""
        self._stage_start = self._start
        self._last_draw = 0.0
        self._dirty = False
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def stage(self, name: str) -> None:
        """Start a named stage (e.g. ``"ngspice"``)."""
        self._finish_line()
        self._stage = name
        self._stage_start = time.monotonic()
        if self.enabled and not self._tty and time.monotonic() - self._start >= self.delay_s:
            print(f"analogopt: {name} …", file=self.stream, flush=True)

    def update(self, fraction: float, detail: str = "") -> None:
        """Fraction of the current stage done, 0…1."""
        now = time.monotonic()
        if not self.enabled or not self._tty or now - self._start < self.delay_s or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = now - self._stage_start
        eta = f" ETA {elapsed * (1 - fraction) / fraction:5.1f} s" if 0.02 < fraction < 1 else ""
        bar = "#" * int(fraction * 24)
        self.stream.write(f"\r{self._stage:<14} [{bar:<24}] {fraction * 100:5.1f}%{eta} {detail}\x1b[K")
        self.stream.flush()
        self._dirty = True

    def done(self) -> None:
        self._finish_line()

    def _finish_line(self) -> None:
        if self._dirty:
            self.stream.write("\n")
            self.stream.flush()
            self._dirty = False


class SilentProgress(Progress):
    def __init__(self) -> None:
        super().__init__(enabled=False)
