"""``analogopt export SCENARIO --out DIR``: standalone hierarchical netlist set (see analogopt.export)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a scenario's circuit as a standalone hierarchical, parameterized SPICE netlist",
        description="Write testbench.cir, blocks.cir (one .subckt per block), models.lib (.lib sections) and "
        "README.md into --out; they run in plain 'ngspice -b' and give the numbers of 'analogopt run'.",
    )
    p.add_argument("scenario", help="shipped scenario name or .toml path")
    p.add_argument("--out", required=True, help="directory to write (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing export directory that analogopt wrote (never any other directory)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a scenario value")
    p.add_argument("--allow-large", action="store_true",
                   help="export a problem whose estimated memory or time exceeds this machine (see docs/cli.md)")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_scenario
    from ..results import RunDirectory, check_target
    from ..scenarios import load_scenario

    check_target(args.out)  # a refused --out is reported before the scenario is even read
    scenario = load_scenario(args.scenario, args.set)
    with RunDirectory(args.out, force=args.force, protect=[(scenario.path, "the scenario file")]) as out:
        files = export_scenario(scenario, out.path, allow_large=args.allow_large)
    print(f"{scenario.name}: exported {', '.join(p.name for p in files)} to {args.out}")
    return 0
