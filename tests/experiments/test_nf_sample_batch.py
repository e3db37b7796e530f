"""Sweep samples in a batch: the rows ``sample`` gives one by one, with real ngspice, and failures kept apart."""

import math

import pytest

from analogopt.errors import AnalogOptError
from analogopt.experiments.base import ExperimentBase, Variation
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner

VARY = [Variation("x", "lognormal", 0.02), Variation("u", "lognormal", 0.02), Variation("tau", "lognormal", 0.05),
        Variation("gain", "gauss", 0.05)]


@pytest.fixture(scope="module")
def experiment():
    return NFSingleExperiment.from_scenario(load_scenario("nf_staircase", ["loop.iterations=200"]))


def _same_row(a: dict, b: dict) -> bool:
    """Equal keys in the same order and equal values, the wall times aside (NaN equals NaN)."""
    if list(a) != list(b):
        return False
    return all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
               for k in a if not k.startswith("time_"))


def test_batch_rows_equal_the_rows_of_single_samples(experiment, tmp_path):
    seeds = [None, 5, 6]
    alone = []
    for i, seed in enumerate(seeds):
        (tmp_path / f"a{i}").mkdir()
        alone.append(experiment.sample(VARY, seed, NgspiceRunner(), tmp_path / f"a{i}"))
    (tmp_path / "batch").mkdir()
    batch = experiment.sample_batch(VARY, seeds, NgspiceRunner(), tmp_path / "batch")
    assert len(batch) == 3
    for single, together in zip(alone, batch):
        assert isinstance(together, dict), together
        assert _same_row(single, together)
        assert together["time_twin_s"] > 0 and together["time_spice_s"] > 0
    # the samples differ from one another, so equality is not of constants
    assert alone[1]["digital_w"] != alone[2]["digital_w"] != alone[0]["digital_w"]


class _BreaksSecondRun(NgspiceRunner):
    """The real ngspice; the second deck it is handed loses its transient analysis (a broken sample)."""

    def start(self, deck, run_dir=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            deck = "\n".join(line for line in deck.splitlines() if not line.lower().startswith(".tran"))
        return super().start(deck, run_dir)


def test_a_failed_sample_leaves_the_others_rows_intact(experiment, tmp_path):
    seeds = [5, 6, 7]
    (tmp_path / "batch").mkdir()
    batch = experiment.sample_batch(VARY, seeds, _BreaksSecondRun(), tmp_path / "batch")
    assert isinstance(batch[1], AnalogOptError), batch[1]
    for i in (0, 2):
        (tmp_path / f"a{i}").mkdir()
        assert _same_row(experiment.sample(VARY, seeds[i], NgspiceRunner(), tmp_path / f"a{i}"), batch[i])


class _Counting(ExperimentBase):
    """A kind with only ``sample``: the default ``sample_batch`` runs it per seed."""

    kind = "counting"

    def sample(self, variations, seed, runner, scratch):
        if seed == 2:
            raise ValueError("seed 2 fails")
        assert scratch.is_dir() and not any(scratch.iterdir())  # each sample gets a fresh folder
        (scratch / "used").write_text("")
        return {"seed": seed}


def test_the_default_batch_runs_sample_per_seed_and_keeps_each_failure(tmp_path):
    rows = _Counting().sample_batch([], [1, 2, None], NgspiceRunner(), tmp_path)
    assert rows[0] == {"seed": 1} and rows[2] == {"seed": None}
    assert isinstance(rows[1], ValueError) and str(rows[1]) == "seed 2 fails"


def test_the_nominal_ode_is_solved_once_per_problem_in_a_process(monkeypatch):
    """A worker's chunks of one point rebuild the experiment and reuse the nominal ODE; another problem
    (a changed γ) or another axis is solved anew, and the reused answer is the solved one."""
    import numpy as np

    import analogopt.experiments.nf_single as nf_experiment

    calls = []
    solve = nf_experiment.loop_ode
    monkeypatch.setattr(nf_experiment, "_NOMINAL_ODES", {})
    monkeypatch.setattr(nf_experiment, "loop_ode", lambda problem, axis, **kw: calls.append(1) or solve(problem, axis, **kw))
    build = lambda *sets: NFSingleExperiment.from_scenario(load_scenario("nf_staircase", ["loop.iterations=200", *sets]))
    axis = np.arange(0, 201, 20)
    first = build()._nominal_ideal(axis, NgspiceRunner())
    again = build()._nominal_ideal(axis, NgspiceRunner())
    assert len(calls) == 1 and np.array_equal(first["ideal"].weights, again["ideal"].weights)
    assert not again["ideal"].weights.flags.writeable  # shared by the chunks: read-only
    assert np.array_equal(again["ideal"].weights, solve(build().problem, axis).weights)
    build("loop.gamma=0.5")._nominal_ideal(axis, NgspiceRunner())
    build()._nominal_ideal(axis[:-1], NgspiceRunner())
    assert len(calls) == 3
