"""Gaussian dropout and Gaussian noise: bits against tests/naive_normal.py, statistics, gradients, errors."""

from __future__ import annotations

import math

import naive_normal as ref
import numpy as np
import pytest
from finite_differences import assert_gradient

import numbadrop as nd
from numbadrop import backends as _engine
from numbadrop import nn
from numbadrop._core import normal as _normal
from numbadrop.autograd import tensor
from numbadrop.kernels.cpu import gaussian as _gaussian_cpu

SHAPES = [(), (0,), (1,), (3,), (7,), (5, 37), (3, 1, 9), (2, 3, 4, 5)]
SEEDS_OFFSETS = [(0, 0), (42, 1), (2**32, 2**32 + 7), (2**63 + 12345, 5), (2**64 - 1, 2**64 - 2)]


def _data(shape, dtype, seed=0, specials=False):
    """Normal data; with ``specials``, its first elements are +-0, +-inf, NaN and a tiny value."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if specials:
        flat = x.reshape(-1)
        values = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30], dtype)
        flat[: min(flat.size, values.size)] = values[: flat.size]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_bits_match_the_reference(shape, dtype):
    x = _data(shape, dtype, specials=True)
    for i, (seed, offset) in enumerate(SEEDS_OFFSETS):
        p = (0.1, 0.5, 0.9, 1e-9, 0.3)[i]
        got = nd.gaussian_dropout(x, p, rng=nd.Generator(seed, offset))
        assert got.dtype == x.dtype and got.shape == x.shape
        assert np.array_equal(got, ref.gaussian_dropout(x, p, seed, offset), equal_nan=True), (seed, offset, p)
        got = nd.gaussian_noise(x, 0.7 * i, rng=nd.Generator(seed, offset))
        expected = x if i == 0 else ref.gaussian_noise(x, 0.7 * i, seed, offset)
        assert np.array_equal(got, expected, equal_nan=True), (seed, offset)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bits_of_a_large_array_across_tiles_and_threads(dtype):
    x = _data((257, 1031), dtype)  # several tiles per row and parallel work items
    assert np.array_equal(nd.gaussian_dropout(x, 0.25, rng=nd.Generator(3, 1)), ref.gaussian_dropout(x, 0.25, 3, 1))
    assert np.array_equal(nd.gaussian_noise(x, 2.0, rng=nd.Generator(3, 1)), ref.gaussian_noise(x, 2.0, 3, 1))


def test_variates_are_the_noise_itself():
    z = nd.gaussian_noise(np.zeros(1031), 1.0, rng=nd.Generator(9, 4))  # float64: 0 + 1 * z is z
    assert np.array_equal(z, ref.normals(1031, 9, 4))
    assert np.abs(z).max() < 6.77


EXTREME_WORDS = [0, 1, 2, 2**29 - 1, 2**29, 2**30 - 1, 2**30, 2**31 - 1, 2**31, 3 * 2**30, 2**32 - 2, 2**32 - 1]


def test_transform_at_extreme_words_compiled_and_as_python():
    """Every quadrant boundary and both ends of u, compiled (CPU) and as Python (the CUDA simulator's path)."""
    a, b = (np.array(v, np.uint64).ravel() for v in np.meshgrid(EXTREME_WORDS, EXTREME_WORDS))
    rho = np.sqrt(-2.0 * ref.log_u(a))
    cos, sin = ref.cos_sin(b)
    expected = np.stack([rho * cos, rho * sin], axis=1)
    for pair in (_gaussian_cpu._pair, _normal.normal_pair):
        got = np.array([pair(np.uint64(ai), np.uint64(bi)) for ai, bi in zip(a, b, strict=True)])
        assert np.array_equal(got, expected)
    assert np.abs(expected).max() < 6.77


def test_bfloat16_is_computed_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = _data((5, 37), ml_dtypes.bfloat16)
    got = nd.gaussian_dropout(x, 0.3, rng=7)
    assert got.dtype == x.dtype
    assert np.array_equal(got.astype(np.float32), ref.gaussian_dropout(x, 0.3, 7).astype(np.float32))


def test_bfloat16_bits_round_to_nearest_even_once():
    """The int16 (bfloat16 bits) path of the float16/bfloat16 route: exact widening, one rounding, NaN's rule."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**32, 4096, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**16, 64, dtype=np.uint32) << np.uint32(16)) | np.uint32(0x8000)  # exactly halfway
    v = np.concatenate([words, ties]).view(np.float32)
    v = np.concatenate([v, np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, -1e-45, 1e-40], np.float32)])
    finite = ~np.isnan(v)
    y = np.empty(v.shape, np.int16)
    _gaussian_cpu.narrow_into(y, v)
    expected = v[finite].astype(ml_dtypes.bfloat16).view(np.int16)
    assert np.array_equal(y[finite], expected)
    sign = (v[~finite].view(np.uint32) >> np.uint32(16)) & np.uint32(0x8000)
    assert np.array_equal(y[~finite].view(np.uint16), (sign | np.uint32(0x7FC0)).astype(np.uint16))
    back = _gaussian_cpu.widen(y[finite])
    assert np.array_equal(back, expected.view(ml_dtypes.bfloat16).astype(np.float32))


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a.T,
        lambda a: a[:, ::3],
        lambda a: a[::-1, 1:-1],
        lambda a: a.reshape(6, 17, 11)[:, 3:9].transpose(2, 0, 1),
    ],
)
def test_any_strides_give_the_c_order_bits(view):
    x = view(_data((102, 11), np.float32))
    y = nd.gaussian_dropout(x, 0.4, rng=11)
    assert np.array_equal(y, ref.gaussian_dropout(np.ascontiguousarray(x), 0.4, 11))
    inplace = x.copy(order="K")
    view_of = view(_data((102, 11), np.float32))
    assert nd.gaussian_noise(view_of, 0.5, True, True, rng=11) is view_of
    assert np.array_equal(view_of, ref.gaussian_noise(inplace, 0.5, 11))


def test_blocks_of_an_array_give_its_bits():
    """``launch`` on a block with the whole array's strides and start (the Dask path)."""
    x = _data((9, 10, 13), np.float32)
    whole = ref.gaussian_dropout(x, 0.3, 5, 2)
    a = math.sqrt(0.3 / 0.7)
    strides = (130, 13, 1)
    for block in [(slice(2, 7), slice(3, 9), slice(1, 12)), (slice(0, 9), slice(4, 5), slice(0, 13))]:
        xb = np.ascontiguousarray(x[block])
        yb = np.empty_like(xb)
        start = sum(s.start * st for s, st in zip(block, strides, strict=True))
        _engine.launch(xb, yb, "gaussian_dropout", a, 5, 2, strides, start)
        assert np.array_equal(yb, whole[block])


def test_dask_chunkings_are_bit_identical():
    da = pytest.importorskip("dask.array")
    x = _data((23, 37), np.float32)
    expected = ref.gaussian_dropout(x, 0.3, 8, 3)
    noise = ref.gaussian_noise(x, 0.2, 8, 3)
    for chunks in [(23, 37), (5, 7), (1, 37), (23, 3), (4, 10)]:
        dx = da.from_array(x, chunks=chunks)
        y = nd.gaussian_dropout(dx, 0.3, rng=nd.Generator(8, 3))
        assert isinstance(y, da.Array)
        assert np.array_equal(y.compute(), expected), chunks
        assert np.array_equal(nd.gaussian_noise(dx, 0.2, rng=nd.Generator(8, 3)).compute(), noise), chunks
    _, state = nd.gaussian_dropout(x, 0.3, rng=nd.Generator(8, 3), return_state=True)
    grad = state.backward(da.from_array(x, chunks=(6, 9)))  # a Dask gradient: a lazy result
    assert isinstance(grad, da.Array) and np.array_equal(grad.compute(), expected)
    with pytest.raises(ValueError, match="inplace"):
        nd.gaussian_noise(da.from_array(x), 0.2, inplace=True, rng=0)


# --- statistics ---------------------------------------------------------------------------------


def _phi(v: float) -> float:
    return 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))


