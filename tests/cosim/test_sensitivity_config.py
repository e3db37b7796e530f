"""The sensitivity kind's scenario is checked before anything runs: one line per mistake."""

import pytest

from analogopt.errors import ConfigError
from analogopt.experiments.nf_sensitivity import NFSensitivityExperiment
from analogopt.scenarios import load_scenario


def _load(*overrides):
    return NFSensitivityExperiment.from_scenario(load_scenario("nf_sensitivity", list(overrides)))


def test_the_shipped_study_reads_and_sweeps_five_imperfections():
    e = _load()
    assert list(e.sweep) == ["ota_r_out_ohm", "c_leak_ohm", "ota_offset_v", "ota_headroom_v", "levels"]
    assert e.base.macro is not None and e.base.scenario.name == "nf_noisy_relu"


@pytest.mark.parametrize("override,pattern", [
    ('base="crossbar_mvm"', "needs an nf_single scenario"),
    ('base="no_such_scenario"', "unknown scenario"),
    ('set=["loop.nope=1"]', "no parameter 'nope'"),
    ("sensitivity.levels=[1,4]", r"levels\[0\]"),
    ("sensitivity.ota_headroom_v=[2.0]", "ota_headroom_v"),
    ("sensitivity.c_leak_ohm=[-1]", "c_leak_ohm"),
    ('set=["loop.leak=true"]', "folds r_out into its leak resistor"),
    ('base="nf_momentum"', "not the momentum cascade"),
])
def test_mistakes_are_one_line(override, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        _load(override)
    assert "\n" not in str(info.value)


def test_an_empty_study_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('kind = "nf_sensitivity"\nbase = "nf_noisy_relu"\n[sensitivity]\n')
    with pytest.raises(ConfigError, match="at least one imperfection"):
        NFSensitivityExperiment.from_scenario(load_scenario(path))
