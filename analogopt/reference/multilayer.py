"""Digital twins of the multi-layer training circuits, from the rule library, in the circuits' time base.

The circuit integrates ``τ dθ/dt = −u(θ)`` with ``u`` the rule's update (a gradient for NF at u = β and BP).
Its discrete equivalent (000 Eq. 10, η = Δt/τ):

* ``batch``: full-batch steps ``θ ← θ − η·u(θ; all samples)``, one per ``Δt = η·τ`` of analog time;
* ``online``: one step per presentation, ``θ ← θ − η·u(θ; x_p)`` with ``η = T/τ`` for a sample held for
  ``T``. The circuit integrates the same piecewise-constant input exactly.

Both equal the circuit only as η → 0 if taken as single Euler steps. The twin therefore integrates
each step's flow (the same input throughout a presentation) in ``substeps`` steps of Heun's method, the
explicit trapezoidal rule, second order at two rule evaluations per substep. On the iris batch circuit
four Heun substeps per step land within 9e-4 of a weight's range of the flow, where 48 Euler substeps,
at five times the cost, land within 7.7e-3.
:func:`integration_error` measures what is left, by Richardson's estimate from twins of ``s`` and ``s/2``
substeps.

The rules come from :mod:`analogopt.reference.rules` unchanged (``loss="mse"``: ½‖a^L − y‖² per
sample, mean over the batch); the circuit's fixed feedback matrices are the rule's own, read back with
:func:`library_feedback` so that circuit and twin share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..problems import MultiLayerProblem
from .nets import LayeredNet, mlp
from .rules import make_rule
from .rules.base import LearningRule

#: The order of the twins' integrator (Heun's method): its error falls as substeps^−ORDER.
ORDER = 2
#: The rule-library name and options of each circuit rule (NF at u = β on squared error).
LIBRARY_RULES: dict[str, tuple[str, dict]] = {
    "nf": ("nf", {"gain": "beta"}), "bp": ("bp", {}), "fa": ("rbp", {}), "rbp": ("rbp", {}),
    "dfa": ("srbp", {}), "srbp": ("srbp", {}), "mdfa": ("mdfa", {}),
}


def make_net(sizes, hidden: str, output: str, *, negative_slope: float = 0.01, mono: bool = False,
             init: str = "xavier_normal", seed: int = 0) -> LayeredNet:
    """The network in float64 (the circuit's weights are compared to 1e-4 of their range)."""
    return mlp(list(sizes), hidden, output_activation=output, negative_slope=negative_slope, mono=mono,
               init=init, seed=seed).double()


def net_weights(net: LayeredNet) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """``(W^1 … W^L, b^1 … b^L)`` as numpy copies."""
    return (tuple(b.weight.detach().numpy().copy() for b in net.blocks),
            tuple(b.bias.detach().numpy().copy() for b in net.blocks))


def _rule(name: str, net: LayeredNet, seed: int) -> LearningRule:
    library, options = LIBRARY_RULES[name]
    return make_rule(library, net, loss="mse", seed=seed, **options)


def library_feedback(rule: str, net: LayeredNet, x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The fixed feedback matrices the rule library draws for ``net`` (chain: one shaped like each
    ``W^{l+1}``; direct: one (n_L, n_l) per hidden layer; none for NF/BP), without changing ``net``."""
    if LIBRARY_RULES[rule][0] in ("nf", "bp"):
        return ()
    r = _rule(rule, net, seed)
    _initialise(r, net, x, y)
    return tuple(m.detach().numpy().copy() for m in r.feedback_matrices)


def _initialise(rule: LearningRule, net: LayeredNet, x: np.ndarray, y: np.ndarray) -> None:
    """A direct rule draws its matrices at its first update (their shapes need a forward pass): run one
    on a sample and drop its gradients."""
    rule.compute_grads(torch.from_numpy(x[:1]), torch.from_numpy(y[:1]))
    for p in net.parameters():
        p.grad = None


@dataclass(frozen=True)
class TwinTrajectory:
    """The twin's weights after every step: ``time_s`` (points,) from 0, ``weights[l]`` (points, n_l,
    n_{l−1} + 1) with the bias last, ``loss`` the mean training loss over all samples at each point."""

    time_s: np.ndarray
    weights: tuple[np.ndarray, ...]
    loss: np.ndarray
    substeps: int
    rule: str

    def flat(self) -> np.ndarray:
        """(points, all weights) in the circuit's integrator order (layer by layer, row by row, biases last)."""
        return self._flat

    @cached_property
    def _flat(self) -> np.ndarray:  # made once: comparisons read it column by column
        parts = []
        for w in self.weights:
            parts += [w[:, :, :-1].reshape(len(w), -1), w[:, :, -1]]
        return np.concatenate(parts, 1)


def twin_net(problem: MultiLayerProblem) -> LayeredNet:
    """A network holding the problem's initial weights."""
    net = make_net(problem.sizes, problem.hidden.name, problem.output.name,
                   negative_slope=problem.hidden.slope, mono=problem.mono)
    with torch.no_grad():
        for block, w, b in zip(net.blocks, problem.weights, problem.biases):
            block.weight.copy_(torch.from_numpy(w))
            block.bias.copy_(torch.from_numpy(b))
    return net


def run_twin(problem: MultiLayerProblem, *, substeps: int = 4, rule: str | None = None, seed: int = 0) -> TwinTrajectory:
    """The rule ``rule`` (default the problem's) stepped in the problem's discretisation (module docstring),
    with the problem's feedback matrices."""
    name = rule or problem.rule
    net = twin_net(problem)
    r = _rule(name, net, seed)
    x, y = torch.from_numpy(problem.x), torch.from_numpy(problem.y)
    if LIBRARY_RULES[name][0] not in ("nf", "bp"):
        _initialise(r, net, problem.x, problem.y)
        with torch.no_grad():
            for target, value in zip(r.feedback_matrices, problem.feedback):
                target.copy_(torch.from_numpy(value))
    # the updates written out: torch.optim's first optimizer imports torch._dynamo (3.5 s), and its step
    # costs more than the update itself on these small layers
    params = list(net.parameters())
    rate = problem.eta / substeps
    points = problem.steps + 1
    stride = max(1, problem.n_samples // 4)
    weights = [np.empty((points, n_out, n_in + 1)) for n_in, n_out in zip(problem.sizes[:-1], problem.sizes[1:])]
    loss = np.empty(points)

    def record(p: int) -> None:
        for store, block in zip(weights, net.blocks):
            store[p, :, :-1] = block.weight.detach().numpy()
            store[p, :, -1] = block.bias.detach().numpy()

    def batch_loss() -> float:
        with torch.no_grad():
            return float(0.5 * (net(x) - y).square().sum(1).mean())

    record(0)
    for p in range(problem.steps):
        if problem.mode == "batch":
            xb, yb = x, y
        else:
            k = int(problem.order[p])
            xb, yb = x[k : k + 1], y[k : k + 1]
        for sub in range(substeps):
            value = _heun_step(r, params, xb, yb, rate)
            if sub == 0 and problem.mode == "batch":
                loss[p] = value  # the full batch's loss at the step's start: no extra forward pass
        if problem.mode == "online" and p % stride == 0:
            loss[p] = batch_loss()
        record(p + 1)
    loss[-1] = batch_loss()
    if problem.mode == "online":  # the training loss is computed every ``stride`` presentations and held between
        marks = np.arange(0, problem.steps, stride)
        loss[:-1] = np.interp(np.arange(problem.steps), marks, loss[marks])
    time_s = np.arange(points) * problem.step_time_s
    return TwinTrajectory(time_s, tuple(weights), loss, substeps, name)


def _heun_step(rule: LearningRule, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, rate: float) -> float:
    """One step of Heun's method on ``dθ/ds = −u(θ)``: an Euler predictor, then the mean of the updates at
    both ends. The rule's projection (the mono-net's θ ≥ 0, 004 Def. 1) follows both stages, as the
    circuit's clamp acts at every instant. Returns the loss at the step's start."""
    value = float(rule.compute_grads(x, y))
    with torch.no_grad():
        start = [q.clone() for q in params]
        first = [q.grad.clone() for q in params]
        torch._foreach_add_(params, first, alpha=-rate)
    rule.after_step()
    rule.compute_grads(x, y)
    with torch.no_grad():
        torch._foreach_add_(first, [q.grad for q in params])
        for q, q0 in zip(params, start):
            q.copy_(q0)
        torch._foreach_add_(params, first, alpha=-rate / 2)
    rule.after_step()
    return value


def integration_error(twin: TwinTrajectory, check: TwinTrajectory) -> np.ndarray:
    """Per point and weight, Richardson's estimate of ``twin``'s distance from the continuous-time flow, from
    a second twin of other substeps: an order-p method's error is ``C/s^p``, so
    ``θ_s − θ_∞ = (θ_c − θ_s)/((s/c)^p − 1)``."""
    s, c = twin.substeps, check.substeps
    return (check.flat() - twin.flat()) / ((s / c) ** ORDER - 1.0)


def check_substeps(substeps: int) -> int:
    """The second twin's substeps: half as many (half the cost) where possible, else twice."""
    return substeps // 2 if substeps >= 2 else 2


def continuous_flow(twin: TwinTrajectory, check: TwinTrajectory) -> np.ndarray:
    """Richardson's extrapolation of the two twins to the continuous-time flow (points, all weights)."""
    return twin.flat() - integration_error(twin, check)


def forward(weights: tuple[np.ndarray, ...], x: np.ndarray, hidden: str, output: str, slope: float = 0.01) -> np.ndarray:
    """The network's output for ``x`` with weights ``(n_l, n_{l−1} + 1)`` per layer (numpy, for accuracies)."""
    act = {"tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)), "identity": lambda z: z,
           "leaky_relu": lambda z: np.where(z > 0, z, slope * z)}
    a = x
    for l, w in enumerate(weights):
        z = a @ w[:, :-1].T + w[:, -1]
        a = act[output if l == len(weights) - 1 else hidden](z)
    return a


def true_gradient(problem: MultiLayerProblem, weights: tuple[np.ndarray, ...], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂(½‖a^L − y‖²)/∂θ for one sample at ``weights``, flat in the circuit's integrator order (autograd)."""
    net = make_net(problem.sizes, problem.hidden.name, problem.output.name, negative_slope=problem.hidden.slope)
    with torch.no_grad():
        for block, w in zip(net.blocks, weights):
            block.weight.copy_(torch.from_numpy(w[:, :-1]))
            block.bias.copy_(torch.from_numpy(w[:, -1]))
    loss = 0.5 * (net(torch.from_numpy(x[None])) - torch.from_numpy(y[None])).square().sum()
    loss.backward()
    parts = []
    for block in net.blocks:
        parts += [block.weight.grad.numpy().ravel(), block.bias.grad.numpy()]
    return np.concatenate(parts)
