"""CPU kernel of Gaussian dropout and Gaussian noise: ``numba.njit`` over 3-D C-contiguous views.

Element ``(i0, i1, i2)`` of the view has global index
``j = start + i0 * s0 + i1 * s1 + i2`` (a block of a larger array passes the
whole array's C strides and its first element's index; a whole array is one
row, ``(1, 1, n)``). A work item is a tile of one row. It draws the tile's
normal variates into a float64 buffer first (:func:`fill`, with no array it
could alias, vectorized by LLVM), then applies them, ``y = x * (1 + a*z)``
or ``y = x + a*z`` (:func:`numbadrop._normal.noise_element`). Reading
``x[k]`` before writing ``y[k]`` in the same trip makes ``x is y`` (in
place) safe, so one compiled kernel per dtype serves both cases and both
operations (``additive`` is a run-time flag).

The CPU meanings of the transform's named operations: ``mul_rn`` a plain
multiply (registered by :mod:`numbadrop._cpu`), ``sqrt_rn`` the
``llvm.sqrt.f64`` intrinsic (numba's ``math.sqrt`` calls libm, which stops
the vectorizer), ``clz64`` ``llvm.ctlz``, ``compute`` a cast to float32 for
float32 data.

Only float32 and float64 arrays reach it (two compiled kernels):
:func:`numbadrop._gaussian.launch` computes float16 and bfloat16 in float32.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.cpython.unsafe.numbers import leading_zeros
from numba.extending import intrinsic, overload

from numbadrop import _cpu, _normal, _tunables

TILE = _tunables.TILE

_philox_jit = _cpu._philox_jit  # the dropout kernels' inlined Philox
_pair = njit(inline="always")(_normal.normal_pair)
_MASK32, _SHIFT32 = _cpu._MASK32, _cpu._SHIFT32


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
        out[i] = _cpu._bf16_bits_to_float(bits[i])


@njit(cache=True)
def float_to_bf16(v, out):
    """``out[i]`` = the bfloat16 bits of ``v[i]``, rounded to nearest even (the CPU kernels' rounding)."""
    for i in range(v.size):
        out[i] = _cpu._float_to_bf16_bits(v[i])


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
    """``_cpu._launch``'s serial kernel: the whole array on the calling thread."""
    kernel(x, y, *args, np.int64(1))


def run(x: np.ndarray, y: np.ndarray, start: int, s0: int, s1: int, seed: int, offset: int, a: float, additive: bool):
    """Run the kernel on 3-D C-contiguous float32 or float64 views ``x`` and ``y`` (may be the same array).

    ``_cpu._launch`` picks the calling thread for small arrays and shares the
    thread pool between concurrent callers, as for the dropout kernels.
    """
    u = np.uint64
    key = (u(seed & 0xFFFFFFFF), u(seed >> 32), u(offset & 0xFFFFFFFF), u(offset >> 32))
    args = (np.int64(start), np.int64(s0), np.int64(s1), *key, float(a), bool(additive))
    n_items = x.shape[0] * x.shape[1] * ((x.shape[2] + TILE - 1) // TILE)
    _cpu._launch(_serial, kernel, x, y, args, n_items)
