"""Op-amp tables that ask for the transistor level: the GF180MCU two-stage Miller op-amp analogopt
designs, at one PVT point, wherever a scenario takes an op-amp table (``[settling.opamp]`` of
``crossbar_solve``, ``[opamp]`` of ``crossbar_mvm`` and ``crossbar_pinv``, ``[circuit.opamp]`` of the
macro-level NF loop, ``[opamp]`` of ``inverse_loop`` and ``log_amp``)::

    [settling.opamp]
    level = "transistor"     # the GF180MCU Miller op-amp (analogopt/blocks/miller_ota.py)
    corner = "ss"            # typical ff ss fs sf
    temp_c = 125             # °C
    supply_v = 3.3           # V (2.5 … 3.9)
    # design targets (defaults: 70 dB, 5 MHz into 5 pF, 55°): gain_db, gbw_hz, c_load_f, pm_deg

``level = "macro"`` with the same keys asks for the two-pole macromodel fitted to that op-amp at that point
(what ``analogopt characterize gf180_opamp`` prints): the transistors' behaviour at a corner at macromodel
speed (7–10× faster in the crossbar bench), where a scenario takes a macromodel (``[settling.opamp]``,
``[circuit.opamp]``).

The table is read like any other, before anything is written: the sizing comes from the design loop
(device tables at typical, first cut, the reduced PVT grid: ~1 s of ngspice, once per process and
targets), so a missing PDK or an unreachable target is one line here. Corner, temperature and supply are
ordinary scenario values, so ``--set settling.opamp.corner=ss`` and ``[corners.NAME]`` sets sweep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from ..blocks.miller_ota import MillerOTA
from ..blocks.user_block import UserOpAmp
from ..circuits.ota_design import OTATargets
from ..errors import ConfigError
from ..values import Table

if TYPE_CHECKING:
    from ..blocks.opamp import OpAmpModel
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
    targets = OTATargets(gain_db=table.number("gain_db", 70.0, unit="dB", positive=True),
                         gbw_hz=table.number("gbw_hz", 5e6, unit="Hz", low=1e4, high=1e8),
                         c_load_f=table.number("c_load_f", 5e-12, unit="F", low=1e-13, high=1e-9),
                         pm_deg=table.number("pm_deg", 55.0, unit="°", low=0, high=90))
    return targets, pdk_point(table)


def pdk_point(table: Table) -> "Gf180mcu":
    """The PVT point of a table's ``corner``, ``temp_c`` (°C) and ``supply_v`` (V) keys."""
    from ..pdk.gf180mcu import CORNERS, NOMINAL_SUPPLY_V, Gf180mcu

    try:
        return Gf180mcu(corner=table.choice("corner", "typical", CORNERS, what="corner"),
                        temp_c=table.number("temp_c", 27.0, unit="°C"),
                        supply_v=table.number("supply_v", NOMINAL_SUPPLY_V, unit="V", positive=True))
    except ConfigError as exc:
        raise ConfigError(f"{table.where}: {exc}") from None


@dataclass(frozen=True)
class TransistorOpAmp:
    """The designed op-amp at the table's PVT point: :attr:`part` the nominal part (the kit's Monte Carlo
    off), :meth:`drawn` the same op-amp with the kit's device mismatch on, every instance in a deck drawn
    on its own (each op-amp of a crossbar gets its own offset)."""

    ota: MillerOTA
    point: "Gf180mcu"
    #: a field, not a property, so that exports and result directories find the part among the fields
    #: (:func:`~analogopt.blocks.user_block.user_parts_of`) and carry its subcircuit and the kit's link
    part: UserOpAmp = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "part", self.ota.as_part(self.point))

    def mismatched(self, seed: int) -> "TransistorOpAmp":
        """This op-amp with the kit's mismatch drawn by ngspice's generator from ``seed`` (1 ≤ seed < 2³¹):
        every instance in a deck its own draw, the same seed the same draws."""
        return TransistorOpAmp(self.ota, self.point.at(statistical="mismatch", seed=seed))

    def drawn(self, seed: int) -> UserOpAmp:
        """The part of :meth:`mismatched`."""
        return self.mismatched(seed).part


