"""The strict value reader (analogopt.values, analogopt.units): table-driven good and bad values, then the
cases issue 17 names, read through real scenarios, ``--set`` and the Python API."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from analogopt.errors import ConfigError
from analogopt.experiments import build_experiment
from analogopt.problems import ActivationSpec, NFSingleLayerProblem
from analogopt.scenarios import SIMS_DIR, load_scenario, parse_value
from analogopt.units import parse_si
from analogopt.values import (
    REQUIRED, Table, as_boolean, as_choice, as_integer, as_integers, as_number, as_numbers, as_seed, as_string,
)

# --------------------------------------------------------------------------------------------------
# parse_si: SPICE's number syntax, strict about what follows the scale factor
# --------------------------------------------------------------------------------------------------
GOOD_SI = [
    # (value, unit, expected)
    (3, None, 3.0),
    (-2.5, None, -2.5),
    (np.float32(0.5), None, 0.5),
    (np.int64(7), None, 7.0),
    ("4.7u", None, 4.7e-6),
    ("4.7µ", None, 4.7e-6),
    ("4.7μ", None, 4.7e-6),  # Greek mu as well as the micro sign
    ("10k", None, 1e4),
    ("10K", None, 1e4),
    ("1meg", None, 1e6),
    ("1MEG", None, 1e6),
    ("2g", None, 2e9),
    ("1t", None, 1e12),
    ("3m", None, 3e-3),
    ("3M", None, 3e-3),  # SPICE: M is milli, case-insensitive
    ("5n", None, 5e-9),
    ("5p", None, 5e-12),
    ("5f", None, 5e-15),
    ("1mil", None, 25.4e-6),
    ("1MIL", None, 25.4e-6),
    (" 2.5e-3 ", None, 2.5e-3),
    (".5", None, 0.5),
    ("-1e3k", None, -1e6),
    ("+7", None, 7.0),
    ("10kohm", "ohm", 1e4),
    ("10kOhms", "ohm", 1e4),
    ("10kΩ", "ohm", 1e4),
    ("1us", "s", 1e-6),
    ("20ms", "s", 20e-3),
    ("1s", "s", 1.0),
    ("10megHz", "Hz", 1e7),
    ("10mhz", "Hz", 10e-3),  # lower-case m is milli in SI too: not a trap
    ("1na", "A", 1e-9),
    ("1a", "A", 1.0),  # ngspice reads "1a" as 1; for a current the word is the unit
    ("100uS", "S", 100e-6),
    ("5mV", "V", 5e-3),
]


@pytest.mark.parametrize("value, unit, expected", GOOD_SI)
def test_parse_si_reads_spice_numbers(value, unit, expected):
    assert parse_si(value, "x", unit) == pytest.approx(expected, rel=1e-15)


BAD_SI = [
    # (value, unit, message pattern)
    ("1x", None, r"x: cannot read '1x': 'x' is neither a SPICE scale factor \(f p n u m k meg g t mil\) nor a unit"),
    ("1 min", "s", r"no spaces"),
    ("1min", "s", r"'in' after the scale factor 'm' is not the unit of this value \(s\)"),
    ("10MHz", "Hz", r"'10MHz' means 10 milli-hertz in SPICE .*write 10meg"),
    ("10MHz", None, r"'10MHz' means 10 milli-hertz in SPICE"),
    ("1Mohm", "ohm", r"means 1 milli-ohm"),
    ("1a", None, r"'a' is not a SPICE scale factor \(ngspice reads it as 1, other simulators as atto\); write 1e-18"),
    ("10kohm", None, r"'ohm' after the scale factor 'k' is not a unit \(this value takes none\)"),
    ("10kohm", "s", r"is not the unit of this value \(s\)"),
    ("1us", "Hz", r"not the unit of this value \(Hz\)"),
    ("inf", None, r"cannot read 'inf' as a finite number"),
    ("nan", None, r"cannot read 'nan' as a finite number"),
    ("-inf", None, r"cannot read '-inf'"),
    ("", None, r"cannot read ''"),
    ("k", None, r"cannot read 'k'"),
    ("1e", None, r"'e' is neither"),
    ("1_000", None, r"'_000' is neither"),
    ("1 k", None, r"no spaces"),
    (float("inf"), None, r"x: must be finite, got inf"),
    (float("nan"), None, r"x: must be finite, got nan"),
    (np.float64("inf"), None, r"must be finite"),
    ("1e400", None, r"must be finite"),
    (10**400, None, r"must be finite"),
    (True, None, r"x: must be a number, got true"),
    (np.bool_(False), None, r"must be a number"),
    (None, None, r"must be a number, got None"),
    ([1.0], None, r"must be a number, got \[1\.0\]"),
]


@pytest.mark.parametrize("value, unit, pattern", BAD_SI)
def test_parse_si_refuses(value, unit, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        parse_si(value, "x", unit)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# the typed getters, one value at a time
# --------------------------------------------------------------------------------------------------
GOOD_VALUES = [
    # (function, value, keyword arguments, expected)
    (as_integer, 300, {}, 300),
    (as_integer, 1e8, {}, 100_000_000),  # TOML has no integer exponent: a whole float is an integer
    (as_integer, 3.0, {}, 3),
    (as_integer, "10k", {}, 10_000),
    (as_integer, "4.7k", {}, 4_700),
    (as_integer, np.int32(5), {"low": 1}, 5),
    (as_integer, np.float64(6.0), {}, 6),
    (as_integer, 2**40, {"low": 0}, 2**40),
    (as_seed, 0, {}, 0),
    (as_seed, 2**32 - 1, {}, 2**32 - 1),
    (as_seed, np.uint32(7), {}, 7),
    (as_number, 0, {"low": 0}, 0.0),
    (as_number, 1, {"positive": True}, 1.0),
    (as_number, 0.5, {"low": 0.5, "below": 1}, 0.5),
    (as_number, "1m", {"positive": True, "unit": "s"}, 1e-3),
    (as_boolean, True, {}, True),
    (as_boolean, False, {}, False),
    (as_boolean, np.bool_(True), {}, True),
    (as_string, "tanh", {}, "tanh"),
    (as_choice, "x", {"options": ("x", "window")}, "x"),
    (as_numbers, [0, 1], {}, [0.0, 1.0]),  # integer initial weights are numbers
    (as_numbers, (0.3, "1m", np.int8(2)), {}, [0.3, 1e-3, 2.0]),
    (as_integers, [16, 32.0], {"low": 1, "length": 2}, [16, 32]),
]


@pytest.mark.parametrize("function, value, kwargs, expected", GOOD_VALUES)
def test_good_values(function, value, kwargs, expected):
    result = function(value, "t.key", **kwargs)
    assert result == expected and type(result) is type(expected)


BAD_VALUES = [
    # (function, value, keyword arguments, message)
    (as_integer, 300.9, {"low": 1}, "t.key: must be an integer ≥ 1, got 300.9"),
    (as_integer, 3.7, {}, "t.key: must be an integer, got 3.7"),
    (as_integer, "1.5", {}, "t.key: must be an integer, got '1.5'"),
    (as_integer, "10u", {}, "t.key: must be an integer, got '10u'"),
    (as_integer, "abc", {"low": 0}, "t.key: must be an integer ≥ 0, got 'abc'"),
    (as_integer, True, {}, "t.key: must be an integer, got true"),
    (as_integer, float("inf"), {}, "t.key: must be an integer, got inf"),
    (as_integer, float("nan"), {}, "t.key: must be an integer, got nan"),
    (as_integer, 0, {"low": 1}, "t.key: must be an integer ≥ 1, got 0"),
    (as_integer, 11, {"low": 5, "high": 10}, "t.key: must be an integer in [5, 10], got 11"),
    (as_integer, 20, {"high": 10}, "t.key: must be an integer ≤ 10, got 20"),
    (as_integer, [1], {}, "t.key: must be an integer, got [1]"),
    (as_seed, -1, {}, "t.key: must be an integer in [0, 4294967295], got -1"),
    (as_seed, 1.5, {}, "t.key: must be an integer in [0, 4294967295], got 1.5"),
    (as_seed, "seven", {}, "t.key: must be an integer in [0, 4294967295], got 'seven'"),
    (as_seed, 2**32, {}, "t.key: must be an integer in [0, 4294967295], got 4294967296"),
    (as_number, 0, {"positive": True, "unit": "s"}, "t.key: must be > 0 s, got 0"),
    (as_number, "-1m", {"positive": True}, "t.key: must be > 0, got '-1m' (= -0.001)"),
    (as_number, 1.0, {"above": 0, "below": 1}, "t.key: must be in (0, 1), got 1.0"),
    (as_number, 0.2, {"low": 0.5, "below": 1}, "t.key: must be in [0.5, 1), got 0.2"),
    (as_number, -1, {"low": 0}, "t.key: must be ≥ 0, got -1"),
    (as_number, 2, {"high": 1}, "t.key: must be ≤ 1, got 2"),
    (as_number, 1, {"below": 1}, "t.key: must be < 1, got 1"),
    (as_number, "1", {"low": 2}, "t.key: must be ≥ 2, got '1'"),
    (as_boolean, "false", {}, "t.key: must be true or false, got 'false' (write true or false without quotes)"),
    (as_boolean, "true", {}, "t.key: must be true or false, got 'true'"),
    (as_boolean, 1, {}, "t.key: must be true or false, got 1"),
    (as_boolean, 0.0, {}, "t.key: must be true or false, got 0.0"),
    (as_string, 3, {}, "t.key: must be a string (in quotes), got 3"),
    (as_choice, "swish", {"options": ("relu", "tanh")}, "t.key: unknown key 'swish'; choose one of relu, tanh"),
    (as_choice, 3, {"options": ("a",), "what": "data set"}, "t.key: unknown data set 3; choose one of a"),
    (as_numbers, 0.3, {}, "t.key: must be a list of numbers, got 0.3"),
    (as_numbers, [], {}, "t.key: must be a non-empty list of numbers, got []"),
    (as_numbers, [0.3, "x"], {}, "t.key[1]: cannot read 'x'"),
    (as_numbers, [0.3, True], {}, "t.key[1]: must be a number, got true"),
    (as_numbers, [1, -5], {"positive": True}, "t.key[1]: must be > 0, got -5"),
    (as_numbers, [1.0], {"length": 2}, "t.key: must be a list of 2 numbers, got 1: [1.0]"),
    (as_integers, [16], {"length": 2}, "t.key: must be a list of 2 integers, got 1: [16]"),
    (as_integers, [16, 2.5], {}, "t.key[1]: must be an integer, got 2.5"),
]


@pytest.mark.parametrize("function, value, kwargs, message", BAD_VALUES)
def test_bad_values(function, value, kwargs, message):
    with pytest.raises(ConfigError) as info:
        function(value, "t.key", **kwargs)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# Table: paths in messages, defaults, required keys, sub-tables, unknown keys
# --------------------------------------------------------------------------------------------------
def test_table_names_the_path_and_judges_defaults():
    loop = Table({"loop": {"iterations": 300.9, "leak": "false"}}, "nf").table("loop")
    with pytest.raises(ConfigError, match=re.escape("nf.loop.iterations: must be an integer ≥ 1, got 300.9")):
        loop.integer("iterations", 1000, low=1)
    with pytest.raises(ConfigError, match=re.escape("nf.loop.leak: must be true or false, got 'false'")):
        loop.boolean("leak", True)
    assert loop.number("tau_s", "1m", unit="s") == 1e-3  # a SPICE-string default is read like a value
    with pytest.raises(ConfigError, match=re.escape("nf.loop.gamma: missing (required)")):
        loop.number("gamma", REQUIRED)


def test_table_rejects_unknown_keys_and_non_tables():
    with pytest.raises(ConfigError, match=re.escape("nf.loop: unknown key(s) tua_s; allowed: eta, tau_s")):
        Table({"loop": {"tua_s": 1}}, "nf").table("loop", {"tau_s", "eta"})
    with pytest.raises(ConfigError, match=re.escape("nf.loop: must be a table, got 3")):
        Table({"loop": 3}, "nf").table("loop")
    rows = Table({"rows": [{"a": 1}, 2]}, "t")
    with pytest.raises(ConfigError, match=re.escape("t.rows[1]: must be a table, got 2")):
        rows.tables("rows")
    with pytest.raises(ConfigError, match=re.escape("t.rows: must be an array of tables")):
        Table({"rows": {"a": 1}}, "t").tables("rows")
    assert Table({}, "t").table("absent").keys() == [] and not Table({}, "t").table("absent")


# --------------------------------------------------------------------------------------------------
# --set values: TOML first, a bare word stays a string for the getters to judge
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("300.9", 300.9), ("1e8", 1e8), ("false", False), ('"false"', "false"), ("False", "False"), ("1m", "1m"),
    ("[0, 1]", [0, 1]), ("inf", float("inf")), ("1 min", "1 min"), ("1\nw = 2", "1\nw = 2"),
])
def test_parse_value_keeps_the_toml_type(raw, expected):
    assert parse_value(raw) == expected and type(parse_value(raw)) is type(expected)


# --------------------------------------------------------------------------------------------------
# issue 17's cases through real scenarios: each a one-line ConfigError naming the key
# --------------------------------------------------------------------------------------------------
STAIRCASE = (SIMS_DIR / "nf_staircase.toml").read_text()


def _with(tmp_path: Path, text: str, table: str, line: str, name: str = "case") -> Path:
    """A copy of scenario ``text`` with ``line`` added at the top of ``[table]``."""
    header = f"[{table}]\n"
    assert header in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(header, header + line + "\n", 1), encoding="utf-8")
    return path


def _build(name_or_path, overrides=()):
    return build_experiment(load_scenario(name_or_path, list(overrides)))


SCENARIO_ERRORS = [
    # (scenario, --set overrides, message pattern)
    ("nf_noisy_relu", ['compare.least_squares="false"'],
     r"nf_noisy_relu\.compare\.least_squares: must be true or false, got 'false'"),
    ("nf_noisy_relu", ["compare.least_squares=False"], r"compare\.least_squares: must be true or false, got 'False'"),
    ("nf_staircase", ["loop.iterations=300.9"], r"nf_staircase\.loop\.iterations: must be an integer ≥ 1, got 300\.9"),
    ("nf_staircase", ['loop.tau_s="1x"'], r"loop\.tau_s: cannot read '1x': 'x' is neither a SPICE scale factor"),
    ("nf_staircase", ["loop.tau_s=1 min"], r"loop\.tau_s: cannot read '1 min' as a number: a SPICE value has no spaces"),
    ("nf_staircase", ["loop.tau_s=1min"], r"loop\.tau_s: cannot read '1min': 'in' after the scale factor 'm'"),
    ("nf_staircase", ["loop.forward_gain=inf"], r"loop\.forward_gain: must be finite, got inf"),
    ("nf_staircase", ["loop.forward_gain=nan"], r"loop\.forward_gain: must be finite, got nan"),
    ("nf_staircase", ['loop.forward_gain="inf"'], r"loop\.forward_gain: cannot read 'inf' as a finite number"),
    ("nf_staircase", ["loop.leak=1"], r"loop\.leak: must be true or false, got 1"),
    ("nf_staircase", ["loop.w0=0.3"], r"loop\.w0: must be a list of numbers, got 0\.3"),
    ("nf_staircase", ['loop.w0=[0.3, "x"]'], r"loop\.w0\[1\]: cannot read 'x'"),
    ("nf_staircase", ["loop.eta=2"], r"loop\.eta: must be in \(0, 1\], got 2"),
    ("nf_staircase", ["data.samples=60.5"], r"data\.samples: must be an integer ≥ 2, got 60\.5"),
    ("nf_staircase", ["network.gain=-20"], r"network\.gain: must be > 0 V/V, got -20"),
    ("nf_staircase", ["network.activation=3"], r"network\.activation: unknown activation 3"),
    ("nf_noisy_relu", ["data.seed=-1"], r"nf_noisy_relu\.data\.seed: must be an integer in \[0, 4294967295\], got -1"),
    ("nf_noisy_relu", ["data.seed=1.5"], r"data\.seed: must be an integer in \[0, 4294967295\], got 1\.5"),
    ("nf_noisy_relu", ['data.seed="x"'], r"data\.seed: must be an integer in \[0, 4294967295\], got 'x'"),
    ("nf_noisy_relu", ["data.noise_std=-0.1"], r"data\.noise_std: must be ≥ 0, got -0\.1"),
    ("nf_noisy_relu", ['compare.also_error_gains="x"'], r"compare\.also_error_gains: must be a list of strings, got 'x'"),
    ("nf_noisy_relu", ['compare.also_error_gains=["sign"]'], r"also_error_gains\[0\]: unknown error gain 'sign'; choose one of x, window, beta_pow"),
    ("nf_perceptron", ["data.test_fraction=0.001"],
     r"nf_perceptron\.data: test_fraction = 0\.001 leaves 1 test and 568 training samples"),
    ("nf_perceptron", ["data.test_fraction=1"], r"data\.test_fraction: must be in \(0, 1\), got 1"),
    ("crossbar_solve", ["problem.seed=-1"], r"crossbar_solve\.problem\.seed: must be an integer in \[0, 4294967295\]"),
    ("crossbar_solve", ["problem.rows=12.5"], r"problem\.rows: must be an integer in \[1, 4096\], got 12\.5"),
    ("crossbar_mvm", ['device.g_min="1x"'], r"device\.g_min: cannot read '1x'"),
    ("crossbar_mvm", ['device.g_min="1uohm"'], r"device\.g_min: cannot read '1uohm': 'ohm' after the scale factor 'u' is not the unit of this value \(S\)"),
    ("recirculation_pinv", ["recirculation.steps=1e12.5"], r"recirculation\.steps: must be an integer"),
    ("log_amp", ['step.gbw_hz="10MHz"'], r"log_amp\.step\.gbw_hz: '10MHz' means 10 milli-hertz in SPICE.*write 10meg"),
    ("log_amp", ["sweep.points_per_decade=10.5"], r"sweep\.points_per_decade: must be an integer in \[1, 1000\], got 10\.5"),
    ("log_amp", ['cascade.r_ohm="10kV"'], r"cascade\.r_ohm: cannot read '10kV'"),
    ("log_amp", ["sweep.temperatures_c=[27, 600]"], r"sweep\.temperatures_c\[1\]: must be in \(-273\.15, 500\), got 600"),
    ("inverse_loop", ["loop.points=201.5"], r"loop\.points: must be an integer in \[5, 10001\], got 201\.5"),
    ("inverse_loop", ['loop.functions="cubic"'], r"loop\.functions: must be a list of strings"),
    ("fal_vs_adam", ["training.channels=[16]"], r"training\.channels: must be a list of 2 integers, got 1"),
    ("fal_vs_adam", ["training.seeds=[0, -1]"], r"training\.seeds\[1\]: must be an integer in \[0, 4294967295\], got -1"),
    ("momentum_filter", ["drive.seed=-2"], r"momentum_filter\.drive\.seed: must be an integer in \[0, 4294967295\]"),
    ("momentum_filter", ['rc.leak="true"'], r"rc\.leak: must be true or false, got 'true'"),
    ("rules_mdfa_binary", ["seeds=[0, 1.5]"], r"rules_mdfa_binary\.seeds\[1\]: must be an integer in \[0, 4294967295\], got 1\.5"),
    ("rules_mdfa_binary", ["base.epochs=2.5"], r"rules_mdfa_binary\.rows\[0\]\.epochs: must be an integer ≥ 1, got 2\.5"),
    ("rules_mdfa_binary", ["base.lr=inf"], r"rows\[0\]\.lr: must be finite, got inf"),
    ("rules_mdfa_binary", ["base.hidden=[64, -64]"], r"rows\[0\]\.hidden\[1\]: must be an integer ≥ 1, got -64"),
]


@pytest.mark.parametrize("name, overrides, pattern", SCENARIO_ERRORS)
def test_scenario_values_are_strict(name, overrides, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        _build(name, overrides)
    assert "\n" not in str(info.value)


def test_power_must_be_an_integer(tmp_path):
    path = _with(tmp_path, STAIRCASE, "network", "power = 3.7")
    with pytest.raises(ConfigError, match=re.escape("case.network.power: must be an integer ≥ 1, got 3.7")):
        _build(path)


def test_rule_options_are_typed_by_the_rule(tmp_path):
    rows = '[[rows]]\nlabel = "BP"\nrule = "bp"\n[[rows]]\nlabel = "DFA"\nrule = "dfa"\n'
    for option, message in [('fprime = "false"', "fprime: must be true or false, got 'false'"),
                            ("error_bits = 4.5", "error_bits: must be an integer, got 4.5"),
                            ("feedback_lr = true", "feedback_lr: must be a number, got true")]:
        path = tmp_path / "rules.toml"
        path.write_text(f'kind = "rules_table"\nseeds = [0]\n[base]\ndata = "iris"\n{rows}'
                        f"rule_options = {{ {option} }}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(f"rules.rows[1].rule_options.{message}")):
            _build(path)


def test_non_utf8_scenario_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'kind = "nf_single"\ntitle = "caf\xe9"\n')  # Latin-1 é
    with pytest.raises(ConfigError, match=r"scenario latin1\.toml: not UTF-8 text \(invalid byte at offset \d+\)"):
        load_scenario(path)


@pytest.mark.parametrize("name, overrides, check", [
    # integer initial weights and SPICE spellings are accepted and read as SPICE reads them
    ("nf_staircase", ["loop.w0=[0, 1]"], lambda e: list(e.problem.w0) == [0.0, 1.0]),
    ("nf_staircase", ['loop.tau_s="1mil"'], lambda e: e.problem.tau_s == 25.4e-6),
    ("nf_staircase", ['loop.tau_s="1ms"'], lambda e: e.problem.tau_s == 1e-3),
    ("nf_staircase", ["loop.iterations=8e3"], lambda e: e.problem.iterations == 8000),
    ("nf_staircase", ['loop.iterations="8k"'], lambda e: e.problem.iterations == 8000),
    ("log_amp", ['cascade.r_ohm="10kohm"'], lambda e: e.cascade_r_ohm == 1e4),
    ("log_amp", ['cascade.r_ohm="10kΩ"'], lambda e: e.cascade_r_ohm == 1e4),
    ("log_amp", ['step.gbw_hz="10megHz"'], lambda e: e.step_opamp.gbw_hz == 1e7),
    ("log_amp", ['sweep.i_min_a="1nA"'], lambda e: e.i_min_a == 1e-9),
    ("crossbar_mvm", ['device.g_max="100uS"'], lambda e: e.device.g_max_s == pytest.approx(1e-4, rel=1e-15)),
])
def test_good_spellings_are_accepted(name, overrides, check):
    assert check(_build(name, overrides))


def test_bad_values_through_the_cli_are_one_line(tmp_path, run_cli, check_one_line_error):
    out = tmp_path / "out"
    for sets, pattern in [(["loop.iterations=300.9"], r"loop\.iterations: must be an integer ≥ 1, got 300\.9"),
                          (['loop.tau_s="10MHz"'], r"loop\.tau_s: '10MHz' means 10 milli-hertz")]:
        code, err = run_cli("run", "nf_staircase", "--out", str(out), *[a for s in sets for a in ("--set", s)])
        check_one_line_error(code, err, code=2, pattern=pattern, out=out)


# --------------------------------------------------------------------------------------------------
# the Python API: NumPy scalars pass, truncation and truthiness do not
# --------------------------------------------------------------------------------------------------
def _xy():
    x = np.stack([np.linspace(-1, 1, 8), np.ones(8)], 1)
    return x, np.tanh(x @ np.array([0.5, -0.1]))


def test_problem_accepts_numpy_scalars():
    x, y = _xy()
    p = NFSingleLayerProblem(x, y, ActivationSpec("tanh", gain=np.float32(20)), error_gain="beta_pow",
                             power=np.int64(3), forward_gain=np.float64(0.5), tau_s=np.float32(1e-3),
                             iterations=np.int32(50), leak=np.bool_(False), w0=np.array([0, 1]))
    assert (p.power, p.iterations, p.leak) == (3, 50, False)
    assert type(p.iterations) is int and type(p.forward_gain) is float and list(p.w0) == [0.0, 1.0]


@pytest.mark.parametrize("change, message", [
    (dict(iterations=300.9), "iterations: must be an integer ≥ 1, got 300.9"),
    (dict(error_gain="beta_pow", power=3.7), "power: must be an integer ≥ 1, got 3.7"),
    (dict(leak="false"), "leak: must be true or false, got 'false'"),
    (dict(tau_s="1x"), "tau_s: cannot read '1x'"),
    (dict(forward_gain=True), "forward_gain: must be a number, got true"),
    (dict(eta=float("inf")), "eta: must be finite, got inf"),
])
def test_problem_refuses_lax_values(change, message):
    x, y = _xy()
    with pytest.raises(ConfigError) as info:
        NFSingleLayerProblem(x, y, ActivationSpec("tanh"), **change)
    assert str(info.value).startswith(message), str(info.value)