def test_statistics_of_ten_million_variates():
    n = 10**7
    z = nd.gaussian_noise(np.zeros(n), 1.0, rng=nd.Generator(2024, 7))
    sigma = 5.0
    assert abs(z.mean()) < sigma / math.sqrt(n)
    assert abs(z.var() - 1.0) < sigma * math.sqrt(2.0 / n)
    assert abs(((z - z.mean()) ** 3).mean()) < sigma * math.sqrt(15.0 / n)  # skewness (var of z**3 is 15)
    assert abs((z**4).mean() - 3.0) < sigma * math.sqrt(96.0 / n)  # kurtosis (var of z**4 is 96)
    # normality: the fraction in bins between fixed points (and in the tails), vs the normal CDF
    edges = [-4.0, -3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
    counts = np.bincount(np.searchsorted(edges, z), minlength=len(edges) + 1)
    bounds = [-math.inf, *edges, math.inf]
    for i, count in enumerate(counts):
        prob = _phi(bounds[i + 1]) - _phi(bounds[i])
        assert abs(count - n * prob) < sigma * math.sqrt(n * prob * (1 - prob)) + 1, (bounds[i], bounds[i + 1])
    # the two variates of a Box-Muller pair and neighbouring pairs are uncorrelated
    for lag in (1, 2, 4):
        assert abs(np.dot(z[:-lag], z[lag:]) / (n - lag)) < sigma / math.sqrt(n)


def test_gaussian_dropout_has_mean_one_and_std_sqrt_p_over_1_minus_p():
    n = 10**6
    for p in (0.1, 0.5, 0.8):
        y = nd.gaussian_dropout(np.full(n, 2.0), p, rng=p.hex().__hash__() % 2**32)
        s = math.sqrt(p / (1 - p))
        assert abs(y.mean() - 2.0) < 5 * 2 * s / math.sqrt(n)
        assert abs(y.std() / (2 * s) - 1.0) < 5 * math.sqrt(0.5 / n) * 2


# --- behaviour ----------------------------------------------------------------------------------


def test_eval_and_zero_rates_return_x_and_draw_only_in_training():
    x = _data((3, 4), np.float32)
    g = nd.Generator(1)
    assert nd.gaussian_dropout(x, 0.5, training=False, rng=g) is x
    assert g.offset == 0
    assert nd.gaussian_dropout(x, 0.0, rng=g) is x
    assert nd.gaussian_noise(x, 0.0, rng=g) is x
    assert g.offset == 2  # a training call draws whatever the rate
    y1 = nd.gaussian_noise(x, 1.0, rng=g)
    y2 = nd.gaussian_noise(x, 1.0, rng=g)
    assert not np.array_equal(y1, y2)
    assert np.array_equal(y2, ref.gaussian_noise(x, 1.0, 1, 3))


def test_input_is_untouched_unless_inplace():
    x = _data((4, 50), np.float32)
    before = x.copy()
    y = nd.gaussian_dropout(x, 0.5, rng=3)
    assert np.array_equal(x, before) and y is not x
    z = nd.gaussian_dropout(x, 0.5, inplace=True, rng=3)
    assert z is x and np.array_equal(x, y)
    readonly = before.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        nd.gaussian_noise(readonly, 0.5, inplace=True, rng=3)


def test_array_kinds_masked_byteorder_subclass_and_torch():
    x = _data((6, 7), np.float32)
    expected = ref.gaussian_noise(x, 0.5, 4)
    masked = np.ma.masked_array(x, mask=x > 1.0)
    y = nd.gaussian_noise(masked, 0.5, rng=4)
    assert isinstance(y, np.ma.MaskedArray) and np.array_equal(y.mask, masked.mask)
    assert np.array_equal(y.data, np.where(masked.mask, x, expected))
    big_endian = x.astype(">f4")
    assert np.array_equal(nd.gaussian_noise(big_endian, 0.5, rng=4), expected)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x.T.copy()).T  # a transposed tensor
    yt = nd.gaussian_noise(t, 0.5, rng=4)
    assert isinstance(yt, torch.Tensor) and np.array_equal(yt.numpy(), ref.gaussian_noise(x, 0.5, 4))
    assert nd.gaussian_noise(t, 0.5, inplace=True, rng=4) is t
    assert np.array_equal(t.numpy(), ref.gaussian_noise(x, 0.5, 4))
    half = torch.from_numpy(x).to(torch.bfloat16)
    y16 = nd.gaussian_dropout(half, 0.3, rng=4)  # float32 compute, one rounding (torch's, to nearest even)
    expected16 = (half.float() * torch.from_numpy(ref.gaussian_dropout(np.ones_like(x), 0.3, 4))).to(torch.bfloat16)
    assert y16.dtype == torch.bfloat16 and torch.equal(y16, expected16)


