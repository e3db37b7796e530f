"""The Comparison object (issue 12 item 4): its numbers, its table, its figures, its one metrics writer."""

import json

import numpy as np
import pytest

from analogopt.cosim.comparison import (
    PAIRS, Comparison, Group, PlotOptions, Signal, TwinValidity, plot_options, read_trajectories, write_metrics,
)
from analogopt.errors import ConfigError
from analogopt.results import RunDirectory
from analogopt.units import quantity, si_scale
from analogopt.values import Table

VALID = TwinValidity(True, "exact")


def ramp_group(name="g", offset=0.0, ideal_shift=None):
    t = np.linspace(0.0, 1e-3, 11)
    a = np.linspace(0.0, 2.0, 11)  # range 2 V
    twin = a + offset * (t > 0.5e-3)
    ideal = None if ideal_shift is None else a + ideal_shift
    flat = np.full(11, 0.5)  # range 0: its scale is floored at 1e-3 of the group's range
    return Group(name, "time", "s", t, "V",
                 (Signal("a", a, twin, ideal), Signal("flat", flat + 1e-6, flat, None if ideal is None else flat)),
                 twin="test twin", ideal="test ideal" if ideal is not None else "", iteration=np.arange(11))


def test_deviations_are_fractions_of_each_signals_range():
    g = ramp_group(offset=0.01, ideal_shift=0.04)
    d = g.deviation("analog", "twin")
    assert d["max_abs"] == pytest.approx(0.01)
    assert d["final_abs"] == pytest.approx(0.01)
    # signal "a": 0.01 over the reference's (the twin's) range 2.01 V; "flat": 1e-6 over a floored 1e-3·2.01 V
    assert d["max_fraction_of_range"] == pytest.approx(0.01 / 2.01) and d["worst_signal"] == "a"
    assert g.deviation("analog", "ideal")["max_abs"] == pytest.approx(0.04)
    assert g.deviation("twin", "ideal")["max_abs"] == pytest.approx(0.04)
    assert g.deviation("twin", "ideal")["final_abs"] == pytest.approx(0.03)


def test_a_flat_signal_is_judged_on_the_floored_range():
    g = ramp_group(offset=0.0)
    d = g.deviation("analog", "twin")
    assert d["worst_signal"] == "flat"
    assert d["max_fraction_of_range"] == pytest.approx(1e-6 / 2e-3)


def test_shared_keys_and_worst_group():
    c = Comparison((ramp_group("small", 0.001, 0.0), ramp_group("large", 0.1, 0.0)), VALID)
    m = c.metrics()
    for pair, _, _ in PAIRS:
        assert {"max_fraction_of_range", "final_fraction_of_range", "rms_fraction_of_range", "worst_group"} <= set(m[pair])
    assert m["analog_vs_twin"]["worst_group"] == "large"
    assert m["analog_vs_twin"]["max_fraction_of_range"] == pytest.approx(0.1 / 2.1)
    assert m["groups"]["small"]["analog_vs_twin"]["max_abs"] == pytest.approx(0.001)
    assert m["twin_valid"] is True
    row = c.row()
    assert row["comparison.analog_vs_twin.max_fraction_of_range"] == pytest.approx(0.1 / 2.1)


def test_without_an_ideal_the_twin_is_the_ideal_and_it_is_said():
    g = ramp_group(offset=0.02)
    m = Comparison((g,), VALID).metrics()["groups"]["g"]
    assert m["ideal_is_twin"] is True and "the twin" in m["ideal"]
    assert m["analog_vs_ideal"] == m["analog_vs_twin"]
    assert m["twin_vs_ideal"]["max_abs"] == 0.0


def test_shapes_and_names_are_checked():
    t = np.arange(5.0)
    with pytest.raises(ValueError, match="axis has 5 points"):
        Group("g", "time", "s", t, "V", (Signal("a", t, t[:4]),), twin="x")
    with pytest.raises(ValueError, match="no signals"):
        Group("g", "time", "s", t, "V", (), twin="x")
    with pytest.raises(ValueError, match="distinct"):
        Comparison((ramp_group("g"), ramp_group("g")), VALID)


