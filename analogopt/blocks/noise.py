"""Seeded transient noise: white voltage noise drawn by numpy and played back by ngspice.

ngspice's own ``trnoise`` source draws from an unseeded generator (ngspice-39 gave different samples run
after run with ``.options seed=7``, ``set rndseed=7`` or ``setseed 7``), so a run with it cannot be
reproduced. Here each noise source's samples come from ``numpy.random.default_rng([seed, stream])``, one
stream per instance: the same seed gives the same samples and the same waveforms, instances are
independent, and adding a source never changes another's samples.

Samples are Gaussian with RMS ``e_n/√(2·step)``, held at ``step`` intervals and joined linearly (what
``trnoise`` does): the one-sided density is ``e_n`` (V/√Hz) up to about ``1/(2·step)`` Hz. Choose ``step``
well below the fastest time constant the noise must excite; the transient's largest step must not exceed
it (the caller sets ``max_step_s``), so ``duration/step`` sets the simulation's time points.

ngspice plays the samples back with the XSPICE ``filesource`` model from a file beside the netlist (a
:attr:`~analogopt.spice.netlist.NetlistDeck.attachments` entry), which reads them in order. Inline
alternatives cost time that grows with the square of the samples, since ngspice looks each one up from the
first at every evaluation. On ngspice-39, in an RC low-pass fed 0.5 s of 10 µs samples (50 000 of them),
a ``V … PWL(…)`` source took 105 s, a behavioral ``pwl(time, …)`` 6 s and ``filesource`` 0.9 s. In the
macro NF loop (810 elements, 3000 samples per OTA) the behavioral source took 35 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

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

    def file_text(self, stream: int, duration_s: float) -> str:
        """Instance ``stream``'s samples as ``filesource`` reads them: one ``time value`` pair per line."""
        values = self.samples(stream, duration_s)
        return "".join(f"{k * self.step_s:.9g} {v:.6g}\n" for k, v in enumerate(values))

    def source(self, name: str, node: str, stream: int, duration_s: float) -> tuple[list[str], dict[str, str]]:
        """Lines driving ``node`` (to ground) with instance ``stream``'s noise, and the attachment they read."""
        file_name = f"noise_{name}.txt"
        lines = [f"a{name} %v([{node}]) {name}_src",
                 f".model {name}_src filesource (file=\"{file_name}\" amploffset=[0] amplscale=[1] timeoffset=0 "
                 "timescale=1 timerelative=false amplstep=false)"]
        return lines, {file_name: self.file_text(stream, duration_s)}