# --- gradients ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "rate"), [(nd.gaussian_dropout, 0.3), (nd.gaussian_noise, 0.8)])
def test_gradient_matches_finite_differences(fn, rate):
    x = _data((3, 5), np.float64)
    w = _data((3, 5), np.float64, seed=1)
    t = tensor(x, requires_grad=True)
    (fn(t, rate, rng=nd.Generator(6, 2)) * w).sum().backward()
    probe = x.copy()  # perturbed in place by the check
    assert_gradient(t.grad, lambda: w * fn(probe, rate, rng=nd.Generator(6, 2)), probe, rtol=1e-7)


def test_gradients_match_torch_autograd_with_the_same_z():
    torch = pytest.importorskip("torch")
    x = _data((4, 9), np.float64)
    w = _data((4, 9), np.float64, seed=1)
    p, stddev = 0.3, 0.7
    z = ref.normals(x.size, 6, 2).reshape(x.shape)
    s = math.sqrt(p / (1 - p))
    for fn, rate, torch_fn in [
        (nd.gaussian_dropout, p, lambda v: v * (1 + s * torch.from_numpy(z))),
        (nd.gaussian_noise, stddev, lambda v: v + stddev * torch.from_numpy(z)),
    ]:
        t = tensor(x, requires_grad=True)
        y = fn(t, rate, rng=nd.Generator(6, 2))
        (y * w).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        yt = torch_fn(xt)
        (yt * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=1e-15, atol=0)
        np.testing.assert_allclose(t.grad, xt.grad.numpy(), rtol=1e-15, atol=0)


