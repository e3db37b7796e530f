"""Op-amp macromodels as reusable ngspice subcircuits (pins ``inp inn out``).

Three small-signal kinds, all built from linear elements so that ngspice's Newton iteration stays cheap:

``ideal``
    ``out = A·(v(inp) − v(inn))``: one VCVS, no dynamics. The forward block ``F(x) = A·x`` of
    000 Eq. (1) with ``E(x) = x`` (Eq. 3).
``single_pole``
    A transconductor (1 S) into ``R = A0`` ‖ ``C = 1/(2π·GBW)``: DC gain ``A0``, dominant pole
    ``f1 = GBW/A0``, unity-gain frequency ≈ GBW.
``two_pole``
    The single-pole stage followed by a unity-gain stage with a pole at ``second_pole_hz`` — the
    classic model for phase-margin and ringing studies (see :meth:`OpAmpModel.compensated`).

Optional non-idealities, each added only when asked for: input offset (a series source at ``inp``),
input bias current (drawn out of both inputs), slew-rate limit (the input transconductor saturates
smoothly as ``I_max·tanh(v_d/I_max)`` so the pole capacitor charges at most at ``I_max/C = SR``),
smooth output rails (a softplus clamp, exact to within ``knee·e^(−d/knee)`` at a distance ``d`` from a
rail, ``knee = (v_high − v_low)/1000``), output resistance, and input-referred white voltage noise.
Internal nodes are not clamped, so a pole-model op-amp driven hard into a rail winds up internally and
recovers slowly, like an uncompensated real part; keep loops out of saturation when timing matters.

Noise (``noise_v_per_rthz`` = e_n in V/√Hz) is a resistor ``R = e_n²/(4kT)`` in series with the
non-inverting input, after the offset source. No current flows in it (the input transconductor or
VCVS draws none, and the bias sources sit on the pin), so it changes no operating point, AC or
transient result; its thermal noise is what ngspice's ``.noise`` analysis sees: white, e_n exactly at
ngspice's default 27 °C (T = 300.15 K, k = ngspice's 1.38064852e-23 J/K), ∝ √(T/300.15 K) when a
deck sets another temperature. ``.tran`` ignores thermal noise, so ``noise_tran_step_s`` (off by
default) adds a ``trnoise`` source in series as well: Gaussian samples every ``noise_tran_step_s``
seconds with RMS ``e_n/√(2·step)``, the same one-sided density e_n up to about ``1/(2·step)`` Hz.
ngspice draws them from its own generator, unseeded: with ngspice-39 two runs of one deck differed
with ``.options seed=7``, ``set rndseed=7`` or ``setseed 7`` alike, so such runs agree in their
statistics, not sample by sample. With both left at ``None`` the subcircuit, and its name, are what
they were before noise existed.

A user's own op-amp subcircuit (:class:`analogopt.blocks.user_block.UserOpAmp`, "bring your own block")
goes wherever these models go: :func:`opamp_lines` and :func:`add_opamp` take either, so the NF macro loop
and the crossbar solvers share one emission path, with the user's supply pins on the nodes each circuit
names.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Literal, Mapping, Sequence

import numpy as np
from PySpice.Spice.Netlist import Circuit, SubCircuit

from ..errors import ConfigError
from ..spice.netlist import validate_names
from .user_block import UserOpAmp

OpAmpKind = Literal["ideal", "single_pole", "two_pole"]
KINDS: tuple[str, ...] = ("ideal", "single_pole", "two_pole")

#: Fraction of the rail span used as the knee width of the smooth output clamp.
RAIL_KNEE_FRACTION = 1e-3

#: Boltzmann's constant as ngspice defines it (CONSTboltz, J/K) and its default temperature (27 °C in K):
#: the noise resistor is sized with ngspice's own numbers, so ``.noise`` returns e_n to the last digit.
BOLTZMANN_J_PER_K = 1.38064852e-23
NGSPICE_DEFAULT_TEMP_K = 300.15

#: Input-referred white noise densities a model may have (V/√Hz): 1 fV/√Hz to 1 mV/√Hz
NOISE_RANGE_V_PER_RTHZ = (1e-15, 1e-3)
#: Parameters added after subcircuit names were first published: left at None, they stay out of the
#: name's hash, so every netlist written before they existed is unchanged byte for byte.
_LATER_FIELDS = frozenset({"noise_v_per_rthz", "noise_tran_step_s", "stage_gm_s", "r_out_hf_ohm"})


def _finite(name: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        raise ConfigError(f"op-amp {name} must be a finite number, got {value!r}")


#: The smallest input linear range SR/(2π·GBW) = I/gm of a slew-limited op-amp (V): over three decades
#: under a bipolar pair's 2·kT/q and ten times ngspice's voltage tolerance (below it the input stage is a
#: relay that ngspice steps through for hours)
MIN_SLEW_LINEAR_RANGE_V = 1e-5
#: How far the slewing stage's reach (:attr:`OpAmpModel.slew_cap_v`) must exceed the output's swing: its
#: rate SR·(1 − v/cap) then stays within 10 % of SR
SLEW_CAP_MARGIN = 10.0


@dataclass(frozen=True)
class OpAmpModel:
    """Parameters of one op-amp macromodel (SI units; ``None`` leaves a non-ideality out).

    ``gain`` is the open-loop DC gain A0 in V/V; ``gbw_hz`` the gain-bandwidth product (pole kinds);
    ``second_pole_hz`` the non-dominant pole (``two_pole`` only); ``v_low``/``v_high`` the output
    rails in V (both or neither); ``offset_v`` the input offset in V (added to ``inp``); ``bias_a`` the
    bias current in A drawn out of each input pin; ``slew_v_per_s`` the slew-rate limit (pole kinds);
    ``r_out_ohm`` the output resistance in Ω (behind the rails: a load comparable to it rails the
    node before it, so a model with both suits light loads only); ``noise_v_per_rthz`` the input-referred white voltage
    noise density in V/√Hz (None: noiseless); ``noise_tran_step_s`` the sample interval in s of the
    transient ``trnoise`` source carrying that noise (None: no noise in ``.tran``).
    """

    kind: OpAmpKind = "ideal"
    gain: float = 1e5
    gbw_hz: float | None = None
    second_pole_hz: float | None = None
    v_low: float | None = None
    v_high: float | None = None
    offset_v: float = 0.0
    bias_a: float = 0.0
    slew_v_per_s: float | None = None
    r_out_ohm: float = 0.0
    noise_v_per_rthz: float | None = None
    noise_tran_step_s: float | None = None
    #: transconductance (S) of the pole stages: 1 S into R = A0 Ω by default (the normalized model);
    #: a physical value (e.g. 1 mS into 100 MΩ ‖ 16 pF) gives the same transfer with element values a
    #: designer recognises
    stage_gm_s: float | None = None
    #: output resistance above the dominant pole (Ω): a Miller-compensated op-amp's output impedance falls
    #: from ``r_out_ohm`` at DC toward ~1/gm of its output device as the Miller loop closes. Drawn as
    #: ``r_out`` in parallel with this resistor in series with the capacitor that puts the corner at the
    #: dominant pole (None: ``r_out`` at every frequency)
    r_out_hf_ohm: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"op-amp kind {self.kind!r} is unknown; allowed: {', '.join(KINDS)}")
        for name in ("gain", "gbw_hz", "second_pole_hz", "v_low", "v_high", "offset_v", "bias_a",
                     "slew_v_per_s", "r_out_ohm", "noise_v_per_rthz", "noise_tran_step_s", "stage_gm_s",
                     "r_out_hf_ohm"):
            _finite(name, getattr(self, name))
        if not self.gain > 0:
            raise ConfigError(f"op-amp gain must be > 0 V/V, got {self.gain!r}")
        if self.kind == "ideal":
            for name in ("gbw_hz", "second_pole_hz", "slew_v_per_s"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"op-amp {name} needs kind 'single_pole' or 'two_pole' (kind is 'ideal')")
        else:
            if self.gbw_hz is None or not self.gbw_hz > 0:
                raise ConfigError(f"op-amp gbw_hz must be > 0 Hz for kind {self.kind!r}, got {self.gbw_hz!r}")
            if not self.gain > 1:
                raise ConfigError(f"op-amp gain must exceed 1 V/V for a pole model, got {self.gain!r}")
        if self.kind == "two_pole":
            if self.second_pole_hz is None or not self.second_pole_hz > 0:
                raise ConfigError(f"op-amp second_pole_hz must be > 0 Hz for kind 'two_pole', got {self.second_pole_hz!r}")
            if self.second_pole_hz <= self.dominant_pole_hz:
                raise ConfigError(
                    f"op-amp second_pole_hz ({self.second_pole_hz:g} Hz) must lie above the dominant pole "
                    f"gbw_hz/gain = {self.dominant_pole_hz:g} Hz"
                )
        elif self.second_pole_hz is not None:
            raise ConfigError(f"op-amp second_pole_hz needs kind 'two_pole' (kind is {self.kind!r})")
        if (self.v_low is None) != (self.v_high is None):
            raise ConfigError("op-amp rails need both v_low and v_high (or neither)")
        if self.v_low is not None and not self.v_low < self.v_high:
            raise ConfigError(f"op-amp rails need v_low < v_high, got v_low={self.v_low!r}, v_high={self.v_high!r}")
        if self.v_low is not None and abs(self.offset_v) >= (self.v_high - self.v_low) / 2:
            # a follower's output sits at its input plus the offset: past half the swing it is on a rail
            raise ConfigError(f"op-amp offset_v = {self.offset_v:g} V is not below half its output swing "
                              f"((v_high − v_low)/2 = {(self.v_high - self.v_low) / 2:g} V): every loop around it "
                              "would sit on a rail")
        if self.slew_v_per_s is not None and not self.slew_v_per_s > 0:
            raise ConfigError(f"op-amp slew_v_per_s must be > 0 V/s, got {self.slew_v_per_s!r}")
        if self.slew_v_per_s is not None and self.gbw_hz is not None:
            linear_v = self.slew_linear_range_v
            if linear_v < MIN_SLEW_LINEAR_RANGE_V:
                # the input stage would be a relay: ngspice steps it below its voltage tolerance, for hours
                raise ConfigError(
                    f"op-amp slew_v_per_s = {self.slew_v_per_s:g} V/s with gbw_hz = {self.gbw_hz:g} Hz leaves the input "
                    f"stage a linear range SR/(2π·GBW) = I/gm of {linear_v:.3g} V, below {MIN_SLEW_LINEAR_RANGE_V:g} V (a "
                    "real input pair's is tens of mV): raise slew_v_per_s or leave it unset")
            # the slewing stage's current SR·C into its DC resistor caps the pole node at SR/(2π·p1), and its
            # rate falls toward the cap as SR·(1 − v/cap): within 10 % only up to a tenth of the cap
            cap = self.slew_cap_v
            needed = max(abs(self.v_low), abs(self.v_high)) if self.v_low is not None else 1.0
            if cap < SLEW_CAP_MARGIN * needed:
                reach = f"its farther rail ({needed:g} V)" if self.v_low is not None else "1 V"
                raise ConfigError(
                    f"op-amp slew_v_per_s = {self.slew_v_per_s:g} V/s caps the output at SR·gain/(2π·gbw_hz) = "
                    f"{cap:.3g} V, and the rate falls toward the cap as SR·(1 − v/cap): the cap must be "
                    f"{SLEW_CAP_MARGIN:g}× {reach} for the slew rate to hold within 10 %; raise slew_v_per_s or gain, "
                    "or leave slew_v_per_s unset")
        if not self.r_out_ohm >= 0:
            raise ConfigError(f"op-amp r_out_ohm must be ≥ 0 Ω, got {self.r_out_ohm!r}")
        if self.r_out_hf_ohm is not None:
            if not (self.r_out_ohm > 0 and self.gbw_hz is not None):
                raise ConfigError("op-amp r_out_hf_ohm needs r_out_ohm > 0 and a pole kind (single_pole, two_pole)")
            if not 0 < self.r_out_hf_ohm < self.r_out_ohm:
                raise ConfigError(f"op-amp r_out_hf_ohm must lie in (0, r_out_ohm = {self.r_out_ohm:g}) Ω, got "
                                  f"{self.r_out_hf_ohm!r}")
        if self.stage_gm_s is not None and not self.stage_gm_s > 0:
            raise ConfigError(f"op-amp stage_gm_s must be > 0 S, got {self.stage_gm_s!r}")
        if self.noise_v_per_rthz is not None and not NOISE_RANGE_V_PER_RTHZ[0] <= self.noise_v_per_rthz <= NOISE_RANGE_V_PER_RTHZ[1]:
            low, high = NOISE_RANGE_V_PER_RTHZ
            raise ConfigError(f"op-amp noise_v_per_rthz must lie in [{low:g}, {high:g}] V/√Hz (an amplifier's input "
                              f"noise is nV/√Hz; a lost scale factor is far outside), got {self.noise_v_per_rthz!r}")
        if self.noise_tran_step_s is not None:
            if self.noise_v_per_rthz is None:
                raise ConfigError("op-amp noise_tran_step_s needs noise_v_per_rthz (the density it samples)")
            if not self.noise_tran_step_s > 0:
                raise ConfigError(f"op-amp noise_tran_step_s must be > 0 s, got {self.noise_tran_step_s!r}")

    # ------------------------------------------------------------------ derived quantities
    @property
    def dominant_pole_hz(self) -> float:
        """``GBW/A0`` in Hz (``inf`` for the ideal kind)."""
        return math.inf if self.gbw_hz is None else self.gbw_hz / self.gain

    @property
    def compensation_c_f(self) -> float:
        """The dominant-pole capacitor of the macromodel in F (``1/(2π·GBW)`` behind a 1 S transconductor)."""
        if self.gbw_hz is None:
            raise ConfigError("the ideal op-amp kind has no compensation capacitor")
        return 1.0 / (2.0 * math.pi * self.gbw_hz)

    @property
    def slew_linear_range_v(self) -> float | None:
        """The input stage's linear range in V, ``SR/(2π·GBW)`` (``I/gm`` of a real input pair; None
        without a slew limit): past a few of them the input saturates and the output slews."""
        if self.slew_v_per_s is None or self.gbw_hz is None:
            return None
        return self.slew_v_per_s / (2 * math.pi * self.gbw_hz)

    @property
    def slew_cap_v(self) -> float | None:
        """The slewing stage's reach in V: its saturation current into the dominant pole's DC resistor,
        ``SR·A0/(2π·GBW)`` (None without a slew limit). Its rate at output ``v`` is ``SR·(1 − v/cap)``."""
        if self.slew_v_per_s is None or self.gbw_hz is None:
            return None
        return self.slew_v_per_s / (2 * math.pi * self.dominant_pole_hz)

    @property
    def slew_current_a(self) -> float | None:
        """Saturation current of the input transconductor in A (``SR·C``), or ``None`` without slew limit."""
        return None if self.slew_v_per_s is None else self.slew_v_per_s * self.compensation_c_f * self.stage_gm

    @property
    def stage_gm(self) -> float:
        """Transconductance of the pole stages in S (1 unless ``stage_gm_s`` sets it)."""
        return 1.0 if self.stage_gm_s is None else self.stage_gm_s

    @property
    def noise_resistor_ohm(self) -> float | None:
        """The series input resistor in Ω whose thermal noise is ``noise_v_per_rthz`` at 27 °C:
        ``e_n²/(4kT)`` (None when noiseless)."""
        if self.noise_v_per_rthz is None:
            return None
        return self.noise_v_per_rthz**2 / (4.0 * BOLTZMANN_J_PER_K * NGSPICE_DEFAULT_TEMP_K)

    @property
    def noise_tran_rms_v(self) -> float | None:
        """RMS in V of the transient noise samples, ``e_n/√(2·step)`` (None without transient noise):
        independent samples every ``step`` seconds hold a one-sided density of ``e_n``."""
        if self.noise_tran_step_s is None:
            return None
        return self.noise_v_per_rthz / math.sqrt(2.0 * self.noise_tran_step_s)

    def open_loop_gain(self, freq_hz: np.ndarray | float) -> np.ndarray:
        """Complex small-signal open-loop gain ``A(j·2πf)`` of this model (rails and slew ignored)."""
        f = np.asarray(freq_hz, dtype=float)
        gain = np.full(f.shape, self.gain, dtype=complex)
        if self.gbw_hz is not None:
            gain = gain / (1.0 + 1j * f / self.dominant_pole_hz)
        if self.second_pole_hz is not None:
            gain = gain / (1.0 + 1j * f / self.second_pole_hz)
        return gain

    def unity_gain_hz(self) -> float:
        """Frequency in Hz where ``|A(jf)| = 1`` (``inf`` for the ideal kind); solved in closed form."""
        if self.gbw_hz is None:
            return math.inf
        p1 = self.dominant_pole_hz
        if self.second_pole_hz is None:
            return p1 * math.sqrt(self.gain**2 - 1.0)
        p2 = self.second_pole_hz
        # |A|² = 1  ⇔  (1 + u/p1²)(1 + u/p2²) = A0² with u = f²: a quadratic in u.
        a, b, c = 1.0 / (p1 * p2) ** 2, 1.0 / p1**2 + 1.0 / p2**2, 1.0 - self.gain**2
        # the positive root as −2c/(b + √D): (−b + √D)/2a cancels to 0 when the second pole is far out
        u = -2.0 * c / (b + math.sqrt(b * b - 4 * a * c))
        return math.sqrt(u)

    def phase_margin_deg(self, beta: float = 1.0) -> float:
        """Phase margin in degrees of a loop with frequency-flat feedback factor ``beta`` around this op-amp."""
        if not 0 < beta <= 1:
            raise ConfigError(f"feedback factor beta must be in (0, 1], got {beta!r}")
        if self.gbw_hz is None:
            return 180.0
        scaled = replace(self, gain=self.gain * beta, gbw_hz=self.gbw_hz * beta)
        fc = scaled.unity_gain_hz()
        return 180.0 + math.degrees(float(np.angle(self.open_loop_gain(fc))))

    def compensated(self, *, beta: float = 1.0, overshoot: float = 0.05) -> "OpAmpModel":
        """The same op-amp with its dominant pole moved (a larger compensation capacitor) so that a
        loop with feedback factor ``beta`` has a closed-loop step ``overshoot`` (fraction, 0…0.5).

        Exact for the two-pole model: the loop ``1 + β·A0/((1+s/ω1)(1+s/ω2))`` has damping
        ``ζ = (ω1+ω2) / (2·√(ω1·ω2·(1+β·A0)))``; the overshoot fixes ``ζ = −ln OS/√(π² + ln² OS)``,
        and the smaller root of ``ω1² + (2 − 4ζ²(1+βA0))·ω2·ω1 + ω2² = 0`` is the new dominant pole.
        A single-pole or ideal op-amp never overshoots with a flat β and is returned unchanged.
        """
        if not 0 < overshoot < 0.5:
            raise ConfigError(f"target overshoot must be in (0, 0.5), got {overshoot!r}")
        if not 0 < beta <= 1:
            raise ConfigError(f"feedback factor beta must be in (0, 1], got {beta!r}")
        if self.kind != "two_pole":
            return self
        log_os = math.log(overshoot)
        zeta = -log_os / math.sqrt(math.pi**2 + log_os**2)
        w2 = 2 * math.pi * self.second_pole_hz
        b = (2.0 - 4.0 * zeta**2 * (1.0 + beta * self.gain)) * w2
        disc = b * b - 4.0 * w2 * w2
        # the smaller root as ω2²/(larger root): (−b − √disc)/2 cancels when 1 + β·A0 is large
        w1 = 2.0 * w2 * w2 / (-b + math.sqrt(disc))
        new_gbw = w1 / (2 * math.pi) * self.gain
        return replace(self, gbw_hz=min(new_gbw, self.gbw_hz))

    # ------------------------------------------------------------------ netlist
    @cached_property
    def subcircuit_name(self) -> str:
        """``opamp_<kind>_<10 hex digits>``: the same parameters always give the same name."""
        # computed once per model: a crossbar asks for it once per op-amp
        text = repr(sorted((f.name, repr(getattr(self, f.name))) for f in fields(self)
                           if f.name not in _LATER_FIELDS or getattr(self, f.name) is not None))
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        return f"opamp_{self.kind}_{digest}"

    def subcircuit(self) -> SubCircuit:
        """The macromodel as a PySpice ``SubCircuit`` with pins ``inp inn out`` (plain ngspice syntax)."""
        sub = SubCircuit(self.subcircuit_name, "inp", "inn", "out")
        gnd = sub.gnd
        plus = "inp"
        if self.offset_v != 0.0:
            # V n+ n- val sets v(n+) − v(n−) = val: the offset adds to the non-inverting input.
            sub.V("os", "inp_os", "inp", self.offset_v)
            plus = "inp_os"
        if self.noise_v_per_rthz is not None:
            sub.R("noise", plus, "inp_n", self.noise_resistor_ohm)
            plus = "inp_n"
        if self.noise_tran_step_s is not None:
            # trnoise(NA NT NALPHA NAMP): white samples only, no 1/f part
            sub.V("ntr", "inp_nt", plus,
                  f"dc 0 trnoise({self.noise_tran_rms_v!r} {self.noise_tran_step_s!r} 0 0)")
            plus = "inp_nt"
        if self.bias_a != 0.0:
            # I n+ n- val drives val from n+ through the source to n-: current leaves the pin into the op-amp.
            sub.I("bp", "inp", gnd, self.bias_a)
            sub.I("bn", "inn", gnd, self.bias_a)
        has_rails = self.v_low is not None
        buffered = self.r_out_ohm > 0.0
        if self.kind == "ideal":
            last = "n1" if (has_rails or buffered) else "out"
            sub.VCVS("a", last, gnd, plus, "inn", voltage_gain=self.gain)
        else:
            gm = self.stage_gm
            if self.slew_v_per_s is None:
                sub.VCCS("in", gnd, "n1", plus, "inn", transconductance=gm)
            else:
                # gm·v_d for small inputs, saturating at the slew current
                imax = self.slew_current_a
                v_d = f"v({plus},inn)" if self.stage_gm_s is None else f"{gm!r}*v({plus},inn)"
                sub.B("slew", gnd, "n1", current_expression=f"{imax!r}*tanh({v_d}/{imax!r})")
            sub.R("1", "n1", gnd, self.gain / gm)
            sub.C("1", "n1", gnd, self.compensation_c_f * gm)
            last = "n1"
            if self.kind == "two_pole":
                sub.VCCS("p2", gnd, "n2", "n1", gnd, transconductance=gm)
                sub.R("2", "n2", gnd, 1.0 / gm)
                sub.C("2", "n2", gnd, gm / (2.0 * math.pi * self.second_pole_hz))
                last = "n2"
        if has_rails:
            target = "nrail" if buffered else "out"
            sub.B("rail", target, gnd, voltage_expression=self._rail_expression(last))
            last = target
        if buffered:
            sub.VCVS("buf", "nbuf", gnd, last, gnd, voltage_gain=1.0)
            sub.R("out", "nbuf", "out", self.r_out_ohm)
            if self.r_out_hf_ohm is not None:
                sub.R("hf", "nbuf", "nhf", self.r_out_hf_ohm)
                sub.C("hf", "nhf", "out", 1.0 / (2.0 * math.pi * self.dominant_pole_hz * self.r_out_ohm))
        elif last in ("n1", "n2"):
            # A pole node must not be loaded: buffer it to the pin.
            sub.VCVS("buf", "out", gnd, last, gnd, voltage_gain=1.0)
        return sub

    def _rail_expression(self, node: str) -> str:
        """Softplus clamp of ``v(node)`` into (v_low, v_high), written with max/abs so exp never overflows."""
        lo, hi = self.v_low, self.v_high
        knee = (hi - lo) * RAIL_KNEE_FRACTION

        def softplus(arg: str) -> str:
            return f"(max({arg},0)+ln(1+exp(-abs({arg}))))"

        x = f"v({node})"
        return (
            f"{lo!r}+{knee!r}*{softplus(f'({x}-({lo!r}))/{knee!r}')}"
            f"-{knee!r}*{softplus(f'({x}-({hi!r}))/{knee!r}')}"
        )


#: Either kind of op-amp a circuit accepts: a built-in macromodel or a user's subcircuit (bring your own block).
AnyOpAmp = OpAmpModel | UserOpAmp


def _register(circuit: Circuit, model: AnyOpAmp, names: Sequence[str], nodes: Sequence) -> str:
    """Check instance and node names; add the model's subcircuit to ``circuit`` once; return its name."""
    validate_names(names, "op-amp instance name")
    validate_names([str(node) for node in nodes if node != 0 and node != "0"], "op-amp node")
    sub = model.subcircuit_name
    if isinstance(model, UserOpAmp):
        model.register(circuit)
    elif sub not in circuit.subcircuit_names:
        circuit.subcircuit(model.subcircuit())
    return sub


