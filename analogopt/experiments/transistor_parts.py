"""Op-amp tables that ask for the transistor level: the GF180MCU two-stage Miller op-amp analogopt
designs, at one PVT point, wherever a scenario takes an op-amp table (``[settling.opamp]`` of
``crossbar_solve``, ``[circuit.opamp]`` of the macro-level NF loop, ``[opamp]`` of ``log_amp``)::

    [settling.opamp]
    level = "transistor"     # the GF180MCU Miller op-amp (analogopt/blocks/miller_ota.py)
    corner = "ss"            # typical ff ss fs sf
    temp_c = 125             # °C
    supply_v = 3.3           # V (2.5 … 3.9)
    # design targets (defaults: 70 dB, 5 MHz into 5 pF, 55°): gain_db, gbw_hz, c_load_f, pm_deg

The table is read like any other, before anything is written: the sizing comes from the design loop
(device tables at typical, first cut, the reduced PVT grid: ~1 s of ngspice, once per process and
targets), so a missing PDK or an unreachable target is one line here. Corner, temperature and supply are
ordinary scenario values, so ``--set settling.opamp.corner=ss`` and ``[corners.NAME]`` sets sweep them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from ..blocks.miller_ota import MillerOTA
from ..blocks.user_block import UserOpAmp
from ..circuits.ota_design import OTATargets
from ..errors import ConfigError
from ..values import Table

if TYPE_CHECKING:
    from ..pdk.gf180mcu import Gf180mcu

#: Keys of a transistor-level op-amp table.
KEYS = frozenset({"level", "corner", "temp_c", "supply_v", "gain_db", "gbw_hz", "c_load_f", "pm_deg"})
#: Whole-design simulator limit (s).
DESIGN_TIMEOUT_S = 120.0


def is_transistor_table(mapping: Mapping[str, Any]) -> bool:
    return isinstance(mapping, Mapping) and mapping.get("level") == "transistor"


@lru_cache(maxsize=8)
def designed_opamp(targets: OTATargets) -> MillerOTA:
    """The design loop's op-amp for ``targets`` (cached: the sizing does not depend on the PVT point)."""
    from ..cosim.transistor_ota import design_miller_ota
    from ..spice.runner import make_runner

    design = design_miller_ota(targets, make_runner("ngspice", timeout_s=DESIGN_TIMEOUT_S))
    if not design.met:
        raise ConfigError(f"transistor op-amp: no design meets the targets over the reduced PVT grid "
                          f"({'; '.join(design.rounds[-1].misses[:3])}); relax gain_db, gbw_hz or pm_deg")
    return design.ota


def targets_and_point(table: Table) -> tuple[OTATargets, "Gf180mcu"]:
    """The design targets and the PVT point of a table with :data:`KEYS` (module docstring; the caller
    rejects unknown keys)."""
    from ..pdk.gf180mcu import CORNERS, NOMINAL_SUPPLY_V, Gf180mcu

    targets = OTATargets(gain_db=table.number("gain_db", 70.0, unit="dB", positive=True),
                         gbw_hz=table.number("gbw_hz", 5e6, unit="Hz", low=1e4, high=1e8),
                         c_load_f=table.number("c_load_f", 5e-12, unit="F", low=1e-13, high=1e-9),
                         pm_deg=table.number("pm_deg", 55.0, unit="°", low=0, high=90))
    try:
        point = Gf180mcu(corner=table.choice("corner", "typical", CORNERS, what="corner"),
                         temp_c=table.number("temp_c", 27.0, unit="°C"),
                         supply_v=table.number("supply_v", NOMINAL_SUPPLY_V, unit="V", positive=True))
    except ConfigError as exc:
        raise ConfigError(f"{table.where}: {exc}") from None
    return targets, point


def transistor_opamp_from_table(table: Table) -> UserOpAmp:
    """The part a transistor-level table asks for (module docstring)."""
    table.reject_unknown(KEYS)
    targets, point = targets_and_point(table)
    return designed_opamp(targets).as_part(point)
