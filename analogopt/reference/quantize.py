"""Low-precision learning channels: the quantizer of 001 Eq. 19."""

from __future__ import annotations

import torch

from ..errors import ConfigError


def check_bits(bits: int, alpha: float, what: str = "quantization") -> None:
    """Raise :class:`ConfigError` unless ``bits ≥ 1`` is an integer and ``alpha > 0``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ConfigError(f"{what}: bits must be an integer ≥ 1, got {bits!r}")
    if not alpha > 0:
        raise ConfigError(f"{what}: scale alpha must be > 0, got {alpha!r}")


def quantize(x: torch.Tensor, *, bits: int, alpha: float) -> torch.Tensor:
    """``α · sign(x) · 2^round(clip(log2|x/α|, 1 − bits, 0))`` (001 Eq. 19), elementwise.

    Values are powers of two times α in ``[α·2^(1−bits), α]`` with their sign; exact zeros stay 0.
    ``bits = 1`` gives ``α · sign(x)``.
    """
    check_bits(bits, alpha)
    mag = torch.log2(x.abs() / alpha).clamp_(1 - bits, 0).round_()
    return torch.sign(x) * torch.exp2(mag) * alpha
