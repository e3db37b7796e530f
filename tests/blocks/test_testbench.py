"""The characterization testbenches of analogopt/circuits/testbench.py and the op-amp's noise option:
the decks as text, and what real ngspice makes of them."""

from __future__ import annotations

import hashlib
import math
from dataclasses import fields

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.integrator import RCLowPass
from analogopt.blocks.opamp import BOLTZMANN_J_PER_K, NGSPICE_DEFAULT_TEMP_K, OpAmpModel, add_opamp, opamp_from_config
from analogopt.blocks.ota import OTAModel
from analogopt.circuits import testbench as tb
from analogopt.errors import ConfigError
from analogopt.problems import ActivationSpec
from analogopt.spice import NetlistDeck, NgspiceRunner, Transient

RUNNER = NgspiceRunner(timeout_s=60)
SINGLE = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6)


# ----------------------------------------------------------------------------- the noise option
def _name_before_noise(model: OpAmpModel) -> str:
    """The subcircuit name as it was computed before the later fields (noise, stage gm, r_out_hf) existed."""
    old = [f.name for f in fields(model)
           if f.name not in ("noise_v_per_rthz", "noise_tran_step_s", "stage_gm_s", "r_out_hf_ohm")]
    text = repr(sorted((name, repr(getattr(model, name))) for name in old))
    return f"opamp_{model.kind}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"


@pytest.mark.parametrize("model", [OpAmpModel(), SINGLE, OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6,
                                                                    second_pole_hz=20e6, offset_v=1e-3,
                                                                    slew_v_per_s=1e6)])
def test_a_noiseless_model_keeps_its_name_and_elements(model):
    assert model.subcircuit_name == _name_before_noise(model)
    text = str(model.subcircuit())
    assert "Rnoise" not in text and "trnoise" not in text


def test_the_noise_resistor_has_the_density_at_27_c():
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, noise_v_per_rthz=20e-9)
    r = model.noise_resistor_ohm
    assert math.sqrt(4 * BOLTZMANN_J_PER_K * NGSPICE_DEFAULT_TEMP_K * r) == pytest.approx(20e-9, rel=1e-12)
    assert f"Rnoise inp inp_n {r!r}" in str(model.subcircuit())
    assert model.subcircuit_name != SINGLE.subcircuit_name


@pytest.mark.parametrize("settings, message", [
    ({"noise_v_per_rthz": -1e-9}, r"noise_v_per_rthz must lie in \[1e-15, 0\.001\] V/√Hz"),
    ({"noise_v_per_rthz": 0.0}, r"noise_v_per_rthz must lie in \[1e-15, 0\.001\] V/√Hz"),
    ({"noise_v_per_rthz": 1e-30}, r"a lost scale factor is far outside\), got 1e-30"),
    ({"noise_tran_step_s": 1e-6}, "noise_tran_step_s needs noise_v_per_rthz"),
    ({"noise_v_per_rthz": 1e-9, "noise_tran_step_s": 0.0}, "noise_tran_step_s must be > 0"),
    ({"noise_v_per_rthz": float("nan")}, "noise_v_per_rthz must be a finite number"),
])
def test_bad_noise_parameters_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, **settings)


def test_the_scenario_reader_takes_noise_with_spice_suffixes():
    model = opamp_from_config({"kind": "ideal", "noise_v_per_rthz": "20n", "noise_tran_step_s": "1us"})
    assert model.noise_v_per_rthz == pytest.approx(20e-9) and model.noise_tran_step_s == pytest.approx(1e-6)
    with pytest.raises(ConfigError, match="noise_v_per_rthz"):
        opamp_from_config({"noise_v_per_rthz": "20nV"})


def test_the_noise_resistor_changes_no_small_signal_result():
    noisy = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=3e6, offset_v=1e-3,
                       noise_v_per_rthz=50e-9)
    quiet = OpAmpModel(kind="two_pole", gain=1e5, gbw_hz=1e6, second_pole_hz=3e6, offset_v=1e-3)
    runs = [RUNNER.run(tb.opamp_open_loop_bench(m).deck).analysis("ac") for m in (noisy, quiet)]
    np.testing.assert_allclose(runs[0]["out"], runs[1]["out"], rtol=1e-9)


