"""The co-simulation's overlap of ngspice and the twin, with both runners."""

import numpy as np
import pytest

import analogopt.cosim.nf_single as cosim_module
from analogopt.cosim.nf_single import cosimulate
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.spice import NgspiceRunner, SharedLibraryRunner


def _problem():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal((12, 2)), np.ones((12, 1))], 1)
    y = np.tanh(x @ np.array([0.6, -0.4, 0.2]))
    return NFSingleLayerProblem(x=x, y=y, activation=ActivationSpec("tanh"), error_gain="window", forward_gain=0.5,
                                gamma=1.0, eta=1e-2, iterations=200, leak=False, w0=np.zeros(3))


def test_both_runners_give_the_same_cosimulation():
    a = cosimulate(_problem(), runner=NgspiceRunner(), baseline=False)
    b = cosimulate(_problem(), runner=SharedLibraryRunner(), baseline=False)
    assert a.max_abs_deviation < 1e-3 and a.trajectory_deviation < 0.01
    np.testing.assert_allclose(b.analog.final_weights, a.analog.final_weights, rtol=1e-6, atol=1e-9)
    assert {"netlist_s", "spice_s", "parse_s", "twin_s", "overlap_wall_s", "align_s"} <= set(a.timings)


class _Keeper(NgspiceRunner):
    """The real process runner, remembering what it started."""

    def start(self, deck, run_dir=None):
        self.pending = super().start(deck, run_dir)
        return self.pending


def test_a_failing_twin_stops_ngspice(monkeypatch):
    def broken(self, record_every=1, deadline=None):
        raise RuntimeError("twin failed")

    monkeypatch.setattr(cosim_module.NFSingleLayerTwin, "run", broken)
    runner = _Keeper(timeout_s=600)
    with pytest.raises(RuntimeError, match="twin failed"):
        cosimulate(_problem(), runner=runner, baseline=False)
    assert runner.pending.proc.poll() is not None
    assert runner.pending.exited.is_set() and not runner.pending.watcher.is_alive()
