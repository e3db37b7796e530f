"""Modified nodal analysis of a flat linear circuit (:class:`.native_parse.Netlist`) at DC.

Unknowns: every node voltage but ground's, then the branch current of every V, E and L (an inductor
is a 0 V branch at DC, a capacitor is open), with ngspice's signs: a branch current flows from the
element's n+ terminal through it to n-. The matrix is stamped by one ``coo_matrix`` build.

Two ways to solve, chosen by :func:`solve_method`:

``direct``
    Sparse LU (SuperLU, ``scipy.sparse.linalg.splu``) of the whole MNA matrix; every right-hand side
    (the operating point, and two per ``.dc`` sweep: a linear circuit's sweep is the sum of its
    solution with the source at 0 and the source's own response times the swept value) in one solve.
``iterative``
    For large resistive networks, whose LU fills in (a crossbar with wire resistance has 2·N² nodes;
    ``bench/crossbar_scale.py --kinds grid`` times both). Every voltage-defined branch fixes one node
    ("driven" node: n+, or n- where n+ is ground), so the branch equations give the driven voltages from
    the free ones, and each driven node's KCL gives its branch current; what is left is KCL at the free
    nodes, the conductance matrix of the resistive network (symmetric positive definite where op-amps
    and sources sit only at its edges). That system is solved by CG, preconditioned by exact solves
    along the network's strong chains (each node's two strongest links, laid end to end as one
    tridiagonal matrix: the wire lines of a crossbar), with a smoothed-aggregation AMG cycle (pyamg)
    added where chains carry less than :data:`CHAIN_COVERAGE` of the link conductance (on the N = 1024
    grid chain solves alone took 49 iterations, as its ``native.out`` reports; adding SA-AMG halved the
    iterations but its setup cost more than they saved). The solver runs to the relative residual :data:`ITERATIVE_RTOL` and an answer above
    :data:`ITERATIVE_ACCEPT` is an error (``auto``: LU takes over), never a result; the whole MNA
    system's residual is checked again. A reduced system that is not symmetric (controlled sources
    inside the network) is left to LU unless the iterative method is forced, which uses GMRES.

A node with no DC path to ground, a loop of voltage-defined branches, or a controlled-source loop
with no unique solution is a :class:`ConvergenceError` naming the node (ngspice's "singular matrix:
check node …"), never a number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from ..errors import ConfigError, ConvergenceError, SimulationError, SimulationTimeoutError
from .native_parse import USE_NGSPICE, Netlist

#: Unknowns from which ``method="auto"`` solves iteratively (where the system allows it): on the wire
#: grid of ``bench/crossbar_scale.py --kinds grid``, run with ``NativeRunner(method="direct")`` and
#: ``method="iterative"``, LU and CG broke even near N = 128 (33 024 unknowns) and CG took under half
#: of LU's time at N = 256 (131 584).
ITERATIVE_MIN_UNKNOWNS = 100_000
#: Relative residual (2-norm) the iterative solver runs to on the reduced KCL system, and the largest
#: it accepts (machine precision may stop it short of the first): at 1e-13, sense currents of a
#: 256×256 wire grid differed from ngspice's by 8e-10 of their size; at 1e-15 by 5e-11, as LU's do.
ITERATIVE_RTOL = 1e-15
ITERATIVE_ACCEPT = 1e-13
#: Share of the reduced system's off-diagonal conductance that its strong chains must carry for chain
#: solves alone to precondition it (a crossbar's wires carry > 99 %); below it, smoothed-aggregation AMG
#: is added (an isotropic mesh: chains hold half of its links).
CHAIN_COVERAGE = 0.9
#: Largest relative residual of the whole MNA system accepted from either method: the normwise
#: backward error ‖Ax − b‖∞ / (‖A‖∞·‖x‖∞ + ‖b‖∞); LU with pivoting leaves ~1e-16.
MAX_BACKWARD_ERROR = 1e-10
METHODS = ("auto", "direct", "iterative")


@dataclass
class Solution:
    """Node voltages (points × nodes, ground's column included, in V) and branch currents (points ×
    branches per letter, in A) for each analysis; how it was solved."""

    voltages: list[np.ndarray]
    currents: list[dict[str, np.ndarray]]
    axes: list[np.ndarray]
    method: str
    detail: str
    backward_error: float


class Deadline:
    """Raises :class:`SimulationTimeoutError` when ``check`` is called after ``at`` (``time.perf_counter``)."""

    def __init__(self, at: float | None, limit_s: float) -> None:
        self.at, self.limit_s = at, limit_s

    def check(self, doing: str) -> None:
        if self.at is not None and time.perf_counter() > self.at:
            raise SimulationTimeoutError(
                f"the native simulator exceeded {self.limit_s:g} s while {doing}; reduce the circuit or raise "
                "the timeout (--timeout)", returncode=None)


# ------------------------------------------------------------------------------------------ the system
@dataclass
class _System:
    a: sp.csr_matrix
    n: int                      # node unknowns (ground excluded)
    branch: dict[str, slice]    # letter → its branch currents' unknowns
    netlist: Netlist


def _branches(netlist: Netlist) -> dict[str, slice]:
    n = len(netlist.node_names) - 1
    out, k = {}, n
    for letter in "vel":
        el = netlist.elements.get(letter)
        count = 0 if el is None else el.count
        out[letter] = slice(k, k + count)
        k += count
    return out


def assemble(netlist: Netlist) -> _System:
    """The MNA matrix, stamped from every element at once."""
    n = len(netlist.node_names) - 1
    branch = _branches(netlist)
    size = branch["l"].stop
    rows, cols, vals = [], [], []

    def stamp(r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        rows.append(r)
        cols.append(c)
        vals.append(v)

    el = netlist.elements
    if "r" in el:
        a, b = el["r"].nodes.T - 1
        g = 1.0 / el["r"].values
        for r, c, v in ((a, a, g), (b, b, g), (a, b, -g), (b, a, -g)):
            stamp(r, c, v)
    if "g" in el:
        p, q, cp, cq = el["g"].nodes.T - 1
        gm = el["g"].values
        for r, c, v in ((p, cp, gm), (p, cq, -gm), (q, cp, -gm), (q, cq, gm)):
            stamp(r, c, v)
    for letter in "vel":
        if letter not in el:
            continue
        e = el[letter]
        j = np.arange(branch[letter].start, branch[letter].stop)
        p, q = e.nodes[:, 0] - 1, e.nodes[:, 1] - 1
        one = np.ones(e.count)
        for r, c, v in ((p, j, one), (q, j, -one), (j, p, one), (j, q, -one)):
            stamp(r, c, v)
        if letter == "e":
            cp, cq = e.nodes[:, 2] - 1, e.nodes[:, 3] - 1
            stamp(j, cp, -e.values)
            stamp(j, cq, e.values)
    r, c, v = (np.concatenate(x) if x else np.zeros(0, dtype=t) for x, t in ((rows, int), (cols, int), (vals, float)))
    keep = (r >= 0) & (c >= 0)  # ground's row and column are not unknowns
    a = sp.coo_matrix((v[keep], (r[keep], c[keep])), shape=(size, size)).tocsr()
    return _System(a, n, branch, netlist)


def _source_columns(system: _System) -> tuple[np.ndarray, list[tuple[int, int, float, np.ndarray]]]:
    """Right-hand sides: column 0 with every source at its DC value, and per ``.dc`` sweep the column
    with the swept source at 0 and the source's unit column. Returns them and, per analysis, (base
    column, unit column, or -1 each for an operating point) with the sweep's values."""
    netlist, size = system.netlist, system.a.shape[0]
    el = netlist.elements

    def column(skip: tuple[str, int] | None = None, unit: tuple[str, int] | None = None) -> np.ndarray:
        def values(kind: str) -> np.ndarray:
            """The sources of ``kind`` at their DC values, or all 0 but the unit one; the skipped one 0."""
            out = el[kind].values.copy() if unit is None else np.zeros(el[kind].count)
            if skip is not None and skip[0] == kind:
                out[skip[1]] = 0.0
            if unit is not None and unit[0] == kind:
                out[unit[1]] = 1.0
            return out

        b = np.zeros(size + 1)  # the last entry collects ground's rows (index -1) and is dropped
        if "v" in el:
            b[system.branch["v"]] = values("v")
        if "i" in el:
            values_i = values("i")
            p, q = el["i"].nodes[:, 0] - 1, el["i"].nodes[:, 1] - 1
            # the current leaves n+ through the source into n-: KCL (currents out) moves it to the right
            np.add.at(b, p, -values_i)
            np.add.at(b, q, values_i)
        return b[:size]

    columns = [column()]
    plan = []
    for analysis in netlist.analyses:
        if analysis[0] == "op":
            plan.append((0, -1, np.zeros(1)))
            continue
        _, source, start, stop, step = analysis
        letter = source[0]
        index = el[letter].names.index(source)
        columns.append(column(skip=(letter, index)))
        columns.append(column(unit=(letter, index)))
        plan.append((len(columns) - 2, len(columns) - 1, sweep_values(start, stop, step)))
    return np.stack(columns, axis=1), plan


