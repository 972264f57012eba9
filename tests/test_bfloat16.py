"""bfloat16 under the float16 contract: float32 compute, one rounding to nearest even, dropped +0.

ml_dtypes arrays are compared with tests/naive.py twice: through ml_dtypes'
own conversions and through the bit-level reference (``*_bfloat16``), which
also checks torch bfloat16 tensors without ml_dtypes.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd
from numbadrop import nn
from numbadrop._core import tunables as _tunables

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint16)


def assert_same_bits(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    a, e = bits(actual), bits(expected)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


def data(shape, seed=0) -> np.ndarray:
    """bfloat16 data with NaNs of both signs, infinities, subnormals and values that round."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 1e-39, -1e-40, 3.3e38, 0.0, -0.0], np.float32)
    flat[: min(flat.size, specials.size)] = specials[: flat.size]
    return x.astype(BF16)


def test_naive_bit_reference_agrees_with_ml_dtypes():
    f = np.random.default_rng(1).standard_normal(10_000).astype(np.float32) * np.float32(1e5)
    u = f.view(np.uint32)
    u[:50] = np.random.default_rng(2).integers(0, 2**32, 50, dtype=np.uint32)  # NaN payloads, all exponents
    u[50:60] = [0x7F800001, 0xFF800001, 0x7FFFFFFF, 0x3F808000, 0x3F818000, 0x00008000, 0x80018000, 0x7F7FFFFF, 0, 1]
    with np.errstate(invalid="ignore"):
        assert np.array_equal(naive.float32_to_bfloat16(f), f.astype(BF16).view(np.uint16))
    b = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    assert np.array_equal(naive.bfloat16_to_float32(b).view(np.uint32), b.view(BF16).astype(np.float32).view(np.uint32))


VIEWS = {
    "contiguous": lambda a: a,
    "transposed": lambda a: a.T,
    "stepped": lambda a: a[:, ::3],
    "offset": lambda a: a.reshape(-1)[1:],
}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("p", [0.1, 0.5, 0.97])
def test_dropout_and_alpha(view, p):
    x = VIEWS[view](data((37, 41), 3))
    y = nd.dropout(x, p, rng=nd.Generator(9, 2))
    assert y.dtype == BF16
    assert_same_bits(y, naive.dropout(x, p, 9, 2))
    assert_same_bits(y, naive.dropout_bfloat16(bits(x), p, 9, 2))
    a = nd.alpha_dropout(x, p, True, rng=4)
    assert_same_bits(a, naive.alpha_dropout_bfloat16(bits(x), p, 4))
    dropped = ~naive.broadcast_mask(x.shape, (), p, 9, 2)
    assert (bits(y)[dropped] == 0).all()  # +0, even where x is NaN or infinite


@pytest.mark.parametrize(
    "fn, shape, axes",
    [
        ("dropout1d", (3, 4, 45), (2,)),
        ("dropout2d", (3, 4, 5, 9), (2, 3)),
        ("feature_alpha_dropout", (3, 4, 5, 9), (2, 3)),
    ],
)
def test_channel_functions_and_backward(fn, shape, axes):
    x = data(shape, 5)
    kw = {"training": True} if "alpha" in fn else {}
    y, state = getattr(nd, fn)(x, 0.4, rng=6, return_state=True, **kw)
    ref = naive.alpha_dropout_bfloat16 if "alpha" in fn else naive.dropout_bfloat16
    assert_same_bits(y, ref(bits(x), 0.4, 6, 0, axes))
    g = data(shape, 7)
    dx = state.backward(g)
    if "alpha" in fn:
        want = naive.alpha_dropout_grad(g, 0.4, 6, 0, axes)
    else:
        want = naive.dropout_bfloat16(bits(g), 0.4, 6, 0, axes)
    assert_same_bits(dx, want)


def test_inplace_and_parallel_kernel(monkeypatch):
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 1 << 16)
    x = data((5, 70_001), 8)  # above the serial cutoff: the parallel kernel
    assert x.size > _tunables.SERIAL_CUTOFF
    want = naive.dropout_bfloat16(bits(x), 0.3, 1)
    assert_same_bits(nd.dropout(x, 0.3, rng=1), want)
    y = x.copy()
    assert nd.dropout(y, 0.3, rng=1, inplace=True) is y
    assert_same_bits(y, want)
    assert_same_bits(nd.dropout(x, 1.0, rng=1), np.zeros(x.shape, BF16))


