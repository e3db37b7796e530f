"""Op-amp macromodels measured in real ngspice against their parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.opamp import OpAmpModel, add_opamp, opamp_from_config
from analogopt.errors import ConfigError
from analogopt.spice import ACSweep, DCSweep, NetlistDeck, NgspiceRunner, OperatingPoint, Transient, ngspice_available

pytestmark = pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed")

RUNNER = NgspiceRunner(timeout_s=60)


def _open_loop_ac(model: OpAmpModel):
    circuit = Circuit("open loop ac")
    circuit.V("in", "inp", circuit.gnd, "dc 0 ac 1")
    add_opamp(circuit, "u1", "inp", circuit.gnd, "out", model)
    deck = NetlistDeck(circuit, analyses=[ACSweep(1.0, 1e9, 200)], saves=["v(out)"])
    w = RUNNER.run(deck).analysis("ac")
    return w.axis, np.abs(w["out"])


def _crossing(freq: np.ndarray, mag: np.ndarray, level: float) -> float:
    """First frequency where the falling ``mag`` crosses ``level`` (log-log interpolation)."""
    idx = int(np.argmax(mag < level))
    lf, lm = np.log(freq[idx - 1 : idx + 1]), np.log(mag[idx - 1 : idx + 1])
    return float(np.exp(np.interp(np.log(level), lm[::-1], lf[::-1])))


@pytest.mark.parametrize(
    "model",
    [
        OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6),
        OpAmpModel(kind="single_pole", gain=2e4, gbw_hz=10e6),
        OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=20e6),
    ],
)
def test_ac_gain_pole_and_unity_frequency_match_parameters(model: OpAmpModel) -> None:
    freq, mag = _open_loop_ac(model)
    assert mag[0] == pytest.approx(model.gain, rel=0.05)
    f3db = _crossing(freq, mag, mag[0] / math.sqrt(2))
    assert f3db == pytest.approx(model.dominant_pole_hz, rel=0.05)
    fu = _crossing(freq, mag, 1.0)
    assert fu == pytest.approx(model.gbw_hz, rel=0.05)
    assert fu == pytest.approx(model.unity_gain_hz(), rel=0.01)


def test_open_loop_dc_gain_from_operating_point() -> None:
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    circuit = Circuit("open loop dc")
    circuit.V("in", "inp", circuit.gnd, 10e-6)
    add_opamp(circuit, "u1", "inp", circuit.gnd, "out", model)
    op = RUNNER.run(NetlistDeck(circuit, analyses=[OperatingPoint()])).analysis("op")
    assert op.final(["out"])[0] / 10e-6 == pytest.approx(1e5, rel=0.05)


def test_slew_rate_from_large_step() -> None:
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, slew_v_per_s=1e6)
    circuit = Circuit("slew")
    circuit.PulseVoltageSource("in", "inp", circuit.gnd, initial_value=0, pulsed_value=4,
                               delay_time=1e-6, rise_time=1e-9, fall_time=1e-9, pulse_width=1, period=2)
    add_opamp(circuit, "u1", "inp", "out", "out", model)  # unity-gain follower
    deck = NetlistDeck(circuit, analyses=[Transient(10e-6, max_step_s=10e-9, uic=False)], saves=["v(out)"])
    w = RUNNER.run(deck).analysis("tran")
    t, v = w.axis, w["out"]
    t20, t80 = np.interp([0.8, 3.2], v[t > 1e-6], t[t > 1e-6])
    measured = (3.2 - 0.8) / (t80 - t20)
    assert measured == pytest.approx(1e6, rel=0.10)


def test_output_stays_inside_rails_and_is_linear_between_them() -> None:
    model = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=10e6, v_low=-2.0, v_high=3.0)
    circuit = Circuit("rails")
    circuit.V("in", "vin", circuit.gnd, 0)
    # Non-inverting gain of 2: R1 = R2.
    circuit.R("f", "out", "fb", 10e3)
    circuit.R("g", "fb", circuit.gnd, 10e3)
    add_opamp(circuit, "u1", "vin", "fb", "out", model)
    w = RUNNER.run(NetlistDeck(circuit, analyses=[DCSweep("Vin", -5.0, 5.0, 0.05)])).analysis("dc")
    vin, out = w.axis, w["out"]
    assert out.max() <= 3.0 + 1e-12 and out.min() >= -2.0 - 1e-12  # to the last bit (ngspice-46 rounds 1 ulp over)
    assert out.max() > 2.99 and out.min() < -1.99
    linear = (vin > -0.9) & (vin < 1.4)
    np.testing.assert_allclose(out[linear], 2 * vin[linear], atol=2e-3)


def test_offset_bias_current_and_output_resistance() -> None:
    model = OpAmpModel(kind="ideal", gain=1e6, offset_v=2e-3, bias_a=1e-6, r_out_ohm=100.0)
    circuit = Circuit("nonideal")
    # Follower whose + input sits behind 1 kΩ: bias current drops 1 mV across it.
    circuit.R("s", "inp", circuit.gnd, 1e3)
    add_opamp(circuit, "u1", "inp", "out", "out", model)
    circuit.R("load", "out", circuit.gnd, 100.0)
    op = RUNNER.run(NetlistDeck(circuit, analyses=[OperatingPoint()])).analysis("op")
    # Loop gain ≈ A/2 (output divider 100 Ω / 100 Ω) keeps the follower exact: out = Vos − Ib·Rs.
    assert op.final(["out"])[0] == pytest.approx(2e-3 - 1e-3, rel=1e-3)
    # Open loop into the same load: the 100 Ω source resistance halves the output.
    circuit = Circuit("rout")
    circuit.V("in", "inp", circuit.gnd, 1e-6)
    add_opamp(circuit, "u1", "inp", circuit.gnd, "out", OpAmpModel(gain=1e6, r_out_ohm=100.0))
    circuit.R("load", "out", circuit.gnd, 100.0)
    op = RUNNER.run(NetlistDeck(circuit, analyses=[OperatingPoint()])).analysis("op")
    assert op.final(["out"])[0] == pytest.approx(0.5, rel=1e-6)


def test_output_impedance_falls_from_r_out_to_the_high_frequency_resistance() -> None:
    """r_out_hf: r_out at DC, r_out ‖ r_out_hf well above the dominant pole (a Miller stage's output)."""
    model = OpAmpModel(kind="single_pole", gain=1e4, gbw_hz=1e7, r_out_ohm=2e5, r_out_hf_ohm=1e3)
    circuit = Circuit("output impedance")
    add_opamp(circuit, "u1", circuit.gnd, circuit.gnd, "out", model)
    circuit.I("test", circuit.gnd, "out", "dc 0 ac 1")
    ac = RUNNER.run(NetlistDeck(circuit, analyses=[ACSweep(1.0, 1e8, 10)])).analysis("ac")
    z = np.abs(np.asarray(ac["v(out)"]))
    f = np.real(np.asarray(ac.axis))
    assert z[0] == pytest.approx(2e5, rel=1e-3)
    assert z[np.searchsorted(f, 1e6)] == pytest.approx(2e5 * 1e3 / (2e5 + 1e3), rel=0.02)
    corner = f[np.argmax(z < 2e5 / math.sqrt(2))]
    assert corner == pytest.approx(model.dominant_pole_hz, rel=0.3)


def test_subcircuit_is_defined_once_and_named_by_parameters() -> None:
    a = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    b = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    c = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=2e6)
    assert a.subcircuit_name == b.subcircuit_name != c.subcircuit_name
    circuit = Circuit("twice")
    add_opamp(circuit, "u1", "a", "b", "o1", a)
    add_opamp(circuit, "u2", "a", "b", "o2", b)
    assert str(circuit).count(".subckt") == 1


