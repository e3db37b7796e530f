"""Resistive crossbar arrays: a real matrix mapped onto device conductances, written as netlist lines.

Mapping (the *differential scheme*)
    A signed matrix ``A`` (shape R×C) becomes two arrays of devices with the same layout::

        G⁺[i, j] = G_min + g_unit · max(A[i, j], 0)
        G⁻[i, j] = G_min + g_unit · max(−A[i, j], 0)

    Column ``j`` of the G⁺ array is driven by the voltage ``v_j``, column ``j`` of the G⁻ array by the
    inverted voltage ``−v_j`` (an inverting buffer, or a second source). The current into a row line held
    at virtual ground is then ``Σ_j (G⁺ − G⁻)[i, j] · v_j = g_unit · (A v)_i``: the common ``G_min`` of
    the pair cancels, so devices never need to reach zero conductance. ``g_unit`` (S per unit of matrix
    entry) defaults to the largest value that fits the device window, ``(G_max − G_min) / max|A|``.

Non-idealities (all optional, all seeded)
    * quantization to ``levels`` evenly spaced conductances in [G_min, G_max] (programming resolution);
    * device-to-device variation: each programmed conductance is multiplied by ``exp(σ·z)``,
      ``z ~ N(0, 1)`` (lognormal, applied after quantization: a write lands near, not on, its level);
    * wire resistance ``r_wire_ohm`` per segment between adjacent cells of every row and column line
      (and between each line's driver/sense end and its first cell).

The matrix a perturbed array actually applies is :attr:`CrossbarMapping.effective_matrix`
``(G⁺ − G⁻) / g_unit``: digital twins that use it reproduce the circuit exactly (wire resistance aside;
:func:`wire_mvm_currents` solves that case by nodal analysis).

Netlist lines are formatted with vectorized numpy string operations and attached to a PySpice circuit
through ``circuit.raw_spice``: one PySpice element object per device would cost ~12 µs each, which
dominates at 10⁵ devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..errors import ConfigError
from ..spice.netlist import format_floats, validate_name, validate_names


@dataclass(frozen=True)
class DeviceModel:
    """Programmable resistive devices.

    ``g_min_s``/``g_max_s``: conductance window (S); ``levels``: number of programmable conductance
    levels (``None`` = analog, unquantized; 64 = 6 bit); ``sigma``: lognormal σ of device-to-device
    variation (0.05 ≈ 5 %); ``r_wire_ohm``: wire resistance per line segment (Ω, 0 = ideal wires).
    """

    g_min_s: float = 1e-6
    g_max_s: float = 100e-6
    levels: int | None = None
    sigma: float = 0.0
    r_wire_ohm: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.g_min_s) and self.g_min_s > 0):
            raise ConfigError(f"g_min_s must be a finite conductance > 0 S, got {self.g_min_s}")
        if not (np.isfinite(self.g_max_s) and self.g_max_s > self.g_min_s):
            raise ConfigError(f"g_max_s must be finite and > g_min_s = {self.g_min_s:g} S, got {self.g_max_s}")
        if self.levels is not None and (isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer))
                                        or self.levels < 2):
            raise ConfigError(f"levels must be an integer ≥ 2 (or None for unquantized devices), got {self.levels!r}")
        if not (np.isfinite(self.sigma) and 0.0 <= self.sigma <= 1.0):
            raise ConfigError(f"sigma (lognormal device variation) must be in [0, 1], got {self.sigma}")
        if not (np.isfinite(self.r_wire_ohm) and self.r_wire_ohm >= 0.0):
            raise ConfigError(f"r_wire_ohm must be a finite resistance ≥ 0 Ω, got {self.r_wire_ohm}")

    @property
    def ideal(self) -> bool:
        """True when the devices reproduce the target matrix exactly (no quantization/variation/wires)."""
        return self.levels is None and self.sigma == 0.0 and self.r_wire_ohm == 0.0


@dataclass(frozen=True)
class CrossbarMapping:
    """A matrix programmed into a differential pair of arrays (see the module docstring).

    ``g_pos``/``g_neg``: device conductances (S), same shape as ``matrix``; ``g_unit_s``: S per unit entry.
    """

    matrix: np.ndarray
    g_pos: np.ndarray
    g_neg: np.ndarray
    g_unit_s: float
    device: DeviceModel = field(default_factory=DeviceModel)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape  # type: ignore[return-value]

    @property
    def effective_matrix(self) -> np.ndarray:
        """The matrix the programmed (quantized, varied) devices apply: ``(G⁺ − G⁻) / g_unit``."""
        return (self.g_pos - self.g_neg) / self.g_unit_s

    @property
    def row_conductance_s(self) -> np.ndarray:
        """Total device conductance on each row line, ``Σ_j (G⁺ + G⁻)`` (S): loads the row's summing node."""
        return (self.g_pos + self.g_neg).sum(axis=1)

    @property
    def column_conductance_s(self) -> np.ndarray:
        """Total device conductance on each column line (S): loads a column used as a summing node."""
        return (self.g_pos + self.g_neg).sum(axis=0)

    @property
    def device_count(self) -> int:
        return 2 * self.matrix.size


