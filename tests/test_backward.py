"""``DropoutState.backward``: the gradient regenerated from ``(seed, offset, p, mask shape)``.

Checked bit for bit against ``grad * mask * scale`` (tests/naive.py) and, in
float64, against central finite differences of the forward (the mask is fixed
by the seed, so ``x -> dropout(x, rng=seed)`` is an ordinary function).
"""

from __future__ import annotations

import naive
import numpy as np
import pytest
from finite_differences import assert_gradient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbadrop as nd

DTYPES = [np.float16, np.float32, np.float64]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def assert_identical(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    uint = UINT[actual.dtype.itemsize]
    a, e = np.ascontiguousarray(actual).view(uint), np.ascontiguousarray(expected).view(uint)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


# name: (forward, naive backward, mask broadcast axes for an ndim, shapes)
CASES = {
    "dropout": (nd.dropout, naive.dropout, lambda n: (), [(), (1,), (7,), (3, 5), (2, 3, 1, 4, 5), (70_001,)]),
    "dropout1d": (nd.dropout1d, naive.dropout, lambda n: (n - 1,), [(3, 7), (2, 5, 9), (4, 33, 701)]),
    "dropout2d": (nd.dropout2d, naive.dropout, lambda n: (n - 2, n - 1), [(3, 4, 5), (2, 3, 5, 7)]),
    "dropout3d": (
        nd.dropout3d,
        naive.dropout,
        lambda n: (n - 3, n - 2, n - 1),
        [(2, 3, 4, 5), (2, 3, 2, 3, 5)],
    ),
    "alpha_dropout": (nd.alpha_dropout, naive.alpha_dropout_grad, lambda n: (), [(), (5,), (4, 6), (3, 257, 97)]),
    "feature_alpha_dropout": (
        nd.feature_alpha_dropout,
        naive.alpha_dropout_grad,
        lambda n: tuple(range(2, n)),
        [(5, 7), (2, 3, 5), (2, 3, 2, 2, 3)],
    ),
}


def _cases():
    for name, (_, _, _, shapes) in CASES.items():
        for shape in shapes:
            yield pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape)) or 'scalar'}")