def sweep_values(start: float, stop: float, step: float) -> np.ndarray:
    """ngspice's DC sweep points: start, then repeated additions of step while within stop (its
    tolerance, 1e3 machine epsilons, absolute)."""
    count = int(np.floor((stop - start) / step + 1e-9)) + 2
    if count < 1:
        return np.array([start])
    values = np.cumsum(np.concatenate([[start], np.full(count, step)]))
    return values[np.sign(step) * (values - stop) <= np.finfo(float).eps * 1e3]


# ------------------------------------------------------------------------------------ singularity
def check_floating(system: _System) -> None:
    """A node whose connected part of the circuit (through every element that carries current: R,
    G's output, V, E's output, L) does not include ground makes the matrix singular: the KCL rows of
    that part sum to zero. Named like ngspice names it."""
    netlist = system.netlist
    edges = [e.nodes[:, :2] for letter, e in netlist.elements.items() if letter in "rgvel" and e.count]
    total = len(netlist.node_names)
    if not edges:
        pairs = np.zeros((0, 2), dtype=np.int64)
    else:
        pairs = np.concatenate(edges)
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(total, total))
    _, label = csgraph.connected_components(graph, directed=False)
    floating = np.flatnonzero(label != label[0])
    if floating.size:
        node = netlist.node_names[floating[0]]
        raise _singular(node, "it has no DC path to ground (only capacitors, current sources, controlling inputs "
                              "or nothing connect it); give it one, e.g. a resistor to ground")


