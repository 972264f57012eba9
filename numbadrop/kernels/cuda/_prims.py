"""What every CUDA kernel is built from: Philox in 32-bit words, 2-byte float storage, vector accesses.

Plain Python functions that the kernels compile with ``cuda.jit(device=True)``
and the CUDA simulator runs as they are; :func:`register_gpu_lowerings` gives
some of them a GPU-only meaning (``mul.rn``, ``mul.hi``, 4-wide global loads
and stores). :func:`make_devices` compiles the shared device functions once,
when :func:`numbadrop.kernels.cuda._runtime.require` has loaded numba-cuda.

Philox: by default the kernels use :func:`philox4x32_10_u32`, the shared
function's rounds written in 32-bit words with :func:`umulhi` (ptxas turns
each multiply into one ``IMAD.WIDE.U32``; about 20% fewer instructions than
the shared function's 64-bit state). ``tunables.CUDA_PHILOX = "shared"``
compiles :func:`numbadrop._core.philox.philox4x32_10` itself instead; both are
tested bit-identical (tests/cuda, asv_bench/gpu_check.py).

bfloat16 data (torch bfloat16 CUDA tensors, which have no
``__cuda_array_interface__`` of their own) reaches the kernels as ``int16``
views: :func:`widen` and :func:`narrow` convert the bits to and from float32
(one rounding to nearest even), under the float16 contract.
"""

from __future__ import annotations

import numpy as np

from numbadrop._core import formula as _formula
from numbadrop._core import philox as _philox

MODE_SCALE = _formula.MODE_SCALE
MODE_AFFINE = _formula.MODE_AFFINE
MODE_MASK = _formula.MODE_MASK

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


def register_gpu_lowerings() -> None:
    """The GPU meaning of :func:`numbadrop._core.formula.mul_rn`, :func:`widen` and the vector accesses.

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


#: The Philox implementations a kernel can be built with (``tunables.CUDA_PHILOX``).
PHILOX = {"u32": philox4x32_10_u32, "shared": _philox.philox4x32_10}

# Device functions, made by make_devices(): Philox and its word selector per
# implementation, the element formula, and the slot helpers.
_philox_devs: dict = {}
_word_devs: dict = {}
_element_dev = None
_pick_dev = None
_locate_dev = None


def make_devices(cuda) -> None:
    """Compile-on-first-use device functions of the helpers above, under ``cuda`` (numba-cuda or its simulator)."""
    global _element_dev, _pick_dev, _locate_dev
    _pick_dev = cuda.jit(device=True)(pick)
    _locate_dev = cuda.jit(device=True)(locate)
    for name, fn in PHILOX.items():
        _philox_devs[name] = dev = cuda.jit(device=True)(fn)
        _word_devs[name] = cuda.jit(device=True)(_word_source(dev))
    _element_dev = cuda.jit(device=True)(_formula.element)


def devices() -> tuple:
    """``(element, pick, locate)`` device functions (after :func:`make_devices`)."""
    return _element_dev, _pick_dev, _locate_dev
