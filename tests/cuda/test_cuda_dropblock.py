"""DropBlock's CUDA kernels, bit for bit against the CPU kernels and tests/naive_dropblock.py.

Small inputs (the simulator runs kernels as Python), 32-thread blocks and a
3-block grid (conftest.py), so the grid-stride loops run several times.
"""

from __future__ import annotations

import naive_dropblock
import numpy as np
import pytest
from gpuarrays import to_gpu, to_host

import numbadrop as nd

CASES = [((2, 3, 6, 7), 3, 0.5), ((1, 2, 5, 4), 1, 0.3), ((1, 2, 4, 5, 5), 3, 0.6)]


def data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def function(ndim: int):
    return nd.drop_block2d if ndim == 4 else nd.drop_block3d


def same_bits(actual, expected):
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


@pytest.mark.parametrize("shape, bs, p", CASES)
def test_forward_and_backward(shape, bs, p):
    x = data(shape, np.float32)
    rng = nd.Generator(3, 5)
    y, state = function(len(shape))(to_gpu(x), p, bs, rng=rng, return_state=True)
    expected, scale = naive_dropblock.drop_block(x, p, bs, 3, 5)
    same_bits(to_host(y), expected)
    assert state.scale == scale
    grad = data(shape, np.float32, seed=1)
    same_bits(to_host(state.backward(to_gpu(grad))), state.backward(grad))


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_dtypes_and_inplace(dtype):
    x = data((2, 2, 5, 6), dtype)
    expected = nd.drop_block2d(x, 0.4, 3, rng=7)
    dx = to_gpu(x)
    y = nd.drop_block2d(dx, 0.4, 3, inplace=True, rng=7)
    assert y is dx
    same_bits(to_host(dx), expected)


def test_non_contiguous_gpu_input_is_refused():
    x = to_gpu(data((1, 1, 6, 8), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        nd.drop_block2d(x[:, :, :, ::2], 0.4, 3, rng=7)
