"""The ways a CPU kernel writes its output give the same bits.

A tile is written straight to the output, or (in place) computed into a
buffer and then copied with ordinary or with non-temporal stores. The paths
only switch on above cache-sized arrays, so these tests patch the thresholds
down and check, with a spy, that the path they are about really ran.
"""

from __future__ import annotations

import naive
import numba
import numpy as np
import pytest
from test_threads import assert_identical, data

import numbadrop as nd
from numbadrop import _cpu, _streaming, _tunables

# --- the streaming copy itself ------------------------------------------------------------------


@numba.njit
def _stream_copy(dst, dst_at, src, src_at, nbytes):
    base_dst = np.uint64(dst.ctypes.data) + np.uint64(dst_at)
    base_src = np.uint64(src.ctypes.data) + np.uint64(src_at)
    _streaming.stream_bytes(base_dst, base_src, np.uint64(nbytes))
    _streaming.store_fence()


@pytest.mark.parametrize("dst_at", [0, 1, 15, 16, 63, 64, 65])
@pytest.mark.parametrize("src_at", [0, 3, 64])
@pytest.mark.parametrize("nbytes", [0, 1, 7, 63, 64, 65, 127, 128, 129, 200, 4096 + 17])
def test_stream_bytes_copies_exactly_the_range(dst_at, src_at, nbytes):
    rng = np.random.default_rng(nbytes * 1000 + dst_at * 10 + src_at)
    src = rng.integers(0, 256, nbytes + 200, dtype=np.uint8)
    dst = np.full(nbytes + 300, 0xA5, np.uint8)
    # Vary the destination's alignment relative to 64-byte lines as well.
    _stream_copy(dst, dst_at, src, src_at, nbytes)
    expected = np.full_like(dst, 0xA5)
    expected[dst_at : dst_at + nbytes] = src[src_at : src_at + nbytes]
    assert np.array_equal(dst, expected)


def test_stream_bytes_rejects_non_address_arguments():
    @numba.njit
    def bad(a):
        _streaming.stream_bytes(a, a, a)

    with pytest.raises(numba.core.errors.TypingError):
        bad(np.int64(3))


# --- which path runs ----------------------------------------------------------------------------


@pytest.fixture
def spy(monkeypatch):
    """Record the write path of every kernel launch."""
    kinds: list[int] = []
    original = _cpu._write_kind

    def recording(x, y, mode):
        kinds.append(original(x, y, mode))
        return kinds[-1]

    monkeypatch.setattr(_cpu, "_write_kind", recording)
    return kinds


def test_default_paths(spy):
    x = data((4, 1000))
    nd.dropout(x, 0.5, rng=1)
    nd.dropout(x.copy(), 0.5, rng=1, inplace=True)
    nd.dropout_mask((4, 1000), 0.5, rng=1)
    assert spy == [_cpu.WRITE_DIRECT, _cpu.WRITE_BUFFERED, _cpu.WRITE_DIRECT]


def test_streamed_path_needs_size_and_contiguous_rows(monkeypatch, spy):
    monkeypatch.setattr(_tunables, "STREAM_MIN_BYTES", 4000)
    nd.dropout(np.ones(999, np.float32), 0.5, rng=1, inplace=True)  # 3996 bytes
    nd.dropout(np.ones(1000, np.float32), 0.5, rng=1, inplace=True)
    nd.dropout(np.ones((4, 1000), np.float32)[:, ::2], 0.5, rng=1, inplace=True)  # strided rows
    nd.dropout(np.ones(1000, np.float32), 0.5, rng=1)  # not in place: fresh output
    assert spy == [_cpu.WRITE_BUFFERED, _cpu.WRITE_STREAMED, _cpu.WRITE_BUFFERED, _cpu.WRITE_DIRECT]


# --- in place, on every path, against the reference ---------------------------------------------

CASES = [
    ("dropout", lambda x, **kw: nd.dropout(x, 0.3, **kw), lambda x: naive.dropout(x, 0.3, 5)),
    ("dropout1d", lambda x, **kw: nd.dropout1d(x, 0.3, **kw), lambda x: naive.dropout(x, 0.3, 5, broadcast=(2,))),
    ("alpha", lambda x, **kw: nd.alpha_dropout(x, 0.3, True, **kw), lambda x: naive.alpha_dropout(x, 0.3, 5)),
]
SHAPES = [(3, 5, 2051), (2, 3, 4097), (7, 9, 13)]


def _layouts(shape, dtype):
    """An aligned array, one whose data starts one element off, and a strided view."""
    base = data(shape, dtype)
    shifted = np.empty(base.size + 1, dtype)[1:].reshape(shape)
    shifted[...] = base
    strided = np.repeat(base, 2, axis=-1)[..., ::2]
    return {"aligned": base.copy(), "shifted": shifted, "strided": strided}


@pytest.mark.parametrize("path", ["serial", "buffered", "streamed"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_in_place_matches_reference(monkeypatch, spy, path, dtype, shape, case):
    _, run, reference = case
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 10**12 if path == "serial" else 0)
    monkeypatch.setattr(_tunables, "STREAM_MIN_BYTES", 0 if path == "streamed" else 10**12)
    for layout, x in _layouts(shape, dtype).items():
        expected = reference(x.copy())
        spy.clear()
        y = run(x, rng=5, inplace=True)
        assert y is x, layout
        assert_identical(x, expected)
        want = _cpu.WRITE_STREAMED if path == "streamed" and layout != "strided" else _cpu.WRITE_BUFFERED
        assert spy and all(kind == want for kind in spy), (layout, spy)


@pytest.mark.parametrize("path", ["buffered", "streamed"])
def test_backward_in_place_matches_reference(monkeypatch, spy, path):
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 0)
    monkeypatch.setattr(_tunables, "STREAM_MIN_BYTES", 0 if path == "streamed" else 10**12)
    x = data((6, 3001))
    _, state = nd.dropout(x, 0.4, rng=8, return_state=True)
    grad = data((6, 3001), seed=1)
    expected = naive.dropout(grad, 0.4, 8)
    assert state.backward(grad, inplace=True) is grad
    assert_identical(grad, expected)
    assert spy[-1] == (_cpu.WRITE_STREAMED if path == "streamed" else _cpu.WRITE_BUFFERED)


def test_large_in_place_call_streams_by_default(spy):
    """A 32 MiB in-place call takes the streamed path with the shipped thresholds."""
    x = data(_tunables.STREAM_MIN_BYTES // 4 + 3)
    expected = naive.dropout(x, 0.5, 2)
    nd.dropout(x, 0.5, rng=2, inplace=True)
    assert spy == [_cpu.WRITE_STREAMED]
    assert_identical(x, expected)
