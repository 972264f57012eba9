"""Shared parameters and peer implementations for the numbadrop benchmarks.

Every benchmark compares numbadrop with *peers* doing the same job:

``"numbadrop"``
    the library under test;
``"numpy"``
    the usual NumPy line, ``x * (rng.random(x.shape, dtype) >= p) / (1 - p)``;
``"torch"``
    ``torch.nn.functional`` on ``torch.from_numpy(x)`` (skipped when torch is
    not importable);
``"copy"``
    ``np.copyto`` into a preallocated array: the memory-bandwidth floor that
    no elementwise kernel can beat.

``setup`` methods raise ``NotImplementedError`` for combinations that do not
apply; asv then reports them as skipped (``n/a``), never as failures.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

import numbadrop

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

#: Drop probability used throughout (the common default of dropout layers).
P = 0.5

#: The peers every elementwise benchmark is parametrized over.
PEERS = ["numbadrop", "numpy", "torch", "copy"]

DTYPES = ["float16", "float32", "float64"]

#: Element counts of the default suite; 10**8 only with NUMBADROP_BENCH_LARGE=1.
LARGE = os.environ.get("NUMBADROP_BENCH_LARGE", "0") not in ("", "0")
SIZES = [10**3, 10**4, 10**5, 10**6, 10**7] + ([10**8] if LARGE else [])

#: Thread counts for numba (and torch); NumPy's elementwise code is serial.
THREADS = [1, 2]


def _share_compiled_kernels() -> None:
    """Let the benchmark processes of one run share numbadrop's compiled kernels.

    asv runs every parameter combination in a fresh process. numbadrop's
    kernels normally use numba's disk cache (``cache=True``); any that do not
    would be compiled again in each process, spending seconds before the
    (untimed) warm-up. This turns numba's disk cache on for those dispatchers
    only, in a folder named by a hash of numbadrop's source files and the
    numba and Python versions, so that a cached kernel always belongs to
    exactly the code being benchmarked. Timings are unaffected (loading and
    compiling give the same machine code). ``NUMBADROP_BENCH_NO_CACHE=1``
    turns it off.
    """
    if os.environ.get("NUMBADROP_BENCH_NO_CACHE", "0") not in ("", "0"):
        return
    digest = hashlib.sha256(f"{numba.__version__} {sys.version}".encode())
    for path in sorted(Path(numbadrop.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    numba.config.CACHE_DIR = os.path.join(tempfile.gettempdir(), "numbadrop-bench-cache", digest.hexdigest()[:16])
    for name, module in list(sys.modules.items()):
        if name != "numbadrop" and not name.startswith("numbadrop."):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher) and type(obj._cache).__name__ == "NullCache":
                obj.enable_caching()


_share_compiled_kernels()


def set_threads(threads: int, peer: str) -> None:
    """Use ``threads`` threads in numba (and torch), or skip the combination.

    The NumPy line and ``np.copyto`` are single-threaded whatever the setting,
    so their ``threads > 1`` combinations would only repeat the 1-thread
    numbers: they are skipped.
    """
    if peer in ("numpy", "copy") and threads != 1:
        raise NotImplementedError("NumPy elementwise code is single-threaded")
    if threads > numba.config.NUMBA_NUM_THREADS:
        raise NotImplementedError(f"only {numba.config.NUMBA_NUM_THREADS} numba threads available")
    numba.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def require_torch() -> None:
    """Skip a ``peer="torch"`` combination when torch is not importable."""
    if torch is None:
        raise NotImplementedError("torch is not installed")


def random_array(shape, dtype: str, seed: int = 0) -> np.ndarray:
    """Standard-normal test data of ``shape`` and ``dtype``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype, copy=False)


def numpy_dropout(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """The usual NumPy dropout line (``rng.random`` has no float16: float32 draws)."""
    rdtype = np.float64 if x.dtype == np.float64 else np.float32
    return x * (rng.random(x.shape, rdtype) >= p) / (1 - p)


def numpy_mask(shape, p: float, dtype, rng: np.random.Generator) -> np.ndarray:
    """The boolean keep-mask the NumPy line draws."""
    rdtype = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    return rng.random(shape, rdtype) >= p


def warm_up(fn) -> None:
    """Call ``fn`` once so that numba compilation is not part of any timing."""
    fn()
