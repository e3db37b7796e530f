"""Crossbar solver circuits: matrix-vector product, Ax = b, least squares and the pseudoinverse.

Pure generators: each function takes matrices (already programmed into a :class:`CrossbarMapping`) and
returns a :class:`CrossbarCircuit` — a netlist deck plus a probe map — without simulating anything.

All signed products use the differential scheme of :mod:`analogopt.blocks.crossbar`: every signal that
drives an array exists as ``v`` and ``−v``. Driven inputs come from paired sources; op-amp outputs get an
ideal inverting buffer (a VCVS of gain −1) for the negated copy. In hardware that buffer is an inverting
amplifier whose bandwidth must exceed the loop's; it is kept ideal here so that the settling time is set
by the solving op-amps alone, as in the model below. Input and feedback resistors (``1/g_unit``) are
precision resistors, not crossbar devices: they carry no variation.

Circuits (Sun, Pedretti, Ielmini et al.)
    * **MVM**: inputs ``x`` drive the columns, each row is the virtual ground of a transimpedance
      amplifier with feedback ``1/g_unit``: ``y = A x`` (G⁺ driven by −x so the TIA's inversion
      cancels).
    * **Solve Ax = b** (PNAS 116:4123, 2019): the array sits in the op-amps' feedback. Row ``i`` is the
      inverting input of op-amp ``i``, whose output is ``x_i`` and drives column ``i``; ``b`` enters through
      ``g_unit`` from a source at ``−b``. At the virtual grounds ``g(A x − b) = 0``. The loop obeys
      ``dx/dt ≈ −ω_GBW · g · D⁻¹ (A x − b)`` with ``D = diag(row conductance)``, so it is stable only
      when every eigenvalue of the loop matrix ``g D⁻¹ A`` has a positive real part.
    * **Least squares** (Sci. Adv. 6:eaay2378, 2020): array X (m×n) in the first stage, m TIAs form the
      residual ``r = y − X w``; the same matrix read transposed (a second pair of arrays) sums
      ``−Xᵀ r`` into the n columns held at virtual ground by op-amps whose outputs are ``w`` and drive the
      first array. At rest ``Xᵀ(y − X w) = 0``: the normal equations, solved in one step.
    * **Pseudoinverse**: ``pinv(X)[:, k] = argmin ‖X w − e_k‖``; the m least-squares circuits for the
      columns of the identity are batched in one netlist (independent copies, one ngspice run).

Settling (IEEE TED 2020, Sun & Ielmini, time complexity of in-memory linear-system solution): with a
single-pole op-amp of DC gain A0 and gain-bandwidth GBW, the solve loop's slowest mode decays at
``ω_p + ω_GBW · λ_min(g D⁻¹ A)`` (``ω_GBW = 2π·GBW``, ``ω_p = ω_GBW/A0``), so the time to settle within a
relative tolerance ε from x(0) = 0 is ``ln(1/ε)`` over that rate: set by the smallest eigenvalue, not
directly by N. :func:`predict_settling_time` computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from PySpice.Spice.Netlist import Circuit

from ..blocks.crossbar import CrossbarMapping, check_finite_matrix, format_differential, wire_mvm_currents
from ..blocks.opamp import AnyOpAmp, OpAmpModel, opamp_lines
from ..blocks.user_block import UserOpAmp, supply_sources
from ..errors import ConfigError
from ..spice.netlist import NetlistDeck, OperatingPoint, Transient
from ..spice.waveforms import Waveforms

#: "Ideal" op-amp for crossbar circuits: a VCVS gain high enough that the finite-gain error
#: (≈ D/g · cond / A0) stays below 1e-6 for the sizes and conditions this module accepts.
IDEAL_OPAMP = OpAmpModel(kind="ideal", gain=1e9)

#: Default limit on the condition number accepted by the solvers (the answer's relative error grows
#: as cond × device error; beyond this, analog solution is not meaningful).
DEFAULT_MAX_CONDITION = 1e4


@dataclass
class CrossbarCircuit:
    """A generated crossbar circuit, not yet simulated.

    ``probes`` maps quantity names (``"x0"``, ``"y3"``, ``"w1"`` or ``"p2_1"`` for pinv entry [2, 1]) to
    SPICE vectors; ``outputs`` lists the probe names of the answer in order (reshape with ``shape``).
    """

    deck: NetlistDeck
    probes: Mapping[str, str]
    outputs: list[str]
    shape: tuple[int, ...]
    element_count: int
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def netlist(self) -> str:
        return self.deck.format()

    def output_vectors(self) -> list[str]:
        return [self.probes[k] for k in self.outputs]

    def values(self, waves: Waveforms) -> np.ndarray:
        """The answer from a result: last point of each output vector, reshaped to ``shape``."""
        return waves.final(self.output_vectors()).reshape(self.shape)

    def trajectories(self, waves: Waveforms) -> np.ndarray:
        """Every point of each output vector, shape ``(len(axis), *shape)`` (transient results)."""
        stacked = np.stack([np.real(waves[v]) for v in self.output_vectors()], axis=1)
        return stacked.reshape(len(waves.axis), *self.shape)


# ---------------------------------------------------------------------------------------------- checks
def check_conditioned(matrix: np.ndarray, name: str, max_condition: float = DEFAULT_MAX_CONDITION) -> float:
    """The 2-norm condition number of ``matrix`` (full column rank required); raises a clear
    :class:`ConfigError` for non-finite, singular/rank-deficient or ill-conditioned inputs."""
    a = check_finite_matrix(matrix, name)
    s = np.linalg.svd(a, compute_uv=False)
    rank_tol = s[0] * max(a.shape) * np.finfo(np.float64).eps
    rank = int(np.sum(s > rank_tol))
    if rank < a.shape[1]:
        raise ConfigError(
            f"{name} ({a.shape[0]}×{a.shape[1]}) is singular / rank-deficient: rank {rank} < {a.shape[1]} columns "
            f"(condition number {'inf' if s[-1] == 0 else f'{s[0] / s[-1]:.3g}'}); no unique solution exists"
        )
    cond = float(s[0] / s[-1])
    if not cond <= max_condition:
        raise ConfigError(
            f"{name} is ill-conditioned: condition number {cond:.3g} exceeds max_condition = {max_condition:.3g}; "
            "the analog answer's error scales with it (raise max_condition deliberately to proceed)"
        )
    return cond


def loop_matrix(mapping: CrossbarMapping, g_in_s: float | None = None) -> np.ndarray:
    """``g D⁻¹ A_eff`` of the solve circuit: the matrix whose spectrum sets stability and settling.

    ``D`` holds each row's total conductance: the devices of both arrays plus the input resistor
    (``g_in_s``, default ``g_unit``).
    """
    g_in = mapping.g_unit_s if g_in_s is None else g_in_s
    d = mapping.row_conductance_s + g_in
    return (mapping.g_pos - mapping.g_neg) / d[:, None]


def finite_gain_solution(mapping: CrossbarMapping, b: np.ndarray, gain: float, offset_v: float = 0.0,
                         r_out_ohm: float = 0.0) -> np.ndarray:
    """What the solve circuit settles to with op-amps of open-loop DC gain ``gain`` (V/V), input offset
    ``offset_v`` (V; ``out = A0·(v_inp − v_inn + V_os)``) and open-loop output resistance ``r_out_ohm``
    (Ω) instead of ideal ones.

    Op-amp ``i`` drives ``x_i`` into column ``i`` of the positive array (the negative array is driven by
    the inverters), a load ``G_L,i = Σ_k G⁺_ki``, so its gain there is ``A_i = A0 / (1 + r_out·G_L,i)``.
    Its row's summing node then sits at ``v_i = V_os − x_i/A_i`` instead of 0 V, and the row's KCL
    ``D·v + g·b − g·A_eff·x = 0`` (``D`` the row's total conductance, as in :func:`loop_matrix`) gives
    ``(A_eff + diag(D/(g·A_i))) x = b + D·V_os/g``."""
    d = mapping.row_conductance_s + mapping.g_unit_s
    g = mapping.g_unit_s
    loaded = gain / (1.0 + r_out_ohm * mapping.g_pos.sum(axis=0))
    rhs = np.asarray(b, dtype=float) + d * offset_v / g
    return np.linalg.solve(mapping.effective_matrix + np.diag(d / (g * loaded)), rhs)


def check_solve_stable(mapping: CrossbarMapping) -> np.ndarray:
    """Eigenvalues of :func:`loop_matrix`; raises :class:`ConfigError` when one has a non-positive real part
    (the feedback loop would be unstable: the op-amps would rail instead of settling)."""
    eig = np.linalg.eigvals(loop_matrix(mapping))
    worst = eig[np.argmin(eig.real)]
    if not worst.real > 0:
        raise ConfigError(
            f"Ax = b circuit would be unstable: the loop matrix g·D⁻¹·A has eigenvalue {worst:.4g} with non-positive "
            "real part (the crossbar feedback solver needs every eigenvalue of A, row-normalised, in the right "
            "half-plane; e.g. solve with −A and −b, or use the least-squares circuit, which is always stable)"
        )
    return eig


def require_solve_stable(mapping: CrossbarMapping) -> None:
    """:func:`check_solve_stable` without the spectrum where a sufficient condition settles it: when the
    symmetric part of ``G⁺ − G⁻`` is positive definite (one Cholesky factorisation), every eigenvalue of
    ``D⁻¹(G⁺ − G⁻)`` has a positive real part (``D`` is a positive diagonal, and ``D^{-1/2}(G⁺ − G⁻)D^{-1/2}``,
    similar to it, has a positive definite symmetric part). At 512×512 this is 50× cheaper than the
    eigenvalues, which are still computed, with their one-line refusal, where the test fails."""
    k = mapping.g_pos - mapping.g_neg
    try:
        np.linalg.cholesky(0.5 * (k + k.T))
    except np.linalg.LinAlgError:
        check_solve_stable(mapping)


# --------------------------------------------------------------------------------------------- helpers
def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{k}" for k in range(count)]


def _source_lines(prefix: str, nodes: Sequence[str], values: np.ndarray) -> str:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"source values for {prefix} must be finite")
    return "".join(f"V{prefix}{k} {n} 0 {float(v)!r}\n" for k, (n, v) in enumerate(zip(nodes, values)))


def _inverter_lines(prefix: str, nodes: Sequence[str], inverted: Sequence[str]) -> str:
    # Ideal inverting buffer: v(inverted) = −v(node).
    return "".join(f"E{prefix}{k} {m} 0 {n} 0 -1\n" for k, (n, m) in enumerate(zip(nodes, inverted)))


def _resistor_lines(prefix: str, a: Sequence[str], b: Sequence[str], r_ohm: float) -> str:
    return "".join(f"R{prefix}{k} {p} {q} {float(r_ohm)!r}\n" for k, (p, q) in enumerate(zip(a, b)))


def _vector(values: np.ndarray | Sequence[float], length: int, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (length,):
        raise ConfigError(f"{name} must have shape ({length},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ConfigError(f"{name} has non-finite entries; inputs must be finite voltages")
    return v


def _deck(circuit: Circuit, analyses, saves: list[str]) -> NetlistDeck:
    return NetlistDeck(circuit, analyses=list(analyses), saves=saves)


def _count(circuit: Circuit, raw: str) -> int:
    return len(list(circuit.elements)) + raw.count("\n")


def _supplies(opamp: AnyOpAmp) -> tuple[str, dict[str, str]]:
    """Supply source lines and the role → node map for ``opamp``: a user part gets split rails about
    ground (every crossbar signal swings about 0 V), ``±supply_v/2`` from its table; built-in
    macromodels have no supply pins."""
    return supply_sources(opamp, "op") if isinstance(opamp, UserOpAmp) else ("", {})


# ------------------------------------------------------------------------------------------------ MVM
def mvm_circuit(
    mapping: CrossbarMapping,
    x: np.ndarray,
    *,
    opamp: AnyOpAmp = IDEAL_OPAMP,
    prefix: str = "",
    title: str = "crossbar MVM",
) -> CrossbarCircuit:
    """``y = A_eff x`` with one transimpedance amplifier (feedback ``1/g_unit``) per row; ``.op``."""
    circuit = Circuit(title)
    raw = _mvm_into(circuit, mapping, x, opamp, prefix)
    rows = mapping.shape[0]
    outs = _names(f"{prefix}y", rows)
    probes = {n: f"v({n})" for n in outs}
    return CrossbarCircuit(_deck(circuit, [OperatingPoint()], list(probes.values())), probes, outs, (rows,),
                           _count(circuit, raw), {"topology": "MVM: differential crossbar into TIAs"})


def _mvm_into(circuit: Circuit, mapping: CrossbarMapping, x: np.ndarray, opamp: AnyOpAmp, prefix: str) -> str:
    rows, cols = mapping.shape
    x = _vector(x, cols, "x")
    xs, xn = _names(f"{prefix}x", cols), _names(f"{prefix}xn", cols)
    sums, outs = _names(f"{prefix}s", rows), _names(f"{prefix}y", rows)
    power, supplies = _supplies(opamp)
    raw = power + _source_lines(f"{prefix}x", xs, x) + _source_lines(f"{prefix}xn", xn, -x)
    # G⁺ driven by −x and G⁻ by +x: the TIA's inversion then gives y = +A x.
    raw += format_differential(f"{prefix}A", mapping, sums, xn, xs)
    raw += _resistor_lines(f"{prefix}f", sums, outs, 1.0 / mapping.g_unit_s)
    raw += opamp_lines(circuit, [f"{prefix}tia{i}" for i in range(rows)], ["0"] * rows, sums, outs, opamp, supplies)
    circuit.raw_spice += raw
    return raw


def predict_mvm_outputs(mapping: CrossbarMapping, x: np.ndarray, opamp: OpAmpModel = IDEAL_OPAMP) -> np.ndarray:
    """The outputs ``y`` (V) of :func:`mvm_circuit` by the IR-drop theory: the wires' nodal analysis
    (:func:`~analogopt.blocks.crossbar.wire_mvm_currents`) with each row's virtual ground held by its TIA.

    At DC a TIA of gain A0 and feedback ``g_f = g_unit`` draws ``(1 + A0)·g_f·v_s`` through its feedback
    resistor at summing-node voltage ``v_s`` and outputs ``y = −A0·v_s``; G⁺ sees ``−x``. With ideal
    wires this is ``A0/(1 + A0 + D/g_f)·A_eff·x`` per row (D: the row's device conductance), → ``A_eff·x``.
    Only a pure DC gain is modelled: an op-amp with offset, bias current, rails or output resistance
    is refused.
    """
    if not isinstance(opamp, OpAmpModel) or opamp.offset_v or opamp.bias_a or opamp.r_out_ohm \
            or opamp.v_low is not None or opamp.v_high is not None:
        raise ConfigError("the IR-drop theory models op-amps as a pure DC gain: no offset, bias current, rails or "
                          "output resistance")
    x = _vector(x, mapping.shape[1], "x")
    g_f = mapping.g_unit_s
    currents = wire_mvm_currents(mapping, -x, sense_shunt_s=(1.0 + opamp.gain) * g_f)
    return -opamp.gain * currents / ((1.0 + opamp.gain) * g_f)


# ---------------------------------------------------------------------------------------------- solve
def solve_circuit(
    mapping: CrossbarMapping,
    b: np.ndarray,
    *,
    opamp: AnyOpAmp = IDEAL_OPAMP,
    transient: Transient | None = None,
    max_condition: float = DEFAULT_MAX_CONDITION,
    prefix: str = "",
    title: str = "crossbar solve Ax=b",
) -> CrossbarCircuit:
    """``A_eff x = b`` with the array in the op-amps' feedback.

    With ``transient=None`` the deck runs an operating point; with a :class:`Transient` (``uic``: all
    op-amp states start at 0 V, so ``x(0) = 0``) it records the settling. Raises :class:`ConfigError` for a
    non-square, singular, ill-conditioned or unstable (loop eigenvalue with Re ≤ 0) matrix.

    A user op-amp (:class:`~analogopt.blocks.user_block.UserOpAmp`) runs from ``±supply_v/2`` sources
    added here (``Vopdd``/``Vopss``), its ``ref`` pin at ground; with ``uic`` its internal capacitors
    start at 0 V too, which is their rest state for a split supply.
    """
    n_rows, n_cols = mapping.shape
    if n_rows != n_cols:
        raise ConfigError(f"Ax = b needs a square matrix, got {n_rows}×{n_cols}; use lstsq_circuit for m > n")
    check_conditioned(mapping.effective_matrix, "A", max_condition)
    require_solve_stable(mapping)
    b = _vector(b, n_rows, "b")
    circuit = Circuit(title)
    xs, xn = _names(f"{prefix}x", n_cols), _names(f"{prefix}xn", n_cols)
    rows, bins = _names(f"{prefix}r", n_rows), _names(f"{prefix}b", n_rows)
    power, supplies = _supplies(opamp)
    raw = power + _source_lines(f"{prefix}b", bins, -b)  # −b through g_unit: g·(A x − b) = 0 at rest
    raw += _resistor_lines(f"{prefix}in", bins, rows, 1.0 / mapping.g_unit_s)
    raw += _inverter_lines(f"{prefix}inv", xs, xn)
    raw += format_differential(f"{prefix}A", mapping, rows, xs, xn)
    raw += opamp_lines(circuit, [f"{prefix}op{i}" for i in range(n_rows)], ["0"] * n_rows, rows, xs[:n_rows], opamp,
                       supplies)
    circuit.raw_spice += raw
    probes = {n: f"v({n})" for n in xs}
    analyses = [transient] if transient is not None else [OperatingPoint()]
    return CrossbarCircuit(_deck(circuit, analyses, list(probes.values())), probes, xs, (n_cols,),
                           _count(circuit, raw), {"topology": "Ax=b: crossbar in op-amp feedback (PNAS 2019)"})


# ------------------------------------------------------------------------------------ least squares / pinv
def _lstsq_into(
    circuit: Circuit,
    forward: CrossbarMapping,
    transposed: CrossbarMapping,
    y: np.ndarray,
    opamp: AnyOpAmp,
    prefix: str,
    supplies: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    m, n = forward.shape
    y = _vector(y, m, "y")
    ws, wn = _names(f"{prefix}w", n), _names(f"{prefix}wn", n)
    srow, res, resn = _names(f"{prefix}s", m), _names(f"{prefix}e", m), _names(f"{prefix}en", m)
    cols, yin = _names(f"{prefix}t", n), _names(f"{prefix}y", m)
    g = forward.g_unit_s
    raw = _source_lines(f"{prefix}y", yin, -y)                        # −y through g: r = y − X w
    raw += _resistor_lines(f"{prefix}in", yin, srow, 1.0 / g)
    raw += _resistor_lines(f"{prefix}f", srow, res, 1.0 / g)          # TIA feedback
    raw += _inverter_lines(f"{prefix}iw", ws, wn)
    raw += _inverter_lines(f"{prefix}ie", res, resn)
    raw += format_differential(f"{prefix}X", forward, srow, ws, wn)
    # Second pair read transposed, G⁺ driven by −r: columns receive −g·Xᵀ r, so the loop is negative.
    raw += format_differential(f"{prefix}T", transposed, cols, resn, res, transpose=True)
    raw += opamp_lines(circuit, [f"{prefix}tia{i}" for i in range(m)], ["0"] * m, srow, res, opamp, supplies)
    raw += opamp_lines(circuit, [f"{prefix}op{j}" for j in range(n)], ["0"] * n, cols, ws, opamp, supplies)
    return raw, ws  # the caller appends it: pinv batches m of these, and growing raw_spice m times is O(m²)


def _check_pair(forward: CrossbarMapping, transposed: CrossbarMapping | None, max_condition: float) -> CrossbarMapping:
    m, n = forward.shape
    if m < n:
        raise ConfigError(f"least squares needs m ≥ n (tall X), got {m}×{n}")
    transposed = forward if transposed is None else transposed
    if transposed.shape != forward.shape or not math.isclose(transposed.g_unit_s, forward.g_unit_s, rel_tol=1e-12):
        raise ConfigError("the transposed array must hold the same m×n matrix with the same g_unit_s")
    check_conditioned(forward.effective_matrix, "X", max_condition)
    # The loop solves X₂ᵀ X₁ w = X₂ᵀ y: it must be non-singular and stable too (always, for X₂ = X₁).
    normal = transposed.effective_matrix.T @ forward.effective_matrix
    check_conditioned(normal, "X₂ᵀX₁ (normal matrix)", max_condition**2)
    eig = np.linalg.eigvals(normal)
    if not np.min(eig.real) > 0:
        raise ConfigError(
            f"least-squares loop would be unstable: X₂ᵀX₁ has eigenvalue {eig[np.argmin(eig.real)]:.4g} with "
            "non-positive real part (the two arrays differ too much)"
        )
    return transposed


def lstsq_circuit(
    forward: CrossbarMapping,
    y: np.ndarray,
    *,
    transposed: CrossbarMapping | None = None,
    opamp: AnyOpAmp = IDEAL_OPAMP,
    max_condition: float = DEFAULT_MAX_CONDITION,
    prefix: str = "",
    title: str = "crossbar least squares",
) -> CrossbarCircuit:
    """``w = argmin ‖X w − y‖`` in one step with two array pairs: ``forward`` (X) and ``transposed`` (the
    second physical copy of X, read as Xᵀ; defaults to the same devices). With distinct devices the
    circuit solves ``X₂ᵀ X₁ w = X₂ᵀ y`` (see :func:`analogopt.reference.linalg.two_array_lstsq`)."""
    transposed = _check_pair(forward, transposed, max_condition)
    circuit = Circuit(title)
    power, supplies = _supplies(opamp)
    raw, ws = _lstsq_into(circuit, forward, transposed, y, opamp, prefix, supplies)
    raw = power + raw
    circuit.raw_spice += raw
    probes = {n: f"v({n})" for n in ws}
    return CrossbarCircuit(_deck(circuit, [OperatingPoint()], list(probes.values())), probes, ws,
                           (forward.shape[1],), _count(circuit, raw),
                           {"topology": "least squares: X and Xᵀ arrays, TIAs + op-amps (Sci. Adv. 2020)"})


def pinv_circuit(
    forward: CrossbarMapping,
    *,
    transposed: CrossbarMapping | None = None,
    opamp: AnyOpAmp = IDEAL_OPAMP,
    max_condition: float = DEFAULT_MAX_CONDITION,
    title: str = "crossbar pseudoinverse",
) -> CrossbarCircuit:
    """``pinv(X)`` (n×m): the least-squares circuit for each column ``e_k`` of the m×m identity, batched as
    m independent copies (prefix ``k{k}_``) in one netlist. Probe ``p{j}_{k}`` is entry ``[j, k]``."""
    transposed = _check_pair(forward, transposed, max_condition)
    m, n = forward.shape
    circuit = Circuit(title)
    eye = np.eye(m)
    power, supplies = _supplies(opamp)
    raws, probes, outputs = [power] if power else [], {}, []
    ws_all = []
    for k in range(m):
        raw, ws = _lstsq_into(circuit, forward, transposed, eye[:, k], opamp, f"k{k}_", supplies)
        raws.append(raw)
        ws_all.append(ws)
    circuit.raw_spice += "".join(raws)
    for j in range(n):
        for k in range(m):
            name = f"p{j}_{k}"
            probes[name] = f"v({ws_all[k][j]})"
            outputs.append(name)
    count = len(list(circuit.elements)) + sum(r.count("\n") for r in raws)
    return CrossbarCircuit(_deck(circuit, [OperatingPoint()], list(probes.values())), probes, outputs, (n, m), count,
                           {"topology": f"pseudoinverse: {m} batched least-squares circuits (columns of I)"})


# ------------------------------------------------------------------------------------------- settling
@dataclass(frozen=True)
class SettlingPrediction:
    """Predicted settling of the solve loop (IEEE TED 2020): ``time_s = ln(1/tolerance) / rate_per_s``."""

    lambda_min: float          # smallest real part of eig(g D⁻¹ A_eff), dimensionless
    rate_per_s: float          # slowest-mode decay rate ω_p + ω_GBW·λ_min (1/s)
    time_s: float              # time to settle within ``tolerance`` (relative, ∞-norm) from x(0) = 0
    tolerance: float


def predict_settling_time(mapping: CrossbarMapping, opamp: OpAmpModel, tolerance: float = 1e-3) -> SettlingPrediction:
    """Settling time of :func:`solve_circuit` with single-pole op-amps (``opamp.kind == 'single_pole'``).

    Each op-amp obeys ``τ_p dx/dt = −x − A0·v_row`` with ``v_row = D⁻¹ g (A x − b)``, so
    ``dx/dt = −(ω_p I + ω_GBW g D⁻¹ A) x + …``; the slowest mode decays at ``ω_p + ω_GBW·λ_min``.
    """
    if opamp.kind != "single_pole":
        raise ConfigError(f"the settling model needs a single-pole (GBW) op-amp, got kind {opamp.kind!r}")
    if not 0 < tolerance < 1:
        raise ConfigError(f"settling tolerance must be in (0, 1), got {tolerance}")
    eig = check_solve_stable(mapping)
    lam = float(np.min(eig.real))
    w_gbw = 2 * math.pi * opamp.gbw_hz
    rate = w_gbw / opamp.gain + w_gbw * lam
    return SettlingPrediction(lambda_min=lam, rate_per_s=rate, time_s=math.log(1 / tolerance) / rate,
                              tolerance=tolerance)


def measure_settling_time(time_s: np.ndarray, trajectory: np.ndarray, final: np.ndarray, tolerance: float = 1e-3) -> float:
    """First time after which ``max_k |x_k(t) − final_k| ≤ tolerance · max_k |final_k|`` holds for good
    (linear interpolation between samples); ``inf`` if the waveform never settles within the record."""
    t = np.asarray(time_s, dtype=np.float64)
    x = np.asarray(trajectory, dtype=np.float64).reshape(len(t), -1)
    f = np.asarray(final, dtype=np.float64).ravel()
    err = np.abs(x - f).max(axis=1) / np.abs(f).max() - tolerance
    outside = np.nonzero(err > 0)[0]
    if outside.size == 0:
        return float(t[0])
    k = outside[-1]
    if k == len(t) - 1:
        return math.inf
    # Crossing between samples k (outside) and k+1 (inside).
    frac = err[k] / (err[k] - err[k + 1])
    return float(t[k] + frac * (t[k + 1] - t[k]))
