"""CPU kernels of DropBlock: the block mask regenerated per plane from the contract's seed grid.

A DropBlock input is seen as ``P = N * C`` planes of ``D x H x W`` elements
(``D = 1`` for ``drop_block2d``) with a block of ``bd x bh x bw`` (``bd = 1``
in 2-D). Plane ``q``'s seeds are the contract's decisions at the global mask
indices ``q * G + k``, ``0 <= k < G``, of the seed grid
``(P, D - bd + 1, H - bh + 1, W - bw + 1)`` (``G`` cells per plane); a cell
is a seed where the contract drops.

A work item (a run of planes) draws the keep flags of a few planes' grids at
once (:data:`DRAW_CELLS` words; one Philox call per four cells, vectorized as
in :mod:`numbadrop.kernels.cpu.dropout`) into a small buffer and erodes each plane's, one
axis at a time, into the plane's block keep flags: an element is kept iff
every grid cell of the window that reaches it is kept (window
``[w - bw + 1, w]`` along ``w``, clipped to the grid; likewise along ``h`` and
``d``). Each erosion is an AND of shifted rows of ``uint8`` flags, loops LLVM
vectorizes (8 flags per ``uint64`` across rows). Nothing is stored between
calls: :func:`count_kept` and :func:`apply` regenerate the same flags, and a
forward runs both (two passes: the scale needs the whole batch's count).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from numbadrop.kernels.cpu import _runtime
from numbadrop.kernels.cpu._cache import njit
from numbadrop.kernels.cpu._prims import MASK32 as _MASK32
from numbadrop.kernels.cpu._prims import SHIFT32 as _SHIFT32
from numbadrop.kernels.cpu._prims import philox as _philox_jit

#: Grid cells (Philox words) a work item draws at once, at least one plane's (never changes a result).
DRAW_CELLS = 4096


@njit(inline="always")
def _word(j, k0, k1, o0, o1):
    """The contract's word ``r_j`` of global mask index ``j``."""
    g = np.uint64(j >> 2)
    r = _philox_jit(g & _MASK32, g >> _SHIFT32, o0, o1, k0, k1)
    return r[j & 3]


@njit(inline="always")
def _draw_keep(buf, n, j_first, k0, k1, o0, o1, t):
    """``buf[k] = r_(j_first + k) >= t`` for ``k < n``: whole Philox groups in the middle.

    Indices are unsigned in the loops (here and below): numba's wraparound
    test of a signed index stops LLVM from vectorizing them.
    """
    head = min(n, (4 - (j_first & 3)) & 3)
    for k in range(head):
        buf[k] = np.uint8(_word(j_first + k, k0, k1, o0, o1) >= t)
    g_first = np.uint64((j_first + head) >> 2)
    body = np.uint64(head)
    ng = (n - head) >> 2
    for i in range(ng):
        g = g_first + np.uint64(i)
        r0, r1, r2, r3 = _philox_jit(g & _MASK32, g >> _SHIFT32, o0, o1, k0, k1)
        c = body + np.uint64(4) * np.uint64(i)
        buf[c] = np.uint8(r0 >= t)
        buf[c + np.uint64(1)] = np.uint8(r1 >= t)
        buf[c + np.uint64(2)] = np.uint8(r2 >= t)
        buf[c + np.uint64(3)] = np.uint8(r3 >= t)
    for k in range(head + 4 * ng, n):
        buf[k] = np.uint8(_word(j_first + k, k0, k1, o0, o1) >= t)


@intrinsic
def _memcpy(typingctx, dst, dst_first, src, src_first, n):
    """``dst[dst_first:dst_first + n] = src[src_first:src_first + n]`` (integer arrays that do not overlap).

    LLVM's ``memcpy``: the short row copies into the padded grid cost a
    tenth of a loop's (whose vector body needs more bytes than a row has).
    """
    if dst != src or not isinstance(dst.dtype, types.Integer):
        return None
    itemsize = dst.dtype.bitwidth // 8
    sig = types.void(dst, types.int64, src, types.int64, types.int64)

    def codegen(context, builder, sig, args):
        d = context.make_array(sig.args[0])(context, builder, args[0])
        s = context.make_array(sig.args[2])(context, builder, args[2])
        cgutils.raw_memcpy(builder, builder.gep(d.data, [args[1]]), builder.gep(s.data, [args[3]]), args[4], itemsize)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always")
def _and_window(out, o, src, s, n, taps, step):
    """``out[o + i] = AND over k < taps of src[s + i + k * step]``, ``i < n``: one long loop per tap."""
    _memcpy(out, o, src, s, n)
    uo = np.uint64(o)
    for k in range(1, taps):
        base = np.uint64(s + k * step)
        for i in range(n):
            out[uo + np.uint64(i)] &= src[base + np.uint64(i)]


@njit(cache=True)
def _draw(kg, n, j_first, keys, t):
    """The keep flags of grid cells ``j_first .. j_first + n - 1`` (global indices) into ``kg[:n]``."""
    _draw_keep(kg, n, j_first, keys[0], keys[1], keys[2], keys[3], t)


