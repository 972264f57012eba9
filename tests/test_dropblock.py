"""DropBlock: torchvision's semantics with the seed grid drawn under the mask contract."""

from __future__ import annotations

import naive
import naive_dropblock
import numba
import numpy as np
import pytest
from finite_differences import assert_gradient

import numbadrop as nd
from numbadrop import nn
from numbadrop.autograd import tensor
from numbadrop.kernels.cpu import dropblock as _dropblock_cpu
from numbadrop.ops import dropblock as _dropblock

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def data(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def function(ndim: int):
    return nd.drop_block2d if ndim == 4 else nd.drop_block3d


def same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8))


# (shape, block_size, p): odd grids (Philox groups split across planes and rows),
# block_size 1 (plain dropout of the grid), block_size = the spatial size, and
# rows of every length modulo 8 (the kernels' padded row stride).
CASES = [
    ((2, 3, 8, 9), 3, 0.3),
    ((3, 2, 7, 5), 5, 0.6),
    ((1, 1, 4, 4), 1, 0.2),
    ((2, 3, 9, 9), 9, 0.9),
    ((1, 2, 13, 6), 5, 1.0),
    ((1, 2, 70, 66), 3, 0.2),  # a plane's grid alone exceeds DRAW_CELLS
    ((2, 2, 5, 6, 7), 3, 0.5),
    ((1, 3, 5, 5, 5), 5, 0.9),
    ((2, 1, 7, 4, 6), 3, 0.7),
]