def test_noise_analysis_sees_the_model_density():
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, noise_v_per_rthz=20e-9)
    bench = tb.opamp_noise_bench(model)
    noise = RUNNER.run(bench.deck).analysis("noise")
    low = noise.axis < 1e4  # well inside the follower's bandwidth
    np.testing.assert_allclose(noise[bench.probes["input_density"]], 20e-9, rtol=1e-3)
    np.testing.assert_allclose(noise[bench.probes["output_density"]][low], 20e-9, rtol=1e-3)


def test_transient_noise_has_the_sampled_rms_and_density():
    model = OpAmpModel(kind="ideal", gain=1e6, noise_v_per_rthz=100e-9, noise_tran_step_s=1e-6)
    assert "trnoise(7.071067811865475e-05 1e-06 0 0)" in str(model.subcircuit())
    circuit = Circuit("trnoise follower")
    circuit.V("in", "inp", circuit.gnd, 0.0)
    add_opamp(circuit, "u1", "inp", "out", "out", model)
    samples = 4000
    deck = NetlistDeck(circuit, analyses=[Transient(samples * 1e-6, step_s=1e-6, max_step_s=1e-6, uic=False)],
                       saves=["v(out)"])
    tran = RUNNER.run(deck).analysis("tran")
    v = np.interp(np.arange(1, samples) * 1e-6, tran.axis, tran["out"])
    # 4000 independent samples: the RMS is known to about 1 %, the band-averaged density to about 4 %
    assert np.std(v) == pytest.approx(model.noise_tran_rms_v, rel=0.10)
    freq = np.fft.rfftfreq(v.size, 1e-6)
    density = np.abs(np.fft.rfft(v - v.mean())) ** 2 * 2e-6 / v.size
    band = (freq > 1e3) & (freq < 2e5)
    assert math.sqrt(density[band].mean()) == pytest.approx(100e-9, rel=0.20)


def test_transient_without_the_option_is_quiet():
    model = OpAmpModel(kind="ideal", gain=1e6, noise_v_per_rthz=100e-9)
    circuit = Circuit("quiet follower")
    circuit.V("in", "inp", circuit.gnd, 0.0)
    add_opamp(circuit, "u1", "inp", "out", "out", model)
    tran = RUNNER.run(NetlistDeck(circuit, analyses=[Transient(1e-4, uic=False)], saves=["v(out)"])).analysis("tran")
    assert np.max(np.abs(tran["out"])) == 0.0


# ----------------------------------------------------------------------------- op-amp benches
def test_open_loop_bench_closes_the_loop_for_dc_only():
    bench = tb.opamp_open_loop_bench(SINGLE)
    text = bench.deck.format()
    start, stop = tb.opamp_ac_range_hz(SINGLE)
    assert (start, stop) == (0.01, 1e8)  # 3 decades below f1 = 10 Hz, 2 above GBW
    assert f".ac dec {tb.AC_POINTS_PER_DECADE} 0.01 100000000.0" in text
    inductor = next(line for line in text.splitlines() if line.startswith("Ldc out inn "))
    corner = 1 / (2 * math.pi * math.sqrt(float(inductor.split()[-1]) * 1.0))
    assert corner == pytest.approx(start / tb.LC_CORNER_BELOW)
    assert "Cac inn 0 1.0" in text and "Xdut inp inn out" in text
    assert bench.probes == {"out": "v(out)", "inp": "v(inp)", "inn": "v(inn)"}


def test_open_loop_bench_reads_the_gain_of_the_model():
    bench = tb.opamp_open_loop_bench(SINGLE)
    ac = RUNNER.run(bench.deck).analysis("ac")
    gain = ac["out"] / (ac["inp"] - ac["inn"])
    np.testing.assert_allclose(gain, SINGLE.open_loop_gain(ac.axis), rtol=1e-6)


