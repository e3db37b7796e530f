"""``analogopt reproduce``: the quick run writes a complete report; bad input is one line and leaves nothing."""

from __future__ import annotations

import json
import re

import pytest

from analogopt.cli import main
from analogopt.reproduction.base import VERDICTS
from analogopt.reproduction.registry import all_items
from analogopt.reproduction.report import REPORT_MARK


@pytest.mark.slow
def test_quick_run_writes_every_item_with_its_figures(tmp_path, capsys):
    out, doc = tmp_path / "repro", tmp_path / "docs" / "reproduction.md"
    doc.parent.mkdir()
    assert main(["reproduce", "--quick", "--out", str(out), "--report", str(doc), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    data = json.loads((out / "reproduction.json").read_text())
    keys = [it.key for it in all_items()]
    assert sorted(data["items"]) == sorted(keys)
    assert [report.index(f"## {k}:") for k in keys] == sorted(report.index(f"## {k}:") for k in keys)  # paper order
    for key, item in data["items"].items():
        assert item["verdict"] in VERDICTS and item["reason"], key
        assert f"## {key}:" in report and f"[{key}](#{key})" in report
        for fig in item["figures"]:
            assert (out / fig).stat().st_size > 0, (key, fig)
        assert item["quick"] is True
    # the copy for docs/ carries its own figures in docs/reproduction/, and every link resolves there
    text = doc.read_text()
    assert text.startswith(REPORT_MARK)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(link.startswith("reproduction/") and (doc.parent / link).is_file() for link in links)
    # each run folder counts its own decks' solvers (the runner is shared): together no more than the whole
    total = data["simulator"]["runs_by_solver"]
    folders = [json.loads(m.read_text()).get("simulator") for m in (out / "runs").glob("*/*/metrics.json")]
    counted: dict[str, int] = {}
    for sim in filter(None, folders):
        for solver, count in sim["runs_by_solver"].items():
            counted[solver] = counted.get(solver, 0) + count
    assert counted and all(counted[s] <= total.get(s, 0) for s in counted), (counted, total)
    # items whose verdict does not depend on the size: exact constructions and closed forms
    for key in ("000-eq10-leak", "000-sec5-beta3", "000-eq21", "004-thm1", "004-thm2", "000-sec6-skip"):
        assert data["items"][key]["verdict"] == "reproduced", (key, data["items"][key]["reason"])


def test_list_names_every_item(capsys):
    assert main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    for it in all_items():
        assert it.key in listed


@pytest.mark.parametrize("args, pattern", [
    (["nonsense", "--out", "{out}"], r"unknown reproduction item 'nonsense'; choose a paper \(000, 001, 002, 003, 004\)"),
    (["004-thm1"], r"--out is required"),
    (["004-thm1", "--out", "{out}", "--report", "{foreign}"], r"--report .*foreign.md: exists and was not written by"),
    (["004-thm1", "--out", "{out}", "--report", "{missing}/r.md"], r"--report .*: its folder .* does not exist"),
    (["004-thm1", "--out", "{out}", "--report", ""], r"--report is empty"),
    (["004-thm1", "--out", "{out}", "--report", "{notes}.md"], r"--report .*notes.md: .*notes exists and was not written by analogopt"),
    # refused before the items run, not after minutes of them
    (["004-thm1", "--out", "{out}", "--report", "/proc/r.md"], r"--report /proc/r.md: cannot write in /proc"),
    (["004-thm1", "--out", "{out}", "--report", "{figs}.md"], r"--report .*figs.md: .*figs holds files analogopt did not "
                                                               r"write \(mine.png\)"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, pattern):
    foreign = tmp_path / "foreign.md"
    foreign.write_text("# my own notes\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.png").write_bytes(b"x")
    figs = tmp_path / "figs"  # a report's figure folder, analogopt's, with the user's file added to it
    figs.mkdir()
    (figs / ".analogopt-run").write_text('{"kind": "result", "files": ["a.png"]}')
    (figs / "a.png").write_bytes(b"p")
    (figs / "mine.png").write_bytes(b"x")
    fill = {"out": str(tmp_path / "out"), "foreign": str(foreign), "missing": str(tmp_path / "nope"),
            "notes": str(tmp_path / "notes"), "figs": str(figs)}
    assert main(["reproduce", *[a.format(**fill) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err
    assert not (tmp_path / "out").exists()
    assert foreign.read_text() == "# my own notes\n" and (tmp_path / "notes" / "mine.png").read_bytes() == b"x"
    assert sorted(p.name for p in figs.iterdir()) == [".analogopt-run", "a.png", "mine.png"]


def test_report_file_is_replaced_only_when_ours(tmp_path):
    out, doc = tmp_path / "out", tmp_path / "r.md"
    assert main(["reproduce", "004-thm1", "--out", str(out), "--report", str(doc), "--quiet"]) == 0
    first = doc.read_text()
    assert first.startswith(REPORT_MARK) and f"--report {doc}`" in first  # names the command that wrote it
    assert main(["reproduce", "004-thm1", "--out", str(out), "--force", "--report", str(doc), "--quiet"]) == 0
    assert doc.read_text().startswith(REPORT_MARK)


def test_the_shipped_report_can_be_regenerated_in_place():
    """docs/reproduction.md says to regenerate it with its command: the shipped copy and its figure folder
    (whose marker lists what it wrote) must not be refused as the user's files."""
    from pathlib import Path

    from analogopt.commands.reproduce import _check_report_target

    _check_report_target(Path(__file__).resolve().parents[2] / "docs" / "reproduction.md")
