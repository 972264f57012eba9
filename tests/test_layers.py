"""Dropout layers: torch-like repr and modes, the masks they draw, and their backward."""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn
from numbadrop import random as ndrandom

UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def assert_identical(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    uint = UINT[actual.dtype.itemsize]
    a, e = np.ascontiguousarray(actual).view(uint), np.ascontiguousarray(expected).view(uint)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


# layer: (input shape, naive forward, naive backward, mask broadcast axes)
LAYERS = {
    nn.Dropout: ((3, 5, 7), naive.dropout, naive.dropout, ()),
    nn.Dropout1d: ((3, 5, 7), naive.dropout, naive.dropout, (2,)),
    nn.Dropout2d: ((2, 5, 3, 4), naive.dropout, naive.dropout, (2, 3)),
    nn.Dropout3d: ((2, 3, 2, 3, 4), naive.dropout, naive.dropout, (2, 3, 4)),
    nn.AlphaDropout: ((3, 5, 7), naive.alpha_dropout, naive.alpha_dropout_grad, ()),
    nn.FeatureAlphaDropout: ((3, 5, 7), naive.alpha_dropout, naive.alpha_dropout_grad, (2,)),
}
IDS = [cls.__name__ for cls in LAYERS]


def data(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_repr_like_torch(cls):
    assert repr(cls()) == f"{cls.__name__}(p=0.5, inplace=False)"
    assert repr(cls(p=0.25, inplace=True)) == f"{cls.__name__}(p=0.25, inplace=True)"
    assert repr(cls(0.1, rng=3)) == f"{cls.__name__}(p=0.1, inplace=False)"


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_repr_equals_torch_repr(cls):
    torch = pytest.importorskip("torch")
    torch_cls = getattr(torch.nn, cls.__name__)
    for kwargs in [{}, {"p": 0.3}, {"p": 0.75, "inplace": True}, {"p": 0.0}]:
        assert repr(cls(**kwargs)) == repr(torch_cls(**kwargs))


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_train_and_eval(cls):
    shape = LAYERS[cls][0]
    layer = cls(0.5, rng=0)
    assert layer.training is True
    assert layer.eval() is layer
    assert layer.training is False
    x = data(shape)
    x0 = x.copy()
    assert layer(x) is x  # eval mode: the input itself
    assert_identical(x, x0)
    assert layer.train() is layer and layer.training is True
    assert layer.train(False) is layer and layer.training is False
    layer.train(True)
    y = layer(x)
    assert y is not x and y.shape == x.shape and not np.array_equal(y, x)
    assert_identical(x, x0)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_int_rng_draws_offsets_0_1_2(cls):
    shape, forward, _, axes = LAYERS[cls]
    layer = cls(0.4, rng=2**64 - 7)
    x = data(shape)
    for offset in range(3):
        assert_identical(layer(x), forward(x, 0.4, 2**64 - 7, offset, axes))


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_backward_after_forward_matches_naive(cls):
    shape, forward, backward, axes = LAYERS[cls]
    layer = cls(0.3, rng=77)
    for offset, dtype in enumerate([np.float32, np.float64, np.float16]):
        x = data(shape, dtype, seed=offset)
        g = data(shape, dtype, seed=10 + offset)
        g0 = g.copy()
        y = layer(x)
        assert_identical(y, forward(x, 0.3, 77, offset, axes))
        dx = layer.backward(g)
        assert_identical(dx, backward(g, 0.3, 77, offset, axes))
        assert_identical(g, g0)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_backward_uses_the_latest_forward(cls):
    shape, _, backward, axes = LAYERS[cls]
    layer = cls(0.5, rng=5)
    x = data(shape)
    layer(x)
    layer(x)  # offset 1 replaces offset 0
    g = data(shape, seed=1)
    assert_identical(layer.backward(g), backward(g, 0.5, 5, 1, axes))


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_eval_forward_draws_no_mask(cls):
    shape, forward, _, axes = LAYERS[cls]
    g = nd.Generator(9)
    layer = cls(0.5, rng=g)
    x = data(shape)
    layer(x)
    layer.eval()
    layer(x)
    layer(x)
    assert g.offset == 1
    layer.train()
    assert_identical(layer(x), forward(x, 0.5, 9, 1, axes))


def test_layers_share_a_generator():
    g = nd.Generator(123, offset=10)
    a, b = nn.Dropout(0.5, rng=g), nn.Dropout1d(0.5, rng=g)
    x = data((4, 6, 8))
    assert_identical(a(x), naive.dropout(x, 0.5, 123, 10))
    assert_identical(b(x), naive.dropout(x, 0.5, 123, 11, (2,)))
    assert_identical(a(x), naive.dropout(x, 0.5, 123, 12))
    assert g.offset == 13


def test_layer_int_rng_does_not_share_state_between_layers():
    a, b = nn.Dropout(0.5, rng=4), nn.Dropout(0.5, rng=4)
    x = data((50,))
    ya = [a(x) for _ in range(2)]
    yb = b(x)
    assert_identical(yb, ya[0])  # b starts at offset 0 too
    assert not np.array_equal(ya[0], ya[1])


def test_layer_with_numpy_generator():
    rng, twin = np.random.default_rng(8), np.random.default_rng(8)
    layer = nn.Dropout(0.5, rng=rng)
    x = data((40,))
    for _ in range(2):
        seed = int(twin.integers(0, 2**64, dtype=np.uint64))
        assert_identical(layer(x), naive.dropout(x, 0.5, seed, 0))


def test_layer_default_rng_follows_manual_seed():
    x = data((64,))
    try:
        nd.manual_seed(31)
        layer = nn.Dropout(0.5)
        first, second = layer(x), layer(x)
        assert_identical(first, naive.dropout(x, 0.5, 31, 0))
        assert_identical(second, naive.dropout(x, 0.5, 31, 1))
        nd.manual_seed(31)
        assert_identical(nn.Dropout(0.5)(x), first)
        assert ndrandom.default_generator.offset == 1
    finally:
        nd.manual_seed(np.random.SeedSequence().entropy % 2**64)


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_inplace_layer(cls):
    shape, forward, backward, axes = LAYERS[cls]
    layer = cls(0.5, inplace=True, rng=6)
    x = data(shape)
    expected = forward(x.copy(), 0.5, 6, 0, axes)
    assert layer(x) is x
    assert_identical(x, expected)
    g = data(shape, seed=3)
    assert_identical(layer.backward(g), backward(g, 0.5, 6, 0, axes))


@pytest.mark.parametrize("cls", LAYERS, ids=IDS)
def test_p_zero_and_p_one_layers(cls):
    shape = LAYERS[cls][0]
    x = data(shape)
    g = data(shape, seed=2)
    zero = cls(0.0, rng=1)
    assert zero(x) is x
    assert_identical(zero.backward(g), g)
    one = cls(1.0, rng=1)
    x[..., 0] = np.inf
    y = one(x)
    assert y.dtype == x.dtype and not np.any(y.view(np.uint32))
    g[..., 0] = np.nan
    assert not np.any(one.backward(g).view(np.uint32))


def test_layer_matches_functional():
    x = data((8, 4, 5))
    for cls, fn in [
        (nn.Dropout, nd.dropout),
        (nn.Dropout1d, nd.dropout1d),
        (nn.AlphaDropout, nd.alpha_dropout),
        (nn.FeatureAlphaDropout, nd.feature_alpha_dropout),
    ]:
        layer = cls(0.35, rng=nd.Generator(12, 3))
        assert_identical(layer(x), fn(x, 0.35, True, rng=nd.Generator(12, 3)))
