"""``analogopt sweep``: parameter / corner / Monte Carlo sweeps of a scenario on Dask (docs/sweeps.md).

    analogopt sweep SCENARIO --set PATH=V1,V2,… [--corners NAME] [--mc N --seed S --vary TARGET=DIST:SIGMA]
                    [--workers K | --scheduler ADDRESS] [--sessions] [--spec "metric<value"] --out DIR
    analogopt sweep --rerun DIR ID        re-run one sample alone and check it reproduces its row
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import ConfigError, Terminated
from .flags import add_simulator_flag, positive_seconds


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="sweep scenario values and Monte Carlo mismatch on Dask; tidy table, yield, plots",
        description="Simulate the cartesian product of the --set values (each point with --mc Monte Carlo "
        "samples) on a local Dask cluster or an existing one (--scheduler); re-running the same command "
        "resumes. Results: DIR/results.parquet and .csv, summary.json, histograms.png, vs_<path>.png.",
    )
    p.add_argument("scenario", nargs="?", help="shipped scenario name or .toml path (omit with --rerun)")
    p.add_argument("--out", help="sweep directory (created; re-use it to resume)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=V1,V2,…",
                   help="sweep a scenario value over a list, e.g. --set loop.forward_gain=0.02,0.05 (repeatable)")
    p.add_argument("--corners", default=None, metavar="NAME",
                   help="sweep the scenario's corner set [corners.NAME] as an outer axis (each row names its "
                        "corner; combinable with --set and --mc; docs/nf_macro.md)")
    p.add_argument("--mc", type=int, default=None, metavar="N", help="Monte Carlo samples per point (default: none)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the Monte Carlo samples (default 0)")
    p.add_argument("--vary", action="append", default=[], metavar="TARGET=DIST:SIGMA",
                   help="a variation per Monte Carlo sample: TARGET an element target of the scenario's kind "
                   "(docs/sweeps.md; a wrong one lists them) or a scenario path (global); DIST lognormal or "
                   "gauss, e.g. x=lognormal:0.02")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="local worker processes (default: one per CPU core)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--spec", action="append", default=[], metavar="METRIC<VALUE",
                   help="yield spec, e.g. \"max_abs_deviation<0.01\" (repeatable; <, <=, >, >=)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="wall-time limit of one sample (s): its ngspice runs, twins and the kind's own work; "
                        "a slower sample is a 'timeout' row")
    add_simulator_flag(p)
    p.add_argument("--sessions", action=argparse.BooleanOptionalAction, default=False,
                   help="run the samples in persistent libngspice sessions, one per worker, each deck of the "
                        "loaded shape applied with 'alter': the same numbers as one ngspice process per run, "
                        "without its start-up (docs/sweeps.md; default: off)")
    p.add_argument("--allow-large", action="store_true",
                   help="sweep points whose estimated memory or time exceeds this machine (see docs/cli.md)")
    p.add_argument("--rerun", nargs=2, metavar=("DIR", "ID"), default=None,
                   help="re-run sample ID of the sweep in DIR alone and compare with its stored row")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    if args.rerun is not None:
        # the sample is re-run as its sweep ran it (DIR's manifest): what would define another sweep is refused
        given = [name for name, value in (("SCENARIO", args.scenario), ("--out", args.out), ("--set", args.set),
                                          ("--corners", args.corners), ("--mc", args.mc), ("--vary", args.vary),
                                          ("--spec", args.spec), ("--scheduler", args.scheduler)) if value]
        if given:
            raise ConfigError(f"--rerun DIR ID re-runs a sample of the sweep in DIR as that sweep defined it; "
                              f"it takes no {', '.join(given)}")
        return _cmd_rerun(Path(args.rerun[0]), args.rerun[1])
    if not args.scenario:
        raise ConfigError("give a SCENARIO to sweep (or --rerun DIR ID)")
    if args.out is None:
        raise ConfigError("--out DIR is required: the sweep directory (re-use it to resume)")
    if args.mc is not None and args.mc < 1:
        raise ConfigError(f"--mc must be an integer ≥ 1 (samples per point), got {args.mc}")
    from ..progress import Progress
    from ..results import DirectoryLock, check_target, make_parent
    from ..scenarios import load_scenario
    from ..sweep.engine import MANIFEST, finished_ids, load_rows, run_sweep
    from ..sweep.results import Spec, build_table, describe_yield, plot_metrics, save_table, write_summary
    from ..sweep.spec import SweepPlan

    positive_seconds(args.timeout, "--timeout")
    specs = [Spec.parse(s) for s in args.spec]
    scenario = load_scenario(args.scenario)
    out = check_target(args.out, protect=[(scenario.path, "the scenario file")], replaced=False)
    plan = SweepPlan.build(scenario, args.set, mc=args.mc or 0, seed=args.seed, vary=args.vary, timeout_s=args.timeout,
                           simulator=args.simulator, corners=args.corners, sessions=args.sessions)
    _check_sizes(plan, allow_large=args.allow_large)
    _check_native(plan)
    progress = Progress(enabled=not args.quiet)
    make_parent(out)
    lock = DirectoryLock(out)
    try:
        outcome = run_sweep(plan, out, workers=args.workers, scheduler=args.scheduler, progress=progress)
        table = build_table(load_rows(plan, out))
        save_table(table, out)
        plot_metrics(table, out)
        try:
            summary = write_summary(table, out, specs)
        except ConfigError as exc:  # a --spec naming no metric of this kind: only known once rows exist
            raise ConfigError(f"{exc}; the table is in {out / 'results.parquet'} (the same command with another "
                              "--spec simulates nothing again)") from None
    except (KeyboardInterrupt, Terminated) as exc:
        if (out / MANIFEST).is_file():  # the sweep started: its directory stays, for the resume
            exc.kept = (f"{len(finished_ids(out))} of {len(plan.samples)} samples are in {out}: run the same "
                        "command again to resume")
        raise
    finally:
        lock.release()
    print(f"{scenario.name}: {outcome.total} samples — {outcome.ok} ok, {outcome.failed} failed, "
          f"{outcome.timeout} timeout ({outcome.simulated} simulated now, {outcome.resumed} resumed; "
          f"{outcome.wall_s:.1f} s on {outcome.workers or 0} workers); table in {out / 'results.parquet'}")
    for y in summary["yield"]:
        print(describe_yield(y))
    return 0


def _check_native(plan) -> None:
    """With ``--simulator native``, the nominal circuit's deck through the native solver's reader before any
    worker starts: a deck it refuses (a transient, a nonlinear element) is one line, not a table of failed
    rows. Kinds that build their netlist only by running skip the check (their samples fail with the reason)."""
    if plan.simulator != "native":
        return
    from ..errors import NetlistError
    from ..experiments.base import ExperimentBase
    from ..experiments.registry import build_experiment
    from ..spice.native_parse import parse

    experiment = build_experiment(plan.scenario_for(plan.samples[0]), allow_large=True)
    if getattr(experiment, "transistor", None) is not None:  # its netlist comes from designing the part
        raise ConfigError("--simulator native: the transistor-level op-amps are MOSFETs, and the native solver "
                          "solves linear networks only; run it with --simulator ngspice")
    if type(experiment).netlist is ExperimentBase.netlist or not experiment.has_circuit:
        return
    try:
        parse(experiment.netlist())
    except NetlistError as exc:
        raise ConfigError(f"--simulator native: {exc}") from None


def _check_sizes(plan, *, allow_large: bool) -> None:
    """Every point's size estimate before any worker starts (Monte Carlo samples share their point's sizes)."""
    from ..experiments import estimate

    seen: set[int] = set()
    for sample in plan.samples:
        if sample.point not in seen:
            seen.add(sample.point)
            size = estimate(plan.scenario_for(sample))
            if size is not None:
                size.check(allow_large=allow_large)


def _cmd_rerun(directory: Path, sample_id: str) -> int:
    from ..sweep.engine import MANIFEST, SAMPLES_DIR
    from ..results import to_jsonable
    from ..sweep.evaluate import VOLATILE_PREFIXES, evaluate_sample
    from ..sweep.spec import SweepPlan

    manifest_path = directory / MANIFEST
    if not manifest_path.exists():
        raise ConfigError(f"--rerun {directory}: no {MANIFEST} there (not a sweep directory)")
    manifest = _read_json(manifest_path, f"--rerun {directory}")
    try:
        SweepPlan.from_json(manifest).sample(sample_id)  # a damaged manifest or unknown id: one line here
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"--rerun {directory}: {MANIFEST} does not describe a sweep ({type(exc).__name__}: "
                          f"{exc}); it was edited or damaged: run the sweep again into a new directory") from None
    # Through JSON like the stored row (NaN → null), so the comparison is of the same representation.
    row = json.loads(json.dumps(to_jsonable(evaluate_sample(manifest, sample_id)), sort_keys=True))
    stored_path = directory / SAMPLES_DIR / f"{sample_id}.json"
    print(json.dumps(row, sort_keys=True))
    if not stored_path.exists():
        print(f"sample {sample_id}: not in the sweep's results yet; nothing to compare", file=sys.stderr)
        return 0
    stored = _read_json(stored_path, f"--rerun {directory}")
    keys = sorted(k for k in set(stored) | set(row) if not k.startswith(VOLATILE_PREFIXES))
    differ = [k for k in keys if not _same(stored.get(k), row.get(k))]
    if differ:
        print(f"sample {sample_id}: {len(differ)} value(s) differ from the stored row: {', '.join(differ)}",
              file=sys.stderr)
        return 1
    print(f"sample {sample_id}: reproduced exactly ({len(keys)} values)", file=sys.stderr)
    return 0


def _read_json(path: Path, where: str):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path.name} ({exc}); it was edited or damaged") from None


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
