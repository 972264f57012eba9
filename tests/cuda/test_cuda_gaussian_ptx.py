"""The Gaussian dropout / noise kernel compiled to PTX for sm_90 (no GPU), as tests/cuda/test_cuda_ptx.py.

Run with ``NUMBADROP_TEST_PTX=1`` (needs numba-cuda, libNVVM and NVRTC). The
bits equal the CPU's only if no product is fused into an FMA and ``sqrt``
and ``/`` round correctly: the PTX must show ``mul.rn.f64``,
``sqrt.rn.f64``, ``div.rn.f64`` and no ``fma``, approximate or call.
"""

from __future__ import annotations

import os
import re

import pytest

from numbadrop.kernels.cuda import _runtime as _cuda_runtime
from numbadrop.kernels.cuda import gaussian as _gaussian_cuda

CC = (9, 0)

# tests/cuda/conftest.py collects this file in its PTX run once it is listed in PTX_TESTS;
# the simulator and GPU runs collect it too, and skip it here.
pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBADROP_TEST_PTX") != "1" or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
    reason="PTX compilation: NUMBADROP_TEST_PTX=1 without the simulator",
)


class _Device:
    compute_capability = CC


@pytest.fixture(autouse=True)
def no_driver(monkeypatch):
    """Answer sm_90 for the current device while compiling (test code only)."""
    _cuda_runtime.require()
    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())
    _gaussian_cuda.kernel()  # registers the GPU lowerings


@pytest.mark.parametrize("sig", [s for s in _gaussian_cuda.signatures() if "float16" not in s])
def test_compiles_to_ptx_without_fma(sig):
    from numba import cuda

    ptx, _ = cuda.compile_ptx(_gaussian_cuda.source(), sig, cc=CC)
    ops = set(re.findall(r"^\s+(?:@%p\d+\s+)?([a-z][\w.]*)", ptx, re.M))
    assert ".target sm_90" in ptx
    assert not any(op.startswith("fma") for op in ops), "every product must round on its own, as on the CPU"
    assert not any(op.startswith("call") for op in ops), "device functions should be inlined"
    assert not any(".approx" in op or op.startswith(("rcp", "rsqrt", "ex2", "lg2", "sin", "cos")) for op in ops)
    assert {"mul.rn.f64", "sqrt.rn.f64", "div.rn.f64", "mul.hi.u32"} <= ops, sorted(ops)
