"""A physical stage transconductance gives the op-amp macromodel the same transfer with element values a
designer recognises (the macro level's summing amplifiers use 1 mS into 100 MΩ ‖ 16 pF)."""

import numpy as np
import pytest

from analogopt.blocks.opamp import OpAmpModel
from analogopt.circuits.testbench import opamp_open_loop_bench
from analogopt.spice import NgspiceRunner


@pytest.mark.parametrize("kind,extra", [("single_pole", {}), ("two_pole", {"second_pole_hz": 20e6})])
def test_stage_gm_changes_the_elements_not_the_gain(kind, extra):
    base = OpAmpModel(kind=kind, gain=1e5, gbw_hz=10e6, **extra)
    scaled = OpAmpModel(kind=kind, gain=1e5, gbw_hz=10e6, stage_gm_s=1e-3, **extra)
    text = str(scaled.subcircuit())
    assert "R1 n1 0 100000000.0" in text and "Gin 0 n1 inp inn 0.001" in text
    gains = []
    for model in (base, scaled):
        bench = opamp_open_loop_bench(model)
        waves = NgspiceRunner(timeout_s=60).run(bench.deck).analysis("ac")
        p = bench.probes
        gains.append(np.abs(waves[p["out"]] / (waves[p["inp"]] - waves[p["inn"]])))
    assert np.allclose(gains[0], gains[1], rtol=1e-6)
