"""Compiled Euler steps of the NF twin's folded map, for the small problems the numpy backend steps.

The map (000 Eq. 10, or the cascade's Eq. 22, with the error of Eq. 12 folded as
:func:`analogopt.reference.nf_single` describes) is, per twin and step::

    a = w·G + o                     (G: n × K, o: K; K = k·m comparator arguments)
    e = U·y − Uₖ·φ(a)               (φ = tanh for comparators, the identity for a linear σ)
    drive = A ⊙ e;  cascade: m ← β·m + (1 − β)·drive, drive = m
    w ← (w ⊙ keep if leak else w) + rate ⊙ drive

At a few hundred arguments a step, numpy spends most of a step calling ufuncs (a µs each, a dozen a step),
and its float64 tanh is vectorized only on CPUs with AVX-512 (12 ns an element on scalar libm elsewhere).
Here every twin's steps run in one compiled loop (numba, cached on disk beside this file): the products
and a float64 tanh written in plain arithmetic, which the compiler vectorizes on any x86-64 CPU.

Most comparators are saturated most of the time (a staircase twin that has learnt keeps about two fifths of
its arguments within reach of a step), and there tanh is ±1 exactly. The steps evaluate tanh only at
the arguments that may be unsaturated, with the saturated ones' share of the error summed once, and split
the arguments again when the weights have moved far enough to bring a saturated one back (a bound, not a
guess). That about halves a converging staircase twin's time per step.

A twin's arithmetic depends only on its own arrays and its own trajectory, never on the batch around it:
a trajectory is the same bit for bit alone or among any number of twins. Products and sums may fuse into
FMAs (``contract``), and the error's dot products may also be reassociated, so that the compiler splits
them into vector lanes; the order it picks depends on the CPU and the number of live arguments. The tanh
is never reassociated. All round within a few ulps of numpy's.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# -- float64 tanh in plain arithmetic ---------------------------------------------------------------------

_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts, k·_LN2_HI exact for the |k| ≤ 58 here (Cody–Waite)
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634
#: Taylor coefficients 1/j! of expm1 on |r| ≤ ln2/2, to j = 13: the first omitted term, r^14/14!, is below 5e-18
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (1.0 / math.factorial(j) for j in range(2, 14))
#: |x| past which tanh(x) rounds to ±1 in float64 (from 19.06); clamping there keeps 2^k in range
TANH_SATURATION = 20.0
#: The kernels' floating-point licence: a·b + c may become one FMA (fewer roundings, never more).
#: Not ``reassoc``: it would undo the Cody–Waite split of ln 2 and the order of expm1's terms.
FASTMATH = {"contract"}


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits`` (a register move, vectorizable)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _bits_of(typingctx, value):
    """The int64 bit pattern of the float64 ``value``: a state repeats exactly only if its bits do
    (-0.0 == 0.0 compares equal, yet the two may step differently)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def tanh(x: float) -> float:
    """tanh of a float64, within 4 ulp of glibc's (tested) and ±1 exactly from |x| ≥ 20 (its float64
    value is ±1 from 19.06).

    tanh|x| = −E/(2 + E) with E = expm1(−2|x|), the form glibc evaluates; E = 2^k·(1 + q(r)) − 1 with
    −2|x| = k·ln2 + r, |r| ≤ ln2/2, and q the Taylor polynomial of expm1(r), so E keeps its relative
    accuracy near 0 (k = 0: E = q exactly) and tanh its own for tiny |x|. No branch and no library call: the
    compiler vectorizes it (1.3–1.5 ns an element on an AVX-512 core, where numpy's SVML tanh takes 1.7 and
    glibc's 9–15). NaN in, NaN out."""
    ax = abs(x)
    y = -2.0 * ax if ax < TANH_SATURATION else -2.0 * TANH_SATURATION  # NaN lands here too: restored below
    kf = math.floor(y * _INV_LN2 + 0.5)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    q = r * (1.0 + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * (_C7 + r * (_C8 + r * (
        _C9 + r * (_C10 + r * (_C11 + r * (_C12 + r * _C13))))))))))))
    k = np.int64(kf)
    scale = _f64_from_bits((k + 1023) << 52)  # 2^k, k in [-58, 0]
    em1 = scale * q + (scale - 1.0)  # at k = 0 exactly q: the small arguments keep their relative accuracy
    t = math.copysign(-em1 / (2.0 + em1), x)
    return t if ax == ax else x


