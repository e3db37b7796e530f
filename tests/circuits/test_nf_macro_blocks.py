"""Per-block levels inside the macro loop (issue 13, Build 1): ``[circuit.blocks]`` draws one block at the ideal
level, with that block's imperfections taken out, and the rest at the macro level."""

import numpy as np
import pytest

from analogopt.cosim.nf_single import build_loop, cosimulate
from analogopt.errors import ConfigError
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario

OFFSET = ['circuit.level="macro"', "circuit.ota_offset_v=0.01"]


def _experiment(*sets):
    return NFSingleExperiment.from_scenario(load_scenario("nf_noisy_relu", list(sets)))


def _netlist(*sets):
    e = _experiment(*sets)
    return build_loop(e.problem, macro=e.macro).deck.format()


def test_each_ideal_block_takes_its_imperfections_out_of_the_netlist():
    macro = _netlist(*OFFSET)
    assert "Bota0_out" in macro and "Vota0_os" in macro and "Rc0 " in macro
    ideal_int = _netlist(*OFFSET, 'circuit.blocks.integrators="ideal"')
    assert "Bota0_out" not in ideal_int and "Vota0_os" not in ideal_int and "\nGota0 " in ideal_int
    assert "Rc0 " not in _netlist(*OFFSET, 'circuit.blocks.activations="ideal"')
    # no off-conductance: a crosspoint of value 0 has no resistor
    assert _netlist(*OFFSET, 'circuit.blocks.crossbars="ideal"').count("\nRxp_") < macro.count("\nRxp_")
    assert _netlist(*OFFSET, 'circuit.blocks.opamps="ideal"') != macro
    # the level of the loop is each block's default: an all-macro table is the macro loop itself
    assert _netlist(*OFFSET, 'circuit.blocks.opamps="macro"') == macro


def test_an_unknown_block_or_level_is_one_line():
    with pytest.raises(ConfigError, match="unknown"):
        _experiment(*OFFSET, 'circuit.blocks.opamps="transistor"')
    path_error = pytest.raises(ConfigError, match="no parameter 'mixer'")
    with path_error:
        _experiment(*OFFSET, 'circuit.blocks.mixer="ideal"')


def test_an_ideal_integrator_removes_the_offsets_shift_and_theory_says_so():
    shifts = {}
    for blocks in ([], ['circuit.blocks.integrators="ideal"']):
        e = _experiment(*OFFSET, *blocks)
        r = cosimulate(e.problem, macro=e.macro, baseline=False)
        shifts[bool(blocks)] = r.analog.final_weights - r.ideal.final_weights
        theory = e._imperfection_theory(r)
        predicted = np.array(list(theory["predicted_shift"].values()))
        assert np.all(np.abs(shifts[bool(blocks)] - predicted) <= np.maximum(0.2 * np.abs(predicted), 1e-3))
    assert np.max(np.abs(shifts[False])) > 10 * np.max(np.abs(shifts[True]))
