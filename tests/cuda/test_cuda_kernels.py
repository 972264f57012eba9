"""Every CUDA kernel, bit for bit against the CPU kernels and tests/naive.py.

Runs under ``NUMBA_ENABLE_CUDASIM=1`` (see conftest.py): small inputs,
32-thread blocks and a 3-block grid, so that every grid-stride loop, the
vectorized and scalar paths, the partial last Philox group, broadcast rows,
the general kernel and the Python loop over leading dimensions all run.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest
from gpuarrays import SIMULATOR, HostCAI, assert_identical, to_gpu, to_host

import numbadrop as nd
from numbadrop import backends as _engine
from numbadrop._core import geometry as _geometry
from numbadrop._core import tunables as _tunables
from numbadrop.kernels.cuda import _prims as _cuda_prims
from numbadrop.kernels.cuda import dropout as _cuda

DTYPES = [np.float16, np.float32, np.float64]
U64_MAX = 2**64 - 1


def data(shape, dtype, seed=0):
    """Normal data with a few specials (exact zeros of both signs, +-inf, tiny)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1e-30, -3.5], dtype)
    flat[: min(flat.size, specials.size)] = specials[: flat.size]
    return x


# Views applied alike to the NumPy array and to its device copy.
VIEWS = {
    "contiguous": lambda a: a,
    "offset": lambda a: a.reshape(-1)[1:],  # unaligned start: scalar kernel
    "transposed": lambda a: a.T,
    "stepped": lambda a: a[..., ::2],
    "sliced": lambda a: a[..., 1:-1],
}
SHAPES = [(0,), (1,), (3,), (4,), (5,), (258,), (6, 41), (2, 3, 4, 9), (2, 2, 3, 2, 5)]


def _check(fn, shape, dtype, view, **kw):
    host = data(shape, dtype)
    hv = VIEWS[view](host)
    dv = VIEWS[view](to_gpu(host))
    expected = fn(hv, **kw)
    actual = fn(dv, **kw)
    assert type(actual) is type(dv)
    assert_identical(to_host(actual), expected)
    return hv, expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("view", list(VIEWS))
def test_dropout_forward(shape, dtype, view):
    if view in ("transposed",) and len(shape) < 2:
        pytest.skip("1-D")
    hv, expected = _check(nd.dropout, shape, dtype, view, p=0.3, rng=11)
    assert_identical(expected, naive.dropout(hv, 0.3, 11))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1e-9, 0.5, 0.999])
