"""Shared by the scaling benches: plain ``ngspice -b`` on a netlist text, the yardstick of total/bare."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path


def bare_ngspice(netlist: str) -> float:
    """Wall time (s) of ``ngspice -b -r out.raw`` on ``netlist`` in a scratch directory, launch to exit."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.cir").write_text(netlist)
        t0 = time.perf_counter()
        subprocess.run(["ngspice", "-b", "-r", "bare.raw", "bare.cir"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0
