"""Corners and per-parameter Monte Carlo of the macro NF loop in real ngspice (issue 13, Build 5).

300 iterations of the staircase: the loop is still learning there (loss 8e-3 at tt), so a slower or faster
integrator shows in the loss, while an offset's shift of the settling point is already in the weights."""

import pandas as pd
import pytest

from analogopt.experiments.base import Variation
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner

PVT = ["tt", "cold", "hot", "vdd_lo", "vdd_hi", "gm_lo", "gm_hi", "os_lo", "os_hi", "slow_hot", "fast_cold"]


@pytest.mark.slow
def test_pvt_corners_through_the_cli(run_cli, tmp_path):
    out = tmp_path / "sw"
    code, err = run_cli("sweep", "nf_staircase", "--set", "circuit.level=macro", "--set", "loop.iterations=300",
                        "--corners", "pvt", "--workers", "1", "--quiet", "--out", str(out))
    assert code == 0, err
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns[:7]) == ["id", "point", "mc_index", "seed", "status", "error", "corner"]
    assert list(table["corner"]) == PVT and set(table["status"]) == {"ok"}
    row = {c: r for c, r in zip(table["corner"], table.to_dict("records"))}
    loss = {c: r["analog_final_loss"] for c, r in row.items()}
    # the integrators' speed is gm/C: lower gm (−20 %, or hot: gm × 0.755) learns slower, higher faster
    assert loss["gm_lo"] > loss["tt"] > loss["gm_hi"]
    assert loss["hot"] > loss["tt"] > loss["cold"]
    assert loss["slow_hot"] > max(loss.values()) - 1e-12 and loss["fast_cold"] < loss["cold"]
    # the supply enters only the rails, which the staircase never reaches: the supply corners keep learning
    for corner in ("vdd_lo", "vdd_hi"):
        for w in ("analog_w", "analog_b"):
            assert row[corner][w] == pytest.approx(row["tt"][w], abs=1e-4)
    # ±3σ of every OTA's offset moves the bias in opposite directions, by about the same amount
    up, down = row["os_hi"]["analog_b"] - row["tt"]["analog_b"], row["os_lo"]["analog_b"] - row["tt"]["analog_b"]
    assert up > 1e-3 and down < -1e-3 and up == pytest.approx(-down, rel=0.1)
    summary = pd.read_json(out / "summary.json", typ="series")
    assert [p["corner"] for p in summary["points"]] == PVT


@pytest.mark.slow
def test_macro_monte_carlo_is_one_chip_per_seed(tmp_path):
    e = NFSingleExperiment.from_scenario(load_scenario("nf_staircase", ["circuit.level='macro'",
                                                                        "loop.iterations=300"]))
    runner = NgspiceRunner(timeout_s=300, whole_run=True)
    runs = iter(range(100))

    def row(seed, variations=()):
        r = e.sample(list(variations), seed, runner, tmp_path / f"s{next(runs)}")
        return {k: v for k, v in r.items() if not k.startswith("time_")}

    first, again, other = row(3), row(3), row(4)
    assert first == again  # the sample seed fixes every draw: a re-run is the same chip
    assert first["analog_b"] != other["analog_b"]
    # the [circuit.mismatch] draws (2 mV per OTA offset, gm, C, G, op-amp offsets) cost accuracy …
    nominal = row(None)
    assert first["comparison.analog_vs_ideal.final_fraction_of_range"] > \
        10 * nominal["comparison.analog_vs_ideal.final_fraction_of_range"]
    # … and --vary adds to them from its own stream
    varied = row(3, [Variation("x", "lognormal", 0.05)])
    assert varied["analog_w"] != first["analog_w"]
