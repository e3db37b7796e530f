"""A transistor-level transconductor in the GF180MCU kit's 3.3 V devices: the single-stage (five-transistor)
OTA that drives an OTA-C integrator, the weight integrator of 000 Eq. 10 (``C·dV_w/dt = gm·v_d``). This
module draws it; :func:`analogopt.circuits.ota_design.gm_ota_first_cut` sizes it and
:mod:`analogopt.cosim.transistor_gm_ota` measures it and fits :class:`~analogopt.blocks.ota.OTAModel` to it.

Pins ``inp inn out vdd vss``::

    vdd ──┬────────────┬───────────┐
        Iref          M3 ┤├─────── M4
          │           d1 ┘          ├── out  (a current: gm·(v_inp − v_inn))
          nb ─ M8    M1(inp)      M2(inn)
          │            └── tail ───┘
          │                M5
    vss ──┴────────────────┴

M8 (diode) takes the reference current and mirrors it into the tail M5; the NMOS pair M1/M2 splits it and
the PMOS mirror M3/M4 folds M1's share onto the output, so the output current is the pair's difference
(``inp`` raises M1's share, which M4 sources into the output; ``inn`` raises M2's, which sinks it),
``gm1·v_d`` for small inputs and at most the tail current. Output resistance ``1/(gds2 + gds4)``: the
integrator's leak (τ_leak = r_out·C).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

from ..errors import ConfigError
from .miller_ota import Device


@dataclass(frozen=True)
class GmOTA:
    """Sizes of the five-transistor OTA (module docstring). ``i_ref_a``: reference current into M8 (A)."""

    m1: Device  # input pair M1/M2
    m3: Device  # PMOS mirror load M3/M4
    m5: Device  # tail
    m8: Device  # bias diode
    i_ref_a: float

    kind = "gf180_gm_ota"
    pins = ("inp", "inn", "out", "vdd", "vss")

    def __post_init__(self) -> None:
        if not (math.isfinite(self.i_ref_a) and 1e-8 <= self.i_ref_a <= 1e-3):
            raise ConfigError(f"OTA i_ref_a must lie in 10 nA … 1 mA, got {self.i_ref_a!r}")

    @property
    def name(self) -> str:
        """``gf180_gm_ota_<hash>``: one subcircuit name per sizing."""
        digest = hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:10]
        return f"{self.kind}_{digest}"

    @property
    def tail_ratio(self) -> float:
        """I_tail / I_ref from the drawn W/L."""
        return (self.m5.w_um / self.m5.l_um) / (self.m8.w_um / self.m8.l_um)

    def subckt(self) -> str:
        """The ``.subckt`` text (pins ``inp inn out vdd vss``)."""
        lines = [
            f".subckt {self.name} inp inn out vdd vss",
            f"* five-transistor OTA (transconductor), GF180MCU 3.3 V devices; Iref {self.i_ref_a * 1e6:.4g} µA, "
            f"tail {self.tail_ratio * self.i_ref_a * 1e6:.4g} µA",
            f"Iref vdd nb {self.i_ref_a:.6g}",
            self.m8.line("M8", "nb", "nb", "vss", "vss", "nmos_3p3"),
            self.m5.line("M5", "tail", "nb", "vss", "vss", "nmos_3p3"),
            self.m1.line("M1", "d1", "inp", "tail", "vss", "nmos_3p3"),
            self.m1.line("M2", "out", "inn", "tail", "vss", "nmos_3p3"),
            self.m3.line("M3", "d1", "d1", "vdd", "vdd", "pmos_3p3"),
            self.m3.line("M4", "out", "d1", "vdd", "vdd", "pmos_3p3"),
            f".ends {self.name}",
        ]
        return "\n".join(lines) + "\n"

    def devices(self) -> dict[str, tuple[str, int]]:
        """Each transistor → (path of its first finger's BSIM4 model inside an instance, fingers)."""
        sizes = {"M1": self.m1, "M2": self.m1, "M3": self.m3, "M4": self.m3, "M5": self.m5, "M8": self.m8}
        return {m: (f"x{m.lower()}.m0", d.fingers) for m, d in sizes.items()}