def _singular(node: str, why: str) -> ConvergenceError:
    return ConvergenceError(f"native simulator: singular matrix: check node {node}: {why}", node=node)


def _diagnose(system: _System, x: np.ndarray | None) -> ConvergenceError:
    """Why a factorization failed or an answer is not one: a structurally unmatched unknown (a loop
    of voltage-defined branches), else the unknown with the largest value."""
    matching = csgraph.maximum_bipartite_matching(system.a.tocsr(), perm_type="column")
    unmatched = np.flatnonzero(matching < 0)
    if unmatched.size:
        return _describe(system, int(unmatched[0]), "a loop of voltage sources, VCVS outputs or inductors fixes its "
                                                     "voltage twice (or no element fixes it); break the loop, e.g. "
                                                     "with a series resistor")
    if x is not None and np.all(np.isfinite(x)) and x.size:
        k = int(np.argmax(np.abs(x[: system.n]))) if system.n else 0
    else:
        k = 0
    return _describe(system, k, "the controlled sources around it (E/G gains) leave the circuit without a unique "
                                "solution; check their gains and signs")


def _describe(system: _System, unknown: int, why: str) -> ConvergenceError:
    if unknown < system.n:
        return _singular(system.netlist.node_names[unknown + 1], why)
    for letter, where in system.branch.items():
        if where.start <= unknown < where.stop:
            name = vector_name(letter, system.netlist.elements[letter].names[unknown - where.start])
            return ConvergenceError(f"native simulator: singular matrix: check {name}: {why}", node=None)
    raise AssertionError("unknown index out of range")  # pragma: no cover - every unknown is a node or branch


def vector_name(letter: str, path: str) -> str:
    """ngspice's vector of a branch current: ``i(v1)``, ``i(e.x1.ea)`` inside subcircuits."""
    return f"i({letter}.{path})" if "." in path else f"i({path})"


