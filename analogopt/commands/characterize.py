"""``analogopt characterize BLOCK --out DIR``: a datasheet page for one analog block, measured in ngspice.

Blocks: ``opamp`` (the macromodels of :mod:`analogopt.blocks.opamp`, or a user's ``.subckt`` through the
keys of :mod:`analogopt.blocks.user_block`), ``ota`` (:class:`~analogopt.blocks.ota.OTAModel`),
``integrator`` (the RC weight integrator :class:`~analogopt.blocks.integrator.RCLowPass`) and
``comparator`` (an activation of :mod:`analogopt.blocks.activation`). This module reads ``--set`` into a
block and runs the command; the testbenches come from :mod:`analogopt.circuits.testbench`, the
measurements from :mod:`analogopt.cosim.characterization` and the files (``characterization.json``,
``report.md``, the PNGs) from :mod:`analogopt.cosim.characterization_report`. The decks
(``netlist_<analysis>.cir``) and ngspice's files (``spice/<analysis>/``) go beside them, and a user
part's files into ``blocks/``. Every measured number sits beside the value the block's own parameters
predict, with their relative difference ("no analytic model" for a user part); a quantity that does
not apply to the block is ``null`` in the JSON and "n/a" in the report.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import ConfigError
# light imports (numpy, matplotlib and the blocks load where used); the measurement names stay importable here,
# where they lived before the measurements moved
from ..cosim.characterization import (
    QUANTITIES, BenchRunner, Characterization, ComparatorBlock, OTABlock, Quantity, characterize_comparator,
    characterize_integrator, characterize_opamp, characterize_ota,
)
from ..cosim.characterization_report import summary_line, write_results

if TYPE_CHECKING:
    from ..blocks.integrator import RCLowPass
    from ..blocks.opamp import OpAmpModel
    from ..blocks.user_block import UserOpAmp
    from ..circuits.testbench import Testbench

#: Blocks the command knows, in ``--help`` order.
BLOCKS: tuple[str, ...] = ("opamp", "ota", "integrator", "comparator", "gf180_opamp", "gf180_ota")

#: Whole-run limit (s) when ``--timeout`` is not given: the benches take well under a second each.
DEFAULT_TIMEOUT_S = 120.0

#: ``--set`` keys of the OTA and their units (the :class:`~analogopt.blocks.ota.OTAModel` fields, and the
#: gain bench's load capacitor).
OTA_KEYS: dict[str, str] = {"gm_s": "S", "r_out_ohm": "ohm", "offset_v": "V", "bw_hz": "Hz", "v_low": "V",
                            "v_high": "V", "knee_v": "V", "c_load_f": "F"}
#: Whole-run limit (s) of ``gf180_opamp``: the design loop, the datasheet benches and a 45-point grid.
GF180_TIMEOUT_S = 600.0
#: The OTA's transconductance (S) when ``gm_s`` is not set: a 10 µS weight OTA.
DEFAULT_OTA_GM_S = 10e-6


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "characterize",
        help="a datasheet page for one block: Bode plot, DC gain, GBW, phase margin, noise, offset, slew; an "
             "OTA's gm, pole, r_out and swing; your own op-amp subcircuit",
        description="Measure one analog block in ngspice against the values its parameters predict: AC gain and "
        "phase, DC gain, gain-bandwidth, phase margin (β = 1), noise densities (.noise), input offset and bias, "
        "slew rate; the OTA's transconductance and its bandwidth pole (output into a short), open-circuit DC gain "
        "gm·r_out, output resistance, offset and output swing; the comparator's DC transfer, small-signal gain "
        "and swing. A user's op-amp .subckt (opamp with --set subckt=FILE) is measured the same way, with no "
        "analytic model to compare with; its files are copied into --out/blocks/. Writes characterization.json, "
        "report.md, bode.png (transfer.png for the comparator and the OTA), noise.png, netlist_<analysis>.cir "
        "and spice/<analysis>/ into --out.",
    )
    p.add_argument("block", choices=BLOCKS, metavar="BLOCK", help=f"the block: {', '.join(BLOCKS)}")
    p.add_argument("--out", required=True, help="result directory (created; must be empty unless --force)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a block parameter, e.g. --set kind=single_pole --set gbw_hz=1meg (repeatable); opamp: the "
                        "keys of the scenario [opamp] table (kind, gain, gbw_hz, second_pole_hz, v_low, v_high, "
                        "offset_v, bias_a, slew_v_per_s, r_out_ohm, noise_v_per_rthz, noise_tran_step_s), or a user "
                        "part: subckt=FILE, name=SUBCKT, pins='[\"inp\",\"inn\",\"out\",\"vdd\",\"vss\"]', "
                        "supply_v=V, lib='[[\"FILE\",\"SECTION\"]]'; ota: gm_s (default 10u), r_out_ohm, offset_v, "
                        "bw_hz, v_low, v_high, knee_v, c_load_f (a load capacitor on the gain bench, default none); "
                        "integrator: tau_s, gamma, leak, c_farad; comparator: name, gain, slope, span_v; gf180_opamp "
                        "(designed for the targets, then measured at one PVT point): corner (typical ff ss fs sf), "
                        "temp_c, supply_v, c_load_f (5p), gbw_hz (5meg), pm_deg (55), gain_db (70), pvt (none, "
                        "reduced, full: the 45-point grid), mc (offset Monte Carlo draws, 20); gf180_ota (the OTA-C "
                        "integrator's five-transistor OTA, designed for gm at typical, measured at one point): gm_s "
                        "(10u), linear_v (0.05), c_int_f (10p), corner, temp_c, supply_v, pvt (none, reduced, full)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing result directory that analogopt wrote (never any other directory)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help=f"wall-time limit of the whole characterization (s), default {DEFAULT_TIMEOUT_S:g}")
    p.add_argument("--quiet", action="store_true", help="no progress display or summary line")
    p.set_defaults(func=_cmd_characterize)


# ----------------------------------------------------------------------------------------- parameters
def parse_settings(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as a table; each value read as one TOML value (``1e5``, ``true``), else
    kept as text for the strict reader (``"1meg"``, ``"single_pole"``). A key given twice is an error."""
    from ..scenarios import parse_value

    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set gain=1e5")
        if key in settings:
            raise ConfigError(f"--set {key}: given twice")
        settings[key] = parse_value(raw.strip())
    return settings



