"""Result directories: refused targets, the marker, --force, the lock, failed runs, interrupts."""

import errno
import json
import os
from pathlib import Path

import pytest

from analogopt.errors import ConfigError, ConvergenceError, OutputError, Terminated
from analogopt.results import MARKER, DirectoryLock, RunDirectory, check_target


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """cwd and HOME inside tmp_path, so that refusing them is tested without touching real ones."""
    h = tmp_path / "home"
    (h / "work" / "scenarios").mkdir(parents=True)
    (h / "work" / "scenarios" / "mine.toml").write_text("kind = 'nf_single'\n")
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.chdir(h / "work")
    return h


@pytest.mark.parametrize("target, pattern", [
    ("", "is empty"),
    ("   ", "is empty"),
    (".", "is the current directory"),
    ("./", "is the current directory"),
    ("..", "is the home directory"),  # here the home directory holds the cwd
    ("/", "contains the current directory"),
    ("~", "is the home directory"),
    ("scenarios", "contains the scenario file"),
    ("scenarios/..", "is the current directory"),
])
@pytest.mark.parametrize("force", [False, True])
def test_refused_targets_delete_nothing(home, target, pattern, force):
    before = tree(home)
    with pytest.raises(ConfigError, match=pattern):
        RunDirectory(target, force=force, protect=[(home / "work" / "scenarios" / "mine.toml", "the scenario file")])
    assert tree(home) == before


def test_symlink_and_file_targets_are_refused(home):
    (home / "real").mkdir()
    (home / "work" / "link").symlink_to(home / "real")
    (home / "work" / "afile").write_text("x")
    with pytest.raises(ConfigError, match="symbolic link"):
        RunDirectory("link", force=True)
    with pytest.raises(ConfigError, match="not a directory"):
        RunDirectory("afile", force=True)
    with pytest.raises(OutputError, match="is a file"):
        RunDirectory("afile/sub/run")
    assert (home / "work" / "afile").read_text() == "x"


def test_success_writes_marker_and_replaces_only_marked_directories(home):
    with RunDirectory("results/run") as out:
        out.write_text("a.txt", "first")
    run = home / "work" / "results" / "run"
    marker = json.loads((run / MARKER).read_text())
    assert len(marker["run_id"]) == 32 and (run / "a.txt").read_text() == "first"
    with pytest.raises(ConfigError, match="not empty.*--force"):
        RunDirectory("results/run")
    with RunDirectory("results/run", force=True) as out:
        out.write_text("b.txt", "second")
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "b.txt"]
    assert json.loads((run / MARKER).read_text())["run_id"] != marker["run_id"]
    # a directory analogopt did not write is never replaced, --force or not
    (home / "work" / "theirs").mkdir()
    (home / "work" / "theirs" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not written by analogopt"):
        RunDirectory("theirs", force=True)
    assert (home / "work" / "theirs" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in (home / "work" / "results").iterdir()) == ["run"]  # no lock, no staging


def test_second_writer_is_refused_while_the_first_runs(home):
    first = RunDirectory("out")
    with pytest.raises(OutputError, match="another analogopt run is writing"):
        RunDirectory("out")
    with first:
        first.write_text("x", "1")
    with RunDirectory("out", force=True):  # the lock went with the first writer
        pass
    assert not list((home / "work").glob(".out.*"))


def test_lock_survives_unlink_race(tmp_path):
    target = tmp_path / "t"
    lock = DirectoryLock(target)
    lock.release()
    again = DirectoryLock(target)  # a fresh file after the first was removed
    with pytest.raises(OutputError):
        DirectoryLock(target)
    again.release()
    assert list(tmp_path.iterdir()) == []


def test_force_keeps_what_the_user_added_and_another_kind_of_directory(home):
    with RunDirectory("results/run") as out:
        (out.path / "plots").mkdir()
        out.write_text("plots/a.png", "png")
        out.write_text("metrics.json", "{}")
    run = home / "work" / "results" / "run"
    assert json.loads((run / MARKER).read_text())["files"] == ["metrics.json", "plots", "plots/a.png"]
    for added in ("notes.txt", "plots/mine.png", "mine"):
        (run / added).mkdir() if added == "mine" else (run / added).write_text("the user's")
        with pytest.raises(ConfigError, match=f"files analogopt did not write \\({added}\\)") as info:
            with RunDirectory("results/run", force=True) as out:
                out.write_text("b.txt", "second")
        assert len(str(info.value).splitlines()) == 1
        assert (run / "metrics.json").exists() and not (run / "b.txt").exists()
        (run / added).rmdir() if added == "mine" else (run / added).unlink()
    with pytest.raises(ConfigError, match=r"did not write \(late.txt\); .*this run's result was not kept"):
        with RunDirectory("results/run", force=True) as out:  # added while the run is on: checked again
            (run / "late.txt").write_text("the user's")
            out.write_text("b.txt", "second")
    assert (run / "late.txt").exists() and (run / "metrics.json").exists()
    assert sorted(p.name for p in run.parent.iterdir()) == ["run"]  # no staging left behind
    (run / "late.txt").unlink()
    with pytest.raises(ConfigError, match="is an analogopt result directory and this command writes export"):
        RunDirectory("results/run", force=True, kind="export")
    with RunDirectory("results/run", force=True) as out:  # only what analogopt wrote: replaced
        out.write_text("b.txt", "second")
    assert sorted(p.name for p in run.iterdir()) == [MARKER, "b.txt"]
    # a failed run's folder with the user's file in it is not replaced either
    failed = home / "work" / "results" / "run.failed"
    for attempt in range(2):
        with pytest.raises(ConvergenceError):
            with RunDirectory("results/run", force=True) as out:
                out.write_text("netlist.cir", f"* deck {attempt}\n")
                raise ConvergenceError("did not converge")
        if attempt == 0:
            (failed / "notes.txt").write_text("the user's")
    assert (failed / "netlist.cir").read_text() == "* deck 0\n" and (failed / "notes.txt").exists()


def _failing_run(staging_dir_of: list) -> None:
    """A run that wrote its netlist into ``spice/`` and then failed to converge, naming the netlist."""
    out = RunDirectory("deep/run")
    staging = out.path
    staging_dir_of.append(staging)
    with out:
        (out.path / "spice").mkdir()
        (out.path / "spice" / "netlist.cir").write_text("* deck\n")
        raise ConvergenceError(f"did not converge (netlist {staging / 'spice' / 'netlist.cir'})",
                               run_dir=staging / "spice")


def test_simulation_failure_keeps_files_where_the_message_says(home):
    staged: list = []
    with pytest.raises(ConvergenceError) as info:
        _failing_run(staged)
    failed = home / "work" / "deep" / "run.failed"
    assert (failed / "spice" / "netlist.cir").exists()
    message = str(info.value)
    assert str(staged[0]) not in message and str(failed / "spice" / "netlist.cir") in message
    assert info.value.run_dir == failed / "spice"
    assert sorted(p.name for p in (home / "work" / "deep").iterdir()) == ["run.failed"]


def test_a_failure_whose_files_cannot_be_kept_names_no_removed_path(home):
    failed = home / "work" / "deep" / "run.failed"
    failed.mkdir(parents=True)
    (failed / "precious.txt").write_text("the user's")
    staged: list = []
    with pytest.raises(ConvergenceError) as info:
        _failing_run(staged)
    message = str(info.value)
    assert str(staged[0]) not in message and f"(netlist {home / 'work' / 'deep'})" in message
    assert message.endswith(f"the run's files were not kept: {failed} holds files analogopt did not write")
    assert info.value.run_dir is None  # it was the removed staging directory's
    assert sorted(p.name for p in failed.iterdir()) == ["precious.txt"]
    assert sorted(p.name for p in (home / "work" / "deep").iterdir()) == ["run.failed"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, Terminated, ValueError])
