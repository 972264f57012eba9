"""A mask does not depend on how the work is split: thread count, serial or
parallel kernel, work-item size, or the memory layout of the input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import naive
import numba
import numpy as np
import pytest

import numbadrop as nd
from numbadrop._core import tunables as _tunables
from numbadrop.kernels.cpu import dropout as _cpu

UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def assert_identical(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    uint = UINT[actual.dtype.itemsize]
    a, e = np.ascontiguousarray(actual).view(uint), np.ascontiguousarray(expected).view(uint)
    assert np.array_equal(a, e), f"{int((a != e).sum())} of {a.size} elements differ"


def data(shape, dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if x.size > 2:
        x.reshape(-1)[::5] = np.nan
    return x


# --- separate processes with NUMBA_NUM_THREADS=1 and 2 ------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys
    import numba
    import numpy as np
    import numbadrop as nd
    from numbadrop._core import tunables as _tunables

    want = int(sys.argv[2])
    assert numba.config.NUMBA_NUM_THREADS == want, numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == want
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 70_001)).astype(np.float32)
    x[:, ::5] = np.nan
    out = {}
    out["big"] = nd.dropout(x, 0.3, rng=nd.Generator(2**64 - 1, 2**40))
    out["big_strided"] = nd.dropout(x[::-1, ::3].T, 0.7, rng=5)
    out["big_alpha"] = nd.alpha_dropout(x, 0.2, True, rng=6)
    out["mask"] = nd.dropout_mask(300_001, 0.5, rng=7)
    _tunables.SERIAL_CUTOFF = 0  # every call below runs the parallel kernel
    small = x[:3, :37]
    out["small"] = nd.dropout(small, 0.5, rng=8)
    out["small_2d"] = nd.dropout2d(small.reshape(3, 37, 1, 1), 0.5, rng=9)
    out["small_strided"] = nd.dropout(small[:, ::-2], 0.5, rng=10)
    np.savez(sys.argv[1], **out)
    """
)


