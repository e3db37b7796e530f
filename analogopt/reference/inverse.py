"""Digital twin of the function-inverting loop (000 §2, Eq. 1–7) and of log/antilog amplifiers.

The loop of 000 Fig. 1a with ``F(x) = A·x`` (Eq. 1) and ``E(x) = u·x`` (Eq. 3) settles where

    x_i = E⁻¹(F⁻¹(x_o)) + B(x_o) = x_o/(A·u) + B(x_o)                      (000 Eq. 5)

which this module solves exactly for finite ``A`` (vectorized bracketed bisection to machine
precision), and for ``A → ∞`` gives ``x_o = B⁻¹(x_i)`` (Eq. 7). The error ``x_o(A) − B⁻¹(x_i)`` is
``≈ −x_o/(A·u·B'(x_o))``: it falls as ``1/A``.

The log amplifier (000 Fig. 1b) is solved in closed form, because the input current is forced
through the junction: ``v_out = (V_os − V_J(I_in − I_b)) / (1 + 1/A)`` with the junction law and
``Is(T)`` law written exactly as ngspice evaluates them (constants from ngspice's ``const.h``).

Plain numpy/scipy: importable without ngspice or PySpice, never imports :mod:`analogopt.spice`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError

#: Physical constants exactly as ngspice-39 uses them (src/include/ngspice/const.h).
Q_C = 1.6021766208e-19
K_B = 1.38064852e-23
KELVIN = 273.15
TNOM_C = 27.0

Array = np.ndarray


@dataclass(frozen=True)
class FeedbackFunction:
    """A monotonically increasing feedback function ``B`` with its derivative and range.

    ``range_open`` is the open interval of values ``B`` takes (what ``x_i`` may be for ``A → ∞``);
    ``default_sweep`` a sensible ``x_i`` sweep for plots and scenarios.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    range_open: tuple[float, float]
    default_sweep: tuple[float, float]


FEEDBACK_FUNCTIONS: dict[str, FeedbackFunction] = {
    "cubic": FeedbackFunction("cubic", lambda x: x**3 + x, lambda x: 3 * x**2 + 1, (-math.inf, math.inf), (-10.0, 10.0)),
    "exp": FeedbackFunction("exp", np.exp, np.exp, (0.0, math.inf), (0.05, 20.0)),
    "tanh": FeedbackFunction("tanh", np.tanh, lambda x: 1 / np.cosh(x) ** 2, (-1.0, 1.0), (-0.95, 0.95)),
    "sinh": FeedbackFunction("sinh", np.sinh, np.cosh, (-math.inf, math.inf), (-10.0, 10.0)),
    "linear": FeedbackFunction("linear", lambda x: x, np.ones_like, (-math.inf, math.inf), (-1.0, 1.0)),
}


def feedback_function(name: str) -> FeedbackFunction:
    """The registered function ``name``; :class:`ConfigError` listing the allowed names otherwise."""
    try:
        return FEEDBACK_FUNCTIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown feedback function {name!r}; allowed: {', '.join(sorted(FEEDBACK_FUNCTIONS))}"
        ) from None