def add_opamp(circuit: Circuit, name: str, inp: str, inn: str, out: str, model: AnyOpAmp,
              supplies: Mapping[str, str] | None = None) -> str:
    """Add an instance ``X<name>`` of ``model`` between nodes ``inp``, ``inn`` → ``out``.

    The subcircuit definition is added once per circuit (by its parameter-derived name). ``supplies``
    maps a user part's supply pin roles (``vdd``, ``vss``, ``ref``) to the circuit's nodes; built-in
    models have no supply pins and ignore it. Returns the instance's element name (``"X" + name``).
    """
    sub = _register(circuit, model, [name], [inp, inn, out, *(supplies or {}).values()])
    nodes = model.nodes(inp, inn, out, supplies or {}) if isinstance(model, UserOpAmp) else [inp, inn, out]
    circuit.X(name, sub, *nodes)
    return f"X{name}"


def opamp_lines(circuit: Circuit, names: Sequence[str], inps: Sequence[str], inns: Sequence[str],
                outs: Sequence[str], model: AnyOpAmp, supplies: Mapping[str, str] | None = None) -> str:
    """Netlist lines for many instances of ``model`` at once (``X<name> inp inn out <subckt>``), for a
    circuit's ``raw_spice``; the subcircuit definition is added to ``circuit`` once. Arrays of op-amps
    (one per crossbar row) skip PySpice's per-element objects this way. A user part
    (:class:`~analogopt.blocks.user_block.UserOpAmp`) gets its pins in its own order, its supply pins on
    the nodes ``supplies`` gives for each role; built-in models ignore ``supplies``."""
    if not (len(names) == len(inps) == len(inns) == len(outs)):
        raise ValueError("op-amp names and node lists must have the same length")
    if isinstance(model, UserOpAmp):
        supplies = dict(supplies or {})
        sub = _register(circuit, model, names, [*inps, *inns, *outs, *supplies.values()])
        return model.instance_lines(names, inps, inns, outs, supplies)
    sub = _register(circuit, model, names, [*inps, *inns, *outs])
    return "".join(f"X{n} {a} {b} {o} {sub}\n" for n, a, b, o in zip(names, inps, inns, outs))


def opamp_from_config(table: dict, where: str = "opamp") -> OpAmpModel:
    """An :class:`OpAmpModel` from a scenario table, with engineering strings (``"1meg"``, ``"10megHz"``)
    accepted through the strict reader (:mod:`analogopt.values`)."""
    from ..values import Table

    units = {"gain": "V/V", "gbw_hz": "Hz", "second_pole_hz": "Hz", "v_low": "V", "v_high": "V", "offset_v": "V",
             "bias_a": "A", "slew_v_per_s": "V/s", "r_out_ohm": "ohm", "noise_v_per_rthz": None,
             "noise_tran_step_s": "s", "stage_gm_s": "S", "r_out_hf_ohm": "ohm"}
    reader = Table(table, where).reject_unknown({"kind", *units})
    values: dict = {key: reader.number(key, unit=units[key]) for key in table if key != "kind"}
    if "kind" in table:
        values["kind"] = reader.string("kind")
    try:
        return OpAmpModel(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
