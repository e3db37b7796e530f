"""A full disk, a read-only one, a failing write: one-line OutputErrors naming the file, never a
silently short result or an unexplained ValueError. ngspice really runs in every test."""

import errno
import os
import pathlib
import shutil
import subprocess

import pytest

import analogopt.spice.diagnostics as diagnostics_module
import analogopt.spice.runner as runner_module
from analogopt.errors import OutputError, SimulationError
from analogopt.spice import NgspiceRunner, SharedLibraryRunner
from analogopt.spice.rawfile import RawFileError
from spice_helpers import rc_deck

#: 100 µs at a 1 ns step: ~2.4 MB of raw file, far more than the small file systems below hold.
BIG = "big\nR1 a 0 1k\nB1 a 0 v=sin(2*3.14159*1e6*time)\n.tran 1n 100u 0 1n\n.end\n"


def _mount_tmpfs(where: pathlib.Path, options: str) -> None:
    where.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KiB tmpfs (skipped where mounting is not permitted), unmounted afterwards."""
    where = tmp_path / "small"
    _mount_tmpfs(where, "size=64k")
    yield where
    subprocess.run(["umount", str(where)], check=True, timeout=30)


@pytest.fixture
def read_only_fs(tmp_path):
    where = tmp_path / "ro"
    _mount_tmpfs(where, "ro,size=64k")
    yield where
    subprocess.run(["umount", str(where)], check=True, timeout=30)


def test_a_raw_file_larger_than_the_disk_is_named(small_fs):
    with pytest.raises(OutputError, match=r"^no space left on device writing .*small/run/out\.raw") as info:
        NgspiceRunner().run(BIG, run_dir=small_fs / "run")
    assert "free space or choose another --out" in str(info.value) and "\n" not in str(info.value)


def test_a_full_disk_when_ngspice_starts_is_named(small_fs):
    (small_fs / "filler").write_bytes(b"\0" * (60 << 10))
    with pytest.raises(OutputError, match="no space left on device|cannot write"):
        NgspiceRunner().run(BIG, run_dir=small_fs / "run")


def test_a_full_temporary_directory_leaves_nothing_behind(small_fs, monkeypatch):
    monkeypatch.setattr(runner_module.tempfile, "tempdir", str(small_fs))
    with pytest.raises(OutputError, match="no space left on device") as info:
        NgspiceRunner().run(BIG)
    assert "temporary run directory, not kept" in str(info.value)
    assert not [p for p in small_fs.iterdir() if p.name.startswith("analogopt-")]


def test_the_shared_library_runner_names_a_full_disk(small_fs):
    with pytest.raises(OutputError, match="no space left on device"):
        SharedLibraryRunner().run(BIG, run_dir=small_fs / "run")


def test_a_read_only_run_directory_is_named(read_only_fs):
    with pytest.raises(OutputError, match=r"cannot create run directory .*ro/run: Read-only file system"):
        NgspiceRunner().run(rc_deck(), run_dir=read_only_fs / "run")


def test_a_file_size_limit_makes_ngspice_fail_to_write(tmp_path, private_tmp):
    """Always runnable: the real ngspice under a 16 KiB file-size limit (SIGXFSZ ignored, so writes
    past it fail with EFBIG, as on a full disk). ngspice exits 0; its warning is what names it."""
    ngspice = shutil.which("ngspice")
    wrapper = tmp_path / "limited-ngspice"
    wrapper.write_text(f"#!/bin/sh\nulimit -f 32\ntrap '' XFSZ\nexec {ngspice} \"$@\"\n")
    wrapper.chmod(0o755)
    with pytest.raises(OutputError, match=r"ngspice could not write .*run/out\.raw \(Warning: rawfile write error"):
        NgspiceRunner(executable=str(wrapper)).run(BIG, run_dir=tmp_path / "run")
    with pytest.raises(OutputError, match=r"out\.raw \(temporary run directory, not kept\)"):
        NgspiceRunner(executable=str(wrapper)).run(BIG)


@pytest.fixture
def short_raw(monkeypatch):
    """A post-step between ngspice and the reader that cuts the raw file to ``keep`` bytes, as a disk
    that filled up while ngspice wrote would (ngspice itself runs as always); a negative ``keep`` cuts
    that many bytes off the end."""
    real = runner_module.read_raw
    state = {"keep": 0}

    def cut_then_read(path, **kwargs):
        data = pathlib.Path(path).read_bytes()
        pathlib.Path(path).write_bytes(data[: state["keep"] % (len(data) + 1)])
        return real(path, **kwargs)

    monkeypatch.setattr(runner_module, "read_raw", cut_then_read)
    return state


@pytest.mark.parametrize("keep", [0, 700, -8])
def test_a_short_raw_file_is_a_simulation_error_naming_it(short_raw, keep, tmp_path, private_tmp):
    short_raw["keep"] = keep
    with pytest.raises(RawFileError, match=r"raw file .*run/out\.raw (is empty|is truncated|ends inside)") as info:
        NgspiceRunner().run(rc_deck(), run_dir=tmp_path / "run")
    assert isinstance(info.value, SimulationError) and "Circuit:" in info.value.stdout


def test_a_short_raw_file_on_a_full_disk_is_named_as_such(short_raw, monkeypatch, tmp_path, private_tmp):
    class Full:
        f_bavail, f_frsize = 3, 4096

    monkeypatch.setattr(diagnostics_module.os, "statvfs", lambda path: Full)
    short_raw["keep"] = 700
    with pytest.raises(OutputError, match=r"^no space left on device writing .*run/out\.raw \(12 KiB free\)"):
        NgspiceRunner().run(rc_deck(), run_dir=tmp_path / "run")
    with pytest.raises(OutputError, match=r"^no space left on device writing out\.raw \(temporary run"):
        NgspiceRunner().run(rc_deck())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_netlist_that_cannot_be_written_is_one_line(code, monkeypatch, tmp_path, private_tmp):
    real = pathlib.Path.write_text

    def failing(self, *args, **kwargs):
        if self.name == "netlist.cir":
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", failing)
    with pytest.raises(OutputError, match=rf"^cannot write netlist .*run/netlist\.cir: {os.strerror(code)}"):
        NgspiceRunner().run(rc_deck(), run_dir=tmp_path / "run")
    for runner in (NgspiceRunner(), SharedLibraryRunner()):  # a temporary directory does not stay
        with pytest.raises(OutputError, match=os.strerror(code)):
            runner.run(rc_deck())
