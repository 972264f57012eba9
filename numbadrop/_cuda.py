"""CUDA kernels (numba-cuda), imported only when a GPU array arrives.

The kernels evaluate the same contract as the CPU (DESIGN.md section 1) from
the same source: :func:`numbadrop._formula.element` and Philox4x32-10 (see
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

Philox: by default the kernels use :func:`philox4x32_10_u32`, the shared
function's rounds written in 32-bit words with :func:`umulhi` (ptxas turns
each multiply into one ``IMAD.WIDE.U32``; about 20% fewer instructions than
the shared function's 64-bit state). ``_tunables.CUDA_PHILOX = "shared"``
compiles :func:`numbadrop._philox.philox4x32_10` itself instead; both are
tested bit-identical (tests/cuda, asv_bench/gpu_check.py). Element indices
are ``int64`` throughout (arrays of 2**31 elements and more). ``x * m + b``
is computed with :func:`numbadrop._formula.mul_rn`, lowered here to
``mul.rn`` so that NVVM cannot fuse it into an FMA (which would round once
where the CPU rounds twice).

Importing this module needs nothing beyond NumPy; :func:`require` (called
when the first GPU array arrives) imports numba-cuda, or raises ImportError
saying what to install. NumPy 2.5 removed ``np.row_stack``, which numba-cuda
0.30.4 still overloads, so that every kernel compile fails with
``AttributeError``; :func:`require` restores ``np.row_stack = np.vstack``
(the same function under its old name) when it is missing, before numba-cuda
loads its NumPy overloads.

bfloat16 data (torch bfloat16 CUDA tensors, which have no
``__cuda_array_interface__`` of their own) reaches the kernels as ``int16``
views: :func:`widen` and :func:`narrow` convert the bits to and from float32
(one rounding to nearest even), under the float16 contract.

Under ``NUMBA_ENABLE_CUDASIM=1`` the same kernels run in Numba's CUDA
simulator; the GPU-only lowerings (vector accesses, ``mul.rn``,
``mul.hi``) then run as the plain Python functions they are defined as.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import threading

import numpy as np

from numbadrop import _backend, _engine, _formula, _philox, _tunables
from numbadrop.random import threshold

#: Set by :func:`require`: numba's CUDA module, and whether it is the simulator.
cuda = None
SIMULATOR = False
_ready = False
_init_lock = threading.Lock()

MODE_SCALE = _formula.MODE_SCALE
MODE_AFFINE = _formula.MODE_AFFINE
MODE_MASK = _formula.MODE_MASK

KINDS = ("vec", "rows", "general")

_M32 = _philox.MASK32
_S32 = _philox.SHIFT32


# --- GPU-only lowerings of three plain-Python helpers ---------------------------------------


def widen(v):
    """A stored element in its compute type (float16, bfloat16 bits -> float32; others unchanged).

    bfloat16 arrays reach the kernels as ``int16`` views (see :func:`narrow`).
    """
    if isinstance(v, np.int16):
        return (np.uint32(v.view(np.uint16)) << np.uint32(16)).view(np.float32)
    return v


def narrow(a, v):
    """``v`` as stored in ``a``: float32 -> bfloat16 bits for ``int16`` arrays (others unchanged).

    Round to nearest even on the 16 dropped bits; a NaN becomes the quiet NaN
    ``0x7FC0`` with its sign (ml_dtypes' conversion, and the CPU kernels').
    Other dtypes are rounded by the store itself.
    """
    if a.dtype == np.int16:
        f = np.float32(v)
        u = int(f.view(np.uint32))
        if f != f:
            r = ((u >> 16) & 0x8000) | 0x7FC0
        else:
            r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return np.uint16(r).view(np.int16)
    return v


def load4(a, i):
    """``a[i:i+4]`` of a 1-D contiguous array, as one aligned vector load on the GPU."""
    return a[i], a[i + 1], a[i + 2], a[i + 3]


def store4(a, i, v0, v1, v2, v3):
    """``a[i:i+4] = v0..v3`` (each rounded to ``a``'s dtype), one aligned vector store."""
    a[i] = v0
    a[i + 1] = v1
    a[i + 2] = v2
    a[i + 3] = v3


def load4_3d(a, i0, i1, i2):
    """``a[i0, i1, i2:i2+4]`` (unit inner stride), as one aligned vector load on the GPU."""
    return a[i0, i1, i2], a[i0, i1, i2 + 1], a[i0, i1, i2 + 2], a[i0, i1, i2 + 3]


def store4_3d(a, i0, i1, i2, v0, v1, v2, v3):
    """``a[i0, i1, i2:i2+4] = v0..v3`` (unit inner stride), one aligned vector store."""
    a[i0, i1, i2] = v0
    a[i0, i1, i2 + 1] = v1
    a[i0, i1, i2 + 2] = v2
    a[i0, i1, i2 + 3] = v3


def umulhi(a, b):
    """High 32 bits of the 64-bit product of two 32-bit words (``mul.hi.u32`` on the GPU)."""
    return np.uint32((np.uint64(a) * np.uint64(b)) >> _S32)


_U32 = np.uint32
_M0 = np.uint32(_philox.PHILOX_M0)
_M1 = np.uint32(_philox.PHILOX_M1)


def philox4x32_10_u32(c0, c1, c2, c3, k0, k1):
    """:func:`numbadrop._philox.philox4x32_10` in 32-bit words, for the GPU.

    Same arguments (below ``2**32``) and the same four words, as ``uint32``.
    The state is kept in ``uint32`` and every product split into
    :func:`umulhi` and a truncated low word, which ptxas fuses into one
    ``IMAD.WIDE.U32`` per multiply; the shared function's 64-bit state costs
    about 20% more instructions. Every operation is written so that it never
    wraps in 32 bits (the simulator runs this as NumPy scalar code).
    Checked bit for bit against the shared function in tests/cuda and by
    asv_bench/gpu_check.py on the device.
    """
    c0 = _U32(c0)
    c1 = _U32(c1)
    c2 = _U32(c2)
    c3 = _U32(c3)
    k0 = _U32(k0)
    k1 = _U32(k1)
    for r in range(_philox.ROUNDS):
        if r > 0:
            k0 = _U32((np.uint64(k0) + _philox.PHILOX_W0) & _M32)
            k1 = _U32((np.uint64(k1) + _philox.PHILOX_W1) & _M32)
        hi0 = umulhi(_M0, c0)
        lo0 = _U32((np.uint64(_M0) * np.uint64(c0)) & _M32)
        hi1 = umulhi(_M1, c2)
        lo1 = _U32((np.uint64(_M1) * np.uint64(c2)) & _M32)
        c0, c1, c2, c3 = _U32(hi1 ^ c1 ^ k0), lo1, _U32(hi0 ^ c3 ^ k1), lo0
    return c0, c1, c2, c3


def _register_gpu_lowerings() -> None:
    """The GPU meaning of :func:`numbadrop._formula.mul_rn`, :func:`widen` and the vector accesses.

    The vector accesses address global memory explicitly (``ld.global.v4``,
    ``st.global.v4``); callers guarantee the alignment (see ``launch``).
    """
    from llvmlite import ir
    from numba.cuda import cgutils, libdevice, types
    from numba.cuda.extending import intrinsic, overload

    @overload(_formula.mul_rn, target="cuda", inline="always")
    def _mul_rn(a, b):
        if a == types.float32 and b == types.float32:
            return lambda a, b: libdevice.fmul_rn(a, b)
        if a == types.float64 and b == types.float64:
            return lambda a, b: libdevice.dmul_rn(a, b)
        return None

    @overload(umulhi, target="cuda", inline="always")
    def _umulhi(a, b):
        return lambda a, b: libdevice.umulhi(a, b)

    @overload(widen, target="cuda", inline="always")
    def _widen(v):
        if v == types.float16:
            return lambda v: np.float32(v)
        if v == types.int16:  # bfloat16 bits: the upper half of a float32
            return lambda v: libdevice.int_as_float(np.int32(np.int64(v) << 16))
        return lambda v: v

    @overload(narrow, target="cuda", inline="always")
    def _narrow(a, v):
        if isinstance(a, types.Array) and a.dtype == types.int16:

            def to_bf16(a, v):
                f = np.float32(v)
                u = np.int64(libdevice.float_as_int(f)) & 0xFFFFFFFF
                rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
                quiet = ((u >> 16) & 0x8000) | 0x7FC0
                nan = np.int64(f != f)  # a select without branches (inlined into every store)
                return np.int16(rounded + nan * (quiet - rounded))

            return to_bf16
        return lambda a, v: v

    def _vector_pointer(context, builder, aryty, ary, inds):
        array = context.make_array(aryty)(context, builder, value=ary)
        ptr = cgutils.get_item_pointer(context, builder, aryty, array, inds)
        vec = ir.VectorType(context.get_data_type(aryty.dtype), 4)
        ptr = builder.addrspacecast(ptr, ptr.type.pointee.as_pointer(1))
        return builder.bitcast(ptr, vec.as_pointer(1)), min(16, aryty.dtype.bitwidth // 2)

    def _ok(a, inds):
        return (
            isinstance(a, types.Array)
            and a.ndim == len(inds)
            and all(isinstance(i, types.Integer) for i in inds)
            and (a.ndim == 3 or a.layout == "C")
        )

    def _load_codegen(context, builder, sig, args):
        vptr, align = _vector_pointer(context, builder, sig.args[0], args[0], args[1:])
        vec = builder.load(vptr, align=align)
        vals = [builder.extract_element(vec, ir.Constant(ir.IntType(32), k)) for k in range(4)]
        vals = [context.get_data_as_value(builder, sig.args[0].dtype, v) for v in vals]
        return context.make_tuple(builder, sig.return_type, vals)

    def _store_codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ndim = aryty.ndim
        vptr, align = _vector_pointer(context, builder, aryty, args[0], args[1 : 1 + ndim])
        vec = ir.Constant(vptr.type.pointee, ir.Undefined)
        for k in range(4):
            v = context.cast(builder, args[1 + ndim + k], sig.args[1 + ndim + k], aryty.dtype)
            v = context.get_value_as_data(builder, aryty.dtype, v)
            vec = builder.insert_element(vec, v, ir.Constant(ir.IntType(32), k))
        builder.store(vec, vptr, align=align)
        return context.get_dummy_value()

    i64 = types.int64

    @intrinsic
    def vload1(typingctx, a, i):
        if _ok(a, (i,)):
            return types.UniTuple(a.dtype, 4)(a, i64), _load_codegen
        return None

    @intrinsic
    def vload3(typingctx, a, i0, i1, i2):
        if _ok(a, (i0, i1, i2)):
            return types.UniTuple(a.dtype, 4)(a, i64, i64, i64), _load_codegen
        return None

    @intrinsic
    def vstore1(typingctx, a, i, v0, v1, v2, v3):
        if _ok(a, (i,)):
            return types.void(a, i64, v0, v1, v2, v3), _store_codegen
        return None

    @intrinsic
    def vstore3(typingctx, a, i0, i1, i2, v0, v1, v2, v3):
        if _ok(a, (i0, i1, i2)):
            return types.void(a, i64, i64, i64, v0, v1, v2, v3), _store_codegen
        return None

    @overload(load4, target="cuda", inline="always")
    def _load4(a, i):
        return lambda a, i: vload1(a, i)

    @overload(store4, target="cuda", inline="always")
    def _store4(a, i, v0, v1, v2, v3):
        return lambda a, i, v0, v1, v2, v3: vstore1(a, i, v0, v1, v2, v3)

    @overload(load4_3d, target="cuda", inline="always")
    def _load4_3d(a, i0, i1, i2):
        return lambda a, i0, i1, i2: vload3(a, i0, i1, i2)

    @overload(store4_3d, target="cuda", inline="always")
    def _store4_3d(a, i0, i1, i2, v0, v1, v2, v3):
        return lambda a, i0, i1, i2, v0, v1, v2, v3: vstore3(a, i0, i1, i2, v0, v1, v2, v3)


def pick(w, v0, v1, v2, v3):
    """``(v0, v1, v2, v3)[w]`` for ``0 <= w < 4``: a device function (no tuple indexing in a kernel)."""
    if w == 0:
        return v0
    if w == 1:
        return v1
    if w == 2:
        return v2
    return v3


def locate(slot, per_row, n1, start, s0, s1):
    """``(i0, i1, q, j_row)`` of work slot ``slot`` when every row of ``(n0, n1)`` has ``per_row`` slots.

    ``q`` is the slot within row ``(i0, i1)``, whose first element has mask
    index ``j_row = start + i0 * s0 + i1 * s1``.
    """
    row = slot // per_row
    q = slot - row * per_row
    i0 = row // n1
    i1 = row - i0 * n1
    return i0, i1, q, start + i0 * s0 + i1 * s1


def _word_source(philox):
    def word(j, k0, k1, o0, o1):
        """The contract's random word ``r_j`` for global mask index ``j`` (int64)."""
        g = np.uint64(j >> 2)
        r0, r1, r2, r3 = philox(g & _M32, g >> _S32, o0, o1, k0, k1)
        return _pick_dev(j & 3, r0, r1, r2, r3)

    return word


#: The Philox implementations a kernel can be built with (``_tunables.CUDA_PHILOX``).
PHILOX = {"u32": philox4x32_10_u32, "shared": _philox.philox4x32_10}

# Device functions, made by require(): Philox and its word selector per
# implementation, and the element formula.
_philox_devs: dict = {}
_word_devs: dict = {}
_element_dev = None
_pick_dev = None
_locate_dev = None


def require() -> None:
    """Import numba-cuda and make the device functions (once); ImportError if it is missing.

    Compiles nothing: numba compiles each kernel on its first launch.
    """
    global cuda, SIMULATOR, _ready, _element_dev, _pick_dev, _locate_dev
    if _ready:
        return
    with _init_lock:
        if _ready:
            return
        if importlib.util.find_spec("numba_cuda") is None:
            raise ImportError(f"GPU arrays need numba-cuda, which is not installed: {_backend.INSTALL_HINT}")
        if not hasattr(np, "row_stack"):  # NumPy >= 2.5 with numba-cuda <= 0.30.4, see above
            np.row_stack = np.vstack  # noqa: NPY201
        from numba import cuda as numba_cuda
        from numba.cuda.core import config

        cuda = numba_cuda
        SIMULATOR = bool(config.ENABLE_CUDASIM)
        if not SIMULATOR:
            _register_gpu_lowerings()
        _pick_dev = cuda.jit(device=True)(pick)
        _locate_dev = cuda.jit(device=True)(locate)
        for name, fn in PHILOX.items():
            _philox_devs[name] = dev = cuda.jit(device=True)(fn)
            _word_devs[name] = cuda.jit(device=True)(_word_source(dev))
        _element_dev = cuda.jit(device=True)(_formula.element)
        _ready = True


# --- kernel sources (built per mode and unroll; numba compiles each per dtype) --------------


def _vec_source(mode: int, unroll: int, vec: bool, philox: str):
    width = 4 * unroll
    philox_dev = _philox_devs[philox]

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
    word = _word_devs[philox]
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
    philox_dev = _philox_devs[philox]
    word = _word_devs[philox]

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
    require()
    return _SOURCES[kind](mode, unroll, kind == "vec" if vec is None else vec, philox)


def _unroll(kind: str) -> int:
    if kind == "vec":
        return int(_tunables.CUDA_VEC_UNROLL)
    if kind == "rows":
        return int(_tunables.CUDA_ROW_UNROLL)
    return 1


def kernel(kind: str, mode: int, vec: bool | None = None):
    """The ``cuda.jit`` dispatcher of one kernel at the current tunables (unroll, Philox)."""
    key = (kind, mode, _unroll(kind), kind == "vec" if vec is None else vec, str(_tunables.CUDA_PHILOX))
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


# --- launching --------------------------------------------------------------------------------

_sm_counts: dict = {}
_streams: dict = {}


def _max_blocks() -> int:
    if _tunables.CUDA_MAX_BLOCKS is not None:
        return max(1, int(_tunables.CUDA_MAX_BLOCKS))
    if SIMULATOR:
        return 16
    device = cuda.get_current_device()
    count = _sm_counts.get(device.id)
    if count is None:
        count = _sm_counts[device.id] = int(device.MULTIPROCESSOR_COUNT)
    return count * int(_tunables.CUDA_BLOCKS_PER_SM)


def _grid(needed: int, cap: int) -> int:
    """Blocks to launch: what the work needs, at least ``CUDA_MIN_BLOCKS``, at most ``cap``.

    numba-cuda warns (NumbaPerformanceWarning) on every launch of fewer than
    128 blocks; blocks beyond the work find nothing to do and exit.
    """
    low = 1 if SIMULATOR else int(_tunables.CUDA_MIN_BLOCKS)
    return max(1, min(cap, max(needed, low)))


def _stream(handle):
    """numba's view of the producer's stream (in the current context); 0: the default stream."""
    if SIMULATOR or handle is None:
        return 0
    key = (cuda.get_current_device().id, handle)
    s = _streams.get(key)
    if s is None:
        s = _streams[key] = cuda.external_stream(handle)
    return s


def _array(a: _backend.GpuArray, ptr: int, shape, strides, dtype: np.dtype):
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


def _aligned(a: _backend.GpuArray, nbytes: int) -> bool:
    return a.ptr % nbytes == 0


def launch(x, y, op: str, p: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """``numbadrop._engine.launch`` for GPU arrays: same parameters, same result.

    ``op`` may also be ``"zero"`` (``p = 1``: write zeros through ``y``'s strides).
    """
    require()
    ya = _backend.describe(y)
    if math.prod(ya.shape) == 0:
        return
    xa = ya if (op == "mask" or x is y) else _backend.describe(x)
    on_device(ya, lambda: _launch(xa, ya, op, p, seed, offset, strides, start))


def on_device(a: _backend.GpuArray, run):
    """``run()`` with ``a``'s device current, whichever is current now (several GPUs), and its result."""
    if a.device is not None and not SIMULATOR and len(cuda.gpus) > 1:
        with cuda.gpus[a.device]:
            return run()
    return run()


def inner_dims(dims: list) -> tuple:
    """``(lead, shape, xs, ys, ms)``: :func:`numbadrop._engine._collapse`'s dims padded to three.

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
        yv = _array(ya, y_ptr, shape, ys, dtype)
        xv = yv if (xa is ya and x_ptr == y_ptr and xs == ys) else _array(xa, x_ptr, shape, xs, dtype)
        yield block_start, xv, yv


def _launch(xa, ya, op, p, seed, offset, strides, start) -> None:
    if op in ("zero", "mask"):  # no coefficients (and p may be 0 or 1)
        ctype = np.float64 if ya.dtype == np.float64 else np.float32
        mode = MODE_SCALE if op == "zero" else MODE_MASK
        m, b, d = ctype(0.0), ctype(0.0), ctype(0.0)
        t = np.uint64(1 << 32 if op == "zero" else threshold(p))
    else:
        mode, m, b, d = _engine._coefficients(op, p, ya.dtype)
        t = np.uint64(threshold(p))
    dtype = np.dtype(np.uint8) if mode == MODE_MASK else ya.dtype
    u = np.uint64
    keys = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32), t)
    coefs = (m, b, d)
    stream = _stream(ya.stream)
    tpb = int(_tunables.CUDA_THREADS_PER_BLOCK)
    cap = _max_blocks()
    item = ya.dtype.itemsize
    n = math.prod(ya.shape)
    c_order = _backend.c_strides(ya.shape, item)

    flat = ya.strides == c_order and xa.strides == c_order and tuple(strides) == _engine.mask_strides(ya.shape, ())
    if flat and start % 4 == 0 and _aligned(xa, min(16, 4 * item)) and _aligned(ya, min(16, 4 * item)):
        xv = _array(xa, xa.ptr, (n,), (item,), dtype)
        yv = xv if xa is ya else _array(ya, ya.ptr, (n,), (item,), dtype)
        unroll = _unroll("vec")
        blocks = _grid(-(-n // (4 * unroll * tpb)), cap)
        kernel("vec", mode)[blocks, tpb, stream](xv, yv, np.int64(n), np.int64(start >> 2), *keys, *coefs)
        return

    if flat:
        dims = [(n, item, item, 1)]
    else:
        dims = _engine._collapse(ya.shape, xa.strides, ya.strides, tuple(strides))
    lead, shape, xs, ys, ms = inner_dims(dims)
    rows = ms[2] == 0 and shape[2] >= int(_tunables.CUDA_ROW_MIN)
    if rows:
        # 4-wide accesses when every row starts 4-element aligned, in x and y.
        align = min(16, 4 * item)
        wide = (
            shape[2] % 4 == 0
            and xs[2] == item
            and ys[2] == item
            and all(s % align == 0 for s in xs[:2] + ys[:2])
            and all(dim[1] % align == 0 and dim[2] % align == 0 for dim in lead)
            and _aligned(xa, align)
            and _aligned(ya, align)
        )
        unroll = _unroll("rows")
        per_item = tpb * unroll * (4 if wide else 1)
        blocks = _grid(shape[0] * shape[1] * -(-shape[2] // per_item), cap)
        k = kernel("rows", mode, wide)[blocks, tpb, stream]
    else:
        per_row = (shape[2] + 6) // 4 if ms[2] else (shape[2] + 3) // 4
        blocks = _grid(-(-(shape[0] * shape[1] * per_row) // tpb), cap)
        k = kernel("general", mode)[blocks, tpb, stream]
    for block_start, xv, yv in block_views(xa, ya, lead, shape, xs, ys, start, dtype):
        if rows:
            k(xv, yv, np.int64(block_start), np.int64(ms[0]), np.int64(ms[1]), *keys, *coefs)
        else:
            k(xv, yv, np.int64(block_start), *(np.int64(s) for s in ms), *keys, *coefs)