@njit(cache=True)
def _erode(first, dims, block, kg, kgp, r1p, r2p, f):
    """Fill ``f`` with the block keep flags of the plane whose grid flags are ``kg[first:first + G]``.

    ``f`` has rows of :func:`_stride` bytes, the first ``W`` valid. The buffers
    (from :func:`_buffers`) hold the grid with ones around it, so that each
    erosion is ``bw`` (``bh``, ``bd``) long loops over whole planes, with no
    clipping at the edges: an element at ``w`` is reached by the grid columns
    ``w - bw + 1 .. w``, which are padded columns ``w .. w + bw - 1``. Only
    the padding's interior is written here; the ones around it stay. Whole
    rows are ANDed 8 flags at a time (``uint64`` views; the row stride is a
    multiple of 8).
    """
    d, h, w = dims
    bd, bh, bw = block
    gd, gh, gw = d - bd + 1, h - bh + 1, w - bw + 1
    wp = _stride(w, bw)
    for row in range(gd * gh):
        _memcpy(kgp, row * wp + bw - 1, kg, first + row * gw, gw)
    hp = h + bh - 1
    for z in range(gd):  # along w, into the padded rows of r1p
        _and_window(r1p, (z * hp + bh - 1) * wp, kgp, z * gh * wp, gh * wp - (bw - 1), bw, 1)
    r1w, words = r1p.view(np.uint64), wp // 8
    if bd == 1:
        _and_window(f.view(np.uint64), 0, r1w, 0, h * words, bh, words)  # along h
        return
    plane = h * words
    r2w = r2p.view(np.uint64)
    for z in range(gd):  # along h, into the padded planes of r2p
        _and_window(r2w, (z + bd - 1) * plane, r1w, z * hp * words, plane, bh, words)
    _and_window(f.view(np.uint64), 0, r2w, 0, d * plane, bd, plane)  # along d


@njit(inline="always")
def _stride(w, bw):
    """Row stride of the padded buffers: ``W + bw - 1`` rounded up to a multiple of 8."""
    return (w + bw - 1 + 7) // 8 * 8


