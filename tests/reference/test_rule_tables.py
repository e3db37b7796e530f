"""The paper orderings on reduced settings: real training runs through the shipped scenarios (so they can fail)."""

from __future__ import annotations

import pytest

from analogopt.experiments import build_experiment
from analogopt.scenarios import load_scenario


def _checks(name: str, overrides: list[str], seeds: list[int] | None = None) -> dict:
    exp = build_experiment(load_scenario(name, overrides))
    if seeds is not None:
        exp.seeds = seeds
    return exp.evaluate()


@pytest.mark.slow
def test_001_table_ordering_reduced():
    """001 Table 1 ordering on 2,000 MNIST-subset samples, 12 epochs, 2 seeds: BP ≥ RBP ≈ SRBP ≫ top-only,
    SRBP no-f' below SRBP, 1-bit error well above top-only. (RBP vs RBP no-f' needs the full 40 epochs.)"""
    m = _checks("rules_mnist_table", ["base.epochs=12", "base.train_limit=2000"], seeds=[0, 1])
    got = {c["check"].split(" (")[0]: c["holds"] for c in m["checks"]}
    t = m["table"]
    assert got["BP >= RBP"] and got["BP >= SRBP"] and got["RBP approx SRBP"], m["checks"]
    assert got["SRBP >= Top layer only"] and got["SRBP 1-bit error >= Top layer only"], m["checks"]
    assert t["SRBP (no f')"]["train_mean"] < t["SRBP"]["train_mean"]


@pytest.mark.slow
def test_004_mdfa_binary_matches_bp_and_beats_dfa():
    m = _checks("rules_mdfa_binary", [])
    assert all(c["holds"] for c in m["checks"]), m["checks"]


@pytest.mark.slow
def test_004_mdfa_is_level_with_dfa_and_below_bp_on_ten_classes():
    """004 Tables 3–4 at 10 classes: mDFA within the tables' spread of DFA (the shipped checks, 3 points),
    below BP on the training set."""
    m = _checks("rules_mdfa_10class", ["base.epochs=20"])
    assert all(c["holds"] for c in m["checks"]), m["checks"]
    assert m["table"]["mDFA"]["train_mean"] < m["table"]["BP"]["train_mean"] - 0.5


@pytest.mark.slow
def test_004_mdfa_beats_zero_init_dfa_on_a_hard_binary_task():
    """004 Table 1's training-accuracy advantage on MNIST 0–4 against 5–9 (the shipped check, 2 points),
    and the mechanism: DFA from a random init does not fall behind, so the zero init is what loses."""
    m = _checks("rules_mdfa_binary_hard", [])
    assert all(c["holds"] for c in m["checks"]), m["checks"]
    t = m["table"]
    assert t["DFA (scaled normal init)"]["train_mean"] > t["DFA (zero init)"]["train_mean"] + 2.0


@pytest.mark.slow
def test_002_reciprocal_close_to_bp():
    """002 Table 1 on the shipped scenario (BP and reciprocal rows, 3 seeds, 15 epochs): reciprocal within
    the scenario's 3.5 points of BP. The gap is 2.8-3.2 points depending on float rounding (BP's last
    epoch is where it finishes fitting the training set); the scenario's description has the numbers."""
    exp = build_experiment(load_scenario("rules_reciprocal", []))
    exp.rows = [r for r in exp.rows if r.label in ("BP", "Reciprocal")]
    m = exp.evaluate()
    assert [c["holds"] for c in m["checks"]] == [True], m["checks"]
    assert "allowing 3.5 pts" in m["checks"][0]["check"], m["checks"]  # widen only with new measurements
    assert m["table"]["Reciprocal"]["test_mean"] > 85.0
