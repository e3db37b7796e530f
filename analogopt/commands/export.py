"""``analogopt export SCENARIO --out DIR``: a scenario's circuit as a standalone hierarchical netlist set.

The flat netlist is the one ``analogopt run SCENARIO`` simulates, as the kind's ``netlist()`` gives it
(:mod:`analogopt.experiments.base`); :mod:`analogopt.spice.export` splits it into testbench, blocks
and model library. Pure-PyTorch kinds have no circuit to export.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..scenarios import Scenario


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


def flat_netlist(scenario: Scenario, *, allow_large: bool = False) -> str:
    """The flat netlist text ``analogopt run`` simulates for ``scenario`` (its main ``netlist.cir``);
    ``allow_large`` skips the size check (see analogopt.limits)."""
    from ..experiments import build_experiment

    text = build_experiment(scenario, allow_large=allow_large).netlist()
    if text is None:
        raise ConfigError(f"scenario {scenario.name} (kind {scenario.kind}) is a pure-PyTorch experiment: "
                          "it has no circuit to export")
    return text


def export_scenario(scenario: Scenario, out: Path, *, allow_large: bool = False) -> list[Path]:
    """Write the exported files of ``scenario`` into ``out`` (created); returns their paths."""
    from ..experiments import experiment_class
    from ..spice.export import export_netlist, format_readme

    flat = flat_netlist(scenario, allow_large=allow_large)
    titles = experiment_class(scenario.kind).block_titles
    exported = export_netlist(flat, block_titles=titles)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in exported.files.items():
        (out / name).write_text(text)
        written.append(out / name)
    notes = {"kind": scenario.kind}
    if titles:
        notes["blocks"] = "; ".join(f"{k}: {v}" for k, v in titles.items())
    (out / "README.md").write_text(format_readme(exported, title=scenario.title, scenario=scenario.name, notes=notes))
    written.append(out / "README.md")
    return written


def _cmd_export(args: argparse.Namespace) -> int:
    from ..results import RunDirectory, check_target
    from ..scenarios import load_scenario

    check_target(args.out)  # a refused --out is reported before the scenario is even read
    scenario = load_scenario(args.scenario, args.set)
    with RunDirectory(args.out, force=args.force, protect=[(scenario.path, "the scenario file")]) as out:
        files = export_scenario(scenario, out.path, allow_large=args.allow_large)
    print(f"{scenario.name}: exported {', '.join(p.name for p in files)} to {args.out}")
    return 0