def _bisect_increasing(g: Callable[[Array], Array], target: Array, lo: Array, hi: Array, iters: int = 200) -> Array:
    """Vectorized bisection for ``g(x) = target`` with ``g`` increasing and ``g(lo) ≤ target ≤ g(hi)``."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = g(mid) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if np.all((hi - lo) <= 4 * np.finfo(float).eps * np.maximum(np.abs(lo), np.abs(hi))):
            break
    return 0.5 * (lo + hi)


def _bracket(g: Callable[[Array], Array], target: Array) -> tuple[Array, Array]:
    lo = np.full(target.shape, -1.0)
    hi = np.full(target.shape, 1.0)
    for _ in range(1100):  # doubling reaches ±1e308 at most
        low_bad, high_bad = g(lo) > target, g(hi) < target
        if not (low_bad.any() or high_bad.any()):
            return lo, hi
        lo = np.where(low_bad, 2 * lo, lo)
        hi = np.where(high_bad, 2 * hi, hi)
    raise ConfigError("closed-loop equation has no solution inside the float range")  # pragma: no cover


def solve_closed_loop(x_i: Array | float, function: str, *, gain: float, error_gain: float = 1.0,
                      offset: float = 0.0) -> Array:
    """``x_o`` solving 000 Eq. 5, ``x_i + offset = x_o/(gain·error_gain) + B(x_o)``, elementwise.

    ``gain`` is the forward gain A (``math.inf`` for the ideal inverse ``B⁻¹``), ``error_gain`` the
    error-function gain u, ``offset`` an input offset added to ``x_i`` (an op-amp's V_os).
    """
    fn = feedback_function(function)
    if not (gain > 0) or not (error_gain > 0):
        raise ConfigError(f"forward gain and error gain must be > 0, got gain={gain!r}, error_gain={error_gain!r}")
    target = np.asarray(x_i, dtype=float) + offset
    inv_loop = 0.0 if math.isinf(gain * error_gain) else 1.0 / (gain * error_gain)
    if inv_loop == 0.0:
        lo_r, hi_r = fn.range_open
        if np.any(target <= lo_r) or np.any(target >= hi_r):
            raise ConfigError(f"x_i outside the range ({lo_r:g}, {hi_r:g}) of feedback function {function!r}")
    flat = target.reshape(-1)

    def g(x: Array) -> Array:
        with np.errstate(over="ignore"):
            return x * inv_loop + fn.f(x)

    lo, hi = _bracket(g, flat)
    return _bisect_increasing(g, flat, lo, hi).reshape(target.shape)


def ideal_inverse(x_i: Array | float, function: str) -> Array:
    """``B⁻¹(x_i)`` (000 Eq. 7): the loop output for infinite forward gain."""
    return solve_closed_loop(x_i, function, gain=math.inf)


def inverse_error_first_order(x_o: Array, function: str, *, gain: float, error_gain: float = 1.0) -> Array:
    """First-order error ``x_o(A) − B⁻¹(x_i) ≈ −x_o / (A·u·B'(x_o))`` — the 1/A law behind Eq. 5."""
    fn = feedback_function(function)
    return -x_o / (gain * error_gain * fn.df(x_o))


# ---------------------------------------------------------------------------------------- log amps
def thermal_voltage(temp_c: Array | float) -> Array:
    """``V_T = k·T/q`` in V at ``temp_c`` °C."""
    return K_B * (np.asarray(temp_c, dtype=float) + KELVIN) / Q_C


def saturation_current(temp_c: Array | float, *, device: str, is_a: float, n: float, eg_ev: float, xti: float,
                       **_: float) -> Array:
    """``Is(T)`` in A as ngspice computes it from the 27 °C value (diode: exponents divided by ``n``)."""
    t = np.asarray(temp_c, dtype=float) + KELVIN
    ratio = t / (TNOM_C + KELVIN)
    vt = K_B * t / Q_C
    if device == "diode":
        return is_a * np.exp((ratio - 1) * eg_ev / (n * vt) + xti / n * np.log(ratio))
    return is_a * np.exp((ratio - 1) * eg_ev / vt + xti * np.log(ratio))


def junction_voltage(current_a: Array | float, temp_c: float = TNOM_C, *, device: str, is_a: float, n: float,
                     rs_ohm: float = 0.0, bf: float = 100.0, eg_ev: float = 1.11, xti: float = 3.0) -> Array:
    """Voltage in V across a forward junction carrying ``current_a`` (diode current, or BJT collector
    current with its base at the collector's potential), series/emitter resistance included."""
    i = np.asarray(current_a, dtype=float)
    is_t = saturation_current(temp_c, device=device, is_a=is_a, n=n, eg_ev=eg_ev, xti=xti)
    with np.errstate(invalid="ignore", divide="ignore"):
        v_j = n * thermal_voltage(temp_c) * np.log1p(i / is_t)
    series = i * rs_ohm * (1.0 + 1.0 / bf if device == "bjt" else 1.0)
    return v_j + series


def ideal_log_law(current_a: Array | float, temp_c: float = TNOM_C, *, device: str, is_a: float, n: float,
                  eg_ev: float = 1.11, xti: float = 3.0, **_: float) -> Array:
    """The ideal log amplifier: ``v_out = −n·V_T·ln(I/Is(T))`` in V."""
    is_t = saturation_current(temp_c, device=device, is_a=is_a, n=n, eg_ev=eg_ev, xti=xti)
    return -n * thermal_voltage(temp_c) * np.log(np.asarray(current_a, dtype=float) / is_t)


def log_slope_per_decade(temp_c: Array | float, n: float) -> Array:
    """Ideal log-amp slope magnitude in V/decade: ``n·V_T·ln 10``."""
    return n * thermal_voltage(temp_c) * math.log(10.0)


def log_amp_output(current_a: Array | float, temp_c: float = TNOM_C, *, junction: dict, gain: float = math.inf,
                   offset_v: float = 0.0, bias_a: float = 0.0) -> Array:
    """DC output in V of the inverting log amp with a finite-gain op-amp, offset and bias current.

    The input current minus the bias current is forced through the junction, and the loop (Eq. 5 with
    ``E⁻¹F⁻¹(x) = x/A``) sets ``v_out = (V_os − V_J)/(1 + 1/A)``. Non-positive junction currents give NaN
    (the real loop saturates there).
    """
    i = np.asarray(current_a, dtype=float) - bias_a
    v_j = junction_voltage(np.where(i > 0, i, np.nan), temp_c, **junction)
    return (offset_v - v_j) / (1.0 + (0.0 if math.isinf(gain) else 1.0 / gain))


def antilog_amp_output(v_in: Array | float, temp_c: float = TNOM_C, *, junction: dict, r_ohm: float,
                       gain: float = math.inf, offset_v: float = 0.0, bias_a: float = 0.0) -> Array:
    """DC output in V of the inverting antilog amp (junction from the summing node into ``v_in`` < 0,
    feedback resistor ``r_ohm``): solves ``V_J(I) = v_sum(I) − v_in`` with
    ``v_sum = (V_os − R·(I + I_b)/A)/(1 + 1/A)`` for the junction current I, then ``v_out = v_sum + R·(I + I_b)``."""
    v = np.asarray(v_in, dtype=float).reshape(-1)
    inv_a = 0.0 if math.isinf(gain) else 1.0 / gain

    def v_sum(i: Array) -> Array:
        return (offset_v - r_ohm * (i + bias_a) * inv_a) / (1.0 + inv_a)

    def g(log_i: Array) -> Array:  # increasing in log I
        i = np.exp(log_i)
        return junction_voltage(i, temp_c, **junction) - v_sum(i)

    lo = np.full(v.shape, math.log(1e-30))
    hi = np.full(v.shape, math.log(1e3))
    log_i = _bisect_increasing(g, -v, lo, hi)
    i = np.exp(log_i)
    return (v_sum(i) + r_ohm * (i + bias_a)).reshape(np.shape(v_in))


def closed_loop_step(t_s: Array, *, gain: float, gbw_hz: float | None = None, second_pole_hz: float | None = None,
                     beta: float = 1.0) -> Array:
    """Unit step response (0 → 1 at t = 0) of ``A(s)/(1 + β·A(s))`` normalized to its final value, for
    the op-amp poles of :class:`analogopt.blocks.opamp.OpAmpModel` (plain numbers here)."""
    t = np.asarray(t_s, dtype=float)
    den = np.array([1.0])
    if gbw_hz is not None:
        den = np.polymul(den, [1.0 / (2 * math.pi * gbw_hz / gain), 1.0])
    if second_pole_hz is not None:
        den = np.polymul(den, [1.0 / (2 * math.pi * second_pole_hz), 1.0])
    if len(den) == 1:
        return np.where(t >= 0, 1.0, 0.0)
    closed = np.polyadd(den, [beta * gain])
    # Step response by residues: y(t) = H(0) + Σ_k K·e^{p_k t} / (p_k · den'(p_k)) for distinct poles p_k.
    poles = np.roots(closed)
    dden = np.polyder(closed)
    h0 = gain / closed[-1]
    weights = gain / (poles * np.polyval(dden, poles))
    tt = np.clip(t, 0.0, None)
    y = h0 + np.real(np.exp(np.outer(tt, poles)) @ weights)
    return np.where(t >= 0, y, 0.0) / h0