def _backward_error(a: sp.csr_matrix, x: np.ndarray, b: np.ndarray) -> float:
    residual = np.abs(a @ x - b).max(initial=0.0)
    scale = spla.norm(a, np.inf) * np.abs(x).max(initial=0.0) + np.abs(b).max(initial=0.0)
    return float(residual / scale) if scale > 0 else 0.0


# --------------------------------------------------------------------------------------------- direct
def _direct(system: _System, b: np.ndarray) -> tuple[np.ndarray, str]:
    try:
        lu = spla.splu(system.a.tocsc())
    except RuntimeError:  # "Factor is exactly singular"
        raise _diagnose(system, None) from None
    x = lu.solve(b)
    fill = (lu.L.nnz + lu.U.nnz) / max(system.a.nnz, 1)
    return x, f"sparse LU (SuperLU), fill {fill:.1f}× the matrix"


# ------------------------------------------------------------------------------------------ iterative
class _NotConverged(SimulationError):
    """The iterative solver missed its residual: an error when it was forced, else LU takes over."""


@dataclass
class _Reduced:
    """KCL at the free nodes (``k``), and how the rest follows from the free voltages: the driven
    voltages ``v_D = C_D⁻¹ e + drive_map · v_F`` and the branch currents ``i = B_D⁻¹ (s_D − Y_D v)``."""

    k: sp.csr_matrix        # free × free
    free: np.ndarray        # node unknowns that remain
    driven: np.ndarray      # the node unknown each branch fixes, in branch order
    drive_map: sp.csr_matrix
    w: sp.csr_matrix        # B_F B_D⁻¹: moves driven nodes' KCL (their branch currents) onto free nodes
    kcl: sp.csr_matrix      # (Y_F − W Y_D): the reduced KCL rows on every node voltage
    c_d: object             # LU of C_D
    b_d: object             # LU of B_D


def _driven_nodes(system: _System) -> np.ndarray | None:
    """One node unknown per voltage-defined branch, fixed by it: n+, else n- (where n+ is ground or
    already taken); None when the branches cannot all be given their own node (a loop)."""
    p_all, q_all = [], []
    for letter in "vel":
        e = system.netlist.elements.get(letter)
        if e is not None and e.count:
            p_all.append(e.nodes[:, 0] - 1)
            q_all.append(e.nodes[:, 1] - 1)
    if not p_all:
        return np.zeros(0, dtype=np.int64)
    p, q = np.concatenate(p_all), np.concatenate(q_all)
    driven = np.where(p >= 0, p, q)
    _, first = np.unique(driven, return_index=True)
    again = np.ones(driven.size, dtype=bool)
    again[first] = False
    driven[again] = np.where(q[again] >= 0, q[again], -1)
    if np.any(driven < 0) or np.unique(driven).size != driven.size:
        return None
    return driven


def _solve_sparse(lu, b: sp.spmatrix, trans: str = "N") -> sp.csr_matrix:
    """``a⁻¹ b`` (``trans="T"``: ``a⁻ᵀ b``) for the LU of a small square ``a`` and a sparse ``b`` with
    few non-zero columns (the nodes that controlled sources read, or that branches touch): only those
    columns are solved, densely."""
    b = sp.csc_matrix(b)
    columns = np.flatnonzero(np.diff(b.indptr))
    dense = lu.solve(b[:, columns].toarray(), trans=trans)
    rows, which = np.nonzero(dense)
    return sp.csr_matrix((dense[rows, which], (rows, columns[which])), shape=b.shape)


