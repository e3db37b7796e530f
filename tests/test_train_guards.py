"""``analogopt.train``'s guards: a loss that explodes is a divergence even while it stays finite, and the
memory estimate that refuses a network this machine cannot hold before any layer is allocated."""

import pytest

from analogopt.errors import ConfigError, ResourceLimitError
from analogopt.train import DIVERGENCE_FACTOR, TrainConfig, size_estimate, train


def test_a_finite_but_exploding_loss_is_a_divergence():
    cfg = TrainConfig.from_dict({"rule": "bp", "data": "iris", "hidden": [8], "epochs": 3, "lr": 1e3})
    result = train(cfg)
    assert result["diverged"] and result["train_loss"][-1] > DIVERGENCE_FACTOR * result["train_loss"][0]
    assert len(result["epochs"]) == 2  # stopped after the epoch that blew up
    calm = train(TrainConfig.from_dict({"rule": "bp", "data": "iris", "hidden": [8], "epochs": 3, "lr": 0.1}))
    assert not calm["diverged"] and len(calm["epochs"]) == 4


def test_the_memory_estimate_counts_layers_and_the_recorded_data_set():
    small = size_estimate(TrainConfig.from_dict({"data": "iris", "hidden": [8]}))
    # 4-8-3: 67 parameters; 150 samples through 15 units
    assert small.memory_bytes == 4.0 * (4 * ((4 + 1) * 8 + (8 + 1) * 3) + 3 * 150 * (4 + 8 + 3))
    big_batch = size_estimate(TrainConfig.from_dict({"data": "iris", "hidden": [8], "batch_size": 10**9}))
    assert big_batch.memory_bytes == small.memory_bytes  # a batch never holds more than the data set
    huge = size_estimate(TrainConfig.from_dict({"data": "iris", "hidden": [100_000_000]}))
    with pytest.raises(ResourceLimitError, match=r"layers 4-100000000-3: needs about"):
        huge.check(available_bytes=32e9)
    small.check(available_bytes=32e9)


@pytest.mark.parametrize("values, pattern", [
    ({"lr": 1e300}, r"lr: must be in \(0, 1000\]"),
    ({"data": "digits", "data_dir": "/somewhere"}, r"data_dir: data 'digits' ships with the package"),
])
def test_config_refuses_what_it_would_overflow_or_ignore(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainConfig.from_dict(values)
