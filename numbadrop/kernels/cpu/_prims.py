"""What every CPU kernel is built from: the inlined Philox, the contract's word, 2-byte float storage.

numba's CPU target has no float16 or bfloat16: such arrays reach the kernels
as their bits (``uint16`` for float16, ``int16`` for bfloat16) and are widened
to float32 and narrowed back with LLVM's own conversions (IEEE,
round-to-nearest-even), which vectorize. :func:`load` and :func:`narrow` pick
the conversion from the array's type at compile time.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from numbadrop._core import formula
from numbadrop._core import philox as _philox

MODE_SCALE = formula.MODE_SCALE  # kept: x * m, dropped: d
MODE_AFFINE = formula.MODE_AFFINE  # kept: x * m + b, dropped: d
MODE_MASK = formula.MODE_MASK  # y = keep (boolean output)

philox = njit(inline="always")(_philox.philox4x32_10)
MASK32 = _philox.MASK32
SHIFT32 = _philox.SHIFT32


# --- float16 storage: numba's CPU target has no float16, so half arrays are
# viewed as uint16 and converted with LLVM's own (IEEE, round-to-nearest-even)
# conversions, which also vectorize.
@intrinsic
def half_bits_to_float(typingctx, bits):
    if bits != types.uint16:
        return None

    def codegen(context, builder, sig, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@intrinsic
def float_to_half_bits(typingctx, value):
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(types.float32), codegen


# --- bfloat16 storage: bfloat16 arrays are viewed as int16 (a dtype the public
# functions never accept, so int16 in a kernel always means bfloat16 bits).
# bfloat16 is the upper half of a float32: widening is a shift; narrowing
# rounds to nearest even on the dropped 16 bits, and a NaN becomes the quiet
# NaN 0x7FC0 with its sign, as ml_dtypes converts (subnormals are kept).
@intrinsic
def bf16_bits_to_float(typingctx, bits):
    if bits != types.int16:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        wide = builder.shl(builder.zext(args[0], i32), ir.Constant(i32, 16))
        return builder.bitcast(wide, ir.FloatType())

    return types.float32(types.int16), codegen


@intrinsic
def float_to_bf16_bits(typingctx, value):
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        u = builder.bitcast(args[0], i32)
        upper = builder.lshr(u, ir.Constant(i32, 16))
        lsb = builder.and_(upper, ir.Constant(i32, 1))
        rounded = builder.lshr(builder.add(builder.add(u, ir.Constant(i32, 0x7FFF)), lsb), ir.Constant(i32, 16))
        quiet = builder.or_(builder.and_(upper, ir.Constant(i32, 0x8000)), ir.Constant(i32, 0x7FC0))
        isnan = builder.fcmp_unordered("uno", args[0], args[0])
        return builder.trunc(builder.select(isnan, quiet, rounded), ir.IntType(16))

    return types.int16(types.float32), codegen


def load(v):
    """Widen a stored element to its compute type (float16 and bfloat16 bits -> float32)."""


@overload(load, inline="always")
def _load_impl(v):
    if v == types.uint16:
        return lambda v: half_bits_to_float(v)
    if v == types.int16:
        return lambda v: bf16_bits_to_float(v)
    return lambda v: v


def narrow(out, v):
    """``v`` converted to ``out``'s stored dtype (float32 -> float16 or bfloat16 bits for 2-byte arrays)."""


@overload(narrow, inline="always")
def _narrow_impl(out, v):
    if out.dtype == types.uint16:
        return lambda out, v: float_to_half_bits(np.float32(v))
    if out.dtype == types.int16:
        return lambda out, v: float_to_bf16_bits(np.float32(v))
    return lambda out, v: v


@njit
def word(j, k0, k1, o0, o1):
    """The contract's random word ``r_j`` for global mask index ``j``."""
    g = np.uint64(j >> 2)
    r = philox(g & MASK32, g >> SHIFT32, o0, o1, k0, k1)
    return r[j & 3]


@overload(formula.mul_rn, inline="always")
def _mul_rn_impl(a, b):
    # LLVM on the CPU never fuses without fastmath: a plain multiply.
    return lambda a, b: a * b


element_jit = njit(inline="always")(formula.element)


@njit(inline="always")
def value(xr, c, keep, m, b, d, mode):
    """The element formula for ``xr[c]`` in the compute type (``mode`` a constant)."""
    if mode == MODE_MASK:
        return keep
    return element_jit(load(xr[c]), keep, m, b, d, mode)


@njit(inline="always")
def apply_keep(xr, out, first, n, keep, m, b, d, mode):
    """``out[first + k]`` from ``xr[first + k]``, ``k < n``, one keep decision for all (``mode`` a constant)."""
    for k in range(n):
        c = first + np.uint64(k)
        out[c] = narrow(out, value(xr, c, keep, m, b, d, mode))


@njit(inline="always")
def strided_row(buf, first, step, n):
    """``n`` elements of the flat buffer ``buf`` from ``first``, ``step`` apart (``step != 0``), as a 1-D view."""
    if step > 0:
        return buf[first : first + (n - 1) * step + 1 : step]
    low = first + (n - 1) * step
    return buf[low : first + 1 : -step][::-1]