def opamp_block(settings: Mapping[str, Any]) -> OpAmpModel | UserOpAmp:
    """An :class:`~analogopt.blocks.opamp.OpAmpModel` from the settings (the scenario reader's rules), or,
    when they name a ``subckt``, a validated :class:`~analogopt.blocks.user_block.UserOpAmp` (paths relative
    to the working directory)."""
    from ..blocks.opamp import opamp_from_config
    from ..blocks.user_block import is_user_table, user_opamp_from_table

    if is_user_table(settings):
        part = user_opamp_from_table(dict(settings))
        # the benches power the part from ±supply_v/2 about ground; say which flag sets it
        if part.supply_v is None and {"vdd", "vss"} & set(part.supply_roles):
            raise ConfigError(f"opamp: user op-amp {part.name} has supply pins ({', '.join(part.supply_roles)}): "
                              "set its total supply with --set supply_v=V (the benches split it ± about ground)")
        return part
    return opamp_from_config(dict(settings), "opamp")


def ota_block(settings: Mapping[str, Any]) -> OTABlock:
    """An :class:`~analogopt.cosim.characterization.OTABlock`: the keys of :data:`OTA_KEYS`, each
    defaulting to the :class:`~analogopt.blocks.ota.OTAModel` default (``gm_s`` to
    :data:`DEFAULT_OTA_GM_S`), ``c_load_f`` (F) to 0: no load capacitor."""
    from dataclasses import fields

    from ..blocks.ota import OTAModel
    from ..values import Table

    table = Table(dict(settings), "ota").reject_unknown(OTA_KEYS)
    defaults = {f.name: f.default for f in fields(OTAModel)}
    defaults.update(gm_s=DEFAULT_OTA_GM_S)
    positive = {"gm_s", "r_out_ohm", "bw_hz", "knee_v"}
    values = {key: table.number(key, defaults[key], unit=OTA_KEYS[key], positive=key in positive)
              for key in OTA_KEYS if key != "c_load_f"}
    c_load = table.number("c_load_f", 0.0, unit="F", low=0)
    try:
        return OTABlock(OTAModel(**values), c_load)
    except ConfigError as exc:
        raise ConfigError(f"ota: {exc}") from None


