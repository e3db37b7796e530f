"""Simulation results as plain data: one axis plus named signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import SimulationError


class MissingVectorError(SimulationError, KeyError):
    """A vector asked for is not in the simulation's results (not saved, misspelt, or not in this
    analysis). A :class:`KeyError` too, so ``except KeyError`` around lookups keeps working, and a
    :class:`SimulationError`, so the CLI reports it in one line instead of an internal error."""

    def __init__(self, message: str, *, names: list[str] | None = None, source: str | None = None) -> None:
        super().__init__(message)  # keywords with defaults: pickling (a Dask worker's error) rebuilds it
        self.names = names or []
        self.source = source

    # KeyError's __str__ would quote the message like a dict key ("'no vector ...'").
    __str__ = SimulationError.__str__


def _listing(names: list[str], limit: int = 12) -> str:
    """Up to ``limit`` names, then how many more: a crossbar saves thousands of vectors, and the error
    must stay one readable line."""
    shown = sorted(names)[:limit]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" … ({more} more)" if more > 0 else "") if shown else "none"


@dataclass(frozen=True)
class Waveforms:
    """Result of one analysis.

    ``axis`` is the sweep variable (time in s for a transient, the swept source value for a DC sweep,
    frequency in Hz for AC); ``signals`` maps lower-case SPICE vector names (``"v(w0)"``,
    ``"i(vdd)"``) to arrays of the same length as ``axis``. ``source`` says where the data came from
    (the raw file), for error messages.
    """

    analysis: str
    axis_name: str
    axis: np.ndarray
    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        key = name.lower()
        if key in self.signals:
            return self.signals[key]
        if f"v({key})" in self.signals:
            return self.signals[f"v({key})"]
        raise self._missing([name])

    def _missing(self, names: list[str]) -> MissingVectorError:
        where = f" in {self.source}" if self.source else ""
        what = ", ".join(repr(n) for n in names)
        return MissingVectorError(
            f"ngspice's {self.analysis} results{where} have no vector {what} (available: "
            f"{_listing(list(self.signals))}); save it in the netlist (.save) or check its name",
            names=list(names),
            source=self.source,
        )

    def __contains__(self, name: str) -> bool:
        key = name.lower()
        return key in self.signals or f"v({key})" in self.signals

    @property
    def names(self) -> list[str]:
        return list(self.signals)

    def with_initial(self, values: Mapping[str, float], at: float = 0.0) -> "Waveforms":
        """A copy with a first point at axis value ``at`` holding ``values`` (other signals repeat their
        first value). ngspice leaves the t = 0 point of a ``uic`` transient out of the raw file although
        the capacitors' initial conditions define it exactly."""
        if self.axis.size and self.axis[0] <= at:
            return self
        first = {k: np.asarray(values.get(k, v[0]), dtype=v.dtype) for k, v in self.signals.items()}
        missing = set(values) - set(self.signals)
        if missing:
            raise self._missing(sorted(missing))
        signals = {k: np.concatenate([[first[k]], v]) for k, v in self.signals.items()}
        return Waveforms(self.analysis, self.axis_name, np.concatenate([[at], self.axis]), signals, self.source)

    def sample(self, names: list[str], at: np.ndarray, method: str = "linear") -> np.ndarray:
        """``names`` interpolated at axis values ``at``; shape ``(len(at), len(names))``.

        ``method="cubic"`` uses a cubic spline through ngspice's own (adaptive) time points, which
        follows smooth waveforms far more closely than straight lines between sparse points.
        """
        stacked = np.stack([np.real(self[n]) for n in names], axis=1)
        if method == "cubic":
            from scipy.interpolate import CubicSpline

            keep = np.concatenate([[True], np.diff(self.axis) > 0])  # splines need a strictly rising axis
            return CubicSpline(self.axis[keep], stacked[keep], axis=0)(np.clip(at, self.axis[0], self.axis[-1]))
        if method != "linear":
            raise ValueError(f"unknown interpolation method {method!r}; use 'linear' or 'cubic'")
        # np.interp is 1-D; interpolate all columns at once through index arithmetic.
        idx = np.clip(np.searchsorted(self.axis, at, side="right") - 1, 0, len(self.axis) - 2)
        x0, x1 = self.axis[idx], self.axis[idx + 1]
        frac = np.where(x1 > x0, (at - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
        frac = np.clip(frac, 0.0, 1.0)[:, None]
        return stacked[idx] * (1.0 - frac) + stacked[idx + 1] * frac

    def final(self, names: list[str]) -> np.ndarray:
        """Values of ``names`` at the last axis point."""
        return np.array([np.real(self[n][-1]) for n in names])

    def to_pandas(self):
        """A DataFrame indexed by the axis, one column per signal."""
        import pandas as pd

        return pd.DataFrame(dict(self.signals), index=pd.Index(self.axis, name=self.axis_name))
