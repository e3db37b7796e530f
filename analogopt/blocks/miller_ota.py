"""A transistor-level amplifier in the GF180MCU kit's 3.3 V devices: the two-stage Miller op-amp. This
module draws it (``.subckt`` text); :mod:`analogopt.circuits.ota_design` sizes it and
:mod:`analogopt.cosim.transistor_ota` measures it.

Two-stage Miller op-amp, pins ``inp inn out vdd vss``::

    vdd ──┬────────┬────────────┬─────────┐
        Iref      M3 ┤├── M4      │         M6 (PMOS, gate at d2)
          │       d1 ┘   d2 ──────┼── Cc ── Rz ──┐
          nb ─ M8   M1(inn) M2(inp)│              out
          │          └─ tail ─┘    │              │
          │             M5         │             M7
    vss ──┴──────────────┴─────────┴──────────────┘

- M8 (diode) takes the reference current ``i_ref_a`` from an ideal source (the bias generator is outside
  the block) and mirrors it into the tail M5 and the second stage's sink M7;
- M1/M2, the NMOS input pair, into the PMOS mirror M3/M4: the first stage;
- M6, a PMOS common source driven from the first stage's output ``d2``: the second stage;
- ``Cc`` (a MIM capacitor, 2 fF/µm²) with the nulling resistor ``Rz`` (poly, 1 kΩ/□) from ``d2`` to
  ``out``: Miller compensation with its right-half-plane zero moved to the left half plane.

Every device is a kit subcircuit (``nmos_3p3``/``pmos_3p3``); a device wider than :data:`MAX_FINGER_UM`
is drawn as parallel fingers, one instance each, so each stays inside the model's width bins.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..spice.netlist import format_option, format_value

if TYPE_CHECKING:
    from ..pdk.gf180mcu import Gf180mcu
    from .user_block import UserOpAmp

#: Widest single device drawn (µm); wider ones become parallel fingers (the models are binned in W).
MAX_FINGER_UM = 20.0
#: Device sizes the kit accepts (µm): 3.3 V devices have L ≥ 0.28 µm, W ≥ 0.22 µm.
MIN_L_UM, MIN_W_UM = 0.28, 0.22
#: MIM capacitance per area (F/µm²) and poly sheet resistance (Ω/□) the layout sizes are drawn from.
MIM_F_PER_UM2 = 2e-15
POLY_OHM_PER_SQ = 1e3
#: Name of the link to the kit's models beside an exported netlist that uses a transistor-level part.
PDK_LINK = "gf180mcu_models"
#: Poly resistor width (µm) and MIM aspect: square plates.
RZ_WIDTH_UM = 1.0


@dataclass(frozen=True)
class Device:
    """One MOSFET's drawn size: total width ``w_um`` and length ``l_um`` (µm)."""

    w_um: float
    l_um: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.w_um) and self.w_um >= MIN_W_UM):
            raise ConfigError(f"device width must be ≥ {MIN_W_UM} µm, got {self.w_um!r}")
        if not (math.isfinite(self.l_um) and self.l_um >= MIN_L_UM):
            raise ConfigError(f"device length must be ≥ {MIN_L_UM} µm, got {self.l_um!r}")

    @property
    def fingers(self) -> int:
        return max(1, math.ceil(self.w_um / MAX_FINGER_UM - 1e-9))

    def line(self, name: str, d: str, g: str, s: str, b: str, model: str) -> str:
        """One instance per finger: the kit's device subcircuits do not pass an ``m`` multiplier on to
        the transistor inside them. Finger k > 1 is named ``<name>_<k>``."""
        m = self.fingers
        w = self.w_um / m
        names = [name] + [f"{name}_{k}" for k in range(2, m + 1)]
        return "\n".join(f"X{n} {d} {g} {s} {b} {model} w={w:.4g}u l={self.l_um:.4g}u" for n in names)


