"""Digital twin of the single-layer negative-feedback optimizer, and the gradient-descent baseline.

The twin steps the discrete low-pass of 000 Eq. 10, ``w ← w + η(γ·A·e − w)`` with the error
``e = U(y − y')`` of Eq. 12, vectorized over samples and weights (one matrix product per step).
"""

from __future__ import annotations

import math
import time
from typing import Callable

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

    def run(self, *, record_every: int = 1, deadline: float | None = None) -> Trajectory:
        """Step the loop ``iterations`` times, recording every ``record_every``-th state.

        ``deadline`` (a ``time.perf_counter()`` value): raise :class:`TimeoutError` once it has passed,
        checked at recorded iterations, so a co-simulation's time limit binds the twin as well."""
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
    Eq. 12 exactly as the twin computes it (:meth:`NFSingleLayerTwin.error`, mismatch included). Solved
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
    twin = NFSingleLayerTwin(p)
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
        drive = gains * twin.error(torch.from_numpy(np.ascontiguousarray(w))).numpy()
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
    worst = 0.0
    for w in states:
        z = torch.as_tensor(x_fwd @ w)
        s = sigma_slope(p.activation, z).numpy()
        d = s ** (p.error_power + 1) if p.error_gain in ("window", "beta_pow") else s
        if symmetric:  # Xᵀ·diag(d)·X with d ≥ 0: symmetric positive semidefinite
            lam = float(np.max(np.linalg.eigvalsh(x_fwd.T @ (d[:, None] * x_fwd)))) * float(scale[0])
        else:
            lam = float(np.max(np.abs(np.linalg.eigvals((scale[:, None] * u) @ (d[:, None] * x_fwd)))))
        worst = max(worst, lam)
    return worst
