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
applies them; with 0 it draws one word for the whole row. Large in-place
calls write with non-temporal stores (``numbadrop._streaming``).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from numbadrop import _formula, _philox, _streaming, _tunables

TILE = _tunables.TILE
LANES = TILE // 4 + 1  # one extra group when a tile does not start on a group boundary

MODE_SCALE = _formula.MODE_SCALE  # kept: x * m, dropped: d
MODE_AFFINE = _formula.MODE_AFFINE  # kept: x * m + b, dropped: d
MODE_MASK = _formula.MODE_MASK  # y = keep (boolean output)

# How a work item writes its tile to ``y``. Reading and writing the same
# memory (in place) keeps LLVM's vectorized loop from running (its overlap
# check fails), so in-place calls compute each tile into a buffer first.
WRITE_DIRECT = 0
WRITE_BUFFERED = 1
WRITE_STREAMED = 2  # buffered, then non-temporal stores (numbadrop._streaming)

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


def _store(out, k, v):
    """Write ``v`` to ``out[k]``, rounding to the stored dtype."""


@overload(_store, inline="always")
def _store_impl(out, k, v):
    if out.dtype == types.uint16:

        def impl(out, k, v):
            out[k] = _float_to_half_bits(np.float32(v))

        return impl

    def impl(out, k, v):
        out[k] = v

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

# The apply loops below branch on ``mode`` outside the loop and pass the
# branch's constant to ``_element``, so each loop body is branch-free and LLVM
# vectorizes it (a loop-invariant ``mode`` inside the loop kept it scalar).


@njit(inline="always")
def _apply_keep(xr, out, o_first, c_first, n, keep, m, b, d, mode):
    """``out[o_first + k]`` from ``xr[c_first + k]``, ``k < n``, one keep decision for all."""
    if mode == MODE_MASK:
        for k in range(n):
            out[o_first + np.uint64(k)] = keep
    elif mode == MODE_AFFINE:
        for k in range(n):
            ku = np.uint64(k)
            _store(out, o_first + ku, _element(_load(xr[c_first + ku]), keep, m, b, d, MODE_AFFINE))
    else:
        for k in range(n):
            ku = np.uint64(k)
            _store(out, o_first + ku, _element(_load(xr[c_first + ku]), keep, m, b, d, MODE_SCALE))


@njit(inline="always")
def _apply_words(xr, out, o_first, c_first, n, words, skew, t, m, b, d, mode):
    """``out[o_first + k]`` from ``xr[c_first + k]``, ``k < n``, kept iff ``words[skew + k] >= t``."""
    if mode == MODE_MASK:
        for k in range(n):
            ku = np.uint64(k)
            out[o_first + ku] = words[skew + ku] >= t
    elif mode == MODE_AFFINE:
        for k in range(n):
            ku = np.uint64(k)
            keep = words[skew + ku] >= t
            _store(out, o_first + ku, _element(_load(xr[c_first + ku]), keep, m, b, d, MODE_AFFINE))
    else:
        for k in range(n):
            ku = np.uint64(k)
            keep = words[skew + ku] >= t
            _store(out, o_first + ku, _element(_load(xr[c_first + ku]), keep, m, b, d, MODE_SCALE))


@njit(cache=True)
def _run_items(x, y, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, write):
    """Work items ``first <= item < last``: item = (row, tile of the row).

    ``write`` is ``WRITE_DIRECT``, or ``WRITE_BUFFERED`` / ``WRITE_STREAMED``:
    each tile is computed into a small buffer and then copied to ``y`` with
    ordinary or (only where ``y``'s rows are contiguous) non-temporal stores.
    """
    n1 = x.shape[1]
    n2 = x.shape[2]
    ntiles = (n2 + TILE - 1) // TILE
    lanes = np.empty((4, LANES), np.uint32)
    words = np.empty(4 * LANES, np.uint32)
    buffered = write != WRITE_DIRECT
    buf = np.empty(TILE if buffered else 0, y.dtype)
    buf_address = np.uint64(buf.ctypes.data)
    item_size = np.uint64(y.itemsize)
    zero = np.uint64(0)
    for item in range(first, last):
        row = item // ntiles
        c_begin = (item - row * ntiles) * TILE
        n = min(n2, c_begin + TILE) - c_begin
        i0 = row // n1
        i1 = row - i0 * n1
        xr = x[i0, i1]
        yr = y[i0, i1]
        cb = np.uint64(c_begin)
        j_row = start + i0 * s0 + i1 * s1
        if s2 == 0:
            keep = _word(j_row, k0, k1, o0, o1) >= t
            if buffered:
                _apply_keep(xr, buf, zero, cb, n, keep, m, b, d, mode)
            else:
                _apply_keep(xr, yr, cb, cb, n, keep, m, b, d, mode)
        else:
            j_begin = j_row + c_begin
            g_first = j_begin >> 2
            ng = ((j_begin + n - 1) >> 2) - g_first + 1
            _fill_words(words, lanes, g_first, ng, k0, k1, o0, o1)
            skew = np.uint64(j_begin - (g_first << 2))
            if buffered:
                _apply_words(xr, buf, zero, cb, n, words, skew, t, m, b, d, mode)
            else:
                _apply_words(xr, yr, cb, cb, n, words, skew, t, m, b, d, mode)
        if write == WRITE_STREAMED:
            _streaming.stream_bytes(np.uint64(yr.ctypes.data) + cb * item_size, buf_address, np.uint64(n) * item_size)
        elif write == WRITE_BUFFERED:
            for k in range(n):
                ku = np.uint64(k)
                yr[cb + ku] = buf[ku]
    if write == WRITE_STREAMED:
        _streaming.store_fence()


@njit(parallel=True, cache=True)
def _run_parallel(x, y, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, write, n_chunks):
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    n_chunks = min(n_items, n_chunks)
    per_chunk = (n_items + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        first = chunk * per_chunk
        last = min(n_items, first + per_chunk)
        _run_items(x, y, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, write)


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
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    write = _write_kind(x, y, mode)
    if x.size < _tunables.SERIAL_CUTOFF:
        _run_items(x, y, np.int64(0), np.int64(n_items), *args, np.int64(min(write, WRITE_BUFFERED)))
    else:
        n_chunks = numba.get_num_threads() * _tunables.CHUNKS_PER_THREAD
        _run_parallel(x, y, *args, np.int64(write), np.int64(n_chunks))


def _write_kind(x: np.ndarray, y: np.ndarray, mode: int) -> int:
    """How the kernel should write ``y`` (see ``WRITE_DIRECT``)."""
    if mode == MODE_MASK or not np.may_share_memory(x, y):
        # A freshly allocated output is best written with ordinary stores: the
        # kernel's page zeroing has just pulled its lines into cache.
        return WRITE_DIRECT
    if y.nbytes >= _tunables.STREAM_MIN_BYTES and y.strides[2] == y.itemsize:
        return WRITE_STREAMED
    return WRITE_BUFFERED
