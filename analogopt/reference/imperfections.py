"""Where the NF loop settles when its circuit is imperfect: the fixed point of 000 Eq. 10–12 with the
imperfections written into the loop equation (docs/nf_macro.md, "Theory of the imperfections").

With the loop scaled so that τ·dw/dt = γ·A·e(w) (000 Eq. 10 without leak), the five imperfections of a
built loop enter as

    τ·dw/dt = γ·A·(e(w) + e_os)·H(w, e) − (ℓ + λ)·w,

- ``λ``, a leak the design did not ask for: an OTA's finite output resistance r_out into C (finite DC
  gain, τ/(r_out·C)) and the capacitor's own leakage resistance R_c (τ/(R_c·C)) add up;
- ``e_os``, an OTA's input offset in units of the error (V_os/s_e): a constant error term;
- ``H``, the integrator's output swing: the OTA's current fades as its output nears the limit it is
  pushed toward, ``H = 1 − exp(−max(w_rail − w, 0)/k)`` for a positive drive (mirrored for a negative
  one), ``k`` the knee in weight units, so a weight settles no further than ±w_rail (rail clipping);
- conductance quantization: the crossbars apply quantized matrices X̃ and Ũ instead of X and U, which
  the caller writes into the problem (``x_forward``, ``u_matrix``): e(w) = Ũ·(y − σ(X̃·w))·…;
- the summing amplifiers' and weight buffers' input offsets: a constant δz_k on each pre-activation and a
  further error offset per weight (derived in docs/nf_macro.md), z = X·w + δz;
- ``ℓ`` = 1 for a loop built with a leak (0 without).

The loop settles where the right-hand side vanishes, F(w*) = 0, solved here by Powell's hybrid method
(scipy's ``root``) from the ideal loop's own settling point. A loop whose weight runs into a rail
approaches it ever more slowly (H → 0), so within a run's duration it need not be near w*: what a run
ends at is the imperfect equation integrated over that duration (:func:`final_weights`, the loop's ODE
with this right-hand side), the prediction a simulation is compared with. For the identity activation, u = x and no
rail it is a closed form, a ridge solution: w* = (γA·XᵀX + (λ+ℓ)·I)⁻¹·γA·(Xᵀy + e_os·1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..problems import NFSingleLayerProblem
from .activations import sigma, sigma_slope
from .nf_single import NFSingleLayerTwin, loop_ode


@dataclass(frozen=True)
class LoopImperfections:
    """The imperfect loop equation's terms (module docstring), all in the loop's own units.

    ``leak``: λ (per τ, dimensionless); ``error_offset``: e_os (units of e, one value or one per weight);
    ``weight_rail``: w_rail, the largest |w| an integrator can hold (None: no limit); ``knee``: k, the
    width over which its drive fades (units of w); ``z_offset``: δz (below)."""

    leak: float = 0.0
    error_offset: float | tuple[float, ...] = 0.0
    weight_rail: float | None = None
    knee: float = 0.0
    #: a constant added to each sample's pre-activation (units of z, one per sample; None: none): the
    #: summing amplifiers' and weight buffers' offsets, z = X·w + δz
    z_offset: tuple[float, ...] | None = None

    def offsets(self, n: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.error_offset, dtype=float), (n,))

    def headroom(self, w: np.ndarray, drive: np.ndarray) -> np.ndarray:
        """H(w, drive): 1 far from the rails, 0 at the rail the drive pushes toward."""
        if self.weight_rail is None:
            return np.ones_like(w)
        room = np.where(drive > 0, self.weight_rail - w, w + self.weight_rail)
        if self.knee <= 0:
            return (room > 0).astype(float)
        return 1.0 - np.exp(-np.maximum(room, 0.0) / self.knee)


class NoFixedPointError(RuntimeError):
    """The imperfect loop equation has no fixed point near the start the caller gave."""


def error_function(problem: NFSingleLayerProblem, imperfections: LoopImperfections):
    """e(w) of 000 Eq. 12 as the circuit computes it (torch, float64): the twin's, or with the pre-activation
    offset δz, ``U·((y − σ(X·w + δz))·σ'(X·w + δz)^p)`` on the matrices the problem applies."""
    twin = NFSingleLayerTwin(problem)
    if imperfections.z_offset is None:
        return twin.error
    x = torch.as_tensor(problem.data_matrix, dtype=torch.float64)
    u = torch.as_tensor(problem.error_matrix, dtype=torch.float64)
    y = torch.as_tensor(problem.y, dtype=torch.float64)
    dz = torch.as_tensor(imperfections.z_offset, dtype=torch.float64)
    windowed = problem.error_gain in ("window", "beta_pow")

    def error(w: torch.Tensor) -> torch.Tensor:
        z = x @ w + dz
        d = y - sigma(problem.activation, z)
        if windowed:
            d = d * sigma_slope(problem.activation, z) ** problem.error_power
        return u @ d

    return error


def loop_rate(problem: NFSingleLayerProblem, imperfections: LoopImperfections = LoopImperfections()):
    """τ·dw/dt as a function of w (module docstring), the ``(w) -> ndarray`` the fixed point and the
    matched twin share."""
    error = error_function(problem, imperfections)
    gains = problem.weight_gains if problem.perturbed else np.full(problem.n_weights, problem.forward_gain)
    total_leak = imperfections.leak + (1.0 if problem.leak else 0.0)
    offset = imperfections.offsets(problem.n_weights)

    def rate(w: np.ndarray) -> np.ndarray:
        e = error(torch.from_numpy(np.ascontiguousarray(w, dtype=float))).numpy() + offset
        drive = problem.gamma * gains * e
        return drive * imperfections.headroom(w, drive) - total_leak * w

    return rate


def settled_weights(problem: NFSingleLayerProblem, imperfections: LoopImperfections = LoopImperfections(), *,
                    start: np.ndarray | None = None) -> np.ndarray:
    """w* of the loop with ``imperfections``; ``start``: the root finder's start (default w0)."""
    from scipy.optimize import root

    rate = loop_rate(problem, imperfections)
    first = np.array(problem.w0 if start is None else start, dtype=float)
    if imperfections.weight_rail is not None:
        # start inside the rails: at or past one, H = 0 and the Jacobian has no information
        inside = imperfections.weight_rail - 2 * max(imperfections.knee, 1e-9)
        first = np.clip(first, -inside, inside)
    solution = root(rate, first, method="hybr", options={"xtol": 1e-13})
    # at machine precision hybr may report "no progress" on a converged point: judge by the residual
    scale = max(float(np.max(np.abs(rate(first)))), 1.0)
    if float(np.max(np.abs(rate(solution.x)))) > 1e-9 * scale:
        raise NoFixedPointError(f"the imperfect loop has no fixed point near its start: {solution.message}")
    return solution.x


def final_weights(problem: NFSingleLayerProblem, imperfections: LoopImperfections = LoopImperfections(), *,
                  deadline: float | None = None) -> np.ndarray:
    """The weights the imperfect loop reaches at the end of the problem's duration, from w0 (the loop's
    ODE with the imperfect right-hand side, :func:`analogopt.reference.nf_single.loop_ode`)."""
    _single_integrator(problem)
    trajectory = loop_ode(problem, np.array([0, problem.iterations]), deadline=deadline,
                          rate=loop_rate(problem, imperfections))
    return trajectory.final_weights


class MatchedTwin(NFSingleLayerTwin):
    """The digital twin with the circuit's imperfections that have a digital equivalent: Euler steps of
    the imperfect loop equation (module docstring), ``w ← w + η_i·(γA_i·(e + e_os)·H − (ℓ + λ)·w)``, on the
    matrices the crossbars apply. It shows how much of the circuit's distance from the ideal mathematics
    these imperfections explain."""

    def __init__(self, problem: NFSingleLayerProblem, imperfections: LoopImperfections) -> None:
        _single_integrator(problem)
        super().__init__(problem)
        self.imperfections = imperfections
        self._gains = torch.as_tensor(problem.weight_gains, dtype=torch.float64)
        self._etas = torch.as_tensor(problem.dt_s / problem.weight_taus_s, dtype=torch.float64)
        self._offset = torch.as_tensor(imperfections.offsets(problem.n_weights).copy(), dtype=torch.float64)
        self._leak = imperfections.leak + (1.0 if problem.leak else 0.0)
        self._error = error_function(problem, imperfections)

    def step(self, w: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        drive = self.problem.gamma * self._gains * (self._error(w) + self._offset)
        rail, knee = self.imperfections.weight_rail, self.imperfections.knee
        if rail is not None:
            room = torch.where(drive > 0, rail - w, w + rail).clamp(min=0.0)
            drive = drive * (1.0 - torch.exp(-room / knee) if knee > 0 else (room > 0).to(w.dtype))
        w.add_(self._etas * (drive - self._leak * w))
        return w


def _single_integrator(problem: NFSingleLayerProblem) -> None:
    if problem.integrator == "cascade":
        raise NotImplementedError("the imperfect loop equation covers the single integrator (Eq. 10), "
                                  "not the momentum cascade (Eq. 22)")


def ridge_weights(x: np.ndarray, y: np.ndarray, *, gain: float, leak: float, error_offset: float = 0.0) -> np.ndarray:
    """The closed form for the identity activation with u = x (module docstring)."""
    n = x.shape[1]
    return np.linalg.solve(gain * x.T @ x + leak * np.eye(n), gain * (x.T @ y + error_offset * np.ones(n)))


def weight_noise_covariance(problem: NFSingleLayerProblem, imperfections: LoopImperfections, w_settled: np.ndarray,
                            error_noise_density: float) -> np.ndarray:
    """Covariance of the settled weights' fluctuation when white noise of one-sided density
    ``error_noise_density`` (units of e per √Hz; an OTA's input noise e_n/s_e) enters every integrator's
    input independently.

    About the fixed point the loop is linear, ``τ_i·dδw/dt = J·δw + γA_i·n_i(t)`` with ``J`` the Jacobian
    of the imperfect right-hand side (:func:`loop_rate`; taken by central differences), an
    Ornstein–Uhlenbeck process whose stationary covariance Σ solves the Lyapunov equation
    ``M·Σ + Σ·Mᵀ + B·(S/2)·Bᵀ = 0`` with ``M = J/τ``, ``B = diag(γA_i/τ_i)`` and ``S/2`` the two-sided
    intensity of a one-sided density S (scalar check: var = b²·S/(4a) for dδw/dt = −a·δw + b·n)."""
    from scipy.linalg import solve_continuous_lyapunov

    _single_integrator(problem)
    rate = loop_rate(problem, imperfections)
    w = np.asarray(w_settled, dtype=float)
    n = w.size
    step = 1e-6 * max(float(np.max(np.abs(w))), 1.0)
    jacobian = np.empty((n, n))
    for j in range(n):  # n evaluations of the whole error: a Jacobian column per weight, not a hot path
        d = np.zeros(n)
        d[j] = step
        jacobian[:, j] = (rate(w + d) - rate(w - d)) / (2 * step)
    taus = problem.weight_taus_s
    m = jacobian / taus[:, None]
    gains = problem.weight_gains if problem.perturbed else np.full(n, problem.forward_gain)
    b = np.diag(problem.gamma * gains / taus)
    if np.max(np.linalg.eigvals(m).real) >= 0:
        raise NoFixedPointError("the loop is not stable about its settling point: its weights' noise has no "
                                "stationary spread")
    return solve_continuous_lyapunov(m, -b @ (0.5 * error_noise_density**2 * np.eye(n)) @ b.T)
