"""The generic inverse loop (000 Fig. 1a) in ngspice against scipy's inverse and the finite-A twin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from analogopt.blocks.feedback import FEEDBACK_EXPRESSIONS, feedback_expression
from analogopt.blocks.opamp import OpAmpModel
from analogopt.circuits.inverse_loop import inverse_loop_circuit
from analogopt.experiments.inverse import TIGHT_OPTIONS, loglog_slope, relative_error
from analogopt.errors import ConfigError
from analogopt.reference.inverse import FEEDBACK_FUNCTIONS, ideal_inverse, solve_closed_loop
from analogopt.spice import DCSweep, NetlistDeck, NgspiceRunner, ngspice_available

pytestmark = pytest.mark.skipif(not ngspice_available(), reason="ngspice not installed")

GAINS = (1e2, 1e3, 1e4, 1e5)
SCIPY_B = {"cubic": lambda x: x**3 + x, "exp": math.exp, "tanh": math.tanh}


def _sweep(function: str, gains=GAINS, offset_v: float = 0.0, points: int = 81):
    lo, hi = FEEDBACK_FUNCTIONS[function].default_sweep
    generated = inverse_loop_circuit(function, [OpAmpModel(gain=g, offset_v=offset_v) for g in gains])
    deck = NetlistDeck(generated.circuit, analyses=[DCSweep(generated.source, lo, hi, (hi - lo) / (points - 1))],
                       options=TIGHT_OPTIONS)
    wave = NgspiceRunner(timeout_s=60).run(deck).analysis("dc")
    return wave.axis, np.stack([wave[generated.probes[f"x_o[{k}]"]] for k in range(len(gains))])


def _scipy_inverse(function: str, x_i: np.ndarray) -> np.ndarray:
    b = SCIPY_B[function]
    return np.array([brentq(lambda x: b(x) - t, -20.0, 20.0, xtol=1e-15, rtol=1e-15) for t in x_i])


@pytest.mark.parametrize("function", ["cubic", "exp", "tanh"])
def test_loop_inverts_b_and_error_follows_eq5(function: str) -> None:
    x_i, x_o = _sweep(function)
    reference = _scipy_inverse(function, x_i)
    # A = 1e5: the loop output is B⁻¹(x_i) within 1e-3 relative (Eq. 7).
    assert relative_error(x_o[-1], reference).max() < 1e-3
    # SPICE equals the finite-A twin (exact root of Eq. 5) within 1e-4 relative at every gain.
    for k, gain in enumerate(GAINS):
        twin = solve_closed_loop(x_i, function, gain=gain)
        assert relative_error(x_o[k], twin).max() < 1e-4
    # The inversion error falls as 1/A: log-log slope −1 ± 0.1 over 1e2 … 1e5.
    error = np.mean(np.abs(x_o - reference), axis=1)
    assert loglog_slope(np.array(GAINS), error) == pytest.approx(-1.0, abs=0.1)


def test_twin_ideal_inverse_equals_scipy() -> None:
    for function in SCIPY_B:
        lo, hi = FEEDBACK_FUNCTIONS[function].default_sweep
        x_i = np.linspace(lo, hi, 17)
        np.testing.assert_allclose(ideal_inverse(x_i, function), _scipy_inverse(function, x_i), rtol=1e-12, atol=1e-14)


def test_offset_shifts_the_input_as_the_twin_predicts() -> None:
    x_i, x_o = _sweep("cubic", gains=(1e3,), offset_v=5e-3, points=21)
    twin = solve_closed_loop(x_i, "cubic", gain=1e3, offset=5e-3)
    assert relative_error(x_o[0], twin).max() < 1e-6
    assert np.abs(x_o[0] - solve_closed_loop(x_i, "cubic", gain=1e3)).max() > 1e-3


def test_spice_and_twin_registries_agree() -> None:
    assert set(FEEDBACK_EXPRESSIONS) == set(FEEDBACK_FUNCTIONS)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: inverse_loop_circuit("sqrt", [OpAmpModel()]), ConfigError, r"unknown feedback function 'sqrt'"),
        (lambda: feedback_expression("cubic", "x; .control"), Exception, r"not a valid SPICE name"),
        (lambda: inverse_loop_circuit("cubic", []), ConfigError, r"at least one op-amp"),
        (lambda: solve_closed_loop(1.0, "nope", gain=1e3), ConfigError, r"unknown feedback function 'nope'"),
        (lambda: ideal_inverse(1.5, "tanh"), ConfigError, r"outside the range"),
        (lambda: solve_closed_loop(1.0, "cubic", gain=-1.0), ConfigError, r"gain must be > 0"),
    ],
)
def test_bad_inputs(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()
