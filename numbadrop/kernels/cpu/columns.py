"""The column walk: outputs whose memory-contiguous axis is not the mask's contiguous axis.

A Fortran-ordered or otherwise permuted array (NumPy's ``order='K'`` output of
such an input) is contiguous in memory along a *run* of axes whose mask
strides are large, while the mask's contiguous axis C (mask stride 1) is
strided. The tile kernels draw Philox groups along C; walked in C order they
would write memory with a large stride. Here a work item takes a few
neighbouring columns of C and a tile of the run, and per row of the run draws
the Philox groups covering those columns, so that ``x`` and ``y`` are read and
written as a few sequential streams, one per column.

Views are 4-D ``(Q, P, C, L)``: L is the run flattened (memory-contiguous in ``x``
and ``y``, one stride), with ``offs[r]``, the mask offset of row ``r`` of the
run, given as a table (the run may span several axes, as in a Fortran-ordered
4-D array, whose first axis alone is short), Q and P the other axes. The
mask index of ``(q, p, c, r)`` is ``start + q * sq + p * s0 + c + offs[r]``.

Two walks, by a closure constant:

- aligned (C's length and every offset are multiples of 4): 4 columns per item,
  each row's 4 columns one whole Philox group, as many Philox calls as the
  contiguous case;
- unaligned: 8 columns per item; a row's 8 columns span at most 3 Philox
  groups, and each column's word is selected from them by the row's phase
  ``j & 3`` (1.5 Philox calls per 4 elements).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from numbadrop._core import tunables
from numbadrop.kernels.cpu import _runtime
from numbadrop.kernels.cpu._cache import njit
from numbadrop.kernels.cpu._prims import MASK32, SHIFT32, element_jit, load, narrow, philox, strided_row

TILE = tunables.TILE


@njit(inline="always")
def _apply_words(xr, out, first, n, words, t, m, b, d, mode):
    """``out[first + k]`` from ``xr[first + k]``, kept iff ``words[k] >= t``, ``k < n``."""
    for k in range(n):
        c = first + np.uint64(k)
        out[c] = narrow(out, element_jit(load(xr[c]), np.uint64(words[k]) >= t, m, b, d, mode))


@njit(inline="always")
def _pick(h, a, b, c, d):
    """``(a, b, c, d)[h]`` in masks and ors: no branch, so the row loop vectorizes (selects did not)."""
    zero = np.uint64(0)
    return (
        (a & (zero - np.uint64(h == 0)))
        | (b & (zero - np.uint64(h == 1)))
        | (c & (zero - np.uint64(h == 2)))
        | (d & (zero - np.uint64(h == 3)))
    )


@njit(inline="always")
def _draw_aligned(words, j_first, offs, r_first, n, k0, k1, o0, o1):
    for q in range(words.shape[0] // 4):  # one Philox group per row and 4 columns
        for i in range(n):
            g = np.uint64((j_first + 4 * q + offs[r_first + i]) >> 2)
            w0, w1, w2, w3 = philox(g & MASK32, g >> SHIFT32, o0, o1, k0, k1)
            words[4 * q, i] = np.uint32(w0)
            words[4 * q + 1, i] = np.uint32(w1)
            words[4 * q + 2, i] = np.uint32(w2)
            words[4 * q + 3, i] = np.uint32(w3)


@njit(inline="always")
def _draw_unaligned(words, j_first, offs, r_first, n, k0, k1, o0, o1):
    for i in range(n):  # 3 Philox groups per row cover its 8 columns, whatever the row's phase h
        j = j_first + offs[r_first + i]
        h = j & 3
        g = np.uint64(j >> 2)
        a0, a1, a2, a3 = philox(g & MASK32, g >> SHIFT32, o0, o1, k0, k1)
        g1 = g + np.uint64(1)
        b0, b1, b2, b3 = philox(g1 & MASK32, g1 >> SHIFT32, o0, o1, k0, k1)
        g2 = g + np.uint64(2)
        c0, c1, c2, _c3 = philox(g2 & MASK32, g2 >> SHIFT32, o0, o1, k0, k1)
        words[0, i] = np.uint32(_pick(h, a0, a1, a2, a3))
        words[1, i] = np.uint32(_pick(h, a1, a2, a3, b0))
        words[2, i] = np.uint32(_pick(h, a2, a3, b0, b1))
        words[3, i] = np.uint32(_pick(h, a3, b0, b1, b2))
        words[4, i] = np.uint32(_pick(h, b0, b1, b2, b3))
        words[5, i] = np.uint32(_pick(h, b1, b2, b3, c0))
        words[6, i] = np.uint32(_pick(h, b2, b3, c0, c1))
        words[7, i] = np.uint32(_pick(h, b3, c0, c1, c2))


@njit(inline="always")
def _strided_words(xb, yb, xo, xs, yo, ys, n, words, t, m, b, d, mode):
    """``yb[yo + i*ys]`` from ``xb[xo + i*xs]``, kept iff ``words[i] >= t``, ``i < n`` (an input broadcast along L)."""
    for i in range(n):
        keep = np.uint64(words[i]) >= t
        yb[yo + i * ys] = narrow(yb, element_jit(load(xb[xo + i * xs]), keep, m, b, d, mode))


@njit(inline="always")
def _items(
    xb, yb, geo, first, last, start, sq, s0, offs, pin, k0, k1, o0, o1, t, m, b, d, mode, inplace, width, aligned
):
    """Work items ``first <= item < last``: (q, p, ``width`` columns, tile of the run), in ``y``'s memory order.

    ``xb``, ``yb``: flat buffers; ``geo``: the 4-D shape, then each array's
    offset and element strides (see :func:`numbadrop.kernels.cpu._runtime.flat_views`).
    ``pin``: P's memory stride is below C's, so items run through P first.
    ``mode``, ``inplace``, ``width`` and ``aligned`` are closure constants.
    """
    _n_q, n_p, n_c, n_r, xo, xsq, xsp, xsc, xsr, yo, ysq, ysp, ysc, ysr = geo
    contiguous = ysr == 1 and (inplace or xsr == 1)
    n_groups = (n_c + width - 1) // width
    ntiles = (n_r + TILE - 1) // TILE
    # The words themselves, not keep flags: comparing four 64-bit words and packing the results
    # to bytes in the Philox loop cost more than comparing 32-bit words in the apply loops.
    words = np.empty((width, min(TILE, n_r)), np.uint32)  # short runs: rows of words close together
    per_q = n_p * n_groups * ntiles
    for item_q in range(first, last):
        q = item_q // per_q
        item = item_q - q * per_q
        if pin:  # items in memory order: P's stride is below C's
            cg = item // (n_p * ntiles)
            rest = item - cg * (n_p * ntiles)
            p = rest // ntiles
        else:
            p = item // (n_groups * ntiles)
            rest = item - p * (n_groups * ntiles)
            cg = rest // ntiles
        r_first = (rest - (rest // ntiles) * ntiles) * TILE
        n = min(n_r, r_first + TILE) - r_first
        c = width * cg
        j_first = start + q * sq + p * s0 + c
        if aligned:
            _draw_aligned(words, j_first, offs, r_first, n, k0, k1, o0, o1)
        else:
            _draw_unaligned(words, j_first, offs, r_first, n, k0, k1, o0, o1)
        row_first = np.uint64(r_first)
        for k in range(min(width, n_c - c)):  # then each column: one input, one output, one row of words
            x_col = xo + q * xsq + p * xsp + (c + k) * xsc
            y_col = yo + q * ysq + p * ysp + (c + k) * ysc
            if contiguous:
                yr = yb[y_col : y_col + n_r]
                if inplace:  # one array for both, so that LLVM sees each element read before it is written
                    _apply_words(yr, yr, row_first, n, words[k], t, m, b, d, mode)
                else:
                    _apply_words(xb[x_col : x_col + n_r], yr, row_first, n, words[k], t, m, b, d, mode)
            elif ysr == 1 and xsr != 0:
                xa = strided_row(xb, x_col, xsr, n_r)
                _apply_words(xa, yb[y_col : y_col + n_r], row_first, n, words[k], t, m, b, d, mode)
            elif xsr != 0:
                ya = strided_row(yb, y_col, ysr, n_r)
                if inplace:
                    _apply_words(ya, ya, row_first, n, words[k], t, m, b, d, mode)
                else:
                    _apply_words(strided_row(xb, x_col, xsr, n_r), ya, row_first, n, words[k], t, m, b, d, mode)
            else:
                x_first = x_col + r_first * xsr
                y_first = y_col + r_first * ysr
                _strided_words(xb, yb, x_first, xsr, y_first, ysr, n, words[k], t, m, b, d, mode)


def _n_items(shape, width: int) -> int:
    return shape[0] * shape[1] * ((shape[2] + width - 1) // width) * ((shape[3] + TILE - 1) // TILE)


def _make_kernels(mode: int, inplace: bool, width: int, aligned: bool):
    """Serial and parallel kernels; ``mode``, ``inplace``, ``width`` and ``aligned`` are closure constants.

    The closures capture only these values (no function objects), so numba's
    disk cache finds them again in the next process.
    """

    def serial(xb, yb, first, last, geo, start, sq, s0, offs, pin, k0, k1, o0, o1, t, m, b, d, _inplace):
        _items(
            xb,
            yb,
            geo,
            first,
            last,
            start,
            sq,
            s0,
            offs,
            pin,
            k0,
            k1,
            o0,
            o1,
            t,
            m,
            b,
            d,
            mode,
            inplace,
            width,
            aligned,
        )

    def parallel(xb, yb, geo, start, sq, s0, offs, pin, k0, k1, o0, o1, t, m, b, d, _inplace, n_chunks):
        n_items = geo[0] * geo[1] * ((geo[2] + width - 1) // width) * ((geo[3] + TILE - 1) // TILE)
        n_chunks = min(n_items, n_chunks)
        per_chunk = (n_items + n_chunks - 1) // n_chunks
        for chunk in prange(n_chunks):
            first = chunk * per_chunk
            last = min(n_items, first + per_chunk)
            _items(
                xb,
                yb,
                geo,
                first,
                last,
                start,
                sq,
                s0,
                offs,
                pin,
                k0,
                k1,
                o0,
                o1,
                t,
                m,
                b,
                d,
                mode,
                inplace,
                width,
                aligned,
            )

    return njit(cache=True)(serial), njit(parallel=True, cache=True)(parallel)


_KERNELS: dict = {}


def run(x, y, start, sq, s0, offs, key, offset, t, m, b, d, mode, inplace=False):
    """Element-wise ``mode`` on 4-D views ``(Q, P, C, L)`` walked along L (see the module docstring).

    ``sq``, ``s0``: the mask strides of Q and P; ``offs``: the int64 table of
    the run's mask offsets. The aligned walk runs when ``C``, ``start``,
    ``sq``, ``s0`` and every offset are multiples of 4. Other parameters as in
    :func:`numbadrop.kernels.cpu.dropout.run`.
    """
    if not inplace and np.may_share_memory(x, y):
        x = x.copy()
    views = _runtime.flat_views(x, y, inplace)
    if views is None:
        _runtime.through_copy(run, x, y, inplace, start, sq, s0, offs, key, offset, t, m, b, d, mode)
        return
    xb, yb, geo = views
    aligned = y.shape[2] % 4 == 0 and (start | sq | s0) % 4 == 0 and not (offs % 4).any()
    width = 4 if aligned else 8
    kernels = _KERNELS.get((mode, inplace, width, aligned))
    if kernels is None:
        kernels = _KERNELS[(mode, inplace, width, aligned)] = _make_kernels(mode, inplace, width, aligned)
    pin = abs(y.strides[1]) < abs(y.strides[2])
    args = (geo, np.int64(start), np.int64(sq), np.int64(s0), offs, pin, *key, *offset, t, m, b, d, inplace)
    _runtime.launch(*kernels, xb, yb, args, _n_items(y.shape, width), y.size)
