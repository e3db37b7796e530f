"""A raw file that disagrees with its header is an error naming the file, never a shorter result."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analogopt.errors import SimulationError
from analogopt.spice import NgspiceRunner, read_raw
from analogopt.spice.rawfile import RawFileError
from analogopt.spice.waveforms import MissingVectorError
from spice_helpers import rc_deck

TWO_PLOTS = "two plots\nV1 a 0 1\nR1 a b 1k\nC1 b 0 1u\n.op\n.tran 0.1m 2m\n.ac dec 5 1 1e4\n.end\n"


@pytest.fixture(scope="module")
def raw_bytes(tmp_path_factory) -> bytes:
    """The raw file of a real run with three plots (ac, op, tran: complex and real data)."""
    run = tmp_path_factory.mktemp("raw")
    NgspiceRunner().run(TWO_PLOTS, run_dir=run)
    return (run / "out.raw").read_bytes()


def test_several_plots_read_back_exactly(raw_bytes, tmp_path):
    path = tmp_path / "out.raw"
    path.write_bytes(raw_bytes)
    plots = {p.analysis: p for p in read_raw(path)}
    assert sorted(plots) == ["ac", "op", "tran"]  # ngspice runs (and writes) .ac first
    op, tran, ac = plots["op"], plots["tran"], plots["ac"]
    assert op["b"][0] == pytest.approx(1.0)
    assert np.iscomplexobj(ac["b"]) and tran.source == str(path)


def _write(tmp_path, data: bytes):
    path = tmp_path / "bad.raw"
    path.write_bytes(data)
    return path


def _first_binary(raw: bytes) -> int:
    return raw.index(b"Binary:\n") + len(b"Binary:\n")


@pytest.mark.parametrize(
    "mangle, pattern",
    [
        (lambda r: r[:-8], "truncated"),  # one value short at the end of the last plot
        (lambda r: r[: _first_binary(r)], "truncated: plot 1 promises"),  # header only
        (lambda r: r[: _first_binary(r) - 20], "ends inside the header"),
        (lambda r: b"", "is empty"),
        (lambda r: b"\x00\x13garbage" * 40, "does not start with a raw-file header"),
        (lambda r: r + b"\x01\x02\x03\x04 junk", "bytes after plot 3"),
        (lambda r: r.replace(b"No. Points:", b"No. Pts:", 1), "no 'No. Points:' line"),
        (lambda r: r.replace(b"No. Points:", b"No. Points: many", 1), "not a count"),
        (lambda r: r.replace(b"Binary:\n", b"Bin4ry\n", 1), "malformed header line"),
        (lambda r: r.replace(b"No. Variables: 3", b"No. Variables: 9", 1), "lists variable"),
        (lambda r: r.replace(b"Binary:", b"Values:", 1), "is ASCII"),
    ],
    ids=["short", "header-only", "cut-header", "empty", "garbage", "trailing", "no-points", "bad-points",
         "no-binary", "var-count", "ascii"],
)
def test_inconsistent_raw_files_are_errors_naming_the_file(raw_bytes, tmp_path, mangle, pattern):
    path = _write(tmp_path, mangle(raw_bytes))
    with pytest.raises(RawFileError, match=pattern) as info:
        read_raw(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, SimulationError) and not isinstance(info.value, (ValueError, IndexError))


def test_an_aborted_runs_header_without_binary_line_is_an_error(tmp_path):
    """What ngspice leaves when a transient aborts at its first step (it also reports the failure)."""
    data = (b"Title: tran fail\nDate: today\nPlotname: Transient Analysis\nFlags: real\nNo. Variables: 4\n"
            b"No. Points: 0       \nVariables:\n")
    with pytest.raises(RawFileError, match="ends inside the header"):
        read_raw(_write(tmp_path, data))


def test_a_header_never_updated_after_data_is_an_error(raw_bytes, tmp_path):
    """A full disk: the data went out, the final rewrite of 'No. Points' did not (it still says 0)."""
    start = raw_bytes.index(b"Plotname: Transient")
    header_end = raw_bytes.index(b"No. Points:", start)
    line_end = raw_bytes.index(b"\n", header_end)
    mangled = raw_bytes[:header_end] + b"No. Points: 0" + raw_bytes[line_end:]
    with pytest.raises(RawFileError, match=r"says 0 points in plot \d but \d+ bytes of data follow"):
        read_raw(_write(tmp_path, mangled))


def test_a_missing_raw_file_is_named(tmp_path):
    with pytest.raises(RawFileError, match="wrote no raw file .*nothing.raw"):
        read_raw(tmp_path / "nothing.raw")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), junk=st.binary(max_size=64))
def test_any_cut_or_splice_is_a_simulation_error_or_reads_whole(raw_bytes, tmp_path, cut, junk):
    data = raw_bytes[: cut % (len(raw_bytes) + 1)] + junk
    path = tmp_path / "fuzz.raw"
    path.write_bytes(data)
    try:
        plots = read_raw(path)
    except RawFileError as exc:
        assert str(path) in str(exc)
    else:  # only the whole file (or whitespace after it) reads
        if len(data) == len(raw_bytes) and data.startswith(raw_bytes[: raw_bytes.rindex(b"Binary:")]):
            # junk that replaces as many bytes of the last plot's samples rewrites numbers, which no
            # structure can tell from real ones (the file carries no checksum)
            assert len(plots) == 3
            return
        assert data.rstrip(b"\r\n ") == raw_bytes.rstrip(b"\r\n ") and len(plots) == 3


def test_a_vector_the_results_lack_is_named(tmp_path, private_tmp):
    tran = NgspiceRunner().run(rc_deck(), run_dir=tmp_path / "run").analysis("tran")
    with pytest.raises(MissingVectorError, match=r"no vector 'v\(w9\)'.*available: v\(a\)") as info:
        tran["v(w9)"]
    assert str(tmp_path / "run" / "out.raw") in str(info.value)
    assert isinstance(info.value, KeyError) and isinstance(info.value, SimulationError)
    again = pickle.loads(pickle.dumps(info.value))  # as a Dask worker sends it back
    assert again.names == ["v(w9)"] and str(again) == str(info.value)
    with pytest.raises(KeyError):  # code that catches KeyError around lookups keeps working
        tran.sample(["v(a)", "nowhere"], np.array([1e-3]))
    with pytest.raises(MissingVectorError, match="'v\\(zz\\)'"):
        tran.with_initial({"v(zz)": 1.0}, at=-1.0)


def test_a_temporary_runs_vectors_do_not_cite_the_removed_file(private_tmp):
    tran = NgspiceRunner().run(rc_deck()).analysis("tran")
    with pytest.raises(MissingVectorError, match="temporary run directory, not kept") as info:
        tran["v(nope)"]
    assert str(private_tmp) not in str(info.value)
