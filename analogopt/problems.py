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

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid", "sign", "staircase")
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
            raise ConfigError(f"loop.w0: {x.shape[1]} weights but {w0.size} initial values (shape {w0.shape}); "
                              "give one per weight")
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


#: Learning rules with a multi-layer training circuit, and the backward path each one builds:
#: ``transpose`` reads the forward weights (NF at u = β, 000 Eq. 16–17; BP), ``chain`` a fixed random
#: matrix per layer (FA/RBP, 001 Eq. 6–8), ``direct`` one fixed matrix from the output error to every
#: hidden layer (DFA/SRBP, 001 §3; mDFA, 004 §3).
MULTILAYER_RULES = {"nf": "transpose", "bp": "transpose", "fa": "chain", "rbp": "chain",
                    "dfa": "direct", "srbp": "direct", "mdfa": "direct"}
#: ``batch``: one forward/backward copy per training sample, all reading the same weights (gradient flow
#: on the full batch); ``online``: one copy, the samples presented one after another.
PRESENTATION_MODES = ("batch", "online")
#: Activations a multi-layer circuit may use in its hidden layers, and at its output.
HIDDEN_ACTIVATIONS = ("tanh", "leaky_relu", "sigmoid")
OUTPUT_ACTIVATIONS = ("identity", "tanh", "sigmoid")


