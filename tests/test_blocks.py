"""Chunking never changes a mask: blocks of an array, launched with the global mask
strides and the block's global start index, reproduce the whole-array result.

``numbadrop.backends.launch(x_block, y_block, op, p, seed, offset, strides, start)``
is the entry point a chunked caller (dask, a streaming loop) uses.
"""

from __future__ import annotations

import itertools

import naive
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numbadrop import backends as _engine
from numbadrop._core import geometry as _geometry

UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
OPS = ["dropout", "alpha", "alpha_grad", "mask"]


def assert_identical(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    uint = UINT[actual.dtype.itemsize]
    a, e = np.ascontiguousarray(actual).view(uint), np.ascontiguousarray(expected).view(uint)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


def naive_op(op, x, p, seed, offset, broadcast):
    """The contract's result of ``op`` on the whole array ``x``."""
    if op == "dropout":
        return naive.dropout(x, p, seed, offset, broadcast)
    if op == "alpha":
        return naive.alpha_dropout(x, p, seed, offset, broadcast)
    if op == "alpha_grad":
        return naive.alpha_dropout_grad(x, p, seed, offset, broadcast)
    return np.ascontiguousarray(naive.broadcast_mask(x.shape, broadcast, p, seed, offset))


def whole(op, x, p, seed, offset, broadcast):
    y = np.empty(x.shape, np.bool_ if op == "mask" else x.dtype)
    _engine.launch(x, y, op, p, seed, offset, _geometry.mask_strides(x.shape, broadcast))
    return y


def launch_block(op, x, y, index, p, seed, offset, broadcast):
    """Launch on ``x[index]`` -> ``y[index]`` with the global strides and start."""
    strides = _geometry.mask_strides(x.shape, broadcast)
    start = sum(s.start * m for s, m in zip(index, strides, strict=True))
    xb, yb = x[index], y[index]
    _engine.launch(xb, yb, op, p, seed, offset, strides, start)


def data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    if x.size > 3:
        x.reshape(-1)[::7] = np.nan
        x.reshape(-1)[3::11] = -np.inf
    return x


def grid(shape, cuts):
    """All blocks of a grid that cuts axis ``a`` at the positions ``cuts[a]``."""
    edges = [[0, *sorted(set(c)), n] for c, n in zip(cuts, shape, strict=True)]
    spans = [[slice(a, b) for a, b in itertools.pairwise(e) if b > a] for e in edges]
    return list(itertools.product(*spans))


CASES = [
    # (shape, broadcast axes, grid cuts per axis)
    ((1001,), (), [[1, 2, 3, 5, 6, 9, 13, 500, 998]]),
    ((37, 53), (), [[5, 6, 20], [1, 3, 7, 26, 50]]),
    ((6, 7, 45), (2,), [[1, 4], [3, 5], [2, 9, 33]]),  # channel dropout 1d: cuts through channels
    ((3, 5, 6, 7), (2, 3), [[1], [2, 3], [5], [3, 4]]),  # dropout2d mask (N, C, 1, 1)
    ((4, 3, 2, 5, 7), (1,), [[1, 3], [1], [1], [2], [3, 5]]),  # broadcast in the middle, rank 5
    ((2, 3, 2, 3, 2, 9), (), [[1], [2], [1], [1, 2], [1], [3, 7]]),  # rank 6: leading-dims loop
]


OP_DTYPES = [(op, dtype) for op in OPS[:3] for dtype in (np.float16, np.float32, np.float64)]
OP_DTYPES.append(("mask", np.float32))  # the mask does not depend on the data dtype


@pytest.mark.parametrize(("op", "dtype"), OP_DTYPES, ids=lambda v: v if isinstance(v, str) else np.dtype(v).name)
@pytest.mark.parametrize(("shape", "broadcast", "cuts"), CASES, ids=lambda v: str(v))
def test_grid_of_blocks_reproduces_whole_array(shape, broadcast, cuts, op, dtype):
    p, seed, offset = 0.45, 2**64 - 99, 2**63 + 5
    x = data(shape, dtype)
    expected = naive_op(op, x, p, seed, offset, broadcast)
    assert_identical(whole(op, x, p, seed, offset, broadcast), expected)
    y = np.full(shape, 7, expected.dtype)
    blocks = grid(shape, cuts)
    assert len(blocks) > 2
    for index in blocks:
        launch_block(op, x, y, index, p, seed, offset, broadcast)
    assert_identical(y, expected)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_=st.data(), op=st.sampled_from(OPS), seed=st.integers(0, 2**64 - 1), offset=st.integers(0, 2**64 - 1))
def test_random_block_matches_whole_array(data_, op, seed, offset):
    draw = data_.draw
    shape, broadcast, _ = draw(st.sampled_from(CASES))
    p = draw(st.sampled_from([1e-6, 0.3, 0.5, 0.97]))
    index = []
    for n in shape:
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        index.append(slice(a, b))
    index = tuple(index)
    x = data(shape, np.float32, seed=7)
    expected = naive_op(op, x, p, seed, offset, broadcast)
    fill = np.full(shape, 3, expected.dtype)
    y = fill.copy()
    launch_block(op, x, y, index, p, seed, offset, broadcast)
    assert_identical(y[index], expected[index])
    # nothing outside the block was written
    outside = np.ones(shape, bool)
    outside[index] = False
    assert_identical(y[outside], fill[outside])


def test_strided_blocks_and_blocks_of_a_transposed_array():
    """Blocks need not be contiguous: a block of a transposed array, written into a
    block of an output with its own (reversed) layout."""
    shape, broadcast = (40, 33, 5), (2,)
    p, seed, offset = 0.5, 12, 34
    x = data(shape, np.float64)[::-1, :, ::-1]  # negative strides
    assert x.strides[0] < 0
    expected = naive_op("dropout", x, p, seed, offset, broadcast)
    y = np.empty(shape[::-1], np.float64).T  # F-ordered output
    for index in grid(shape, [[3, 17, 18], [1, 2, 30], [2]]):
        launch_block("dropout", x, y, index, p, seed, offset, broadcast)
    assert_identical(y, expected)


def test_blocks_in_place():
    shape, p, seed = (9, 130), 0.3, 99
    x = data(shape, np.float32)
    expected = naive_op("dropout", x, p, seed, 0, ())
    for index in grid(shape, [[2, 3, 7], [1, 2, 3, 5, 64, 127]]):
        launch_block("dropout", x, x, index, p, seed, 0, ())
    assert_identical(x, expected)


def test_block_of_a_huge_virtual_array():
    """A block far into an array too big to hold: its words come from groups beyond 2**32."""
    total = (2**20, 2**20, 64)  # 2**46 elements
    strides = _geometry.mask_strides(total, ())
    starts = (2**20 - 3, 12345, 5)  # a (2, 3, 50) block
    x = data((2, 3, 50), np.float32)
    y = np.empty_like(x)
    start = sum(a * s for a, s in zip(starts, strides, strict=True))
    _engine.launch(x, y, "dropout", 0.5, 77, 88, strides, start)
    for i, j in np.ndindex(2, 3):
        row_start = start + i * strides[0] + j * strides[1]
        keep = naive.words(50, 77, 88, row_start) >= np.uint64(2**31)
        expected = np.where(keep, x[i, j] * np.float32(2), np.float32(0))
        assert_identical(y[i, j], expected)