def test_dropout_p_seed_offset_extremes(dtype, p):
    g = nd.Generator(U64_MAX, offset=U64_MAX - 1)
    host = data((333,), dtype, 1)
    actual = nd.dropout(to_gpu(host), p, rng=g)
    expected = naive.dropout(host, p, U64_MAX, U64_MAX - 1)
    assert_identical(to_host(actual), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"])
@pytest.mark.parametrize("inner", [3, 8, 20, 33])
def test_channel_dropout(fn, dtype, inner):
    """Rows of ``inner`` elements: general kernel (< CUDA_ROW_MIN = 16), 4-wide rows, scalar rows."""
    spatial = {"dropout1d": (inner,), "dropout2d": (2, inner), "dropout3d": (1, 2, inner)}.get(fn, (inner,))
    f = getattr(nd, fn)
    kw = {"training": True} if fn == "feature_alpha_dropout" else {}
    for shape in [(3, 5, *spatial), (5, *spatial)] if fn != "feature_alpha_dropout" else [(3, 5, *spatial)]:
        host = data(shape, dtype, 2)
        actual = f(to_gpu(host), 0.4, rng=5, **kw)
        expected = f(host, 0.4, rng=5, **kw)
        assert_identical(to_host(actual), expected)
        axes = tuple(range(len(shape) - len(spatial), len(shape)))
        ref = naive.alpha_dropout if fn == "feature_alpha_dropout" else naive.dropout
        if fn == "feature_alpha_dropout":
            axes = tuple(range(2, len(shape)))
        assert_identical(expected, ref(host, 0.4, 5, 0, axes))


@pytest.mark.parametrize("view", ["contiguous", "stepped", "sliced", "transposed"])
def test_channel_dropout_strided_rows(view, monkeypatch):
    """Strided (N, C, H, W) views: rows with gaps, unaligned rows, row-major and not."""
    monkeypatch.setattr(_tunables, "CUDA_ROW_MIN", 4)
    host = data((2, 3, 5, 12), np.float32, 3)
    hv = VIEWS[view](host)
    dv = VIEWS[view](to_gpu(host))
    assert_identical(to_host(nd.dropout2d(dv, 0.5, rng=9)), nd.dropout2d(hv, 0.5, rng=9))


@pytest.mark.parametrize(
    "shape, axes",
    [((4, 6, 10), (1,)), ((2, 5, 5, 8), (1, 2)), ((3, 4, 40), (1, 2)), ((2, 3, 64), (0,)), ((7, 9), (0, 1))],
)
def test_broadcast_dims(shape, axes):
    """Locked dropout, channels-last spatial dropout, DropPath and masks broadcast on axis 0."""
    host = data(shape, np.float32, 4)
    actual = nd.dropout(to_gpu(host), 0.5, rng=6, broadcast_dims=axes)
    assert_identical(to_host(actual), nd.dropout(host, 0.5, rng=6, broadcast_dims=axes))
    assert_identical(to_host(actual), naive.dropout(host, 0.5, 6, 0, axes))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("view", ["contiguous", "offset", "stepped"])
def test_alpha_dropout(dtype, view):
    """Kept ``a*x + b`` rounds twice on the GPU too (``mul.rn``, never an FMA)."""
    hv, expected = _check(nd.alpha_dropout, (7, 37), dtype, view, p=0.2, training=True, rng=3)
    assert_identical(expected, naive.alpha_dropout(hv, 0.2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fn, kw, shape",
    [
        ("dropout", {}, (5, 39)),
        ("dropout2d", {}, (2, 3, 4, 6)),
        ("alpha_dropout", {"training": True}, (5, 39)),
        ("feature_alpha_dropout", {"training": True}, (2, 3, 20)),
    ],
)
@pytest.mark.parametrize("inplace", [False, True])
def test_backward(fn, kw, shape, dtype, inplace):
    """``state.backward`` regenerates the mask on the GPU, out of place and in place."""
    f = getattr(nd, fn)
    host = data(shape, dtype, 5)
    grad = data(shape, dtype, 6)
    _, state = f(to_gpu(host), 0.35, rng=nd.Generator(8, 3), return_state=True, **kw)
    _, cpu_state = f(host, 0.35, rng=nd.Generator(8, 3), return_state=True, **kw)
    assert state == cpu_state
    dgrad = to_gpu(grad)
    out = state.backward(dgrad, inplace=inplace)
    assert (out is dgrad) == inplace
    assert_identical(to_host(out), cpu_state.backward(grad.copy()))


def test_backward_strided_grad():
    host = data((6, 10), np.float32, 7)
    _, state = nd.dropout(to_gpu(host), 0.5, rng=1, return_state=True)
    grad = data((10, 6), np.float32, 8)
    out = state.backward(to_gpu(grad).T)
    assert_identical(to_host(out), state.backward(grad.T))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["dropout", "dropout2d", "alpha_dropout"])
@pytest.mark.parametrize("view", ["contiguous", "stepped"])
def test_inplace(fn, dtype, view):
    host = data((2, 3, 4, 10), dtype, 9)
    base = to_gpu(host)
    dv = VIEWS[view](base)
    kw = {"training": True} if fn == "alpha_dropout" else {}
    y = getattr(nd, fn)(dv, 0.5, inplace=True, rng=2, **kw)
    assert y is dv
    expected = host.copy()
    getattr(nd, fn)(VIEWS[view](expected), 0.5, inplace=True, rng=2, **kw)
    assert_identical(to_host(base), expected)  # untouched elements too


@pytest.mark.parametrize("view", ["contiguous", "stepped"])
@pytest.mark.parametrize("inplace", [False, True])
def test_p_one_zeros(view, inplace):
    host = np.full((3, 10), np.nan, np.float32)
    base = to_gpu(host)
    dv = VIEWS[view](base)
    y, state = nd.dropout(dv, 1.0, inplace=inplace, rng=0, return_state=True)
    assert_identical(to_host(y), np.zeros(VIEWS[view](host).shape, np.float32))
    g = state.backward(to_gpu(np.full(VIEWS[view](host).shape, np.inf, np.float32)))
    assert_identical(to_host(g), np.zeros(VIEWS[view](host).shape, np.float32))
    a = nd.alpha_dropout(dv, 1.0, training=True, rng=0)
    assert_identical(to_host(a), np.zeros(VIEWS[view](host).shape, np.float32))


def test_identity_returns_input():
    d = to_gpu(data((5,), np.float32))
    assert nd.dropout(d, 0.0) is d
    assert nd.dropout(d, 0.5, training=False) is d
    y, state = nd.dropout(d, 0.0, return_state=True)
    assert y is d and state.backward(d) is d


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 50), (2, 3, 4, 5)])
@pytest.mark.parametrize("p", [0.0, 0.45, 1.0])
@pytest.mark.parametrize("broadcast", [(), (-1,)])
def test_dropout_mask(shape, p, broadcast):
    if broadcast and len(shape) < 2:
        pytest.skip("1-D")
    keep = nd.dropout_mask(shape, p, rng=nd.Generator(4, 1), broadcast_dims=broadcast, device="cuda")
    expected = nd.dropout_mask(shape, p, rng=nd.Generator(4, 1), broadcast_dims=broadcast)
    assert_identical(to_host(keep), expected)


