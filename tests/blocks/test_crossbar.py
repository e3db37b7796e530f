"""Crossbar block: mapping onto the device window, non-idealities, netlist lines (wire case in real ngspice)."""

import numpy as np
import pytest

from analogopt.blocks.crossbar import DeviceModel, format_array, format_differential, map_matrix, wire_mvm_currents
from analogopt.circuits.crossbar import mvm_circuit
from analogopt.errors import ConfigError, NetlistError
from analogopt.spice import NgspiceRunner
from analogopt.spice.netlist import format_floats

RNG = np.random.default_rng(7)
A = RNG.uniform(-2, 3, (5, 4))


def test_ideal_mapping_is_exact_and_inside_window():
    dev = DeviceModel(g_min_s=2e-6, g_max_s=50e-6)
    m = map_matrix(A, dev)
    assert m.g_unit_s == pytest.approx((50e-6 - 2e-6) / np.abs(A).max())
    np.testing.assert_allclose(m.effective_matrix, A, rtol=0, atol=1e-12)
    for g in (m.g_pos, m.g_neg):
        assert g.min() >= 2e-6 * (1 - 1e-12) and g.max() <= 50e-6 * (1 + 1e-12)
    # Differential scheme: one device of each pair sits at G_min.
    assert np.allclose(np.minimum(m.g_pos, m.g_neg), 2e-6)


def test_netlist_values_are_the_shortest_text_of_each_double():
    values = np.concatenate([[0.0, -0.0, 5e-324, 1e-300, 1.7976931348623157e308, -2.5, 1e16, 0.1],
                             RNG.standard_normal(2000) * 10.0 ** RNG.integers(-30, 30, 2000)])
    text = format_floats(values)
    assert text == [repr(v) for v in values.tolist()]  # Python's shortest round-trip form, -0.0 kept
    np.testing.assert_array_equal(np.array([float(t) for t in text]), values)
    assert format_floats(np.array([])) == [] and format_floats(np.array(3.0)) == ["3.0"]
    with pytest.raises(NetlistError, match="finite"):
        format_floats(np.array([1.0, np.nan]))


def test_explicit_scale_is_honoured():
    m = map_matrix(A, DeviceModel(), g_unit_s=1e-6)
    assert m.g_unit_s == 1e-6
    np.testing.assert_allclose(m.effective_matrix, A, atol=1e-9)


def test_quantization_uses_k_levels_and_bounds_the_error():
    dev = DeviceModel(levels=64)
    m = map_matrix(A, dev)
    step = (dev.g_max_s - dev.g_min_s) / 63
    levels = np.round((np.concatenate([m.g_pos, m.g_neg]) - dev.g_min_s) / step)
    np.testing.assert_allclose((np.concatenate([m.g_pos, m.g_neg]) - dev.g_min_s) / step, levels, atol=1e-9)
    assert levels.min() >= 0 and levels.max() <= 63
    err = np.abs(m.effective_matrix - A)
    assert err.max() <= step / m.g_unit_s * (0.5 + 1e-9)
    assert err.max() > 0


def test_variation_is_seeded_and_lognormal():
    dev = DeviceModel(sigma=0.05)
    big = RNG.uniform(-1, 1, (60, 60))
    m1, m2, m3 = map_matrix(big, dev, seed=3), map_matrix(big, dev, seed=3), map_matrix(big, dev, seed=4)
    np.testing.assert_array_equal(m1.g_pos, m2.g_pos)
    assert not np.array_equal(m1.g_pos, m3.g_pos)
    nominal = map_matrix(big, DeviceModel())
    log_ratio = np.log(np.concatenate([m1.g_pos / nominal.g_pos, m1.g_neg / nominal.g_neg]))
    assert abs(log_ratio.std() - 0.05) < 0.003 and abs(log_ratio.mean()) < 0.003


def test_netlist_lines_are_vectorized_and_complete():
    m = map_matrix(A)
    text = format_differential("A", m, [f"s{i}" for i in range(5)], [f"p{j}" for j in range(4)],
                               [f"n{j}" for j in range(4)])
    lines = text.splitlines()
    assert len(lines) == 2 * A.size
    assert lines[0].startswith("RAp_0_0 p0 s0 ")
    # Resistances round-trip exactly: every value in the text reads back to the double it came from.
    values = np.array([float(line.split()[-1]) for line in lines])
    np.testing.assert_array_equal(values, 1.0 / np.concatenate([m.g_pos, m.g_neg], axis=None))
    wired = format_array("W", m.g_pos, [f"s{i}" for i in range(5)], [f"p{j}" for j in range(4)], r_wire_ohm=2.0)
    assert len(wired.splitlines()) == 3 * A.size  # devices + one segment per cell on each line


def test_wire_resistance_matches_nodal_twin_in_ngspice():
    x = np.array([0.3, -0.2, 0.5, 0.1])
    m = map_matrix(A, DeviceModel(r_wire_ohm=200.0))
    c = mvm_circuit(m, x)
    y = c.values(NgspiceRunner().run(c.deck).analysis("op"))
    twin = wire_mvm_currents(m, x) / m.g_unit_s
    np.testing.assert_allclose(y, twin, rtol=1e-6, atol=1e-9)
    assert np.abs(y - A @ x).max() > 1e-4  # the wires matter at this resistance
    no_wire = map_matrix(A)
    np.testing.assert_allclose(wire_mvm_currents(no_wire, x) / no_wire.g_unit_s, A @ x, atol=1e-12)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: DeviceModel(g_min_s=0.0), "g_min_s"),
        (lambda: DeviceModel(g_min_s=1e-5, g_max_s=1e-6), "g_max_s"),
        (lambda: DeviceModel(levels=1), "levels"),
        (lambda: DeviceModel(levels=2.5), "levels"),
        (lambda: DeviceModel(sigma=-0.1), "sigma"),
        (lambda: DeviceModel(r_wire_ohm=float("nan")), "r_wire_ohm"),
        (lambda: map_matrix(np.array([[1.0, np.nan]])), r"non-finite entry nan at \(0, 1\)"),
        (lambda: map_matrix(np.array([[np.inf]])), "non-finite"),
        (lambda: map_matrix(np.zeros((2, 2))), "all zeros"),
        (lambda: map_matrix(np.ones(3)), "2-D"),
        (lambda: map_matrix(A, g_unit_s=1.0), "outside the device window"),
    ],
)
def test_invalid_inputs(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()
