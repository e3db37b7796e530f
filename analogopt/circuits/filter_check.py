"""Generator: weight filters driven by a recorded update sequence, for comparison with their twins.

Each channel ``c`` of the drive ``w'`` (shape steps × channels, V) becomes one PWL voltage source on
node ``d<c>`` that holds ``w'_k`` over ``[k·Δt, (k+1)·Δt)``. Each step between held values is a short
ramp of ``rise_fraction·Δt`` *centred* on ``k·Δt``, so the drive's integral over every interval equals
the held sequence's (the twins in :mod:`analogopt.reference.filters` assume an ideal hold). Every
filter under test gets its own copy of every channel: filter ``f`` on channel ``c`` has its weight on
node ``<f><c>_w``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import NetlistDeck, Transient, validate_name
from .base import AnalogCircuit

#: Tight tolerances: the comparison is at 1e-3 of the signal range, SPICE must be well inside that.
FILTER_CHECK_OPTIONS = {"reltol": 1e-6, "abstol": 1e-15, "vntol": 1e-9, "method": "gear"}


def format_pwl(name: str, node: str, drive: np.ndarray, *, dt_s: float, rise_s: float) -> str:
    """A ``V<name> <node> 0 PWL(...)`` card for the held sequence ``drive`` (1-D, V), with continuation lines.

    Vectorized: the time/value pairs are built and formatted as whole numpy arrays.
    """
    steps = drive.shape[0]
    k = np.arange(1, steps)
    times = np.concatenate([[0.0], np.stack([k * dt_s - rise_s / 2, k * dt_s + rise_s / 2], axis=1).ravel(),
                            [steps * dt_s]])
    values = np.concatenate([[drive[0]], np.stack([drive[:-1], drive[1:]], axis=1).ravel(), [drive[-1]]])
    pairs = np.char.add(np.char.add(np.char.mod("%.17g", times), " "), np.char.mod("%.17g", values))
    # ngspice reads long cards through '+' continuation lines; eight pairs per line keeps them short.
    chunks = [" ".join(pairs[i : i + 8]) for i in range(0, len(pairs), 8)]
    return f"V{name} {node} 0 PWL(" + "\n+ ".join(chunks) + ")\n"


def build_filter_check(
    drive: np.ndarray,
    *,
    dt_s: float,
    filters: Mapping[str, Any],
    initial_w: float | np.ndarray = 0.0,
    rise_fraction: float = 1e-3,
    title: str = "weight filters driven by a recorded update sequence",
) -> AnalogCircuit:
    """The circuit, a transient over ``steps·Δt`` and probes ``"<filter>/<c>/<node role>"``.

    ``filters`` maps a short name (a SPICE-safe prefix such as ``"rc"``, ``"casc"``, ``"fal"``) to an
    integrator block with the ``add(circuit, name, inp, out, initial_v)`` interface (``RCLowPass``,
    :class:`~analogopt.blocks.filters.RCCascade`, :class:`~analogopt.blocks.filters.FALIntegrator`).
    Probes: ``"<f>/<c>/w"`` for the weight and ``"<f>/<c>/<suffix>"`` for each internal node the block
    returns (``m``, ``v``, ``s``, …).
    """
    d = np.asarray(drive, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 1:
        raise ConfigError(f"drive must have shape (steps ≥ 2, channels ≥ 1), got {np.shape(drive)}")
    if not np.all(np.isfinite(d)):
        raise ConfigError("drive contains NaN or inf")
    if not (np.isfinite(dt_s) and dt_s > 0):
        raise ConfigError(f"dt_s must be a finite number > 0 s, got {dt_s!r}")
    if not 0 < rise_fraction <= 0.1:
        raise ConfigError(f"rise_fraction must be in (0, 0.1], got {rise_fraction!r}")
    if not filters:
        raise ConfigError("filters must name at least one integrator block")
    steps, channels = d.shape
    w0 = np.broadcast_to(np.asarray(initial_w, dtype=np.float64), (channels,))

    circuit = Circuit(title)
    cards = []
    for c in range(channels):
        cards.append(format_pwl(f"d{c}", f"d{c}", d[:, c], dt_s=dt_s, rise_s=rise_fraction * dt_s))
    circuit.raw_spice += "".join(cards)

    probes: dict[str, str] = {}
    elements = channels
    for prefix, block in filters.items():
        validate_name(prefix, "filter name")
        for c in range(channels):
            name = f"{prefix}{c}"
            out = f"{name}_w"
            internal = block.add(circuit, name, f"d{c}", out, float(w0[c]))
            probes[f"{prefix}/{c}/w"] = f"v({out})"
            for node in internal:
                probes[f"{prefix}/{c}/{node[len(name) + 1:]}"] = f"v({node})"
        elements += channels * int(getattr(block, "element_count", 3))

    stop = steps * dt_s
    deck = NetlistDeck(
        circuit,
        analyses=[Transient(stop_s=stop, step_s=dt_s, max_step_s=dt_s / 10)],
        options=dict(FILTER_CHECK_OPTIONS),
        saves=sorted(set(probes.values())),
    )
    notes = {"drive": f"{channels} channel(s) × {steps} held samples, Δt = {dt_s:g} s, ramps {rise_fraction:g}·Δt"}
    return AnalogCircuit(deck=deck, probes=probes, element_count=elements, notes=notes)


def sample_times(steps: int, dt_s: float) -> np.ndarray:
    """The sample instants ``k·Δt``, ``k = 0 … steps`` (s), at which SPICE and the twins are compared."""
    return np.arange(steps + 1) * dt_s
