"""Reader for IDX files, the format of the full MNIST distribution (``train-images-idx3-ubyte`` …).

Layout: two zero bytes, a type code, the number of dimensions ``n``; then ``n`` big-endian uint32 sizes;
then the data, big-endian, row-major. Gzipped files (``.gz``) are read transparently.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import ConfigError

#: IDX type code → numpy big-endian dtype
IDX_TYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a native-endian numpy array of its stored shape."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"IDX file {path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ConfigError(f"IDX file {path}: bad magic number (expected 0x00 0x00 <type> <ndim>)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ConfigError(f"IDX file {path}: unknown data type code 0x{code:02x}; known: {', '.join(f'0x{c:02x}' for c in IDX_TYPES)}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ConfigError(f"IDX file {path}: truncated header ({len(raw)} bytes, {ndim} dimensions)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ConfigError(f"IDX file {path}: shape {shape} needs {expected} data bytes, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); used to make test fixtures."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ConfigError(f"write_idx: dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(IDX_TYPES[codes[native]]).tobytes()
    path = Path(path)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as fh:
        fh.write(data)
    return path


def load_mnist_idx(directory: str | Path, *, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images (float32 in [0, 1], shape (N, 784)) and labels (int64) from a full-MNIST folder.

    Looks for ``{train,t10k}-images-idx3-ubyte`` and ``…-labels-idx1-ubyte``, gzipped or not.
    """
    prefix = {"train": "train", "test": "t10k"}.get(kind)
    if prefix is None:
        raise ConfigError(f"kind must be 'train' or 'test', got {kind!r}")
    directory = Path(directory)

    def find(stem: str) -> Path:
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            if (directory / name).exists():
                return directory / name
        raise ConfigError(f"MNIST folder {directory}: missing {stem} (or {stem}.gz)")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ConfigError(f"MNIST folder {directory}: images {images.shape} and labels {labels.shape} do not match")
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)
