"""CPU kernel of Gaussian dropout and Gaussian noise: ``numba.njit`` over 3-D C-contiguous views.

Element ``(i0, i1, i2)`` of the view has global index
``j = start + i0 * s0 + i1 * s1 + i2`` (a block of a larger array passes the
whole array's C strides and its first element's index; a whole array is one
row, ``(1, 1, n)``). A work item is a tile of one row. It draws the tile's
normal variates into a float64 buffer first (:func:`fill`, with no array it
could alias, vectorized by LLVM), then applies them, ``y = x * (1 + a*z)``
or ``y = x + a*z`` (:func:`numbadrop._core.normal.noise_element`). Reading
``x[k]`` before writing ``y[k]`` in the same trip makes ``x is y`` (in
place) safe, so one compiled kernel per dtype serves both cases and both
operations (``additive`` is a run-time flag).

The CPU meanings of the transform's named operations: ``mul_rn`` a plain
multiply (registered by :mod:`numbadrop.kernels.cpu._prims`), ``sqrt_rn`` the
``llvm.sqrt.f64`` intrinsic (numba's ``math.sqrt`` calls libm, which stops
the vectorizer), ``clz64`` ``llvm.ctlz``, ``compute`` a cast to float32 for
float32 data.

Only float32 and float64 arrays reach it (two compiled kernels):
:func:`launch` computes float16 and bfloat16 in float32.
"""

from __future__ import annotations

import itertools

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.cpython.unsafe.numbers import leading_zeros
from numba.extending import intrinsic, overload

from numbadrop._core import geometry, tunables
from numbadrop._core import normal as _normal
from numbadrop.kernels.cpu import _runtime
from numbadrop.kernels.cpu._cache import njit
from numbadrop.kernels.cpu._prims import MASK32 as _MASK32
from numbadrop.kernels.cpu._prims import SHIFT32 as _SHIFT32
from numbadrop.kernels.cpu._prims import bf16_bits_to_float, float_to_bf16_bits
from numbadrop.kernels.cpu._prims import philox as _philox_jit

TILE = tunables.TILE

_pair = njit(inline="always")(_normal.normal_pair)


@intrinsic
def _llvm_sqrt(typingctx, v):
    if v != types.float64:
        return None

    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.sqrt", [ir.DoubleType()])
        return builder.call(fn, args)

    return types.float64(types.float64), codegen


@overload(_normal.clz64, inline="always")
def _clz64_impl(v):
    return lambda v: leading_zeros(v)


@overload(_normal.sqrt_rn, inline="always")
def _sqrt_rn_impl(v):
    return lambda v: _llvm_sqrt(v)


@overload(_normal.compute, inline="always")
def _compute_impl(ref, v):
    if ref == types.float32:
        return lambda ref, v: np.float32(v)
    return lambda ref, v: v


_element = njit(inline="always")(_normal.noise_element)


@njit(cache=True)
def bf16_to_float(bits, out):
    """``out[i]`` = the float32 value of the bfloat16 bits ``bits[i]`` (exact); flat C arrays."""
    for i in range(bits.size):
        out[i] = bf16_bits_to_float(bits[i])


@njit(cache=True)
def float_to_bf16(v, out):
    """``out[i]`` = the bfloat16 bits of ``v[i]``, rounded to nearest even (the CPU kernels' rounding)."""
    for i in range(v.size):
        out[i] = float_to_bf16_bits(v[i])


@njit(cache=True, error_model="numpy")
def fill(buf, words, g_first, ng, k0, k1, o0, o1):
    """``buf[4*i : 4*i + 4]`` = the variates of Philox group ``g_first + i``, ``i < ng``.

    Two loops that LLVM vectorizes: the groups' words into ``words``, then
    one Box-Muller pair per trip (one inlined copy of the transform: half the
    compile time of two per Philox call, and faster). ``error_model="numpy"``:
    no ZeroDivisionError branch (``f + 1`` is never 0), which would stop the
    vectorizer. Not dtype-specific: compiled once for every kernel.
    """
    for i in range(ng):
        g = g_first + np.uint64(i)
        r0, r1, r2, r3 = _philox_jit(g & _MASK32, g >> _SHIFT32, o0, o1, k0, k1)
        words[4 * i] = r0
        words[4 * i + 1] = r1
        words[4 * i + 2] = r2
        words[4 * i + 3] = r3
    for i in range(2 * ng):
        z0, z1 = _pair(words[2 * i], words[2 * i + 1])
        buf[2 * i] = z0
        buf[2 * i + 1] = z1


@njit(inline="always")
def _items(x, y, first, last, start, s0, s1, k0, k1, o0, o1, a, additive):
    n1 = x.shape[1]
    n2 = x.shape[2]
    ntiles = (n2 + TILE - 1) // TILE
    buf = np.empty(TILE + 8, np.float64)
    words = np.empty(TILE + 8, np.uint64)
    for item in range(first, last):
        row = item // ntiles
        c_first = (item - row * ntiles) * TILE
        n = min(n2, c_first + TILE) - c_first
        i0 = row // n1
        i1 = row - i0 * n1
        j = start + i0 * s0 + i1 * s1 + c_first
        head = j & 3
        fill(buf, words, np.uint64(j >> 2), (head + n + 3) >> 2, k0, k1, o0, o1)
        xr = x[i0, i1]
        yr = y[i0, i1]
        for k in range(n):
            c = c_first + k
            yr[c] = _element(xr[c], buf[head + k], a, additive)


