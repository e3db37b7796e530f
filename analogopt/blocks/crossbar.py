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
    * wire resistance (IR drop, :class:`Wires`): a resistance per segment between adjacent cells of every
      row line and every column line (and between each line's end and its first cell), a driver output
      resistance between each drive source and its line, and a sense resistance between each sense line
      and the virtual ground it feeds.

The matrix a perturbed array actually applies is :attr:`CrossbarMapping.effective_matrix`
``(G⁺ − G⁻) / g_unit``: digital twins that use it reproduce the circuit exactly (wire resistance aside;
:func:`wire_mvm_currents` solves that case exactly by nodal analysis, the IR-drop theory).

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


def _check_resistance(name: str, r: object) -> None:
    if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not (np.isfinite(r) and r >= 0):
        raise ConfigError(f"{name} must be a finite resistance ≥ 0 Ω, got {r!r}")


@dataclass(frozen=True)
class Wires:
    """The line resistances of one array as it is read (Ω; 0 = ideal).

    ``sense_segment_ohm``/``drive_segment_ohm``: per segment of each sense/drive line (one segment per
    cell, the first from the line's end); ``sense_ohm``: between each sense line's end and the virtual
    ground it feeds; ``driver_ohm``: between each drive source's output and its line.
    """

    sense_segment_ohm: float = 0.0
    drive_segment_ohm: float = 0.0
    sense_ohm: float = 0.0
    driver_ohm: float = 0.0

    def __post_init__(self) -> None:
        for name in ("sense_segment_ohm", "drive_segment_ohm", "sense_ohm", "driver_ohm"):
            _check_resistance(name, getattr(self, name))

    @property
    def ideal(self) -> bool:
        return not (self.sense_segment_ohm or self.drive_segment_ohm or self.sense_ohm or self.driver_ohm)


@dataclass(frozen=True)
class DeviceModel:
    """Programmable resistive devices and the wires around them.

    ``g_min_s``/``g_max_s``: conductance window (S); ``levels``: number of programmable conductance
    levels (``None`` = analog, unquantized; 64 = 6 bit); ``sigma``: lognormal σ of device-to-device
    variation (0.05 ≈ 5 %).

    Wires (Ω, 0 = ideal; physical ranges about 0.1–10 Ω per segment, 1–1000 Ω at the line ends):
    ``r_row_ohm``/``r_col_ohm``: per segment of each row/column line of the matrix (rows are the sense
    lines of an MVM, columns the drive lines); ``r_wire_ohm``: both kinds at once, used for a kind whose
    own value is ``None`` (give one or the others, not both); ``r_driver_ohm``: output resistance of each
    line's driver; ``r_sense_ohm``: between each sense line and its amplifier's virtual ground.
    """

    g_min_s: float = 1e-6
    g_max_s: float = 100e-6
    levels: int | None = None
    sigma: float = 0.0
    r_wire_ohm: float = 0.0
    r_row_ohm: float | None = None
    r_col_ohm: float | None = None
    r_driver_ohm: float = 0.0
    r_sense_ohm: float = 0.0

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
        for name in ("r_wire_ohm", "r_row_ohm", "r_col_ohm", "r_driver_ohm", "r_sense_ohm"):
            r = getattr(self, name)
            if r is not None or name not in ("r_row_ohm", "r_col_ohm"):  # None: r_wire_ohm stands in
                _check_resistance(name, r)
        if self.r_wire_ohm and (self.r_row_ohm is not None or self.r_col_ohm is not None):
            raise ConfigError(f"r_wire_ohm = {self.r_wire_ohm:g} Ω sets both row and column segments; give it or "
                              "r_row_ohm/r_col_ohm, not both")

    @property
    def row_segment_ohm(self) -> float:
        """Resistance of one segment of a row line (Ω)."""
        return float(self.r_wire_ohm if self.r_row_ohm is None else self.r_row_ohm)

    @property
    def col_segment_ohm(self) -> float:
        """Resistance of one segment of a column line (Ω)."""
        return float(self.r_wire_ohm if self.r_col_ohm is None else self.r_col_ohm)

    def wires(self, *, transpose: bool = False) -> Wires:
        """The lines' resistances as read: sense on the rows and drive the columns, or (``transpose``)
        the other way round; the segments stay with the physical lines, the end resistances with the
        periphery (drivers and amplifiers)."""
        rows, cols = self.row_segment_ohm, self.col_segment_ohm
        sense, drive = (cols, rows) if transpose else (rows, cols)
        return Wires(sense_segment_ohm=sense, drive_segment_ohm=drive, sense_ohm=float(self.r_sense_ohm),
                     driver_ohm=float(self.r_driver_ohm))

    @property
    def ideal(self) -> bool:
        """True when the devices reproduce the target matrix exactly (no quantization/variation/wires)."""
        return self.levels is None and self.sigma == 0.0 and self.wires().ideal


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


def format_array(
    prefix: str,
    conductance_s: np.ndarray,
    sense_nodes: Sequence[str],
    drive_nodes: Sequence[str],
    r_wire_ohm: float = 0.0,
    *,
    wires: Wires | None = None,
) -> str:
    """Netlist lines for one array: device ``[i, j]`` joins drive line ``j`` to sense line ``i``.

    ``wires`` (:class:`Wires`) gives the line resistances; ``r_wire_ohm`` is the shorthand for equal
    sense and drive segments and nothing at the line ends. With a segment resistance every line of that
    kind is a chain: sense line ``i`` runs from its end through cells ``j = 0, 1, …`` (nodes
    ``{prefix}_s{i}_{j}``), drive line ``j`` through cells ``i = 0, 1, …`` (``{prefix}_d{j}_{i}``). A sense
    resistance puts node ``{prefix}_se{i}`` between line ``i`` and ``sense_nodes[i]``, a driver resistance
    node ``{prefix}_de{j}`` between ``drive_nodes[j]`` and line ``j``.
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
    if wires is None:
        wires = Wires(r_wire_ohm, r_wire_ohm)
    elif r_wire_ohm:
        raise ConfigError(f"array {prefix}: give r_wire_ohm or wires, not both")
    sense_end, sense_lines = _line_ends(f"R{prefix}_rs_", f"{prefix}_se", sense_nodes, wires.sense_ohm)
    drive_end, drive_lines = _line_ends(f"R{prefix}_rd_", f"{prefix}_de", drive_nodes, wires.driver_ohm)
    rs, rd = float(wires.sense_segment_ohm), float(wires.drive_segment_ohm)
    # Sense line i: its end — s{i}_0 — s{i}_1 — … ; drive line j: its end — d{j}_0 — d{j}_1 — …
    # A line without segment resistance is one node, its end, at every cell. Each kind of line is one
    # template of a row, written once, in which {I} is the row, {S} its sense end and {P} the row before;
    # str.replace makes each row from it and one % pass drops in every device value (validated names hold
    # neither braces nor %): Python works per row and per column, C per device.
    p, cells = prefix, range(cols)
    drive_at = [f"{p}_d{j}_{{I}}" if rd else drive_end[j] for j in cells]  # device [I, j]'s drive node
    sense_at = [f"{p}_s{{I}}_{j}" if rs else "{S}" for j in cells]  # and its sense node
    devices = "".join(f"R{p}_{{I}}_{j} {drive_at[j]} {sense_at[j]} %s\n" for j in cells)
    sense_wires = first_drive_wires = drive_wires = ""
    if rs:
        sense_wires = "".join(f"R{p}_ws_{{I}}_{j} {sense_at[j - 1] if j else '{S}'} {sense_at[j]} {rs!r}\n"
                              for j in cells)
    if rd:
        first_drive_wires = "".join(f"R{p}_wd_{j}_{{I}} {drive_end[j]} {drive_at[j]} {rd!r}\n" for j in cells)
        drive_wires = "".join(f"R{p}_wd_{j}_{{I}} {p}_d{j}_{{P}} {drive_at[j]} {rd!r}\n" for j in cells)

    def row(template: str, i: int, token: str = "", value: str = "") -> str:  # {I} and one more token
        text = template.replace("{I}", str(i))
        return text.replace(token, value) if token else text

    text = "".join(row(devices, i, *(() if rs else ("{S}", sense_end[i]))) for i in range(rows))
    text %= tuple(format_floats(1.0 / g))
    if rs:
        text += "".join(row(sense_wires, i, "{S}", sense_end[i]) for i in range(rows))
    if rd:
        text += first_drive_wires.replace("{I}", "0") + "".join(
            row(drive_wires, i, "{P}", str(i - 1)) for i in range(1, rows))
    return text + "".join(sense_lines + drive_lines)


def _line_ends(name: str, node: str, outer: Sequence[str], r_ohm: float) -> tuple[list[str], list[str]]:
    """The nodes where the lines end and, with ``r_ohm > 0``, the resistors ``{name}{k}`` that join each
    new end node ``{node}{k}`` to ``outer[k]`` (the drive source or the virtual ground)."""
    if not r_ohm:
        return list(outer), []
    ends = [f"{node}{k}" for k in range(len(outer))]
    return ends, [f"{name}{k} {o} {e} {float(r_ohm)!r}\n" for k, (o, e) in enumerate(zip(outer, ends))]


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
    Swapping ``drive_pos`` and ``drive_neg`` negates the applied matrix. Each array has its own lines,
    drivers and sense resistances (``mapping.device.wires``); both arrays' lines meet at ``sense_nodes``.
    """
    gp, gn = (mapping.g_pos.T, mapping.g_neg.T) if transpose else (mapping.g_pos, mapping.g_neg)
    w = mapping.device.wires(transpose=transpose)
    return (format_array(f"{prefix}p", gp, sense_nodes, drive_pos, wires=w)
            + format_array(f"{prefix}n", gn, sense_nodes, drive_neg, wires=w))


def add_differential(circuit: Circuit, prefix: str, mapping: CrossbarMapping, sense_nodes: Sequence[str],
                     drive_pos: Sequence[str], drive_neg: Sequence[str], *, transpose: bool = False) -> int:
    """Attach :func:`format_differential`'s lines to ``circuit``; returns the number of elements added."""
    text = format_differential(prefix, mapping, sense_nodes, drive_pos, drive_neg, transpose=transpose)
    circuit.raw_spice += text
    return text.count("\n")


def _array_edges(g: np.ndarray, wires: Wires, vg: np.ndarray, drive: np.ndarray,
                 first: int) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray | float]], int]:
    """The conductances (node a, node b, S) of one array as :func:`format_array` builds it.

    ``vg``/``drive``: ids of the known nodes (virtual grounds of the sense lines, drive sources); the
    array's own nodes get ids ``first, first + 1, …``; returns the edges and the next free id.
    """
    rows, cols = g.shape
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray | float]] = []
    next_id = first

    def new(shape: tuple[int, ...]) -> np.ndarray:
        nonlocal next_id
        ids = next_id + np.arange(int(np.prod(shape))).reshape(shape)
        next_id += ids.size
        return ids

    s_end, d_end = vg, drive
    if wires.sense_ohm:
        s_end = new((rows,))
        edges.append((s_end, vg, 1.0 / wires.sense_ohm))
    if wires.driver_ohm:
        d_end = new((cols,))
        edges.append((drive, d_end, 1.0 / wires.driver_ohm))
    s = np.broadcast_to(s_end[:, None], (rows, cols))
    if wires.sense_segment_ohm:
        s = new((rows, cols))
        chain = np.concatenate([s_end[:, None], s], axis=1)
        edges.append((chain[:, :-1], chain[:, 1:], 1.0 / wires.sense_segment_ohm))
    d = np.broadcast_to(d_end[None, :], (rows, cols))
    if wires.drive_segment_ohm:
        d = new((rows, cols))
        chain = np.concatenate([d_end[None, :], d], axis=0)
        edges.append((chain[:-1, :], chain[1:, :], 1.0 / wires.drive_segment_ohm))
    edges.append((d, s, g))
    return edges, next_id


