"""A macromodel fitted to the transistor op-amp at one PVT point, so that ``level = "macro"`` can mean
"this op-amp at corner ss, 125 °C": :class:`~analogopt.blocks.opamp.OpAmpModel` of kind ``two_pole``
with the measured DC gain, the two poles that give the measured unity-gain frequency and phase margin,
the measured slew rate (mean of rising and falling) and output swing, and the systematic offset.

The poles in closed form, for ``A(s) = A0/((1 + s/p1)(1 + s/p2))`` with ``p1 ≪ f_u``: the phase at the
unity-gain frequency ``f_u`` is ``−90° − atan(f_u/p2)``, so ``p2 = f_u / tan(90° − PM)``, and ``|A(f_u)| = 1``
gives the model's gain-bandwidth parameter ``GBW = f_u·√(1 + (f_u/p2)²)``.

The fit is judged where the model is used, in closed loop: the follower's step response (the
largest difference at any instant, as a fraction of the step) and its closed-loop AC magnitude (the
largest difference in dB below 3·f_u).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..blocks.opamp import OpAmpModel
from ..blocks.miller_ota import MillerOTA
from ..circuits import ota_benches
from ..pdk.gf180mcu import Gf180mcu
from . import transistor_ota as t


def fit_macromodel(ol: t.OpenLoop, step: t.StepResponse, swing_v: tuple[float, float],
                   offset_v: float = 0.0, r_out_ohm: float = 0.0) -> OpAmpModel:
    """The module docstring's fit; ``r_out_ohm`` the measured open-loop output resistance (Ω), which a
    resistive load (a crossbar) divides the DC gain by. Above the dominant pole the Miller loop lowers the
    output impedance toward 1/gm6 (the output device's gm at the operating point): without that, a
    resistive load would divide the whole response and slow a loop as much as its DC gain."""
    if ol.gbw_hz is None or ol.pm_deg is None or not 0 < ol.pm_deg < 90:
        raise ValueError(f"{ol.label}: no unity-gain crossing with a phase margin in (0°, 90°) to fit")
    fu = ol.gbw_hz
    p2 = fu / math.tan(math.radians(90.0 - ol.pm_deg))
    slews = [s for s in (step.slew_up_v_per_s, step.slew_down_v_per_s) if s is not None]
    low, high = swing_v
    return OpAmpModel(kind="two_pole", gain=10 ** (ol.dc_gain_db / 20), gbw_hz=fu * math.sqrt(1 + (fu / p2) ** 2),
                      second_pole_hz=p2, slew_v_per_s=float(np.mean(slews)) if slews else None,
                      v_low=low if math.isfinite(low) else None, v_high=high if math.isfinite(high) else None,
                      offset_v=offset_v, r_out_ohm=r_out_ohm,
                      r_out_hf_ohm=min(1.0 / ol.devices["M6"]["gm"], 0.5 * r_out_ohm) if r_out_ohm > 0 else None)


@dataclass
class FitCheck:
    """How far the fitted model lands from the transistors in closed loop: ``step_error`` (largest
    |Δv(out)| over the step bench / step amplitude), ``ac_error_db`` (largest |Δ|A_cl|| in dB below
    3·f_u), and the curves for a figure."""

    model: OpAmpModel
    step_error: float
    ac_error_db: float
    time_s: np.ndarray
    v_transistor: np.ndarray
    v_macro: np.ndarray
    freq_hz: np.ndarray
    ac_transistor: np.ndarray
    ac_macro: np.ndarray


def check_fit(ota: MillerOTA, pdk: Gf180mcu, c_load_f: float, runner: Any, *, gbw_hz: float = 5e6,
              step_v: float = 1.0) -> FitCheck:
    """Measure at ``pdk``, fit, and run the same follower benches with the model."""
    ol = t.measure_open_loop(ota, pdk, c_load_f, runner)
    step = t.step_response(ota, pdk, c_load_f, runner, step_v=step_v, gbw_hz=gbw_hz)
    low, high, _, _ = t.output_swing(ota, pdk, c_load_f, runner)
    model = fit_macromodel(ol, step, (low, high), t.systematic_offset_v(ota, pdk, runner))
    stop = ota_benches.step_time_s(gbw_hz)
    step_bench = ota_benches.step_bench(ota, pdk, c_load_f, step_v, stop)
    macro = ota_benches.macro_follower_benches(model, c_load_f, step_bench, pdk.supply_v / 2, stop)
    m_tran = runner.run(macro["macro_step"].deck).analysis("tran")
    v_macro = np.interp(step.time_s, np.real(m_tran.axis), np.real(m_tran["v(out)"]))
    step_error = float(np.max(np.abs(v_macro - np.real(step.v_out)))) / step_v
    t_ac = runner.run(ota_benches.follower_ac_bench(ota, pdk, c_load_f).deck).analysis("ac")
    m_ac = runner.run(macro["macro_follower_ac"].deck).analysis("ac")
    freq = np.real(t_ac.axis)
    a_t, a_m = np.asarray(t_ac["v(out)"]), np.asarray(m_ac["v(out)"])
    band = freq <= 3 * ol.gbw_hz
    ac_error = float(np.max(np.abs(20 * np.log10(np.abs(a_t[band]) / np.abs(a_m[band])))))
    return FitCheck(model, step_error, ac_error, step.time_s, np.real(step.v_out), v_macro, freq, a_t, a_m)
