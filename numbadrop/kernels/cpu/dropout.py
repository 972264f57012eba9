"""CPU kernels: ``numba.njit`` loops over a 3-D view of the data.

Every kernel evaluates the mask contract of DESIGN.md section 1 for each
element it touches, from the element's *global mask index*

    j = start + i0 * s0 + i1 * s1 + i2 * s2

where ``(i0, i1, i2)`` indexes the 3-D view and ``(s0, s1, s2)`` are the mask
index strides (0 along broadcast dimensions). :func:`launch` collapses any
array to such views; a caller holding one block of a larger array passes the
block's ``start`` and the big array's strides, and gets the same mask.

The innermost stride ``s2`` is 0 or 1. With 1, a work item walks a tile of
a row one Philox group (four elements) per loop trip, computing the group's
words and writing its four elements in the same trip; LLVM vectorizes the
loop across groups, so the Philox arithmetic overlaps the loads and stores.
With 0 it draws one word for the whole row.

Each operation mode has its own compiled tile function, so a program that
only runs dropout forward compiles only the scaling loop.

The compiled kernels never see the views themselves: they take each array as
a flat 1-D buffer of the memory it spans, with the view's offset and element
strides as integers (:func:`numbadrop.kernels.cpu._runtime.flat_views`), and
slice the rows out of the buffers. numba compiles a function once per
argument type, and an array's type includes its layout (C, F or strided), so
views typed as views compiled each kernel again for every pair of layouts
(about 200 specializations in the test suite); buffers compile once per dtype.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from numba import prange
from numpy.lib.stride_tricks import as_strided

from numbadrop._core import geometry, tunables
from numbadrop._core.formula import coefficients, threshold
from numbadrop._core.validation import is_bfloat16
from numbadrop.kernels.cpu import _runtime, columns
from numbadrop.kernels.cpu._cache import njit
from numbadrop.kernels.cpu._prims import (
    MASK32,
    MODE_AFFINE,
    MODE_MASK,
    MODE_SCALE,
    SHIFT32,
    apply_keep,
    element_jit,
    load,
    narrow,
    philox,
    strided_row,
    value,
    word,
)

TILE = tunables.TILE


def _make_tile_kernel(mode: int, inplace: bool):
    """A compiled function writing one tile of one row, for one mode.

    ``tile(xr, out, first, n, j_first, k0, k1, o0, o1, t, m, b, d)`` sets
    ``out[first + k]`` from ``xr[first + k]`` for ``k < n``, where element
    ``k`` has global mask index ``j_first + k``. With ``inplace`` it takes no
    ``xr`` and reads ``out`` itself: LLVM then knows that every element is read
    before it is written, where with two views its overlap check fails at run
    time and the loop runs scalar.

    The elements of a Philox group are computed in the same loop trip as the
    group's four words, and LLVM vectorizes the loop across groups, so the
    Philox arithmetic overlaps the loads and stores (drawing a tile's words
    into a buffer first and applying them after took 1.6x as long for 2**26
    float32). Each of the four elements is a separate expression: a shared
    helper inlined four times was miscompiled by numba's inliner.

    ``mode`` and ``inplace`` are closure constants: numba's disk cache keys a
    closure by their values, and each mode compiles only its own loop.
    """

    def body(xr, out, first, n, j_first, k0, k1, o0, o1, t, m, b, d):
        head = min(n, (4 - (j_first & 3)) & 3)
        for k in range(head):
            c = first + np.uint64(k)
            out[c] = narrow(out, value(xr, c, word(j_first + k, k0, k1, o0, o1) >= t, m, b, d, mode))
        g_first = np.uint64((j_first + head) >> 2)
        body_first = first + np.uint64(head)
        ng = (n - head) >> 2
        for i in range(ng):
            g = g_first + np.uint64(i)
            r0, r1, r2, r3 = philox(g & MASK32, g >> SHIFT32, o0, o1, k0, k1)
            c = body_first + np.uint64(4) * np.uint64(i)
            out[c] = narrow(out, value(xr, c, r0 >= t, m, b, d, mode))
            out[c + np.uint64(1)] = narrow(out, value(xr, c + np.uint64(1), r1 >= t, m, b, d, mode))
            out[c + np.uint64(2)] = narrow(out, value(xr, c + np.uint64(2), r2 >= t, m, b, d, mode))
            out[c + np.uint64(3)] = narrow(out, value(xr, c + np.uint64(3), r3 >= t, m, b, d, mode))
        for k in range(head + 4 * ng, n):
            c = first + np.uint64(k)
            out[c] = narrow(out, value(xr, c, word(j_first + k, k0, k1, o0, o1) >= t, m, b, d, mode))

    inline_body = njit(inline="always")(body)
    if inplace:

        def tile_inplace(out, first, n, j_first, k0, k1, o0, o1, t, m, b, d):
            inline_body(out, out, first, n, j_first, k0, k1, o0, o1, t, m, b, d)

        return njit(cache=True)(tile_inplace)
    return njit(cache=True)(body)


_tile_scale = _make_tile_kernel(MODE_SCALE, False)
_tile_affine = _make_tile_kernel(MODE_AFFINE, False)
_tile_mask = _make_tile_kernel(MODE_MASK, False)
_tile_scale_inplace = _make_tile_kernel(MODE_SCALE, True)
_tile_affine_inplace = _make_tile_kernel(MODE_AFFINE, True)


@njit(inline="always")
def _tile(xr, yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d, mode, inplace):
    """Dispatch one tile of C-contiguous rows ``xr``, ``yr`` to its mode's tile kernel."""
    if mode == MODE_MASK:
        _tile_mask(yr, yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d)
    elif mode == MODE_AFFINE:
        if inplace:
            _tile_affine_inplace(yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d)
        else:
            _tile_affine(xr, yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d)
    elif inplace:
        _tile_scale_inplace(yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d)
    else:
        _tile_scale(xr, yr, first, n, j_first, k0, k1, o0, o1, t, m, b, d)