def test_compensation_reaches_target_phase_margin() -> None:
    raw = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=10e6, second_pole_hz=1e6)
    fixed = raw.compensated(overshoot=0.05)
    assert raw.phase_margin_deg() < 30
    assert 60 < fixed.phase_margin_deg() < 70
    assert fixed.gbw_hz < raw.gbw_hz


BAD = [
    (dict(gain=-10.0), ConfigError, r"gain must be > 0"),
    (dict(gain=0.0), ConfigError, r"gain must be > 0"),
    (dict(kind="single_pole", gbw_hz=0.0), ConfigError, r"gbw_hz must be > 0"),
    (dict(kind="single_pole", gbw_hz=-1e6), ConfigError, r"gbw_hz must be > 0"),
    (dict(kind="single_pole"), ConfigError, r"gbw_hz must be > 0"),
    (dict(kind="two_pole", gbw_hz=1e6), ConfigError, r"second_pole_hz must be > 0"),
    (dict(kind="two_pole", gbw_hz=1e6, second_pole_hz=1.0), ConfigError, r"above the dominant pole"),
    (dict(kind="ideal", gbw_hz=1e6), ConfigError, r"needs kind"),
    (dict(kind="ideal", slew_v_per_s=1e6), ConfigError, r"needs kind"),
    (dict(kind="triple_pole"), ConfigError, r"kind 'triple_pole' is unknown"),
    (dict(v_low=1.0), ConfigError, r"both v_low and v_high"),
    (dict(v_low=1.0, v_high=-1.0), ConfigError, r"v_low < v_high"),
    (dict(r_out_ohm=-1.0), ConfigError, r"r_out_ohm must be ≥ 0"),
    (dict(gain=float("nan")), ConfigError, r"finite"),
    (dict(kind="single_pole", gbw_hz=1e6, slew_v_per_s=0.0), ConfigError, r"slew_v_per_s must be > 0"),
    # its slewing stage could never lift the output past 0.16 V: the slew bench measured nothing, without a word
    (dict(kind="single_pole", gain=1e4, gbw_hz=1e6, slew_v_per_s=100.0), ConfigError,
     r"slew_v_per_s = 100 V/s caps the output at SR·gain/\(2π·gbw_hz\) = 0\.159 V, .* must be 10× 1 V"),
    # a relay for an input stage (linear range 1.6e-16 V): the slew bench ran past its 120 s limit
    (dict(kind="single_pole", gain=1e16, gbw_hz=1e6, slew_v_per_s=1e-9), ConfigError,
     r"linear range SR/\(2π·GBW\) = I/gm of 1\.59e-16 V, below 1e-05 V"),
    (dict(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=5e6, v_low=-2.5, v_high=5.0, slew_v_per_s=300.0),
     ConfigError, r"= 4\.77 V, .*must be 10× its farther rail \(5 V\) for the slew rate to hold within 10 %"),
    # the rate SR·(1 − v/cap) would be 40 % slow at the farther rail
    (dict(kind="single_pole", gain=1e5, gbw_hz=1e6, v_low=0.0, v_high=5.0, slew_v_per_s=520.0), ConfigError,
     r"= 8\.28 V, .*must be 10× its farther rail \(5 V\)"),
]