def wire_mvm_currents(mapping: CrossbarMapping, drive_v: np.ndarray, *,
                      sense_shunt_s: float | None = None) -> np.ndarray:
    """Exact sense-line currents (A) of the differential pair with its wires: the IR-drop theory.

    G⁺ is driven by ``drive_v`` (V) and G⁻ by ``−drive_v`` through their drivers' output resistance, and
    each sense line ends at its sense node through the sense resistance, both arrays as
    :func:`format_differential` builds them (``transpose=False``). The sense nodes are ideal virtual
    grounds (0 V), or, with ``sense_shunt_s``, nodes with that conductance to ground (S): a virtual
    ground of finite gain, ``(1 + A0)·g_f`` for an amplifier of gain A0 with feedback conductance g_f.

    Nodal analysis of both arrays in one sparse system, solved by sparse LU: known nodes (drive sources,
    ideal virtual grounds) are eliminated, ``L_uu·v_u = −L_uk·v_k``, and the current into each sense node
    is read off the Laplacian. With ideal wires and virtual grounds this is
    ``(G⁺ − G⁻)·drive_v = g_unit · A_eff · drive_v``.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rows, cols = mapping.shape
    v = np.asarray(drive_v, dtype=np.float64)
    if v.shape != (cols,) or not np.all(np.isfinite(v)):
        raise ConfigError(f"drive_v must hold {cols} finite voltages, got shape {v.shape}")
    if sense_shunt_s is not None and not (np.isfinite(sense_shunt_s) and sense_shunt_s > 0):
        raise ConfigError(f"sense_shunt_s must be a finite conductance > 0 S (or None), got {sense_shunt_s}")
    wires = mapping.device.wires()
    if wires.ideal and sense_shunt_s is None:
        return (mapping.g_pos - mapping.g_neg) @ v
    # Known nodes get negative ids: the G⁺ drive sources −1…−cols, the G⁻ ones, then the ideal virtual
    # grounds or the ground the shunts return to.
    d_pos, d_neg = -1 - np.arange(cols), -1 - cols - np.arange(cols)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray | float]] = []
    if sense_shunt_s is None:
        sense, n, known_v = -1 - 2 * cols - np.arange(rows), 0, np.concatenate([v, -v, np.zeros(rows)])
    else:
        sense, n, known_v = np.arange(rows), rows, np.concatenate([v, -v, [0.0]])
        edges.append((sense, np.full(rows, -1 - 2 * cols), float(sense_shunt_s)))
    for g, drive in ((mapping.g_pos, d_pos), (mapping.g_neg, d_neg)):
        more, n = _array_edges(g, wires, sense, drive, n)
        edges += more
    a = np.concatenate([np.broadcast_to(e[0], np.shape(e[1])).ravel() for e in edges])
    b = np.concatenate([np.asarray(e[1]).ravel() for e in edges])
    gab = np.concatenate([np.broadcast_to(e[2], np.shape(e[1])).ravel() for e in edges])
    a, b = np.where(a < 0, n - 1 - a, a), np.where(b < 0, n - 1 - b, b)  # known nodes after the unknown ones
    size = n + known_v.size
    laplacian = sp.coo_matrix((np.concatenate([gab, gab, -gab, -gab]),
                               (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                              shape=(size, size)).tocsr()
    upper = laplacian[:n]
    # The Laplacian is symmetric positive definite: symmetric-mode pivoting on a minimum-degree ordering
    # of A + Aᵀ factors it ~20 % faster than the default column ordering at 256 × 256.
    lu = spla.splu(upper[:, :n].tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    v_u = lu.solve(-(upper[:, n:] @ known_v))
    if sense_shunt_s is not None:
        return sense_shunt_s * v_u[:rows]
    lower = laplacian[n + 2 * cols:]  # the virtual grounds' rows
    # current into each virtual ground from the network = −(L·v) on its row
    return -(lower[:, :n] @ v_u + lower[:, n:] @ known_v)