def integrator_block(settings: Mapping[str, Any]) -> RCLowPass:
    """An :class:`~analogopt.blocks.integrator.RCLowPass`: ``tau_s`` (s, default 1 ms), ``gamma``
    (V/V, default 1), ``leak`` (default true), ``c_farad`` (F, default 1 nF)."""
    from ..blocks.integrator import RCLowPass
    from ..values import Table, as_number

    table = Table(dict(settings), "integrator").reject_unknown({"tau_s", "gamma", "leak", "c_farad"})
    gamma = table.number("gamma", 1.0, unit="V/V")
    if gamma == 0:
        raise table.error("gamma", "must be non-zero, got 0")
    try:
        block = RCLowPass(tau_s=table.number("tau_s", 1e-3, unit="s", positive=True), gamma=gamma,
                          leak=table.boolean("leak", True), c_farad=table.number("c_farad", 1e-9, unit="F", positive=True))
        # the resistor follows from the two: each may be plausible while R = τ/C is not (1e-18 Ω)
        as_number(block.r_ohm, "its resistor R = tau_s/c_farad", unit="ohm")
        return block
    except ConfigError as exc:
        raise ConfigError(f"integrator: {exc}") from None



def comparator_block(settings: Mapping[str, Any]) -> ComparatorBlock:
    """``name`` (an activation, default ``sign``), ``gain`` (V/V, default 50), ``slope`` (leaky_relu's,
    default 0.01), ``span_v`` (V, default 3)."""
    from ..problems import ACTIVATIONS, ActivationSpec
    from ..values import Table

    table = Table(dict(settings), "comparator").reject_unknown({"name", "gain", "slope", "span_v"})
    spec = ActivationSpec(table.choice("name", "sign", ACTIVATIONS, what="activation"),
                          gain=table.number("gain", 50.0, unit="V/V", positive=True),
                          slope=table.number("slope", 0.01, low=0, below=1))
    return ComparatorBlock(spec, table.number("span_v", 3.0, unit="V", positive=True))



def gf180_settings(settings: Mapping[str, Any]) -> tuple[Any, Any, str | None, int]:
    """(targets, PVT point, grid or None, Monte Carlo draws) of ``gf180_opamp`` from the settings (the
    keys of a scenario's transistor-level op-amp table, and ``pvt``, ``mc``); a missing PDK is one line
    naming the set-up command."""
    from ..experiments.transistor_parts import KEYS, targets_and_point
    from ..values import Table

    table = Table(dict(settings), "gf180_opamp").reject_unknown((KEYS - {"level"}) | {"pvt", "mc"})
    targets, point = targets_and_point(table)
    pvt = table.choice("pvt", "none", ("none", "reduced", "full"), what="PVT grid")
    return targets, point, None if pvt == "none" else pvt, table.integer("mc", 20, low=0, high=1000)


def gf180_ota_settings(settings: Mapping[str, Any]) -> tuple[Any, Any, float, str | None]:
    """(targets, PVT point, integrator capacitor in F, grid or None) of ``gf180_ota`` from the settings."""
    from ..circuits.ota_design import GmOTATargets
    from ..experiments.transistor_parts import pdk_point
    from ..values import Table

    table = Table(dict(settings), "gf180_ota").reject_unknown(
        {"gm_s", "linear_v", "c_int_f", "corner", "temp_c", "supply_v", "pvt"})
    try:
        targets = GmOTATargets(gm_s=table.number("gm_s", DEFAULT_OTA_GM_S, unit="S", positive=True),
                               linear_v=table.number("linear_v", 0.05, unit="V", positive=True))
    except ConfigError as exc:
        raise ConfigError(f"gf180_ota: {exc}") from None
    c_int = table.number("c_int_f", 10e-12, unit="F", low=1e-14, high=1e-9)
    pvt = table.choice("pvt", "none", ("none", "reduced", "full"), what="PVT grid")
    return targets, pdk_point(table), c_int, None if pvt == "none" else pvt