# -- the error and the steps ----------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _dot(u: np.ndarray, a: np.ndarray) -> float:
    """Σ_j u_j·a_j, reassociated: the compiler keeps vector lanes of partial sums (2× faster than in order)."""
    total = 0.0
    for j in range(a.size):
        total += u[j] * a[j]
    return total


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _products_into(w: np.ndarray, g: np.ndarray, count: int, a: np.ndarray) -> None:
    """a_j = Σ_i w_i·G_ij for the first ``count`` columns of G, weight by weight (each a contiguous
    multiply-add over the columns)."""
    for j in range(count):
        a[j] = w[0] * g[0, j]
    for i in range(1, g.shape[0]):
        wi = w[i]
        for j in range(count):
            a[j] += wi * g[i, j]


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _arguments_into(w: np.ndarray, g: np.ndarray, offset: np.ndarray, comparators: bool, a: np.ndarray) -> None:
    """φ(w·G + o) of one twin into ``a`` (K)."""
    size = g.shape[1]
    _products_into(w, g, size, a)
    for j in range(size):
        a[j] += offset[j]
    if comparators:
        for j in range(size):
            a[j] = tanh(a[j])


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _linear_error_into(w: np.ndarray, g: np.ndarray, offset: np.ndarray, uk: np.ndarray, uy: np.ndarray,
                       a: np.ndarray, e: np.ndarray) -> None:
    """One twin's e = U·y − Uₖ·(w·G + o), φ the identity, into ``e`` (n), ``a`` (K) as scratch."""
    _arguments_into(w, g, offset, False, a)
    for i in range(g.shape[0]):
        e[i] = uy[i] - _dot(uk[i], a)


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def losses(g: np.ndarray, offset: np.ndarray, y: np.ndarray, comparators: bool, w: np.ndarray) -> np.ndarray:
    """Eq. 18's mean squared error of one twin at each row of ``w`` (rows × n): σ(z_j) is the sum over the
    k blocks of m arguments of φ(w·G + o) (G: n × k·m, the comparators' gains folded as for the error), in
    block order as :func:`~analogopt.reference.activations.sigma` adds them. No temporary arrays: in a
    Dask worker (whose ``MALLOC_TRIM_THRESHOLD_`` makes every large allocation fresh pages) numpy's
    temporaries made the losses of a staircase twin 4× slower (0.53 against 0.14 ms)."""
    rows = w.shape[0]
    m = y.size
    blocks = g.shape[1] // m
    a = np.empty(g.shape[1])
    out = np.empty(rows)
    for r in range(rows):
        _arguments_into(w[r], g, offset, comparators, a)
        total = 0.0
        for j in range(m):
            s = a[j]
            for block in range(1, blocks):
                s += a[block * m + j]
            d = y[j] - s
            total += d * d
        out[r] = total / m
    return out


