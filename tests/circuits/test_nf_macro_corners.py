"""The macro NF loop as built at a corner and as one Monte Carlo chip (issue 13, Build 5), read off the
netlist: temperature through the parts' tempcos, gm_scale, supply_scale, and per-instance offsets
drawn from the sample seed. No simulation here (tests/sweep/test_macro_corners_sweep.py simulates)."""

import re

import numpy as np
import pytest

from analogopt.circuits.nf_macro import MacroParts, instance_names
from analogopt.cosim.nf_single import build_loop
from analogopt.errors import ConfigError
from analogopt.experiments.nf_mismatch import Mismatch, draw_mismatch, mismatch_of
from analogopt.experiments.nf_single import NFSingleExperiment
from analogopt.scenarios import load_scenario
from analogopt.units import parse_si


def _experiment(*sets: str, name: str = "nf_staircase") -> NFSingleExperiment:
    return NFSingleExperiment.from_scenario(load_scenario(name, ["circuit.level='macro'", "loop.iterations=300",
                                                                 *sets]))


def _netlist(e: NFSingleExperiment, problem=None, parts=None) -> str:
    return build_loop(problem or e.problem, macro=parts or e.macro).deck.format()


def _values(netlist: str, pattern: str) -> dict[str, float]:
    """Element name → value of every line whose name matches ``pattern`` (value: the last field)."""
    out = {}
    for line in netlist.splitlines():
        fields = line.split()
        if fields and re.fullmatch(pattern, fields[0]):
            out[fields[0]] = parse_si(fields[-1], fields[0])
    return out


def _gm(netlist: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^B(ota\d+m?)_out \S+ \S+ i=([^*]+)\*", netlist, re.M)}


def test_temperature_gm_scale_and_supply_shift_the_parts_not_the_design():
    nominal = _netlist(_experiment())
    hot = _netlist(_experiment("circuit.temperature_c=125", "circuit.g_tc_per_k=1e-3"))
    dt = 125 - 27
    for name, gm in _gm(hot).items():
        assert gm == pytest.approx(_gm(nominal)[name] * (1 - 2.5e-3 * dt), rel=1e-6)
    caps_hot, caps = _values(hot, r"Cw\d+"), _values(nominal, r"Cw\d+")
    assert caps_hot == pytest.approx({k: v * (1 + 30e-6 * dt) for k, v in caps.items()}, rel=1e-6)
    # crosspoint resistors follow g_tc; the summing resistors R_z, R_e (the design) stay put
    xbar_hot, xbar = _values(hot, r"R(xp|xn|up|un)_\d+_\d+"), _values(nominal, r"R(xp|xn|up|un)_\d+_\d+")
    assert xbar_hot == pytest.approx({k: v / (1 + 1e-3 * dt) for k, v in xbar.items()}, rel=1e-6)
    assert _values(hot, r"R[ze]\w*\d+") == _values(nominal, r"R[ze]\w*\d+")
    # nf_staircase assumes a 2 µV/K offset drift: 0.196 mV at 125 °C on every OTA, none at 27 °C
    assert _values(hot, r"Vota\d+_os") == pytest.approx({"Vota0_os": 2e-6 * dt, "Vota1_os": 2e-6 * dt})
    assert not _values(nominal, r"Vota\d+_os")
    slow = _netlist(_experiment("circuit.gm_scale=0.8", "circuit.supply_scale=0.9"))
    assert _gm(slow) == pytest.approx({k: 0.8 * v for k, v in _gm(nominal).items()}, rel=1e-9)
    assert _values(slow, "V(dd|ref)") == pytest.approx({"Vdd": 2.97, "Vref": 1.485})
    # the reference tracks the supply: every weight starts at ref + s_w·w0 about the new reference
    ic = re.search(r"^\.ic v\(w0\)=(\S+)", slow, re.M).group(1)
    assert parse_si(ic, "ic") == pytest.approx(1.485 + 0.25 * 0.3)


def test_operating_point_checks():
    with pytest.raises(ConfigError, match="supply_scale must be a finite number > 0"):
        MacroParts(supply_scale=0)
    with pytest.raises(ConfigError, match="leaves the OTA no swing"):
        MacroParts(supply_scale=0.05)
    with pytest.raises(ConfigError, match="names no instance of this loop: ota7"):
        e = _experiment()
        _netlist(e, parts=MacroParts(mismatch_offsets_v=(("ota7", 1e-3),)))


def test_each_ota_and_op_amp_gets_its_own_offset_from_the_sample_seed():
    e = _experiment()
    mismatch = mismatch_of(e.scenario.config)  # σ: 2 mV per OTA, 1 mV per op-amp, relative gm, C, G
    problem, parts = draw_mismatch(mismatch, e.problem, e.macro, seed=11)
    text = _netlist(e, problem, parts)
    ota = _values(text, r"Vota\d+_os")
    otas, amps = instance_names(e.problem)
    assert sorted(ota) == [f"V{n}_os" for n in otas] and len(set(ota.values())) == len(otas)
    assert all(0 < abs(v) < 5 * 2e-3 for v in ota.values())
    opamp = _values(text, r"Vos_\w+")
    assert sorted(opamp) == sorted(f"Vos_{n}" for n in amps) and len(set(opamp.values())) == len(amps)
    # the op-amp's source sits in series with its non-inverting input: the summing amp of row 0 sees ref + V_os
    assert re.search(r"^Vos_z0 z0_os ref ", text, re.M) and re.search(r"^Xz0 z0_os s0 z0 ", text, re.M)
    assert np.std(list(opamp.values())) == pytest.approx(1e-3, rel=0.3)  # 4·2 + 61 = 69 op-amps
    # per-instance gm, C and G mismatch go into the problem (the twin steps the same chip)
    assert not np.allclose(problem.weight_gains, e.problem.weight_gains)
    assert not np.allclose(problem.data_matrix, e.problem.data_matrix)
    # the same seed is the same chip, another seed another one
    assert _netlist(e, *draw_mismatch(mismatch, e.problem, e.macro, seed=11)) == text
    assert _values(_netlist(e, *draw_mismatch(mismatch, e.problem, e.macro, seed=12)), r"Vota\d+_os") != ota


def test_each_parameter_draws_from_its_own_stream():
    e = _experiment()
    sigmas = mismatch_of(e.scenario.config).sigmas
    alone = draw_mismatch(Mismatch({"ota_offset_v": sigmas["ota_offset_v"]}), e.problem, e.macro, seed=5)[1]
    together = draw_mismatch(Mismatch(sigmas), e.problem, e.macro, seed=5)[1]
    ota = lambda parts: [v for n, v in parts.mismatch_offsets_v if n.startswith("ota")]  # noqa: E731
    assert ota(alone) == ota(together)
    # an empty table is the nominal chip itself
    assert draw_mismatch(Mismatch({}), e.problem, e.macro, seed=5) == (e.problem, e.macro)


def test_a_cascade_loop_names_both_otas_of_each_weight():
    e = _experiment(name="nf_momentum")
    otas, _ = instance_names(e.problem)
    assert otas[:2] == ["ota0m", "ota0"]
    problem, parts = draw_mismatch(mismatch_of(e.scenario.config), e.problem, e.macro, seed=1)
    assert sorted(_values(_netlist(e, problem, parts), r"Vota\d+m?_os")) == sorted(f"V{n}_os" for n in otas)
