"""Shared by the scaling benches: plain ``ngspice -b`` on a netlist text, the yardstick of total/bare."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from analogopt.spice.runner import ngspice_info, with_solver


def bare_ngspice(netlist: str, executable: str = "ngspice") -> float:
    """Wall time (s) of ``ngspice -b -r out.raw`` on ``netlist`` in a scratch directory, launch to exit,
    with the solver the runners select (``.options klu`` where that ngspice has KLU), so that both sides
    of total/bare solve the same way."""
    exe = shutil.which(executable) or executable
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.cir").write_text(with_solver(netlist, True if ngspice_info(exe).klu else None))
        t0 = time.perf_counter()
        subprocess.run([exe, "-b", "-r", "bare.raw", "bare.cir"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0
