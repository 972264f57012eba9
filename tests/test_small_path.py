"""The short path of ``dropout(x, p, rng=...)`` (small C-contiguous float32/float64 arrays).

It must give what the general path gives -- the contract's bits (``tests/naive.py``)
and the same draws from a generator -- and step aside for everything it does not handle.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import _host, _tunables

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
    general, _ = nd.dropout(x, 0.5, rng=seed, return_state=True)  # return_state: not the short path
    assert taken == [True]
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
