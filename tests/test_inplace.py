"""In-place calls: the kernel reads and writes through one view, and gets the reference bits.

``numbadrop.kernels.cpu.dropout.run`` tells the kernels when the input and the output are the
same view; they then read each element through the output (see
``_make_tile_kernel``). These tests check the results of that path on both
kernels (serial and parallel), for every dtype, mode and layout, check with a
spy that the path really ran, and check the guard for views that overlap
without being the same.
"""

from __future__ import annotations

import itertools

import naive
import numpy as np
import pytest
from test_threads import assert_identical, data

import numbadrop as nd
from numbadrop import backends as _engine
from numbadrop._core import tunables as _tunables
from numbadrop.kernels.cpu import dropout as _cpu
from numbadrop.kernels.cpu import small as _small_cpu


@pytest.fixture
def spy(monkeypatch):
    """Record the ``inplace`` flag of every kernel launch."""
    flags: list[bool] = []

    def recording(kernel, position):
        def call(*args):
            flags.append(bool(args[position]))
            return kernel(*args)

        return call

    wrapped = {
        mode: (recording(serial, -1), recording(parallel, -2)) for mode, (serial, parallel) in _cpu._KERNELS.items()
    }
    monkeypatch.setattr(_cpu, "_KERNELS", wrapped)
    monkeypatch.setattr(_small_cpu, "scale", recording(_small_cpu.scale, -1))  # small arrays' one call
    return flags


def test_flag_is_set_only_in_place(spy):
    x = data((4, 1000))
    nd.dropout(x, 0.5, rng=1)
    nd.dropout(x.copy(), 0.5, rng=1, inplace=True)
    nd.dropout_mask((4, 1000), 0.5, rng=1)
    assert spy == [False, True, False]


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


DTYPES = [np.float16, np.float32, np.float64]


def _in_place_params():
    """Every case, shape and dtype on the serial kernel; float32 also on the parallel one.

    The parallel kernel runs the serial one's inlined work items in chunks, which
    do not depend on the dtype (see ``PARALLEL_DTYPE`` in test_kernels.py).
    """
    for case, shape, dtype in itertools.product(CASES, SHAPES, DTYPES):
        for kernel in ["serial", "parallel"] if dtype == np.float32 else ["serial"]:
            yield pytest.param(kernel, dtype, shape, case, id=f"{case[0]}-{shape}-{np.dtype(dtype).name}-{kernel}")


@pytest.mark.parametrize(("kernel", "dtype", "shape", "case"), list(_in_place_params()))
def test_in_place_matches_reference(monkeypatch, spy, kernel, dtype, shape, case):
    _, run, reference = case
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 10**12 if kernel == "serial" else 0)
    for layout, x in _layouts(shape, dtype).items():
        expected = reference(x.copy())
        spy.clear()
        y = run(x, rng=5, inplace=True)
        assert y is x, layout
        assert_identical(x, expected)
        assert spy and all(spy), (layout, spy)


@pytest.mark.parametrize("kernel", ["serial", "parallel"])
@pytest.mark.parametrize("kind", ["dropout", "alpha"])
def test_backward_in_place_matches_reference(monkeypatch, spy, kernel, kind):
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 10**12 if kernel == "serial" else 0)
    x = data((6, 3001))
    forward = nd.dropout if kind == "dropout" else (lambda x, p, **kw: nd.alpha_dropout(x, p, True, **kw))
    _, state = forward(x, 0.4, rng=8, return_state=True)
    grad = data((6, 3001), seed=1)
    expected = naive.dropout(grad, 0.4, 8) if kind == "dropout" else naive.alpha_dropout_grad(grad, 0.4, 8)
    spy.clear()
    assert state.backward(grad, inplace=True) is grad
    assert_identical(grad, expected)
    assert spy == [True]


@pytest.mark.parametrize("kernel", ["serial", "parallel"])
def test_overlapping_views_are_read_before_written(monkeypatch, kernel):
    """``launch`` with an output that overlaps the input without being it (no public
    call does this) computes from the input as it was."""
    monkeypatch.setattr(_tunables, "SERIAL_CUTOFF", 10**12 if kernel == "serial" else 0)
    buffer = data(10_001)
    x, y = buffer[1:], buffer[:-1]
    expected = naive.dropout(x.copy(), 0.5, 4)
    _engine.launch(x, y, "dropout", 0.5, 4, 0, (1,))
    assert_identical(buffer[:-1], expected)
