"""CUDA kernels of element and channel dropout (numba-cuda), imported only when a GPU array arrives.

The kernels evaluate the same contract as the CPU (DESIGN.md section 1) from
the same source: :func:`numbadrop._core.formula.element` and Philox4x32-10 (see
below), compiled with ``cuda.jit(device=True)``. They differ from the CPU
kernels only in how they walk the array:

``vec``
    1-D contiguous data whose mask index is ``start + i`` (element dropout,
    its backward and ``dropout_mask`` on ordinary arrays). Thread ``q`` owns
    Philox group ``q``: one Philox call gives the words of its 4 consecutive
    elements, which it reads and writes with one aligned 4-element vector
    access each (16 bytes for float32); consecutive threads own consecutive
    groups, so a warp moves 512 contiguous bytes per access. Each thread
    handles ``CUDA_VEC_UNROLL`` groups per loop trip (all loads first), in a
    grid-stride loop. Needs ``start % 4 == 0`` and both pointers aligned.
``rows``
    3-D views whose innermost axis shares one mask value (channel dropout:
    ``(N*C, H*W)`` rows). A block takes a chunk of one row, draws the row's
    word once per thread and then reads (only when kept: a dropped row is
    written without being read) and writes ``CUDA_ROW_UNROLL`` coalesced
    elements per thread.
``general``
    Any 3-D view (innermost mask stride 0 or 1): one Philox group per thread
    and loop trip, scalar accesses. Covers strided, broadcast and unaligned
    data, and a ``start`` that is not a multiple of 4.

Element indices are ``int64`` throughout (arrays of 2**31 elements and
more). ``x * m + b`` is computed with :func:`numbadrop._core.formula.mul_rn`,
lowered to ``mul.rn`` (:mod:`numbadrop.kernels.cuda._prims`) so that NVVM
cannot fuse it into an FMA (which would round once where the CPU rounds twice).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from numbadrop._core import geometry, tunables
from numbadrop._core.arrays import c_strides, describe
from numbadrop._core.formula import coefficients, threshold
from numbadrop.kernels.cuda import _prims, _runtime
from numbadrop.kernels.cuda._prims import (
    MODE_AFFINE,  # noqa: F401  (the modes are part of this module's interface)
    MODE_MASK,
    MODE_SCALE,
    load4,
    load4_3d,
    narrow,
    store4,
    store4_3d,
    widen,
)

KINDS = ("vec", "rows", "general")
_M32 = _prims._M32
_S32 = _prims._S32

# Bound by _bind() once numba-cuda is loaded: the kernels below read them as globals.
cuda = None
_element_dev = None
_pick_dev = None
_locate_dev = None


def _bind() -> None:
    global cuda, _element_dev, _pick_dev, _locate_dev
    _runtime.require()
    cuda = _runtime.cuda
    _element_dev, _pick_dev, _locate_dev = _prims.devices()


# --- kernel sources (built per mode and unroll; numba compiles each per dtype) --------------


def _vec_source(mode: int, unroll: int, vec: bool, philox: str):
    width = 4 * unroll
    philox_dev = _prims._philox_devs[philox]

    def vec_kernel(x, y, n, g_first, k0, k1, o0, o1, t, m, b, d):
        """Element ``i`` of the 1-D ``x``/``y`` has mask index ``4 * g_first + i``."""
        nthreads = np.int64(cuda.blockDim.x) * np.int64(cuda.gridDim.x)
        tid = np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x)
        ngroups = (n + 3) >> 2
        nfull = n >> 2
        buf = cuda.local.array(width, x.dtype)
        for first in range(tid, ngroups, nthreads * unroll):
            if mode != MODE_MASK:
                for u in range(unroll):
                    q = first + u * nthreads
                    if q < nfull:
                        v0, v1, v2, v3 = load4(x, 4 * q)
                        buf[4 * u] = v0
                        buf[4 * u + 1] = v1
                        buf[4 * u + 2] = v2
                        buf[4 * u + 3] = v3
            for u in range(unroll):
                q = first + u * nthreads
                if q < ngroups:
                    g = np.uint64(g_first + q)
                    r0, r1, r2, r3 = philox_dev(g & _M32, g >> _S32, o0, o1, k0, k1)
                    e = 4 * q
                    if q < nfull:
                        if mode == MODE_MASK:
                            store4(y, e, np.uint8(r0 >= t), np.uint8(r1 >= t), np.uint8(r2 >= t), np.uint8(r3 >= t))
                        else:
                            store4(
                                y,
                                e,
                                narrow(y, _element_dev(widen(buf[4 * u]), r0 >= t, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 1]), r1 >= t, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 2]), r2 >= t, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 3]), r3 >= t, m, b, d, mode)),
                            )
                    else:  # the last, partial group
                        for w in range(n - e):
                            r = _pick_dev(w, r0, r1, r2, r3)
                            if mode == MODE_MASK:
                                y[e + w] = np.uint8(r >= t)
                            else:
                                y[e + w] = narrow(y, _element_dev(widen(x[e + w]), r >= t, m, b, d, mode))

    return vec_kernel


def _rows_source(mode: int, unroll: int, vec: bool, philox: str):
    width = 4 if vec else 1
    word = _prims._word_devs[philox]
    buf_len = unroll * width

    def rows_kernel(x, y, start, s0, s1, k0, k1, o0, o1, t, m, b, d):
        """Rows ``y[i0, i1, :]`` share mask index ``start + i0 * s0 + i1 * s1``.

        With ``vec``, rows have unit inner stride, a length divisible by 4 and
        aligned starts, and each access moves 4 elements.
        """
        n1 = np.int64(y.shape[1])
        n2 = np.int64(y.shape[2])
        step = np.int64(cuda.blockDim.x) * width
        chunk_len = step * unroll
        nchunks = (n2 + chunk_len - 1) // chunk_len
        nitems = np.int64(y.shape[0]) * n1 * nchunks
        buf = cuda.local.array(buf_len, x.dtype)
        for item in range(np.int64(cuda.blockIdx.x), nitems, np.int64(cuda.gridDim.x)):
            row = item // nchunks
            c0 = (item - row * nchunks) * chunk_len + np.int64(cuda.threadIdx.x) * width
            i0 = row // n1
            i1 = row - i0 * n1
            keep = word(start + i0 * s0 + i1 * s1, k0, k1, o0, o1) >= t
            if mode != MODE_MASK and keep:
                for u in range(unroll):
                    c = c0 + u * step
                    if c < n2:
                        if vec:
                            v0, v1, v2, v3 = load4_3d(x, i0, i1, c)
                            buf[4 * u] = v0
                            buf[4 * u + 1] = v1
                            buf[4 * u + 2] = v2
                            buf[4 * u + 3] = v3
                        else:
                            buf[u] = x[i0, i1, c]
                for u in range(unroll):
                    c = c0 + u * step
                    if c < n2:
                        if vec:
                            store4_3d(
                                y,
                                i0,
                                i1,
                                c,
                                narrow(y, _element_dev(widen(buf[4 * u]), True, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 1]), True, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 2]), True, m, b, d, mode)),
                                narrow(y, _element_dev(widen(buf[4 * u + 3]), True, m, b, d, mode)),
                            )
                        else:
                            y[i0, i1, c] = narrow(y, _element_dev(widen(buf[u]), True, m, b, d, mode))
            elif mode == MODE_MASK:
                kv = np.uint8(keep)
                for u in range(unroll):
                    c = c0 + u * step
                    if c < n2:
                        if vec:
                            store4_3d(y, i0, i1, c, kv, kv, kv, kv)
                        else:
                            y[i0, i1, c] = kv
            else:  # a dropped row: nothing to read
                dv = narrow(y, d)
                for u in range(unroll):
                    c = c0 + u * step
                    if c < n2:
                        if vec:
                            store4_3d(y, i0, i1, c, dv, dv, dv, dv)
                        else:
                            y[i0, i1, c] = dv

    return rows_kernel


def _general_source(mode: int, unroll: int, vec: bool, philox: str):
    philox_dev = _prims._philox_devs[philox]
    word = _prims._word_devs[philox]

    def general_kernel(x, y, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d):
        """``y[i0, i1, i2]`` has mask index ``start + i0 * s0 + i1 * s1 + i2 * s2``, s2 in {0, 1}."""
        n1 = np.int64(y.shape[1])
        n2 = np.int64(y.shape[2])
        # Slots per row: the Philox groups a row's mask indices can touch
        # (s2 = 1), or runs of 4 elements sharing the row's word (s2 = 0).
        per_row = (n2 + 6) >> 2 if s2 != 0 else (n2 + 3) >> 2
        nslots = np.int64(y.shape[0]) * n1 * per_row
        nthreads = np.int64(cuda.blockDim.x) * np.int64(cuda.gridDim.x)
        tid = np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x)
        for slot in range(tid, nslots, nthreads):
            i0, i1, q, j_row = _locate_dev(slot, per_row, n1, start, s0, s1)
            if s2 == 0:
                keep = word(j_row, k0, k1, o0, o1) >= t
                for c in range(4 * q, min(4 * q + 4, n2)):
                    if mode == MODE_MASK:
                        y[i0, i1, c] = np.uint8(keep)
                    else:
                        y[i0, i1, c] = narrow(y, _element_dev(widen(x[i0, i1, c]), keep, m, b, d, mode))
            else:
                g = (j_row >> 2) + q
                gu = np.uint64(g)
                r0, r1, r2, r3 = philox_dev(gu & _M32, gu >> _S32, o0, o1, k0, k1)
                for w in range(4):
                    c = 4 * g + w - j_row
                    if c >= 0 and c < n2:
                        r = _pick_dev(w, r0, r1, r2, r3)
                        if mode == MODE_MASK:
                            y[i0, i1, c] = np.uint8(r >= t)
                        else:
                            y[i0, i1, c] = narrow(y, _element_dev(widen(x[i0, i1, c]), r >= t, m, b, d, mode))

    return general_kernel


_SOURCES = {"vec": _vec_source, "rows": _rows_source, "general": _general_source}
_kernels: dict = {}
_lock = threading.Lock()

#: (kind, 4-wide access) pairs: the kernels ``launch`` uses.
VARIANTS = (("vec", True), ("rows", True), ("rows", False), ("general", False))


def source(kind: str, mode: int, unroll: int = 1, vec: bool | None = None, philox: str = "u32"):
    """The plain Python function of one kernel (for ``compile_ptx`` and tests)."""
    _bind()
    return _SOURCES[kind](mode, unroll, kind == "vec" if vec is None else vec, philox)


def _unroll(kind: str) -> int:
    if kind == "vec":
        return int(tunables.CUDA_VEC_UNROLL)
    if kind == "rows":
        return int(tunables.CUDA_ROW_UNROLL)
    return 1


def kernel(kind: str, mode: int, vec: bool | None = None):
    """The ``cuda.jit`` dispatcher of one kernel at the current tunables (unroll, Philox)."""
    key = (kind, mode, _unroll(kind), kind == "vec" if vec is None else vec, str(tunables.CUDA_PHILOX))
    k = _kernels.get(key)
    if k is None:
        with _lock:
            k = _kernels.get(key)
            if k is None:
                k = _kernels[key] = cuda.jit(source(*key))
    return k


def signatures(kind: str, mode: int) -> list[str]:
    """Every signature ``launch`` can call a kernel with (one per dtype and layout)."""
    if mode == MODE_MASK:
        dtypes = [("uint8", "float32")]
    else:
        # int16: bfloat16 bits (see narrow)
        dtypes = [("float16", "float32"), ("float32", "float32"), ("float64", "float64"), ("int16", "float32")]
    sigs = []
    u64 = "uint64, uint64, uint64, uint64, uint64"
    for dt, ct in dtypes:
        if kind == "vec":
            sigs.append(f"void({dt}[::1], {dt}[::1], int64, int64, {u64}, {ct}, {ct}, {ct})")
        elif kind == "rows":
            sigs.append(f"void({dt}[:, :, :], {dt}[:, :, :], int64, int64, int64, {u64}, {ct}, {ct}, {ct})")
        else:
            sigs.append(f"void({dt}[:, :, :], {dt}[:, :, :], int64, int64, int64, int64, {u64}, {ct}, {ct}, {ct})")
    return sigs


def launch(x, y, op: str, p: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """:func:`numbadrop.kernels.cpu.dropout.launch` for GPU arrays: same parameters, same result.

    ``op`` may also be ``"zero"`` (``p = 1``: write zeros through ``y``'s strides).
    """
    _bind()
    ya = describe(y)
    if math.prod(ya.shape) == 0:
        return
    xa = ya if (op == "mask" or x is y) else describe(x)
    _runtime.on_device(ya, lambda: _launch(xa, ya, op, p, seed, offset, strides, start))


def _launch(xa, ya, op, p, seed, offset, strides, start) -> None:
    if op in ("zero", "mask"):  # no coefficients (and p may be 0 or 1)
        ctype = np.float64 if ya.dtype == np.float64 else np.float32
        mode = MODE_SCALE if op == "zero" else MODE_MASK
        m, b, d = ctype(0.0), ctype(0.0), ctype(0.0)
        t = np.uint64(1 << 32 if op == "zero" else threshold(p))
    else:
        mode, m, b, d = coefficients(op, p, ya.dtype)
        t = np.uint64(threshold(p))
    dtype = np.dtype(np.uint8) if mode == MODE_MASK else ya.dtype
    u = np.uint64
    keys = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32), t)
    coefs = (m, b, d)
    stream = _runtime.stream(ya.stream)
    tpb = int(tunables.CUDA_THREADS_PER_BLOCK)
    cap = _runtime.max_blocks()
    item = ya.dtype.itemsize
    n = math.prod(ya.shape)
    c_order = c_strides(ya.shape, item)

    flat = ya.strides == c_order and xa.strides == c_order and tuple(strides) == geometry.mask_strides(ya.shape, ())
    if flat and start % 4 == 0 and _runtime.aligned(xa, min(16, 4 * item)) and _runtime.aligned(ya, min(16, 4 * item)):
        xv = _runtime.array(xa, xa.ptr, (n,), (item,), dtype)
        yv = xv if xa is ya else _runtime.array(ya, ya.ptr, (n,), (item,), dtype)
        unroll = _unroll("vec")
        blocks = _runtime.grid(-(-n // (4 * unroll * tpb)), cap)
        kernel("vec", mode)[blocks, tpb, stream](xv, yv, np.int64(n), np.int64(start >> 2), *keys, *coefs)
        return

    if flat:
        dims = [(n, item, item, 1)]
    else:
        dims = geometry.collapse(ya.shape, xa.strides, ya.strides, tuple(strides))
    lead, shape, xs, ys, ms = _runtime.inner_dims(dims)
    rows = ms[2] == 0 and shape[2] >= int(tunables.CUDA_ROW_MIN)
    if rows:
        # 4-wide accesses when every row starts 4-element aligned, in x and y.
        align = min(16, 4 * item)
        wide = (
            shape[2] % 4 == 0
            and xs[2] == item
            and ys[2] == item
            and all(s % align == 0 for s in xs[:2] + ys[:2])
            and all(dim[1] % align == 0 and dim[2] % align == 0 for dim in lead)
            and _runtime.aligned(xa, align)
            and _runtime.aligned(ya, align)
        )
        unroll = _unroll("rows")
        per_item = tpb * unroll * (4 if wide else 1)
        blocks = _runtime.grid(shape[0] * shape[1] * -(-shape[2] // per_item), cap)
        k = kernel("rows", mode, wide)[blocks, tpb, stream]
    else:
        per_row = (shape[2] + 6) // 4 if ms[2] else (shape[2] + 3) // 4
        blocks = _runtime.grid(-(-(shape[0] * shape[1] * per_row) // tpb), cap)
        k = kernel("general", mode)[blocks, tpb, stream]
    for block_start, xv, yv in _runtime.block_views(xa, ya, lead, shape, xs, ys, start, dtype):
        if rows:
            k(xv, yv, np.int64(block_start), np.int64(ms[0]), np.int64(ms[1]), *keys, *coefs)
        else:
            k(xv, yv, np.int64(block_start), *(np.int64(s) for s in ms), *keys, *coefs)