def test_benches_bias_the_input_at_mid_rail():
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, v_low=0.0, v_high=5.0, slew_v_per_s=1e6)
    assert tb.common_mode_v(model) == 2.5
    assert "Vin inp 0 dc 2.5 ac 1" in tb.opamp_open_loop_bench(model).deck.format()
    assert "Vin inp 0 2.5" in tb.opamp_offset_bench(model).deck.format()
    slew = tb.opamp_slew_bench(model)
    assert slew.levels["v_start"] + slew.levels["step_v"] / 2 == pytest.approx(2.5)
    assert slew.levels["step_v"] <= 0.8 * 5.0


def test_slew_step_saturates_the_input_stage():
    model = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, slew_v_per_s=1e6)
    linear_range = 1e6 / (2 * math.pi * 1e6)
    assert tb.slew_step_v(model) == pytest.approx(tb.SLEW_STEP_LINEAR_RANGES * linear_range)
    assert tb.slew_step_v(OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, slew_v_per_s=1e3)) == 1.0
    with pytest.raises(ConfigError, match="slew_v_per_s"):
        tb.slew_step_v(SINGLE)
    # a 1 V linear range and gain 100: the 25 V step reaches ±12.5 V, past a tenth of the 100 V cap, where
    # the rate SR·(1 − v/cap) is 12.5 % slow; gain 130 keeps it within 10 %
    low_gain = dict(kind="single_pole", gbw_hz=1e6, slew_v_per_s=2 * math.pi * 1e6)
    with pytest.raises(ConfigError, match=r"steps 25 V .* reaches 100 V: .* raise gain to 125 V/V"):
        tb.slew_step_v(OpAmpModel(gain=100.0, **low_gain))
    assert tb.slew_step_v(OpAmpModel(gain=130.0, **low_gain)) == pytest.approx(25.0)


def test_testbench_set_follows_the_model():
    assert sorted(tb.opamp_testbenches(SINGLE)) == ["ac", "noise", "offset"]
    slewing = OpAmpModel(kind="single_pole", gain=1e5, gbw_hz=1e6, slew_v_per_s=1e6)
    assert sorted(tb.opamp_testbenches(slewing)) == ["ac", "noise", "offset", "slew"]
    assert tb.opamp_ac_range_hz(OpAmpModel()) == (1.0, 1e9)


def test_noise_sweep_formats_and_checks():
    assert tb.NoiseSweep("out", "Vin", 1.0, 1e6).format() == ".noise v(out) Vin dec 20 1.0 1000000.0"
    with pytest.raises(ConfigError, match="start_hz < stop_hz"):
        tb.NoiseSweep("out", "Vin", 1e6, 1.0)
    with pytest.raises(Exception, match="not a valid SPICE name"):
        tb.NoiseSweep("out\n.control", "Vin", 1.0, 1e6)


# ----------------------------------------------------------------------------- integrator, comparator
def test_integrator_benches():
    leaky = RCLowPass(tau_s=1e-3)
    assert sorted(tb.integrator_testbenches(leaky)) == ["ac", "noise"]
    assert tb.integrator_range_hz(leaky) == (0.1, 1e6)
    pure = RCLowPass(tau_s=1e-3, leak=False)
    assert sorted(tb.integrator_testbenches(pure)) == ["ac"]
    assert f"Rdcpath w 0 {tb.INTEGRATOR_DC_PATH_FACTOR * pure.r_ohm!r}" in tb.integrator_ac_bench(pure).deck.format()
    with pytest.raises(ConfigError, match="no noisy element"):
        tb.integrator_noise_bench(pure)


def test_comparator_benches():
    spec = ActivationSpec("sign", gain=20.0)
    dc = tb.comparator_dc_bench(spec, 2.0)
    text = dc.deck.format()
    assert ".dc Vin -2.0 2.0 " in text and "tanh(20.0*(v(inp)))" in text
    assert ".options reltol=1e-09" in text
    assert sorted(tb.comparator_testbenches(spec, 2.0)) == ["ac", "dc"]
    with pytest.raises(ConfigError, match="span"):
        tb.comparator_dc_bench(spec, 0.0)


