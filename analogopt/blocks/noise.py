"""Seeded transient noise: white voltage noise as piecewise-linear sources drawn by numpy.

ngspice's own ``trnoise`` source draws from an unseeded generator (ngspice-39 gave different samples run
after run with ``.options seed=7``, ``set rndseed=7`` or ``setseed 7``), so a run with it cannot be
reproduced. Here each noise source's samples come from ``numpy.random.default_rng([seed, stream])``, one
stream per instance: the same seed gives the same netlist and the same waveforms, instances are
independent, and adding a source never changes another's samples.

Samples are Gaussian with RMS ``e_n/√(2·step)``, held at ``step`` intervals and joined linearly (what
``trnoise`` does): the one-sided density is ``e_n`` (V/√Hz) up to about ``1/(2·step)`` Hz. Choose ``step``
well below the fastest time constant the noise must excite; the transient's largest step must not exceed
it (the caller sets ``max_step_s``), so ``duration/step`` sets the simulation's time points.

The source is a behavioral voltage ``v = pwl(time, t0, v0, t1, v1, …)``, not a ``V … PWL(…)`` source:
ngspice-39 looks a PWL source's segment up from its first point at every time step, so a 50 000-sample
source took 105 s against the behavioral source's 6 s and 5 000 samples 1.0 s against 0.1 s (an RC load,
0.5 s of 10 µs samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

#: Sample pairs per netlist line (continuation lines keep each line short)
_PAIRS_PER_LINE = 8


@dataclass(frozen=True)
class TransientNoise:
    """White noise of density ``density_v_per_rthz`` (V/√Hz), sampled every ``step_s`` (s), ``seed``."""

    density_v_per_rthz: float
    step_s: float
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("density_v_per_rthz", "step_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"noise {name} must be a finite number > 0, got {value!r}")

    @property
    def rms_v(self) -> float:
        """RMS of one sample (V)."""
        return self.density_v_per_rthz / math.sqrt(2.0 * self.step_s)

    def samples(self, stream: int, duration_s: float) -> np.ndarray:
        """The samples of instance ``stream`` over ``duration_s`` (V), one per step, both ends included."""
        count = int(math.ceil(duration_s / self.step_s)) + 1
        return self.rms_v * np.random.default_rng([int(self.seed), int(stream)]).standard_normal(count)

    def source_lines(self, name: str, plus: str, minus: str, stream: int, duration_s: float) -> list[str]:
        """A voltage source ``B{name}`` from ``minus`` to ``plus`` carrying instance ``stream``'s noise."""
        values = self.samples(stream, duration_s)
        pairs = [f"{k * self.step_s:.9g},{v:.6g}" for k, v in enumerate(values)]
        chunks = [",".join(pairs[i:i + _PAIRS_PER_LINE]) for i in range(0, len(pairs), _PAIRS_PER_LINE)]
        return [f"B{name} {plus} {minus} v=pwl(time,", *(f"+ {c}," for c in chunks[:-1]), f"+ {chunks[-1]})"]
