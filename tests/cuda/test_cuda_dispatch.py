"""Dispatch by array type, allocation, validation, lazy import, and the layers on GPU arrays."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from gpuarrays import SIMULATOR, HostCAI, assert_identical, to_gpu, to_host

import numbadrop as nd
from numbadrop import nn
from numbadrop._core import arrays as _backend


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this environment, repository on the path)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_loads_no_cuda():
    """``import numbadrop`` (and CPU work) imports neither numba.cuda nor the kernels module."""
    out = run_python(
        """
        import sys
        import numpy as np
        import numbadrop as nd
        nd.dropout(np.ones(10, np.float32), 0.5, rng=0)
        print(sorted(m for m in sys.modules if m.startswith(("numba.cuda", "numba_cuda", "numbadrop.kernels.cuda"))))
        """
    )
    assert out.strip() == "[]"


def test_missing_numba_cuda_says_what_to_install():
    out = run_python(
        """
        import sys
        sys.modules["numba_cuda"] = None  # as if numba-cuda were not installed
        import numpy as np
        import numbadrop as nd

        class Gpu:  # any producer of GPU arrays
            __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, False), "version": 3}
            shape = (4,)
            ndim = 1

        try:
            nd.dropout(Gpu(), 0.5)
        except ImportError as exc:
            print(exc)
        """
    )
    assert 'pip install "numbadrop[cuda]"' in out and "numba-cuda" in out


def test_numpy_without_row_stack_is_patched():
    """NumPy >= 2.5 lacks ``np.row_stack``, which numba-cuda 0.30.4 needs: require() restores it."""
    out = run_python(
        """
        import numpy as np
        if hasattr(np, "row_stack"):
            del np.row_stack
        from numbadrop.kernels.cuda import dropout as _cuda
        from numbadrop.kernels.cuda import _runtime as _cuda_runtime
        assert not hasattr(np, "row_stack")  # importing the module changes nothing
        _cuda_runtime.require()
        print(np.row_stack is np.vstack)
        """
    )
    assert out.strip() == "True"


def test_output_kind_and_identity():
    d = to_gpu(np.ones((2, 8), np.float32))
    y = nd.dropout(d, 0.5, rng=0)
    assert type(y) is type(d) and y is not d
    assert tuple(y.shape) == (2, 8)
    assert _backend.dtype_of(y) == np.float32


def test_numpy_input_stays_numpy():
    x = np.ones(5, np.float32)
    assert isinstance(nd.dropout(x, 0.5, rng=0), np.ndarray)
    assert not _backend.is_gpu_array(x)
    assert _backend.is_gpu_array(to_gpu(x))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.complex64, np.bool_])
def test_gpu_dtype_rejected(dtype):
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        nd.dropout(to_gpu(np.zeros(4, dtype)), 0.5)


@pytest.mark.skipif(not SIMULATOR, reason="read-only host memory behind the interface: simulator only")
def test_readonly_gpu_array_inplace_rejected():
    x = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="read-only"):
        nd.dropout(HostCAI(x, readonly=True), 0.5, inplace=True)
    y = nd.dropout(HostCAI(x, readonly=True), 0.5, rng=1)  # out of place is fine
    assert_identical(to_host(y), nd.dropout(x, 0.5, rng=1))


def test_grad_shape_checked():
    _, state = nd.dropout(to_gpu(np.ones((2, 3), np.float32)), 0.5, rng=0, return_state=True)
    with pytest.raises(ValueError, match=r"shape \(3, 2\), expected \(2, 3\)"):
        state.backward(to_gpu(np.ones((3, 2), np.float32)))


@pytest.mark.parametrize("device", ["tpu", "cuda:x", -1, 1.5, True])
def test_bad_device(device):
    g = nd.Generator(0)
    with pytest.raises(ValueError, match="device must be"):
        nd.dropout_mask(3, 0.5, rng=g, device=device)
    assert g.offset == 0  # nothing drawn


@pytest.mark.parametrize("device", [None, "cpu", "CPU"])
def test_cpu_device(device):
    assert isinstance(nd.dropout_mask(3, 0.5, rng=0, device=device), np.ndarray)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "gpu", 0])
def test_gpu_device_names(device):
    keep = nd.dropout_mask((5, 6), 0.5, rng=2, device=device)
    assert not isinstance(keep, np.ndarray)
    assert_identical(to_host(keep), nd.dropout_mask((5, 6), 0.5, rng=2))


def test_describe_fills_strides_and_streams():
    a = _backend.describe(to_gpu(np.zeros((3, 4), np.float16)))
    assert a.shape == (3, 4) and a.strides == (8, 2) and a.dtype == np.float16
    assert a.stream is None and not a.readonly
    if SIMULATOR:
        b = _backend.describe(HostCAI(np.zeros((4, 6), np.float64)[:, ::2], stream=1))
        assert b.strides == (48, 16) and b.stream is None  # 1: the legacy default stream
        c = _backend.describe(HostCAI(np.zeros(2, np.float32), stream=1234))
        assert c.stream == 1234 and c.library == "cai"


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Dropout, (4, 10)),
        (nn.Dropout1d, (2, 3, 8)),
        (nn.Dropout2d, (2, 3, 4, 5)),
        (nn.AlphaDropout, (4, 10)),
        (nn.FeatureAlphaDropout, (2, 3, 7)),
    ],
)
def test_layers_on_gpu_arrays(layer, shape):
    """Layers take GPU arrays unchanged: forward and backward match the CPU layer."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    gpu_layer, cpu_layer = layer(p=0.4, rng=3), layer(p=0.4, rng=3)
    for _ in range(2):  # two forwards: the layer's generator advances
        y = gpu_layer(to_gpu(x))
        assert not isinstance(y, np.ndarray)
        assert_identical(to_host(y), cpu_layer(x))
        assert_identical(to_host(gpu_layer.backward(to_gpu(g))), cpu_layer.backward(g))
    gpu_layer.eval()
    d = to_gpu(x)
    assert gpu_layer(d) is d