def test_dropout_mask_like_array():
    """``device=`` a GPU array: the same kind of array (a Numba one here)."""
    like = to_gpu(np.zeros(3, np.float32))
    keep = nd.dropout_mask((4, 9), 0.5, rng=1, device=like)
    assert type(keep) is type(like)
    assert_identical(to_host(keep), naive.keep_mask((4, 9), 0.5, 1, 0))


@pytest.mark.parametrize("op", ["dropout", "alpha", "alpha_grad", "mask"])
@pytest.mark.parametrize("start", [0, 1, 2, 3, 4, 2**33 + 6, 2**62 - 1])
def test_global_start(op, start):
    """A block of a larger array, named by its global start index (64-bit): same as the CPU."""
    host = data((3, 26), np.float32, 10)
    strides = _geometry.mask_strides(host.shape, ())
    if op == "mask":
        expected = np.empty(host.shape, np.bool_)
        dy = to_gpu(np.zeros(host.shape, np.bool_))
        _engine.launch(expected, expected, op, 0.5, 77, 5, strides, start)
        _engine.launch(dy, dy, op, 0.5, 77, 5, strides, start)
    else:
        expected = np.empty_like(host)
        dy = to_gpu(np.full(host.shape, np.nan, np.float32))
        _engine.launch(host, expected, op, 0.5, 77, 5, strides, start)
        _engine.launch(to_gpu(host), dy, op, 0.5, 77, 5, strides, start)
    assert_identical(to_host(dy), expected)


def test_global_start_broadcast_rows(monkeypatch):
    """Broadcast rows of a block with a start index, through the rows and general kernels."""
    host = data((2, 3, 16), np.float32, 12)
    strides = _geometry.mask_strides(host.shape, (2,))
    for row_min in (4, 1000):
        monkeypatch.setattr(_tunables, "CUDA_ROW_MIN", row_min)
        expected = np.empty_like(host)
        _engine.launch(host, expected, "dropout", 0.5, 3, 0, strides, 2**40 + 1)
        dy = to_gpu(np.full(host.shape, np.nan, np.float32))
        _engine.launch(to_gpu(host), dy, "dropout", 0.5, 3, 0, strides, 2**40 + 1)
        assert_identical(to_host(dy), expected)


def test_leading_dimensions_loop():
    """Views that collapse to more than 3 dimensions run one launch per leading index."""
    host = data((3, 4, 5, 6, 8), np.float64, 13)
    view = (slice(None, None, 2),) * 5
    dv = to_gpu(host)[view]
    assert_identical(to_host(nd.dropout(dv, 0.5, rng=4)), nd.dropout(host[view], 0.5, rng=4))
    assert_identical(to_host(nd.dropout3d(dv, 0.5, rng=4)), nd.dropout3d(host[view], 0.5, rng=4))


