"""The GF180MCU models as set-up fetched them: location, nominal vs statistical switches, corners."""

from __future__ import annotations

import numpy as np
import pytest

from analogopt.cosim.transistor_ota import device_strength
from analogopt.errors import ConfigError
from analogopt.pdk.gf180mcu import Gf180mcu, PdkMissingError, models_dir, pvt_grid
from analogopt.spice.runner import make_runner


@pytest.fixture(scope="module")
def runner():
    return make_runner("ngspice", timeout_s=60)


def test_missing_models_name_the_setup_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALOGOPT_PDK_DIR", str(tmp_path))
    with pytest.raises(PdkMissingError, match=r"run 'bash scripts/setup.sh'.*package registry"):
        models_dir()


def test_missing_models_are_one_line_on_the_cli(tmp_path, monkeypatch, run_cli, check_one_line_error):
    monkeypatch.setenv("ANALOGOPT_PDK_DIR", str(tmp_path / "nothing"))
    out = tmp_path / "res"
    code, err = run_cli("characterize", "gf180_opamp", "--out", str(out), "--quiet")
    check_one_line_error(code, err, code=2, pattern=r"GF180MCU models not found .* scripts/setup.sh", out=out)


@pytest.mark.parametrize("bad, pattern", [
    ({"corner": "tt"}, r"corner 'tt'"), ({"temp_c": 300.0}, r"temp_c"), ({"supply_v": 5.0}, r"supply_v"),
    ({"statistical": "all"}, r"statistical"), ({"seed": 0}, r"seed"),
])
def test_bad_points_are_refused(bad, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Gf180mcu(**bad)


def test_grids():
    assert len(pvt_grid("full")) == 45 and len({p.label for p in pvt_grid("full")}) == 45
    reduced = [p.label for p in pvt_grid("reduced")]
    assert reduced == ["typical 27 °C 3.3 V", "ff 27 °C 3.3 V", "ss 27 °C 3.3 V", "fs 27 °C 3.3 V", "sf 27 °C 3.3 V",
                       "ss 125 °C 2.97 V", "ff -40 °C 3.63 V"]


def _pair_currents(runner, point: Gf180mcu) -> tuple[float, float]:
    """Two identical NMOS in one deck: equal unless mismatch is on."""
    lines = point.lines() + ["Vd d 0 1.65", "Vg g 0 1.0", "Va d a 0", "Vb d b 0",
                             "Xa a g 0 0 nmos_3p3 w=2u l=0.5u", "Xb b g 0 0 nmos_3p3 w=2u l=0.5u",
                             *(f".options {k}={v}" for k, v in point.options().items()), ".op", ".end"]
    op = runner.run("* pair\n" + "\n".join(lines) + "\n").analysis("op")
    return float(np.real(op["i(va)"][0])), float(np.real(op["i(vb)"][0]))


def test_nominal_decks_switch_the_kits_statistics_off(runner):
    a, b = _pair_currents(runner, Gf180mcu())
    assert a == b and a > 1e-6
    again = _pair_currents(runner, Gf180mcu(statistical="none", seed=7))
    assert again == (a, b)  # a seed changes nothing without statistics


def test_mismatch_draws_differ_by_device_and_by_seed_and_repeat_by_seed(runner):
    one = _pair_currents(runner, Gf180mcu(statistical="mismatch", seed=1))
    two = _pair_currents(runner, Gf180mcu(statistical="mismatch", seed=2))
    assert abs(one[0] - one[1]) / one[0] > 1e-4  # the pair no longer matches
    assert one != two
    assert _pair_currents(runner, Gf180mcu(statistical="mismatch", seed=1)) == one


def test_corner_letters_match_the_device_strengths(runner):
    """First letter NMOS, second PMOS, in this kit: measured, not assumed."""
    typical = device_strength(runner, Gf180mcu())
    got = {c: device_strength(runner, Gf180mcu(corner=c)) for c in ("ff", "ss", "fs", "sf")}
    faster = {c: (n > typical[0], p > typical[1]) for c, (n, p) in got.items()}
    assert faster == {"ff": (True, True), "ss": (False, False), "fs": (True, False), "sf": (False, True)}
    assert 50e-6 < typical[0] < 1e-3 and 5e-6 < typical[1] < 2e-4  # W/L = 10/1 at |V_GS| = 1.2 V
    hot = device_strength(runner, Gf180mcu(temp_c=125.0))
    assert hot[0] < typical[0]  # mobility falls with temperature at this overdrive