@njit(parallel=True, cache=True)
def kernel(x, y, start, s0, s1, k0, k1, o0, o1, a, additive, n_chunks):
    """``y`` from ``x`` (3-D, C-contiguous, same shape; may be the same array), in ``n_chunks`` parallel chunks.

    ``n_chunks == 1`` runs on the calling thread without entering a parallel region.
    """
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    if n_chunks <= 1:
        _items(x, y, 0, n_items, start, s0, s1, k0, k1, o0, o1, a, additive)
        return
    n_chunks = min(n_items, n_chunks)
    per_chunk = (n_items + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        first = chunk * per_chunk
        _items(x, y, first, min(n_items, first + per_chunk), start, s0, s1, k0, k1, o0, o1, a, additive)


def _serial(x, y, first, last, *args):
    """``_runtime.launch``'s serial kernel: the whole array on the calling thread."""
    kernel(x, y, *args, np.int64(1))


def run(x: np.ndarray, y: np.ndarray, start: int, s0: int, s1: int, seed: int, offset: int, a: float, additive: bool):
    """Run the kernel on 3-D C-contiguous float32 or float64 views ``x`` and ``y`` (may be the same array).

    ``_runtime.launch`` picks the calling thread for small arrays and shares the
    thread pool between concurrent callers, as for the dropout kernels.
    """
    u = np.uint64
    key = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32))
    args = (np.int64(start), np.int64(s0), np.int64(s1), *key, float(a), bool(additive))
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    _runtime.launch(_serial, kernel, x, y, args, n_items)


# --- from an array of any shape and strides to the kernel above ---------------------------------


def widen(x: np.ndarray) -> np.ndarray:
    """A 2-byte float array as float32 (exact); ``int16`` means bfloat16 bits, as in the dropout kernels."""
    if x.dtype != np.int16:
        return x.astype(np.float32)
    out = np.empty(x.shape, np.float32)
    bf16_to_float(x.reshape(-1), out.reshape(-1))
    return out


def narrow_into(y: np.ndarray, v: np.ndarray) -> None:
    """``y[...] = v`` rounded to nearest even once; bfloat16 bits (C-contiguous ``y``) by :func:`float_to_bf16`."""
    if y.dtype != np.int16:
        y[...] = v
        return
    flat = y.view()
    flat.shape = (y.size,)  # raises rather than copy: the bits must land in y
    float_to_bf16(v.reshape(-1), flat)


def launch(x, y, additive: bool, a: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """Write Gaussian dropout (``x * (1 + a*z)``) or noise (``x + a*z``) of ``x`` into ``y``.

    The counterpart of :func:`numbadrop.kernels.cpu.dropout.launch` for the normal variates.

    Parameters
    ----------
    x, y : numpy.ndarray
        Same shape and dtype; may be the same array; any strides (arrays
        that are not C-contiguous and native go through a C-order copy).
        float16 and bfloat16 (bfloat16 also as its bits, an ``int16`` array)
        are computed by the float32 kernel (widened, then rounded once: the
        contract's compute type), so that the CPU compiles two kernels in all.
    additive : bool
        Noise (True) or dropout (False).
    a : float
        The noise's multiplier: ``stddev``, or ``sqrt(p / (1 - p))``.
    seed, offset : int
        The variates' key and stream offset.
    strides : tuple of int
        Element-index stride of each axis of ``x`` (C order of the whole
        array whose block ``x`` is).
    start : int, default 0
        Element index of ``x``'s first element.
    """
    if y.size == 0:
        return
    if not y.flags.c_contiguous or not y.dtype.isnative:
        y_c = np.empty(y.shape, y.dtype.newbyteorder("="))
        launch(x, y_c, additive, a, seed, offset, strides, start)
        y[...] = y_c
        return
    if not x.flags.c_contiguous or not x.dtype.isnative:
        x = np.ascontiguousarray(x, x.dtype.newbyteorder("="))
    if y.dtype.itemsize == 2:  # float16, bfloat16 (or its bits as int16): the float32 kernel, one rounding
        y32 = np.empty(y.shape, np.float32)
        launch(widen(x), y32, additive, a, seed, offset, strides, start)
        narrow_into(y, y32)
        return
    shape = y.shape
    if strides == geometry.mask_strides(shape, ()):  # a whole array (the usual call): one row
        n = y.size
        run(x.reshape(1, 1, n), y.reshape(1, 1, n), start, 0, 0, seed, offset, a, additive)
        return
    strides = tuple(strides)  # the index strides serve as x's, y's and the mask's: both arrays are C order here
    dims = [(n, s) for n, _, _, s in geometry.collapse(shape, strides, strides, strides)]
    while len(dims) < 3:
        dims.insert(0, (1, 0))
    lead, inner = dims[:-3], dims[-3:]
    full = tuple(n for n, _ in dims)
    xv, yv = x.reshape(full), y.reshape(full)
    s0, s1 = inner[0][1], inner[1][1]
    for index in itertools.product(*(range(n) for n, _ in lead)):
        block_start = start + sum(i * s for i, (_, s) in zip(index, lead, strict=True))
        run(xv[index], yv[index], block_start, s0, s1, seed, offset, a, additive)