@njit(inline="always")
def _strided_tile(xb, yb, xo, xs, yo, ys, n, j_first, k0, k1, o0, o1, t, m, b, d, mode):
    """One tile of a row whose input has stride 0 (broadcast): ``yb[yo + k*ys]`` from ``xb[xo + k*xs]``, ``k < n``."""
    for k in range(n):
        keep = word(j_first + k, k0, k1, o0, o1) >= t
        yb[yo + k * ys] = narrow(yb, value(xb, xo + k * xs, keep, m, b, d, mode))


@njit(inline="always")
def _strided_tile_keep(xb, yb, xo, xs, yo, ys, n, keep, m, b, d, mode):
    """:func:`_strided_tile` with one keep decision for the whole tile."""
    for k in range(n):
        yb[yo + k * ys] = narrow(yb, value(xb, xo + k * xs, keep, m, b, d, mode))


@njit(inline="always")
def _items(xb, yb, geo, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, inplace, y_rows):
    """Work items ``first <= item < last``: item = (row, tile of the row).

    ``xb``, ``yb`` are flat buffers and ``geo`` the 3-D view's shape with each
    array's offset and element strides (:func:`numbadrop.kernels.cpu._runtime.flat_views`).
    ``mode``, ``inplace`` (``x`` and ``y`` are the same memory, see
    ``_make_tile_kernel``) and ``y_rows`` (the output's rows are contiguous)
    are closure constants: each compiled kernel holds only its own loops.
    Out of place, the Philox loop reads the input row as a strided view even
    where it is contiguous: measured (1 thread, float32) 48 against 52 ms for
    2**24 elements, 37 against 41 ms for a (4096, 3000) slice. The loop without
    Philox (one word per row) is the other way round (1.45x slower strided).
    """
    _n0, n1, n2, xo, xs0, xs1, xs2, yo, ys0, ys1, ys2 = geo
    ntiles = (n2 + TILE - 1) // TILE
    for item in range(first, last):
        row = item // ntiles
        c_begin = (item - row * ntiles) * TILE
        n = min(n2, c_begin + TILE) - c_begin
        i0 = row // n1
        i1 = row - i0 * n1
        cb = np.uint64(c_begin)
        x_row = xo + i0 * xs0 + i1 * xs1
        y_row = yo + i0 * ys0 + i1 * ys1
        j_row = start + i0 * s0 + i1 * s1
        if y_rows:
            yr = yb[y_row : y_row + n2]
        else:
            yr = strided_row(yb, y_row, ys2, n2)
        if inplace:  # one array read and written
            if s2 != 0:
                _tile(yr, yr, cb, n, j_row + c_begin, k0, k1, o0, o1, t, m, b, d, mode, inplace)
            else:
                apply_keep(yr, yr, cb, n, word(j_row, k0, k1, o0, o1) >= t, m, b, d, mode)
        elif xs2 == 0:  # an input broadcast along the row
            x_first = x_row + c_begin * xs2
            y_first = y_row + c_begin * ys2
            if s2 != 0:
                _strided_tile(xb, yb, x_first, xs2, y_first, ys2, n, j_row + c_begin, k0, k1, o0, o1, t, m, b, d, mode)
            else:
                keep = word(j_row, k0, k1, o0, o1) >= t
                _strided_tile_keep(xb, yb, x_first, xs2, y_first, ys2, n, keep, m, b, d, mode)
        elif s2 != 0:
            _tile(
                strided_row(xb, x_row, xs2, n2), yr, cb, n, j_row + c_begin, k0, k1, o0, o1, t, m, b, d, mode, inplace
            )
        elif xs2 == 1:
            apply_keep(xb[x_row : x_row + n2], yr, cb, n, word(j_row, k0, k1, o0, o1) >= t, m, b, d, mode)
        else:
            xa = strided_row(xb, x_row, xs2, n2)
            apply_keep(xa, yr, cb, n, word(j_row, k0, k1, o0, o1) >= t, m, b, d, mode)


