"""The NF loop at the macro level (issue 13): physical element values, the supply respected, and the loop
still learning; the [circuit] table read strictly."""

import json
import re

import numpy as np
import pytest

from analogopt.circuits.nf_macro import design_scales
from analogopt.cosim.nf_single import cosimulate
from analogopt.errors import ConfigError
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.spice import NgspiceRunner

MACRO = ['circuit.level="macro"']


def experiment(name, sets=()):
    return NFSingleExperiment.from_scenario(load_scenario(name, [*MACRO, *sets]))


def element_values(netlist: str) -> dict[str, list[float]]:
    """Resistances (Ω), capacitances (F) and VCCS transconductances (S) of every element line."""
    found = {"R": [], "C": [], "G": []}
    for line in netlist.splitlines():
        parts = line.split()
        if not parts or parts[0][0].upper() not in found:
            continue
        kind = parts[0][0].upper()
        value = parts[5] if kind == "G" else parts[3]
        found[kind].append(float(re.sub(r"[^0-9eE+\-.]", "", value)))
    return found


@pytest.mark.parametrize("name", ["nf_staircase", "nf_perceptron", "nf_noisy_relu", "nf_momentum"])
def test_every_element_value_is_physical(name):
    values = element_values(experiment(name).netlist())
    assert values["R"] and values["C"] and values["G"]
    assert min(values["R"]) >= 100.0, "a conductance above 10 mS"
    assert max(values["G"]) <= 10e-3, "a transconductance above 10 mS"
    assert max(values["C"]) <= 100e-9, "a capacitor above 100 nF"
    assert min(values["C"]) >= 1e-15


def test_the_staircase_learns_at_the_macro_level_and_no_node_leaves_the_supply(tmp_path):
    e = experiment("nf_staircase")
    result = cosimulate(e.problem, macro=e.macro, baseline=False, run_dir=tmp_path / "spice", save_all=True)
    assert result.analog.final_loss < 1e-2
    assert np.abs(result.analog.final_weights - result.ideal.final_weights).max() < 1e-2
    supply = e.macro.supply_v
    waves = result.analog_waveforms
    nodes = [n for n in waves.names if n.startswith("v(")]
    assert len(nodes) > 100  # every node was saved, op-amp internals included
    for node in nodes:
        v = waves[node]
        assert v.min() >= -1e-3 and v.max() <= supply + 1e-3, node


@pytest.mark.slow
def test_the_perceptron_keeps_its_accuracy_at_the_macro_level():
    e = experiment("nf_perceptron")
    result = cosimulate(e.problem, macro=e.macro, baseline=False, runner=NgspiceRunner(timeout_s=900))
    xt, yt = e.data.x_test, e.data.y_test
    accuracy = np.mean(np.where(xt @ result.analog.final_weights >= 0, 1.0, -1.0) == yt)
    assert accuracy >= 0.94


def test_scale_factors_keep_every_line_inside_its_budget():
    e = experiment("nf_perceptron")
    parts = e.macro
    sc = design_scales(e.problem, parts, e_max=100.0)
    x = np.abs(e.problem.data_matrix)
    assert sc.s_per_data * x.max() <= parts.g_max_s * (1 + 1e-12)
    line = sc.s_per_data * sc.v_per_weight * x.sum(axis=1).max() + 2 * parts.g_min_s * x.shape[1] * sc.v_per_weight
    assert line <= parts.line_current_a * (1 + 1e-9)
    assert sc.v_per_error == pytest.approx(parts.e_swing_v / 100.0)


@pytest.mark.parametrize("sets,message", [
    (['circuit.level="nano"'], r"level"),
    (['circuit.g_max_s=1e-8'], r"g_min_s"),
    (['circuit.c_w_f="10MHz"'], r"c_w_f"),
    (['circuit.v_per_weight=0'], r"v_per_weight"),
    (['circuit.e_swing_v=2'], r"e_swing_v.*rails"),
])
def test_bad_circuit_tables_are_refused(sets, message):
    with pytest.raises(ConfigError, match=message):
        NFSingleExperiment.from_scenario(load_scenario("nf_noisy_relu", [*MACRO, *sets]))


def test_the_run_reports_the_level_and_its_scale_factors(run_cli, tmp_path):
    out = tmp_path / "r"
    code, err = run_cli("run", "nf_noisy_relu", "--set", MACRO[0], "--set", "loop.iterations=2000", "--quiet",
                        "--out", str(out))
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["circuit"]["level"] == "macro"
    assert m["circuit"]["macro"]["scale_factors"]["v_per_weight"] == 0.25
    assert "## Macro level: scale factors and element values" in (out / "report.md").read_text()
    assert m["comparison"]["analog_vs_ideal"]["max_fraction_of_range"] < 0.01


def test_the_offset_scenario_breaks_the_loop_and_the_report_says_why(run_cli, tmp_path):
    out = tmp_path / "r"
    code, err = run_cli("run", "nf_staircase_offset", "--quiet", "--out", str(out))
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["analog"]["final_loss"] > 100 * m["digital"]["final_loss"]
    t = m["imperfection_theory"]
    for name, predicted in t["predicted_shift"].items():
        assert abs(t["simulated_shift"][name] - predicted) <= max(0.2 * abs(predicted), 1e-3), name
    assert "The imperfections break this loop" in (out / "report.md").read_text()


def test_the_size_estimate_counts_the_macro_levels_cost():
    from analogopt.experiments.nf_single import MACRO_COST_FACTORS, macro_cost_factor

    ideal = NFSingleExperiment.estimate(load_scenario("nf_perceptron"))
    macro = NFSingleExperiment.estimate(load_scenario("nf_perceptron", MACRO))
    # 398 training samples × 31 weights lies between the benchmark's 32×128 and 64×256
    factor = macro.spice_s / ideal.spice_s
    assert factor == pytest.approx(macro_cost_factor(0.7 * 569 * 31), rel=1e-9)
    assert MACRO_COST_FACTORS[4096] < factor < MACRO_COST_FACTORS[16384]
    assert macro_cost_factor(10) == MACRO_COST_FACTORS[256] and macro_cost_factor(1e6) == MACRO_COST_FACTORS[16384]
    assert macro.default_timeout_s() >= ideal.default_timeout_s()