#: The steps take an argument as saturated while its magnitude cannot fall below this. tanh rounds to ±1
#: exactly from 19.06: the rest is room for the arguments' own rounding.
SATURATED = 20.0
#: How far the arguments may drift (an upper bound from the weights' motion) before the saturated set is
#: taken again: arguments within it of :data:`SATURATED` stay in the stepped set. On ``nf_staircase``'s
#: twins 1, 2 and 4 timed alike and 8 and 16 slower (more live arguments); at 4 a settled twin keeps 38–42 %
#: of its 183 arguments live.
SATURATION_MARGIN = 4.0


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _split(w: np.ndarray, g: np.ndarray, offset: np.ndarray, uk: np.ndarray, a: np.ndarray, g_live: np.ndarray,
           o_live: np.ndarray, uk_live: np.ndarray, saturated_sum: np.ndarray) -> int:
    """Split one twin's comparator arguments at ``w`` into those that may leave saturation before the
    weights drift by :data:`SATURATION_MARGIN` and those that cannot. The live ones' columns of G, o and
    Uₖ are copied, contiguous, into ``g_live``, ``o_live``, ``uk_live`` (their count is returned); the
    others' tanh is their sign exactly, so their share of Uₖ·φ(a) is summed once into ``saturated_sum``.
    NaN stays live (its tanh is NaN)."""
    n, size = g.shape
    _products_into(w, g, size, a)
    for i in range(n):
        saturated_sum[i] = 0.0
    count = 0
    for j in range(size):
        aj = a[j] + offset[j]
        if abs(aj) >= SATURATED + SATURATION_MARGIN:
            sign = math.copysign(1.0, aj)
            for i in range(n):
                saturated_sum[i] += uk[i, j] * sign
        else:
            o_live[count] = offset[j]
            for i in range(n):
                g_live[i, count] = g[i, j]
                uk_live[i, count] = uk[i, j]
            count += 1
    return count


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _drift_bound(w: np.ndarray, w_split: np.ndarray, g_max: np.ndarray) -> float:
    """An upper bound of how far any argument w·G + o moved since the split at ``w_split``: Σ_i |Δw_i|·max_j |G_ij|."""
    total = 0.0
    for i in range(w.size):
        total += abs(w[i] - w_split[i]) * g_max[i]
    return total


