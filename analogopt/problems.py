"""Problem definitions shared by the circuit generators and the digital twins (numpy only).

A problem is plain data: the training set, the network, the learning rule's constants. Both machines
compile the same problem: :mod:`analogopt.circuits` into a netlist, :mod:`analogopt.reference` into a
PyTorch twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .values import as_boolean, as_integer, as_number

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sign", "staircase")
#: Activations with a jump: built as finite-gain, smoothly saturating comparators.
COMPARATOR_ACTIVATIONS = ("sign", "staircase")
ERROR_GAINS = ("x", "window", "beta_pow")
#: Weight integrators: first-order RC low-pass (000 Eq. 10) or two in cascade, i.e. momentum (Eq. 22).
INTEGRATORS = ("rc", "cascade")


@dataclass(frozen=True)
class ActivationSpec:
    """An activation σ as hardware builds it.

    ``gain`` (V/V) is the comparator gain: ``sign`` is ``tanh(gain·z)``, the staircase of 000 Fig. 4a is
    ``Σ_{c∈{−1,0,1}} tanh(gain·(z − c))`` (slope ``gain`` at each step), and ``relu``'s knee is the smooth
    ``(z + √(z² + ε²))/2`` with ``ε = 1/gain`` V. ``slope`` is leaky_relu's negative-side slope. Identity
    and tanh ignore ``gain``.
    """

    name: str
    gain: float = 50.0
    slope: float = 0.01

    def __post_init__(self) -> None:
        if self.name not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.name!r}; choose one of {', '.join(ACTIVATIONS)}")
        # the strict reader also serves the Python API: NumPy scalars pass, strings and bools do not
        object.__setattr__(self, "gain", as_number(self.gain, "activation gain", positive=True, unit="V/V"))
        object.__setattr__(self, "slope", as_number(self.slope, "leaky_relu slope", low=0, below=1))


@dataclass(frozen=True)
class NFSingleLayerProblem:
    """The single-layer negative-feedback optimizer of 000 §3–§4.3 (Fig. 2, Eq. 8–12).

    ``x``: inputs, shape (m samples, n weights), a bias column of ones included by the caller (000 §3.1);
    ``y``: targets, shape (m,). The loop solves ``w = f⁻¹(y)`` for ``y' = σ(x·w)`` with the error
    ``e = U (y − y')`` of Eq. 12, forward gain ``forward_gain`` (A), and weights behind first-order
    low-pass filters ``τ dw/dt = −w + γ A e`` (Eq. 10; without ``leak`` the ``−w`` term is absent).

    ``error_gain``: ``"x"`` (U = x, Eq. 12), ``"window"`` (U = σ'(z)·x, 000 §4.2) or ``"beta_pow"``
    (U = β^power = (σ'(z)·x)^power, odd ``power``, 000 §5). ``eta`` = Δt/τ is the twin's learning rate;
    ``iterations`` twin steps span the analog time ``iterations·eta·tau_s`` seconds.

    ``integrator``: ``"rc"`` (Eq. 10) or ``"cascade"``: a first low-pass of time constant ``tau_m_s``
    (s) in front of the weight's, which is momentum with ``β_m = 1 − η·τ/τ_m`` (000 §6.1, Eq. 22).

    Mismatch (optional; ``None`` = nominal, what Monte Carlo sweeps of :mod:`analogopt.sweep` fill in):
    ``x_forward`` (m, n) is the matrix the data crossbar actually applies (default ``x``); ``u_matrix``
    (n, m) the error crossbar's (default ``(x^p)ᵀ``, Eq. 12); ``tau_w_s`` (n,) each weight integrator's
    R·C (s, default ``tau_s``; the twin's per-weight rate is ``η·tau_s/τ_i``); ``forward_gains`` (n,)
    each forward amplifier's gain (default ``forward_gain``). Circuit and twin read the same values.
    """

    x: np.ndarray
    y: np.ndarray
    activation: ActivationSpec
    error_gain: str = "x"
    power: int = 1
    forward_gain: float = 1.0
    gamma: float = 1.0
    tau_s: float = 1e-3
    eta: float = 1e-2
    iterations: int = 1000
    leak: bool = True
    w0: np.ndarray | None = None
    weight_names: tuple[str, ...] = field(default=())
    integrator: str = "rc"
    tau_m_s: float | None = None
    x_forward: np.ndarray | None = None
    u_matrix: np.ndarray | None = None
    tau_w_s: np.ndarray | None = None
    forward_gains: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ConfigError(f"x must be a 2-D array (samples × weights), got shape {x.shape}")
        if y.shape != (x.shape[0],):
            raise ConfigError(f"shape mismatch: x has {x.shape[0]} samples but y has shape {y.shape}")
        for name, arr in (("x", x), ("y", y)):
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"{name} contains NaN or inf")
        if self.error_gain not in ERROR_GAINS:
            raise ConfigError(f"unknown error gain {self.error_gain!r}; choose one of {', '.join(ERROR_GAINS)}")
        # integers stay integers (power 3.7 and iterations 300.9 are errors, not 3 and 300)
        object.__setattr__(self, "power", as_integer(self.power, "power", low=1))
        object.__setattr__(self, "iterations", as_integer(self.iterations, "iterations", low=1))
        object.__setattr__(self, "leak", as_boolean(self.leak, "leak"))
        if self.error_gain == "beta_pow" and self.power % 2 == 0:
            raise ConfigError(f"power: beta_pow needs an odd positive power n (000 §5), got {self.power}")
        for name, unit in (("forward_gain", "V/V"), ("gamma", None), ("tau_s", "s"), ("eta", None)):
            object.__setattr__(self, name, as_number(getattr(self, name), name, positive=True, unit=unit))
        if self.eta > 1:
            raise ConfigError(f"eta = Δt/τ must be ≤ 1 for the discrete low-pass of Eq. 10, got {self.eta}")
        if self.integrator not in INTEGRATORS:
            raise ConfigError(f"unknown integrator {self.integrator!r}; choose one of {', '.join(INTEGRATORS)}")
        if self.tau_m_s is not None:
            object.__setattr__(self, "tau_m_s", as_number(self.tau_m_s, "tau_m_s", positive=True, unit="s"))
        if self.integrator == "cascade":
            if self.tau_m_s is None:
                raise ConfigError("the cascade integrator needs tau_m_s > 0 s, got none")
            if self.eta * self.tau_s > self.tau_m_s:
                raise ConfigError(f"tau_m_s = {self.tau_m_s:g} s is shorter than one twin step η·τ = {self.eta * self.tau_s:g} s")
        w0 = np.zeros(x.shape[1]) if self.w0 is None else np.asarray(self.w0, dtype=np.float64)
        if w0.shape != (x.shape[1],):
            raise ConfigError(f"shape mismatch: {x.shape[1]} weights but initial weights have shape {w0.shape}")
        if not np.all(np.isfinite(w0)):
            raise ConfigError("initial weights contain NaN or inf")
        names = self.weight_names or tuple(f"w{i}" for i in range(x.shape[1]))
        if len(names) != x.shape[1]:
            raise ConfigError(f"{len(names)} weight names for {x.shape[1]} weights")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "w0", w0)
        object.__setattr__(self, "weight_names", tuple(names))
        m, n = x.shape
        for name, shape, positive in (("x_forward", (m, n), False), ("u_matrix", (n, m), False),
                                      ("tau_w_s", (n,), True), ("forward_gains", (n,), True)):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise ConfigError(f"shape mismatch: {name} must have shape {shape}, got {arr.shape}")
            if not np.all(np.isfinite(arr)) or (positive and not np.all(arr > 0)):
                raise ConfigError(f"{name} must be finite{' and > 0' if positive else ''}")
            object.__setattr__(self, name, arr)

    @property
    def n_weights(self) -> int:
        return self.x.shape[1]

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]

    @property
    def dt_s(self) -> float:
        """Analog time of one twin iteration, Δt = η·τ (s)."""
        return self.eta * self.tau_s

    @property
    def duration_s(self) -> float:
        return self.iterations * self.dt_s

    @property
    def beta_m(self) -> float:
        """Momentum coefficient of the cascade's first filter, β_m = 1 − Δt/τ_m (Eq. 22)."""
        return 1.0 - self.dt_s / self.tau_m_s if self.tau_m_s else 0.0

    @property
    def perturbed(self) -> bool:
        """True when any mismatch field is set (circuit and twin then use the per-element values)."""
        return any(v is not None for v in (self.x_forward, self.u_matrix, self.tau_w_s, self.forward_gains))

    @property
    def data_matrix(self) -> np.ndarray:
        """(m, n) conductances of the data crossbar, z = X·w (S per unit, 1 Ω sum load)."""
        return self.x if self.x_forward is None else self.x_forward

    @property
    def error_matrix(self) -> np.ndarray:
        """(n, m) error crossbar U of Eq. 12 (x^p transposed unless mismatched)."""
        return (self.x**self.error_power).T if self.u_matrix is None else self.u_matrix

    @property
    def weight_taus_s(self) -> np.ndarray:
        """(n,) time constant of each weight integrator (s)."""
        return np.full(self.n_weights, self.tau_s) if self.tau_w_s is None else self.tau_w_s

    @property
    def weight_gains(self) -> np.ndarray:
        """(n,) forward gain A of each weight's amplifier."""
        return np.full(self.n_weights, self.forward_gain) if self.forward_gains is None else self.forward_gains

    @property
    def error_power(self) -> int:
        """Exponent applied to x and σ' in U: n for beta_pow, else 1."""
        return self.power if self.error_gain == "beta_pow" else 1

    @property
    def step_gains(self) -> np.ndarray:
        """(n,) each weight's per-step loop-gain factor η_i·γ·A_i of the twin's Euler step (Eq. 10 with
        η_i = Δt/τ_i); times λ_max of the error's Jacobian it is the loop gain of docs/nf_loop.md."""
        return self.dt_s / self.weight_taus_s * self.gamma * self.weight_gains