def _reduce(system: _System) -> _Reduced | None:
    """The reduced system, or None when the voltage-defined branches cannot be eliminated node by node."""
    n, size = system.n, system.a.shape[0]
    driven = _driven_nodes(system)
    if driven is None:
        return None
    a = system.a.tocsr()
    y, b, c = a[:n, :n], a[:n, n:], a[n:, :n]  # conductances and VCCS; branch currents in KCL; branch equations
    is_driven = np.zeros(n, dtype=bool)
    is_driven[driven] = True
    free = np.flatnonzero(~is_driven)
    m = size - n
    try:
        c_d = spla.splu(c[:, driven].tocsc()) if m else None
        b_d = spla.splu(b[driven, :].tocsc()) if m else None
    except RuntimeError:  # the branches' own matrix is singular: left to LU, which names the node
        return None
    if m:
        c_f, b_f = c[:, free].tocsc(), b[free, :].tocsr()
        drive_map = -_solve_sparse(c_d, c_f) if c_f.nnz else sp.csr_matrix((m, free.size))
        w = _solve_sparse(b_d, b_f.T, trans="T").T if b_f.nnz else sp.csr_matrix((free.size, m))
    else:
        drive_map, w = sp.csr_matrix((0, free.size)), sp.csr_matrix((free.size, 0))
    # (sources only at the network's edge leave W and the drive map empty: the products are skipped)
    kcl = (y[free, :] - w @ y[driven, :]).tocsr() if w.nnz else y[free, :].tocsr()
    k = (kcl[:, free] + kcl[:, driven] @ drive_map).tocsr() if drive_map.nnz else kcl[:, free].tocsr()
    k.eliminate_zeros()
    return _Reduced(k, free, driven, sp.csr_matrix(drive_map), sp.csr_matrix(w), kcl, c_d, b_d)


