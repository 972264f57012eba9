"""The short path of ``dropout(x, p, rng=...)`` (small C-contiguous float32/float64 arrays).

It must give what the general path gives -- the contract's bits (``tests/naive.py``)
and the same draws from a generator -- and step aside for everything it does not handle.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbadrop as nd
from numbadrop._core import tunables as _tunables
from numbadrop.backends import numpy as _host

SIZES = [1, 3, 4, 5, 2047, 2048, 2049, 8192, 8195, _tunables.SERIAL_CUTOFF - 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_small_path_matches_the_contract(n, dtype):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype).reshape(-1, 1) + 1
    gen = nd.Generator(11)
    gen.draw()  # offset 1: both halves of the stream offset reach the kernel
    y = nd.dropout(x, 0.3, rng=gen)
    np.testing.assert_array_equal(y, naive.dropout(x, 0.3, 11, 1))
    assert y.dtype == dtype and y.shape == x.shape and y.flags.c_contiguous
    assert gen.draw() == (11, 2)  # exactly one draw


def test_small_path_is_taken_and_agrees_with_the_general_path(monkeypatch):
    x = np.linspace(-1, 1, 32 * 256, dtype=np.float32).reshape(32, 256)
    seed = (1 << 40) + 12345  # both halves of the key
    taken = []
    original = _host.small_dropout

    def spy(*args):
        y = original(*args)
        taken.append(y is not None)
        return y

    monkeypatch.setattr(_host, "small_dropout", spy)
    fast = nd.dropout(x, 0.5, rng=seed)
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 0)  # the short path declines every array
    general = nd.dropout(x, 0.5, rng=seed)
    assert taken == [True, False]
    np.testing.assert_array_equal(fast, general)
    np.testing.assert_array_equal(fast, naive.dropout(x, 0.5, seed, 0))


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.T,  # not C-contiguous
        lambda x: x.astype(np.float16),
        lambda x: x.astype(">f4"),
        lambda x: x.view(np.matrix),
        lambda x: np.zeros((0, 3), np.float32),
        lambda x: np.ones(_tunables.SERIAL_CUTOFF, np.float32),
    ],
    ids=["transposed", "float16", "big-endian", "matrix", "empty", "at-cutoff"],
)
def test_other_arrays_take_the_general_path(make, monkeypatch):
    x = make(np.linspace(-1, 1, 6 * 8, dtype=np.float32).reshape(6, 8))
    original = _host.small_dropout
    results = []
    monkeypatch.setattr(_host, "small_dropout", lambda *a: results.append(original(*a)))
    y = nd.dropout(x, 0.5, rng=3)
    assert all(r is None for r in results)  # declined (or not asked): the general path computed y
    if x.dtype == np.float16:
        expected = naive.dropout(np.asarray(x), 0.5, 3)
    else:
        expected = naive.dropout(np.asarray(x).astype(x.dtype.newbyteorder("=")), 0.5, 3)
    np.testing.assert_array_equal(np.asarray(y), expected)


@pytest.mark.parametrize("p", [0.0, 1.0, 0.5, np.float32(0.5), 1, -0.1, float("nan")])
def test_edge_p_gives_what_the_general_path_gives(p):
    x = np.ones((4, 4), np.float32)
    if (isinstance(p, float) and not 0.0 <= p <= 1.0) or p != p:
        with pytest.raises(ValueError, match="p must be in"):
            nd.dropout(x, p, rng=0)
        return
    y = nd.dropout(x, p, rng=0)
    np.testing.assert_array_equal(y, naive.dropout(x, float(p), 0) if 0 < p < 1 else x * (p == 0))
    assert (y is x) == (p == 0)  # p = 0: x itself, like the general path


def test_bad_rng_raises_and_x_is_untouched():
    x = np.ones((4, 4), np.float32)
    with pytest.raises(TypeError, match="rng must be"):
        nd.dropout(x, 0.5, rng="seed")
    np.testing.assert_array_equal(x, 1)


@pytest.fixture
def small_path_results(monkeypatch):
    """What each call of the short path returned (None: it declined)."""
    results = []
    original = _host.small_dropout

    def spy(*args):
        done = original(*args)
        results.append(None if done is None else done[0])
        return done

    monkeypatch.setattr(_host, "small_dropout", spy)
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_on_the_small_path(dtype, small_path_results):
    x = np.linspace(-1, 1, 24 * 40, dtype=dtype).reshape(24, 40)
    before = x.copy()
    out = np.full_like(x, 7)
    gen = nd.Generator(5)
    y = nd.dropout(x, 0.25, rng=gen, out=out)
    assert y is out and small_path_results == [out]
    np.testing.assert_array_equal(out, naive.dropout(before, 0.25, 5, 0))
    np.testing.assert_array_equal(x, before)  # the input is untouched
    assert gen.draw() == (5, 1)  # exactly one draw


def test_out_is_x_on_the_small_path_is_in_place(small_path_results):
    x = np.linspace(-1, 1, 8 * 33, dtype=np.float32).reshape(8, 33)
    expected = naive.dropout(x.copy(), 0.5, 9, 0)
    y = nd.dropout(x, 0.5, rng=9, out=x)
    assert y is x and small_path_results == [x]
    np.testing.assert_array_equal(x, expected)


def _overlapping(x):
    buf = np.empty(x.size + 1, x.dtype)
    buf[1:] = x.ravel()
    return buf[1:].reshape(x.shape), buf[:-1].reshape(x.shape)  # out starts one element before x


@pytest.mark.parametrize(
    "make_out",
    [
        lambda x: np.empty(x.shape, x.dtype, order="F"),
        lambda x: np.empty(x.shape, x.dtype).view(np.matrix) if x.ndim == 2 else None,
    ],
    ids=["F-order", "subclass"],
)
def test_out_the_small_path_declines_is_still_exact(make_out, small_path_results):
    x = np.linspace(-1, 1, 6 * 10, dtype=np.float32).reshape(6, 10)
    out = make_out(x)
    y = nd.dropout(x, 0.5, rng=4, out=out)
    assert y is out and small_path_results == [None]
    np.testing.assert_array_equal(np.asarray(out), naive.dropout(x, 0.5, 4, 0))


def test_out_overlapping_x_is_left_to_the_general_path(small_path_results):
    x0 = np.linspace(-1, 1, 5 * 12, dtype=np.float64).reshape(5, 12)
    x, out = _overlapping(x0)
    y = nd.dropout(x, 0.5, rng=6, out=out)
    assert y is out and small_path_results == [None]
    np.testing.assert_array_equal(out, naive.dropout(x0, 0.5, 6, 0))


@pytest.mark.parametrize(
    ("make_out", "error", "match"),
    [
        (lambda x: np.empty((x.shape[0] + 1, x.shape[1]), x.dtype), ValueError, "out has shape"),
        (lambda x: np.empty(x.shape, np.float64), TypeError, "out has dtype"),
        (lambda x: np.broadcast_to(np.empty(x.shape[1], x.dtype), x.shape), ValueError, "out"),
        (lambda x: [[0.0] * x.shape[1]] * x.shape[0], TypeError, "out must be"),
    ],
    ids=["shape", "dtype", "read-only", "list"],
)
def test_bad_out_raises_without_drawing(make_out, error, match):
    x = np.ones((4, 6), np.float32)
    gen = nd.Generator(3)
    with pytest.raises(error, match=match):
        nd.dropout(x, 0.5, rng=gen, out=make_out(x))
    assert gen.draw() == (3, 0)  # nothing was drawn
    np.testing.assert_array_equal(x, 1)


def test_read_only_x_as_out_raises():
    x = np.ones((4, 6), np.float32)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        nd.dropout(x, 0.5, rng=1, out=x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_return_state_and_backward_on_the_small_path_match_the_general_path(dtype, small_path_results, monkeypatch):
    x = np.linspace(-1, 1, 16 * 50, dtype=dtype).reshape(16, 50)
    grad = np.linspace(2, 3, x.size, dtype=dtype).reshape(x.shape)
    gen = nd.Generator(21)
    gen.draw()
    y, state = nd.dropout(x, 0.4, rng=gen, return_state=True)
    assert small_path_results == [y]
    assert gen.draw() == (21, 2)  # exactly one draw
    assert (state.kind, state.p, state.seed, state.offset, state.shape, state.broadcast) == (
        "dropout", 0.4, 21, 1, x.shape, ()
    )  # fmt: skip
    np.testing.assert_array_equal(y, naive.dropout(x, 0.4, 21, 1))
    dx = state.backward(grad)
    np.testing.assert_array_equal(dx, naive.dropout(grad, 0.4, 21, 1))  # backward = the same mask and scale
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 0)  # now the general path: the same values and state
    y_general, state_general = nd.dropout(x, 0.4, rng=nd.Generator(21, offset=1), return_state=True)
    assert small_path_results == [y, None] and state_general == state
    np.testing.assert_array_equal(y_general, y)
    np.testing.assert_array_equal(state_general.backward(grad), dx)


def test_backward_short_path_leaves_odd_gradients_to_the_general_path():
    x = np.ones((6, 40), np.float32)
    _, state = nd.dropout(x, 0.5, rng=8, return_state=True)
    expected = naive.dropout(np.full(x.shape, 3, np.float32), 0.5, 8, 0)
    for grad in (np.full((40, 6), 3, np.float32).T, np.full(x.shape, 3, ">f4"), np.full(x.shape, 3, np.float16)):
        np.testing.assert_array_equal(np.asarray(state.backward(grad), np.float32), expected)
    with pytest.raises(ValueError, match="shape"):
        state.backward(np.ones((6, 41), np.float32))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(1, 9), min_size=0, max_size=4),
    dtype=st.sampled_from([np.float32, np.float64]),
    p=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**64 - 1),
    offset=st.integers(0, 2**64 - 1),
    target=st.sampled_from(["new", "out", "x"]),
)
def test_small_path_property(shape, dtype, p, seed, offset, target):
    """Any rank, any ``out`` the short path takes, the state and the backward: the contract's bits."""
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    expected = naive.dropout(x, p, seed, offset)
    out = {"new": None, "out": np.empty_like(x), "x": x}[target]
    y, state = nd.dropout(x, p, rng=nd.Generator(seed, offset), out=out, return_state=True)
    assert out is None or y is out
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y, expected)
    grad = np.linspace(-2, 2, x.size, dtype=dtype).reshape(shape)
    np.testing.assert_array_equal(state.backward(grad), naive.dropout(grad, p, seed, offset))