def check_finite_matrix(matrix: np.ndarray, name: str = "matrix") -> np.ndarray:
    """``matrix`` as a float64 2-D array; raises :class:`ConfigError` naming the first non-finite entry."""
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ConfigError(f"{name} must be a non-empty 2-D array, got shape {a.shape}")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        i, j = bad[0]
        raise ConfigError(f"{name} has a non-finite entry {a[i, j]} at ({i}, {j}); crossbars hold finite values only")
    return a


def map_matrix(
    matrix: np.ndarray,
    device: DeviceModel = DeviceModel(),
    *,
    g_unit_s: float | None = None,
    seed: int | np.random.Generator | None = None,
) -> CrossbarMapping:
    """Program ``matrix`` into a differential pair of arrays.

    ``g_unit_s`` (S per unit entry) defaults to ``(G_max − G_min) / max|A|``; an explicit value must keep
    every device inside the window. ``seed`` drives the device variation (ignored when ``sigma = 0``).
    """
    a = check_finite_matrix(matrix)
    span = device.g_max_s - device.g_min_s
    peak = float(np.abs(a).max())
    if peak == 0.0:
        raise ConfigError("matrix is all zeros: nothing to program (and nothing to solve)")
    if g_unit_s is None:
        g_unit_s = span / peak
    elif not (np.isfinite(g_unit_s) and 0 < g_unit_s * peak <= span * (1 + 1e-12)):
        raise ConfigError(
            f"g_unit_s = {g_unit_s:g} S maps max|A| = {peak:g} to {g_unit_s * peak:g} S above G_min, outside the "
            f"device window span G_max − G_min = {span:g} S; choose g_unit_s ≤ {span / peak:g}"
        )
    g_pos = device.g_min_s + g_unit_s * np.maximum(a, 0.0)
    g_neg = device.g_min_s + g_unit_s * np.maximum(-a, 0.0)
    if device.levels is not None:
        step = span / (device.levels - 1)
        g_pos = device.g_min_s + np.round((g_pos - device.g_min_s) / step) * step
        g_neg = device.g_min_s + np.round((g_neg - device.g_min_s) / step) * step
    if device.sigma > 0.0:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        z = rng.standard_normal((2, *a.shape))
        g_pos = g_pos * np.exp(device.sigma * z[0])
        g_neg = g_neg * np.exp(device.sigma * z[1])
    return CrossbarMapping(matrix=a, g_pos=g_pos, g_neg=g_neg, g_unit_s=float(g_unit_s), device=device)


def _join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of numpy object arrays and plain strings (broadcast)."""
    out = np.asarray(parts[0], dtype=object)
    for p in parts[1:]:
        out = out + (p if isinstance(p, str) else np.asarray(p, dtype=object))
    return out


def format_array(
    prefix: str,
    conductance_s: np.ndarray,
    sense_nodes: Sequence[str],
    drive_nodes: Sequence[str],
    r_wire_ohm: float = 0.0,
) -> str:
    """Netlist lines for one array: device ``[i, j]`` joins drive line ``j`` to sense line ``i``.

    With ``r_wire_ohm > 0`` every line is a chain of segments: sense line ``i`` runs from its sense node
    through cells ``j = 0, 1, …`` and drive line ``j`` from its driver through cells ``i = 0, 1, …``;
    internal nodes are named ``{prefix}_s{i}_{j}`` and ``{prefix}_d{j}_{i}``.
    """
    validate_name(prefix, "element prefix")
    g = np.asarray(conductance_s, dtype=np.float64)
    rows, cols = g.shape
    if len(sense_nodes) != rows or len(drive_nodes) != cols:
        raise ConfigError(f"array {prefix}: {g.shape} conductances need {rows} sense and {cols} drive nodes, "
                          f"got {len(sense_nodes)} and {len(drive_nodes)}")
    if np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ConfigError(f"array {prefix}: every conductance must be finite and > 0 S")
    validate_names([*sense_nodes, *drive_nodes], "node")
    if r_wire_ohm == 0.0:
        # One template for the whole array, each row joined in C ("R{p}_{i}_{j} {drive j} {sense i} %s"),
        # then every value dropped in by one % pass: a Python loop over rows, not over devices.
        mids = [f"{j} {d}" for j, d in enumerate(drive_nodes)]
        template = []
        for i, s in enumerate(sense_nodes):
            head, tail = f"R{prefix}_{i}_", f" {s} %s\n"
            template.append(head + (tail + head).join(mids) + tail)
        return "".join(template) % tuple(format_floats(1.0 / g))
    i_idx, j_idx = np.indices((rows, cols))
    si, sj = i_idx.ravel().astype(str).astype(object), j_idx.ravel().astype(str).astype(object)
    names = _join(f"R{prefix}_", si, "_", sj)
    sense = _join(f"{prefix}_s", si, "_", sj)
    drive = _join(f"{prefix}_d", sj, "_", si)
    devices = _join(names, " ", drive, " ", sense, " ", np.asarray(format_floats(1.0 / g), dtype=object))
    rw = repr(float(r_wire_ohm))
    # Sense line i: sense_node(i) — s{i}_0 — s{i}_1 — … ; drive line j: drive_node(j) — d{j}_0 — d{j}_1 — …
    s_grid = sense.reshape(rows, cols)
    d_grid = drive.reshape(rows, cols)  # [i, j] → node of drive line j at row i
    s_prev = np.concatenate([np.asarray(sense_nodes, dtype=object)[:, None], s_grid[:, :-1]], axis=1)
    d_prev = np.concatenate([np.asarray(drive_nodes, dtype=object)[None, :], d_grid[:-1, :]], axis=0)
    s_wires = _join(f"R{prefix}_ws", si, "_", sj, " ", s_prev.ravel(), " ", s_grid.ravel(), " " + rw)
    d_wires = _join(f"R{prefix}_wd", sj, "_", si, " ", d_prev.ravel(), " ", d_grid.ravel(), " " + rw)
    return "\n".join([*devices.tolist(), *s_wires.tolist(), *d_wires.tolist()]) + "\n"


def format_differential(
    prefix: str,
    mapping: CrossbarMapping,
    sense_nodes: Sequence[str],
    drive_pos: Sequence[str],
    drive_neg: Sequence[str],
    *,
    transpose: bool = False,
) -> str:
    """Both arrays of ``mapping``: G⁺ driven from ``drive_pos``, G⁻ from ``drive_neg`` (the inverted drive).

    ``transpose=True`` senses on the matrix's columns and drives its rows (the same devices read as Aᵀ).
    Swapping ``drive_pos`` and ``drive_neg`` negates the applied matrix.
    """
    gp, gn = (mapping.g_pos.T, mapping.g_neg.T) if transpose else (mapping.g_pos, mapping.g_neg)
    r = mapping.device.r_wire_ohm
    return (format_array(f"{prefix}p", gp, sense_nodes, drive_pos, r)
            + format_array(f"{prefix}n", gn, sense_nodes, drive_neg, r))


def add_differential(circuit: Circuit, prefix: str, mapping: CrossbarMapping, sense_nodes: Sequence[str],
                     drive_pos: Sequence[str], drive_neg: Sequence[str], *, transpose: bool = False) -> int:
    """Attach :func:`format_differential`'s lines to ``circuit``; returns the number of elements added."""
    text = format_differential(prefix, mapping, sense_nodes, drive_pos, drive_neg, transpose=transpose)
    circuit.raw_spice += text
    return text.count("\n")


