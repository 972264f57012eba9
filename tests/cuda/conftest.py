"""CUDA tests: collected only in their own pytest runs (see .ci/run).

- ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda``: every kernel, on
  small inputs, in Numba's CUDA simulator, bit for bit against the CPU.
- ``NUMBADROP_TEST_PTX=1 python -m pytest tests/cuda``: every kernel compiled
  to PTX for sm_90 (needs numba-cuda, libNVVM and NVRTC, no GPU).
- ``NUMBADROP_TEST_GPU=1 python -m pytest tests/cuda``: the simulator's tests
  on a real GPU.

The main ``python -m pytest`` run (none of these set) does not collect this
folder and says so in its header and summary: no test here is reported as
passed without having run.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # tests/ (naive.py)

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
REAL_GPU = os.environ.get("NUMBADROP_TEST_GPU") == "1"
PTX = os.environ.get("NUMBADROP_TEST_PTX") == "1"

if REAL_GPU:  # the tests' deliberately tiny grids would warn on every launch
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")

_NOTE = (
    "tests/cuda not collected: run NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda "
    "(simulator) and NUMBADROP_TEST_PTX=1 python -m pytest tests/cuda (PTX), as .ci/run does"
)

#: The tests that compile kernels to PTX; every other test_*.py here runs kernels.
PTX_TESTS = ("test_cuda_ptx.py", "test_cuda_dropblock_ptx.py", "test_cuda_gaussian_ptx.py")


def pytest_ignore_collect(collection_path, config):
    name = collection_path.name
    if not (name.startswith("test_") and name.endswith(".py")):
        return None
    if name in PTX_TESTS:
        return True if (SIMULATOR or not PTX) else None
    return None if (SIMULATOR or REAL_GPU) else True


def pytest_report_header(config):
    if not (SIMULATOR or REAL_GPU or PTX):
        return _NOTE
    return None


def pytest_terminal_summary(terminalreporter):
    if not (SIMULATOR or REAL_GPU or PTX):
        terminalreporter.write_line(_NOTE)


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """One-warp blocks and a 3-block grid, so the grid-stride loops run several times."""
    if SIMULATOR or REAL_GPU:
        from numbadrop._core import tunables as _tunables

        monkeypatch.setattr(_tunables, "CUDA_THREADS_PER_BLOCK", 32)
        monkeypatch.setattr(_tunables, "CUDA_MAX_BLOCKS", 3)
        monkeypatch.setattr(_tunables, "CUDA_ROW_MIN", 16)
    yield
