"""Helpers shared by the tests of the SPICE layer."""

import os
import sys
from pathlib import Path

from PySpice.Spice.Netlist import Circuit

from analogopt.spice import NetlistDeck, Transient

ROOT = Path(__file__).resolve().parents[2]


def rc_deck(tau_s: float = 1e-3, title: str = "rc discharge") -> NetlistDeck:
    c = Circuit(title)
    c.R(1, "a", c.gnd, 1e3)
    c.C(1, "a", c.gnd, tau_s / 1e3, initial_condition=1.0)
    return NetlistDeck(c, [Transient(5 * tau_s)], options={"reltol": 1e-6}, saves=["v(a)"])


def hanging_netlist() -> str:
    """A transient that runs for hours: 1 s simulated in steps of 0.1 ns."""
    return (
        "* hanging\nR1 a 0 1k\nB1 a 0 v=sin(2*3.14159*1e9*time)\n"
        ".tran 1e-10 1.0 0 1e-10\n.end\n"
    )


def ngspice_children_in(directory: Path) -> list:
    """Live (not zombie) ngspice processes whose working directory is under ``directory``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "status"]):
        try:
            if "ngspice" not in (proc.info["name"] or "") or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if Path(proc.cwd()).is_relative_to(directory):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue
    return found


def child_env(tmp: Path) -> dict[str, str]:
    """Environment for a child Python running analogopt from this checkout, with TMPDIR at ``tmp``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["TMPDIR"] = str(tmp)
    return env


PYTHON = sys.executable
