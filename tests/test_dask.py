"""numbadrop.dask: lazy, chunk-invariant dropout on Dask arrays.

The property tests compare every function with the NumPy API on the whole
array, bit for bit, over random shapes and chunkings (chunks of 1-5 elements
cut through channels and through the 4-element Philox groups).
"""

from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import numbadrop  # noqa: E402
import numbadrop.backends.dask as dask_backend  # noqa: E402
import numbadrop.dask as ndd  # noqa: E402

DTYPES = (np.float16, np.float32, np.float64)
U64 = 2**64 - 1


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (stronger than array_equal: -0.0, NaN payloads)."""
    got, want = np.asarray(got), np.asarray(want)
    return (
        got.dtype == want.dtype
        and got.shape == want.shape
        and np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()
    )


# --- strategies ---------------------------------------------------------------

MAX_DIM = {0: 1, 1: 40, 2: 12, 3: 7, 4: 4, 5: 3}


@st.composite
def axis_chunks(draw, n: int) -> tuple[int, ...]:
    """A random partition of ``n``: mostly chunks of 1-5, sometimes the whole rest."""
    if n == 0:
        return (0,)
    sizes = []
    rest = n
    while rest:
        size = draw(st.one_of(st.integers(1, min(5, rest)), st.just(rest)))
        sizes.append(size)
        rest -= size
    return tuple(sizes)


@st.composite
def arrays(draw, ndims) -> tuple[np.ndarray, object]:
    """A float array (a few NaN/Inf, maybe a strided view) and a chunking of it."""
    ndim = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.integers(0, MAX_DIM[ndim])) for _ in range(ndim))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if a.size and draw(st.booleans()):
        a.flat[0] = np.nan
        a.flat[-1] = np.inf
    if ndim and draw(st.booleans()):  # a strided view (blocks of it are never contiguous)
        big = np.zeros((*shape[:-1], 2 * shape[-1]), dtype)
        big[..., ::2] = a
        a = big[..., ::2]
    chunks = tuple(draw(axis_chunks(n)) for n in shape)
    return a, chunks


ps = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), st.floats(0.0, 1.0))
seeds = st.integers(0, U64)
offsets = st.integers(0, U64 - 1)

# (function name, allowed ranks, extra kwargs strategy)
VARIANTS = {
    "dropout": (0, 1, 2, 3, 4),
    "broadcast": (1, 2, 3, 4),
    "dropout1d": (2, 3),
    "dropout2d": (3, 4),
    "dropout3d": (4, 5),
    "alpha_dropout": (0, 1, 2, 3),
    "feature_alpha_dropout": (2, 3, 4),
}

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def call(module, variant: str, x, p, rng, broadcast=(), **kwargs):
    if variant in ("dropout", "broadcast"):
        return module.dropout(x, p, rng=rng, broadcast_dims=broadcast, **kwargs)
    if variant.startswith("alpha") or variant.startswith("feature"):
        return getattr(module, variant)(x, p, True, rng=rng, **kwargs)
    return getattr(module, variant)(x, p, rng=rng, **kwargs)


# --- property tests -----------------------------------------------------------


@SETTINGS
@given(data=st.data(), variant=st.sampled_from(sorted(VARIANTS)), p=ps, seed=seeds, offset=offsets)
def test_matches_numpy_for_any_chunking(data, variant, p, seed, offset):
    a, chunks = data.draw(arrays(VARIANTS[variant]))
    broadcast = ()
    if variant == "broadcast":
        broadcast = tuple(data.draw(st.sets(st.integers(-a.ndim, a.ndim - 1).map(lambda i: i % a.ndim))))
    x = da.from_array(a, chunks=chunks)
    g_dask, g_np = numbadrop.Generator(seed, offset), numbadrop.Generator(seed, offset)
    y, state = call(ndd, variant, x, p, g_dask, broadcast, return_state=True)
    want, want_state = call(numbadrop, variant, a, p, g_np, broadcast, return_state=True)
    assert isinstance(y, da.Array)
    assert g_dask.offset == g_np.offset  # advanced (or not) exactly as the core API
    assert y.chunks == x.chunks
    assert same_bits(y.compute(scheduler="sync"), want)

    # Backward, with a gradient chunked differently from the forward.
    grad = np.random.default_rng(seed % 2**32).standard_normal(a.shape).astype(a.dtype)
    grad_chunks = data.draw(st.tuples(*(axis_chunks(n) for n in a.shape)))
    dx = state.backward(da.from_array(grad, chunks=grad_chunks))
    assert isinstance(dx, da.Array)
    assert same_bits(dx.compute(scheduler="sync"), want_state.backward(grad))
    assert same_bits(state.backward(grad), want_state.backward(grad))  # NumPy grad: core path


@SETTINGS
@given(data=st.data(), p=ps, seed=seeds, offset=offsets)
def test_mask_matches_numpy_for_any_chunking(data, p, seed, offset):
    a, chunks = data.draw(arrays((0, 1, 2, 3, 4)))
    broadcast = tuple(data.draw(st.sets(st.integers(0, a.ndim - 1)))) if a.ndim else ()
    x = da.from_array(a, chunks=chunks)
    keep = ndd.dropout_mask(x, p, rng=numbadrop.Generator(seed, offset), broadcast_dims=broadcast)
    want = numbadrop.dropout_mask(a.shape, p, rng=numbadrop.Generator(seed, offset), broadcast_dims=broadcast)
    assert keep.shape == want.shape
    assert all(keep.chunks[i] == ((1,) if i in broadcast else chunks[i]) for i in range(a.ndim))
    assert same_bits(keep.compute(scheduler="sync"), want)


def test_threaded_scheduler_and_large_blocks():
    """Blocks above the serial cutoff run the parallel kernel, two at once (threads)."""
    a = np.random.default_rng(0).standard_normal(3 * 70_001).astype(np.float32)
    x = da.from_array(a, chunks=65_539)
    got = ndd.dropout(x, 0.25, rng=U64).compute(scheduler="threads", num_workers=2)
    assert same_bits(got, numbadrop.dropout(a, 0.25, rng=U64))


def test_shape_with_explicit_chunks():
    keep = ndd.dropout_mask((5, 7), 0.3, rng=2, chunks=(2, 3))
    assert keep.chunks == ((2, 2, 1), (3, 3, 1))
    assert same_bits(keep.compute(), numbadrop.dropout_mask((5, 7), 0.3, rng=2))
    auto = ndd.dropout_mask(9, 0.3, rng=2)
    assert same_bits(auto.compute(), numbadrop.dropout_mask(9, 0.3, rng=2))


# --- rng semantics --------------------------------------------------------------


def test_rng_semantics_match_core():
    a = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    x = da.from_array(a, chunks=(4, 2))
    # int seed: same mask on every call
    assert same_bits(ndd.dropout(x, 0.5, rng=9).compute(), numbadrop.dropout(a, 0.5, rng=9))
    # numbadrop.Generator: advances once per call
    g = numbadrop.Generator(4)
    ys = [ndd.dropout(x, 0.5, rng=g) for _ in range(3)]
    assert g.offset == 3
    for i, y in enumerate(ys):
        assert same_bits(y.compute(), numbadrop.dropout(a, 0.5, rng=numbadrop.Generator(4, i)))
    # numpy Generator: one seed drawn per call
    y = ndd.dropout(x, 0.5, rng=np.random.default_rng(3))
    assert same_bits(y.compute(), numbadrop.dropout(a, 0.5, rng=np.random.default_rng(3)))
    # None: the default generator
    numbadrop.manual_seed(11)
    y = ndd.dropout(x, 0.5)
    numbadrop.manual_seed(11)
    assert same_bits(y.compute(), numbadrop.dropout(a, 0.5))


def test_p_zero_eval_and_p_one():
    a = np.array([[1.0, np.nan], [np.inf, -2.0]], np.float16)
    x = da.from_array(a, chunks=1)
    g = numbadrop.Generator(0)
    assert ndd.dropout(x, 0.5, False, rng=g) is x
    assert ndd.alpha_dropout(x, 0.5, rng=g) is x  # training defaults to False
    assert g.offset == 0  # eval mode draws nothing
    assert ndd.dropout(x, 0.0, rng=g) is x
    assert g.offset == 1  # a training call draws once whatever p, as in the core API
    y, state = ndd.dropout(x, 1.0, rng=g, return_state=True)
    assert g.offset == 2
    assert same_bits(y.compute(), np.zeros_like(a))
    assert same_bits(state.backward(x).compute(), np.zeros_like(a))
    y, state = ndd.dropout(x, 0.0, return_state=True)
    assert state.backward(x) is x


# --- laziness and graph keys ------------------------------------------------------


def test_lazy_until_compute(monkeypatch):
    calls = {"block": 0, "mask": 0, "source": 0}
    apply_block, mask_block = dask_backend._apply_block, dask_backend._mask_block

    def counting_block(x, block_info=None, **kwargs):  # dask passes block_info by name
        calls["block"] += 1
        return apply_block(x, block_info=block_info, **kwargs)

    def counting_mask(block_info=None, **kwargs):
        calls["mask"] += 1
        return mask_block(block_info=block_info, **kwargs)

    def source(block):
        calls["source"] += 1
        return block

    monkeypatch.setattr(dask_backend, "_apply_block", counting_block)
    monkeypatch.setattr(dask_backend, "_mask_block", counting_mask)
    x = da.ones((10, 6), dtype=np.float32, chunks=(3, 4)).map_blocks(source, meta=np.empty((0, 0), np.float32))
    g = numbadrop.Generator(5)
    y, state = ndd.dropout2d(x[None], 0.5, rng=g, return_state=True)
    dx = state.backward(da.ones((1, 10, 6), dtype=np.float32, chunks=5))
    keep = ndd.dropout_mask(x, 0.5, rng=g)
    assert calls == {"block": 0, "mask": 0, "source": 0}
    assert g.offset == 2  # resolved once per call, at call time
    y.compute()
    assert calls["block"] == x.npartitions and calls["source"] == x.npartitions
    dx.compute()
    assert calls["block"] == x.npartitions + 2 * 2
    keep.compute()
    assert calls["mask"] == x.npartitions


def test_deterministic_graph_keys():
    x = da.ones((8, 8), dtype=np.float32, chunks=3)
    assert ndd.dropout(x, 0.5, rng=1).name == ndd.dropout(x, 0.5, rng=1).name
    assert ndd.dropout(x, 0.5, rng=numbadrop.Generator(1, 4)).name == (
        ndd.dropout(x, 0.5, rng=numbadrop.Generator(1, 4)).name
    )
    names = {
        ndd.dropout(x, 0.5, rng=1).name,
        ndd.dropout(x, 0.5, rng=2).name,
        ndd.dropout(x, 0.25, rng=1).name,
        ndd.dropout(x, 0.5, rng=numbadrop.Generator(1, 1)).name,
        ndd.dropout(x, 0.5, rng=1, broadcast_dims=0).name,
        ndd.alpha_dropout(x, 0.5, True, rng=1).name,
        ndd.dropout(x + 1, 0.5, rng=1).name,
    }
    assert len(names) == 7
    assert ndd.dropout_mask(x, 0.5, rng=1).name == ndd.dropout_mask(x, 0.5, rng=1).name
    assert ndd.dropout_mask(x, 0.5, rng=1).name != ndd.dropout_mask(x, 0.5, rng=2).name


def test_import_numbadrop_does_not_import_dask():
    import subprocess

    code = "import sys, numbadrop; print('dask' in sys.modules, 'numbadrop.dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_dask_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    monkeypatch.delitem(sys.modules, "numbadrop.dask")
    with pytest.raises(ImportError, match=r'pip install "numbadrop\[dask\]"'):
        importlib.import_module("numbadrop.dask")
    monkeypatch.undo()
    assert sys.modules["numbadrop.dask"] is ndd


# --- bad input --------------------------------------------------------------------


def unknown_chunks():
    x = da.from_array(np.arange(10, dtype=np.float32), chunks=4)
    y = x[x > 3]
    assert any(math.isnan(c) for c in y.chunks[0])
    return y


def test_bad_input():
    x = da.ones((2, 3, 4), dtype=np.float32, chunks=2)
    with pytest.raises(TypeError, match=r"dask\.array\.Array"):
        ndd.dropout(np.ones(3, np.float32), 0.5)
    with pytest.raises(TypeError, match="dtype"):
        ndd.dropout(da.ones(3, dtype=np.int32), 0.5)
    with pytest.raises(ValueError, match="p must be in"):
        ndd.dropout(x, 1.5)
    with pytest.raises(TypeError, match="p must be a real"):
        ndd.dropout(x, "0.5")
    with pytest.raises(TypeError, match="training"):
        ndd.dropout(x, 0.5, 1)
    with pytest.raises(ValueError, match="inplace"):
        ndd.dropout(x, 0.5, True, True)
    with pytest.raises(TypeError, match="rng"):
        ndd.dropout(x, 0.5, rng="seed")
    with pytest.raises(ValueError, match="rng must be in"):
        ndd.dropout(x, 0.5, rng=2**64)
    with pytest.raises(ValueError, match="out of range"):
        ndd.dropout(x, 0.5, broadcast_dims=3)
    with pytest.raises(ValueError, match="dropout2d"):
        ndd.dropout2d(x[0], 0.5)
    with pytest.raises(ValueError, match="dropout1d"):
        ndd.dropout1d(x[0, 0], 0.5)
    with pytest.raises(ValueError, match="feature_alpha_dropout"):
        ndd.feature_alpha_dropout(x[0, 0], 0.5, True)
    with pytest.raises(TypeError, match="blocks of type"):
        ndd.dropout(da.ma.masked_greater(x, 0), 0.5)
    with pytest.raises(TypeError, match="shape"):
        ndd.dropout_mask(1.5, 0.5)
    _, state = ndd.dropout(x, 0.5, rng=0, return_state=True)
    with pytest.raises(ValueError, match="grad has shape"):
        state.backward(da.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="grad must have dtype"):
        state.backward(da.ones((2, 3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="inplace"):
        state.backward(x, inplace=True)


def test_unknown_chunks_are_a_clear_error():
    y = unknown_chunks()
    g = numbadrop.Generator(0)
    for fn in (ndd.dropout, ndd.alpha_dropout):
        with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
            fn(y, 0.5, True, rng=g)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ndd.dropout_mask(y, 0.5, rng=g)
    assert g.offset == 0  # validation precedes drawing
    _, state = ndd.dropout(da.ones(6, dtype=np.float32, chunks=2), 0.5, rng=0, return_state=True)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        state.backward(y)
    # After compute_chunk_sizes the same array works.
    y = y.compute_chunk_sizes()
    assert same_bits(ndd.dropout(y, 0.5, rng=1).compute(), numbadrop.dropout(y.compute(), 0.5, rng=1))


# --- a real cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        protocol="tcp",
    )
    try:
        with distributed.Client(cluster, timeout="30s") as client:
            yield client
    finally:
        cluster.close(timeout=20)


@pytest.mark.slow  # opt-in (conftest.py): two worker processes, 8 s with the cluster's start and stop
def test_distributed_local_cluster(client):
    """Blocks computed by two worker processes, any chunking: same bits as NumPy."""
    workers = sorted(client.scheduler_info()["workers"])
    assert len(workers) == 2
    a = np.random.default_rng(7).standard_normal((6, 5, 41, 3)).astype(np.float32)
    grad = a[::-1].copy()
    x = da.from_array(a, chunks=(2, 3, 7, 2))  # splits channels and Philox groups
    seed, offset = 2**64 - 3, 2**40 + 1
    y, state = ndd.dropout2d(x, 0.3, rng=numbadrop.Generator(seed, offset), return_state=True)
    dx = state.backward(da.from_array(grad, chunks=(3, 1, 10, 3)))
    z = ndd.dropout(x, 0.6, rng=seed)
    # The expected values first: in a cold numba cache both workers then load these kernels, not compile them.
    want, want_state = numbadrop.dropout2d(a, 0.3, rng=numbadrop.Generator(seed, offset), return_state=True)
    wants = [want, want_state.backward(grad), numbadrop.dropout(a, 0.6, rng=seed)]
    # Whichever worker computes the blocks: spread over both, all on one, all on the other.
    runs = [client.compute([y, dx, z], workers=where) for where in (None, workers[:1], workers[1:])]
    for futures in runs:
        for future, expected in zip(futures, wants, strict=True):
            assert same_bits(future.result(timeout=60), expected)
