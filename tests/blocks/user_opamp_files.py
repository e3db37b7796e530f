"""A user's op-amp as a user would hand it over (bring your own block, issue 13): a two-stage CMOS part in
the Boyle manner, its transistor models in a separate library with corner sections, and a helper that
writes them (and scenarios using them) into a test's folder.

CM33, by design (checked by tests/blocks/test_user_block.py against ngspice's AC analysis):

- input stage: an NMOS pair (W/L = 20, level 1, KP = 100 µA/V²) on a 20 µA tail, 40 kΩ loads:
  gm = 0.2 mS, gain ≈ 8;
- intermediate stage: 100 µS into 1 MΩ (gain 100), then an inverting 1 mS stage into 143 kΩ (gain 143) with
  a 40 pF Miller capacitor from its output back to its input and a 1 kΩ (= 1/gm) nulling resistor that
  moves the Miller zero to infinity;
- A0 ≈ 8 · 100 · 143 ≈ 1.1e5 (≈ 101 dB), GBW ≈ gm1·R_d·g_a/(2π·C_c) ≈ 3.2 MHz, second pole ≈ 130 MHz
  (phase margin ≈ 80°); 75 Ω output, swing clamps ~0.1 V inside the rails, 0.3 mA quiescent current;
- rated 2.7 V … 20 V total supply: the same file runs in the 0–3.3 V NF loop and on ±10 V in the
  crossbar solver.
"""

from __future__ import annotations

import re
from pathlib import Path

CM33_SUB = """\
* CM33 -- general-purpose two-stage CMOS operational amplifier, behavioural macromodel
* Supply 2.7 V to 20 V total. Node order: non-inverting input, inverting input, output, V+, V-
* Transistor and diode models: cm33_models.lib, sections tt (typical), ss (slow) and ff (fast).
.subckt CM33 1 2 3 4 5
* differential input pair on a 20 uA tail with resistive loads
Itail 10 5 20u
M1 11 1 10 10 cm33_nin W=20u L=1u
M2 12 2 10 10 cm33_nin W=20u L=1u
Rd1 4 11 40k
Rd2 4 12 40k
Cd1 11 12 0.1p
* mid-supply point for the linear stages (a buffered divider: draws nothing)
Emid 20 5 4 5 0.5
* intermediate stage: transconductance into a 1 Meg node
Ga 20 21 11 12 100u
R2 21 20 1meg
C2 21 20 0.2p
* inverting gain stage, Miller compensated, with a zero-nulling resistor
Gb 22 20 21 20 1m
R3 22 20 143k
C3 22 20 1p
Cc 21 23 40p
Rz 23 22 1k
* output follower, 75 ohm output resistance, clamps about 0.1 V inside the rails
Eo 24 20 22 20 1
Ro 24 3 75
Dh 22 25 cm33_dclamp
Vh 4 25 0.7
Dl 26 22 cm33_dclamp
Vl 26 5 0.7
* quiescent current of the remaining circuitry
Iq 4 5 300u
.ends CM33
"""

CM33_LIB = """\
* CM33 device models, by process corner: .lib cm33_models.lib tt | ss | ff
.lib common
.model cm33_dclamp d is=1e-14 n=1
.endl common

.lib tt
.model cm33_nin nmos level=1 vto=0.55 kp=100u lambda=0.02
.lib cm33_models.lib common
.endl tt

.lib ss
.model cm33_nin nmos level=1 vto=0.65 kp=85u lambda=0.03
.lib cm33_models.lib common
.endl ss

.lib ff
.model cm33_nin nmos level=1 vto=0.45 kp=115u lambda=0.015
.lib cm33_models.lib common
.endl ff
"""

#: the [..opamp] table naming CM33, paths relative to the scenario's folder
TABLE = """\
subckt = "parts/cm33.sub"
name = "CM33"
pins = ["inp", "inn", "out", "vdd", "vss"]
lib = [["parts/cm33_models.lib", "tt"]]
"""

SIMS = Path(__file__).resolve().parents[2] / "sims"


def write_part(folder: Path, sub: str = CM33_SUB, lib: str = CM33_LIB) -> tuple[Path, Path]:
    """CM33's two files in ``folder/parts/``; returns their paths."""
    parts = folder / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "cm33.sub").write_text(sub)
    (parts / "cm33_models.lib").write_text(lib)
    return parts / "cm33.sub", parts / "cm33_models.lib"


def write_scenario(folder: Path, shipped: str, table: str, extra: str = "") -> Path:
    """The shipped scenario ``shipped`` (sims/<shipped>.toml) with its op-amp table ``table`` (e.g.
    ``"circuit.opamp"``; replaced where the scenario has one) naming CM33 instead, written to
    ``folder/<shipped>_cm33.toml``; ``extra`` adds lines to that table."""
    text = (SIMS / f"{shipped}.toml").read_text()
    # the table's header and its lines up to the next header (a built-in model's kind, gain, …)
    text = re.sub(rf"^\[{re.escape(table)}\]\n(?:(?!\[).*\n?)*", "", text, flags=re.M)
    path = folder / f"{shipped}_cm33.toml"
    path.write_text(f"{text.rstrip()}\n\n[{table}]\n{TABLE}{extra}")
    return path