@njit(inline="always")
def _batch(dims, block):
    """Planes whose grid flags are drawn at once: long Philox loops vectorize better than one small plane's."""
    g = (dims[0] - block[0] + 1) * (dims[1] - block[1] + 1) * (dims[2] - block[2] + 1)
    return max(1, DRAW_CELLS // g)


@njit(cache=True)
def _buffers(dims, block):
    """Scratch buffers of one work item: the grid flags, and the padded grids (ones) of each erosion."""
    d, h, w = dims
    bd, bh, bw = block
    gd, gh, gw = d - bd + 1, h - bh + 1, w - bw + 1
    wp = _stride(w, bw)
    kg = np.empty(gd * gh * gw * _batch(dims, block), np.uint8)
    kgp = np.ones(gd * gh * wp, np.uint8)
    r1p = np.ones(gd * (h + bh - 1) * wp, np.uint8)
    r2p = np.ones((d + bd - 1) * h * wp if bd > 1 else 8, np.uint8)
    f = np.empty(d * h * wp, np.uint8)
    fc = np.empty(d * h * w, np.uint8)
    return kg, kgp, r1p, r2p, f, fc


@njit(inline="always")
def _apply_row(xr, yr, f, o, n, scale):
    zero = yr.dtype.type(0)
    uo = np.uint64(o)
    for i in range(n):
        c = np.uint64(i)
        v = xr[c] * scale  # read whether kept or not: a conditional read became masked vector loads (slow on AMD)
        yr[c] = v if f[uo + c] else zero


@njit(cache=True)
def _apply_plane(x, y, q, f, fc, scale, rows, w, wp, inplace):
    """``y[q] = x[q] * scale`` where ``f`` keeps, else 0 (``inplace``: ``x`` is ``y``, read through one view).

    The flags are first packed into ``fc`` (rows of ``w``), so that the plane
    is one long loop: rows are short (32 values in a ResNet's late stages),
    and a loop per row spends most of its time outside its vector body.
    """
    _pack(fc, f, rows, w, wp)
    yq = y[q]
    if inplace:
        _apply_row(yq, yq, fc, 0, rows * w, scale)
    else:
        _apply_row(x[q], yq, fc, 0, rows * w, scale)


@njit(inline="always")
def _pack(fc, f, rows, w, wp):
    """The plane's flags ``f`` (rows of ``wp`` bytes, ``w`` valid) as ``rows * w`` contiguous bytes."""
    for r in range(rows):
        _memcpy(fc, r * w, f, r * wp, w)


@njit(parallel=True, cache=True)
def _apply_packed(x, y, flags, scale, inplace):
    """``y = x * scale`` where ``flags``, else 0 (``(P, D*H*W)`` arrays; ``inplace``: ``x`` is ``y``)."""
    for q in prange(y.shape[0]):
        yq = y[q]
        if inplace:
            _apply_row(yq, yq, flags[q], 0, yq.size, scale)
        else:
            _apply_row(x[q], yq, flags[q], 0, yq.size, scale)


@njit(cache=True)
def _count_plane(f, rows, w, wp):
    total = 0
    for r in range(rows):
        o = np.uint64(r * wp)
        for i in range(w):
            total += f[o + np.uint64(i)]
    return total


@njit(parallel=True, cache=True)
def _kernel(x, y, first_plane, dims, block, keys, t, scale, inplace, count, n_chunks, flags):
    """Count or apply the block mask of the planes of ``x``, ``y`` (``(P, D*H*W)``).

    Plane ``q`` of the views is plane ``first_plane + q`` of the seed grid.

    With ``count``, returns the kept elements of each chunk of planes (integers:
    the total does not depend on the split) and writes nothing. Otherwise
    writes ``y[q] = x[q] * scale`` where plane ``q``'s flags keep, else 0. One
    kernel for both, so that each dtype compiles one parallel function.

    A count that is given ``flags`` (``(P, D*H*W)`` bytes; else ``(0, 0)``)
    also writes each plane's flags there, for :func:`apply_flags`.

    With ``inplace``, ``x`` is ``y`` and is read through ``y``: LLVM then sees
    one array and vectorizes (two views of the same memory fail its overlap
    check at run time and run scalar).
    """
    n_planes = y.shape[0]
    n_chunks = max(1, min(n_planes, n_chunks))
    per_chunk = (n_planes + n_chunks - 1) // n_chunks
    rows, w, wp = dims[0] * dims[1], dims[2], _stride(dims[2], block[2])
    totals = np.zeros(n_chunks, np.int64)
    g = (dims[0] - block[0] + 1) * (dims[1] - block[1] + 1) * (dims[2] - block[2] + 1)
    batch = _batch(dims, block)
    for chunk in prange(n_chunks):
        kg, kgp, r1p, r2p, f, fc = _buffers(dims, block)
        total = 0
        last = min(n_planes, chunk * per_chunk + per_chunk)
        for q0 in range(chunk * per_chunk, last, batch):
            nb = min(batch, last - q0)
            _draw(kg, nb * g, (first_plane + q0) * g, keys, t)
            for b in range(nb):
                _erode(b * g, dims, block, kg, kgp, r1p, r2p, f)
                if count:
                    total += _count_plane(f, rows, w, wp)
                    if flags.shape[0]:
                        _pack(flags[q0 + b], f, rows, w, wp)
                else:
                    _apply_plane(x, y, q0 + b, f, fc, scale, rows, w, wp, inplace)
        totals[chunk] = total
    return totals


#: Work items per thread (load balancing only; never changes a result).
CHUNKS_PER_THREAD = 4


def count_kept(
    n_planes: int,
    dims,
    block,
    seed: int,
    offset: int,
    t: int,
    dtype: np.dtype,
    first_plane: int = 0,
    flags: np.ndarray | None = None,
) -> int:
    """Elements the block mask keeps in planes ``first_plane .. first_plane + n_planes - 1`` of ``dims = (D, H, W)``.

    ``dtype`` (float32 or float64) only picks the compiled kernel: the one
    the apply pass of that dtype uses. ``flags``, a C-contiguous
    ``(n_planes, D*H*W)`` uint8 array, receives the keep flags for
    :func:`apply_flags` (a forward's second pass then reads them instead of
    drawing and eroding again; nothing keeps them after the call).
    """
    if n_planes == 0 or 0 in dims:
        return 0
    planes = np.empty((n_planes, 0), dtype)  # the kernel reads only its length
    ones = planes.dtype.type(1)
    flags = _NO_FLAGS if flags is None else flags
    return int(_run(planes, planes, first_plane, dims, block, seed, offset, t, ones, True, True, flags).sum())


_NO_FLAGS = np.empty((0, 0), np.uint8)


def apply_flags(x: np.ndarray, y: np.ndarray, flags: np.ndarray, scale, inplace: bool) -> None:
    """``y = x * scale`` where ``flags`` (from :func:`count_kept`), else 0; ``(P, D*H*W)`` C-contiguous arrays."""
    if y.size:
        _runtime.locked(_apply_packed, x, y, flags, scale, inplace)


def apply(
    x: np.ndarray,
    y: np.ndarray,
    dims,
    block,
    seed: int,
    offset: int,
    t: int,
    scale,
    inplace: bool,
    first_plane: int = 0,
) -> None:
    """Write ``x * scale`` (kept) or 0 (dropped) into ``y``; both C-contiguous ``(P, D*H*W)`` float32/64.

    ``scale`` is a scalar of ``x``'s dtype; ``inplace`` means ``x is y``;
    ``x[q]`` is plane ``first_plane + q`` of the seed grid.
    """
    if y.size:
        _run(x, y, first_plane, dims, block, seed, offset, t, scale, inplace, False, _NO_FLAGS)


def _run(x, y, first_plane, dims, block, seed, offset, t, scale, inplace, count, flags):
    u = np.uint64
    keys = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32))
    args = (np.int64(first_plane), _triple(dims), _triple(block), keys, u(t), scale, inplace, count)
    chunks = np.int64(numba.get_num_threads() * CHUNKS_PER_THREAD)
    return _runtime.locked(_kernel, x, y, *args, chunks, flags)


def _triple(values) -> tuple:
    return tuple(np.int64(v) for v in values)
