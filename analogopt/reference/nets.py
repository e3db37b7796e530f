"""Layered networks for the learning-rule library: MLP/conv builders, activations with derivatives,
mono-net constraints and init schemes.

A :class:`LayeredNet` is a list of :class:`Block` s. Each block is ``[flatten] → Linear|Conv2d → activation
→ [pool]``; the learning rules of :mod:`analogopt.reference.rules` read the block boundaries to place
their error signals (BP 001 Eq. 3–5, FA/DFA 001 Eq. 6–8, NF 000 Eq. 13–17, …). Existing
``nn.Sequential`` models convert with :func:`from_sequential`; the parameters are shared, not copied.

Mono-nets (004 Def. 1): every weight from layer 2 on is non-negative and every activation monotone
increasing; :meth:`LayeredNet.constrain_` projects the weights back after an optimizer step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class ActivationSpec:
    """Properties of an activation that decide which rules may use it.

    ``monotone``: non-decreasing everywhere (004 Def. 1 needs this for mono-nets).
    ``bijective``: strictly increasing and continuous, so ``D_σ⁺`` exists (002 §4 assumption 3).
    ``differentiable``: σ' is informative almost everywhere (False for sign/staircase, whose σ' is 0
    a.e.; NF then needs the §6.4 window).
    """

    name: str
    monotone: bool
    bijective: bool
    differentiable: bool


class Activation(nn.Module):
    """Elementwise activation σ with its derivative σ'(z); ``derivative`` may use ``h = σ(z)`` for speed."""

    def __init__(self, name: str, negative_slope: float = 0.01) -> None:
        super().__init__()
        if name not in _ACTS:
            raise ConfigError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTS))}")
        if name in ("leaky_relu", "leaky_softplus") and not 0.0 < negative_slope < 1.0:
            raise ConfigError(f"{name}: negative_slope must be in (0, 1), got {negative_slope}")
        self.name = name
        self.negative_slope = float(negative_slope)
        self.spec = _ACTS[name][0]
        self._fn, self._df = _ACTS[name][1], _ACTS[name][2]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._fn(z, self.negative_slope)

    def derivative(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """σ'(z), evaluated from ``z`` or from the already computed ``h = σ(z)`` (whichever is cheaper)."""
        return self._df(z, h, self.negative_slope)

    def times_derivative(self, j: torch.Tensor, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``j ⊙ σ'(z)``; may overwrite ``j`` (the learning rules own it). tanh and sigmoid use aten's fused
        backward kernels (``j·(1 − h²)``, ``j·h·(1 − h)``), which read ``h = σ(z)`` once."""
        fused = _FUSED_BACKWARD.get(self.name)
        if fused is not None:  # one kernel instead of two or three elementwise passes
            return fused(j, h)
        if self.name == "identity":
            return j
        return j.mul_(self.derivative(z, h))

    def extra_repr(self) -> str:
        return self.name + (f", negative_slope={self.negative_slope}" if self.name.startswith("leaky") else "")


def _staircase(z: torch.Tensor, _s: float) -> torch.Tensor:
    # 000 §4.1: σ(z) = sgn(z+1) + sgn(z) + sgn(z−1)
    return torch.sign(z + 1) + torch.sign(z) + torch.sign(z - 1)


def _leaky_relu_derivative(z: torch.Tensor, _h: torch.Tensor, s: float) -> torch.Tensor:
    # 1 for z > 0, s for z < 0 (and their mean at z = 0), from sign(z): float ops only, several times
    # faster on CPU than a comparison plus a cast
    return torch.sign(z).mul_(0.5 * (1.0 - s)).add_(0.5 * (1.0 + s))


def _leaky_softplus(z: torch.Tensor, s: float) -> torch.Tensor:
    # smooth and bijective (002 §4 suggests it): s·z + (1−s)·softplus(z)
    return s * z + (1.0 - s) * F.softplus(z)


_ACTS: dict[str, tuple[ActivationSpec, Callable, Callable]] = {
    "identity": (ActivationSpec("identity", True, True, True), lambda z, s: z, lambda z, h, s: torch.ones_like(z)),
    "tanh": (ActivationSpec("tanh", True, True, True), lambda z, s: torch.tanh(z), lambda z, h, s: 1.0 - h * h),
    "sigmoid": (
        ActivationSpec("sigmoid", True, True, True), lambda z, s: torch.sigmoid(z), lambda z, h, s: h * (1.0 - h)
    ),
    "relu": (ActivationSpec("relu", True, False, True), lambda z, s: torch.relu(z), lambda z, h, s: torch.sign(z).clamp_(min=0.0)),
    "leaky_relu": (
        ActivationSpec("leaky_relu", True, True, True),
        lambda z, s: F.leaky_relu(z, s),
        _leaky_relu_derivative,
    ),
    "hardtanh": (
        ActivationSpec("hardtanh", True, False, True),
        lambda z, s: F.hardtanh(z),
        lambda z, h, s: torch.sign(1.0 - z.abs()).clamp_(min=0.0),
    ),
    "leaky_softplus": (
        ActivationSpec("leaky_softplus", True, True, True),
        _leaky_softplus,
        lambda z, h, s: s + (1.0 - s) * torch.sigmoid(z),
    ),
    "silu": (
        ActivationSpec("silu", False, False, True),
        lambda z, s: F.silu(z),
        lambda z, h, s: torch.sigmoid(z) * (1.0 + z * (1.0 - torch.sigmoid(z))),
    ),
    "sign": (ActivationSpec("sign", True, False, False), lambda z, s: torch.sign(z), lambda z, h, s: torch.zeros_like(z)),
    "staircase": (ActivationSpec("staircase", True, False, False), _staircase, lambda z, h, s: torch.zeros_like(z)),
}

ACTIVATION_NAMES: tuple[str, ...] = tuple(sorted(_ACTS))

#: ``(j, h) ↦ j ⊙ σ'(z)`` from ``h = σ(z)`` in one kernel (the same ones autograd runs for BP)
_FUSED_BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "tanh": torch.ops.aten.tanh_backward,
    "sigmoid": torch.ops.aten.sigmoid_backward,
}

#: torch modules that :func:`from_sequential` maps to an :class:`Activation`.
_TORCH_ACTS: dict[type, Callable[[nn.Module], Activation]] = {
    nn.Tanh: lambda m: Activation("tanh"),
    nn.Sigmoid: lambda m: Activation("sigmoid"),
    nn.ReLU: lambda m: Activation("relu"),
    nn.LeakyReLU: lambda m: Activation("leaky_relu", m.negative_slope),
    nn.Identity: lambda m: Activation("identity"),
    nn.SiLU: lambda m: Activation("silu"),
}


class Block(nn.Module):
    """One trainable layer: ``[flatten] → op (Linear|Conv2d) → act → [pool]``, and for a dense layer an
    optional fixed skip path: the block's output is ``σ(W·a + b) + S·a`` (000 §6.3, Fig. 7a, with σ_nz the
    identity: ``S`` = σ'_nz·W_nz, W_nz the identity when the sizes match)."""

    def __init__(self, op: nn.Module, act: Activation, *, flatten: bool = False, pool: nn.Module | None = None,
                 skip: torch.Tensor | None = None) -> None:
        super().__init__()
        if not isinstance(op, (nn.Linear, nn.Conv2d)):
            raise ConfigError(f"a block's weight layer must be nn.Linear or nn.Conv2d, got {type(op).__name__}")
        if op.bias is None:
            raise ConfigError(f"{type(op).__name__} without bias is not supported; build it with bias=True")
        if skip is not None and (isinstance(op, nn.Conv2d) or pool is not None or tuple(skip.shape) != tuple(op.weight.shape)):
            raise ConfigError("a skip path needs a dense layer without pooling and a matrix of its weight's shape")
        self.op, self.act, self.flatten, self.pool = op, act, flatten, pool
        #: a plain attribute, not a property: the rules read it for every layer of every step
        self.is_conv = isinstance(op, nn.Conv2d)
        # a buffer, not a parameter: the skip path is fixed wiring, never trained
        self.register_buffer("skip", skip)

    @property
    def weight(self) -> torch.Tensor:
        return self.op.weight

    @property
    def bias(self) -> torch.Tensor:
        return self.op.bias

    def pre(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if self.flatten else x

    def linear(self, a: torch.Tensor) -> torch.Tensor:
        op = self.op
        if self.is_conv:
            return op(a)
        return F.linear(a, op.weight, op.bias)

    def post(self, h: torch.Tensor) -> torch.Tensor:
        return self.pool(h) if self.pool is not None else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pre(x)
        h = self.post(self.act(self.linear(a)))
        return h if self.skip is None else h + F.linear(a, self.skip)


@dataclass
class ForwardCache:
    """What one forward pass leaves for a learning rule, per block ``l``:
    ``inputs[l]`` the (flattened) input fed to the weight layer, ``z[l]`` its pre-activation,
    ``h[l]`` the activation before pooling (without a skip path's term, so ``σ'`` can be read from it);
    ``output`` the network output."""

    inputs: list[torch.Tensor]
    z: list[torch.Tensor]
    h: list[torch.Tensor]
    output: torch.Tensor


@dataclass(frozen=True)
class DenseLayer:
    """One fully connected layer as plain references, for a learning rule's per-step loop.

    Each ``block.op.weight`` costs Python ``nn.Module.__getattr__`` calls; a rule that holds these
    instead (as a torch optimizer holds its parameters) saves 4–5 % of a DFA step on a 4-layer MLP.
    The parameters are updated in place by optimizers and ``load_state_dict``; a parameter *replaced* by a
    new object after the rule was made is not seen (make a new rule then).
    """

    weight: nn.Parameter
    bias: nn.Parameter
    #: σ as ``fn(z, slope)``
    fn: Callable[[torch.Tensor, float], torch.Tensor]
    slope: float
    #: ``(j, z, h) ↦ j ⊙ σ'(z)`` (:meth:`Activation.times_derivative`)
    times_derivative: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    flatten: bool
    #: the fixed skip matrix S of :class:`Block` (None: no skip path)
    skip: torch.Tensor | None = None


class LayeredNet(nn.Module):
    """A feed-forward network as a list of blocks; ``mono=True`` makes it a mono-net (004 Def. 1)."""

    def __init__(self, blocks: Sequence[Block], *, mono: bool = False) -> None:
        super().__init__()
        if not blocks:
            raise ConfigError("a network needs at least one layer")
        self.blocks = nn.ModuleList(blocks)
        self.mono = bool(mono)
        if self.mono:
            for i, b in enumerate(self.blocks):
                if not b.act.spec.monotone:
                    raise ConfigError(
                        f"mono-net layer {i + 1}: activation {b.act.name!r} is not monotone increasing (004 Def. 1); "
                        "use tanh, sigmoid, relu, leaky_relu, hardtanh or leaky_softplus"
                    )
            self.constrain_()

    @property
    def is_mlp(self) -> bool:
        return not any(b.is_conv or b.pool is not None for b in self.blocks)

    @property
    def out_features(self) -> int:
        op = self.blocks[-1].op
        return op.out_features if isinstance(op, nn.Linear) else op.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x

    def dense_layers(self) -> tuple[DenseLayer, ...] | None:
        """The layers as :class:`DenseLayer` references (None when the net has conv or pooling layers)."""
        if not self.is_mlp:
            return None
        return tuple(DenseLayer(b.op.weight, b.op.bias, b.act._fn, b.act.negative_slope, b.act.times_derivative,
                                b.flatten, b.skip) for b in self.blocks)

    @property
    def has_skip(self) -> bool:
        """Whether any block has a skip path (000 §6.3)."""
        return any(b.skip is not None for b in self.blocks)

    @torch.no_grad()
    def forward_cache(self, x: torch.Tensor, layers: Sequence[DenseLayer] | None = None) -> ForwardCache:
        """Forward pass without an autograd graph, keeping what the rules need. ``layers`` (this net's
        :meth:`dense_layers`, held by the caller) runs the same pass from those references."""
        inputs, zs, hs = [], [], []
        if layers is not None:
            for layer in layers:
                a = x.flatten(1) if layer.flatten else x
                z = F.linear(a, layer.weight, layer.bias)
                h = layer.fn(z, layer.slope)
                inputs.append(a)
                zs.append(z)
                hs.append(h)
                x = h if layer.skip is None else h + F.linear(a, layer.skip)
            return ForwardCache(inputs, zs, hs, x)
        # the rules' hot path: Activation.forward and Block.linear are called directly, without
        # nn.Module.__call__'s hook checks and extra Python frames on every layer of every step
        for b in self.blocks:
            a = x.flatten(1) if b.flatten else x
            z = b.linear(a)
            h = b.act.forward(z)
            inputs.append(a)
            zs.append(z)
            hs.append(h)
            x = h if b.pool is None else b.pool(h)
            if b.skip is not None:
                x = x + F.linear(a, b.skip)
        return ForwardCache(inputs, zs, hs, x)

    def constrained_weights(self) -> list[nn.Parameter]:
        """The weights the mono-net projection clamps: layers 2…L of a mono-net, none otherwise."""
        return [b.op.weight for b in self.blocks][1:] if self.mono else []

    @torch.no_grad()
    def constrain_(self, weights: Sequence[torch.Tensor] | None = None) -> None:
        """Mono-net projection: clamp the weights of layers 2…L at 0 (004 Def. 1, Eq. 10). No-op otherwise.

        ``weights``: :meth:`constrained_weights`, when the caller holds them (a rule, after every step).
        """
        weights = self.constrained_weights() if weights is None else weights
        if weights:
            # one fused clamp over all constrained layers: mDFA runs this after every optimizer step
            torch._foreach_clamp_min_(list(weights), 0.0)

    def weights_nonnegative(self) -> bool:
        return all(bool((b.weight >= 0).all()) for b in self.blocks[1:])


INIT_SCHEMES = ("default", "xavier_normal", "zeros", "uniform_mono", "abs_normal")


def init_net_(net: LayeredNet, scheme: str, *, generator: torch.Generator | None = None, epsilon: float = 1e-3) -> None:
    """Initialise weights in place (biases to zero except for ``default``).

    ``default``: torch's own init. ``xavier_normal``: N(0, 2/(fan_in+fan_out)) (the scaled normal of
    001 §4.1). 004 B.3 schemes: ``zeros`` (all forward weights 0), ``uniform_mono`` (uniform in
    [ε, 1/√fan_in] for layers ≥ 2, ±1/√fan_in for layer 1, ε = 1e-3), ``abs_normal`` (|N(0, 1/fan_in)|
    for layers ≥ 2).
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"unknown init scheme {scheme!r}; known: {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return
    with torch.no_grad():
        for i, b in enumerate(net.blocks):
            w = b.weight
            fan_in = w[0].numel()
            fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
            b.bias.zero_()
            if scheme == "zeros":
                w.zero_()
            elif scheme == "xavier_normal":
                w.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)
            elif scheme == "uniform_mono":
                bound = 1.0 / math.sqrt(fan_in)
                if i == 0:
                    w.uniform_(-bound, bound, generator=generator)
                else:
                    w.uniform_(epsilon, max(bound, 2 * epsilon), generator=generator)
            else:  # abs_normal
                w.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=generator)
                if i > 0:
                    w.abs_()
    net.constrain_()


def mlp(
    sizes: Sequence[int],
    activation: str = "tanh",
    *,
    output_activation: str = "identity",
    negative_slope: float = 0.01,
    mono: bool = False,
    init: str = "xavier_normal",
    seed: int = 0,
    skip: float = 0.0,
) -> LayeredNet:
    """MLP ``sizes[0] → … → sizes[-1]`` with ``activation`` on hidden layers.

    ``skip`` > 0 gives every hidden layer the forward skip path of 000 §6.3 (Fig. 7a):
    ``h = σ(W·a + b) + skip·W_nz·a`` with ``W_nz`` the identity where the layer keeps its width, otherwise a
    fixed random matrix N(0, 1/fan_in) (drawn from ``seed``) that matches the sizes. Its backward gain is
    ``σ' + skip``, so a layer whose σ' is 0 for every sample still passes both data forward and the
    difference vector back."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ConfigError(f"layer sizes must be ≥ 2 positive integers, got {sizes}")
    if not skip >= 0:
        raise ConfigError(f"skip must be ≥ 0 (the σ'_nz of 000 §6.3), got {skip}")
    gen = torch.Generator().manual_seed(seed)
    skip_gen = torch.Generator().manual_seed(seed + 1)
    blocks = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        lin = nn.Linear(a, b)
        act = Activation(output_activation if last else activation, negative_slope)
        path = None
        if skip > 0 and not last:
            w_nz = (torch.eye(b) if a == b
                    else torch.randn(b, a, generator=skip_gen, dtype=lin.weight.dtype) / math.sqrt(a))
            path = skip * w_nz.to(lin.weight.dtype)
        blocks.append(Block(lin, act, skip=path))
    net = LayeredNet(blocks, mono=mono)
    init_net_(net, init, generator=gen)
    return net


def mono_net_from_sigmoid(net: LayeredNet) -> LayeredNet:
    """004 Thm 1's construction (A.1, Thm 3): a one-hidden-layer sigmoid net with N units rewritten as a
    tanh mono-net with 2N units that computes the same function.

    With σ(z) = (1 + tanh(z/2))/2, each term v·σ(z) is v/2 + (v/2)·tanh(z/2); a negative v is moved into the
    first layer, which may be negative, by tanh's oddness: (v/2)·tanh(z/2) = (|v|/2)·tanh(−z/2). The first
    layer holds [W/2; −W/2] with biases [b/2; −b/2], the output weights are [max(v, 0)/2, max(−v, 0)/2] ≥ 0
    and the output bias gains Σ v/2. Any number of identity outputs."""
    blocks = list(net.blocks)
    if (len(blocks) != 2 or not net.is_mlp or blocks[0].act.name != "sigmoid" or blocks[1].act.name != "identity"
            or any(b.skip is not None for b in blocks)):
        raise ConfigError("004 Thm 1's construction takes a net with one sigmoid hidden layer and an identity output")
    with torch.no_grad():
        w1, b1 = blocks[0].weight, blocks[0].bias
        v, c = blocks[1].weight, blocks[1].bias
        first = nn.Linear(w1.shape[1], 2 * w1.shape[0]).to(w1.dtype)
        first.weight.copy_(torch.cat([w1 / 2, -w1 / 2]))
        first.bias.copy_(torch.cat([b1 / 2, -b1 / 2]))
        out = nn.Linear(2 * w1.shape[0], v.shape[0]).to(v.dtype)
        out.weight.copy_(torch.cat([v.clamp(min=0) / 2, (-v).clamp(min=0) / 2], dim=1))
        out.bias.copy_(c + v.sum(1) / 2)
    return LayeredNet([Block(first, Activation("tanh")), Block(out, Activation("identity"))], mono=True)


def conv_net(
    in_shape: tuple[int, int, int],
    channels: Sequence[int],
    hidden: Sequence[int],
    n_out: int,
    *,
    kernel_size: int = 3,
    activation: str = "tanh",
    pool: int = 2,
    seed: int = 0,
) -> LayeredNet:
    """Conv → act → max-pool stages, then fully connected layers (the FA/DFA family supports these)."""
    torch.manual_seed(seed)
    c, hgt, wid = in_shape
    blocks: list[Block] = []
    for ch in channels:
        blocks.append(Block(nn.Conv2d(c, ch, kernel_size, padding=kernel_size // 2), Activation(activation),
                            pool=nn.MaxPool2d(pool) if pool > 1 else None))
        c, hgt, wid = ch, hgt // max(pool, 1), wid // max(pool, 1)
    size = c * hgt * wid
    for i, n in enumerate([*hidden, n_out]):
        last = i == len(hidden)
        blocks.append(Block(nn.Linear(size, n), Activation("identity" if last else activation), flatten=(i == 0)))
        size = n
    return LayeredNet(blocks)


def from_sequential(seq: nn.Sequential, *, mono: bool = False) -> LayeredNet:
    """Group an ``nn.Sequential`` of Linear/Conv2d, activations, Flatten and pooling into blocks.

    Parameters are shared with ``seq``. A weight layer without a following activation gets identity.
    Anything else (dropout, batch norm, …) is a :class:`ConfigError` naming the module.
    """
    blocks: list[Block] = []
    pending_flatten = False
    op: nn.Module | None = None
    act: Activation | None = None
    pool: nn.Module | None = None
    flatten_for_op = False

    def close() -> None:
        nonlocal op, act, pool
        if op is not None:
            blocks.append(Block(op, act or Activation("identity"), flatten=flatten_for_op, pool=pool))
        op, act, pool = None, None, None

    for idx, m in enumerate(_flatten_modules(seq)):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            close()
            op, flatten_for_op, pending_flatten = m, pending_flatten, False
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1:
                raise ConfigError(f"module {idx}: nn.Flatten(start_dim={m.start_dim}) unsupported; use start_dim=1")
            close()
            pending_flatten = True
        elif isinstance(m, Activation) or type(m) in _TORCH_ACTS:
            if op is None or act is not None or pool is not None:
                raise ConfigError(f"module {idx} ({type(m).__name__}): an activation must directly follow a Linear/Conv2d")
            act = m if isinstance(m, Activation) else _TORCH_ACTS[type(m)](m)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            if op is None or not isinstance(op, nn.Conv2d) or pool is not None:
                raise ConfigError(f"module {idx} ({type(m).__name__}): pooling must follow a Conv2d (and its activation)")
            pool = m
        elif isinstance(m, nn.Hardtanh) and m.min_val == -1.0 and m.max_val == 1.0:
            if op is None or act is not None:
                raise ConfigError(f"module {idx} (Hardtanh): an activation must directly follow a Linear/Conv2d")
            act = Activation("hardtanh")
        else:
            raise ConfigError(
                f"module {idx} ({type(m).__name__}) is not supported by the learning rules; "
                "allowed: Linear, Conv2d, Flatten, MaxPool2d, AvgPool2d, Tanh, Sigmoid, ReLU, LeakyReLU, Hardtanh, SiLU, Identity"
            )
    close()
    if pending_flatten:
        raise ConfigError("nn.Flatten at the end of the model has no weight layer after it")
    return LayeredNet(blocks, mono=mono)


def _flatten_modules(seq: nn.Module) -> Iterable[nn.Module]:
    for m in seq.children() if isinstance(seq, nn.Sequential) else [seq]:
        if isinstance(m, nn.Sequential):
            yield from _flatten_modules(m)
        else:
            yield m