# ----------------------------------------------------------------------------------------- OTA
OTA = OTAModel(gm_s=50e-6, r_out_ohm=100e6, bw_hz=200e3, offset_v=2e-3, v_low=0.5, v_high=2.8, knee_v=0.05)


def test_ota_benches_bias_at_mid_swing_and_short_the_output():
    benches = tb.ota_testbenches(OTA)
    assert sorted(benches) == ["gain", "gm", "rout", "swing", "transfer"]
    assert tb.ota_reference_v(OTA) == pytest.approx(1.65)
    gm = benches["gm"].deck.format()
    assert "Vref ref 0 1.65" in gm and "Vout out 0 1.65" in gm and "Vin inp 0 dc 1.65 ac 1" in gm
    assert "Gdut_in ref dut_p dut_os ref 0.001" in gm and "Rdut_ro out ref 100000000.0" in gm
    assert tb.ota_gm_range_hz(OTA) == (100.0, 1e8)
    assert benches["gm"].probes == {"out_current": "i(vout)", "inp": "v(inp)", "inn": "v(ref)"}
    assert "Vout out 0 dc 1.65 ac 1" in benches["rout"].deck.format()


def test_ota_gain_bench_servo_does_not_load_the_output():
    for c_load in (0.0, 1e-12):
        bench = tb.ota_gain_bench(OTA, c_load)
        start, _ = tb.ota_gain_range_hz(OTA, c_load)
        inductor = next(line for line in bench.deck.format().splitlines() if line.startswith("Ldc out inn "))
        reactance = 2 * math.pi * start * float(inductor.split()[-1])
        assert reactance >= tb.OTA_SERVO_REACTANCE_FACTOR * OTA.r_out_ohm * (1 - 1e-12)
    # a 1 pF load puts a pole at 1/(2π·100 MΩ·1 pF) = 1.59 kHz, below bw_hz: the sweep starts 3 decades under it
    assert tb.ota_output_pole_hz(OTA, 1e-12) == pytest.approx(1591.55, rel=1e-5)
    assert tb.ota_gain_range_hz(OTA, 1e-12)[0] == 1.0
    assert "Cload out ref 1e-12" in tb.ota_gain_bench(OTA, 1e-12).deck.format()
    with pytest.raises(ConfigError, match="load capacitor"):
        tb.ota_gain_bench(OTA, -1e-12)


def test_ota_transfer_and_swing_sweeps_cover_the_null_and_the_limits():
    assert tb.ota_transfer_span_v(OTA) == tb.OTA_TRANSFER_SPAN_V
    assert tb.ota_transfer_span_v(OTAModel(gm_s=1e-5, offset_v=-0.3)) == pytest.approx(0.6)
    assert ".dc Vd -0.1 0.1 0.0005" in tb.ota_transfer_bench(OTA).deck.format()
    swing = tb.ota_swing_bench(OTA)
    text = swing.deck.format()
    assert ".dc Vout 0.25 3.05 0.0005" in text  # 5 knees past each limit, knee/100 steps
    assert "Vsu ou out 0.0" in text and "Bup_out ref ou" in text and "Bdn_out ref od" in text
    assert ".options reltol=1e-09" in text
    # r_out's current at a limit, 1.15 V/100 MΩ, is 0.23 % of gm times 0.1 V; at A0 = 1 it takes 100·1.65 V
    assert swing.levels["input_v"] == tb.OTA_SWING_INPUT_V
    assert tb.ota_swing_input_v(OTAModel(gm_s=1e-6, r_out_ohm=1e6)) == pytest.approx(165.0)


def test_ota_twin_matches_the_swing_bench_in_ngspice():
    from analogopt.cosim.characterization import ota_output_current_a

    bench = tb.ota_swing_bench(OTA)
    dc = RUNNER.run(bench.deck).analysis("dc")
    v_in, ref = bench.levels["input_v"], bench.levels["ref_v"]
    for probe, sign in (("current_up", 1.0), ("current_down", -1.0)):
        twin = ota_output_current_a(OTA, sign * v_in, dc.axis, ref)
        np.testing.assert_allclose(dc[bench.probes[probe]], twin, rtol=1e-9, atol=1e-15)


