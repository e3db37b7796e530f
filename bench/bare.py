"""Shared by the scaling benches: plain ``ngspice -b`` on a netlist text, the yardstick of total/bare."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def bare_ngspice(netlist: str, executable: str = "ngspice", timeout_s: float | None = None) -> float:
    """Wall time (s) of ``ngspice -b -r out.raw`` on ``netlist`` in a scratch directory, launch to exit.
    The deck runs as written: its own ``.options klu`` (decks large enough to gain select it) is what the
    runners run too, so both sides of total/bare use the same solver. Past ``timeout_s`` ngspice is killed
    and :class:`subprocess.TimeoutExpired` raised."""
    exe = os.path.abspath(shutil.which(executable) or executable)  # it runs in a scratch directory
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.cir").write_text(netlist)
        t0 = time.perf_counter()
        subprocess.run([exe, "-b", "-r", "bare.raw", "bare.cir"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout_s)
        return time.perf_counter() - t0
