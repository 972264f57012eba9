"""CUDA kernels of DropBlock (numba-cuda), imported only when a GPU array arrives.

The seed grid is the contract's keep-mask of the grid shape, drawn by
:mod:`numbadrop.kernels.cuda.dropout`'s mask kernel into a temporary ``uint8`` array on the
device (one byte per grid cell; freed when the call returns). Then one thread
per element (grid-stride loops) tests the grid window that reaches it, as the
CPU kernels do (:mod:`numbadrop.kernels.cpu.dropblock`): an element at ``(z, h, w)``
of plane ``q`` is kept iff every grid cell ``(q, z', h', w')`` with
``z - bd < z' <= z``, ``h - bh < h' <= h``, ``w - bw < w' <= w`` (clipped to
the grid) is kept. :data:`count` sums the kept elements (integer atomics: the
total does not depend on the schedule) and :data:`apply` writes
``x * scale`` or 0. Inputs are C-contiguous; element indices are ``int64``.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from numbadrop._core import geometry, tunables
from numbadrop._core.arrays import GpuArray, c_strides, describe
from numbadrop.kernels.cuda import _prims, _runtime
from numbadrop.kernels.cuda import dropout as _dropout

#: numba's CUDA module, set by :func:`sources` (a module global: the simulator swaps it in kernels).
cuda = None
_kernels: dict = {}
_lock = threading.Lock()


def _window_source():
    def window_keep(keep, q, z, h, w, gd, gh, gw, bd, bh, bw):
        """True iff no seed lies in the grid window behind element ``(q, z, h, w)``."""
        for a in range(max(z - bd + 1, 0), min(z, gd - 1) + 1):
            for b in range(max(h - bh + 1, 0), min(h, gh - 1) + 1):
                base = ((q * gd + a) * gh + b) * gw
                for c in range(max(w - bw + 1, 0), min(w, gw - 1) + 1):
                    if keep[base + c] == 0:
                        return False
        return True

    return window_keep


def _position(e, d, h, w):
    """``(q, z, y, x)`` of flat element ``e`` in planes of ``d x h x w``."""
    q = e // (d * h * w)
    r = e - q * (d * h * w)
    z = r // (h * w)
    r = r - z * (h * w)
    y = r // w
    return q, z, y, r - y * w


def _count_source(window_keep, position):
    def count_kernel(keep, total, n, d, h, w, bd, bh, bw):
        """``total[0] +=`` the kept elements among the ``n`` elements of planes ``d x h x w``."""
        gd, gh, gw = d - bd + 1, h - bh + 1, w - bw + 1
        stride = np.int64(cuda.blockDim.x) * np.int64(cuda.gridDim.x)
        local = np.int64(0)
        for e in range(np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x), n, stride):
            q, z, y, x = position(e, d, h, w)
            if window_keep(keep, q, z, y, x, gd, gh, gw, bd, bh, bw):
                local += 1
        if local:
            cuda.atomic.add(total, 0, local)

    return count_kernel


def _apply_source(window_keep, position):
    widen, narrow = _prims.widen, _prims.narrow

    def apply_kernel(keep, x, y, n, d, h, w, bd, bh, bw, scale, zero):
        """``y[e] = x[e] * scale`` (compute type, rounded once) where kept, else 0."""
        gd, gh, gw = d - bd + 1, h - bh + 1, w - bw + 1
        stride = np.int64(cuda.blockDim.x) * np.int64(cuda.gridDim.x)
        for e in range(np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x), n, stride):
            q, z, r, c = position(e, d, h, w)
            if window_keep(keep, q, z, r, c, gd, gh, gw, bd, bh, bw):
                y[e] = narrow(y, widen(x[e]) * scale)
            else:
                y[e] = narrow(y, zero)

    return apply_kernel


def sources() -> dict:
    """The plain Python kernels (for ``compile_ptx`` and tests): ``{"count": ..., "apply": ...}``."""
    global cuda
    _runtime.require()
    cuda = _runtime.cuda
    window_keep = cuda.jit(device=True)(_window_source())
    position = cuda.jit(device=True)(_position)
    return {"count": _count_source(window_keep, position), "apply": _apply_source(window_keep, position)}


def signatures(name: str) -> list[str]:
    """Every signature a kernel is launched with."""
    ints = "int64, int64, int64, int64, int64, int64, int64"
    if name == "count":
        return [f"void(uint8[::1], int64[::1], {ints})"]
    pairs = [("float16", "float32"), ("float32", "float32"), ("float64", "float64"), ("int16", "float32")]
    return [f"void(uint8[::1], {dt}[::1], {dt}[::1], {ints}, {ct}, {ct})" for dt, ct in pairs]


def _kernel(name: str):
    k = _kernels.get(name)
    if k is None:
        with _lock:
            if not _kernels:
                _kernels.update({key: _runtime.cuda.jit(fn) for key, fn in sources().items()})
            k = _kernels[name]
    return k


def _flat(a: GpuArray, dtype: np.dtype, name: str):
    if a.strides != c_strides(a.shape, a.dtype.itemsize):
        raise ValueError(f"DropBlock on the GPU needs a C-contiguous {name}, got strides {a.strides}")
    n = math.prod(a.shape)
    return _runtime.array(a, a.ptr, (n,), (dtype.itemsize,), dtype)


def _seed_grid(stream, planes: int, dims, block, seed: int, offset: int, t: int):
    """The contract's keep-mask of the grid (a Numba device array of uint8 on the current device, on ``stream``)."""
    grid = (planes, *(n - b + 1 for n, b in zip(dims, block, strict=True)))
    keep = _runtime.device_array(grid, np.bool_, stream=stream)
    # the mask kernel takes p and recomputes t = ceil(p * 2**32): t / 2**32 gives t back exactly
    _dropout.launch(keep, keep, "mask", t / 4294967296.0, seed, offset, geometry.mask_strides(grid, ()))
    desc = describe(keep)
    return _runtime.array(desc, desc.ptr, (math.prod(grid),), (1,), np.dtype(np.uint8))


