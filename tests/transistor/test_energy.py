"""Supply energy from a transient, on a circuit with a known answer: a capacitor charged through a
resistor from a step. The source delivers C·V², the resistor dissipates C·V²/2."""

from __future__ import annotations

import numpy as np
import pytest

from analogopt.cosim.energy import energy_j
from analogopt.spice.runner import make_runner

C_F, R_OHM, V = 1e-9, 1e3, 2.0


def test_rc_charge_energy_within_one_percent():
    tau = R_OHM * C_F
    deck = (f"* RC charge\nVs s 0 pulse(0 {V} {tau} 1n 1n 1 2)\nR1 s c {R_OHM}\nC1 c 0 {C_F}\n"
            f".tran {tau / 100} {12 * tau}\n.end\n")
    tran = make_runner("ngspice", timeout_s=30).run(deck).analysis("tran")
    t, vs, vc, i_src = tran.axis, tran["v(s)"], tran["v(c)"], tran["i(vs)"]
    e_source = energy_j(t, vs, -i_src)
    e_resistor = energy_j(t, vs - vc, (vs - vc) / R_OHM)
    assert e_source == pytest.approx(C_F * V**2, rel=0.01)
    assert e_resistor == pytest.approx(C_F * V**2 / 2, rel=0.01)
    assert float(np.real(vc[-1])) == pytest.approx(V, rel=1e-4)