@njit(cache=True, inline="always", error_model="numpy", fastmath=FASTMATH)
def _live_error_into(w: np.ndarray, g_live: np.ndarray, o_live: np.ndarray, uk_live: np.ndarray,
                     saturated_sum: np.ndarray, uy: np.ndarray, count: int, a: np.ndarray, e: np.ndarray) -> None:
    """e = U·y − (saturated share + Uₖ·tanh(a) over the ``count`` live arguments) into ``e``."""
    _products_into(w, g_live, count, a)
    for j in range(count):
        a[j] = tanh(a[j] + o_live[j])
    for i in range(g_live.shape[0]):
        e[i] = uy[i] - (saturated_sum[i] + _dot(uk_live[i, :count], a[:count]))


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def errors(g: np.ndarray, offset: np.ndarray, uk: np.ndarray, uy: np.ndarray, comparators: bool,
           w: np.ndarray) -> np.ndarray:
    """e for each twin's weights ``w`` (twins × n), the arrays as :func:`advance` takes them, by the
    arithmetic its steps use (with comparators: split at ``w`` into live and saturated arguments), for
    checking it against Eq. 12 term by term."""
    twins, n, size = g.shape
    e = np.empty_like(w)
    a = np.empty(size)
    g_live = np.empty((n, size))
    o_live = np.empty(size)
    uk_live = np.empty((n, size))
    saturated_sum = np.empty(n)
    for b in range(twins):
        if comparators:
            count = _split(w[b], g[b], offset[b], uk[b], a, g_live, o_live, uk_live, saturated_sum)
            _live_error_into(w[b], g_live, o_live, uk_live, saturated_sum, uy[b], count, a, e[b])
        else:
            _linear_error_into(w[b], g[b], offset[b], uk[b], uy[b], a, e[b])
    return e


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def advance(g: np.ndarray, offset: np.ndarray, uk: np.ndarray, uy: np.ndarray, gains: np.ndarray,
            rate: np.ndarray, keep: np.ndarray, beta: np.ndarray, comparators: bool, cascade: bool, leak: bool,
            w: np.ndarray, m: np.ndarray, settled: np.ndarray, stepped: np.ndarray, first: int, last: int,
            record: np.ndarray, row: int, out: np.ndarray, settle_every: int, g_live: np.ndarray,
            o_live: np.ndarray, uk_live: np.ndarray, saturated_sum: np.ndarray, w_split: np.ndarray,
            live_count: np.ndarray) -> None:
    """Steps ``first`` … ``last`` (iterations, 1-based) of every twin not yet ``settled``, in place.

    Per twin b (axis 0 of every array): ``g`` (n, K), ``offset`` (K), ``uk`` (n, K), ``uy``, ``gains``,
    ``rate``, ``keep`` (n), ``beta`` (1); ``comparators``: φ = tanh, else the identity. State ``w``, ``m``
    (twins × n). ``record``: the recorded iterations, ``row`` the first of them not yet written at
    ``first``; ``out`` (records × twins × n) receives each recorded state. Every ``settle_every``-th step
    a twin whose state repeated bit for bit is at its map's fixed point: all its later records are that
    state, ``settled[b]`` is set and ``stepped[b]`` is that step; else ``stepped[b]`` becomes ``last``.

    With comparators, a step evaluates tanh only at the arguments that can be unsaturated (:func:`_split`,
    taken again whenever :func:`_drift_bound` reaches :data:`SATURATION_MARGIN`): the others' tanh is ±1
    exactly, so the error is the full one but for the order of its sum. A converging staircase twin has
    most of its arguments saturated. Each twin's split is kept between calls (``g_live`` (twins, n, K),
    ``o_live`` (twins, K), ``uk_live``, ``saturated_sum``, ``w_split`` (twins, n); ``live_count`` −1: not
    split yet), so where a run's calls end never changes a trajectory."""
    twins, n, size = g.shape
    a = np.empty(size)
    e = np.empty(n)
    w_new = np.empty(n)
    m_new = np.empty(n)
    g_max = np.empty(n)
    for b in range(twins):
        if settled[b]:
            continue
        wb, mb, gb, ob, ub, uyb = w[b], m[b], g[b], offset[b], uk[b], uy[b]
        gl, ol, ul, sat, ws = g_live[b], o_live[b], uk_live[b], saturated_sum[b], w_split[b]
        if comparators:
            for i in range(n):
                g_max[i] = 0.0
                for j in range(size):
                    g_max[i] = max(g_max[i], abs(gb[i, j]))
            if live_count[b] < 0:
                ws[:] = wb
                live_count[b] = _split(wb, gb, ob, ub, a, gl, ol, ul, sat)
        r = row
        for t in range(first, last + 1):
            if comparators:
                _live_error_into(wb, gl, ol, ul, sat, uyb, live_count[b], a, e)
            else:
                _linear_error_into(wb, gb, ob, ub, uyb, a, e)
            for i in range(n):
                drive = gains[b, i] * e[i]
                if cascade:
                    m_new[i] = beta[b, 0] * mb[i] + (1.0 - beta[b, 0]) * drive
                    drive = m_new[i]
                w_new[i] = (wb[i] * keep[b, i] if leak else wb[i]) + rate[b, i] * drive
            same = t % settle_every == 0
            for i in range(n):
                if same and (_bits_of(w_new[i]) != _bits_of(wb[i])
                             or cascade and _bits_of(m_new[i]) != _bits_of(mb[i])):
                    same = False
                wb[i] = w_new[i]
                if cascade:
                    mb[i] = m_new[i]
            if r < record.size and t == record[r]:
                out[r, b] = wb
                r += 1
            if same:
                for rest in range(r, record.size):
                    out[rest, b] = wb
                settled[b] = True
                stepped[b] = t
                break
            if comparators and not _drift_bound(wb, ws, g_max) < SATURATION_MARGIN:
                ws[:] = wb
                live_count[b] = _split(wb, gb, ob, ub, a, gl, ol, ul, sat)
        if not settled[b]:
            stepped[b] = last