def _grad(rng, shape, dtype):
    g = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape))
    if g.size:
        flat = g.reshape(-1)
        flat[:: max(1, g.size // 7)] = np.nan  # a dropped unit passes no NaN back
        flat[1 :: max(2, g.size // 5)] = np.inf
    return g.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("name", "shape"), list(_cases()))
def test_backward_matches_naive(name, shape, dtype):
    forward, reference, axes, _ = CASES[name]
    rng = np.random.default_rng(len(shape) * 1000 + sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    g = _grad(rng, shape, dtype)
    g0 = g.copy()
    for p in [0.2, 0.5, 0.9]:
        gen = nd.Generator(2**64 - 3, offset=2**50 + 9)
        _, state = forward(x, p, True, rng=gen, return_state=True)
        dx = state.backward(g)
        assert dx is not g
        assert_identical(dx, reference(g, p, 2**64 - 3, 2**50 + 9, axes(len(shape))))
        assert_identical(g, g0)


@pytest.mark.parametrize("name", list(CASES))
def test_backward_with_strided_grad_and_other_dtype(name):
    forward, reference, axes, shapes = CASES[name]
    shape = shapes[-2] if len(shapes) > 2 else shapes[-1]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float16)
    _, state = forward(x, 0.3, True, rng=77, return_state=True)
    # gradient in float64, as a reversed-axes transposed view of a larger array
    big = _grad(rng, tuple(2 * n for n in reversed(shape)), np.float64)
    g = big[tuple(slice(None, None, -2) for _ in shape)].T
    assert g.shape == shape
    assert_identical(state.backward(g), reference(g, 0.3, 77, 0, axes(len(shape))))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(CASES))
def test_backward_inplace(name, dtype):
    forward, reference, axes, shapes = CASES[name]
    shape = shapes[-1]
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    _, state = forward(x, 0.6, True, rng=5, return_state=True)
    g = _grad(rng, shape, dtype)
    expected = reference(g, 0.6, 5, 0, axes(len(shape)))
    assert state.backward(g, inplace=True) is g
    assert_identical(g, expected)
    # also through a non-contiguous writeable view
    if len(shape) >= 2:
        gt = _grad(rng, shape[::-1], dtype).T
        expected = reference(gt.copy(), 0.6, 5, 0, axes(len(shape)))
        assert state.backward(gt, inplace=True) is gt
        assert_identical(gt, expected)


@pytest.mark.parametrize("name", list(CASES))
def test_backward_of_identity_returns_grad_itself(name):
    forward, _, _, shapes = CASES[name]
    shape = shapes[1]
    x = np.ones(shape, np.float32)
    g = _grad(np.random.default_rng(0), shape, np.float32)
    g0 = g.copy()
    for kwargs in [dict(p=0.5, training=False), dict(p=0.0, training=True)]:
        _, state = forward(x, kwargs["p"], kwargs["training"], rng=1, return_state=True)
        assert state.backward(g) is g
        assert_identical(g, g0)


@pytest.mark.parametrize("name", list(CASES))
def test_backward_of_p_one_is_zeros_without_nan(name):
    forward, _, _, shapes = CASES[name]
    shape = shapes[1]
    _, state = forward(np.full(shape, np.inf, np.float32), 1.0, True, rng=1, return_state=True)
    g = np.full(shape, np.nan, np.float32)
    dx = state.backward(g)
    assert dx.shape == shape and dx.dtype == np.float32
    assert not np.any(dx.view(np.uint32))
    assert np.all(np.isnan(g))
    assert state.backward(g, inplace=True) is g
    assert not np.any(g.view(np.uint32))


def test_state_is_small_and_holds_no_mask():
    x = np.ones((256, 1024), np.float32)
    _, state = nd.dropout(x, 0.5, rng=3, return_state=True)
    for value in vars(state).values() if hasattr(state, "__dict__") else ():
        assert not isinstance(value, np.ndarray)
    import pickle

    assert len(pickle.dumps(state)) < 400
    assert (state.seed, state.offset, state.shape) == (3, 0, (256, 1024))


def test_backward_twice_gives_the_same_gradient():
    x = np.ones((4, 9), np.float32)
    g = _grad(np.random.default_rng(0), (4, 9), np.float32)
    _, state = nd.dropout(x, 0.5, rng=nd.Generator(8), return_state=True)
    assert_identical(state.backward(g), state.backward(g))


def test_backward_uses_forward_mask_not_a_new_draw():
    g = nd.Generator(8)
    x = np.ones(64, np.float64)
    y, state = nd.dropout(x, 0.5, rng=g, return_state=True)
    nd.dropout(x, 0.5, rng=g)  # another draw in between
    dx = state.backward(np.ones(64))
    assert_identical(dx, y)  # d(sum y)/dx = mask * scale = y for x = 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(list(CASES)),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
    offset=st.integers(0, 2**64 - 2),
    dtype=st.sampled_from(DTYPES),
    data=st.data(),
)
def test_backward_property(name, p, seed, offset, dtype, data):
    forward, reference, axes, shapes = CASES[name]
    ndim = len(data.draw(st.sampled_from([s for s in shapes if s and np.prod(s) < 10**4])))
    shape = tuple(data.draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32)))
    x = rng.standard_normal(shape).astype(dtype)
    g = _grad(rng, shape, dtype)
    _, state = forward(x, p, True, rng=nd.Generator(seed, offset), return_state=True)
    dx = state.backward(g)
    if p == 0.0:
        assert dx is g
    else:
        assert_identical(dx, reference(g, p, seed, offset, axes(ndim)))


# --- finite differences ------------------------------------------------------------------------


def _check_finite_differences(f, backward, x, w, h=1e-4):
    """``backward(w)`` against central differences of ``sum(w * f(x))`` (``x`` perturbed in place)."""
    analytic = backward(w)
    assert_gradient(analytic, lambda: w * f(x), x, rtol=1e-7, h=h)
    return analytic


@pytest.mark.parametrize("p", [0.1, 0.5, 0.83])
@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("dropout", (17,)),
        ("dropout", (3, 5)),
        ("dropout2d", (2, 3, 2, 2)),
        ("alpha_dropout", (4, 5)),
        ("feature_alpha_dropout", (2, 4, 3)),
        ("dropout1d", (3, 6)),
    ],
)
def test_finite_differences_float64(name, shape, p):
    forward = CASES[name][0]
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(shape)
    seed = 2**61 + 17

    def f(z):
        return forward(z, p, True, rng=seed)

    _, state = forward(x, p, True, rng=seed, return_state=True)
    analytic = _check_finite_differences(f, state.backward, x, w)
    # the gradient is zero exactly where the contract's mask drops units
    keep = naive.broadcast_mask(shape, CASES[name][2](len(shape)), p, seed, 0)
    assert np.array_equal(analytic != 0, keep)