@pytest.mark.parametrize("shape, bs, p", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_reference(shape, bs, p, dtype):
    x = data(shape, dtype)
    before = x.copy()
    y, state = function(len(shape))(x, p, bs, rng=nd.Generator(5, 2), return_state=True)
    expected, scale = naive_dropblock.drop_block(x, p, bs, 5, 2)
    same_bits(y, expected)
    same_bits(x, before)
    assert type(state.scale) is np.dtype(dtype).type and state.scale == scale
    same_bits(state.backward(x), expected)  # the backward is the same map


def test_reference_agrees_with_itself():
    """The reference's two readings of the mask: seeds zero their blocks / an element sees a seed behind it."""
    for shape, bs, p in CASES:
        a = naive_dropblock.block_keep(shape, p, bs, 11, 3)
        b = naive_dropblock.block_keep_by_windows(shape, p, bs, 11, 3)
        np.testing.assert_array_equal(a, b)


def test_seed_grid_is_the_contract_mask():
    shape, bs, p = (2, 3, 8, 9), 3, 0.3
    g = _dropblock.gamma(p, shape[2:], bs)
    assert g == p * 8 * 9 / (bs**2 * ((8 - bs + 1) * (9 - bs + 1)))
    grid = nd.dropout_mask((2, 3, 6, 7), g, rng=nd.Generator(5, 2))
    np.testing.assert_array_equal(~grid, naive_dropblock.seeds(shape, p, bs, 5, 2))
    np.testing.assert_array_equal(grid, naive.keep_mask((2, 3, 6, 7), g, 5, 2))


@pytest.mark.parametrize("dtype", [np.float16, ">f4", ">f8"])
def test_other_dtypes_and_byte_orders(dtype):
    x = data((2, 3, 8, 9), dtype)
    y = nd.drop_block2d(x, 0.4, 3, rng=4)
    native = np.dtype(dtype).newbyteorder("=")
    expected, _ = naive_dropblock.drop_block(x.astype(native), 0.4, 3, 4)
    same_bits(y, expected)


def test_bfloat16_is_computed_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = data((2, 2, 6, 6), np.float32).astype(ml_dtypes.bfloat16)
    y, state = nd.drop_block2d(x, 0.4, 3, rng=4, return_state=True)
    keep = naive_dropblock.block_keep(x.shape, 0.4, 3, 4, 0)
    assert y.dtype == x.dtype and state.scale.dtype == np.float32
    expected = np.where(keep, (x.astype(np.float32) * state.scale).astype(x.dtype), 0)
    np.testing.assert_array_equal(y.view(np.uint16), expected.view(np.uint16))


def test_strided_input_and_the_input_is_left_alone():
    base = data((2, 3, 10, 12), np.float32)
    x = base[:, :, 1:9, ::2]  # (2, 3, 8, 6), not contiguous
    before = x.copy()
    y = nd.drop_block2d(x, 0.5, 3, rng=9)
    same_bits(y, naive_dropblock.drop_block(before, 0.5, 3, 9)[0])
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("contiguous", [True, False])
def test_inplace(contiguous):
    base = data((2, 3, 8, 16), np.float32)
    x = base.copy() if contiguous else base.copy()[..., ::2]
    expected = nd.drop_block2d(x, 0.3, 3, rng=2)
    y = nd.drop_block2d(x, 0.3, 3, inplace=True, rng=2)
    assert y is x
    same_bits(np.ascontiguousarray(x), expected)
    with pytest.raises(ValueError, match="read-only"):
        ro = data((1, 1, 4, 4))
        ro.flags.writeable = False
        nd.drop_block2d(ro, 0.3, 3, inplace=True, rng=1)


def test_the_result_does_not_depend_on_threads_or_chunks(monkeypatch):
    x = data((3, 5, 11, 9), np.float32)
    expected = nd.drop_block2d(x, 0.5, 5, rng=nd.Generator(1, 7))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        same_bits(nd.drop_block2d(x, 0.5, 5, rng=nd.Generator(1, 7)), expected)
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(_dropblock_cpu, "CHUNKS_PER_THREAD", 7)
    same_bits(nd.drop_block2d(x, 0.5, 5, rng=nd.Generator(1, 7)), expected)


def test_eval_p0_and_the_generator():
    x = data((2, 2, 6, 6))
    assert nd.drop_block2d(x, 0.5, 3, training=False) is x
    y, state = nd.drop_block2d(x, 0.0, 3, rng=1, return_state=True)
    assert y is x and state.kind == "identity" and state.backward(x) is x
    gen = nd.Generator(8)
    first = nd.drop_block2d(x, 0.5, 3, rng=gen)
    second = nd.drop_block2d(x, 0.5, 3, rng=gen)
    same_bits(first, nd.drop_block2d(x, 0.5, 3, rng=nd.Generator(8, 0)))
    same_bits(second, nd.drop_block2d(x, 0.5, 3, rng=nd.Generator(8, 1)))
    assert gen.offset == 2


def test_empty_batch_and_all_dropped():
    y = nd.drop_block2d(np.ones((0, 3, 5, 5), np.float32), 0.5, 3, rng=0)
    assert y.shape == (0, 3, 5, 5)
    y, state = nd.drop_block2d(np.ones((1, 1, 3, 3), np.float32), 1.0, 3, rng=0, return_state=True)
    # gamma = 1 at block_size = H = W: every seed drawn, nothing kept, no NaN
    assert not y.any() and np.isfinite(state.scale)


def test_drop_rate():
    """Interior elements are dropped with probability 1 - (1 - gamma)**(bs**2), as in torchvision."""
    p, bs = 0.2, 3
    y = nd.drop_block2d(np.ones((64, 64, 16, 16), np.float32), p, bs, rng=3)
    g = _dropblock.gamma(p, (16, 16), bs)
    interior = y[:, :, bs - 1 : 16 - bs + 1, bs - 1 : 16 - bs + 1]
    expected = 1 - (1 - g) ** (bs * bs)
    assert abs(float((interior == 0).mean()) - expected) < 0.01


def torchvision_drop_block(xt, seeds, bs: int, eps: float = 1e-6):
    """torchvision.ops.drop_block2d/3d's algorithm, its Bernoulli noise replaced by ``seeds``."""
    import torch.nn.functional as F

    noise = torch.from_numpy(seeds.astype(np.float64)).to(xt.dtype)
    noise = F.pad(noise, [bs // 2] * 2 * (xt.ndim - 2), value=0)
    pool = F.max_pool2d if xt.ndim == 4 else F.max_pool3d
    noise = pool(noise, stride=1, kernel_size=bs, padding=bs // 2)
    noise = 1 - noise
    normalize_scale = noise.numel() / (eps + noise.sum())
    return xt * noise * normalize_scale, normalize_scale


@needs_torch
@pytest.mark.parametrize("shape, bs, p", [CASES[0], CASES[1], CASES[3], CASES[5], CASES[6]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torchvision_algorithm_with_the_same_seeds(shape, bs, p, dtype):
    x = data(shape, dtype)
    seeds = naive_dropblock.seeds(shape, p, bs, 6, 1)
    expected, scale = torchvision_drop_block(torch.from_numpy(x), seeds, bs)
    y, state = function(len(shape))(x, p, bs, rng=nd.Generator(6, 1), return_state=True)
    np.testing.assert_array_equal(y, expected.numpy())  # torch's dropped values are x * 0 = -0.0 for x < 0
    assert state.scale == scale.item()


@needs_torch
@pytest.mark.parametrize("shape, bs, p", [CASES[0], CASES[6]])
def test_gradients_match_torch_autograd(shape, bs, p):
    x = data(shape)
    upstream = data(shape, seed=1)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    expected, _ = torchvision_drop_block(xt, naive_dropblock.seeds(shape, p, bs, 6, 1), bs)
    (expected * torch.from_numpy(upstream)).sum().backward()
    leaf = tensor(x, requires_grad=True)
    y = function(len(shape))(leaf, p, bs, rng=nd.Generator(6, 1))
    (y * upstream).sum().backward()
    np.testing.assert_array_equal(leaf.grad, xt.grad.numpy())


def test_gradient_against_finite_differences():
    x = data((1, 2, 5, 6))
    upstream = data(x.shape, seed=3)
    leaf = tensor(x, requires_grad=True)
    y, state = nd.drop_block2d(leaf, 0.5, 3, rng=13, return_state=True)
    (y * upstream).sum().backward()

    probe = x.copy()  # perturbed in place by the check
    assert_gradient(leaf.grad, lambda: nd.drop_block2d(probe, 0.5, 3, rng=13) * upstream, probe, rtol=1e-6)
    np.testing.assert_array_equal(leaf.grad, state.backward(upstream))


def test_layers():
    layer = nn.DropBlock2d(0.3, 3, rng=4)
    assert repr(layer) == "DropBlock2d(p=0.3, block_size=3, inplace=False, eps=1e-06)"
    x = data((2, 3, 8, 9))
    same_bits(layer(x), nd.drop_block2d(x, 0.3, 3, rng=nd.Generator(4, 0)))
    same_bits(layer(x), nd.drop_block2d(x, 0.3, 3, rng=nd.Generator(4, 1)))
    assert layer.eval()(x) is x
    layer3 = nn.DropBlock3d(0.5, 3, eps=1e-3, rng=nd.Generator(2))
    assert repr(layer3) == "DropBlock3d(p=0.5, block_size=3, inplace=False, eps=0.001)"
    x3 = data((1, 2, 5, 5, 5))
    same_bits(layer3(x3), naive_dropblock.drop_block(x3, 0.5, 3, 2, 0, eps=1e-3)[0])


def test_layer_backward_in_a_network():
    net = nn.Sequential(nn.DropBlock2d(0.4, 3, rng=5), nn.Flatten(), nn.Linear(2 * 6 * 6, 3, dtype=np.float64, rng=0))
    x = data((4, 2, 6, 6))
    leaf = tensor(x, requires_grad=True)
    net(leaf).sum().backward()
    keep = naive_dropblock.block_keep(x.shape, 0.4, 3, 5, 0)
    _, scale = naive_dropblock.drop_block(x, 0.4, 3, 5, 0)
    upstream = np.broadcast_to(net[2].weight.data.sum(axis=0), (4, 72)).reshape(x.shape)
    np.testing.assert_allclose(leaf.grad, np.where(keep, upstream * scale, 0.0), rtol=1e-12)


@needs_torch
def test_torch_cpu_tensors():
    x = data((2, 3, 8, 9), np.float32)
    y = nd.drop_block2d(torch.from_numpy(x), 0.3, 3, rng=1)
    assert isinstance(y, torch.Tensor)
    np.testing.assert_array_equal(y.numpy(), nd.drop_block2d(x, 0.3, 3, rng=1))
    xt = torch.from_numpy(x.copy())
    assert nd.drop_block2d(xt, 0.3, 3, inplace=True, rng=1) is xt
    np.testing.assert_array_equal(xt.numpy(), y.numpy())
    half = torch.from_numpy(x).to(torch.bfloat16)
    y, state = nd.drop_block2d(half, 0.3, 3, rng=1, return_state=True)
    keep = naive_dropblock.block_keep(x.shape, 0.3, 3, 1, 0)
    expected = torch.where(torch.from_numpy(keep), (half.float() * float(state.scale)).to(torch.bfloat16), 0)
    assert y.dtype == torch.bfloat16 and torch.equal(y.view(torch.int16), expected.view(torch.int16))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: nd.drop_block2d(x, 0.5, 4), ValueError, "block_size must be a positive odd int.*4"),
        (lambda x: nd.drop_block2d(x, 0.5, 0), ValueError, "block_size.*0"),
        (lambda x: nd.drop_block2d(x, 0.5, 3.0), TypeError, r"block_size must be an int, got 3\.0"),
        (lambda x: nd.drop_block2d(x, 0.5, True), TypeError, "block_size must be an int, got True"),
        (lambda x: nd.drop_block2d(x, 0.5, 9), ValueError, r"block_size 9 is larger than the spatial size \(8, 7\)"),
        (lambda x: nd.drop_block2d(x, 1.5, 3), ValueError, r"p must be in \[0, 1\], got 1.5"),
        (lambda x: nd.drop_block2d(x, -0.1, 3), ValueError, "p must be in"),
        (lambda x: nd.drop_block2d(x, 0.5, 3, eps=-1.0), ValueError, "eps must be a finite number >= 0, got -1.0"),
        (lambda x: nd.drop_block2d(x[0], 0.5, 3), ValueError, r"4-D \(N, C, H, W\) input, got .*\(3, 8, 7\)"),
        (lambda x: nd.drop_block3d(x, 0.5, 3), ValueError, r"5-D \(N, C, D, H, W\) input, got .*\(2, 3, 8, 7\)"),
        (lambda x: nd.drop_block2d(x.astype(np.int32), 0.5, 3), TypeError, "x must have dtype"),
        (lambda x: nd.drop_block2d(np.ma.masked_array(x), 0.5, 3), TypeError, "masked arrays"),
        (lambda x: nd.drop_block2d(x, 0.5, 3, inplace=1), TypeError, "inplace must be a bool"),
        (lambda x: nn.DropBlock2d(0.5, 2), ValueError, "block_size must be a positive odd int.*2"),
        (lambda x: nn.DropBlock2d(2.0, 3), ValueError, "p must be in"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(data((2, 3, 8, 7)))


@pytest.mark.parametrize(
    "shape, chunks",
    [((3, 4, 9, 8), (1, 1, 9, 8)), ((3, 4, 9, 8), (2, 3, 4, 5)), ((2, 3, 5, 6, 7), (1, 2, 2, 6, 3))],
)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dask_chunkings_give_the_numpy_bits(shape, chunks, dtype):
    da = pytest.importorskip("dask.array")
    x = data(shape, dtype)
    grad = data(shape, dtype, seed=1)
    expected, state = function(len(shape))(x, 0.4, 3, rng=nd.Generator(2, 1), return_state=True)
    y, lazy_state = function(len(shape))(
        da.from_array(x, chunks=chunks), 0.4, 3, rng=nd.Generator(2, 1), return_state=True
    )
    assert isinstance(y, da.Array) and y.chunks == da.from_array(x, chunks=chunks).chunks
    same_bits(y.compute(), expected)
    assert lazy_state.scale.compute() == state.scale
    same_bits(lazy_state.backward(da.from_array(grad, chunks=chunks)).compute(), state.backward(grad))
    same_bits(lazy_state.backward(grad), state.backward(grad))  # a NumPy gradient: the scale is computed
    same_bits(state.backward(da.from_array(grad, chunks=chunks)).compute(), state.backward(grad))


def test_dask_is_lazy_and_the_count_does_not_read_x():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    reads = []

    def load():
        reads.append(1)
        return data((2, 3, 6, 6), np.float32)

    x = da.from_delayed(dask.delayed(load)(), (2, 3, 6, 6), np.float32)
    y, state = nd.drop_block2d(x, 0.5, 3, rng=4, return_state=True)
    again = nd.drop_block2d(x, 0.5, 3, rng=4)
    assert y.name == again.name  # deterministic graph keys
    state.scale.compute()
    assert reads == []
    same_bits(y.compute(), nd.drop_block2d(load(), 0.5, 3, rng=4))
    with pytest.raises(ValueError, match="immutable"):
        nd.drop_block2d(x, 0.5, 3, inplace=True, rng=4)