def block_testbenches(name: str, block: Any) -> dict[str, Testbench]:
    """The testbenches of block ``name`` (a key of :data:`BLOCKS`), every deck formatted once so that a
    bad netlist fails before any file is written (a user part's slew bench, timed by its measured
    unity-gain frequency, is built during the run)."""
    from ..blocks.user_block import UserOpAmp
    from ..circuits import testbench

    def opamp() -> dict[str, Testbench]:
        if isinstance(block, UserOpAmp):
            return testbench.user_opamp_testbenches(block)
        return testbench.opamp_testbenches(block)

    benches = {"opamp": opamp,
               "ota": lambda: testbench.ota_testbenches(block.model, block.c_load_f),
               "integrator": lambda: testbench.integrator_testbenches(block),
               "comparator": lambda: testbench.comparator_testbenches(block.spec, block.span_v)}[name]()
    for bench in benches.values():
        bench.deck.format()
    return benches


#: block name → (parameters from --set, measurements)
_BLOCK_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "opamp": (opamp_block, characterize_opamp),
    "ota": (ota_block, characterize_ota),
    "integrator": (integrator_block, characterize_integrator),
    "comparator": (comparator_block, characterize_comparator),
}


# ----------------------------------------------------------------------------------------- command
def _cmd_characterize(args: argparse.Namespace) -> int:
    from ..blocks.user_block import copy_user_files, user_parts_of
    from ..progress import Progress
    from ..results import RunDirectory, check_target
    from ..spice.runner import make_runner
    from .flags import positive_seconds

    if args.block == "gf180_opamp":
        return _cmd_gf180(args)
    if args.block == "gf180_ota":
        return _cmd_gf180_ota(args)
    timeout_s = positive_seconds(args.timeout, "--timeout") or DEFAULT_TIMEOUT_S
    check_target(args.out)  # a refused --out is reported before any parameter is read
    read, measure = _BLOCK_FUNCTIONS[args.block]
    block = read(parse_settings(args.set))  # a user part's files are read and checked here, once
    benches = block_testbenches(args.block, block)  # parameters and decks judged before any file exists
    runner = make_runner("ngspice", timeout_s=timeout_s)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force) as out:
        copy_user_files(user_parts_of(block), out.path)  # the decks inline them; the copies make DIR whole
        result = measure(block, benches, BenchRunner(runner, out, progress))
        write_results(result, out)
    progress.done()
    if not args.quiet:
        print(f"{summary_line(result)} — results in {args.out}")
    return 0


def _cmd_gf180(args: argparse.Namespace) -> int:
    from ..cosim import transistor_report
    from ..progress import Progress
    from ..results import RunDirectory, check_target
    from ..spice.runner import make_runner
    from .flags import positive_seconds

    timeout_s = positive_seconds(args.timeout, "--timeout") or GF180_TIMEOUT_S
    check_target(args.out)
    targets, point, pvt, mc = gf180_settings(parse_settings(args.set))
    runner = make_runner("ngspice", timeout_s=timeout_s)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force) as out:
        sheet = transistor_report.characterize(targets, point, runner, pvt=pvt, mc_samples=mc, stage=progress.stage)
        transistor_report.write_results(sheet, out)
    progress.done()
    if not args.quiet:
        print(f"{transistor_report.summary_line(sheet)} — results in {args.out}")
    return 0


def _cmd_gf180_ota(args: argparse.Namespace) -> int:
    from ..cosim import transistor_gm_report
    from ..pdk.gf180mcu import models_dir
    from ..progress import Progress
    from ..results import RunDirectory, check_target
    from ..spice.runner import make_runner
    from .flags import positive_seconds

    timeout_s = positive_seconds(args.timeout, "--timeout") or GF180_TIMEOUT_S
    check_target(args.out)
    targets, point, c_int, pvt = gf180_ota_settings(parse_settings(args.set))
    models_dir()  # a missing PDK is one line naming the set-up, before any directory exists
    runner = make_runner("ngspice", timeout_s=timeout_s)
    progress = Progress(enabled=not args.quiet)
    with RunDirectory(args.out, force=args.force) as out:
        sheet = transistor_gm_report.characterize(targets, point, c_int, runner, pvt=pvt, stage=progress.stage)
        transistor_gm_report.write_results(sheet, out)
    progress.done()
    if not args.quiet:
        print(f"{transistor_gm_report.summary_line(sheet)} — results in {args.out}")
    return 0


__all__ = ["register", "parse_settings", "block_testbenches", "opamp_block", "ota_block", "integrator_block",
           "comparator_block", "characterize_opamp", "characterize_ota", "characterize_integrator",
           "characterize_comparator", "Characterization", "Quantity", "QUANTITIES", "BLOCKS"]