def mismatch_seed(*seed: int) -> int:
    """ngspice's seed (1 ≤ s < 2³¹) for the op-amps of the Monte Carlo sample or draw named by ``seed``
    (one or more integers), apart from the seeds its other draws use."""
    import zlib

    import numpy as np

    return int(np.random.default_rng([*seed, zlib.crc32(b"opamp")]).integers(1, 2**31))


def is_fitted_table(mapping: Mapping[str, Any]) -> bool:
    """Whether an op-amp table asks for the transistor design's fitted macromodel (``level = "macro"``)."""
    return isinstance(mapping, Mapping) and mapping.get("level") == "macro"


@lru_cache(maxsize=32)
def fitted_opamp(targets: OTATargets, point: "Gf180mcu") -> "OpAmpModel":
    """The two-pole macromodel fitted to the designed op-amp at ``point``
    (:func:`~analogopt.cosim.transistor_fit.fit_macromodel`: A0, the poles from the measured unity-gain
    frequency and phase margin, slew, systematic offset, open-loop output resistance and its roll-off
    above the dominant pole; five benches, ~1 s), without rails (see the body; :func:`fitted_swing`)."""
    from dataclasses import replace

    from ..blocks.user_block import measure_open_loop
    from ..cosim import transistor_ota as t
    from ..cosim.transistor_fit import fit_macromodel
    from ..spice.runner import make_runner

    runner = make_runner("ngspice", timeout_s=DESIGN_TIMEOUT_S)
    ota = designed_opamp(targets)
    ol = t.measure_open_loop(ota, point, targets.c_load_f, runner)
    step = t.step_response(ota, point, targets.c_load_f, runner, gbw_hz=targets.gbw_hz)
    low, high, _, _ = t.output_swing(ota, point, targets.c_load_f, runner)
    r_out = measure_open_loop(ota.as_part(point), runner).r_out_ohm
    model = fit_macromodel(ol, step, (low, high), t.systematic_offset_v(ota, point, runner), r_out)
    # the output resistance divides the gain into the loops' resistive loads (a crossbar: ~10× the error of
    # A0 alone); rails behind it would clamp the model's internal node, which such a load drives to many
    # times the output, so the fit keeps r_out and leaves the rails to :func:`fitted_swing`'s checks
    return replace(model, v_low=None, v_high=None)


def fitted_swing(targets: OTATargets, point: "Gf180mcu", about_ground: bool) -> tuple[float, float]:
    """The measured output swing (V) that :func:`fitted_opamp`'s model leaves out, about ground or 0 V."""
    from ..cosim import transistor_ota as t
    from ..spice.runner import make_runner

    low, high, _, _ = t.output_swing(designed_opamp(targets), point, targets.c_load_f,
                                     make_runner("ngspice", timeout_s=DESIGN_TIMEOUT_S))
    shift = point.supply_v / 2 if about_ground else 0.0
    return low - shift, high - shift


def fitted_opamp_from_table(table: Table, *, about_ground: bool) -> tuple["OpAmpModel", tuple[float, float]]:
    """The fitted macromodel a ``level = "macro"`` table asks for ("this op-amp at corner ss, 125 °C" as a
    macromodel; the table's other keys as for ``level = "transistor"``) and its measured output swing (V,
    about the split supply's ground with ``about_ground``, else about 0 V), which the caller checks its
    signals against."""
    table.reject_unknown(KEYS)
    targets, point = targets_and_point(table)
    return fitted_opamp(targets, point), fitted_swing(targets, point, about_ground)


def transistor_design_from_table(table: Table) -> TransistorOpAmp:
    """The design and PVT point a transistor-level table asks for (module docstring)."""
    table.reject_unknown(KEYS)
    targets, point = targets_and_point(table)
    return TransistorOpAmp(designed_opamp(targets), point)


def transistor_opamp_from_table(table: Table) -> UserOpAmp:
    """The nominal part a transistor-level table asks for (module docstring)."""
    return transistor_design_from_table(table).part
