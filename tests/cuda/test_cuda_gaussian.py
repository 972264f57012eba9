"""The Gaussian dropout / noise CUDA kernel, bit for bit against tests/naive_normal.py (and so the CPU).

Runs under ``NUMBA_ENABLE_CUDASIM=1`` (see conftest.py: 32-thread blocks, a
3-block grid, so the grid-stride loop runs several trips) and on a real GPU
with ``NUMBADROP_TEST_GPU=1``. Small inputs: the simulator runs the kernel as
Python.
"""

from __future__ import annotations

import naive_normal as ref
import numpy as np
import pytest
from gpuarrays import assert_identical, to_gpu, to_host

import numbadrop as nd
from numbadrop import backends

VIEWS = {
    "contiguous": lambda a: a,
    "offset": lambda a: a.reshape(-1)[1:],  # the first element is not a group's first
    "transposed": lambda a: a.T,
    "stepped": lambda a: a[..., ::2],
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_kernel_matches_the_reference(view, dtype):
    host = np.random.default_rng(1).standard_normal((6, 11)).astype(dtype)
    x = VIEWS[view](host)
    xg = VIEWS[view](to_gpu(host))
    expected = ref.gaussian_dropout(np.ascontiguousarray(x), 0.3, 2**63 + 5, 2**32 + 1)
    y = nd.gaussian_dropout(xg, 0.3, rng=nd.Generator(2**63 + 5, 2**32 + 1))
    assert_identical(to_host(y), expected)
    y = nd.gaussian_noise(xg, 1.5, rng=nd.Generator(7, 3))
    assert_identical(to_host(y), ref.gaussian_noise(np.ascontiguousarray(x), 1.5, 7, 3))


def test_inplace_and_backward_on_the_gpu():
    host = np.random.default_rng(2).standard_normal((3, 37)).astype(np.float32)
    xg = to_gpu(host)
    y, state = nd.gaussian_dropout(xg, 0.5, True, True, rng=9, return_state=True)
    assert y is xg
    assert_identical(to_host(xg), ref.gaussian_dropout(host, 0.5, 9))
    assert_identical(to_host(state.backward(to_gpu(host))), ref.gaussian_dropout(host, 0.5, 9))


def test_blocks_with_a_global_start():
    host = np.random.default_rng(3).standard_normal((5, 9, 7)).astype(np.float64)
    whole = ref.gaussian_noise(host, 0.5, 4, 1)
    block = (slice(1, 4), slice(2, 8), slice(1, 6))
    xb = np.ascontiguousarray(host[block])
    yg = to_gpu(np.empty_like(xb))
    start = 1 * 63 + 2 * 7 + 1
    backends.launch(to_gpu(xb), yg, "gaussian_noise", 0.5, 4, 1, (63, 7, 1), start)
    assert_identical(to_host(yg), whole[block])