def test_torch_bfloat16_cpu():
    torch = pytest.importorskip("torch")
    x = data((6, 33), 9)
    t = torch.from_numpy(bits(x).view(np.int16).copy()).view(torch.bfloat16)
    y, state = nd.dropout(t, 0.5, rng=2, return_state=True)
    assert type(y) is torch.Tensor and y.dtype == torch.bfloat16
    got = y.view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(got, naive.dropout_bfloat16(bits(x), 0.5, 2))
    dx = state.backward(torch.ones(6, 33, dtype=torch.bfloat16))
    want = naive.dropout_bfloat16(naive.float32_to_bfloat16(np.ones((6, 33), np.float32)), 0.5, 2)
    assert np.array_equal(dx.view(torch.int16).numpy().view(np.uint16), want)
    assert_same_bits(nd.dropout(x, 0.5, rng=2), got.view(BF16))  # torch and ml_dtypes alike


def test_layers_take_bfloat16():
    layer = nn.Dropout(0.5, rng=3)
    x = data((4, 16), 10)
    y = layer(x)
    assert y.dtype == BF16
    assert_same_bits(y, naive.dropout_bfloat16(bits(x), 0.5, 3, 0))
    g = layer.backward(np.ones((4, 16), BF16))
    assert g.dtype == BF16
    assert_same_bits(g, naive.dropout_bfloat16(bits(np.ones((4, 16), BF16)), 0.5, 3, 0))


def test_dask_bfloat16():
    da = pytest.importorskip("dask.array")
    x = data((7, 13), 11)
    y = nd.dropout2d(da.from_array(x, chunks=(2, 5))[None], 0.5, rng=5)
    assert y.dtype == BF16
    assert_same_bits(y.compute(scheduler="sync"), nd.dropout2d(x[None], 0.5, rng=5))


# --- training in bfloat16: bfloat16 activations, float32 master weights ----------------------


def finite(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(BF16)


def test_linear_computes_bfloat16_in_its_weights_dtype():
    fc = nn.Linear(16, 8, rng=0)
    x, g = finite((5, 16), 1), finite((5, 8), 2)
    y = fc(x)
    assert y.dtype == BF16
    x32, g32, w = x.astype(np.float32), g.astype(np.float32), fc.weight.data
    assert_same_bits(y, (x32 @ w.T + fc.bias.data).astype(BF16))
    dx = fc.backward(g)
    assert dx.dtype == BF16
    assert_same_bits(dx, (g32 @ w).astype(BF16))
    assert fc.weight.grad.dtype == np.float32 and fc.bias.grad.dtype == np.float32
    np.testing.assert_array_equal(fc.weight.grad, g32.T @ x32)
    np.testing.assert_array_equal(fc.bias.grad, g32.sum(axis=0))


def test_cross_entropy_takes_bfloat16_logits():
    logits, target = finite((6, 4), 3), np.arange(6) % 4
    loss_fn, loss_fn32 = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    loss = loss_fn(logits, target)
    want = loss_fn32(logits.astype(np.float32), target)
    assert loss.dtype == np.float32 and float(loss) == float(want)
    grad = loss_fn.backward()
    assert grad.dtype == BF16
    assert_same_bits(grad, loss_fn32.backward().astype(BF16))


def test_relu_and_dropout_keep_bfloat16():
    x = finite((4, 32), 4)
    relu, drop = nn.ReLU(), nn.Dropout(0.5, rng=5)
    h = drop(relu(x))
    assert h.dtype == BF16
    want = naive.dropout_bfloat16(bits(np.maximum(x, 0)), 0.5, 5, 0)
    assert_same_bits(h, want)


def test_dropoutnet_trains_in_bfloat16():
    """The main job's network on bfloat16 digits: every activation bfloat16, accuracy as in float32."""
    pytest.importorskip("sklearn")
    from numbadrop.examples import train_mlp

    data = train_mlp.load_digits(0)
    runs = {}
    for flag in (False, True):
        model, hist = train_mlp.train(0.5, data, epochs=4, batch_size=64, lr=1e-3, seed=0, bfloat16=flag)
        runs[flag] = hist.test_acc[-1]
    model.train()
    x = data[0][:8].astype(BF16)
    h = model.dropout1(model.relu(model.fc1(x)))
    assert h.dtype == BF16 and model(x).dtype == BF16
    assert model.fc1.weight.data.dtype == np.float32
    assert runs[True] > 0.85 and abs(runs[True] - runs[False]) < 0.03, runs