@pytest.mark.parametrize("kwargs, error, pattern", BAD)
def test_bad_parameters_are_rejected(kwargs, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        OpAmpModel(**kwargs)


def test_config_table_accepts_engineering_strings_and_rejects_unknown_keys() -> None:
    model = opamp_from_config({"kind": "single_pole", "gain": "100k", "gbw_hz": "1meg"})
    assert model.gain == 1e5 and model.gbw_hz == 1e6
    with pytest.raises(ConfigError, match=r"opamp: unknown key\(s\) gbw"):
        opamp_from_config({"gbw": 1e6})


@pytest.mark.parametrize("second_pole_hz", [3e6, 1e9, 1e12, 1e15])
def test_two_pole_analytics_hold_with_a_far_second_pole(second_pole_hz: float) -> None:
    """|A| = 1 at the analytic unity-gain frequency, and the phase margin tends to the single pole's as the
    second pole moves out (at 1e15 Hz the quadratic's textbook root cancelled to 0 Hz and 180°)."""
    two = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=second_pole_hz)
    one = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)
    fu = two.unity_gain_hz()
    assert abs(complex(two.open_loop_gain(fu))) == pytest.approx(1.0, rel=1e-12)
    assert two.phase_margin_deg() == pytest.approx(
        180 - np.degrees(np.arctan(fu / two.dominant_pole_hz) + np.arctan(fu / second_pole_hz)), abs=1e-9)
    if second_pole_hz >= 1e12:
        assert two.phase_margin_deg() == pytest.approx(one.phase_margin_deg(), abs=1e-4)
        assert fu == pytest.approx(one.unity_gain_hz(), rel=1e-6)


def test_compensated_dominant_pole_solves_its_quadratic() -> None:
    """The new dominant pole is a root of ω1² + (2 − 4ζ²(1 + A0))·ω2·ω1 + ω2² to 1e-12 of ω2·ω1 (the
    smaller root taken without cancellation: the textbook form was off by 8e-7 here)."""
    raw = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=10e6, second_pole_hz=3e6)
    fixed = raw.compensated(overshoot=0.05)
    log_os = np.log(0.05)
    zeta = -log_os / np.sqrt(np.pi**2 + log_os**2)
    w1, w2 = 2 * np.pi * fixed.dominant_pole_hz, 2 * np.pi * 3e6
    residual = w1**2 + (2 - 4 * zeta**2 * (1 + 1e5)) * w2 * w1 + w2**2
    assert abs(residual) < 1e-12 * (4 * zeta**2 * (1 + 1e5)) * w2 * w1
