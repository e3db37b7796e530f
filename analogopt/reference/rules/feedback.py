"""Random feedback rules of 001: RBP/FA, SRBP/DFA, their adaptive, "no f'", sparse, congruent,
dropout and low-precision variants.

Notation (001 §3): the output error ``e = ∂ℓ/∂z_L`` (001's ``−(T − O)``) is carried to hidden layer
``h`` over the learning channel as ``J^h``; the hidden error is ``δ^h = J^h ⊙ f'(S^h)`` (or ``J^h`` for
the "no f'" variants) and the update is ``Δw^h ∝ −δ^h O^{h−1}`` (001 Eq. 13).

* chain (RBP / FA, 001 Eq. 6–8): ``J^h = B^{h+1} δ^{h+1}`` with a fixed random ``B`` in place of ``Wᵀ``
  (``feedback="transpose"`` uses ``Wᵀ`` itself and gives BP, so quantized BP is the same code path).
* direct (SRBP / DFA): ``J^h = C^h e``, one random matrix from the output to each layer. All ``C^h`` are
  stored side by side, so one matrix product projects the error to every layer at once; no
  layer-by-layer chain is needed.

The top layer always gets its exact gradient (001 Fact 1).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import torch

from ...errors import ConfigError
from ..nets import LayeredNet
from ..quantize import check_bits, quantize
from .base import LearningRule, output_error_and_loss

FEEDBACK_KINDS = ("gaussian", "uniform", "sparse", "congruent", "transpose")


class _FeedbackRule(LearningRule):
    supports_conv = True
    direct: ClassVar[bool] = False
    default_fprime: ClassVar[bool] = True

    def __init__(
        self,
        net: LayeredNet,
        *,
        loss: str = "cross_entropy",
        seed: int = 0,
        fprime: bool | None = None,
        feedback: str = "gaussian",
        sparse_k: int = 1,
        adaptive: bool = False,
        feedback_lr: float = 0.01,
        dropout: float = 0.0,
        error_bits: int | None = None,
        error_alpha: float = 2.0**-3,
        update_bits: int | None = None,
        update_alpha: float = 2.0**-6,
        nonneg_feedback: bool = False,
    ) -> None:
        """Options (001 §3–5):

        ``fprime``: multiply by f'(S^h) (False: the "no f'" variants). ``feedback``: distribution of the
        learning-channel matrices — ``gaussian`` N(0, 1/n) scaled like the forward weights,
        ``uniform`` with the same variance, ``sparse`` (0/1 Bernoulli entries, each sender reaching on
        average ``sparse_k`` receivers), ``congruent`` (random magnitude, sign of the forward path),
        ``transpose`` (Wᵀ: exact BP, chain only). ``adaptive``: ARBP/ASRBP, ``Δc = η_c R O`` with rate
        ``feedback_lr``. ``dropout``: probability of dropping each learning-channel signal.
        ``error_bits``/``error_alpha``: quantize ``J^h`` with 001 Eq. 19 (in the chain, before it travels
        further). ``update_bits``/``update_alpha``: quantize each sample's update before the batch mean
        (001 §5.2; applied at gradient scale, before the optimizer's learning rate).
        ``nonneg_feedback``: |feedback| (mDFA, 004 §3).
        """
        super().__init__(net, loss=loss, seed=seed)
        self.fprime = self.default_fprime if fprime is None else bool(fprime)
        if feedback not in FEEDBACK_KINDS:
            raise ConfigError(f"unknown feedback kind {feedback!r}; known: {', '.join(FEEDBACK_KINDS)}")
        if feedback == "transpose" and (self.direct or adaptive):
            raise ConfigError("feedback='transpose' (Wᵀ, i.e. BP) exists only for the chain rule without adaptation")
        if feedback == "congruent" and not net.is_mlp:
            raise ConfigError("congruent feedback is defined for MLPs only (sign of the forward weights)")
        if isinstance(sparse_k, bool) or not isinstance(sparse_k, int) or sparse_k < 1:
            raise ConfigError(f"sparse_k must be an integer ≥ 1, got {sparse_k!r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        if not feedback_lr > 0:
            raise ConfigError(f"feedback_lr must be > 0, got {feedback_lr}")
        if error_bits is not None:
            check_bits(error_bits, error_alpha, "error_bits")
        if update_bits is not None:
            check_bits(update_bits, update_alpha, "update_bits")
            if not net.is_mlp:
                raise ConfigError("update_bits (per-sample update quantization) is implemented for MLPs only")
        self.feedback, self.sparse_k, self.adaptive, self.feedback_lr = feedback, sparse_k, bool(adaptive), float(feedback_lr)
        self.dropout, self.nonneg_feedback = float(dropout), bool(nonneg_feedback)
        self.error_bits, self.error_alpha = error_bits, float(error_alpha)
        self.update_bits, self.update_alpha = update_bits, float(update_alpha)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        # the blocks as a plain tuple (indexing an nn.ModuleList runs Python code on every access), and for
        # MLPs their parameters and activations as plain references (see DenseLayer)
        self._blocks = tuple(net.blocks)
        self._dense = net.dense_layers()
        self._shapes: list[tuple[int, ...]] | None = None
        #: per hidden layer, its columns ``[start, stop)`` in ``feedback_cat`` and its per-sample shape
        self._spans: list[tuple[int, int, tuple[int, ...]]] = []
        self.feedback_matrices: list[torch.Tensor] = []
        if not self.direct:
            self._init_chain()

    def options(self) -> dict[str, Any]:
        return {
            "fprime": self.fprime, "feedback": self.feedback, "sparse_k": self.sparse_k, "adaptive": self.adaptive,
            "feedback_lr": self.feedback_lr, "dropout": self.dropout, "error_bits": self.error_bits,
            "error_alpha": self.error_alpha, "update_bits": self.update_bits, "update_alpha": self.update_alpha,
            "nonneg_feedback": self.nonneg_feedback,
        }

    # ---- learning-channel matrices -------------------------------------------------------------------
    def _random(self, shape: tuple[int, ...], std: float, receivers: int, like: torch.Tensor, sign: torch.Tensor | None = None) -> torch.Tensor:
        g = self.generator
        if self.feedback == "sparse":
            m = (torch.rand(shape, generator=g) < min(1.0, self.sparse_k / receivers)).to(like.dtype)
        elif self.feedback == "uniform":
            m = (torch.rand(shape, generator=g) * 2 - 1) * (std * math.sqrt(3.0))
        else:
            m = torch.randn(shape, generator=g) * std
            if self.feedback == "congruent":
                m = m.abs() * torch.sign(sign.cpu())
        if self.nonneg_feedback:
            m = m.abs()
        return m.to(dtype=like.dtype, device=like.device)

    def _init_chain(self) -> None:
        for b in self.net.blocks[1:]:
            w = b.weight.detach()
            if self.feedback == "transpose":
                self.feedback_matrices.append(w)  # the live forward weight: exact BP
            else:
                fan_in = w[0].numel()
                self.feedback_matrices.append(self._random(tuple(w.shape), 1.0 / math.sqrt(fan_in), w.shape[1], w, sign=w))

    def _init_direct(self, cache) -> None:
        """C^h for every hidden layer, concatenated along the receiving axis (shapes need one forward)."""
        n_out = self.net.out_features
        like = self.net.blocks[-1].weight
        self._shapes = [tuple(h.shape[1:]) for h in cache.h[:-1]]
        parts = []
        for i, shape in enumerate(self._shapes):
            n = math.prod(shape)
            sign = None
            if self.feedback == "congruent":  # sign of the linear forward path from layer i to the output
                path = self.net.blocks[-1].weight.detach()
                for b in reversed(self.net.blocks[i + 1 : -1]):
                    path = path @ b.weight.detach()
                sign = path
            parts.append(self._random((n_out, n), 1.0 / math.sqrt(n), n, like, sign=sign))
        self.feedback_cat = torch.cat(parts, 1) if parts else like.new_zeros((n_out, 0))
        widths = [math.prod(s) for s in self._shapes]
        self.feedback_matrices = list(torch.split(self.feedback_cat, widths, 1))
        stops = list(itertools.accumulate(widths))
        self._spans = [(stop - n, stop, shape) for n, stop, shape in zip(widths, stops, self._shapes)]

    # ---- the update ------------------------------------------------------------------------------------
    def _channel(self, j: torch.Tensor) -> torch.Tensor:
        """What the learning channel does to a signal on its way: dropout, then quantization."""
        if self.dropout > 0:
            keep = (torch.rand(j.shape, generator=self.generator) >= self.dropout).to(j.dtype).to(j.device)
            j = j * keep / (1.0 - self.dropout)
        if self.error_bits is not None:
            j = quantize(j, bits=self.error_bits, alpha=self.error_alpha)
        return j

    def _hidden_delta(self, j: torch.Tensor, i: int, cache) -> torch.Tensor:
        if self.dropout > 0 or self.error_bits is not None:
            j = self._channel(j)
        if self.fprime:
            layer = self._blocks[i].act if self._dense is None else self._dense[i]
            return layer.times_derivative(j, cache.z[i], cache.h[i])
        return j

    def _write(self, i: int, delta: torch.Tensor, a: torch.Tensor, inv_b: float) -> None:
        dense = self._dense
        if dense is not None:
            w, bias = dense[i].weight, dense[i].bias
        else:
            block = self._blocks[i]
            w, bias = block.weight, block.bias
        if self.update_bits is not None:
            per = quantize(delta.unsqueeze(2) * a.unsqueeze(1), bits=self.update_bits, alpha=self.update_alpha)
            w.grad = per.mean(0)
            bias.grad = quantize(delta, bits=self.update_bits, alpha=self.update_alpha).mean(0)
            return
        if dense is None and block.is_conv:
            op = block.op
            w.grad = torch.nn.grad.conv2d_weight(a, w.shape, delta, op.stride, op.padding, op.dilation, op.groups).mul_(inv_b)
            bias.grad = delta.sum((0, 2, 3)).mul_(inv_b)
            return
        # written into the previous step's .grad buffers: no allocation on the hot path
        g, gb = w.grad, bias.grad
        if g is None or g.shape != w.shape:
            g = w.grad = torch.empty_like(w)
        if gb is None or gb.shape != bias.shape:
            gb = bias.grad = torch.empty_like(bias)
        torch.mm(delta.t(), a, out=g)
        torch.sum(delta, 0, out=gb)
        if inv_b != 1.0:
            g.mul_(inv_b)
            gb.mul_(inv_b)

    def compute_grads(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        net = self.net
        cache = net.forward_cache(x, self._dense)
        n_blocks = len(self._blocks)
        inv_b = 1.0 / x.shape[0]
        # the channel is linear: fold the batch mean into e once instead of into every layer's update
        fold = self.error_bits is None and self.update_bits is None and not self.adaptive
        e, value = output_error_and_loss(cache.z[-1], cache.h[-1], target, self.loss, net, inv_b if fold else 1.0)
        if fold:
            inv_b = 1.0
        self._write(n_blocks - 1, e, cache.inputs[-1], inv_b)  # exact top-layer gradient (001 Fact 1)
        if self.direct:
            self._direct(e, cache, inv_b)
        else:
            self._chain(e, cache, inv_b)
        return value

    def _direct(self, e: torch.Tensor, cache, inv_b: float) -> None:
        if self._shapes is None:
            self._init_direct(cache)
        if not self._shapes:
            return
        proj = torch.mm(e, self.feedback_cat)  # one projection of the output error to all layers
        for i, (start, stop, shape) in enumerate(self._spans):
            j = proj[:, start:stop]
            if len(shape) > 1:  # conv layer: back to (B, C, H, W)
                j = j.reshape((e.shape[0], *shape))
            delta = self._hidden_delta(j, i, cache)
            self._write(i, delta, cache.inputs[i], inv_b)
            if self.adaptive:  # ASRBP: Δc = η_c R O with R the output error, O this layer's activity
                self._pending.append((self.feedback_matrices[i], e.t() @ cache.h[i].flatten(1) * inv_b))

    def _chain(self, e: torch.Tensor, cache, inv_b: float) -> None:
        delta = e
        blocks = self._blocks
        for i in range(len(blocks) - 2, -1, -1):
            upper = blocks[i + 1]
            fb = self.feedback_matrices[i]
            if upper.is_conv:
                op = upper.op
                j = torch.nn.grad.conv2d_input(cache.inputs[i + 1].shape, fb, delta, op.stride, op.padding, op.dilation, op.groups)
            else:
                j = torch.mm(delta, fb)
            if self.adaptive:  # ARBP: Δc = η_c R^{h+1} O^h, the forward update's own outer product
                self._pending.append((fb, upper.weight.grad))
            block = blocks[i]
            j = j.reshape(cache.inputs[i + 1].shape[:1] + _post_shape(block, cache.h[i]))
            if block.pool is not None:
                j = _pool_backward(block, cache.h[i], j)
            delta = self._hidden_delta(j, i, cache)
            self._write(i, delta, cache.inputs[i], inv_b)

    def after_step(self) -> None:
        super().after_step()
        if self._pending:
            with torch.no_grad():
                for c, grad in self._pending:
                    c.sub_(self.feedback_lr * grad)
                    if self.nonneg_feedback:
                        c.clamp_(min=0.0)
            self._pending.clear()


def _post_shape(block, h: torch.Tensor) -> tuple[int, ...]:
    """Per-sample shape of the block's output after pooling."""
    if block.pool is None:
        return tuple(h.shape[1:])
    with torch.no_grad():
        return tuple(block.pool(h[:1]).shape[1:])


def _pool_backward(block, h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Carry a signal back through the block's pooling (the pool's own local Jacobian, not the weights)."""
    with torch.enable_grad():
        hr = h.detach().requires_grad_(True)
        (out,) = torch.autograd.grad(block.pool(hr), hr, g)
    return out


class RandomBackprop(_FeedbackRule):
    """RBP / FA: fixed random B in place of Wᵀ, propagated layer by layer (001 Eq. 6–8)."""

    name = "rbp"


class SkippedRandomBackprop(_FeedbackRule):
    """SRBP / DFA: ``J^h = C^h e`` straight from the output to each layer (001 §3; 004 Eq. 6)."""

    name = "srbp"
    direct = True


class AdaptiveRandomBackprop(RandomBackprop):
    """ARBP: RBP whose feedback adapts with ``Δc = η_c R O`` (001 §3)."""

    name = "arbp"

    def __init__(self, net: LayeredNet, **kw: Any) -> None:
        kw.setdefault("adaptive", True)
        super().__init__(net, **kw)


class AdaptiveSkippedRandomBackprop(SkippedRandomBackprop):
    """ASRBP: SRBP with adaptive direct feedback (001 §3)."""

    name = "asrbp"

    def __init__(self, net: LayeredNet, **kw: Any) -> None:
        kw.setdefault("adaptive", True)
        super().__init__(net, **kw)