def _array(value, name: str, shape: tuple[int, ...], *, positive: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ConfigError(f"shape mismatch: {name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)) or (positive and not np.all(arr > 0)):
        raise ConfigError(f"{name} must be finite{' and > 0' if positive else ''}")
    return arr


@dataclass(frozen=True)
class MultiLayerProblem:
    """An L-layer network trained by a rule of :data:`MULTILAYER_RULES` on squared error.

    The network (004 Eq. 1 without the output squashing): ``z^l = W^l a^{l−1} + b^l``, ``a^l = σ_l(z^l)``,
    ``a^0 = x``; ``sizes = (n_0, …, n_L)``. The loss of a sample is ``½‖a^L − y‖²``; its error at the output
    is ``δ^L = (a^L − y) ⊙ σ_L'(z^L)`` (the difference vector of 000 Eq. 16 through the output window), the
    hidden errors ``δ^l = j^l ⊙ σ_l'(z^l)`` with ``j^l`` from the rule's backward path, and every weight
    integrates ``τ dW^l/dt = −⟨δ^l a^{l−1}ᵀ⟩`` (000 Eq. 10 without leak: the low-pass as a pure integrator).

    ``weights``/``biases``: initial ``W^l`` (n_l, n_{l−1}) and ``b^l`` (n_l,). ``feedback``: the fixed
    matrices of the backward path, as the rule library holds them: for ``chain`` one per hidden layer shaped
    like ``W^{l+1}`` (``j^l = B^{l+1}ᵀ δ^{l+1}``), for ``direct`` one (n_L, n_l) per hidden layer
    (``j^l = C^lᵀ δ^L``), none for ``transpose``.

    ``mode``: ``batch`` averages over all of ``x`` at once (⟨·⟩ = mean over the samples), so the circuit
    is gradient flow whose discrete equivalent is full-batch steps of ``η = Δt/τ``; ``online`` presents
    ``x[order[p]]`` during ``[p·T, (p+1)·T)`` with ``T = eta·tau_s``, so each presentation is one per-sample
    step of ``η = T/τ`` (exact while the weights move little within one presentation). ``steps`` is the
    number of full-batch iterations (batch) or presentations (online, ``len(order)``).

    Non-idealities of the circuit (``None`` = ideal; the twin is always the ideal rule):
    ``tau_factors[l]`` (n_l, n_{l−1} + 1) multiplies each weight's (last column: bias's) integrator time
    constant; ``feedback_factors[l]`` each feedback conductance; ``multiplier_range_v`` gives every
    multiplier the finite linear range of a Gilbert cell, ``V_L²·tanh(a/V_L)·tanh(b/V_L)``;
    ``multiplier_offset_v``: the standard deviation (V) of the input offsets drawn per multiplier with
    ``multiplier_seed``.
    """

    sizes: tuple[int, ...]
    hidden: ActivationSpec
    output: ActivationSpec
    rule: str
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    feedback: tuple[np.ndarray, ...]
    x: np.ndarray
    y: np.ndarray
    mode: str = "batch"
    tau_s: float = 1e-3
    eta: float = 0.05
    steps: int = 100
    order: np.ndarray | None = None
    tau_factors: tuple[np.ndarray, ...] | None = None
    feedback_factors: tuple[np.ndarray, ...] | None = None
    multiplier_range_v: float | None = None
    multiplier_offset_v: float = 0.0
    multiplier_seed: int = 0

    def __post_init__(self) -> None:
        sizes = tuple(as_integer(n, "layer size", low=1) for n in self.sizes)
        if len(sizes) < 3:
            raise ConfigError(f"a multi-layer network needs at least one hidden layer (sizes n_0 … n_L, L ≥ 2), got {list(sizes)}")
        object.__setattr__(self, "sizes", sizes)
        if self.rule not in MULTILAYER_RULES:
            raise ConfigError(f"rule {self.rule!r} has no multi-layer circuit; choose one of {', '.join(MULTILAYER_RULES)}")
        if self.mode not in PRESENTATION_MODES:
            raise ConfigError(f"unknown presentation mode {self.mode!r}; choose one of {', '.join(PRESENTATION_MODES)}")
        if self.hidden.name not in HIDDEN_ACTIVATIONS:
            raise ConfigError(f"hidden activation {self.hidden.name!r} has no multi-layer circuit; choose one of {', '.join(HIDDEN_ACTIVATIONS)}")
        if self.output.name not in OUTPUT_ACTIVATIONS:
            raise ConfigError(f"output activation {self.output.name!r}: choose one of {', '.join(OUTPUT_ACTIVATIONS)}")
        layers = len(sizes) - 1
        if len(self.weights) != layers or len(self.biases) != layers:
            raise ConfigError(f"{layers} layers need {layers} weight matrices and bias vectors, got {len(self.weights)} and {len(self.biases)}")
        object.__setattr__(self, "weights", tuple(_array(w, f"W{l + 1}", (sizes[l + 1], sizes[l])) for l, w in enumerate(self.weights)))
        object.__setattr__(self, "biases", tuple(_array(b, f"b{l + 1}", (sizes[l + 1],)) for l, b in enumerate(self.biases)))
        object.__setattr__(self, "feedback", tuple(_array(m, f"feedback {l + 1}", shape)
                                                   for l, (m, shape) in enumerate(zip(self.feedback, self._feedback_shapes(), strict=False))))
        if len(self.feedback) != len(self._feedback_shapes()):
            raise ConfigError(f"rule {self.rule!r} needs {len(self._feedback_shapes())} feedback matrices, got {len(self.feedback)}")
        x = _array(self.x, "x", (np.shape(self.x)[0], sizes[0])) if np.ndim(self.x) == 2 else None
        if x is None or x.shape[0] < 1:
            raise ConfigError(f"x must be a 2-D array (samples × {sizes[0]} inputs), got shape {np.shape(self.x)}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", _array(self.y, "y", (x.shape[0], sizes[-1])))
        object.__setattr__(self, "steps", as_integer(self.steps, "steps", low=1))
        for name, unit in (("tau_s", "s"), ("eta", None)):
            object.__setattr__(self, name, as_number(getattr(self, name), name, positive=True, unit=unit))
        if self.mode == "online":
            order = np.arange(self.steps) % x.shape[0] if self.order is None else np.asarray(self.order)
            if order.shape != (self.steps,) or not np.issubdtype(order.dtype, np.integer) or order.min() < 0 or order.max() >= x.shape[0]:
                raise ConfigError(f"order must hold {self.steps} sample indices in 0 … {x.shape[0] - 1}")
            object.__setattr__(self, "order", order.astype(np.int64))
        if self.tau_factors is not None:
            object.__setattr__(self, "tau_factors", tuple(
                _array(f, f"tau_factors {l + 1}", (sizes[l + 1], sizes[l] + 1), positive=True) for l, f in enumerate(self.tau_factors)))
            if len(self.tau_factors) != layers:
                raise ConfigError(f"tau_factors needs one array per layer ({layers})")
        if self.feedback_factors is not None:
            object.__setattr__(self, "feedback_factors", tuple(
                _array(f, f"feedback_factors {l + 1}", m.shape) for l, (f, m) in enumerate(zip(self.feedback_factors, self.feedback))))
            if len(self.feedback_factors) != len(self.feedback):
                raise ConfigError(f"feedback_factors needs one array per feedback matrix ({len(self.feedback)})")
        if self.multiplier_range_v is not None:
            object.__setattr__(self, "multiplier_range_v", as_number(self.multiplier_range_v, "multiplier linear range", positive=True, unit="V"))
        object.__setattr__(self, "multiplier_offset_v", as_number(self.multiplier_offset_v, "multiplier offset", low=0, unit="V"))

    def _feedback_shapes(self) -> list[tuple[int, int]]:
        n, path = self.sizes, self.backward_path
        if path == "chain":
            return [(n[l + 1], n[l]) for l in range(1, len(n) - 1)]
        if path == "direct":
            return [(n[-1], n[l]) for l in range(1, len(n) - 1)]
        return []

    @property
    def backward_path(self) -> str:
        return MULTILAYER_RULES[self.rule]

    @property
    def layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]

    @property
    def copies(self) -> int:
        """Forward/backward copies in the circuit: one per sample in batch mode, one online."""
        return self.n_samples if self.mode == "batch" else 1

    @property
    def mono(self) -> bool:
        """mDFA's mono-net (004 Def. 1): weights of layers ≥ 2 held ≥ 0."""
        return self.rule == "mdfa"

    @property
    def step_time_s(self) -> float:
        """Analog time of one step: a full-batch iteration (batch) or one presentation (online), η·τ (s)."""
        return self.eta * self.tau_s

    @property
    def duration_s(self) -> float:
        return self.steps * self.step_time_s

    @property
    def weight_count(self) -> int:
        return sum(self.sizes[l + 1] * (self.sizes[l] + 1) for l in range(self.layers))

    @property
    def ideal(self) -> bool:
        """No circuit non-ideality is set (the twin then models the circuit exactly)."""
        return (self.tau_factors is None and self.feedback_factors is None and self.multiplier_range_v is None
                and self.multiplier_offset_v == 0)
