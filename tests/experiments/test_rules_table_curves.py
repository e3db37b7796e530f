"""A rules table whose seeds' runs stop at different epochs (a run that diverges stops where it did): each
epoch of the mean curves averages the runs that reached it and says how many did, and a reproduced table
names the lines whose seeds diverged."""

from __future__ import annotations

import math

import pytest

from analogopt.experiments.rules_table import CURVES, seed_mean_curves


def history(train_loss: list[float]) -> dict:
    n = len(train_loss)
    return {"train_accuracy": [0.5] * n, "test_accuracy": [0.25 * (k + 1) for k in range(n)],
            "train_loss": train_loss, "test_loss": [2.0 * v for v in train_loss]}


def test_epochs_average_the_runs_that_reached_them():
    long, diverged = history([1.0, 0.5, 0.25, 0.125, 0.0625]), history([3.0, 2.5, float("nan")])
    curves = seed_mean_curves([long, diverged])
    assert set(curves) == {*CURVES, "seeds_per_epoch"}
    assert curves["seeds_per_epoch"] == [2, 2, 2, 1, 1]
    assert curves["train_loss"][:2] == pytest.approx([2.0, 1.5]) and curves["train_loss"][3:] == [0.125, 0.0625]
    assert math.isnan(curves["train_loss"][2])  # the diverged run's last loss is not dropped from its epoch
    assert curves["test_accuracy"] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25])
    assert curves["test_loss"][:2] == pytest.approx([4.0, 3.0])


def test_equal_lengths_are_the_plain_mean():
    a, b = history([1.0, 0.5]), history([3.0, 1.5])
    curves = seed_mean_curves([a, b])
    assert curves["train_loss"] == [2.0, 1.0] and curves["seeds_per_epoch"] == [2, 2]


def test_a_reproduced_table_says_which_lines_diverged():
    from analogopt.reproduction.tables import diverged, table_rows

    line = {"train_mean": 7.2, "train_sd": 4.8, "test_mean": 7.0, "test_sd": 4.9}
    metrics = {"seeds": [0, 1, 2], "table": {"FA": {**line, "diverged_runs": 3}, "BP": {**line, "diverged_runs": 0}}}
    rows = dict((label, note) for label, _, _, note in table_rows(metrics, {}, note="lr 0.1"))
    assert rows == {"FA": "train 7.20 ± 4.80 %; 3 of 3 seeds diverged; lr 0.1", "BP": "train 7.20 ± 4.80 %; lr 0.1"}
    assert diverged(metrics, "BP") == ""