def _make_kernels(mode: int, inplace: bool, y_rows: bool):
    """The serial and the parallel kernel of one variant (closure constants, see ``_make_tile_kernel``).

    ``_inplace``, passed at run time, is ``inplace`` again (the kernels use the constant).
    """

    def serial(xb, yb, first, last, geo, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, _inplace):
        _items(xb, yb, geo, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, inplace, y_rows)

    def parallel(xb, yb, geo, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, _inplace, n_chunks):
        n_items = geo[0] * geo[1] * ((geo[2] + TILE - 1) // TILE)
        n_chunks = min(n_items, n_chunks)
        per_chunk = (n_items + n_chunks - 1) // n_chunks
        for chunk in prange(n_chunks):
            first = chunk * per_chunk
            last = min(n_items, first + per_chunk)
            _items(xb, yb, geo, first, last, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, mode, inplace, y_rows)

    return njit(cache=True)(serial), njit(parallel=True, cache=True)(parallel)


#: ``(mode, inplace, output rows contiguous) -> (serial kernel, parallel kernel)``; numba compiles each on
#: first use. The mask mode writes its output only (never in place).
_KERNELS = {
    (mode, inplace, y_rows): _make_kernels(mode, inplace, y_rows)
    for mode in (MODE_SCALE, MODE_AFFINE, MODE_MASK)
    for inplace in (False, True)
    for y_rows in (False, True)
    if not (mode == MODE_MASK and inplace)
}


# --- rows that share their words: s1 == 0, s2 == 1 ---------------------------------------------
# A channels-last image under dropout2d, walked in memory order, is (N, H*W, C)
# with mask strides (C, 0, 1): every one of the H*W rows of sample n has the
# same C words. A work item is (i0, tile of the row, block of SHARED_ROWS rows):
# it draws the tile's keep decisions once (the mask tile kernel) and applies
# them to each row of the block, a loop without Philox that runs at memory speed.


@njit(inline="always")
def _apply_flags(xr, x_first, out, y_first, n, keep, m, b, d, mode):
    """``out[y_first + k]`` from ``xr[x_first + k]`` and ``keep[k]``, ``k < n``."""
    for k in range(n):
        u = np.uint64(k)
        out[y_first + u] = narrow(out, element_jit(load(xr[x_first + u]), keep[k], m, b, d, mode))


@njit(inline="always")
def _strided_flags(xb, yb, xo, xs, yo, ys, n, keep, m, b, d, mode):
    """``yb[yo + k*ys]`` from ``xb[xo + k*xs]`` and ``keep[k]``, ``k < n``."""
    for k in range(n):
        yb[yo + k * ys] = narrow(yb, element_jit(load(xb[xo + k * xs]), keep[k], m, b, d, mode))


@njit(inline="always")
def _apply_words(xr, out, first, n, words, t, m, b, d, mode):
    """``out[first + k]`` from ``xr[first + k]``, kept iff ``words[k] >= t``, ``k < n``."""
    for k in range(n):
        c = first + np.uint64(k)
        out[c] = narrow(out, element_jit(load(xr[c]), np.uint64(words[k]) >= t, m, b, d, mode))


@njit(inline="always")
def _shared_items(xb, yb, geo, first, last, start, s0, k0, k1, o0, o1, t, m, b, d, mode, inplace):
    _n0, n1, n2, xo, xs0, xs1, xs2, yo, ys0, ys1, ys2 = geo
    contiguous = ys2 == 1 and (inplace or xs2 == 1)
    ntiles = (n2 + TILE - 1) // TILE
    rows = tunables.SHARED_ROWS
    nblocks = (n1 + rows - 1) // rows
    keep = np.empty(min(n2, TILE), np.bool_)
    for item in range(first, last):
        i0 = item // (ntiles * nblocks)
        rest = item - i0 * (ntiles * nblocks)
        tile = rest // nblocks
        block = rest - tile * nblocks
        c_begin = tile * TILE
        n = min(n2, c_begin + TILE) - c_begin
        cb = np.uint64(c_begin)
        _tile_mask(keep, keep, np.uint64(0), n, start + i0 * s0 + c_begin, k0, k1, o0, o1, t, m, b, d)
        for i1 in range(block * rows, min(n1, block * rows + rows)):
            x_row = xo + i0 * xs0 + i1 * xs1
            y_row = yo + i0 * ys0 + i1 * ys1
            if contiguous:  # offsets into the buffers: rows can be short, a slice per row cost 10%
                y_first = np.uint64(y_row + c_begin)
                if inplace:
                    _apply_flags(yb, y_first, yb, y_first, n, keep, m, b, d, mode)
                else:
                    _apply_flags(xb, np.uint64(x_row + c_begin), yb, y_first, n, keep, m, b, d, mode)
            elif ys2 == 1 and xs2 != 0:
                xa = strided_row(xb, x_row, xs2, n2)
                _apply_flags(xa, cb, yb, np.uint64(y_row + c_begin), n, keep, m, b, d, mode)
            elif xs2 != 0:
                ya = strided_row(yb, y_row, ys2, n2)
                if inplace:
                    _apply_flags(ya, cb, ya, cb, n, keep, m, b, d, mode)
                else:
                    _apply_flags(strided_row(xb, x_row, xs2, n2), cb, ya, cb, n, keep, m, b, d, mode)
            else:
                _strided_flags(xb, yb, x_row + c_begin * xs2, xs2, y_row + c_begin * ys2, ys2, n, keep, m, b, d, mode)


def _n_shared_items(shape) -> int:
    rows = tunables.SHARED_ROWS
    return shape[0] * ((shape[2] + TILE - 1) // TILE) * ((shape[1] + rows - 1) // rows)


def _make_shared_kernels(mode: int):
    """Serial and parallel kernels for shared rows, with ``_make_kernels``' signatures (s1, s2 unused)."""

    def serial(xb, yb, first, last, geo, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, inplace):
        _shared_items(xb, yb, geo, first, last, start, s0, k0, k1, o0, o1, t, m, b, d, mode, inplace)

    def parallel(xb, yb, geo, start, s0, s1, s2, k0, k1, o0, o1, t, m, b, d, inplace, n_chunks):
        rows = tunables.SHARED_ROWS
        n_items = geo[0] * ((geo[2] + TILE - 1) // TILE) * ((geo[1] + rows - 1) // rows)
        n_chunks = min(n_items, n_chunks)
        per_chunk = (n_items + n_chunks - 1) // n_chunks
        for chunk in prange(n_chunks):
            first = chunk * per_chunk
            last = min(n_items, first + per_chunk)
            _shared_items(xb, yb, geo, first, last, start, s0, k0, k1, o0, o1, t, m, b, d, mode, inplace)

    return njit(cache=True)(serial), njit(parallel=True, cache=True)(parallel)


#: ``mode -> (serial, parallel)`` kernels for rows that share their words.
_SHARED = {mode: _make_shared_kernels(mode) for mode in (MODE_SCALE, MODE_AFFINE)}


def run(x, y, start, strides, key, offset, t, m, b, d, mode, inplace=False):
    """Run the kernel on 3-D views ``x`` and ``y`` (same shape; any strides).

    Parameters
    ----------
    x, y : numpy.ndarray
        3-D input and output views; float16 data is passed as ``uint16`` views
        and bfloat16 data as ``int16`` views.
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
    inplace : bool, default False
        ``x`` and ``y`` are the same view: the kernels read through ``y``.
        Otherwise an ``x`` that overlaps ``y`` is copied first.
    """
    if y.size == 0:
        return
    same = inplace or mode == MODE_MASK  # MODE_MASK reads nothing: x is y
    if not same and np.may_share_memory(x, y):
        x = x.copy()  # overlapping but different views: not something the public API does
    views = _runtime.flat_views(x, y, same)
    if views is None:
        _runtime.through_copy(run, x, y, inplace, start, strides, key, offset, t, m, b, d, mode)
        return
    xb, yb, geo = views
    s0, s1, s2 = np.int64(strides[0]), np.int64(strides[1]), np.int64(strides[2])
    args = (geo, np.int64(start), s0, s1, s2, key[0], key[1], offset[0], offset[1], t, m, b, d, inplace)
    if mode != MODE_MASK and s1 == 0 and s2 == 1 and y.shape[1] > 1:
        serial, parallel = _SHARED[mode]
        n_items = _n_shared_items(y.shape)
    else:
        serial, parallel = _KERNELS[
            (mode, inplace and mode != MODE_MASK, y.shape[2] == 1 or y.strides[2] == y.itemsize)
        ]
        n_items = y.shape[0] * y.shape[1] * ((y.shape[2] + TILE - 1) // TILE)
    _runtime.launch(serial, parallel, xb, yb, args, n_items, y.size)


# --- from an array of any shape and strides to the kernels above --------------------------------


@functools.lru_cache(maxsize=512)
def _threshold(p: float) -> np.uint64:
    return np.uint64(threshold(p))


def _views(x: np.ndarray, y: np.ndarray, strides: tuple[int, ...]):
    """Collapsed views of ``x`` and ``y`` (at least 3-D) and their mask strides."""
    order = geometry.walk_order(y.shape, y.strides, strides)
    dims = geometry.collapse(*(tuple(v[a] for a in order) for v in (y.shape, x.strides, y.strides, strides)))
    shape = tuple(dim[0] for dim in dims)
    xv = as_strided(x, shape, tuple(dim[1] for dim in dims), writeable=False)
    yv = as_strided(y, shape, tuple(dim[2] for dim in dims))
    ms = tuple(dim[3] for dim in dims)
    if len(shape) < 3:
        pad = (1,) * (3 - len(shape))
        xv, yv = xv.reshape(pad + shape), yv.reshape(pad + shape)
        ms = (0,) * len(pad) + ms
    return xv, yv, ms


def launch(
    x: np.ndarray,
    y: np.ndarray,
    op: str,
    p: float,
    seed: int,
    offset: int,
    strides: tuple[int, ...],
    start: int = 0,
) -> None:
    """Write ``op`` of ``x`` into ``y`` (same shape) under the mask contract.

    The one entry point of the CPU dropout kernels: it turns ``p`` and the
    operation into kernel coefficients, collapses the arrays to at most three
    axes (:func:`numbadrop._core.geometry.collapse`), and loops in Python over
    any leading axes left beyond three, naming each sub-block's global mask
    index so the mask is unchanged.

    Parameters
    ----------
    x, y : numpy.ndarray
        Input and output of equal shape, any strides, native byte order; may
        be the same array object (in place). Other overlaps are allowed but
        cost a copy of ``x``. float16, float32, float64 or bfloat16 (an
        ``ml_dtypes.bfloat16`` array, or its bits as an ``int16`` array: int16
        reaching the kernels always means bfloat16, computed in float32).
        For ``op="mask"``, ``y`` is a boolean array and ``x`` is ignored.
    op : {"dropout", "alpha", "alpha_grad", "mask"}
        Dropout (forward and backward alike), alpha dropout forward, alpha
        dropout backward, or the boolean keep-mask.
    p : float
        Drop probability, ``0 <= p < 1``.
    seed, offset : int
        The mask's key and stream offset.
    strides : tuple of int
        Mask index stride of each axis of ``x`` (0 along broadcast axes).
    start : int, default 0
        Global mask index of ``x``'s first element (for blocks of larger arrays).
    """
    if y.size == 0:
        return
    mode, m, b, d = coefficients(op, p, y.dtype)
    inplace = x is y and op != "mask"
    if op == "mask":
        x = y
    elif y.dtype.itemsize == 2 and y.dtype.kind != "b":
        if y.dtype == np.float16:
            x, y = x.view(np.uint16), y.view(np.uint16)
        elif is_bfloat16(y.dtype):
            x, y = x.view(np.int16), y.view(np.int16)
    u = np.uint64
    key = (u(seed & 0xFFFFFFFF), u(seed >> 32))
    off = (u(offset & 0xFFFFFFFF), u(offset >> 32))
    t = _threshold(p)
    if x.flags.c_contiguous and y.flags.c_contiguous and geometry.is_plain(y.shape, strides):
        n = y.size
        run(x.reshape(1, 1, n), y.reshape(1, 1, n), start, (0, 0, 1), key, off, t, m, b, d, mode, inplace)
        return
    if op != "mask" and (walk := geometry.column_dims(y.shape, x.strides, y.strides, strides, y.itemsize)):
        lead, q_dim, p_dim, c_dim, l_dim, offs = walk
        dims = (*lead, q_dim, p_dim, c_dim, l_dim)
        shape = tuple(dim[0] for dim in dims)
        xv = as_strided(x, shape, tuple(dim[1] for dim in dims), writeable=False)
        yv = as_strided(y, shape, tuple(dim[2] for dim in dims))
        for index in itertools.product(*(range(n) for n, *_ in lead)):
            block_start = start + sum(i * dim[3] for i, dim in zip(index, lead, strict=True))
            xi, yi, sq, sp = xv[index], yv[index], q_dim[3], p_dim[3]
            columns.run(xi, yi, block_start, sq, sp, offs, key, off, t, m, b, d, mode, inplace)
        return
    xv, yv, ms = _views(x, y, strides)
    lead = xv.ndim - 3
    if lead == 0:
        run(xv, yv, start, ms, key, off, t, m, b, d, mode, inplace)
        return
    for index in itertools.product(*(range(n) for n in xv.shape[:lead])):
        block_start = start + sum(i * s for i, s in zip(index, ms, strict=False))
        run(xv[index], yv[index], block_start, ms[lead:], key, off, t, m, b, d, mode, inplace)