def test_state_backward_redraws_the_factor():
    x = _data((5, 37), np.float32)
    g = _data((5, 37), np.float32, seed=2)
    _, state = nd.gaussian_dropout(x, 0.4, rng=nd.Generator(1, 1), return_state=True)
    assert state.kind == "gaussian_dropout" and state.seed == 1 and state.offset == 1
    assert np.array_equal(state.backward(g), ref.gaussian_dropout(g, 0.4, 1, 1))
    _, noise_state = nd.gaussian_noise(x, 0.4, rng=2, return_state=True)
    assert noise_state.backward(g) is g
    _, eval_state = nd.gaussian_dropout(x, 0.4, training=False, return_state=True)
    assert eval_state.kind == "identity" and eval_state.backward(g) is g
    with pytest.raises(ValueError, match="shape"):
        state.backward(g[:, :3])


@pytest.mark.parametrize(
    ("layer", "fn", "rate"),
    [(nn.GaussianDropout, nd.gaussian_dropout, 0.2), (nn.GaussianNoise, nd.gaussian_noise, 0.3)],
)
def test_layers_own_a_generator_and_backpropagate(layer, fn, rate):
    x = _data((4, 6), np.float32)
    g = _data((4, 6), np.float32, seed=3)
    module = layer(rate, rng=5)
    for offset in range(2):
        y = module(x)
        expected, state = fn(x, rate, rng=nd.Generator(5, offset), return_state=True)
        assert np.array_equal(y, expected)
        assert np.array_equal(module.backward(g), state.backward(g))
    module.eval()
    assert np.array_equal(module(x), x)
    seq = nn.Sequential(nn.Linear(6, 3, rng=0), layer(rate, rng=1))
    t = tensor(x, requires_grad=True)
    seq(t).sum().backward()  # d sum(factor * (x W^T + b)) / dx = factor @ W (noise: ones @ W)
    factor = np.ones((4, 3), np.float32)
    if layer is nn.GaussianDropout:
        factor = ref.gaussian_dropout(factor, rate, 1, 0)
    np.testing.assert_allclose(t.grad, factor @ np.asarray(seq[0].weight), rtol=1e-5)
    assert seq[0].weight.grad is not None


def test_recorded_inplace_call_differentiates():
    x = _data((3, 8), np.float32)
    t = tensor(x, requires_grad=True)
    y = nd.gaussian_dropout(t * 1.0, 0.3, inplace=True, rng=5)
    (y * 2).sum().backward()
    assert np.array_equal(t.grad, 2 * ref.gaussian_dropout(np.ones_like(x), 0.3, 5))


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 1, -0.1, 1.5, float("nan")])
def test_bad_p_is_a_value_error_naming_it(p):
    with pytest.raises(ValueError, match=rf"p must be in \[0, 1\).*{p!r}|p must be in \[0, 1\], got {p!r}"):
        nd.gaussian_dropout(np.ones(3, np.float32), p, rng=0)
    with pytest.raises(ValueError):
        nn.GaussianDropout(p)


@pytest.mark.parametrize("stddev", [-0.5, float("nan"), float("inf")])
def test_bad_stddev_is_a_value_error_naming_it(stddev):
    with pytest.raises(ValueError, match=f"stddev must be a finite number >= 0, got {stddev!r}"):
        nd.gaussian_noise(np.ones(3, np.float32), stddev, rng=0)
    with pytest.raises(ValueError, match="stddev"):
        nn.GaussianNoise(stddev)


def test_bad_types_are_type_errors():
    with pytest.raises(TypeError, match="p must be a real number"):
        nd.gaussian_dropout(np.ones(3, np.float32), "0.5")
    with pytest.raises(TypeError, match="stddev must be a real number"):
        nd.gaussian_noise(np.ones(3, np.float32), True)
    with pytest.raises(TypeError, match="x must have dtype float16, float32 or float64, got dtype int64"):
        nd.gaussian_noise(np.ones(3, np.int64), 0.5)
    with pytest.raises(TypeError, match="training must be a bool"):
        nd.gaussian_noise(np.ones(3), 0.5, training="yes")
    with pytest.raises(TypeError, match="rng must be"):
        nd.gaussian_dropout(np.ones(3), 0.5, rng="seed")
