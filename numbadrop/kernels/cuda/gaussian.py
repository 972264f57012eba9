"""CUDA kernel of Gaussian dropout and Gaussian noise (numba-cuda), imported only when a GPU array arrives.

The same transform as the CPU, from the same source
(:func:`numbadrop._core.normal.normal_pair`, :func:`numbadrop._core.normal.noise_element`,
compiled with ``cuda.jit(device=True)``); every product that feeds an
addition is :func:`numbadrop._core.formula.mul_rn` (``mul.rn.f64``: never an FMA),
and :func:`numbadrop._core.normal.sqrt_rn` is ``sqrt.rn.f64``, so the bits are the
CPU's. One kernel, the shape of :mod:`numbadrop.kernels.cuda.dropout`'s ``general`` kernel:
a 3-D view of any strides, element ``(i0, i1, i2)`` with index
``start + i0 * s0 + i1 * s1 + i2``; one thread per Philox group of a row and
loop trip (4 variates from one Philox call), grid-stride. Under
``NUMBA_ENABLE_CUDASIM=1`` it runs in Numba's simulator as Python.
"""

from __future__ import annotations

import threading

import numpy as np

from numbadrop._core import geometry, tunables
from numbadrop._core import normal as _normal
from numbadrop._core.arrays import describe
from numbadrop.kernels.cuda import _prims, _runtime

#: numba's CUDA module (set by :func:`source`): a module global, which the simulator swaps for its own.
cuda = None
_kernel = None
_lock = threading.Lock()


def _register_gpu_lowerings() -> None:
    """The GPU meaning of ``clz64``, ``sqrt_rn`` and ``compute`` (see :mod:`numbadrop._core.normal`)."""
    from numba.cuda import libdevice, types
    from numba.cuda.extending import overload

    @overload(_normal.clz64, target="cuda", inline="always")
    def _clz64(v):
        return lambda v: libdevice.clzll(np.int64(v))

    @overload(_normal.sqrt_rn, target="cuda", inline="always")
    def _sqrt_rn(v):
        return lambda v: libdevice.dsqrt_rn(v)

    @overload(_normal.compute, target="cuda", inline="always")
    def _compute(ref, v):
        if ref == types.float64:
            return lambda ref, v: v
        return lambda ref, v: np.float32(v)


def source():
    """The plain Python function of the kernel (for ``compile_ptx`` and tests)."""
    global cuda
    _runtime.require()
    cuda = _runtime.cuda
    philox = _prims._philox_devs["u32"]
    pair = cuda.jit(device=True)(_normal.normal_pair)
    element = cuda.jit(device=True)(_normal.noise_element)
    widen, narrow = _prims.widen, _prims.narrow
    _, pick, locate = _prims.devices()
    m32, s32 = _prims._M32, _prims._S32

    def gaussian_kernel(x, y, start, s0, s1, k0, k1, o0, o1, a, additive):
        """``y[i0, i1, i2]`` from ``x[i0, i1, i2]``, index ``start + i0 * s0 + i1 * s1 + i2``."""
        n1 = np.int64(y.shape[1])
        n2 = np.int64(y.shape[2])
        per_row = (n2 + 6) >> 2  # the Philox groups a row's indices can touch
        nslots = np.int64(y.shape[0]) * n1 * per_row
        nthreads = np.int64(cuda.blockDim.x) * np.int64(cuda.gridDim.x)
        tid = np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x)
        for slot in range(tid, nslots, nthreads):
            i0, i1, q, j_row = locate(slot, per_row, n1, start, s0, s1)
            g = (j_row >> 2) + q
            if 4 * g - j_row < n2:
                gu = np.uint64(g)
                r0, r1, r2, r3 = philox(gu & m32, gu >> s32, o0, o1, k0, k1)
                z0, z1 = pair(r0, r1)
                z2, z3 = pair(r2, r3)
                for w in range(4):
                    c = 4 * g + w - j_row
                    if c >= 0 and c < n2:
                        z = pick(w, z0, z1, z2, z3)
                        y[i0, i1, c] = narrow(y, element(widen(x[i0, i1, c]), z, a, additive))

    return gaussian_kernel


def kernel():
    """The ``cuda.jit`` dispatcher (compiled per dtype on first launch)."""
    global _kernel
    if _kernel is None:
        with _lock:
            if _kernel is None:
                _runtime.require()
                if not _runtime.SIMULATOR:
                    _register_gpu_lowerings()
                fn = source()
                _kernel = cuda.jit(fn)
    return _kernel


def signatures() -> list[str]:
    """Every signature :func:`launch` can call the kernel with (int16: bfloat16 bits)."""
    u64 = "uint64, uint64, uint64, uint64"
    return [
        f"void({dt}[:, :, :], {dt}[:, :, :], int64, int64, int64, {u64}, float64, boolean)"
        for dt in ("float16", "float32", "float64", "int16")
    ]


def launch(x, y, additive: bool, a: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """:func:`numbadrop.kernels.cpu.gaussian.launch` for GPU arrays (any strides; ``x`` may be ``y``)."""
    k = kernel()
    ya = describe(y)
    xa = ya if x is y else describe(x)
    _runtime.on_device(ya, lambda: _launch(k, xa, ya, additive, a, seed, offset, strides, start))


def _launch(k, xa, ya, additive, a, seed, offset, strides, start) -> None:
    u = np.uint64
    args = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32), np.float64(a), bool(additive))
    dims = geometry.collapse(ya.shape, xa.strides, ya.strides, tuple(strides))
    lead, shape, xs, ys, ms = _runtime.inner_dims(dims)
    tpb = int(tunables.CUDA_THREADS_PER_BLOCK)
    blocks = _runtime.grid(-(-(shape[0] * shape[1] * ((shape[2] + 6) // 4)) // tpb), _runtime.max_blocks())
    launcher = k[blocks, tpb, _runtime.stream(ya.stream)]
    for block_start, xv, yv in _runtime.block_views(xa, ya, lead, shape, xs, ys, start, ya.dtype):
        launcher(xv, yv, np.int64(block_start), np.int64(ms[0]), np.int64(ms[1]), *args)
