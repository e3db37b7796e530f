"""Log and antilog amplifiers (000 Fig. 1b) in ngspice against the ideal log law and the twin."""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from analogopt.blocks.logamp import JunctionModel
from analogopt.blocks.opamp import OpAmpModel
from analogopt.circuits.log_amp import log_amp_circuit
from analogopt.experiments.inverse import JUNCTION_OPTIONS
from analogopt.errors import ConfigError
from analogopt.reference import inverse as twin
from analogopt.spice import DCSweep, NetlistDeck, NgspiceRunner, Transient, ngspice_available

pytestmark = pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed")

RUNNER = NgspiceRunner(timeout_s=60)
IDEAL = OpAmpModel(kind="ideal", gain=1e6)


def _sweep(device, opamp=IDEAL, temp_c=27.0, lo=1e-9, hi=1e-3, ppd=10, antilog_r_ohm=None):
    generated = log_amp_circuit(device, opamp, antilog_r_ohm=antilog_r_ohm)
    deck = NetlistDeck(generated.circuit, analyses=[DCSweep(generated.source, math.log10(lo), math.log10(hi), 1 / ppd)],
                       options={**JUNCTION_OPTIONS, "temp": temp_c, "tnom": 27.0})
    wave = RUNNER.run(deck).analysis("dc")
    return 10 ** wave.axis, {role: wave[node] for role, node in generated.probes.items()}


@pytest.mark.parametrize("device", ["diode", "bjt"])
def test_slope_and_conformity_at_27c(device: str) -> None:
    junction = JunctionModel(device=device, n=1.0 if device == "bjt" else 1.05)
    i, s = _sweep(junction)
    slope = -np.polyfit(np.log10(i), s["out"], 1)[0]
    expected = junction.n * twin.thermal_voltage(27.0) * math.log(10)
    assert slope == pytest.approx(expected, rel=0.01)
    window = i <= 1e-4 * 1.0001  # 5 decades: 1 nA … 100 µA
    v = s["out"][window]
    fit = np.polyval(np.polyfit(np.log10(i[window]), v, 1), np.log10(i[window]))
    assert np.max(np.abs(v - fit)) / np.ptp(v) < 1e-3
    np.testing.assert_allclose(s["out"], twin.log_amp_output(i, 27.0, junction=asdict(junction), gain=1e6), atol=2e-6)


def test_slope_is_proportional_to_absolute_temperature() -> None:
    junction = JunctionModel(device="diode")
    temps = np.array([-40.0, 27.0, 125.0])
    slopes = []
    for t in temps:
        # Fit from 100 nA up: at 125 °C Is(T) ≈ 1 nA and the bottom decades leave the exponential law.
        i, s = _sweep(junction, temp_c=float(t), lo=1e-7, hi=1e-3)
        slopes.append(-np.polyfit(np.log10(i), s["out"], 1)[0])
        np.testing.assert_allclose(s["out"], twin.log_amp_output(i, float(t), junction=asdict(junction), gain=1e6),
                                   atol=1e-6)
    ratio = np.array(slopes) / (temps + twin.KELVIN)
    assert np.ptp(ratio) / ratio.mean() < 0.01
    np.testing.assert_allclose(slopes, twin.log_slope_per_decade(temps, 1.0), rtol=0.01)


def test_series_resistance_and_bias_current_errors_match_twin() -> None:
    junction = JunctionModel(device="diode")
    i, base = _sweep(junction, ppd=2)
    v_twin = twin.log_amp_output(i, 27.0, junction=asdict(junction), gain=1e6)
    rs = replace(junction, rs_ohm=20.0)
    _, with_rs = _sweep(rs, ppd=2)
    err = with_rs["out"] - base["out"]
    err_twin = twin.log_amp_output(i, 27.0, junction=asdict(rs), gain=1e6) - v_twin
    assert abs(err[-1]) > 1e3 * abs(err[0])  # grows at the high end: I·Rs
    np.testing.assert_allclose(err, err_twin, rtol=1e-3, atol=1e-8)
    biased = replace(IDEAL, bias_a=1e-10)
    _, with_bias = _sweep(junction, opamp=biased, ppd=2)
    err = with_bias["out"] - base["out"]
    err_twin = twin.log_amp_output(i, 27.0, junction=asdict(junction), gain=1e6, bias_a=1e-10) - v_twin
    assert abs(err[0]) > 1e3 * abs(err[-1])  # grows at the low end: the bias current steals input current
    np.testing.assert_allclose(err, err_twin, rtol=1e-3, atol=1e-8)


@pytest.mark.parametrize("device", ["diode", "bjt"])
def test_log_antilog_cascade_returns_its_input(device: str) -> None:
    i, s = _sweep(JunctionModel(device=device), lo=1e-8, hi=1e-4, antilog_r_ohm=1e4)
    assert np.max(np.abs(s["antilog"] / 1e4 / i - 1)) < 0.01


def _step_overshoot(opamp: OpAmpModel) -> float:
    generated = log_amp_circuit(JunctionModel(), opamp, step=(1e-5, 1e-4, 2e-6, 2e-9))
    deck = NetlistDeck(generated.circuit, analyses=[Transient(20e-6, max_step_s=5e-9, uic=False)],
                       options={**JUNCTION_OPTIONS, "reltol": 1e-6}, saves=["v(out)"])
    wave = RUNNER.run(deck).analysis("tran")
    v = wave["out"]
    v0, v1 = v[0], v[-1]
    return float(((v - v0) / (v1 - v0)).max() - 1.0)


def test_two_pole_opamp_rings_and_computed_compensation_settles() -> None:
    raw = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=10e6, second_pole_hz=1e6)
    assert _step_overshoot(raw) > 0.3
    fixed = raw.compensated(beta=1.0, overshoot=0.05)
    assert _step_overshoot(fixed) < 0.10


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: log_amp_circuit(JunctionModel(), IDEAL, current_a=0.0), ConfigError, r"positive current"),
        (lambda: log_amp_circuit(JunctionModel(), IDEAL, current_a=-1e-6), ConfigError, r"positive current"),
        (lambda: log_amp_circuit(JunctionModel(), IDEAL, step=(1e-6, -1e-5, 0, 1e-9)), ConfigError, r"step end current"),
        (lambda: JunctionModel(device="triode"), ConfigError, r"device 'triode' is unknown"),
        (lambda: JunctionModel(is_a=0.0), ConfigError, r"is_a must be > 0"),
        (lambda: JunctionModel(n=0.1), ConfigError, r"emission coefficient"),
        (lambda: JunctionModel(rs_ohm=-1.0), ConfigError, r"rs_ohm must be ≥ 0"),
        (lambda: log_amp_circuit(JunctionModel(), IDEAL, antilog_r_ohm=0.0), ConfigError, r"r_ohm must be > 0"),
    ],
)
def test_bad_inputs(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()