def test_parquet_holds_every_point_of_every_side(tmp_path):
    c = Comparison((ramp_group("one", 0.01, 0.02), ramp_group("two")), VALID)
    with RunDirectory(tmp_path / "r") as out:
        write_metrics(out, {"kind": "test"}, c, PlotOptions(log_axis=True))
    table = read_trajectories(tmp_path / "r" / "trajectories.parquet")
    assert len(table) == 2 * 2 * 11
    assert {"group", "axis", "axis_unit", "x", "iteration", "signal", "unit", "analog", "twin", "ideal"} <= set(table)
    one = table[(table.group == "one") & (table.signal == "a")].sort_values("x")
    assert np.allclose(one.analog.to_numpy(), np.linspace(0, 2, 11))
    assert np.allclose(one.ideal.to_numpy() - one.analog.to_numpy(), 0.02)
    assert table[table.group == "two"].ideal.isna().all()  # no ideal: NaN, the twin stands in
    assert (tmp_path / "r" / "compare_one.png").stat().st_size > 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["comparison"]["groups"]["one"]["analog_vs_twin"]["max_abs"] == pytest.approx(0.01)
    assert m["twin_validity"] == {"valid": True, "note": "exact"} and m["warnings"] == []


def test_an_invalid_twin_adds_its_warning_once(tmp_path):
    bad = TwinValidity(False, "too coarse", {"loop_gain": 3.0}, warning="s: the twin is outside its valid regime")
    c = Comparison((ramp_group(),), bad)
    with RunDirectory(tmp_path / "r") as out:
        m = write_metrics(out, {"warnings": ["s: the twin is outside its valid regime"]}, c)
    assert m["warnings"] == ["s: the twin is outside its valid regime"]
    assert m["comparison"]["twin_valid"] is False and m["twin_validity"]["loop_gain"] == 3.0
    assert "**Warning: the twin is outside its valid regime**" in "\n".join(c.report_section())


def test_figures_show_a_stated_subset():
    g = Group("many", "entry", "", np.arange(4.0), "",
              tuple(Signal(f"s{k}", np.arange(4.0) + k, np.arange(4.0) + k) for k in range(12)), twin="t")
    figs = Comparison((g,), VALID).figures(PlotOptions(max_signals=3))
    fig = figs["compare_many.png"]
    assert "showing 3 of 12 signals" in fig.axes[0].get_title()
    worst = Group("worst", "entry", "", np.arange(4.0), "",
                  tuple(Signal(f"s{k}", np.arange(4.0) + (k == 9), np.arange(4.0)) for k in range(12)), twin="t")
    drawn = [l.get_label() for l in Comparison((worst,), VALID).figures(PlotOptions(max_signals=3))[
        "compare_worst.png"].axes[0].lines]
    assert "s9 analog (ngspice)" in drawn  # the worst signal is drawn even beyond max_signals
    chosen = Comparison((g,), VALID).figures(PlotOptions(signals=("s7",)))["compare_many.png"]
    labels = [line.get_label() for line in chosen.axes[0].lines]
    assert any(label.startswith("s7 analog") for label in labels) and not any(l.startswith("s0") for l in labels)


def test_plot_table_is_read_strictly():
    assert plot_options(Table({}, "s.plot")) == PlotOptions()
    opts = plot_options(Table({"x_scale": "log", "signals": ["w0"], "max_signals": 4}, "s.plot"))
    assert opts == PlotOptions(log_axis=True, signals=("w0",), max_signals=4)
    assert plot_options(Table({"x_scale": "linear"}, "s.plot")).log_axis is False
    with pytest.raises(ConfigError, match="x_scale"):
        plot_options(Table({"x_scale": "logarithmic"}, "s.plot"))
    with pytest.raises(ConfigError, match="log_axis"):
        plot_options(Table({"log_axis": True}, "s.plot"))
    with pytest.raises(ConfigError, match="max_signals"):
        plot_options(Table({"max_signals": 0}, "s.plot"))


def test_display_units():
    assert quantity(3.2e-7, "V") == "320 nV"
    assert quantity(0.0216, "V²") == "2.16e-02 V²"  # no prefix on a compound unit
    assert si_scale([2e-3, 1e-3], "s") == (1e-3, "ms")
    assert si_scale([5.0], "") == (1.0, "")
