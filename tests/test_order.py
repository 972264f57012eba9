"""Every output of the family has NumPy's order-K strides (as ``x * s`` has), any permutation, the same bits."""

from __future__ import annotations

import itertools

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop._core import tunables

SHAPES = {1: [(9,)], 2: [(5, 8), (6, 7)], 3: [(3, 4, 8), (3, 5, 7)], 4: [(2, 3, 4, 8), (2, 3, 5, 7)]}
CASES = [(s, perm) for shapes in SHAPES.values() for s in shapes for perm in itertools.permutations(range(len(s)))]


def permuted(x: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """``x`` (the same values, same logical shape) stored with axis ``perm[0]`` outermost in memory."""
    return np.ascontiguousarray(x.transpose(perm)).transpose(np.argsort(perm))


def calls(x):
    """Every function of the family on ``x``: ``name -> array``."""
    _, state = nd.dropout(np.ascontiguousarray(x), 0.4, rng=8, return_state=True)
    _, astate = nd.alpha_dropout(np.ascontiguousarray(x), 0.4, True, rng=9, return_state=True)
    out = {
        "dropout": nd.dropout(x, 0.4, rng=1),
        "alpha": nd.alpha_dropout(x, 0.3, True, rng=2),
        "locked": nd.dropout(x, 0.5, rng=3, broadcast_dims=0),
        "depth": nd.stochastic_depth(x, 0.5, rng=4),
        "gaussian": nd.gaussian_dropout(x, 0.3, rng=5),
        "noise": nd.gaussian_noise(x, 0.3, rng=6),
        "half": nd.dropout(x.astype(np.float16), 0.4, rng=7),
        "backward": state.backward(x),
        "alpha_backward": astate.backward(x),
    }
    if x.ndim == 4:
        out["dropout2d"] = nd.dropout2d(x, 0.5, rng=10)
        out["drop_block2d"] = nd.drop_block2d(x, 0.3, 3, rng=11)
    return out


def _check(x0, perm):
    x = permuted(x0, perm)
    assert np.array_equal(x, x0, equal_nan=True) and x.strides == np.empty_like(x, order="K").strides
    expected, got = calls(x0), calls(x)
    for name, y in got.items():
        e = expected[name]
        assert y.strides == np.empty_like(y, order="K").strides == np.empty_like(x, y.dtype, order="K").strides, name
        assert y.dtype == e.dtype and np.array_equal(y.view(f"u{y.itemsize}"), e.view(f"u{e.itemsize}")), name
    assert np.array_equal(got["dropout"], naive.dropout(x0, 0.4, 1), equal_nan=True)


@pytest.mark.parametrize(("shape", "perm"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_order_k_for_every_permutation(shape, perm):
    x0 = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    x0.reshape(-1)[::7] = np.nan
    _check(x0, perm)


@pytest.mark.parametrize("perm", [(1, 0), (3, 2, 1, 0), (0, 1, 3, 2), (2, 0, 3, 1)], ids=str)
@pytest.mark.parametrize("odd", [False, True], ids=["aligned", "odd"])
def test_order_k_on_the_parallel_kernels(monkeypatch, perm, odd):
    """The column walk's parallel kernels (aligned and unaligned), forced on small arrays."""
    monkeypatch.setattr(tunables, "SERIAL_CUTOFF", 0)
    shape = {2: (37, 40), 4: (3, 4, 9, 12)}[len(perm)]
    shape = tuple(n + (odd and i == len(shape) - 1) for i, n in enumerate(shape))
    x0 = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    x = permuted(x0, perm)
    for y, e in [
        (nd.dropout(x, 0.5, rng=2), naive.dropout(x0, 0.5, 2)),
        (nd.alpha_dropout(x, 0.5, True, rng=3), naive.alpha_dropout(x0, 0.5, 3)),
    ]:
        assert y.strides == np.empty_like(x, order="K").strides
        assert np.array_equal(y, e)
    y = x.copy(order="K")
    assert nd.dropout(y, 0.5, rng=2, inplace=True) is y and np.array_equal(y, naive.dropout(x0, 0.5, 2))


def test_sliced_views_get_a_dense_order_k_output():
    x0 = np.random.default_rng(2).standard_normal((8, 10, 12)).astype(np.float32)
    for view in (permuted(x0, (2, 0, 1))[::2, 1:, ::-3], np.asfortranarray(x0)[:, ::2]):
        y = nd.dropout(view, 0.5, rng=3)
        assert y.strides == np.empty_like(view, order="K").strides
        assert np.array_equal(y, naive.dropout(np.ascontiguousarray(view), 0.5, 3))