@pytest.mark.parametrize("unroll", [1, 3])
@pytest.mark.parametrize("tpb", [32, 64])
def test_tunables_do_not_change_results(unroll, tpb, monkeypatch):
    monkeypatch.setattr(_tunables, "CUDA_VEC_UNROLL", unroll)
    monkeypatch.setattr(_tunables, "CUDA_ROW_UNROLL", unroll)
    monkeypatch.setattr(_tunables, "CUDA_THREADS_PER_BLOCK", tpb)
    monkeypatch.setattr(_tunables, "CUDA_MAX_BLOCKS", 2)
    host = data((4, 3, 70), np.float32, 14)
    assert_identical(to_host(nd.dropout(to_gpu(host), 0.5, rng=1)), nd.dropout(host, 0.5, rng=1))
    assert_identical(to_host(nd.dropout1d(to_gpu(host), 0.5, rng=1)), nd.dropout1d(host, 0.5, rng=1))


def test_philox_u32_matches_shared():
    """The GPU's 32-bit Philox gives the shared function's words (random and extreme inputs)."""
    from numbadrop._core.philox import philox4x32_10

    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 2**32, size=(3000, 6), dtype=np.uint64)
    inputs[:64] = np.array([0, 1, 2**31, 2**32 - 1], np.uint64)[rng.integers(0, 4, size=(64, 6))]
    for row in inputs:
        shared = philox4x32_10(*row)
        u32 = _cuda_prims.philox4x32_10_u32(*row)
        assert all(isinstance(w, np.uint32) for w in u32)
        assert [int(w) for w in u32] == [int(w) for w in shared], row


@pytest.mark.parametrize("philox", ["shared", "u32"])
def test_both_philox_builds(philox, monkeypatch):
    """Kernels built with either Philox: the same results (every kernel kind)."""
    monkeypatch.setattr(_tunables, "CUDA_PHILOX", philox)
    host = data((2, 3, 4, 20), np.float32, 16)
    for f in (nd.dropout, nd.dropout2d, lambda a, p, rng: nd.dropout(a, p, rng=rng, broadcast_dims=(1,))):
        assert_identical(to_host(f(to_gpu(host), 0.5, rng=8)), f(host, 0.5, rng=8))
        assert_identical(to_host(f(to_gpu(host)[..., ::3], 0.5, rng=8)), f(host[..., ::3], 0.5, rng=8))
    keep = nd.dropout_mask((5, 7), 0.5, rng=8, device="cuda")
    assert_identical(to_host(keep), nd.dropout_mask((5, 7), 0.5, rng=8))


@pytest.mark.skipif(not SIMULATOR, reason="host memory behind the interface: simulator only")
@pytest.mark.parametrize(
    "view",
    [
        lambda a: a,
        lambda a: a[::-1],
        lambda a: a[:, ::-3],
        lambda a: a.T[1:],
        lambda a: np.broadcast_to(a[:1], a.shape),  # zero strides (input only)
    ],
)
def test_foreign_interface_any_strides(view):
    """An unknown producer's array (bare interface): negative and zero strides; Numba output."""
    host = data((12, 17), np.float32, 15)
    hv = view(host)
    y = nd.dropout(HostCAI(hv), 0.5, rng=3)
    assert type(y).__module__.startswith("numba")
    assert_identical(to_host(y), nd.dropout(np.ascontiguousarray(hv), 0.5, rng=3))