def _in_process(monkeypatch) -> dict:
    """SCRIPT's calls in this process (so the two processes load its kernels from numba's cache, not compile them)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 70_001)).astype(np.float32)
    x[:, ::5] = np.nan
    out = {}
    out["big"] = nd.dropout(x, 0.3, rng=nd.Generator(2**64 - 1, 2**40))
    out["big_strided"] = nd.dropout(x[::-1, ::3].T, 0.7, rng=5)
    out["big_alpha"] = nd.alpha_dropout(x, 0.2, True, rng=6)
    out["mask"] = nd.dropout_mask(300_001, 0.5, rng=7)
    with monkeypatch.context() as patch:
        patch.setattr(_tunables, "SERIAL_CUTOFF", 0)
        small = x[:3, :37]
        out["small"] = nd.dropout(small, 0.5, rng=8)
        out["small_2d"] = nd.dropout2d(small.reshape(3, 37, 1, 1), 0.5, rng=9)
        out["small_strided"] = nd.dropout(small[:, ::-2], 0.5, rng=10)
    return out


def test_same_masks_with_numba_num_threads_1_and_2(tmp_path, monkeypatch):
    here = _in_process(monkeypatch)  # first: in a cold numba cache the processes below would each compile these
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    procs = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        out = tmp_path / f"threads{threads}.npz"
        procs[threads] = (
            subprocess.Popen(
                [sys.executable, str(script), str(out), str(threads)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            out,
        )
    results = {}
    for threads, (proc, out) in procs.items():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        with np.load(out) as f:
            results[threads] = {k: f[k] for k in f.files}
    one, two = results[1], results[2]
    assert one.keys() == two.keys() == here.keys() and len(one) == 7
    for key in one:
        assert_identical(one[key], two[key])
        assert_identical(one[key], here[key])
    # and both are the contract's answer
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 70_001)).astype(np.float32)
    x[:, ::5] = np.nan
    assert_identical(one["big"], naive.dropout(x, 0.3, 2**64 - 1, 2**40))
    assert_identical(one["big_strided"], naive.dropout(x[::-1, ::3].T, 0.7, 5))
    assert_identical(one["big_alpha"], naive.alpha_dropout(x, 0.2, 6))
    assert np.array_equal(one["mask"], naive.keep_mask((300_001,), 0.5, 7, 0))
    small = x[:3, :37]
    assert_identical(one["small"], naive.dropout(small, 0.5, 8))
    assert_identical(one["small_2d"], naive.dropout(small.reshape(3, 37, 1, 1), 0.5, 9, 0, (2, 3)))
    assert_identical(one["small_strided"], naive.dropout(small[:, ::-2], 0.5, 10))


# --- in-process thread counts and work splitting --------------------------------------------------


@pytest.fixture
def restore_threads():
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)


@pytest.mark.parametrize("chunks", [1, 3, 4, 1000])
def test_thread_count_and_chunking_do_not_change_result(restore_threads, monkeypatch, chunks):
    monkeypatch.setattr(_tunables, "CHUNKS_PER_THREAD", chunks)
    x = data((3, 33, 1111), np.float64)
    results = []
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        numba.set_num_threads(threads)
        results.append(nd.dropout(x, 0.6, rng=42))
        results.append(nd.dropout1d(x, 0.6, rng=42))
    expected = naive.dropout(x, 0.6, 42)
    expected_1d = naive.dropout(x, 0.6, 42, 0, (2,))
    for i, y in enumerate(results):
        assert_identical(y, expected if i % 2 == 0 else expected_1d)


SMALL_SHAPES = [(1,), (3,), (5, 7), (2, 3, 4, 5), (2048,), (2049,), (3, 4097)]


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_parallel_path_forced_on_small_inputs(monkeypatch, shape):
    x = data(shape)
    serial = nd.dropout(x, 0.5, rng=3)
    serial_t = nd.dropout(x.T, 0.5, rng=3)
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 0)
    monkeypatch.setattr(_tunables, "CHUNKS_PER_THREAD", 3)
    parallel = nd.dropout(x, 0.5, rng=3)
    assert_identical(parallel, serial)
    assert_identical(parallel, naive.dropout(x, 0.5, 3))
    assert_identical(nd.dropout(x.T, 0.5, rng=3), serial_t)
    assert_identical(serial_t, naive.dropout(x.T, 0.5, 3))
    keep = nd.dropout_mask(shape, 0.5, rng=3)
    assert np.array_equal(keep, naive.keep_mask(shape, 0.5, 3, 0))


def test_parallel_kernel_actually_runs_when_forced(monkeypatch):
    """Guard for the test above: the patched cutoff does route work to the parallel kernel."""
    calls = []
    serial, parallel = _cpu._KERNELS[(_cpu.MODE_SCALE, False, True)]

    class Spy:
        def __call__(self, *args):
            calls.append(tuple(int(n) for n in args[2][:3]))  # (xb, yb, geo, ...): geo starts with the shape
            return parallel(*args)

    monkeypatch.setitem(_cpu._KERNELS, (_cpu.MODE_SCALE, False, True), (serial, Spy()))
    nd.dropout(np.ones(10, np.float32), 0.5, rng=1)
    assert calls == []
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 0)
    nd.dropout(np.ones(10, np.float32), 0.5, rng=1)
    assert calls == [(1, 1, 10)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_serial_path_forced_on_large_inputs(monkeypatch, dtype):
    x = data((2, 3, 13_001), dtype)
    parallel = [nd.dropout(x, 0.25, rng=9), nd.dropout2d(x, 0.25, rng=9), nd.alpha_dropout(x, 0.25, True, rng=9)]
    parallel.append(nd.dropout(x[:, ::-1, ::2], 0.25, rng=9))
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 10**9)
    serial = [nd.dropout(x, 0.25, rng=9), nd.dropout2d(x, 0.25, rng=9), nd.alpha_dropout(x, 0.25, True, rng=9)]
    serial.append(nd.dropout(x[:, ::-1, ::2], 0.25, rng=9))
    for a, b in zip(parallel, serial, strict=True):
        assert_identical(a, b)
    assert_identical(serial[0], naive.dropout(x, 0.25, 9))
    assert_identical(serial[1], naive.dropout(x, 0.25, 9, 0, (1, 2)))
    assert_identical(serial[2], naive.alpha_dropout(x, 0.25, 9))
    assert_identical(serial[3], naive.dropout(x[:, ::-1, ::2], 0.25, 9))


# --- layout independence ------------------------------------------------------------------------


def _layouts(x):
    """The same logical array in other memory layouts."""
    yield "C", np.ascontiguousarray(x)
    yield "F", np.asfortranarray(x)
    big = np.empty(tuple(2 * n + 1 for n in x.shape), x.dtype)
    view = big[tuple(slice(2 * n - 1 if n else 0, None, -2) for n in x.shape)]
    view[...] = x
    yield "negative-step", view
    reversed_axes = np.ascontiguousarray(np.transpose(x, tuple(range(x.ndim))[::-1]))
    yield "transposed", np.transpose(reversed_axes, tuple(range(x.ndim))[::-1])


@pytest.mark.parametrize("shape", [(7,), (6, 5), (4, 3, 5, 2), (2, 3, 2, 3, 2, 3), (9, 11_001)])
def test_contiguous_and_strided_give_the_same_result(shape):
    x = data(shape, np.float32, seed=len(shape))
    axes = (x.ndim - 1,) if x.ndim > 1 else ()
    outputs, order_k = {}, {}
    for name, view in _layouts(x):
        assert np.array_equal(view, x, equal_nan=True)
        order_k[name] = np.empty_like(view, order="K").strides  # the input's memory order
        outputs[name] = (
            nd.dropout(view, 0.5, rng=21),
            nd.dropout(view, 0.5, rng=21, broadcast_dims=axes),
            nd.alpha_dropout(view, 0.5, True, rng=21),
        )
    first = outputs["C"]
    for name, results in outputs.items():
        for a, b in zip(results, first, strict=True):
            assert a.flags.c_contiguous or a.strides == order_k[name], name  # C order or the input's order
            assert_identical(a, b)
    assert_identical(first[0], naive.dropout(x, 0.5, 21))


def test_broadcast_view_input_equals_materialized_input():
    row = data((1, 2_500), np.float32)
    x = np.broadcast_to(row, (40, 2_500))  # zero stride on axis 0, 100k elements
    assert x.strides[0] == 0 and not x.flags.writeable
    y = nd.dropout(x, 0.5, rng=4)
    assert_identical(y, nd.dropout(np.ascontiguousarray(x), 0.5, rng=4))
    assert_identical(y, naive.dropout(np.ascontiguousarray(x), 0.5, 4))
    assert not np.array_equal(y[0], y[1], equal_nan=True)  # the mask is per element, not per row


# --- many Python threads at once, on every threading layer -----------------------------------

CONCURRENT = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import numba
    import numpy as np
    import numbadrop as nd
    from numbadrop._core import tunables

    tunables.SERIAL_CUTOFF = 1 << 16  # the arrays below then run the parallel kernels
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(2**19).astype(np.float32) for _ in range(4)]
    imgs = [x.reshape(8, 16, 64, 64) for x in xs]
    calls = [
        lambda i: nd.dropout(xs[i % 4], 0.5, rng=i),
        lambda i: nd.dropout2d(imgs[i % 4], 0.3, rng=i),
        lambda i: nd.alpha_dropout(xs[i % 4][::-2], 0.2, True, rng=i),
        lambda i: nd.dropout_mask(2**19 + 3, 0.5, rng=i),
    ]
    jobs = [(c, i) for i in range(12) for c in range(len(calls))]
    try:
        serial = [calls[c](i) for c, i in jobs]
    except ValueError as exc:  # this layer does not load here
        print("unavailable:", exc)
        sys.exit(0)
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            got = list(pool.map(lambda job: calls[job[0]](job[1]), jobs))
            assert all(np.array_equal(a.view(np.uint8), b.view(np.uint8)) for a, b in zip(got, serial))
    print("layer:", numba.threading_layer())
    """
)


@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_concurrent_python_threads_never_abort(tmp_path, layer):
    """8 threads calling the parallel kernels at once: no abort (workqueue aborted), serial bits."""
    script = tmp_path / "many_threads.py"
    script.write_text(CONCURRENT)
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="2")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    if done.stdout.startswith("unavailable"):
        pytest.skip(f"threading layer {layer} does not load here")
    assert done.stdout.strip() == f"layer: {layer}"
