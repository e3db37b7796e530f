"""``analogopt reproduce [PAPER|ITEM …]``: the papers' figures and tables beside ours, as a report."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError, OutputError

#: Wall-time limit of each ngspice run inside the items (s): the longest full-size one takes under a minute.
SPICE_TIMEOUT_S = 600.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the papers' figures and tables: our numbers beside theirs, with verdicts",
        description="Run the reproduction items of papers 000-004 (all, one paper's, or single items) and write "
        "report.md, reproduction.json and the PNGs into --out; every scenario an item runs keeps its own result "
        "directory under runs/.",
    )
    p.add_argument("items", nargs="*", metavar="PAPER|ITEM",
                   help="a paper (000 ... 004) or an item key (see --list); none: every item")
    p.add_argument("--quick", action="store_true", help="shrink every item to CI size (minutes in all)")
    p.add_argument("--list", action="store_true", help="list the items and exit")
    p.add_argument("--out", help="result directory (created; must be empty unless --force)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing result directory that analogopt wrote (never any other directory)")
    p.add_argument("--report", metavar="FILE",
                   help="also write the report to FILE with copies of its figures in the folder beside it named "
                   "after it (--report docs/reproduction.md: docs/reproduction/*.png); an existing FILE or folder is "
                   "replaced only if this command wrote it")
    p.add_argument("--quiet", action="store_true", help="no progress display or summary line")
    p.set_defaults(func=run)


def _list(items) -> int:
    width = max(len(it.key) for it in items)
    for it in items:
        size = f"~{it.minutes:g} min" + (", long" if it.long else "")
        print(f"{it.key:<{width}}  {it.paper} {it.ref:<14}  {it.title} ({size})")
    return 0


def _check_report_target(path: Path) -> None:
    from ..reproduction.report import REPORT_MARK

    if path.is_dir():
        raise ConfigError(f"--report {path}: is a directory; name a .md file")
    if path.exists():
        try:
            first = path.read_text(errors="replace").split("\n", 1)[0]
        except OSError as exc:
            raise ConfigError(f"--report {path}: cannot read it ({exc.strerror})") from None
        if first != REPORT_MARK:
            raise ConfigError(f"--report {path}: exists and was not written by 'analogopt reproduce'; "
                              "move it away or choose another file")
    if not path.parent.is_dir():
        raise ConfigError(f"--report {path}: its folder {path.parent} does not exist")
    if path.suffix != ".md":
        raise ConfigError(f"--report {path}: name a .md file (its figures go into {path.with_suffix('')}/)")
    from ..results import is_ours, strangers

    folder = path.with_suffix("")
    if folder.exists() and (not folder.is_dir() or (any(folder.iterdir()) and not is_ours(folder))):
        raise ConfigError(f"--report {path}: {folder} exists and was not written by analogopt; its figures would go "
                          "there: move it away or choose another file")
    added = strangers(folder) if folder.is_dir() and is_ours(folder) else []
    if added:
        raise ConfigError(f"--report {path}: {folder} holds files analogopt did not write ({', '.join(added[:3])}); "
                          "its figures would replace the folder: move them away or choose another file")
    try:  # before any item runs (they may take minutes): the report is written last
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"--report {path}: cannot write in {path.parent} ({exc.strerror})") from None


def _write_atomically(path: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"--report {path}: cannot write it ({exc.strerror})") from None


def _write_report_copy(path: Path, out: Path, results, *, command: str, simulator: str) -> None:
    """The report at ``path`` with its figures copied into the folder ``path`` without its suffix, as flat
    file names, so that the copy stands alone (the result directory's scenario runs stay behind)."""
    import dataclasses
    import shutil

    from ..reproduction.report import report_markdown
    from ..results import RunDirectory

    folder = path.with_suffix("")
    copies = []
    with RunDirectory(folder, force=True, flag="--report") as figures:
        for r in results:
            moved = []
            for file, caption in r.outcome.figures:
                flat = file.replace("/", "__")
                shutil.copyfile(out / file, figures.path / flat)
                moved.append((flat, caption))
            copies.append(dataclasses.replace(r, outcome=dataclasses.replace(r.outcome, figures=moved)))
    _write_atomically(path, report_markdown(copies, command=command, simulator=simulator,
                                            figure_dir=f"{folder.name}/"))


def run(args: argparse.Namespace) -> int:
    from ..reproduction.registry import select

    items = select(args.items)
    if args.list:
        return _list(items)
    if not args.out:
        raise ConfigError("--out is required (the result directory), unless --list")
    from ..progress import Progress
    from ..reproduction.base import run_item
    from ..reproduction.report import report_json, report_markdown
    from ..results import RunDirectory, check_target
    from ..spice.runner import make_runner

    check_target(args.out)
    if args.report is not None and not args.report.strip():
        raise ConfigError("--report is empty; name a .md file, e.g. --report docs/reproduction.md, or leave it out")
    report_path = Path(args.report) if args.report else None
    if report_path is not None:
        _check_report_target(report_path)
        check_target(report_path.with_suffix(""), flag="--report")
    command = " ".join(["analogopt reproduce", *args.items, *(["--quick"] if args.quick else [])])
    runner = make_runner("ngspice", timeout_s=SPICE_TIMEOUT_S, whole_run=False)
    runner.describe()  # no ngspice: one line now, before any item runs
    progress = Progress(enabled=not args.quiet)
    results, runs = [], {}
    with RunDirectory(args.out, force=args.force) as out:
        for it in items:
            results.append(run_item(it, out, quick=args.quick, runner=runner, progress=progress, runs=runs))
        simulator = runner.describe()  # after the runs: the solvers its decks took, the Sparse 1.3 re-runs
        out.write_text("report.md", report_markdown(results, command=command, simulator=str(simulator)))
        out.write_json("reproduction.json", report_json(results, command=command,
                                                        simulator=simulator.to_json() if simulator else None))
    progress.done()
    if report_path is not None:
        _write_report_copy(report_path, Path(args.out), results,
                           command=command + f" --out {args.out} --report {args.report}", simulator=str(simulator))
    if not args.quiet:
        counts = {}
        for r in results:
            counts[r.outcome.verdict] = counts.get(r.outcome.verdict, 0) + 1
        print(f"reproduce: {len(results)} items ({', '.join(f'{n} {v}' for v, n in counts.items())}) — report in "
              f"{args.out}/report.md", file=sys.stdout)
    return 0


__all__ = ["register", "run"]