@dataclass(frozen=True)
class MillerOTA:
    """Sizes of the two-stage Miller op-amp (module docstring). ``i_ref_a``: reference current into M8
    (A); ``cc_f``: compensation capacitance (F); ``rz_ohm``: nulling resistance (Ω)."""

    m1: Device  # input pair M1/M2
    m3: Device  # PMOS mirror M3/M4
    m5: Device  # tail
    m6: Device  # second stage PMOS
    m7: Device  # second stage sink
    m8: Device  # bias diode
    i_ref_a: float
    cc_f: float
    rz_ohm: float

    kind = "gf180_miller"
    pins = ("inp", "inn", "out", "vdd", "vss")

    def __post_init__(self) -> None:
        for name, lo, hi, unit in (("i_ref_a", 1e-7, 1e-3, "A"), ("cc_f", 1e-14, 1e-10, "F"), ("rz_ohm", 1.0, 1e7, "Ω")):
            value = getattr(self, name)
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ConfigError(f"Miller OTA {name} must lie in {lo:g} … {hi:g} {unit}, got {value!r}")

    @property
    def name(self) -> str:
        """``gf180_miller_<hash>``: one subcircuit name per sizing."""
        digest = hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()[:10]
        return f"{self.kind}_{digest}"

    @property
    def mirror_ratios(self) -> tuple[float, float]:
        """(I_tail, I_M7) / I_ref from the drawn W/L (same L as M8 where the design keeps it so)."""
        ref = self.m8.w_um / self.m8.l_um
        return (self.m5.w_um / self.m5.l_um) / ref, (self.m7.w_um / self.m7.l_um) / ref

    def subckt(self) -> str:
        """The ``.subckt`` text (pins ``inp inn out vdd vss``)."""
        side = math.sqrt(self.cc_f / MIM_F_PER_UM2)  # square MIM plate (µm)
        rz_len = self.rz_ohm / POLY_OHM_PER_SQ * RZ_WIDTH_UM
        lines = [
            f".subckt {self.name} inp inn out vdd vss",
            f"* two-stage Miller op-amp, GF180MCU 3.3 V devices; Iref {self.i_ref_a * 1e6:.4g} µA, "
            f"Cc {self.cc_f * 1e12:.4g} pF, Rz {self.rz_ohm / 1e3:.4g} kΩ",
            f"Iref vdd nb {format_value(self.i_ref_a)}",
            self.m8.line("M8", "nb", "nb", "vss", "vss", "nmos_3p3"),
            self.m5.line("M5", "tail", "nb", "vss", "vss", "nmos_3p3"),
            self.m1.line("M1", "d1", "inn", "tail", "vss", "nmos_3p3"),
            self.m1.line("M2", "d2", "inp", "tail", "vss", "nmos_3p3"),
            self.m3.line("M3", "d1", "d1", "vdd", "vdd", "pmos_3p3"),
            self.m3.line("M4", "d2", "d1", "vdd", "vdd", "pmos_3p3"),
            self.m6.line("M6", "out", "d2", "vdd", "vdd", "pmos_3p3"),
            self.m7.line("M7", "out", "nb", "vss", "vss", "nmos_3p3"),
            f"XCc d2 cz mim_2p0fF c_length={side:.4g}u c_width={side:.4g}u",
            f"XRz cz out vss ppolyf_u_1k r_length={rz_len:.4g}u r_width={RZ_WIDTH_UM:g}u",
            f".ends {self.name}",
        ]
        return "\n".join(lines) + "\n"

    def as_part(self, pdk: "Gf180mcu") -> "UserOpAmp":
        """This op-amp at one PVT point as a part the circuits take wherever a user op-amp goes
        (:class:`~analogopt.blocks.user_block.UserOpAmp`, pins ``inp inn out vdd vss``, ``supply_v`` the
        point's supply): its deck text carries the kit's model lines and the point's temperature."""
        from .user_block import generated_opamp

        options = [f".options {k}={format_option(v)}" for k, v in pdk.options().items()]
        return generated_opamp(self.name, self.pins, self.subckt(), [*pdk.lines(), *options],
                               supply_v=pdk.supply_v, origin=f"analogopt {self.kind}, GF180MCU {pdk.label}",
                               exported_preamble=[line for line in pdk.lines(PDK_LINK) if not line.startswith("*")]
                               + options, links={PDK_LINK: pdk.models})

    def devices(self) -> dict[str, tuple[str, int]]:
        """Each transistor → (path of its first finger's BSIM4 model inside an instance of this cell,
        number of fingers): M1 → (``xm1.m0``, 1) (the kit's device subcircuit holds ``m0``). A device's
        gm and gds are the first finger's times the fingers."""
        sizes = {"M1": self.m1, "M2": self.m1, "M3": self.m3, "M4": self.m3, "M5": self.m5, "M6": self.m6,
                 "M7": self.m7, "M8": self.m8}
        return {m: (f"x{m.lower()}.m0", d.fingers) for m, d in sizes.items()}
