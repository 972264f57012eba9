"""DropBlock's CUDA kernels, for every signature they are launched with, compiled to PTX for sm_90 (no GPU).

Run with ``NUMBADROP_TEST_PTX=1`` (without the simulator), as test_cuda_ptx.py;
skipped otherwise, so that the simulator run that collects this folder does not
try to compile PTX.
"""

from __future__ import annotations

import os
import re

import pytest

PTX = os.environ.get("NUMBADROP_TEST_PTX") == "1" and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1"
pytestmark = pytest.mark.skipif(not PTX, reason="PTX compile tests: NUMBADROP_TEST_PTX=1, no simulator")

CC = (9, 0)


class _Device:
    compute_capability = CC


@pytest.fixture(autouse=True)
def no_driver(monkeypatch):
    """Answer sm_90 for the current device while compiling (test code only; see NUMBA_NOTES.md)."""
    from numbadrop.kernels.cuda import _runtime as _cuda_runtime

    _cuda_runtime.require()
    import numba.cuda.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())


def _signatures():
    if not PTX:
        return []
    from numbadrop.kernels.cuda import dropblock as _dropblock_cuda

    return [(name, sig) for name in ("count", "apply") for sig in _dropblock_cuda.signatures(name)]


@pytest.mark.parametrize("name, sig", _signatures())
def test_compiles_to_ptx(name, sig):
    from numba import cuda

    from numbadrop.kernels.cuda import dropblock as _dropblock_cuda

    ptx, _ = cuda.compile_ptx(_dropblock_cuda.sources()[name], sig, cc=CC)
    ops = set(re.findall(r"^\s+(?:@%p\d+\s+)?([a-z][\w.]*)", ptx, re.M))
    assert ".target sm_90" in ptx
    assert not any(op.startswith("call") for op in ops), "device functions should be inlined"
    if name == "count":
        assert any(op.startswith("atom") or op.startswith("red") for op in ops), sorted(ops)
    else:
        assert not any(op.startswith("fma") for op in ops), "x * scale is one product, rounded once"