def _launch_shape(n: int) -> tuple[int, int]:
    tpb = int(tunables.CUDA_THREADS_PER_BLOCK)
    return _runtime.grid(-(-n // tpb), _runtime.max_blocks()), tpb


def _ints(n, dims, block) -> tuple:
    return (np.int64(n), *(np.int64(v) for v in dims), *(np.int64(v) for v in block))


def count_kept(x, planes: int, dims, block, seed: int, offset: int, t: int) -> int:
    """Kept elements of the block mask, computed on ``x``'s device and stream (``t``: the seed threshold)."""
    _runtime.require()
    n = planes * math.prod(dims)
    if n == 0:
        return 0
    xa = describe(x)

    def run() -> int:
        stream = _runtime.stream(xa.stream)
        keep = _seed_grid(stream, planes, dims, block, seed, offset, t)
        total = _runtime.to_device(np.zeros(1, np.int64), stream=stream)
        blocks, tpb = _launch_shape(n)
        _kernel("count")[blocks, tpb, stream](keep, total, *_ints(n, dims, block))
        return int(total.copy_to_host(stream=stream)[0])

    return _runtime.on_device(xa, run)


def apply(x, y, planes: int, dims, block, seed: int, offset: int, scale, t: int) -> None:
    """``y = x * scale`` where the block mask keeps, 0 elsewhere (``y`` may be ``x``: in place).

    ``x`` and ``y`` are C-contiguous GPU arrays of one shape and dtype on one
    device; the kernel runs on ``x``'s device and stream.
    """
    _runtime.require()
    xa = describe(x)
    dtype = xa.dtype
    xv = _flat(xa, dtype, "x")
    n = math.prod(xa.shape)
    if n == 0:
        return
    inplace = y is x
    ya = xa if inplace else describe(y)
    ctype = np.float64 if dtype == np.float64 else np.float32

    def run() -> None:
        stream = _runtime.stream(xa.stream)
        keep = _seed_grid(stream, planes, dims, block, seed, offset, t)
        yv = xv if inplace else _flat(ya, dtype, "output")
        blocks, tpb = _launch_shape(n)
        args = (*_ints(n, dims, block), ctype(scale), ctype(0.0))
        _kernel("apply")[blocks, tpb, stream](keep, xv, yv, *args)

    _runtime.on_device(xa, run)