def test_interrupts_and_other_errors_leave_nothing(home, stop):
    before = tree(home)
    with pytest.raises(stop):
        with RunDirectory("new/parents/run") as out:
            out.write_text("half.txt", "half")
            raise stop()
    assert tree(home) == before  # staging, lock and the parents made for the run are all gone


def test_full_disk_while_writing_is_one_output_error(home):
    with pytest.raises(OutputError, match="no space left on device"):
        with RunDirectory("run"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not any(p.name.startswith((".run", "run")) for p in (home / "work").iterdir())


def test_too_little_free_space_is_refused_before_the_run(home):
    with pytest.raises(OutputError, match="MiB free"):
        RunDirectory("run", min_free_bytes=2**62)
    assert not any(p.name.startswith((".run", "run")) for p in (home / "work").iterdir())


def test_check_target_expands_home(home):
    assert check_target("~/elsewhere") == home / "elsewhere"


def test_a_mount_point_is_refused_before_the_run():
    """A finished run replaces its target by a rename, which a mount point refuses (EBUSY): refused
    up front, not after the whole simulation with its staging directory left behind."""
    mount = next(p for p in ("/proc", "/sys", "/dev") if os.path.ismount(p))
    with pytest.raises(ConfigError, match=f"--out {mount} is a mount point, .*e\\.g\\. --out {mount}/run1"):
        check_target(mount)
    assert check_target(mount, replaced=False) == Path(mount)  # a sweep writes in place: a mount point will do


@pytest.mark.parametrize("marker", ['{"created": "2026-11-01T10:00:00+0000", "pid": 1, "run_id": "ab"}', "{}", "not json"])
def test_force_refuses_a_directory_whose_marker_lists_no_files(home, marker):
    """An older analogopt's marker (or a damaged one) cannot tell its run's files from the user's."""
    run = home / "work" / "old"
    (run / "data").mkdir(parents=True)
    (run / MARKER).write_text(marker)
    (run / "metrics.json").write_text("{}")
    (run / "data" / "thesis.txt").write_text("the user's")
    with pytest.raises(ConfigError, match=r"did not list its files .*--force cannot tell them from files added since"):
        with RunDirectory("old", force=True) as out:
            out.write_text("a.txt", "new")
    assert (run / "data" / "thesis.txt").read_text() == "the user's" and (run / "metrics.json").exists()
    assert not [p for p in (home / "work").iterdir() if p.name.startswith(".old")]  # no staging or lock left
