"""Reader for ngspice raw files (binary, real and complex, several plots per file).

The reader is strict: a raw file is read only after ngspice reported success, and then every byte has to
agree with the headers. ngspice rewrites ``No. Points:`` when a plot ends, so a file it finished always
holds exactly ``points × variables`` values per plot. A file that holds fewer (the process was killed
mid-write) or more (the disk filled up, so the final header rewrite never reached the disk and the header
still says 0 points), a header cut short, or bytes that are no header at all are a
:class:`SimulationError` naming the file, never a silently shorter result. (An *aborted* ngspice run may
well leave such a file, but it also reports its failure, which :mod:`.diagnostics` raises first.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SimulationError
from .waveforms import Waveforms

_ANALYSIS = {
    "transient analysis": "tran",
    "dc transfer characteristic": "dc",
    "ac analysis": "ac",
    "operating point": "op",
    "noise spectral density curves": "noise",
}

#: A header longer than this many lines is not an ngspice header (it stops garbage from being scanned
#: line by line to its end); real headers are a few lines plus one per variable.
_MAX_PLAIN_HEADER_LINES = 200


class RawFileError(SimulationError):
    """A raw file is missing, unreadable, or disagrees with its own header."""


def read_raw(path: str | Path, *, display: str | None = None) -> list[Waveforms]:
    """Every plot in the raw file at ``path``, in file order.

    ``display`` names the file in error messages and in :attr:`Waveforms.source` (a temporary run's raw
    file is deleted afterwards, so its path would point nowhere); default: the path itself.
    """
    name = display or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise RawFileError(f"ngspice wrote no raw file {name}; see ngspice's output for why") from None
    except OSError as exc:
        raise RawFileError(f"cannot read raw file {name}: {exc.strerror or exc}") from None
    if not data:
        raise RawFileError(f"raw file {name} is empty; the disk may be full or ngspice was stopped")
    plots: list[Waveforms] = []
    pos = 0
    while pos < len(data):
        wave, pos = _read_plot(data, pos, name, len(plots))
        plots.append(wave)
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r", b" "):
            pos += 1
    return plots


def _bad(name: str, what: str) -> RawFileError:
    return RawFileError(f"raw file {name} {what}; rerun the simulation (was the disk full, or ngspice stopped?)")


def _line(data: bytes, pos: int, name: str, plot: int) -> tuple[str, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise _bad(name, f"ends inside the header of plot {plot + 1}")
    return data[pos:end].decode("latin-1").rstrip("\r"), end + 1


def _count(header: dict[str, str], key: str, name: str, plot: int) -> int:
    if key not in header:
        raise _bad(name, f"has no '{key.title()}:' line in the header of plot {plot + 1}")
    try:
        value = int(header[key])
    except ValueError:
        raise _bad(name, f"has '{key.title()}: {header[key][:40]}' (not a count) in plot {plot + 1}") from None
    if value < 0:
        raise _bad(name, f"has a negative '{key.title()}:' in plot {plot + 1}")
    return value


def _read_plot(data: bytes, pos: int, name: str, plot: int) -> tuple[Waveforms, int]:
    if not data.startswith(b"Title:", pos):
        # a plot starts with its title: anything else is garbage, or data no header accounted for
        if plot:
            raise _bad(name, f"holds bytes after plot {plot} that no header accounts for")
        raise _bad(name, "does not start with a raw-file header ('Title:' line)")
    header: dict[str, str] = {}
    names: list[str] = []
    kind = ""
    for _ in range(_MAX_PLAIN_HEADER_LINES + 1):
        line, pos = _line(data, pos, name, plot)
        if line.startswith("Variables:"):
            nvars = _count(header, "no. variables", name, plot)
            for i in range(nvars):
                fields, pos = _line(data, pos, name, plot)
                parts = fields.split()
                if len(parts) < 2 or parts[0] != str(i):
                    raise _bad(name, f"lists variable {i} of plot {plot + 1} as {fields[:60]!r}")
                names.append(parts[1].lower())
            continue
        if line in ("Binary:", "Values:"):
            kind = line
            break
        key, colon, value = line.partition(":")
        if not colon:  # every header line is "Key: value"
            raise _bad(name, f"has a malformed header line {line[:60]!r} in plot {plot + 1}")
        header[key.strip().lower()] = value.strip()
    else:
        raise _bad(name, f"has no 'Binary:' line in the first {_MAX_PLAIN_HEADER_LINES} header lines")
    if kind == "Values:":
        raise RawFileError(f"raw file {name} is ASCII; analogopt reads ngspice's default binary raw files")
    nvars = _count(header, "no. variables", name, plot)
    npoints = _count(header, "no. points", name, plot)
    if len(names) != nvars or nvars == 0:
        raise _bad(name, f"lists {len(names)} variables in plot {plot + 1}, its header says {nvars}")
    is_complex = "complex" in header.get("flags", "").lower()
    width = 16 if is_complex else 8
    count = npoints * nvars
    available = len(data) - pos
    if npoints == 0:
        if available and not data[pos:].lstrip(b"\r\n ").startswith(b"Title:"):
            # the disk filled up: data went out, the final rewrite of "No. Points" did not
            raise _bad(name, f"says 0 points in plot {plot + 1} but {available} bytes of data follow its header")
        raise _bad(name, f"holds no points in plot {plot + 1} ({header.get('plotname', 'unnamed')})")
    if available < count * width:
        raise _bad(name, f"is truncated: plot {plot + 1} promises {npoints} points of {nvars} vectors "
                         f"({count * width} bytes), the file holds {available}")
    raw = np.frombuffer(data, dtype=np.complex128 if is_complex else np.float64, count=count, offset=pos)
    table = raw.reshape(npoints, nvars)
    pos += count * width
    plotname = header.get("plotname", "").lower()
    analysis = _ANALYSIS.get(plotname, plotname.split()[0] if plotname else "unknown")
    if analysis == "op":
        # An operating point has no sweep variable: every vector is a signal, the axis just counts points.
        axis_name, axis = "index", np.arange(npoints, dtype=np.float64)
        signals = {n: np.array(table[:, i]) for i, n in enumerate(names)}
    else:
        axis_name, axis = names[0], np.array(np.real(table[:, 0]))
        signals = {n: np.array(table[:, i]) for i, n in enumerate(names) if i > 0}
    if analysis in ("tran", "dc", "op"):
        signals = {k: np.real(v) for k, v in signals.items()}
    return Waveforms(analysis=analysis, axis_name=axis_name, axis=axis, signals=signals, source=name), pos
