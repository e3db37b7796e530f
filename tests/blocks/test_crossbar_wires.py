"""IR drop in the crossbar: wire segments, driver and sense resistances, in real ngspice against the package's
IR-drop theory and against a dense nodal analysis written from scratch for these tests (crossbar_dense.py)."""

import numpy as np
import pytest
from PySpice.Spice.Netlist import Circuit

from analogopt.blocks.crossbar import DeviceModel, Wires, format_array, format_differential, map_matrix, wire_mvm_currents
from analogopt.circuits.crossbar import IDEAL_OPAMP, mvm_circuit, predict_mvm_outputs
from analogopt.errors import ConfigError
from analogopt.spice import NgspiceRunner
from analogopt.spice.netlist import NetlistDeck, OperatingPoint
from crossbar_dense import dense_mvm, dense_sense_currents

RNG = np.random.default_rng(11)
A64 = RNG.uniform(-1, 1, (64, 64))
X64 = RNG.uniform(-1, 1, 64)


def ngspice_sense_currents(m, drive):
    """ngspice's current into each sense line, held at 0 V by a 0 V source (A)."""
    rows, cols = m.shape
    s, p, n = ([f"{c}{k}" for k in range(count)] for c, count in (("s", rows), ("p", cols), ("n", cols)))
    circuit = Circuit("sense currents")
    circuit.raw_spice += (format_differential("A", m, s, p, n)
                          + "".join(f"Vp{j} p{j} 0 {v!r}\nVn{j} n{j} 0 {-v!r}\n" for j, v in enumerate(map(float, drive)))
                          + "".join(f"Vs{i} s{i} 0 0\n" for i in range(rows)))
    deck = NetlistDeck(circuit, analyses=[OperatingPoint()], saves=[f"i(vs{i})" for i in range(rows)])
    op = NgspiceRunner().run(deck).analysis("op")
    return np.array([np.real(op[f"i(vs{i})"][-1]) for i in range(rows)])  # into s_i, through the source


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ----------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("r_driver, r_sense", [(0.0, 0.0), (10.0, 20.0)])
def test_64x64_ngspice_theory_and_dense_solve_agree(r_driver, r_sense):
    device = DeviceModel(r_row_ohm=2.0, r_col_ohm=2.0, r_driver_ohm=r_driver, r_sense_ohm=r_sense)
    m = map_matrix(A64, device)
    spice = ngspice_sense_currents(m, X64)
    theory = wire_mvm_currents(m, X64)
    dense = dense_sense_currents(m, X64, (2.0, 2.0, r_sense, r_driver))
    assert rel(spice, dense) < 1e-9 and rel(theory, dense) < 1e-9 and rel(spice, theory) < 1e-9
    ideal = m.g_unit_s * A64 @ X64
    assert rel(dense, ideal) > 0.05  # the wires matter: a missing element would show


def test_mvm_circuit_and_theory_with_finite_gain_tias_match_the_dense_solve():
    device = DeviceModel(r_row_ohm=2.0, r_col_ohm=3.0, r_driver_ohm=10.0, r_sense_ohm=20.0)
    m = map_matrix(A64[:32, :24], device)
    x = X64[:24]
    c = mvm_circuit(m, x)
    y = c.values(NgspiceRunner().run(c.deck).analysis("op"))
    dense = dense_mvm(m, x, (2.0, 3.0, 20.0, 10.0), IDEAL_OPAMP.gain)
    assert rel(y, dense) < 1e-9 and rel(predict_mvm_outputs(m, x), dense) < 1e-9
    # the TIAs' finite gain is inside the theory: ideal virtual grounds would miss it by ~R_f·G_row/A0
    ideal_vg = -dense_sense_currents(m, -x, (2.0, 3.0, 20.0, 10.0)) / m.g_unit_s
    assert rel(y, ideal_vg) > 10 * rel(y, dense)


KNOBS = {"r_row_ohm": (1.0, 5.0), "r_col_ohm": (1.0, 5.0), "r_driver_ohm": (10.0, 200.0), "r_sense_ohm": (10.0, 200.0)}