def wire_mvm_currents(mapping: CrossbarMapping, drive_v: np.ndarray) -> np.ndarray:
    """Exact sense-line currents (A) of the differential pair with wire resistance, sense lines at 0 V.

    Nodal analysis of every cell node (scipy sparse LU): the digital twin of :func:`format_differential`
    with ``r_wire_ohm > 0`` when G⁺ is driven by ``drive_v`` and G⁻ by ``−drive_v`` (ideal drivers,
    ideal virtual grounds). With zero wire resistance this is ``g_unit · A_eff · drive_v``.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    v = np.asarray(drive_v, dtype=np.float64)
    r = mapping.device.r_wire_ohm
    if r == 0.0:
        return (mapping.g_pos - mapping.g_neg) @ v
    total = np.zeros(mapping.shape[0])
    for g, drive in ((mapping.g_pos, v), (mapping.g_neg, -v)):
        rows, cols = g.shape
        gw = 1.0 / r
        ns = rows * cols  # unknowns: sense nodes s[i, j] then drive nodes d[i, j]
        s_id = np.arange(ns).reshape(rows, cols)
        d_id = ns + s_id
        diag = np.zeros(2 * ns)
        rhs = np.zeros(2 * ns)
        off_r: list[np.ndarray] = []
        off_c: list[np.ndarray] = []
        off_v: list[np.ndarray] = []

        def couple(a: np.ndarray, b: np.ndarray, gab: np.ndarray | float) -> None:
            gab = np.broadcast_to(gab, a.shape).ravel()
            np.add.at(diag, a.ravel(), gab)
            np.add.at(diag, b.ravel(), gab)
            off_r.extend([a.ravel(), b.ravel()])
            off_c.extend([b.ravel(), a.ravel()])
            off_v.extend([-gab, -gab])

        couple(s_id, d_id, g)                                  # devices
        couple(s_id[:, :-1], s_id[:, 1:], gw)                  # sense-line segments
        couple(d_id[:-1, :], d_id[1:, :], gw)                  # drive-line segments
        diag[s_id[:, 0]] += gw                                 # sense end at 0 V
        diag[d_id[0, :]] += gw                                 # driver end at drive voltage
        rhs[d_id[0, :]] += gw * drive
        matrix = sp.csc_matrix((np.concatenate(off_v), (np.concatenate(off_r), np.concatenate(off_c))),
                               shape=(2 * ns, 2 * ns)) + sp.diags(diag)
        nodes = spla.spsolve(matrix, rhs)
        total += gw * nodes[s_id[:, 0]]  # current flowing from the first cell into the sense node
    return total
