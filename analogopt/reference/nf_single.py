"""Digital twin of the single-layer negative-feedback optimizer, and the gradient-descent baseline.

The twin steps the discrete low-pass of 000 Eq. 10, ``w ← w + η(γ·A·e − w)`` with the error
``e = U(y − y')`` of Eq. 12, vectorized over samples and weights (one matrix product per step). Small
problems step on the numpy backend (:func:`twin_backend`), where a step costs a few µs instead of
PyTorch's tens: compiled steps (:mod:`.twin_kernel`) where the error folds, else numpy arrays, with the twins
of many small problems stepped together (:class:`NFTwinBatch`, :func:`run_twins`).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import torch

from ..problems import ActivationSpec, NFSingleLayerProblem
from .activations import sigma, sigma_ideal, sigma_slope
from .optim import cascade_momentum_update, lowpass_update
from .trajectory import Trajectory


def nf_error(
    *, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, activation: ActivationSpec, error_gain: str, power: int = 1
) -> torch.Tensor:
    """The error vector ``e`` of 000 Eq. 12 for weights ``w`` (n,), inputs ``x`` (m, n), targets ``y`` (m,).

    ``error_gain`` "x": ``U = xᵀ``; "window": ``U = (σ'(z)·x)ᵀ`` (§4.2); "beta_pow": ``U = (σ'(z)·x)ᵀ``
    raised element-wise to the odd ``power`` (§5).
    """
    z = x @ w
    d = y - sigma(activation, z)
    p = power if error_gain == "beta_pow" else 1
    if error_gain in ("window", "beta_pow"):
        d = d * sigma_slope(activation, z) ** p
    return (x**p).T @ d if p != 1 else x.T @ d


def mse(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, activation: ActivationSpec) -> torch.Tensor:
    """Mean squared error of 000 Eq. 18 for each row of ``w`` (…, n) → (…)."""
    return ((y - sigma(activation, w @ x.T)) ** 2).mean(dim=-1)


class NFSingleLayerTwin:
    """The twin of :class:`~analogopt.problems.NFSingleLayerProblem` in float64.

    ``run()`` records every ``record_every``-th iteration (iteration 0 included) and the last one.
    """

    def __init__(self, problem: NFSingleLayerProblem) -> None:
        self.problem = problem
        self.x = torch.as_tensor(problem.x, dtype=torch.float64)
        self.y = torch.as_tensor(problem.y, dtype=torch.float64)
        if problem.perturbed:
            # The same mismatched values the circuit generator writes into the netlist.
            self.x_forward = torch.as_tensor(problem.data_matrix, dtype=torch.float64)
            self.u = torch.as_tensor(problem.error_matrix, dtype=torch.float64)
            self.gains = torch.as_tensor(problem.weight_gains, dtype=torch.float64)
            # Δt = η·τ_nominal is one iteration for every weight, so a weight with τ_i has rate Δt/τ_i.
            self.etas = torch.as_tensor(problem.dt_s / problem.weight_taus_s, dtype=torch.float64)

    def error(self, w: torch.Tensor) -> torch.Tensor:
        p = self.problem
        if p.perturbed:
            z = self.x_forward @ w
            d = self.y - sigma(p.activation, z)
            if p.error_gain in ("window", "beta_pow"):
                d = d * sigma_slope(p.activation, z) ** p.error_power
            return self.u @ d
        return nf_error(x=self.x, y=self.y, w=w, activation=p.activation, error_gain=p.error_gain, power=p.power)

    def step(self, w: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        """One iteration, in place: Eq. 10 ``w ← w + η(γ·A·e − w)`` (no ``−w`` without leak), or with
        the cascade integrator Eq. 22 ``m ← β_m·m + (1 − β_m)·A·e`` then ``w ← w + η(γ·m − w)``.

        With mismatch, A and η are per-weight vectors (the same Eq. 10/22 element-wise)."""
        p = self.problem
        if p.perturbed:
            drive = self.gains * self.error(w)
            if p.integrator == "cascade":
                m.mul_(p.beta_m).add_(drive, alpha=1.0 - p.beta_m)
                drive = m
            if p.leak:
                w.mul_(1.0 - self.etas)
            w.add_(self.etas * p.gamma * drive)
            return w
        drive = p.forward_gain * self.error(w)
        leak = p.eta if p.leak else 0.0
        if p.integrator == "cascade":
            cascade_momentum_update(w, drive=drive, m=m, lr=p.eta * p.gamma, beta_m=p.beta_m, leak=leak)
        else:
            lowpass_update(w, drive=drive, lr=p.eta * p.gamma, leak=leak)
        return w

    def run(self, *, record_every: int = 1, deadline: float | None = None, backend: str = "auto") -> Trajectory:
        """Step the loop ``iterations`` times, recording every ``record_every``-th state.

        ``deadline`` (a ``time.perf_counter()`` value): raise :class:`TimeoutError` once it has passed,
        checked at recorded iterations, so a co-simulation's time limit binds the twin as well.
        ``backend``: ``"torch"`` (these PyTorch steps), ``"numpy"`` (:class:`NFTwinBatch` of this one
        problem) or ``"auto"``: :func:`twin_backend`'s choice, PyTorch for a subclass that redefines
        :meth:`step` (the numpy backend steps the plain Euler map only)."""
        plain = type(self).step is NFSingleLayerTwin.step
        if backend == "auto":
            backend = twin_backend(self.problem) if plain else "torch"
        if backend == "numpy":
            if not plain:
                raise ValueError(f"{type(self).__name__} redefines step: its twin runs on the torch backend only")
            return NFTwinBatch([self.problem]).run(record_every=record_every, deadline=deadline)[0]
        if backend != "torch":
            raise ValueError(f"unknown twin backend {backend!r}; choose auto, numpy or torch")
        p = self.problem
        w = torch.as_tensor(p.w0, dtype=torch.float64).clone()
        m = torch.zeros_like(w)  # the momentum filter starts empty (its capacitor at 0 V)
        record = set(range(0, p.iterations + 1, max(1, record_every))) | {p.iterations}
        its, ws = [0], [w.clone()]
        for t in range(1, p.iterations + 1):
            self.step(w, m)
            if t in record:
                its.append(t)
                ws.append(w.clone())
                _check_deadline(deadline, t, p.iterations)
        weights = torch.stack(ws)
        loss = mse(self.x, self.y, weights, p.activation)
        return Trajectory(np.array(its), weights.numpy(), loss.numpy())


# -- the numpy backend: small problems, one twin alone or many stepped together -------------------------

#: Crossbar entries (training samples × weights) up to which :func:`twin_backend` picks numpy: there
#: PyTorch's per-operation overhead (µs per call, a dozen calls per Euler step) outweighs its vectorized
#: kernels. Timed per Euler step of a staircase problem on one thread, numpy arrays (the term-by-term
#: steps) are clearly ahead at 4096 entries, even at about 8000, and PyTorch ahead from about 12000 (where
#: it also has more threads). The compiled steps of a folded error stay ahead of PyTorch's one thread
#: further (at 12 000 entries 64 against 178 µs a step), but one limit for both keeps the choice simple.
NUMPY_MAX_ENTRIES = 4096

#: Every this many steps the numpy twins compare each state with the one before: a twin whose state
#: did not change in float64 is at a fixed point of its own Euler map, so every later state is that one
#: (the map depends on the state alone) and it stops stepping. The check costs two array operations
#: (a comparison per weight in the compiled steps).
SETTLE_CHECK_STEPS = 16


def twin_backend(problem: NFSingleLayerProblem) -> str:
    """The backend the twin of ``problem`` steps in: ``"numpy"`` up to :data:`NUMPY_MAX_ENTRIES`
    crossbar entries (m·n), else ``"torch"``. Both step the same Euler map (tested to agree within
    1e-12 relative); the choice depends on the problem alone, never on how many twins run together."""
    return "numpy" if problem.n_samples * problem.n_weights <= NUMPY_MAX_ENTRIES else "torch"


def batch_key(problem: NFSingleLayerProblem) -> tuple:
    """What twins stepped together in one :class:`NFTwinBatch` must share (everything else — the data and
    error matrices, targets, time constants, gains, η, γ, w0 — is per twin)."""
    p = problem
    return (p.n_samples, p.n_weights, p.activation, p.error_gain in ("window", "beta_pow"), p.error_power,
            p.integrator, p.leak, p.iterations)


#: The staircase's step positions c (V), as a column against the samples' row.
_STAIRCASE_STEPS = np.array([-1.0, 0.0, 1.0])[:, None]


def _tanh_sum(spec: ActivationSpec) -> tuple[float, np.ndarray] | None:
    """``(g, c)`` for an activation of the form σ(z) = Σ_c tanh(g·(z − c)) (tanh, the sign comparator, the
    staircase's three comparators), else None."""
    if spec.name == "tanh":
        return 1.0, np.zeros(1)
    if spec.name == "sign":
        return spec.gain, np.zeros(1)
    if spec.name == "staircase":
        return spec.gain, _STAIRCASE_STEPS[:, 0]
    return None


def _activation_np(spec: ActivationSpec, z: np.ndarray, slope: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """σ(z) and, with ``slope``, σ'(z) in numpy: :func:`~analogopt.reference.activations.sigma` and
    :func:`~analogopt.reference.activations.sigma_slope` term by term, in the same order of operations
    (the comparators' tanh is evaluated once and shared by σ and σ')."""
    g, eps, a = spec.gain, 1.0 / spec.gain, spec.slope
    name = spec.name
    if name == "identity":
        return z, (np.ones_like(z) if slope else None)
    if name == "tanh":
        t = np.tanh(z)
        return t, (1 - t**2 if slope else None)
    if name in ("relu", "leaky_relu"):
        root = np.sqrt(z * z + eps * eps)
        relu = 0.5 * (z + root)
        knee = 0.5 * (1 + z / root) if slope else None
        if name == "relu":
            return relu, knee
        return a * z + (1 - a) * relu, (a + (1 - a) * knee if slope else None)
    if name == "sign":
        t = np.tanh(g * z)
        return t, (g * (1 - t**2) if slope else None)
    if name == "staircase":
        # the three comparators as one (…, 3, m) array: one tanh call per step
        t = np.tanh(g * (z[..., None, :] - _STAIRCASE_STEPS))
        s = t[..., 0, :] + t[..., 1, :] + t[..., 2, :]
        if not slope:
            return s, None
        u = 1 - t**2
        return s, g * (u[..., 0, :] + u[..., 1, :] + u[..., 2, :])
    raise ValueError(name)


class NFTwinBatch:
    """The twins of several problems with one :func:`batch_key`, stepped together: every array holds all
    twins along its first axis (twins × weights, twins × samples × weights).

    Each twin is the plain twin's Euler map (:meth:`NFSingleLayerTwin.step`, Eq. 10 or the cascade's
    Eq. 22, mismatch included). Where the error of Eq. 12 folds (:func:`_folded`: no window, σ the
    identity or a sum of tanh comparators) the steps run compiled, each twin in its own loop
    (:mod:`.twin_kernel`); the other errors step term by term in numpy, one set of array operations per
    step for all twins, every product per twin (stacked ``einsum`` contractions, not BLAS calls whose
    blocking may depend on the batch). Either way no operation mixes twins, so a twin's trajectory is the
    same bit for bit alone or in a batch of any size. A twin whose state stops changing drops out
    (:data:`SETTLE_CHECK_STEPS`); its later records are that state, exactly.

    After :meth:`run`, ``seconds[i]`` is twin ``i``'s share of the run's wall time (s): the set-up split
    equally, each stretch of steps split in proportion to the steps each twin took in it (a twin that
    settles early stops paying), its own loss evaluation added, so the shares add up to the whole.
    ``stepped[i]``: the Euler steps twin ``i`` took (``iterations`` unless it settled before).
    """

    def __init__(self, problems: Sequence[NFSingleLayerProblem]) -> None:
        if not problems:
            raise ValueError("NFTwinBatch needs at least one problem")
        if len({batch_key(p) for p in problems}) > 1:
            raise ValueError("NFTwinBatch: the problems differ in shape, activation, error gain, integrator, leak "
                             "or iterations; batch them separately (batch_key)")
        self.problems = tuple(problems)
        self.seconds = np.zeros(len(problems))
        self.stepped = np.zeros(len(problems), dtype=int)

    def _parameters(self) -> dict[str, np.ndarray]:
        """The per-twin arrays of the Euler map, each with the twins along axis 0."""
        rate, gains, keep, beta = [], [], [], []
        for p in self.problems:
            n = p.n_weights
            if p.perturbed:  # NFSingleLayerTwin.step's per-weight η_i = Δt/τ_i and A_i
                etas = p.dt_s / p.weight_taus_s
                rate.append(etas * p.gamma)
                gains.append(p.weight_gains)
                keep.append(1.0 - etas)
            else:  # lowpass_update's scalar lr = η·γ, leak = η and the scalar forward gain
                rate.append(np.full(n, p.eta * p.gamma))
                gains.append(np.full(n, p.forward_gain))
                keep.append(np.full(n, 1.0 - p.eta))
            beta.append(p.beta_m)
        arrays = {
            # Xᵀ (n, m): z = Σ_i w_i·x_i row by row, a contiguous multiply-add per weight
            "xt": [p.data_matrix.T for p in self.problems], "u": [p.error_matrix for p in self.problems],
            "y": [p.y for p in self.problems], "rate": rate, "gains": gains, "keep": keep,
            "x_nominal_t": [p.x.T for p in self.problems],  # the loss is the nominal data's (as mse's)
        }
        # C order whatever the inputs' (np.stack keeps a transposed U's): einsum's summation order follows
        # the memory layout, so one layout for all twins is what makes alone and batched agree bit for bit
        out = {k: np.ascontiguousarray(np.stack(v), dtype=np.float64) for k, v in arrays.items()}
        out["beta"] = np.array(beta, dtype=np.float64)[:, None]
        return out

    def run(self, *, record_every: int = 1, deadline: float | None = None) -> list[Trajectory]:
        """Step every twin ``iterations`` times; each trajectory is recorded as :meth:`NFSingleLayerTwin.run`
        records it (every ``record_every``-th iteration, 0 and the last included). ``deadline`` as there,
        checked before each stretch of steps (:data:`KERNEL_CALL_WORK`) or at each record."""
        start = time.perf_counter()
        p0 = self.problems[0]
        steps = p0.iterations
        record = np.unique(np.append(np.arange(0, steps + 1, max(1, record_every)), steps))
        out = np.empty((len(record), len(self.problems), p0.n_weights))
        par = self._parameters()
        w = np.stack([p.w0 for p in self.problems]).astype(np.float64)
        m = np.zeros_like(w)  # the momentum filter starts empty (its capacitor at 0 V)
        out[0] = w
        self.stepped[:] = steps
        self.seconds[:] = (time.perf_counter() - start) / len(self.problems)
        folded = _folded(p0, par)
        if folded is None:
            self._step_arrays(par, w, m, record, out, deadline)
        else:
            self._step_compiled(par, *folded, w, m, record, out, deadline)
            from . import twin_kernel  # loaded by the steps: the losses below are compiled with them
        trajectories = []
        for i, p in enumerate(self.problems):
            t0 = time.perf_counter()
            weights = np.ascontiguousarray(out[:, i])
            # the records from the one at or after the settling step on hold one state: its loss, once
            moving = int(np.searchsorted(record, self.stepped[i])) + 1
            loss = np.empty(len(record))
            if folded is None:
                loss[:moving] = _mse_np(p.x, p.y, weights[:moving], p.activation)
            else:
                kernel, comparators = folded
                loss[:moving] = twin_kernel.losses(kernel["loss_g"][i], kernel["offset"][i], par["y"][i],
                                                   comparators, weights[:moving])
            loss[moving:] = loss[moving - 1]
            trajectories.append(Trajectory(record.copy(), weights, loss))
            self.seconds[i] += time.perf_counter() - t0
        return trajectories

    def _step_compiled(self, par: dict[str, np.ndarray], kernel: dict[str, np.ndarray], comparators: bool,
                       w: np.ndarray, m: np.ndarray, record: np.ndarray, out: np.ndarray,
                       deadline: float | None) -> None:
        """The folded map's steps in :func:`.twin_kernel.advance`, a stretch of steps per call."""
        from . import twin_kernel  # numba loads here (about 0.5 s once per process), only where a folded twin steps

        p0 = self.problems[0]
        steps = p0.iterations
        count, n, size = kernel["gxt"].shape
        per_call = max(SETTLE_CHECK_STEPS, KERNEL_CALL_WORK // (count * n * size))
        settled = np.zeros(count, dtype=bool)
        stepped = np.zeros(count, dtype=np.int64)
        arrays = (kernel["gxt"], kernel["offset"], kernel["uk"], kernel["uy"], par["gains"], par["rate"],
                  par["keep"], par["beta"], comparators, p0.integrator == "cascade", bool(p0.leak))
        # each twin's live and saturated comparator arguments, kept from one call to the next
        live = size if comparators else 0
        split = (np.empty((count, n, live)), np.empty((count, live)), np.empty((count, n, live)),
                 np.empty((count, n)), np.empty((count, n)), np.full(count, -1, dtype=np.int64))
        t = 0
        while t < steps and not settled.all():
            _check_deadline(deadline, t, steps)
            last = min(steps, t + per_call)
            before = stepped.copy()
            t0 = time.perf_counter()
            twin_kernel.advance(*arrays, w, m, settled, stepped, t + 1, last, record,
                                int(np.searchsorted(record, t + 1)), out, SETTLE_CHECK_STEPS, *split)
            took = stepped - before
            self.seconds += (time.perf_counter() - t0) * took / max(int(took.sum()), 1)
            t = last
        self.stepped[:] = stepped

    def _step_arrays(self, par: dict[str, np.ndarray], w: np.ndarray, m: np.ndarray, record: np.ndarray,
                     out: np.ndarray, deadline: float | None) -> None:
        """The term-by-term map's steps in numpy, all twins as one array per operation."""
        p0 = self.problems[0]
        steps, cascade, leak = p0.iterations, p0.integrator == "cascade", p0.leak
        active = np.arange(len(self.problems))
        stretch = time.perf_counter()
        r = 1  # the next record's row
        for t in range(1, steps + 1):
            drive = par["gains"] * _errors_np(par, w, p0)
            m_new = m
            if cascade:
                m_new = par["beta"] * m + (1.0 - par["beta"]) * drive
                drive = m_new
            w_new = (w * par["keep"] if leak else w) + par["rate"] * drive
            if t == record[r]:
                out[r, active] = w_new
                r += 1
                _check_deadline(deadline, t, steps)
            if t % SETTLE_CHECK_STEPS == 0:
                # bit patterns, not values: -0.0 == 0.0, yet only an identical state repeats exactly
                settled = np.all(w_new.view(np.uint64) == w.view(np.uint64), axis=1)
                if cascade:
                    settled &= np.all(m_new.view(np.uint64) == m.view(np.uint64), axis=1)
                if settled.any():
                    out[r:, active[settled]] = w_new[settled][None]
                    self.stepped[active[settled]] = t
                    self._charge(active, stretch)
                    stretch = time.perf_counter()
                    moving = ~settled
                    active = active[moving]
                    if not len(active):
                        break
                    par = {k: v[moving] for k, v in par.items()}
                    w_new, m_new = w_new[moving], m_new[moving]
            w, m = w_new, m_new
        if len(active):
            self._charge(active, stretch)

    def _charge(self, active: np.ndarray, since: float) -> None:
        """Split the wall time since ``since`` equally among the twins ``active`` stepped in it."""
        self.seconds[active] += (time.perf_counter() - since) / len(active)


#: Multiply-adds per call of the compiled steps (about 10 ms): between calls the twins' deadline is checked.
KERNEL_CALL_WORK = 2**23


def _folded(problem: NFSingleLayerProblem, par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], bool] | None:
    """The Euler map's error of Eq. 12 with its constant parts folded into its matrices, as
    :func:`.twin_kernel.advance` takes them, and whether φ is tanh; None for the errors that do not fold
    (``problem``: any of the twins; ``par``: their arrays, twins along axis 0).

    Without the window, e = U·(y − σ(X·w)) is U·y less U·σ(X·w). For the identity that is
    e = U·y − U·(X·w) (with a window too: σ' = 1). For σ(z) = Σ_c tanh(g·(z − c)) (:func:`_tanh_sum`) the
    k comparators become k blocks of one row, a = w·[gXᵀ … gXᵀ] − [gc_1 … gc_k] (k·m entries), and
    e = U·y − [U … U]·tanh(a); tested against the term-by-term error and within 1e-12 of the PyTorch
    twin's trajectory. ``loss_g`` folds the nominal data the same way, for the loss (:func:`mse`'s σ(x·w)).
    The other errors keep the term-by-term form (:func:`_errors_np`)."""
    if problem.error_gain in ("window", "beta_pow") and problem.activation.name != "identity":
        return None
    u, xt = par["u"], par["xt"]
    uy = np.matmul(u, par["y"][:, :, None])[:, :, 0]
    if problem.activation.name == "identity":
        return {"uy": uy, "gxt": xt, "uk": u, "offset": np.zeros((len(xt), xt.shape[2])),
                "loss_g": par["x_nominal_t"]}, False
    form = _tanh_sum(problem.activation)
    if form is None:
        return None
    g, c = form
    k = len(c)
    offset = np.repeat(-g * c, xt.shape[2])
    return {"uy": uy, "gxt": np.ascontiguousarray(np.tile(g * xt, (1, 1, k))),
            "uk": np.ascontiguousarray(np.tile(u, (1, 1, k))), "offset": np.tile(offset, (len(xt), 1)),
            "loss_g": np.ascontiguousarray(np.tile(g * par["x_nominal_t"], (1, 1, k)))}, True


def _mse_np(x: np.ndarray, y: np.ndarray, w: np.ndarray, spec: ActivationSpec) -> np.ndarray:
    """:func:`mse` in numpy, for each row of ``w``: numpy's float64 tanh took a third of PyTorch's time
    (one thread, 160 × 183 arguments: 48 against 146 µs on an AVX-512 core)."""
    s, _ = _activation_np(spec, w @ x.T, False)
    return ((y - s) ** 2).mean(axis=-1)


def _errors_np(par: dict[str, np.ndarray], w: np.ndarray, problem: NFSingleLayerProblem) -> np.ndarray:
    """e of Eq. 12 for each twin's weights ``w`` (twins × n) on :meth:`NFTwinBatch._parameters`' arrays,
    term by term: :meth:`NFSingleLayerTwin.error`'s arithmetic (``problem``: any of the twins, for what
    they share). Every product is a per-twin ``einsum``, never one that mixes twins, so a twin's error
    does not depend on its batch."""
    z = np.einsum("bnm,bn->bm", par["xt"], w)
    windowed = problem.error_gain in ("window", "beta_pow")
    s, slope = _activation_np(problem.activation, z, windowed)
    d = par["y"] - s
    if windowed:
        power = problem.error_power
        d = d * (slope**power if power != 1 else slope)
    return np.einsum("bnm,bm->bn", par["u"], d)


def run_twins(problems: Sequence[NFSingleLayerProblem], *, record_every: int = 1,
              deadline: float | None = None) -> tuple[list[Trajectory], np.ndarray]:
    """The twins of ``problems`` (the plain twin, :class:`NFSingleLayerTwin`), each on its own
    :func:`twin_backend`: the numpy ones in one :class:`NFTwinBatch` per :func:`batch_key`, the PyTorch
    ones one after the other. Returns the trajectories in order and each twin's wall time (s; a batched
    twin's is its share, :class:`NFTwinBatch`). Each trajectory equals ``NFSingleLayerTwin(p).run(…)``'s."""
    trajectories: list[Trajectory | None] = [None] * len(problems)
    seconds = np.zeros(len(problems))
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        if twin_backend(p) == "numpy":
            groups.setdefault(batch_key(p), []).append(i)
        else:
            t0 = time.perf_counter()
            trajectories[i] = NFSingleLayerTwin(p).run(record_every=record_every, deadline=deadline, backend="torch")
            seconds[i] = time.perf_counter() - t0
    for members in groups.values():
        batch = NFTwinBatch([problems[i] for i in members])
        for i, trajectory in zip(members, batch.run(record_every=record_every, deadline=deadline)):
            trajectories[i] = trajectory
        seconds[members] = batch.seconds
    return trajectories, seconds


#: The loop's ODE may take this many right-hand-side evaluations per twin iteration (the shipped scenarios
#: need under 1; a comparator of gain 1e9 is a relay whose ODE chatters without end).
ODE_EVALUATIONS_PER_ITERATION = 20


class StiffLoopError(RuntimeError):
    """The loop's ODE could not be solved within its evaluation budget."""


def loop_ode(problem: NFSingleLayerProblem, iterations: np.ndarray, *, rtol: float = 1e-10,
             deadline: float | None = None, max_evaluations: int | None = None,
             rate: Callable[[np.ndarray], np.ndarray] | None = None) -> Trajectory:
    """The loop's ODE, the continuous-time mathematics the twin discretizes, solved to convergence.

    With Δt = η·τ one twin iteration, τ_i·dw_i/dt = γ·A_i·e_i(w) − w_i (000 Eq. 10; no −w without leak),
    or with the cascade integrator τ_m·dm/dt = A·e(w) − m and τ_i·dw_i/dt = γ·m_i − w_i (Eq. 22), e of
    Eq. 12 exactly as the twin computes it (:meth:`NFSingleLayerTwin.error`, mismatch included; in numpy
    where the twin steps in numpy, :func:`twin_backend`). Solved
    by scipy's LSODA with relative tolerance ``rtol`` and sampled at twin ``iterations`` (t = k·Δt), so
    it lies on the twin's axis. LSODA switches to a stiff (BDF) method where the loop is stiff: a loop
    far outside the twin's regime (per-step gain 7) takes 0.4 s where an explicit Runge–Kutta takes
    12 s; rtol 1e-9 and 1e-12 agree within 4e-9 of the weights' range on the shipped scenarios. ``deadline`` as for
    :meth:`NFSingleLayerTwin.run`, checked at every right-hand-side evaluation. More than
    ``max_evaluations`` of them (default :data:`ODE_EVALUATIONS_PER_ITERATION` per iteration) raise
    :class:`StiffLoopError`. ``rate``: τ·dw/dt of another loop equation (an imperfect circuit's,
    :func:`analogopt.reference.imperfections.loop_rate`) in place of Eq. 10's; not with the cascade.
    """
    from scipy.integrate import solve_ivp

    p = problem
    if rate is None and twin_backend(p) == "numpy":
        par = NFTwinBatch([p])._parameters()
        error = lambda w: _errors_np(par, w[None], p)[0]  # noqa: E731
    elif rate is None:
        twin = NFSingleLayerTwin(p)
        error = lambda w: twin.error(torch.from_numpy(np.ascontiguousarray(w))).numpy()  # noqa: E731
    n = p.n_weights
    tau = p.weight_taus_s  # (n,)
    gains = p.weight_gains if p.perturbed else np.full(n, p.forward_gain)
    leak = 1.0 if p.leak else 0.0
    cascade = p.integrator == "cascade"
    if cascade and rate is not None:
        raise ValueError("loop_ode: a rate function replaces Eq. 10, not the cascade's Eq. 22")

    budget = max_evaluations if max_evaluations is not None else ODE_EVALUATIONS_PER_ITERATION * p.iterations + 10_000
    count = [0]

    def rhs(_t: float, state: np.ndarray) -> np.ndarray:
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError(f"stopped at t = {_t:.3g} s of {p.duration_s:.3g} s of the loop's ODE")
        count[0] += 1
        if count[0] > budget:
            raise StiffLoopError(f"the loop's ODE needed more than {budget} evaluations by t = {_t:.3g} s of "
                                 f"{p.duration_s:.3g} s (a comparator this steep switches faster than any step)")
        w = state[:n]
        if rate is not None:
            return rate(w) / tau
        drive = gains * error(w)
        if cascade:
            m = state[n:]
            return np.concatenate([(p.gamma * m - leak * w) / tau, (drive - m) / p.tau_m_s])
        return (p.gamma * drive - leak * w) / tau

    start = np.concatenate([p.w0, np.zeros(n)]) if cascade else np.array(p.w0, dtype=float)
    times = np.asarray(iterations, dtype=float) * p.dt_s
    scale = max(float(np.max(np.abs(p.w0))), 1e-3)
    solution = solve_ivp(rhs, (0.0, float(times[-1])), start, method="LSODA", t_eval=times, rtol=rtol,
                         atol=rtol * scale)
    if not solution.success:
        raise RuntimeError(f"the loop's ODE could not be solved: {solution.message}")
    weights = solution.y[:n].T.copy()
    x, y = torch.as_tensor(p.x), torch.as_tensor(p.y)
    loss = mse(x, y, torch.as_tensor(weights), p.activation).numpy()
    return Trajectory(np.asarray(iterations).copy(), weights, loss)


def gradient_descent(
    problem: NFSingleLayerProblem,
    *,
    lr: float,
    weight_decay: float = 0.0,
    iterations: int | None = None,
    record_every: int = 1,
    ideal: bool = False,
    deadline: float | None = None,
) -> Trajectory:
    """Full-batch gradient descent on the MSE of Eq. 18 through autograd: ``w ← w − lr·(∇q + λ·w)``
    (Eq. 21 with λ = ``weight_decay``).

    With ``ideal`` the gradient flows through the textbook activation (for sign and the staircase its
    derivative is zero almost everywhere, as in 000 Fig. 4b's SGD baseline); otherwise through the
    same smooth hardware model the circuit builds. Recorded losses always use the hardware model, so
    they are comparable with the loop's. ``deadline`` as for :meth:`NFSingleLayerTwin.run`.
    """
    x = torch.as_tensor(problem.x, dtype=torch.float64)
    y = torch.as_tensor(problem.y, dtype=torch.float64)
    w = torch.as_tensor(problem.w0, dtype=torch.float64).clone().requires_grad_(True)
    steps = problem.iterations if iterations is None else iterations
    record = set(range(0, steps + 1, max(1, record_every))) | {steps}
    its, ws = [0], [w.detach().clone()]
    act = problem.activation
    for t in range(1, steps + 1):
        pred = sigma_ideal(act.name, x @ w, act.slope) if ideal else sigma(act, x @ w)
        loss = ((y - pred) ** 2).mean()
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= lr * (grad + weight_decay * w)
        if t in record:
            its.append(t)
            ws.append(w.detach().clone())
            _check_deadline(deadline, t, steps)
    weights = torch.stack(ws)
    with torch.no_grad():
        losses = mse(x, y, weights, problem.activation)
    return Trajectory(np.array(its), weights.numpy(), losses.numpy())


def linear_fixed_point(problem: NFSingleLayerProblem) -> np.ndarray | None:
    """The loop's settled weights in closed form for the identity activation (V per unit weight), or None
    for any other activation (whose fixed point has no closed form).

    Setting ``dw/dt = 0`` in 000 Eq. 10 with ``e = U(y − X·w)`` (Eq. 12; ``U = (x^p)ᵀ`` for u = β^p, σ' = 1)
    gives ``(U·X + Λ)·w = U·y`` with ``Λ = diag(1/(γ·A_i))`` for the leaky low-pass and ``Λ = 0`` without
    the leak. For u = x that is ridge-augmented least squares with ridge ``1/(γA)`` (large A: the plain
    least-squares inverse of Eq. 6); for u = β³ it is the different, weighted normal equation
    ``X³ᵀ(y − X·w) = 0``. Mismatched matrices and gains enter as built (``data_matrix``, ``error_matrix``,
    ``weight_gains``). The cascade integrator (Eq. 22) settles where the single one does."""
    p = problem
    if p.activation.name != "identity":
        return None
    u, x = p.error_matrix, p.data_matrix
    ridge = np.diag(1.0 / (p.gamma * p.weight_gains)) if p.leak else np.zeros((p.n_weights, p.n_weights))
    return np.linalg.solve(u @ x + ridge, u @ p.y)


def _check_deadline(deadline: float | None, step: int, steps: int) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise TimeoutError(f"stopped at iteration {step} of {steps}")


def matched_gd_rate(problem: NFSingleLayerProblem) -> float:
    """GD learning rate equivalent to the loop's: e = (m/2)(−∇q) (000 §5), so lr = η·γ·A·m/2."""
    return problem.eta * problem.gamma * problem.forward_gain * problem.n_samples / 2


#: The twin is the forward-Euler discretization of the loop's ODE (docs/nf_loop.md, "The twin and time
#: alignment"). A mode decaying at rate λ is stepped as (1 − ηλ)^k instead of exp(−kηλ); the difference,
#: ≈ (k(ηλ)²/2)·exp(−kηλ), is largest at kηλ = 1, where it is ηλ/(2e) of the mode's amplitude. The twin
#: is called valid while that worst case stays within TWIN_ERROR_TOLERANCE of the amplitude.
TWIN_ERROR_TOLERANCE = 0.05
#: The per-step loop gain η·γ·A·λ_max at which that worst case reaches the tolerance: 2e·0.05 ≈ 0.27.
TWIN_LOOP_GAIN_BOUND = 2 * math.e * TWIN_ERROR_TOLERANCE


def predicted_euler_error(gain: float) -> float:
    """Theory's worst-case twin-vs-ODE error for per-step loop gain ``gain``, as a fraction of the
    stiffest mode's amplitude (valid below forward Euler's stability limit, ``gain`` < 2)."""
    return gain / (2 * math.e)


def loop_gain(problem: NFSingleLayerProblem, weights: np.ndarray | None = None, *, max_points: int = 41) -> float:
    """Per-step loop gain ``η·γ·A·λ_max`` of the twin (docs/nf_loop.md, "The twin and time alignment").

    Linearizing the error of 000 Eq. 12, ``e = U(y − σ(X·w))``, about ``w`` gives ``∂e/∂w = −U·diag(σ'(z))·X``
    (for u = window / beta_pow the U's own σ'(z)^p factor is taken at ``z`` and the term from σ'' times
    the residual is dropped, as the doc does: U = x gives Xᵀ·diag(σ')·X, u = window Xᵀ·diag(σ'²)·X).
    One Euler step of Eq. 10 multiplies a deviation by ``I − diag(η_i·γ·A_i)·U·diag(σ')·X`` (leak aside,
    it adds η ≤ the gain), so its loop gain is the spectral radius of ``diag(η_i·γ·A_i)·U·diag(σ')·X``.
    σ' depends on ``w``: it is evaluated at each of ``weights`` (k, n) — e.g. the twin's recorded
    trajectory, thinned to ``max_points`` states — and the largest value is returned; ``None``: at ``w0``.
    """
    p = problem
    states = np.atleast_2d(p.w0 if weights is None else np.asarray(weights, dtype=np.float64))
    if len(states) > max_points:
        states = states[np.unique(np.linspace(0, len(states) - 1, max_points).round().astype(int))]
    x_fwd = p.data_matrix  # (m, n)
    u = p.error_matrix  # (n, m)
    scale = p.step_gains  # (n,)
    symmetric = not p.perturbed and p.error_power == 1
    _, s = _activation_np(p.activation, states @ x_fwd.T, True)  # σ'(z) at every state, (k, m)
    d = s ** (p.error_power + 1) if p.error_gain in ("window", "beta_pow") else s
    weighted = d[:, :, None] * x_fwd  # diag(d)·X of every state, (k, m, n)
    if symmetric:  # Xᵀ·diag(d)·X with d ≥ 0: symmetric positive semidefinite
        lam = np.linalg.eigvalsh(x_fwd.T @ weighted).max(axis=1) * float(scale[0])
    else:
        lam = np.abs(np.linalg.eigvals((scale[:, None] * u) @ weighted)).max(axis=1)
    return max(0.0, float(lam.max()))
