"""Size estimates: problems that cannot fit are refused before anything is built; the estimate sets
ngspice's default wall-time limit."""

import time

import pytest

from analogopt.errors import ResourceLimitError
from analogopt.experiments import estimate
from analogopt.limits import TIMEOUT_FLOOR_S, SizeEstimate
from analogopt.scenarios import list_scenarios, load_scenario


def test_memory_and_time_limits_name_sizes_and_the_override():
    big = SizeEstimate("x: 10 samples", memory_bytes=2e9)
    with pytest.raises(ResourceLimitError, match=r"x: 10 samples: needs about 2 GB.*1 GB available.*--allow-large"):
        big.check(available_bytes=1e9)
    big.check(available_bytes=1e9, allow_large=True)
    slow = SizeEstimate("y", memory_bytes=1, elements=1e6, time_points=1e8)
    with pytest.raises(ResourceLimitError, match=r"predicted to run .* days .*1e\+06 elements × 1e\+08 time points"):
        slow.check(available_bytes=1e12)
    assert slow.default_timeout_s() == pytest.approx(20 * 1e14 * 5e-8)
    assert SizeEstimate("z", memory_bytes=1).default_timeout_s() == TIMEOUT_FLOOR_S


#: Kinds that run many simulations under one whole-run limit: their limit is the sum of their runs'
MULTI_RUN = {"nf_sensitivity"}


@pytest.mark.parametrize("scenario", [s.name for s in list_scenarios() if s.name not in MULTI_RUN])
def test_shipped_scenarios_fit_and_keep_the_timeout_floor(scenario):
    size = estimate(load_scenario(scenario))
    if size is not None:
        size.check()
        assert size.default_timeout_s() == TIMEOUT_FLOOR_S


def test_a_sensitivity_study_is_limited_by_the_sum_of_its_runs():
    study = estimate(load_scenario("nf_sensitivity"))
    one = estimate(load_scenario("nf_noisy_relu", ['circuit.level="macro"']))
    study.check()
    assert study.spice_s == pytest.approx(21 * one.spice_s, rel=1e-9)  # the nominal loop and 20 swept values
    assert TIMEOUT_FLOOR_S < study.default_timeout_s() < 600


@pytest.mark.parametrize("args, pattern", [
    (["nf_staircase", "--set", "data.samples=100000000"], r"1e\+08 samples|100000000 samples"),
    (["nf_staircase", "--set", "loop.iterations=1000000000000"], r"1e\+12 iterations.*TB of memory"),
    (["crossbar_mvm", "--set", "problem.rows=4096", "--set", "problem.cols=4096"], r"4096×4096 crossbar"),
    (["recirculation_pinv", "--set", "recirculation.noise_samples=10000000"], r"10000000 noise samples"),
    (["fal_vs_adam", "--set", "training.epochs=100000000"], r"1e\+08 epochs"),
])
def test_too_large_is_refused_at_once_in_one_line(run_cli, check_one_line_error, tmp_path, args, pattern):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    code, err = run_cli("run", *args, "--out", str(out))
    assert time.perf_counter() - t0 < 5  # nothing was built
    check_one_line_error(code, err, code=9, pattern=pattern, out=out)
    assert "--allow-large" in err and list(tmp_path.iterdir()) == []


def test_sweep_refuses_a_too_large_point_before_any_worker(run_cli, check_one_line_error, tmp_path):
    out = tmp_path / "sweep"
    code, err = run_cli("sweep", "nf_staircase", "--set", "data.samples=61,100000000", "--out", str(out), "--quiet")
    check_one_line_error(code, err, code=9, pattern="samples", out=out)
    assert list(tmp_path.iterdir()) == []


def test_the_estimate_sets_the_default_timeout():
    base = estimate(load_scenario("nf_staircase"))
    long = estimate(load_scenario("nf_staircase", ["loop.iterations=100000000"]))
    assert base.default_timeout_s() == TIMEOUT_FLOOR_S < long.default_timeout_s()
    assert long.default_timeout_s() == pytest.approx(20 * long.spice_s)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_timeout_is_one_line(run_cli, check_one_line_error, tmp_path, value):
    code, err = run_cli("run", "nf_staircase", "--timeout", value, "--out", str(tmp_path / "o"))
    check_one_line_error(code, err, code=2, pattern="--timeout must be a finite number of seconds > 0")


def test_run_timeout_stops_a_slow_simulation(run_cli, check_one_line_error, tmp_path):
    out = tmp_path / "o"
    t0 = time.perf_counter()
    code, err = run_cli("run", "nf_staircase", "--set", "loop.iterations=3000000", "--timeout", "1", "--out", str(out),
                        "--quiet")
    assert time.perf_counter() - t0 < 30
    check_one_line_error(code, err, code=6, pattern=r"exceeded (its )?1 s", out=out)