def test_grid_floor_and_cap(monkeypatch):
    """Off the simulator, grids have at least CUDA_MIN_BLOCKS blocks (no numba-cuda
    low-occupancy warning on every small launch), unless the cap is lower."""
    from numbadrop._core import tunables as _tunables
    from numbadrop.kernels.cuda import _runtime as _cuda_runtime

    monkeypatch.setattr(_cuda_runtime, "SIMULATOR", False)
    monkeypatch.setattr(_tunables, "CUDA_MIN_BLOCKS", 128)
    assert _cuda_runtime.grid(1, 1056) == 128
    assert _cuda_runtime.grid(5000, 1056) == 1056
    assert _cuda_runtime.grid(300, 1056) == 300
    assert _cuda_runtime.grid(1, 3) == 3
    monkeypatch.setattr(_cuda_runtime, "SIMULATOR", True)
    assert _cuda_runtime.grid(1, 1056) == 1


def test_out_on_the_gpu():
    """``out=`` with a GPU array: the kernels write into it; a NumPy ``out`` for a GPU input is refused."""
    x = np.random.default_rng(0).standard_normal((6, 40)).astype(np.float32)
    gx, gout = to_gpu(x), to_gpu(np.zeros_like(x))
    assert nd.dropout(gx, 0.4, rng=nd.Generator(3, 1), out=gout) is gout
    assert_identical(to_host(gout), nd.dropout(x, 0.4, rng=nd.Generator(3, 1)))
    _, state = nd.dropout(gx, 0.4, rng=nd.Generator(3, 1), return_state=True)
    state.backward(gx, out=gout)
    assert_identical(to_host(gout), nd.dropout(x, 0.4, rng=nd.Generator(3, 1)))
    nd.dropout(gx, 0.4, training=False, out=gout)
    assert_identical(to_host(gout), x)
    with pytest.raises(TypeError, match="same kind"):
        nd.dropout(gx, 0.4, rng=0, out=np.empty_like(x))