@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_each_resistance_adds_ir_drop_in_ngspice(knob):
    """More resistance on any one element → a larger error against the ideal MVM, and currents that shrink
    (a resistance in series with every device path can only lower the current drawn from the drivers)."""
    a, x = A64[:16, :16], X64[:16]
    errors, drawn = [], []
    for r in (0.0, *KNOBS[knob]):
        m = map_matrix(a, DeviceModel(**{knob: r}))
        c = mvm_circuit(m, x)
        y = c.values(NgspiceRunner().run(c.deck).analysis("op"))
        assert rel(y, predict_mvm_outputs(m, x)) < 1e-9
        errors.append(rel(y, a @ x))
        positive = map_matrix(np.abs(a), DeviceModel(**{knob: r}))
        drawn.append(wire_mvm_currents(positive, np.ones(16)).sum())
    assert errors[0] < 1e-7 < errors[1] < errors[2], errors
    assert drawn[0] > drawn[1] > drawn[2], drawn


def test_zero_resistances_reproduce_the_ideal_netlist_and_r_wire_is_both_segments():
    ideal = mvm_circuit(map_matrix(A64[:6, :5]), X64[:5]).netlist
    zeros = DeviceModel(r_row_ohm=0.0, r_col_ohm=0.0, r_driver_ohm=0.0, r_sense_ohm=0.0)
    assert mvm_circuit(map_matrix(A64[:6, :5], zeros), X64[:5]).netlist == ideal
    both = mvm_circuit(map_matrix(A64[:6, :5], DeviceModel(r_wire_ohm=2.0)), X64[:5]).netlist
    assert both == mvm_circuit(map_matrix(A64[:6, :5], DeviceModel(r_row_ohm=2.0, r_col_ohm=2.0)), X64[:5]).netlist
    assert both != ideal
    g = map_matrix(A64[:6, :5]).g_pos
    nodes = [f"s{i}" for i in range(6)], [f"d{j}" for j in range(5)]
    assert format_array("W", g, *nodes, r_wire_ohm=2.0) == format_array("W", g, *nodes, wires=Wires(2.0, 2.0))


def test_line_end_resistors_and_segments_are_counted_per_array():
    g = map_matrix(A64[:6, :5]).g_pos
    text = format_array("W", g, [f"s{i}" for i in range(6)], [f"d{j}" for j in range(5)],
                        wires=Wires(sense_segment_ohm=1.0, drive_segment_ohm=0.0, sense_ohm=5.0, driver_ohm=7.0))
    lines = text.splitlines()
    assert len(lines) == 30 + 30 + 6 + 5  # devices, sense segments, one sense and one driver resistor per line
    assert "RW_rs_0 s0 W_se0 5.0" in lines and "RW_rd_4 d4 W_de4 7.0" in lines
    assert "RW_0_0 W_de0 W_s0_0 " in text  # a drive line without segments is one node after its driver


def test_a_transposed_read_keeps_segments_with_the_physical_lines():
    d = DeviceModel(r_row_ohm=1.0, r_col_ohm=3.0, r_driver_ohm=4.0, r_sense_ohm=5.0)
    assert d.wires() == Wires(1.0, 3.0, 5.0, 4.0)
    assert d.wires(transpose=True) == Wires(3.0, 1.0, 5.0, 4.0)
    assert DeviceModel(r_wire_ohm=2.0).wires() == Wires(2.0, 2.0) and not DeviceModel(r_sense_ohm=1.0).ideal


@pytest.mark.parametrize("make, pattern", [
    (lambda: DeviceModel(r_row_ohm=-1.0), r"r_row_ohm must be a finite resistance ≥ 0 Ω, got -1.0"),
    (lambda: DeviceModel(r_col_ohm=float("inf")), "r_col_ohm"),
    (lambda: DeviceModel(r_driver_ohm=float("nan")), "r_driver_ohm"),
    (lambda: DeviceModel(r_sense_ohm=-0.5), "r_sense_ohm"),
    (lambda: DeviceModel(r_sense_ohm="10"), "r_sense_ohm"),
    (lambda: DeviceModel(r_wire_ohm=2.0, r_row_ohm=1.0), "give it or r_row_ohm/r_col_ohm, not both"),
    (lambda: Wires(driver_ohm=-1.0), "driver_ohm"),
    (lambda: format_array("W", np.ones((2, 2)), ["a", "b"], ["c", "d"], 1.0, wires=Wires()), "not both"),
    (lambda: wire_mvm_currents(map_matrix(A64[:3, :2], DeviceModel(r_wire_ohm=1.0)), np.ones(3)), "2 finite"),
])
def test_invalid_resistances(make, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        make()
    assert "\n" not in str(info.value)
