"""``analogopt export SCENARIO --out DIR``: a scenario's circuit as a standalone hierarchical netlist set;
``analogopt export --all DIR``: every shipped circuit scenario's set, in ``DIR/<scenario>/``.

The flat netlist is the one ``analogopt run SCENARIO`` simulates, as the kind's ``netlist()`` gives it
(:mod:`analogopt.experiments.base`); :mod:`analogopt.spice.export` splits it into testbench, blocks
and model library. Pure-PyTorch kinds have no circuit to export.

``--all`` writes one result directory (staged, renamed into place when every scenario is done, with the
usual ``.analogopt-run`` marker so that ``--force`` may replace it later); the checked-in ``netlists/``
folder is that output, and tests/cli/test_netlists.py compares its netlist files (never the marker, whose
run id and time change on every export) with what :func:`export_all` writes now.
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
    p.add_argument("scenario", nargs="?", help="shipped scenario name or .toml path")
    p.add_argument("--out", help="directory to write (created; must be empty unless --force)")
    p.add_argument("--all", metavar="DIR", dest="all_dir",
                   help="instead of one SCENARIO: every shipped circuit scenario, each into DIR/<scenario>/ "
                        "(the checked-in netlists/ folder: 'analogopt export --all netlists --force')")
    p.add_argument("--force", action="store_true",
                   help="replace an existing export directory that analogopt wrote (never any other directory)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a scenario value")
    p.add_argument("--allow-large", action="store_true",
                   help="export a problem whose estimated memory or time exceeds this machine (see docs/cli.md)")
    p.set_defaults(func=_cmd_export)


def flat_netlist(scenario: Scenario, *, allow_large: bool = False) -> str:
    """The flat netlist text ``analogopt run`` simulates for ``scenario`` (its main ``netlist.cir``);
    ``allow_large`` skips the size check (see analogopt.limits)."""
    return _flat_and_experiment(scenario, allow_large)[0]


def _flat_and_experiment(scenario: Scenario, allow_large: bool):
    """The flat netlist text and the experiment it came from (which holds any user op-amp's files)."""
    from ..experiments import build_experiment

    experiment = build_experiment(scenario, allow_large=allow_large)
    text = experiment.netlist()
    if text is None:
        raise ConfigError(f"scenario {scenario.name} (kind {scenario.kind}) is a pure-PyTorch experiment: "
                          "it has no circuit to export")
    if " filesource " in text and not _attachments(experiment):
        # seeded noise: the deck plays sample files that a run writes beside its netlist.cir
        raise ConfigError(f"scenario {scenario.name}: its netlist reads seeded noise samples (XSPICE filesource) "
                          "that only 'analogopt run' writes; export it without noise, or take netlist.cir and its "
                          "noise_*.txt from a run's directory")
    return text, experiment


def _attachments(experiment) -> dict[str, str]:
    """Files the kind's netlist reads by name (its input samples), when the kind can give them without a run."""
    members = getattr(experiment, "netlist_attachments", None)
    return members() if members is not None else {}


def export_scenario(scenario: Scenario, out: Path, *, allow_large: bool = False) -> list[Path]:
    """Write the exported files of ``scenario`` into ``out`` (created); returns their paths."""
    from ..blocks.user_block import copy_user_files, user_parts_of
    from ..experiments import experiment_class
    from ..spice.export import export_netlist, format_readme

    flat, experiment = _flat_and_experiment(scenario, allow_large)
    titles = experiment_class(scenario.kind).block_titles
    exported = export_netlist(flat, block_titles=titles)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in exported.files.items():
        (out / name).write_text(text)
        written.append(out / name)
    # a user op-amp in the netlist: testbench.cir references its files under blocks/, copied here as validated
    parts = [p for p in user_parts_of(experiment) if p.name in exported.user_blocks]
    written += copy_user_files(parts, out)
    attachments = _attachments(experiment)
    for name, text in attachments.items():  # the file sources' samples, beside testbench.cir that reads them
        (out / name).write_text(text)
        written.append(out / name)
    notes = {"kind": scenario.kind}
    if attachments:
        notes["data files"] = ", ".join(f"`{name}`" for name in attachments) + " (read by the XSPICE file sources)"
    if titles:
        notes["blocks"] = "; ".join(f"{k}: {v}" for k, v in titles.items())
    for part in parts:
        links = getattr(part, "_links", {})
        if links:  # a transistor-level part analogopt drew: its subcircuit, and the kit's models by link
            notes[f"transistor-level op-amp {part.name}"] = (
                "; ".join(f"`{f.copy_name}`" for f in part.files) + " (the sized subcircuit); "
                + "; ".join(f"`{name}/`: a relative link to the PDK's ngspice models, which `bash scripts/setup.sh` "
                            "fetches into the project's `.cache/pdk/` (never copied); after moving this folder, "
                            f"point it at them again: `ln -sfn MODELS_DIR {name}`" for name in links))
            continue
        notes[f"user op-amp {part.name}"] = ("; ".join(f"`{f.copy_name}` (sha256 {f.sha256[:12]}…)" for f in part.files)
                                             + ", copied byte for byte from the scenario's files")
    (out / "README.md").write_text(format_readme(exported, title=scenario.title, scenario=scenario.name, notes=notes))
    written.append(out / "README.md")
    return written


def circuit_scenarios() -> list[Scenario]:
    """Every shipped scenario whose kind has a circuit, in ``analogopt list`` order."""
    from ..experiments import experiment_class
    from ..scenarios import list_scenarios

    return [s for s in list_scenarios() if experiment_class(s.kind).has_circuit]


#: The command that regenerates the checked-in ``netlists/`` folder (run from the repository root).
REGENERATE_NETLISTS = "analogopt export --all netlists --force"


def export_all(out: Path, *, allow_large: bool = False) -> dict[str, list[Path]]:
    """Export every shipped circuit scenario into ``out/<scenario>/`` and an index ``out/README.md``
    (what ``--all`` writes inside its staged directory); returns each scenario's written paths."""
    scenarios = circuit_scenarios()
    written = {s.name: export_scenario(s, out / s.name, allow_large=allow_large) for s in scenarios}
    (out / "README.md").write_text(index_readme(scenarios))
    return written


def index_readme(scenarios: list[Scenario]) -> str:
    """``--all``'s ``README.md``: what the folder is, the command that regenerates it, one row per scenario."""
    lines = ["# netlists", "",
             "The exported SPICE netlist set of every shipped circuit scenario (`sims/*.toml` whose kind has a "
             "circuit), one folder each: `testbench.cir`, `blocks.cir`, `models.lib` and a `README.md`, as "
             "`analogopt export SCENARIO --out DIR` writes them. Each runs unchanged in plain ngspice: "
             "`cd netlists/<scenario> && ngspice -b -r out.raw testbench.cir`.", "",
             "Generated, not edited by hand; regenerate after changing a generator or a scenario:", "",
             "```sh", REGENERATE_NETLISTS, "```", "",
             "`tests/cli/test_netlists.py` fails when a file here differs from what the code generates now "
             "(`.analogopt-run` is the export's marker: its run id and time change on every export and are "
             "not compared).", "",
             "| scenario | kind | title |", "| --- | --- | --- |",
             *[f"| [`{s.name}`]({s.name}/README.md) | `{s.kind}` | {s.title} |" for s in scenarios], ""]
    return "\n".join(lines)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..results import RunDirectory, check_target
    from ..scenarios import load_scenario

    if args.all_dir is not None:
        if args.scenario is not None or args.out is not None or args.set:
            given = "SCENARIO" if args.scenario is not None else "--out" if args.out is not None else "--set"
            raise ConfigError(f"export: --all DIR exports every shipped circuit scenario into DIR/<scenario>/; "
                              f"it takes no {given}")
        check_target(args.all_dir, flag="--all")
        scenario_files = [(s.path, "a shipped scenario file") for s in circuit_scenarios()]
        with RunDirectory(args.all_dir, force=args.force, flag="--all", protect=scenario_files,
                          kind="export") as out:
            written = export_all(out.path, allow_large=args.allow_large)
        print(f"exported {len(written)} circuit scenarios to {args.all_dir}: {', '.join(written)}")
        return 0
    if args.scenario is None or args.out is None:
        missing = "SCENARIO" if args.scenario is None else "--out DIR"
        raise ConfigError(f"export: give SCENARIO --out DIR (one scenario) or --all DIR (every circuit "
                          f"scenario); {missing} is missing")
    check_target(args.out)  # a refused --out is reported before the scenario is even read
    scenario = load_scenario(args.scenario, args.set)
    with RunDirectory(args.out, force=args.force, protect=[(scenario.path, "the scenario file")],
                      kind="export") as out:
        files = export_scenario(scenario, out.path, allow_large=args.allow_large)
    print(f"{scenario.name}: exported {', '.join(p.name for p in files)} to {args.out}")
    return 0
