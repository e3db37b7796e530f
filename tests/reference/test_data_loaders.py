"""The IDX reader on small files the test writes, and the offline MNIST subset."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from analogopt.data.idx import load_mnist_idx, read_idx, write_idx
from analogopt.errors import ConfigError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_idx_byte_layout_is_big_endian(tmp_path):
    # hand-made file: magic 0x00 0x00 0x0B (int16) 0x01, size 2, values 258 and −2 big-endian
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "x"), np.array([258, -2], dtype=np.int16))


BAD = [
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "bad magic"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "unknown data type"),
    (bytes([0, 0, 8, 2, 0, 0]), "truncated header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 3, 7]), "needs 3 data bytes"),
]


@pytest.mark.parametrize("raw,pattern", BAD)
def test_idx_rejects_bad_files(tmp_path, raw, pattern):
    (tmp_path / "bad").write_bytes(raw)
    with pytest.raises(ConfigError, match=pattern):
        read_idx(tmp_path / "bad")


def test_load_mnist_idx_folder(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    x, y = load_mnist_idx(tmp_path)
    assert x.shape == (7, 784) and x.dtype == np.float32
    np.testing.assert_allclose(x[3], imgs[3].reshape(-1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(ConfigError, match="missing t10k-images"):
        load_mnist_idx(tmp_path, kind="test")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 6]) + bytes(6))
    with pytest.raises(ConfigError, match="do not match"):
        load_mnist_idx(tmp_path, kind="test")


def test_mnist5k_subset():
    from analogopt.data.mnist import load_mnist5k

    s = load_mnist5k(test_fraction=0.2, seed=0)
    assert s.x_train.shape == (4000, 784) and s.x_test.shape == (1000, 784)
    assert 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    assert sorted(set(s.y_train.tolist())) == list(range(10))
    assert np.bincount(s.y_test).min() >= 80  # stratified
