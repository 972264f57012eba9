"""CPU kernels: ``numba.njit`` loops over a 3-D view of the data.

Every kernel evaluates the mask contract of DESIGN.md section 1 for each
element it touches, from the element's *global mask index*

    j = start + i0 * s0 + i1 * s1 + i2 * s2

where ``(i0, i1, i2)`` indexes the 3-D view and ``(s0, s1, s2)`` are the mask
index strides (0 along broadcast dimensions). ``functional`` collapses any
array to such views; a caller holding one block of a larger array passes the
block's ``start`` and the big array's strides, and gets the same mask.

The innermost stride ``s2`` is 0 or 1. With 1, a work item draws the Philox
words for a whole tile at once, in a lane loop that LLVM vectorizes, and then
applies them; with 0 it draws one word for the whole row.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from numbadrop import _formula, _philox, _tunables

TILE = _tunables.TILE
LANES = TILE // 4 + 1  # one extra group when a tile does not start on a group boundary

MODE_SCALE = _formula.MODE_SCALE  # kept: x * m, dropped: d
MODE_AFFINE = _formula.MODE_AFFINE  # kept: x * m + b, dropped: d
MODE_MASK = _formula.MODE_MASK  # y = keep (boolean output)

_philox_jit = njit(inline="always")(_philox.philox4x32_10)
_MASK32 = _philox.MASK32
_SHIFT32 = _philox.SHIFT32


# --- float16 storage: numba's CPU target has no float16, so half arrays are
# viewed as uint16 and converted with LLVM's own (IEEE, round-to-nearest-even)
# conversions, which also vectorize.
@intrinsic
def _half_bits_to_float(typingctx, bits):
    if bits != types.uint16:
        return None

    def codegen(context, builder, sig, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@intrinsic
def _float_to_half_bits(typingctx, value):
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(types.float32), codegen


def _load(v):
    """Widen a stored element to its compute type (float16 bits -> float32)."""


@overload(_load, inline="always")
def _load_impl(v):
    if v == types.uint16:
        return lambda v: _half_bits_to_float(v)
    return lambda v: v


def _store(y, i0, i1, i2, v):
    """Write ``v`` to ``y[i0, i1, i2]``, rounding to the stored dtype."""


@overload(_store, inline="always")
def _store_impl(y, i0, i1, i2, v):
    if y.dtype == types.uint16:

        def impl(y, i0, i1, i2, v):
            y[i0, i1, i2] = _float_to_half_bits(np.float32(v))

        return impl

    def impl(y, i0, i1, i2, v):
        y[i0, i1, i2] = v

    return impl


@njit(inline="always")
def _word(j, k0, k1, o0, o1):
    """The contract's random word ``r_j`` for global mask index ``j``."""
    g = np.uint64(j >> 2)
    r = _philox_jit(g & _MASK32, g >> _SHIFT32, o0, o1, k0, k1)
    return r[j & 3]


@njit(inline="always")
def _fill_words(words, lanes, g_first, ng, k0, k1, o0, o1):
    """``words[4*i + w] = r`` word ``w`` of Philox group ``g_first + i``."""
    l0 = lanes[0]
    l1 = lanes[1]
    l2 = lanes[2]
    l3 = lanes[3]
    g0 = np.uint64(g_first)
    for i in range(ng):
        iu = np.uint64(i)
        g = g0 + iu
        r0, r1, r2, r3 = _philox_jit(g & _MASK32, g >> _SHIFT32, o0, o1, k0, k1)
        l0[iu] = r0
        l1[iu] = r1
        l2[iu] = r2
        l3[iu] = r3
    for i in range(ng):
        iu = np.uint64(i)
        w = np.uint64(4) * iu
        words[w] = l0[iu]
        words[w + np.uint64(1)] = l1[iu]
        words[w + np.uint64(2)] = l2[iu]
        words[w + np.uint64(3)] = l3[iu]


@overload(_formula.mul_rn, inline="always")
def _mul_rn_impl(a, b):
    # LLVM on the CPU never fuses without fastmath: a plain multiply.
    return lambda a, b: a * b


