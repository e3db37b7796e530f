"""Seeded transient noise (blocks/noise.py): the same seed gives the same source, streams are independent,
and ngspice sees the stated density: an RC low-pass driven by it has the variance e_n²/(4RC)."""

import numpy as np
import pytest

from analogopt.blocks.noise import TransientNoise
from analogopt.errors import ConfigError
from analogopt.spice import NgspiceRunner


def test_a_seed_reproduces_a_source_and_streams_differ():
    a, b = TransientNoise(1e-6, 1e-5, seed=4), TransientNoise(1e-6, 1e-5, seed=5)
    assert a.source_lines("n", "x", "0", 0, 1e-3) == TransientNoise(1e-6, 1e-5, seed=4).source_lines("n", "x", "0", 0, 1e-3)
    assert a.source_lines("n", "x", "0", 0, 1e-3) != a.source_lines("n", "x", "0", 1, 1e-3)
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
    deck = "\n".join(["rc noise", *noise.source_lines("n", "a", "0", 0, duration), f"R1 a b {r}", f"C1 b 0 {c}",
                      f".tran {noise.step_s} {duration} 0 {noise.step_s}", ".save v(b)", ".end"]) + "\n"
    waves = NgspiceRunner().run(deck, run_dir=tmp_path / "run").analysis("tran")
    t = np.linspace(0.01, duration, 40_000)
    variance = np.interp(t, np.asarray(waves.axis), np.asarray(waves["v(b)"])).var()
    assert variance == pytest.approx(noise.density_v_per_rthz**2 / (4 * r * c), rel=0.1)
