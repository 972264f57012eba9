"""How a CUDA kernel runs: numba-cuda loaded on the first GPU array, devices, grids, streams, views.

Importing this module needs nothing beyond NumPy; :func:`require` (called
when the first GPU array arrives) imports numba-cuda, or raises ImportError
saying what to install. NumPy 2.5 removed ``np.row_stack``, which numba-cuda
0.30.4 still overloads, so that every kernel compile fails with
``AttributeError``; :func:`require` restores ``np.row_stack = np.vstack``
(the same function under its old name) when it is missing, before numba-cuda
loads its NumPy overloads.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run in Numba's CUDA
simulator; the GPU-only lowerings (vector accesses, ``mul.rn``,
``mul.hi``) then run as the plain Python functions they are defined as.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading

import numpy as np

from numbadrop._core import tunables
from numbadrop._core.arrays import GpuArray
from numbadrop.kernels.cuda import _prims

#: What to install when a GPU array arrives and numba-cuda is missing.
INSTALL_HINT = 'pip install "numbadrop[cuda]"  (which installs numba-cuda)'

#: Set by :func:`require`: numba's CUDA module, and whether it is the simulator.
cuda = None
SIMULATOR = False
_ready = False
_init_lock = threading.Lock()


def require() -> None:
    """Import numba-cuda and make the device functions (once); ImportError if it is missing.

    Compiles nothing: numba compiles each kernel on its first launch.
    """
    global cuda, SIMULATOR, _ready
    if _ready:
        return
    with _init_lock:
        if _ready:
            return
        if importlib.util.find_spec("numba_cuda") is None:
            raise ImportError(f"GPU arrays need numba-cuda, which is not installed: {INSTALL_HINT}")
        if not hasattr(np, "row_stack"):  # NumPy >= 2.5 with numba-cuda <= 0.30.4, see above
            np.row_stack = np.vstack  # noqa: NPY201
        from numba import cuda as numba_cuda
        from numba.cuda.core import config

        cuda = numba_cuda
        SIMULATOR = bool(config.ENABLE_CUDASIM)
        if not SIMULATOR:
            _prims.register_gpu_lowerings()
        _prims.make_devices(cuda)
        _ready = True


def device_array(shape: tuple[int, ...], dtype, device: int | None = None, stream=0):
    """A new Numba device array (on GPU ``device`` when given); :func:`require` first."""
    require()
    if device is None:
        return cuda.device_array(tuple(shape), dtype=np.dtype(dtype), stream=stream)
    with cuda.gpus[device]:
        return cuda.device_array(tuple(shape), dtype=np.dtype(dtype), stream=stream)


def to_device(a: np.ndarray, stream=0):
    """``a`` copied to the current GPU (``cuda.to_device``)."""
    return cuda.to_device(a, stream=stream)


# --- launching ---------------------------------------------------------------------------------

_sm_counts: dict = {}
_streams: dict = {}


def max_blocks() -> int:
    if tunables.CUDA_MAX_BLOCKS is not None:
        return max(1, int(tunables.CUDA_MAX_BLOCKS))
    if SIMULATOR:
        return 16
    device = cuda.get_current_device()
    count = _sm_counts.get(device.id)
    if count is None:
        count = _sm_counts[device.id] = int(device.MULTIPROCESSOR_COUNT)
    return count * int(tunables.CUDA_BLOCKS_PER_SM)


def grid(needed: int, cap: int) -> int:
    """Blocks to launch: what the work needs, at least ``CUDA_MIN_BLOCKS``, at most ``cap``.

    numba-cuda warns (NumbaPerformanceWarning) on every launch of fewer than
    128 blocks; blocks beyond the work find nothing to do and exit.
    """
    low = 1 if SIMULATOR else int(tunables.CUDA_MIN_BLOCKS)
    return max(1, min(cap, max(needed, low)))


def stream(handle):
    """numba's view of the producer's stream (in the current context); 0: the default stream."""
    if SIMULATOR or handle is None:
        return 0
    key = (cuda.get_current_device().id, handle)
    s = _streams.get(key)
    if s is None:
        s = _streams[key] = cuda.external_stream(handle)
    return s


def array(a: GpuArray, ptr: int, shape, strides, dtype: np.dtype):
    """A kernel argument viewing ``a``'s memory at ``ptr`` with ``shape``/``strides``."""
    desc = {
        "shape": tuple(int(n) for n in shape),
        "strides": tuple(int(s) for s in strides),
        "data": (int(ptr), False),
        "typestr": dtype.str,
        "version": 3,
    }
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        class _Host:
            __array_interface__ = desc

        return FakeCUDAArray(np.asarray(_Host()))
    return cuda.from_cuda_array_interface(desc, owner=a.obj, sync=False)


def aligned(a: GpuArray, nbytes: int) -> bool:
    return a.ptr % nbytes == 0


def on_device(a: GpuArray, run):
    """``run()`` with ``a``'s device current, whichever is current now (several GPUs), and its result."""
    if a.device is not None and not SIMULATOR and len(cuda.gpus) > 1:
        with cuda.gpus[a.device]:
            return run()
    return run()


def inner_dims(dims: list) -> tuple:
    """``(lead, shape, xs, ys, ms)``: :func:`numbadrop._core.geometry.collapse`'s dims padded to three.

    ``shape`` and the byte strides ``xs``, ``ys`` and index strides ``ms`` are
    those of the inner three; ``lead`` holds the dims before them, which
    :func:`block_views` loops over.
    """
    dims = list(dims)
    while len(dims) < 3:
        dims.insert(0, (1, 0, 0, 0))
    lead, inner = dims[:-3], dims[-3:]
    return (lead, *(tuple(dim[k] for dim in inner) for k in range(4)))


def block_views(xa, ya, lead, shape, xs, ys, start: int, dtype):
    """``(first mask index, x view, y view)`` of each 3-D block of the leading dims (one without any).

    The x view is the y view itself where ``x`` is ``y`` (in place).
    """
    for index in itertools.product(*(range(dim[0]) for dim in lead)):
        block_start = start + sum(i * dim[3] for i, dim in zip(index, lead, strict=True))
        x_ptr = xa.ptr + sum(i * dim[1] for i, dim in zip(index, lead, strict=True))
        y_ptr = ya.ptr + sum(i * dim[2] for i, dim in zip(index, lead, strict=True))
        yv = array(ya, y_ptr, shape, ys, dtype)
        xv = yv if (xa is ya and x_ptr == y_ptr and xs == ys) else array(xa, x_ptr, shape, xs, dtype)
        yield block_start, xv, yv
