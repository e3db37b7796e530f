"""``analogopt export SCENARIO --out DIR``: standalone hierarchical netlist set (see analogopt.export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a scenario's circuit as a standalone hierarchical, parameterized SPICE netlist",
        description="Write testbench.cir, blocks.cir (one .subckt per block), models.lib (.lib sections) and "
        "README.md into --out; they run in plain 'ngspice -b' and give the numbers of 'analogopt run'.",
    )
    p.add_argument("scenario", help="shipped scenario name or .toml path")
    p.add_argument("--out", required=True, type=Path, help="directory to write (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite files in a non-empty --out")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a scenario value")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_scenario
    from ..scenarios import load_scenario

    out: Path = args.out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.force)):
        raise ConfigError(f"--out {out} exists and is not an empty directory; choose another or pass --force")
    scenario = load_scenario(args.scenario, args.set)
    files = export_scenario(scenario, out)
    print(f"{scenario.name}: exported {', '.join(p.name for p in files)} to {out}")
    return 0
