"""Scratch directories: removed however their block ends; those of dead processes cleaned at the next start."""

import os
import subprocess
import sys
import tempfile

import pytest

from analogopt import scratch


@pytest.fixture
def tmpdir_here(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(scratch, "_cleaned_in", set())
    return tmp_path


def test_removed_on_success_and_on_error(tmpdir_here):
    with scratch.scratch_dir("sweep") as path:
        (path / "f").write_text("x")
        assert path.name.startswith(f"analogopt-sweep-{os.getpid()}-")
    with pytest.raises(KeyboardInterrupt):
        with scratch.scratch_dir("sweep") as path:
            raise KeyboardInterrupt
    assert list(tmpdir_here.iterdir()) == []


def test_a_killed_process_leaves_one_that_the_next_start_removes(tmpdir_here):
    code = ("import os, tempfile; tempfile.tempdir = os.environ['T']\n"
            "from analogopt.scratch import scratch_dir\n"
            "with scratch_dir('sweep') as p:\n    (p / 'half').write_text('x'); os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "T": str(tmpdir_here)})
    assert proc.returncode == -9
    left = list(tmpdir_here.iterdir())
    assert len(left) == 1 and left[0].name.startswith("analogopt-sweep-")
    alive = tmpdir_here / f"analogopt-export-{os.getppid()}-keep"  # a live process's directory stays
    alive.mkdir()
    unrelated = tmpdir_here / "analogopt-notes"
    unrelated.mkdir()
    with scratch.scratch_dir("export") as path:
        assert sorted(p.name for p in tmpdir_here.iterdir()) == sorted([path.name, alive.name, unrelated.name])
    alive.rmdir()
    unrelated.rmdir()


def test_purpose_is_checked():
    with pytest.raises(ValueError, match="lower-case letters"):
        with scratch.scratch_dir("../x"):
            pass
