"""Reader for ngspice raw files (binary and ASCII, real and complex, several plots per file)."""

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


def read_raw(path: str | Path) -> list[Waveforms]:
    """Every plot in the raw file at ``path``, in file order."""
    data = Path(path).read_bytes()
    plots: list[Waveforms] = []
    pos = 0
    while pos < len(data):
        wave, pos = _read_plot(data, pos, path)
        plots.append(wave)
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r", b" "):
            pos += 1
    if not plots:
        raise SimulationError(f"raw file {path} holds no data")
    return plots


def _read_plot(data: bytes, pos: int, path) -> tuple[Waveforms, int]:
    header: dict[str, str] = {}
    names: list[str] = []
    while True:
        end = data.index(b"\n", pos)
        line = data[pos:end].decode("latin-1").rstrip("\r")
        pos = end + 1
        if line.startswith("Variables:"):
            nvars = int(header["no. variables"])
            for _ in range(nvars):
                end = data.index(b"\n", pos)
                fields = data[pos:end].decode("latin-1").split()
                pos = end + 1
                names.append(fields[1].lower())
            continue
        if line in ("Binary:", "Values:"):
            kind = line
            break
        key, _, value = line.partition(":")
        header[key.strip().lower()] = value.strip()
    nvars = int(header["no. variables"])
    npoints = int(header["no. points"])
    is_complex = "complex" in header.get("flags", "").lower()
    if kind == "Binary:":
        width = 16 if is_complex else 8
        count = npoints * nvars
        available = (len(data) - pos) // width
        if available < count:
            # An aborted run can leave a header that promises more points than were written.
            npoints = available // nvars
            count = npoints * nvars
        raw = np.frombuffer(data, dtype=np.complex128 if is_complex else np.float64, count=count, offset=pos)
        table = raw.reshape(npoints, nvars)
        pos += count * width
    else:
        raise SimulationError(f"raw file {path} is ASCII; analogopt reads ngspice's default binary raw files")
    plotname = header.get("plotname", "").lower()
    analysis = _ANALYSIS.get(plotname, plotname.split()[0] if plotname else "unknown")
    if analysis == "op":
        # An operating point has no sweep variable: every vector is a signal, the axis just counts points.
        axis_name, axis = "index", np.arange(npoints, dtype=np.float64)
        signals = {name: np.array(table[:, i]) for i, name in enumerate(names)}
    else:
        axis_name, axis = names[0], np.array(np.real(table[:, 0]))
        signals = {name: np.array(table[:, i]) for i, name in enumerate(names) if i > 0}
    if analysis in ("tran", "dc", "op"):
        signals = {k: np.real(v) for k, v in signals.items()}
    return Waveforms(analysis=analysis, axis_name=axis_name, axis=axis, signals=signals), pos