def test_ota_analytic_values():
    from analogopt.cosim.characterization import OTABlock, ota_analytic

    values = ota_analytic(OTABlock(OTA))
    assert values["transconductance_s"] == pytest.approx(OTA.gm_s, rel=1e-9)
    assert values["dc_gain_v_per_v"] == pytest.approx(5000, rel=1e-9)
    assert values["f_3db_hz"] == values["transconductance_f_3db_hz"] == 200e3
    assert values["gbw_hz"] is None and values["phase_margin_deg"] is None
    # the zero-current point sits where gm·V·x/knee = (v_high − ref)/r_out: x = knee·1.15 V/(A0·V)
    x = OTA.knee_v * 1.15 / (OTA.dc_gain * tb.ota_swing_input_v(OTA))
    assert OTA.v_high - values["output_high_v"] == pytest.approx(x, rel=0.02)
    assert values["knee_high_v"] == pytest.approx(OTA.knee_v, rel=0.01)
    loaded = ota_analytic(OTABlock(OTAModel(gm_s=10e-6), 1e-12))
    fu = loaded["gbw_hz"]
    assert fu**2 * (1 + (fu / 1e6) ** 2) == pytest.approx((10e-6 / (2 * math.pi * 1e-12)) ** 2, rel=1e-3)
    # the −3 dB point of poles 0.16 Hz and 1 MHz apart, which the textbook root form loses to cancellation
    assert loaded["f_3db_hz"] == pytest.approx(1 / (2 * math.pi * 1e12 * 1e-12), rel=1e-9)


# ----------------------------------------------------------------------------------------- user op-amp
def _cm33(tmp_path, supply_v=3.3):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from user_opamp_files import write_part

    from analogopt.blocks.user_block import load_user_opamp

    sub, lib = write_part(tmp_path)
    return load_user_opamp(sub, "CM33", ["inp", "inn", "out", "vdd", "vss"], [(lib, "tt")], supply_v=supply_v)


def test_user_opamp_benches_power_the_part_about_ground(tmp_path):
    part = _cm33(tmp_path)
    benches = tb.user_opamp_testbenches(part)
    assert sorted(benches) == ["ac", "noise", "offset"]
    ac = benches["ac"].deck.format()
    assert "Vsdd vdd_s 0 1.65" in ac and "Vsss vss_s 0 -1.65" in ac and "Xdut inp inn out vdd_s vss_s CM33" in ac
    assert ".ac dec 50 0.001 10000000000.0" in ac and ".subckt CM33 1 2 3 4 5" in ac
    inductor = next(line for line in ac.splitlines() if line.startswith("Ldc out inn "))
    assert 2 * math.pi * 1e-3 * float(inductor.split()[-1]) == pytest.approx(tb.USER_SERVO_REACTANCE_OHM)
    assert "Xdut inp out out vdd_s vss_s CM33" in benches["noise"].deck.format()
    assert "Vin inp 0 0" in benches["offset"].deck.format()


def test_user_slew_bench_is_timed_by_the_unity_gain_frequency(tmp_path):
    part = _cm33(tmp_path)
    bench = tb.user_opamp_slew_bench(part, 1e6)
    tau = 1 / (2 * math.pi * 1e6)
    assert bench.levels["step_v"] == pytest.approx(1.65) and bench.levels["v_start"] == pytest.approx(-0.825)
    assert bench.levels["delay_s"] == pytest.approx(20 * tau)
    text = bench.deck.format()
    assert f".tran {tau * tb.USER_SLEW_WINDOW_TAUS / tb.USER_SLEW_STEPS!r}" in text
    with pytest.raises(ConfigError, match="unity-gain frequency"):
        tb.user_opamp_slew_bench(part, float("nan"))
