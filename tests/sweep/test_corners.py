"""Corner sets (``[corners.NAME]``, ``analogopt sweep --corners NAME``): parsing, resolution of relative
values, one-line errors before any worker starts, the plan and its manifest (issue 13, Build 5)."""

import json

import pytest

from analogopt.errors import ConfigError
from analogopt.scenarios import SIMS_DIR, load_scenario
from analogopt.sweep.corners import resolve_corners
from analogopt.sweep.spec import SweepPlan

MACRO = ["circuit.level=macro", "loop.iterations=300"]
PVT = ["tt", "cold", "hot", "vdd_lo", "vdd_hi", "gm_lo", "gm_hi", "os_lo", "os_hi", "slow_hot", "fast_cold"]


def _with_corners(tmp_path, text: str, base: str = "nf_staircase"):
    """A copy of a shipped scenario with more corner sets appended (TOML text)."""
    path = tmp_path / f"{base}_c.toml"
    path.write_text((SIMS_DIR / f"{base}.toml").read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return path


def test_the_shipped_pvt_set_resolves_to_numbers():
    corners = {c.name: dict(c.values) for c in resolve_corners(load_scenario("nf_staircase"), "pvt")}
    assert list(corners) == PVT
    assert corners["tt"] == {}
    assert corners["hot"] == {"circuit.temperature_c": 125}
    assert corners["vdd_lo"] == {"circuit.supply_scale": pytest.approx(0.9)}
    assert corners["gm_hi"] == {"circuit.gm_scale": pytest.approx(1.2)}
    # ±3σ of [circuit.mismatch] ota_offset_v = 2 mV, an absolute σ, about the nominal 0 V
    assert corners["os_hi"]["circuit.ota_offset_v"] == pytest.approx(6e-3)
    assert corners["os_lo"]["circuit.ota_offset_v"] == pytest.approx(-6e-3)
    # about nf_staircase_offset's nominal 100 mV
    offset = {c.name: dict(c.values) for c in resolve_corners(load_scenario("nf_staircase_offset"), "pvt")}
    assert offset["os_lo"]["circuit.ota_offset_v"] == pytest.approx(0.094)


def test_nested_tables_relative_sigma_and_integer_nominals(tmp_path):
    path = _with_corners(tmp_path, """
[corners.forms]
quoted = { "circuit.temperature_c" = 85, "loop.iterations" = "x2" }
nested = { circuit = { temperature_c = 85 }, loop = { iterations = "x2" } }
gm_2s = { "circuit.gm_scale" = "-2sigma" }
spice = { "circuit.ota_offset_v" = "1m" }
""")
    corners = {c.name: dict(c.values) for c in resolve_corners(load_scenario(path), "forms")}
    assert corners["quoted"] == corners["nested"] == {"circuit.temperature_c": 85, "loop.iterations": 16000}
    assert isinstance(corners["quoted"]["loop.iterations"], int)
    # gm_scale's σ (per chip, 0.05) is relative: 1·(1 − 2·0.05)
    assert corners["gm_2s"]["circuit.gm_scale"] == pytest.approx(0.9)
    assert corners["spice"]["circuit.ota_offset_v"] == "1m"  # the kind's strict reader takes it


@pytest.mark.parametrize("text, args, pattern", [
    ("", ["--corners", "nope"], r"no corner set 'nope'; its corner sets: pvt"),
    ("[corners.bad]\nc1 = { \"circuit.bogus\" = 1 }", ["--corners", "bad"],
     r"corner c1: scenario nf_staircase_c has no parameter 'circuit.bogus'"),
    ("[corners.bad]\nc1 = { \"circuit.supply_scale\" = \"xabc\" }", ["--corners", "bad"],
     r"--corners bad: corner c1 \(circuit.supply_scale=\"xabc\"\): .*cannot read 'xabc'"),
    ("[corners.bad]\nc1 = { \"network.activation\" = \"x2\" }", ["--corners", "bad"],
     r"network.activation = 'x2' needs a numeric nominal value"),
    ("[corners.bad]\nc1 = { \"circuit.ota_bw_hz\" = \"+3sigma\" }", ["--corners", "bad"],
     r"needs the parameter's σ; add it to \[circuit.mismatch\] as ota_bw_hz"),
    ("[corners.bad]\nc1 = { \"circuit.temperature_c\" = -300 }", ["--corners", "bad"],
     r"corner c1 .*temperature_c must lie in"),
    ("[corners.bad]\nc1 = 3", ["--corners", "bad"], r"corner c1: must be a table"),
    ("[corners.bad]", ["--corners", "bad"], r"must hold at least one corner"),
    ("[corners.bad]\nc1 = { circuit = 1 }", ["--corners", "bad"], r"circuit is a table"),
    ("[circuit.mismatchh]\nota_gm = 0.1", ["--corners", "pvt"], r"unknown key\(s\) mismatchh"),
    ("", ["--corners", "pvt", "--set", "circuit.gm_scale=1,2"], r"--set circuit.gm_scale: corner gm_lo .* sets it too"),
])
def test_bad_corners_are_one_line_before_any_worker(run_cli, check_one_line_error, tmp_path, text, args, pattern):
    scenario = _with_corners(tmp_path, text)
    out = tmp_path / "sw"
    code, err = run_cli("sweep", str(scenario), "--set", "circuit.level=macro", *args, "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=pattern, out=out)


def test_a_scenario_without_corners_and_corners_at_the_ideal_level_are_refused(run_cli, check_one_line_error,
                                                                                 tmp_path):
    out = tmp_path / "sw"
    code, err = run_cli("sweep", "crossbar_solve", "--corners", "pvt", "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=r"scenario crossbar_solve has no corner sets", out=out)
    # [circuit] values act at the macro level only: eleven copies of the nominal row would say nothing
    code, err = run_cli("sweep", "nf_staircase", "--corners", "pvt", "--out", str(out))
    check_one_line_error(code, err, code=2, pattern=r"corner cold .* builds the nominal circuit.*circuit.level=macro",
                         out=out)


@pytest.mark.parametrize("table, pattern", [
    ('c_w_f = "1p"', r"unknown key\(s\) c_w_f; Monte Carlo parameters: per instance"),
    ("ota_gm = 0.9", r"circuit.mismatch.ota_gm: must be in \[0, 0.5\]"),
    ('ota_offset_v = "-1m"', r"circuit.mismatch.ota_offset_v: must be ≥ 0"),
])
def test_mismatch_table_errors_name_the_key(tmp_path, table, pattern):
    text = (SIMS_DIR / "nf_staircase.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[circuit.mismatch]\n")
    path = tmp_path / "m.toml"
    path.write_text(head + "[circuit.mismatch]\n" + table + "\n\n" + rest[rest.index("[corners.pvt]"):],
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=pattern):
        SweepPlan.build(load_scenario(path), MACRO, mc=1)


def test_corners_are_the_outer_axis_with_sets_and_mc_and_survive_the_manifest():
    scenario = load_scenario("nf_staircase")
    plan = SweepPlan.build(scenario, ["circuit.level=macro", "loop.iterations=300,400"], mc=2, seed=3, corners="pvt")
    assert len(plan.samples) == len(PVT) * 2 * 2
    assert [s.corner for s in plan.samples[::4]] == PVT
    assert plan.samples[4].id == "p002_m0000" and plan.samples[4].corner == "cold"
    # common random numbers across corners: sample k has one seed everywhere
    assert {s.seed for s in plan.samples if s.mc_index == 1} == {plan.samples[1].seed}
    hot = plan.scenario_for(plan.samples[8])
    assert hot.config["circuit"]["temperature_c"] == 125 and hot.config["loop"]["iterations"] == 300
    again = SweepPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.samples == plan.samples and again.corners == plan.corners
    # a sweep without corners writes the manifest it wrote before corners existed
    plain = SweepPlan.build(scenario, ["loop.iterations=300"]).to_json()
    assert "corners" not in plain and "corner_set" not in plain
    assert SweepPlan.from_json(json.loads(json.dumps(plain))).samples[0].corner is None