def _strongest(k: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Each row's two largest off-diagonal entries by magnitude: their columns (-1: none) and values,
    in linear time (two passes of a per-row maximum)."""
    n = k.shape[0]
    lengths = np.diff(k.indptr)
    row = np.repeat(np.arange(n), lengths)
    size = np.abs(k.data)
    size[(k.indices == row) | (size == 0)] = -1.0  # the diagonal is no link
    columns, values = np.full((n, 2), -1, dtype=np.int64), np.zeros((n, 2))
    nonempty = lengths > 0
    for slot in range(2):
        peak = np.full(n, -1.0)
        if size.size:
            peak[nonempty] = np.maximum.reduceat(size, k.indptr[:-1][nonempty])
        hit = np.flatnonzero((size == peak[row]) & (size > 0))
        first = hit[np.concatenate([[True], row[hit][1:] != row[hit][:-1]])] if hit.size else hit
        columns[row[first], slot] = k.indices[first]
        values[row[first], slot] = k.data[first]
        size[first] = -1.0
    return columns, values


def _chains(k: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The network's strong chains laid end to end: each link kept that is among the two strongest of
    both of its nodes (so the kept links form paths and cycles; a cycle loses one link). Returns the
    node order, the kept links along it (``upper[i]`` = K[order[i], order[i+1]], ``lower[i]`` the
    transposed entry, 0 between chains) and the share of all off-diagonal magnitude they hold."""
    n = k.shape[0]
    columns, values = _strongest(k)
    node = np.repeat(np.arange(n), 2)
    other = columns.ravel()
    seen = other >= 0
    mutual = np.zeros(node.size, dtype=bool)
    mutual[seen] = (columns[other[seen], 0] == node[seen]) | (columns[other[seen], 1] == node[seen])
    a, b = node[mutual & (node < other)], other[mutual & (node < other)]
    count, label = csgraph.connected_components(
        sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)), directed=False)
    # a component with as many links as nodes is a cycle: cut its first link
    cyclic = np.bincount(label[a], minlength=count) == np.bincount(label, minlength=count)
    cut = np.zeros(a.size, dtype=bool)
    _, first = np.unique(label[a], return_index=True)
    cut[first[cyclic[label[a][first]]]] = True
    a, b = a[~cut], b[~cut]
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    ends = np.flatnonzero(degree <= 1)
    _, pick = np.unique(label[ends], return_index=True)
    roots = ends[pick]
    # a root (index n) joined to one end of every chain: depth first, the chains come out end to end
    graph = sp.coo_matrix((np.ones(a.size + roots.size), (np.concatenate([a, roots]),
                                                          np.concatenate([b, np.full(roots.size, n)]))),
                          shape=(n + 1, n + 1))
    order = csgraph.depth_first_order(graph, n, directed=False, return_predecessors=False)[1:]
    here, after = order[:-1], order[1:]

    def link(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(columns[x, 0] == y, values[x, 0], np.where(columns[x, 1] == y, values[x, 1], 0.0))

    linked = ((columns[here, 0] == after) | (columns[here, 1] == after)) & (
        (columns[after, 0] == here) | (columns[after, 1] == here))
    upper = np.where(linked, link(here, after), 0.0)
    lower = np.where(linked, link(after, here), 0.0)
    total = np.abs(k.data).sum() - np.abs(k.diagonal()).sum()
    coverage = float((np.abs(upper).sum() + np.abs(lower).sum()) / total) if total > 0 else 1.0
    return order, lower, upper, coverage


def _tridiagonal(lower: np.ndarray, diagonal: np.ndarray, upper: np.ndarray, symmetric: bool):
    """A solver for the tridiagonal matrix (LAPACK: LDLᵀ ``pttrf`` when symmetric, else LU ``gttrf``);
    None when it is singular or, symmetric, not positive definite."""
    from scipy.linalg import lapack

    if symmetric:
        d, e, info = lapack.dpttrf(diagonal, upper)
        return None if info != 0 else (lambda rhs: lapack.dpttrs(d, e, rhs)[0])
    dl, d, du, du2, ipiv, info = lapack.dgttrf(lower, diagonal, upper)
    return None if info != 0 else (lambda rhs: lapack.dgttrs(dl, d, du, du2, ipiv, rhs)[0])


def _iterative(system: _System, b: np.ndarray, deadline: Deadline, forced: bool) -> tuple[np.ndarray, str] | None:
    """The iterative solution (see the module docstring), or None where it does not apply: voltage
    branches that cannot be eliminated node by node, or, unless ``forced``, a reduced system that is not
    symmetric (controlled sources inside the network: GMRES with chain solves need not converge there)."""
    import pyamg

    red = _reduce(system)
    if red is None:
        return None
    n, m = system.n, system.a.shape[0] - system.n
    k, driven, free = red.k, red.driven, red.free
    deadline.check("reducing the circuit for the iterative solver")
    symmetric = abs(k - k.T).max() <= 1e-14 * abs(k).max() if k.nnz else True
    if not (symmetric or forced):
        return None
    y_d = system.a.tocsr()[:n, :n][driven, :]
    if free.size:
        # the system in chain order: the chain solves then need no gathering
        order, lower, upper, coverage = _chains(k)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        kc = k.tocoo()
        k = sp.csr_matrix((kc.data, (rank[kc.row], rank[kc.col])), shape=k.shape)
        line = _tridiagonal(lower, k.diagonal(), upper, symmetric)
    else:
        order, line, coverage = np.zeros(0, dtype=np.int64), (lambda r: r), 1.0
    ml = None
    if line is None or coverage < CHAIN_COVERAGE:
        ml = pyamg.smoothed_aggregation_solver(k, symmetry="symmetric" if symmetric else "nonsymmetric",
                                               max_coarse=500)
        cycle = ml.aspreconditioner(cycle="V")
    deadline.check("setting up the preconditioner")

    def precondition(r: np.ndarray) -> np.ndarray:
        if ml is None:
            return line(r)
        if line is None:
            return cycle @ r
        x = line(r)
        x = x + cycle @ (r - k @ x)
        return x + line(r - k @ x)

    m_op = spla.LinearOperator(k.shape, precondition)
    out = np.empty_like(b)
    iterations, reached_all = [], []
    for col in range(b.shape[1]):
        s, e = b[:n, col], b[n:, col]
        v = np.zeros(n)
        if m:
            v[driven] = red.c_d.solve(e)  # the driven voltages the sources alone set
        rhs = (s[free] - red.w @ s[driven] - red.kcl @ v)[order]
        count = [0]

        def step(_x: np.ndarray) -> None:
            count[0] += 1
            deadline.check("iterating the linear solver")

        x_f, residual = np.zeros(free.size), rhs
        scale = np.linalg.norm(rhs)
        reached = 1.0 if scale > 0 else 0.0
        # the solver's own residual drifts from the true one near 1e-15: up to two refinement passes
        for _ in range(3):
            if reached <= ITERATIVE_RTOL:
                break
            rtol = min(ITERATIVE_RTOL / reached, 0.5)
            if symmetric:
                step_x, _info = spla.cg(k, residual, rtol=rtol, atol=0.0, M=m_op, maxiter=2000, callback=step)
            else:
                step_x, _info = spla.gmres(k, residual, rtol=rtol, atol=0.0, M=m_op, maxiter=10, restart=60,
                                           callback=step, callback_type="pr_norm")
            x_f = x_f + step_x
            residual = rhs - k @ x_f
            before, reached = reached, np.linalg.norm(residual) / scale
            if not reached < before:  # no progress: refining again would not help
                break
        if not reached <= ITERATIVE_ACCEPT:
            raise _NotConverged(
                f"native simulator: the iterative solver reached a relative residual of {reached:.1e}, not "
                f"{ITERATIVE_ACCEPT:g}, after {count[0]} iterations; force the direct solver or {USE_NGSPICE}")
        v[free[order]] = x_f
        if m:
            v[driven] += red.drive_map @ v[free]
            out[n:, col] = red.b_d.solve(s[driven] - y_d @ v)
        out[:n, col] = v
        iterations.append(count[0])
        reached_all.append(reached)
    kind = "CG" if symmetric else "GMRES"
    by = (f"chain solves ({coverage:.1%} of the link conductance)" if ml is None else
          f"smoothed-aggregation AMG ({len(ml.levels)} levels)" + (" and chain solves" if line is not None else ""))
    return out, (f"{kind} on {free.size} free nodes, preconditioned by {by}: {max(iterations, default=0)} "
                 f"iterations to relative residual {max(reached_all, default=0.0):.1e}")


# -------------------------------------------------------------------------------------------- solving
def solve_method(method: str, unknowns: int) -> str:
    """``direct`` or ``iterative`` for ``method`` (one of :data:`METHODS`): ``auto`` is iterative from
    :data:`ITERATIVE_MIN_UNKNOWNS` unknowns on."""
    if method not in METHODS:
        raise ConfigError(f"native solver method {method!r}: choose one of {', '.join(METHODS)}")
    if method == "auto":
        return "iterative" if unknowns >= ITERATIVE_MIN_UNKNOWNS else "direct"
    return method


def solve(netlist: Netlist, method: str = "auto", deadline: Deadline | None = None) -> Solution:
    """Every analysis of ``netlist`` (see the module docstring)."""
    deadline = deadline or Deadline(None, 0.0)
    system = assemble(netlist)
    check_floating(system)
    b, plan = _source_columns(system)
    deadline.check("assembling the circuit")
    chosen = solve_method(method, system.a.shape[0])
    result = None
    if chosen == "iterative":
        try:
            result = _iterative(system, b, deadline, forced=method == "iterative")
        except _NotConverged:
            if method == "iterative":
                raise
    if result is None:
        if method == "iterative":
            raise SimulationError("native simulator: the iterative solver cannot eliminate this circuit's voltage "
                                  "sources and controlled sources node by node; use method 'direct' or auto")
        result = _direct(system, b)
        chosen = "direct"
    x, detail = result
    deadline.check("solving the circuit")
    if not np.all(np.isfinite(x)):
        raise _diagnose(system, None)
    error = max((_backward_error(system.a, x[:, k], b[:, k]) for k in range(b.shape[1])), default=0.0)
    if not error <= MAX_BACKWARD_ERROR:
        raise _diagnose(system, x[:, 0]) if chosen == "direct" else SimulationError(
            f"native simulator: the iterative answer leaves a relative residual of {error:.1e} (more than "
            f"{MAX_BACKWARD_ERROR:g}) in the circuit's equations; force the direct solver or {USE_NGSPICE}")
    voltages, currents, axes = [], [], []
    for base, unit, values in plan:
        full = x[:, [base]] if unit < 0 else x[:, [base]] + x[:, [unit]] * values[None, :]
        points = full.T  # points × unknowns
        voltages.append(np.concatenate([np.zeros((points.shape[0], 1)), points[:, : system.n]], axis=1))
        currents.append({letter: points[:, where] for letter, where in system.branch.items()})
        axes.append(values)
    return Solution(voltages, currents, axes, chosen, detail, error)
