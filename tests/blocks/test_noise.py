"""Seeded transient noise (blocks/noise.py): the same seed gives the same samples, streams are independent,
and ngspice (XSPICE filesource) sees the stated density: an RC low-pass driven by it has the variance e_n²/(4RC)."""

import numpy as np
import pytest

from analogopt.blocks.noise import TransientNoise
from analogopt.errors import ConfigError
from PySpice.Spice.Netlist import Circuit

from analogopt.spice import NgspiceRunner
from analogopt.spice.netlist import NetlistDeck, Transient


def test_a_seed_reproduces_a_source_and_streams_differ():
    a, b = TransientNoise(1e-6, 1e-5, seed=4), TransientNoise(1e-6, 1e-5, seed=5)
    assert a.source("n", "x", 0, 1e-3) == TransientNoise(1e-6, 1e-5, seed=4).source("n", "x", 0, 1e-3)
    assert a.source("n", "x", 0, 1e-3)[1] != a.source("n", "x", 1, 1e-3)[1]
    assert not np.allclose(a.samples(0, 1e-3), b.samples(0, 1e-3))
    many = a.samples(0, 1.0)
    assert many.size == 100_001
    assert many.std() == pytest.approx(a.rms_v, rel=0.01)
    assert abs(np.corrcoef(a.samples(0, 1.0), a.samples(1, 1.0))[0, 1]) < 0.01


@pytest.mark.parametrize("kwargs", [{"density_v_per_rthz": 0, "step_s": 1e-6}, {"density_v_per_rthz": 1e-6, "step_s": -1}])
def test_bad_values_are_refused(kwargs):
    with pytest.raises(ConfigError, match="noise"):
        TransientNoise(**kwargs)


def test_ngspice_sees_the_stated_density(tmp_path):
    noise, r, c, duration = TransientNoise(1e-6, 1e-5, seed=3), 1e3, 1e-7, 0.2
    lines, files = noise.source("n", "a", 0, duration)
    circuit = Circuit("rc noise")
    circuit.raw_spice += "\n".join(lines) + "\n"
    circuit.R(1, "a", "b", r)
    circuit.C(1, "b", circuit.gnd, c)
    deck = NetlistDeck(circuit, [Transient(stop_s=duration, step_s=noise.step_s, max_step_s=noise.step_s)],
                       saves=["v(b)"], attachments=files)
    waves = NgspiceRunner().run(deck, run_dir=tmp_path / "run").analysis("tran")
    assert (tmp_path / "run" / "noise_n.txt").exists()  # the samples' file went beside the netlist
    t = np.linspace(0.01, duration, 40_000)
    variance = np.interp(t, np.asarray(waves.axis), np.asarray(waves["v(b)"])).var()
    assert variance == pytest.approx(noise.density_v_per_rthz**2 / (4 * r * c), rel=0.1)