_element = njit(inline="always")(_formula.element)


@njit(inline="always")
def _row_span(x, y, i0, i1, c_begin, c_end, keep, m, b, d, mode):
    """Apply one keep decision to ``c_begin <= i2 < c_end`` of one row."""
    for c in range(c_begin, c_end):
        cu = np.uint64(c)
        if mode == MODE_MASK:
            y[i0, i1, cu] = keep
        else:
            _store(y, i0, i1, cu, _element(_load(x[i0, i1, cu]), keep, m, b, d, mode))


@njit(cache=True)
def _run_items(x, y, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode):
    """Work items ``first <= item < last``: item = (row, tile of the row)."""
    n1 = x.shape[1]
    n2 = x.shape[2]
    ntiles = (n2 + TILE - 1) // TILE
    lanes = np.empty((4, LANES), np.uint32)
    words = np.empty(4 * LANES, np.uint32)
    for item in range(first, last):
        row = item // ntiles
        c_begin = (item - row * ntiles) * TILE
        c_end = min(n2, c_begin + TILE)
        i0 = row // n1
        i1 = row - i0 * n1
        j_row = start + i0 * s0 + i1 * s1
        if s2 == 0:
            keep = _word(j_row, k0, k1, o0, o1) >= t
            _row_span(x, y, i0, i1, c_begin, c_end, keep, m, b, d, mode)
            continue
        j_begin = j_row + c_begin
        g_first = j_begin >> 2
        ng = ((j_row + c_end - 1) >> 2) - g_first + 1
        _fill_words(words, lanes, g_first, ng, k0, k1, o0, o1)
        skew = np.uint64(j_begin - (g_first << 2))
        for c in range(c_end - c_begin):
            cu = np.uint64(c)
            keep = words[skew + cu] >= t
            c2 = np.uint64(c_begin) + cu
            if mode == MODE_MASK:
                y[i0, i1, c2] = keep
            else:
                _store(y, i0, i1, c2, _element(_load(x[i0, i1, c2]), keep, m, b, d, mode))


@njit(parallel=True, cache=True)
def _run_parallel(x, y, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, n_chunks):
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    n_chunks = min(n_items, n_chunks)
    per_chunk = (n_items + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        first = chunk * per_chunk
        last = min(n_items, first + per_chunk)
        _run_items(x, y, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode)


def run(x, y, start, strides, key, offset, t, m, b, d, mode):
    """Run the kernel on 3-D views ``x`` and ``y`` (same shape; any strides).

    Parameters
    ----------
    x, y : numpy.ndarray
        3-D input and output views; float16 data is passed as ``uint16`` views.
        For ``MODE_MASK``, ``x`` is ignored (pass ``y``) and ``y`` is boolean.
    start : int
        Global mask index of ``x[0, 0, 0]``.
    strides : tuple of 3 int
        Mask index strides; ``strides[2]`` must be 0 or 1.
    key, offset : tuple of 2 numpy.uint64
        The Philox key ``(k0, k1)`` and stream offset ``(o0, o1)``.
    t : numpy.uint64
        Drop threshold: element dropped iff its word < t.
    m, b, d : compute-type scalars
        The element formula's multiplier, addend (affine mode) and dropped value.
    mode : int
        ``MODE_SCALE``, ``MODE_AFFINE`` or ``MODE_MASK``.
    """
    s0, s1, s2 = np.int64(strides[0]), np.int64(strides[1]), np.int64(strides[2])
    args = (np.int64(start), s0, s1, s2, key[0], key[1], offset[0], offset[1], t, m, b, d, np.int64(mode))
    if x.size < _tunables.SERIAL_CUTOFF:
        n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
        _run_items(x, y, np.int64(0), np.int64(n_items), *args)
    else:
        n_chunks = numba.get_num_threads() * _tunables.CHUNKS_PER_THREAD
        _run_parallel(x, y, *args, np.int64(n_chunks))