def test_kernel_variants_all_ran(monkeypatch):
    """The launches above reach every kernel variant (guards the dispatch conditions)."""
    seen = set()
    real = _cuda.kernel

    def spy(kind, mode, vec=None):
        seen.add((kind, kind == "vec" if vec is None else vec, mode))
        return real(kind, mode, vec)

    monkeypatch.setattr(_cuda, "kernel", spy)
    host = data((2, 3, 16), np.float32)
    odd = data((2, 3, 21), np.float32)
    for mode_fn in (
        lambda a: nd.dropout(a, 0.5, rng=0),
        lambda a: nd.alpha_dropout(a, 0.5, True, rng=0),
    ):
        mode_fn(to_gpu(host))  # vec
        mode_fn(to_gpu(host)[..., ::2])  # general (s2 = 1)
    nd.dropout1d(to_gpu(host), 0.5, rng=0)  # rows, 4-wide
    nd.dropout1d(to_gpu(odd), 0.5, rng=0)  # rows, scalar
    nd.feature_alpha_dropout(to_gpu(host), 0.5, True, rng=0)
    nd.feature_alpha_dropout(to_gpu(odd), 0.5, True, rng=0)
    nd.dropout_mask((9,), 0.5, rng=0, device="cuda")  # vec, mask
    nd.dropout_mask((2, 3, 16), 0.5, rng=0, device="cuda", broadcast_dims=(0,))
    for start in (0, 1):  # mask: rows (start 0 keeps 4-wide alignment), general
        keep = to_gpu(np.zeros((2, 3, 16), np.bool_))
        _engine.launch(keep, keep, "mask", 0.5, 0, 0, (1, 0, 0), start)
        keep = to_gpu(np.zeros((2, 3, 17), np.bool_))
        _engine.launch(keep, keep, "mask", 0.5, 0, 0, (1, 0, 0), start)
        _engine.launch(keep, keep, "mask", 0.5, 0, 0, (51, 17, 1), start + 1)
    expected = {(kind, vec, mode) for kind, vec in _cuda.VARIANTS for mode in (0, 1, 2)}
    assert expected <= seen, expected - seen


# --- bfloat16: int16 views of its bits, as torch bfloat16 CUDA tensors arrive ------------------


def _bf16(shape, seed):
    """bfloat16 bits (uint16) with NaNs of both signs, infinities, subnormals and zeros."""
    f = data(shape, np.float32, seed)
    flat = f.reshape(-1)
    flat[6 : min(flat.size, 9)] = np.array([np.nan, -np.nan, 1e-39], np.float32)[: max(0, min(flat.size, 9) - 6)]
    return naive.float32_to_bfloat16(f)


@pytest.mark.parametrize("view", ["contiguous", "offset", "transposed", "stepped"])
@pytest.mark.parametrize("op", ["dropout", "alpha"])
def test_bfloat16_kernels(view, op):
    """vec (contiguous), general (offset, transposed, stepped) kernels on bfloat16 bits."""
    host = _bf16((6, 41), 20)
    hv = VIEWS[view](host)
    dv = VIEWS[view](to_gpu(host.view(np.int16)))
    out = to_gpu(np.zeros(hv.shape, np.int16))
    strides = _geometry.mask_strides(hv.shape, ())
    _engine.launch(dv, out, op, 0.3, 12, 3, strides)
    ref = naive.dropout_bfloat16 if op == "dropout" else naive.alpha_dropout_bfloat16
    assert_identical(to_host(out).view(np.uint16), ref(hv, 0.3, 12, 3))
    cpu = np.zeros(hv.shape, np.int16)
    _engine.launch(np.ascontiguousarray(hv).view(np.int16), cpu, op, 0.3, 12, 3, strides)
    assert_identical(to_host(out), cpu)


@pytest.mark.parametrize("inner", [16, 21])
def test_bfloat16_rows_and_zero(inner, monkeypatch):
    """Channel rows (4-wide and scalar), a dropped row's value, and p = 1 zeros."""
    host = _bf16((3, 5, inner), 21)
    axes = (2,)
    for op, ref in (("dropout", naive.dropout_bfloat16), ("alpha", naive.alpha_dropout_bfloat16)):
        out = to_gpu(np.zeros(host.shape, np.int16))
        _engine.launch(to_gpu(host.view(np.int16)), out, op, 0.5, 7, 0, _geometry.mask_strides(host.shape, axes))
        assert_identical(to_host(out).view(np.uint16), ref(host, 0.5, 7, 0, axes))
    out = to_gpu(np.full(host.shape, -1, np.int16))
    _engine.launch(out, out, "zero", 1.0, 0, 0, _geometry.mask_strides(host.shape, ()))
    assert not to_host(out).any()
