"""The compiled twin steps' float64 tanh: its accuracy and its edge cases."""

import math

import numpy as np
from numba import njit

from analogopt.reference import twin_kernel


@njit(error_model="numpy", fastmath=twin_kernel.FASTMATH)  # as the kernels compile it
def _tanh_all(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = twin_kernel.tanh(x[i])
    return out


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_tanh_is_within_4_ulp_of_the_c_library_everywhere():
    """Uniform over the whole unsaturated range, log-uniform down to subnormals (where tanh x = x), and
    dense around where it saturates."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-22, 22, 100_000),
                        rng.choice([-1, 1], 100_000) * 10.0 ** rng.uniform(-320, 0.5, 100_000),
                        np.linspace(18.5, 20.5, 20_001), -np.linspace(18.5, 20.5, 20_001)])
    got = _tanh_all(x)
    want = np.array([math.tanh(v) for v in x])
    assert np.max(_ulps(got, want)) <= 4
    assert np.mean(_ulps(got, want)) < 1  # mostly exact: a systematic error would show here
    assert np.all(np.sign(got) == np.sign(want))


def test_tanh_saturates_exactly_and_keeps_signed_zeros_and_nan():
    x = np.array([19.1, 20.0, 21.0, 1e300, np.inf, -19.1, -np.inf, 0.0, -0.0, np.nan, -np.nan])
    got = _tanh_all(x)
    assert np.array_equal(got[:5], np.ones(5)) and np.array_equal(got[5:7], -np.ones(2))
    assert got[7] == 0.0 and not np.signbit(got[7]) and got[8] == 0.0 and np.signbit(got[8])
    assert np.isnan(got[9]) and np.isnan(got[10])
