"""One front door: the main functions take every array kind and give the same bits.

Each kind (Dask arrays, torch CPU tensors, NumPy subclasses and byte orders)
is compared bit for bit with tests/naive.py and with the NumPy call.
"""

from __future__ import annotations

import naive
import numpy as np
import pytest

import numbadrop as nd

UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def assert_identical(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    uint = UINT[actual.dtype.itemsize]
    a, e = np.ascontiguousarray(actual).view(uint), np.ascontiguousarray(expected).view(uint)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


def data(shape, dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if x.size > 3:
        x.reshape(-1)[::7] = np.nan
        x.reshape(-1)[1] = -np.inf
    return x


# (name, kwargs, shape, naive reference with its broadcast axes)
FORWARDS = [
    ("dropout", {}, (3, 5, 7), lambda x, p, s, o: naive.dropout(x, p, s, o)),
    ("dropout", {"broadcast_dims": (0, 2)}, (3, 5, 7), lambda x, p, s, o: naive.dropout(x, p, s, o, (0, 2))),
    ("dropout1d", {}, (3, 5, 7), lambda x, p, s, o: naive.dropout(x, p, s, o, (2,))),
    ("dropout2d", {}, (2, 3, 4, 5), lambda x, p, s, o: naive.dropout(x, p, s, o, (2, 3))),
    ("dropout3d", {}, (3, 2, 2, 5), lambda x, p, s, o: naive.dropout(x, p, s, o, (1, 2, 3))),
    ("alpha_dropout", {"training": True}, (3, 5, 7), lambda x, p, s, o: naive.alpha_dropout(x, p, s, o)),
    (
        "feature_alpha_dropout",
        {"training": True},
        (2, 3, 4, 5),
        lambda x, p, s, o: naive.alpha_dropout(x, p, s, o, (2, 3)),
    ),
]
IDS = [f"{name}{'-bcast' if 'broadcast_dims' in kw else ''}" for name, kw, _, _ in FORWARDS]


# --- Dask arrays through the main functions ------------------------------------------------


@pytest.fixture
def da():
    return pytest.importorskip("dask.array")


@pytest.mark.parametrize("name, kw, shape, ref", FORWARDS, ids=IDS)
@pytest.mark.parametrize("chunks", [1, 2, 3, -1])
def test_dask_forward_and_backward(da, name, kw, shape, ref, chunks):
    a = data(shape, np.float32, 1)
    x = da.from_array(a, chunks=chunks)
    g = nd.Generator(2**63 + 5, 2**33)
    y, state = getattr(nd, name)(x, 0.3, rng=g, return_state=True, **kw)
    assert isinstance(y, da.Array) and y.chunks == x.chunks and g.offset == 2**33 + 1
    want = ref(a, 0.3, 2**63 + 5, 2**33)
    assert_identical(y.compute(scheduler="sync"), want)
    assert_identical(y.compute(scheduler="sync"), getattr(nd, name)(a, 0.3, rng=nd.Generator(2**63 + 5, 2**33), **kw))
    grad = data(shape, np.float32, 2)
    dx = state.backward(da.from_array(grad, chunks=2))
    assert isinstance(dx, da.Array)
    assert_identical(dx.compute(scheduler="sync"), state.backward(grad))


def test_dask_is_lazy_and_dask_module_is_an_alias(da, monkeypatch):
    import numbadrop.backends.dask as dask_backend
    import numbadrop.dask as ndd

    calls = []
    real = dask_backend._apply_block

    def counting(x, block_info=None, **kwargs):  # dask passes block_info by name
        calls.append(1)
        return real(x, block_info=block_info, **kwargs)

    monkeypatch.setattr(dask_backend, "_apply_block", counting)
    x = da.ones((6, 4), dtype=np.float32, chunks=2)
    y = nd.dropout(x, 0.5, rng=3)
    assert calls == [] and isinstance(y, da.Array)
    y.compute(scheduler="sync")
    assert len(calls) == x.npartitions
    assert ndd.dropout.__wrapped__ is nd.dropout and ndd.dropout.__doc__ == nd.dropout.__doc__
    assert ndd.DaskDropoutState is nd.DropoutState


@pytest.mark.parametrize("broadcast", [(), (1,), (0, 2)])
def test_dask_dropout_mask_device(da, broadcast):
    like = da.zeros((5, 6, 7), dtype=np.float32, chunks=(2, 4, 3))
    keep = nd.dropout_mask((5, 6, 7), 0.4, rng=9, broadcast_dims=broadcast, device=like)
    assert isinstance(keep, da.Array)
    assert all(keep.chunks[i] == ((1,) if i in broadcast else like.chunks[i]) for i in range(3))
    mshape = tuple(1 if i in broadcast else n for i, n in enumerate(like.shape))
    assert_identical(keep.compute(scheduler="sync"), naive.keep_mask(mshape, 0.4, 9, 0))
    with pytest.raises(ValueError, match="device"):
        nd.dropout_mask((5, 6), 0.4, rng=9, device=like)


def test_dask_bad_input(da):
    x = da.ones((2, 3), dtype=np.float32, chunks=2)
    with pytest.raises(ValueError, match="inplace"):
        nd.dropout(x, 0.5, inplace=True)
    with pytest.raises(TypeError, match="x must have dtype"):
        nd.dropout(da.ones(3, dtype=np.int8), 0.5)
    _, state = nd.dropout(data((2, 3)), 0.5, rng=0, return_state=True)
    assert isinstance(state.backward(x), da.Array)  # a NumPy forward, a Dask gradient
    with pytest.raises(ValueError, match="grad has shape"):
        state.backward(da.ones((3, 2), dtype=np.float32))


# --- torch CPU tensors -----------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name, kw, shape, ref", FORWARDS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_torch_cpu_tensor_in_tensor_out(torch, name, kw, shape, ref, dtype):
    a = data(shape, dtype, 3)
    t = torch.from_numpy(a.copy())
    y, state = getattr(nd, name)(t, 0.45, rng=nd.Generator(7, 1), return_state=True, **kw)
    assert type(y) is torch.Tensor and y.dtype == t.dtype and y.device == t.device
    assert_identical(y.numpy(), ref(a, 0.45, 7, 1))
    grad = torch.from_numpy(data(shape, dtype, 4))
    dx = state.backward(grad)
    assert type(dx) is torch.Tensor
    assert_identical(dx.numpy(), state.backward(grad.numpy()))
    assert_identical(t.numpy(), a)  # input untouched


def test_torch_inplace_strided_and_requires_grad(torch):
    a = data((4, 10), np.float32, 5)
    base = torch.from_numpy(a.copy())
    view = base[:, ::3]
    out = nd.dropout(view, 0.5, inplace=True, rng=2)
    assert out is view
    expected = a.copy()
    expected[:, ::3] = naive.dropout(a[:, ::3], 0.5, 2)
    assert_identical(base.numpy(), expected)
    leaf = torch.from_numpy(a.copy()).requires_grad_()
    assert_identical(nd.dropout(leaf, 0.5, rng=4).detach().numpy(), naive.dropout(a, 0.5, 4))
    assert_identical(nd.dropout(base.T, 0.5, rng=4).numpy(), naive.dropout(base.numpy().T, 0.5, 4))
    z = nd.dropout(torch.from_numpy(a.copy()), 1.0, rng=4)
    assert type(z) is torch.Tensor and not z.any()
    channels_last = torch.from_numpy(data((2, 5, 4, 6), np.float32, 6)).to(memory_format=torch.channels_last)
    y = nd.dropout2d(channels_last, 0.5, rng=4)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.stride() == channels_last.stride()
    assert_identical(y.numpy(), naive.dropout(channels_last.numpy(), 0.5, 4, 0, (2, 3)))


def test_torch_bad_tensors(torch):
    with pytest.raises(TypeError, match=r"x must have dtype float16, float32 or float64, got dtype torch\.int32"):
        nd.dropout(torch.ones(3, dtype=torch.int32), 0.5)
    with pytest.raises(TypeError, match="layout"):
        nd.dropout(torch.ones(3, 3).to_sparse(), 0.5)
    with pytest.raises(TypeError, match="device"):
        nd.dropout(torch.ones(3, device="meta"), 0.5)


# --- NumPy's own kinds ------------------------------------------------------------------------


@pytest.mark.parametrize("inplace", [False, True])
def test_masked_array_keeps_mask_and_masked_data(inplace):
    a = data((6, 9), np.float32, 6)
    m = np.random.default_rng(0).random(a.shape) < 0.3
    x = np.ma.MaskedArray(a.copy(), mask=m.copy())
    y = nd.dropout(x, 0.5, rng=8, inplace=inplace)
    assert type(y) is np.ma.MaskedArray and (y is x) == inplace
    assert np.array_equal(np.ma.getmaskarray(y), m)
    want = naive.dropout(a, 0.5, 8)
    want[m] = a[m]  # masked elements neither changed nor computed
    assert_identical(y.data, want)
    if not inplace:
        assert_identical(x.data, a)
    unmasked = nd.dropout(np.ma.MaskedArray(a), 0.5, rng=8)
    assert type(unmasked) is np.ma.MaskedArray and unmasked.mask is np.ma.nomask
    assert_identical(unmasked.data, naive.dropout(a, 0.5, 8))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
def test_matrix_and_memmap(tmp_path):
    a = data((5, 8), np.float32, 7)
    y = nd.alpha_dropout(np.asmatrix(a), 0.3, True, rng=1)
    assert type(y) is np.matrix
    assert_identical(np.asarray(y), naive.alpha_dropout(a, 0.3, 1))
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float32, mode="w+", shape=a.shape)
    mm[...] = a
    y = nd.dropout(mm, 0.3, rng=1)
    assert type(y) is np.ndarray
    assert_identical(y, naive.dropout(a, 0.3, 1))
    assert nd.dropout(mm, 0.3, rng=1, inplace=True) is mm
    assert_identical(np.asarray(mm), naive.dropout(a, 0.3, 1))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("inplace", [False, True])
def test_non_native_byte_order(dtype, inplace):
    a = data((4, 11), dtype, 8)
    swapped = a.astype(np.dtype(dtype).newbyteorder("S"))
    y, state = nd.dropout(swapped, 0.5, rng=3, inplace=inplace, return_state=True)
    assert_identical(np.asarray(y, dtype=dtype), naive.dropout(a, 0.5, 3))
    if inplace:
        assert y is swapped
    else:
        assert y.dtype.isnative
    g = state.backward(a.astype(np.dtype(dtype).newbyteorder("S")))
    assert g.dtype.isnative
    assert_identical(g, naive.dropout(a, 0.5, 3))


# --- memory order ------------------------------------------------------------------------------


def _permuted(shape, perm, dtype=np.float32, seed=9):
    """A dense array of ``shape`` whose memory order is ``perm`` (outermost first)."""
    base = data(tuple(shape[a] for a in perm), dtype, seed)
    return base.transpose(np.argsort(perm))


#: Dense permuted inputs: (function, shape, memory order outermost first).
ORDER_CASES = [
    ("dropout2d", (3, 9, 10, 70), (0, 2, 3, 1)),  # channels-last NHWC
    ("dropout2d", (2, 5, 4, 6), (2, 3, 0, 1)),  # channel axes outermost in memory
    ("dropout3d", (2, 7, 3, 4, 5), (0, 2, 3, 4, 1)),  # NDHWC
    ("dropout1d", (4, 6, 33), (0, 2, 1)),  # NLC
    ("feature_alpha_dropout", (3, 9, 10, 70), (0, 2, 3, 1)),
    ("dropout", (5, 6, 7), (1, 0, 2)),  # inner axis stays innermost
]


@pytest.mark.parametrize(("fn", "shape", "perm"), ORDER_CASES)
@pytest.mark.parametrize("cutoff", [0, None])
def test_output_keeps_memory_order(fn, shape, perm, cutoff, monkeypatch):
    """Dense permuted inputs whose memory-contiguous axis the kernels can walk: out in the same order."""
    from numbadrop._core import tunables as _tunables

    dtypes = [np.float16, np.float32, np.float64]
    if cutoff is not None:
        monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", cutoff)  # the parallel kernels
        dtypes = [np.float32]  # they run the serial kernels' work items (see PARALLEL_DTYPE in test_kernels.py)
    for dtype in dtypes:
        x = _permuted(shape, perm, dtype)
        kw = {"training": True} if "alpha" in fn else {}
        y, state = getattr(nd, fn)(x, 0.4, rng=5, return_state=True, **kw)
        assert y.strides == x.strides
        axes = state.broadcast
        ref = naive.alpha_dropout if "alpha" in fn else naive.dropout
        assert_identical(y, ref(x, 0.4, 5, 0, axes))
        g = _permuted(shape, perm, dtype, 10)
        dx = state.backward(g)
        assert dx.strides == g.strides
        assert_identical(dx, state.backward(np.ascontiguousarray(g)))
        inplace = x.copy(order="K")
        getattr(nd, fn)(inplace, 0.4, rng=5, inplace=True, **kw)
        assert_identical(inplace, y)


def test_shared_row_kernel_runs_for_channels_last(monkeypatch):
    """Guard: channels-last channel dropout reaches the kernel that draws each row's words once."""
    from numbadrop.kernels.cpu import dropout as _cpu

    calls = []
    serial, parallel = _cpu._SHARED[_cpu.MODE_SCALE]
    monkeypatch.setitem(
        _cpu._SHARED,
        _cpu.MODE_SCALE,
        (lambda *a: calls.append(tuple(int(n) for n in a[4][:3])) or serial(*a), parallel),
    )
    x = _permuted((2, 5, 4, 6), (0, 2, 3, 1))
    assert_identical(nd.dropout2d(x, 0.5, rng=1), naive.dropout(x, 0.5, 1, 0, (2, 3)))
    assert calls == [(2, 24, 5)]


@pytest.mark.parametrize("perm", [(1, 0), (0, 2, 1), (2, 1, 0)])
def test_element_dropout_of_transposed_input_keeps_its_order(perm):
    """The memory-contiguous axis is not the mask's, rows not whole Philox groups: order K all the same."""
    shape = (6, 7, 5)[: len(perm)]
    x = _permuted(shape, perm)
    y = nd.dropout(x, 0.5, rng=2)
    assert y.strides == x.strides
    assert_identical(y, naive.dropout(x, 0.5, 2))


def test_sliced_input_gets_dense_output():
    x = data((6, 20, 9))[:, 2:17:3, ::-1]
    for fn in (nd.dropout, nd.dropout1d):
        y = fn(x, 0.5, rng=3)
        assert y.strides == np.empty_like(x, order="K").strides  # dense, in x's memory order
    assert_identical(nd.dropout1d(x, 0.5, rng=3), naive.dropout(x, 0.5, 3, 0, (2,)))


@pytest.mark.parametrize(
    "shape, perm",
    [((12, 40), (1, 0)), ((3, 8, 20), (0, 2, 1)), ((8, 3, 20), (1, 2, 0)), ((4, 6, 8), (2, 0, 1))],
)
@pytest.mark.parametrize("cutoff", [0, None])
def test_transposed_element_dropout_walks_columns(shape, perm, cutoff, monkeypatch):
    """Rows of whole Philox groups: the column kernel, output in the input's order, same bits."""
    from numbadrop._core import tunables as _tunables
    from numbadrop.kernels.cpu import columns as _columns

    if cutoff is not None:
        monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", cutoff)
    ran = []
    real = _columns.run
    monkeypatch.setattr(_columns, "run", lambda *a, **k: ran.append(1) or real(*a, **k))
    # The parallel kernel (cutoff 0) runs the serial one's inlined body: one dtype checks its split of
    # the work, and compiling it for all three would cost CI ~40 s from a cold cache.
    dtypes = ["float16", "float32", "float64"] if cutoff is None else ["float32"]
    for dtype in dtypes:
        x = _permuted(shape, perm, dtype)
        y, state = nd.dropout(x, 0.4, rng=nd.Generator(3, 5), return_state=True)
        assert y.strides == x.strides
        assert_identical(y, naive.dropout(x, 0.4, 3, 5))
        assert_identical(state.backward(x), naive.dropout(x, 0.4, 3, 5))
        a = nd.alpha_dropout(x, 0.4, True, rng=7)
        assert_identical(a, naive.alpha_dropout(x, 0.4, 7))
        inplace = x.copy(order="K")
        nd.alpha_dropout(inplace, 0.4, True, rng=7, inplace=True)
        assert_identical(inplace, a)
    assert len(ran) == 4 * len(dtypes)


def test_column_kernel_bfloat16_and_blocks():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = _permuted((16, 24), (1, 0)).astype(ml_dtypes.bfloat16)
    y = nd.dropout(x, 0.5, rng=1)
    assert y.strides == x.strides
    assert_identical(y.view(np.uint16), naive.dropout_bfloat16(x.view(np.uint16), 0.5, 1))
    # a block of a larger array, starting at a multiple of 4 and not
    from numbadrop import backends as _engine
    from numbadrop._core import geometry as _geometry

    big = _permuted((16, 24), (1, 0))
    for start in (8, 6):
        out = np.empty_like(big, order="K")
        _engine.launch(big, out, "dropout", 0.5, 9, 0, _geometry.mask_strides((16, 24), ()), start)
        want = naive.words(16 * 24, 9, 0, start).reshape(16, 24) >= np.uint64(naive.math.ceil(0.5 * 2**32))
        assert_identical(out, np.where(want, big * np.float32(2.0), np.float32(0)))
