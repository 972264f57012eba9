"""Every CUDA kernel, for every dtype it is launched with, compiled to PTX for sm_90 (no GPU).

Run with ``NUMBADROP_TEST_PTX=1`` (and without the simulator); needs
numba-cuda, libNVVM and NVRTC (``pip install "nvidia-cuda-nvrtc==13.*"``).
Typing errors, missing lowerings and unwanted code shapes (FMA contraction,
scalar instead of vector accesses, calls instead of inlined device
functions) surface here without a GPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from numbadrop.kernels.cuda import _runtime as _cuda_runtime
from numbadrop.kernels.cuda import dropout as _cuda

CC = (9, 0)


class _Device:
    compute_capability = CC


@pytest.fixture(autouse=True)
def no_driver(monkeypatch):
    """Device functions ask the driver for the current device's compute capability;
    without a GPU, answer sm_90 for the duration of the test (test code only)."""
    _cuda_runtime.require()
    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())


# Every kernel, mode and signature with the default Philox; float32 and the
# mask with the shared one.
CASES = [
    (kind, vec, mode, sig, philox)
    for kind, vec in _cuda.VARIANTS
    for mode in (_cuda.MODE_SCALE, _cuda.MODE_AFFINE, _cuda.MODE_MASK)
    for sig in _cuda.signatures(kind, mode)
    for philox in ("u32", "shared")
    if philox == "u32" or "float32[" in sig or "uint8[" in sig
]


def _instructions(ptx: str) -> set[str]:
    return set(re.findall(r"^\s+(?:@%p\d+\s+)?([a-z][\w.]*)", ptx, re.M))


@pytest.mark.parametrize(
    "kind, vec, mode, sig, philox",
    CASES,
    ids=[f"{k}{'4' if v else ''}-m{m}-{s.split('[')[0][5:]}-{ph}" for k, v, m, s, ph in CASES],
)
def test_compiles_to_ptx(kind, vec, mode, sig, philox):
    from numba import cuda

    fn = _cuda.source(kind, mode, _cuda._unroll(kind), vec, philox)
    ptx, _ = cuda.compile_ptx(fn, sig, cc=CC)
    ops = _instructions(ptx)
    assert ".target sm_90" in ptx
    assert not any(op.startswith("fma") for op in ops), "x * m + b must round twice, as on the CPU"
    assert not any(op.startswith("call") for op in ops), "device functions should be inlined"
    if mode == _cuda.MODE_AFFINE:
        assert any(op.startswith("mul.rn.f") for op in ops)
    if philox == "u32":
        assert any(op.startswith("mul.hi.u32") for op in ops)
    if vec:
        assert any(op.startswith("st.global.v") for op in ops), sorted(ops)
        if mode != _cuda.MODE_MASK:
            assert any(op.startswith("ld.global.v") for op in ops), sorted(ops)


@pytest.mark.parametrize("unroll", [1, 3])
def test_other_unrolls_compile(unroll):
    from numba import cuda

    for kind, vec in _cuda.VARIANTS:
        sig = _cuda.signatures(kind, _cuda.MODE_SCALE)[1]  # float32
        cuda.compile_ptx(_cuda.source(kind, _cuda.MODE_SCALE, unroll, vec), sig, cc=CC)


def test_compiles_without_numpy_row_stack():
    """NumPy 2.5 removed ``np.row_stack``; numba-cuda 0.30.4 fails every compile without it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = textwrap.dedent(
        """
        import numpy as np
        if hasattr(np, "row_stack"):
            del np.row_stack
        from numbadrop.kernels.cuda import dropout as _cuda
        from numbadrop.kernels.cuda import _runtime as _cuda_runtime
        _cuda_runtime.require()
        import numba.cuda.dispatcher as dispatcher
        class Device:
            compute_capability = (9, 0)
        dispatcher.get_current_device = lambda: Device()
        from numba import cuda
        sig = _cuda.signatures("vec", _cuda.MODE_SCALE)[1]
        ptx, _ = cuda.compile_ptx(_cuda.source("vec", _cuda.MODE_SCALE, 2), sig, cc=(9, 0))
        print("ok", len(ptx) > 0)
        """
    )
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok True"
