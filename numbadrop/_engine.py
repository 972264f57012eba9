"""From an array of any shape and strides to calls of the 3-D kernels.

``launch`` is the one entry point below the public API: it turns ``p`` and the
operation into kernel coefficients, collapses the array's dimensions to at most
three (merging neighbours that are contiguous in the input, the output *and*
the mask), and loops in Python over any leading dimensions left beyond three,
naming each sub-block's global mask index so the mask is unchanged.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from numbadrop import _backend, _cpu
from numbadrop._validation import is_bfloat16
from numbadrop.random import threshold

#: SELU's alpha * scale, the saturation value alpha dropout keeps the mean at.
ALPHA = 1.7580993408473766


@functools.lru_cache(maxsize=1024)
def mask_strides(shape: tuple[int, ...], broadcast: tuple[int, ...]) -> tuple[int, ...]:
    """C-order index strides of the mask, 0 along broadcast (and length-1) axes."""
    strides = [0] * len(shape)
    step = 1
    for axis in range(len(shape) - 1, -1, -1):
        if axis in broadcast or shape[axis] == 1:
            continue
        strides[axis] = step
        step *= shape[axis]
    return tuple(strides)


def mask_shape(shape: tuple[int, ...], broadcast: tuple[int, ...]) -> tuple[int, ...]:
    """The contract's mask shape: ``shape`` with broadcast axes set to 1."""
    return tuple(1 if axis in broadcast else n for axis, n in enumerate(shape))


def alpha_coefficients(p: float) -> tuple[float, float, float]:
    """``(a, b, d)``: kept ``a*x + b``, dropped ``d`` (float64, before rounding)."""
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    return a, ALPHA * a * p, -ALPHA * a * (1.0 - p)


@functools.lru_cache(maxsize=512)
def _coefficients(op: str, p: float, dtype: np.dtype):
    """``(mode, m, b, d)`` of ``op`` at ``p`` for arrays of ``dtype`` (cached: every call of a training loop asks)."""
    ctype = np.float64 if dtype == np.float64 else np.float32
    if op == "dropout":
        return _cpu.MODE_SCALE, ctype(1.0 / (1.0 - p)), ctype(0.0), ctype(0.0)
    a, b, d = alpha_coefficients(p)
    if op == "alpha":
        return _cpu.MODE_AFFINE, ctype(a), ctype(b), ctype(d)
    if op == "alpha_grad":
        return _cpu.MODE_SCALE, ctype(a), ctype(0.0), ctype(0.0)
    return _cpu.MODE_MASK, ctype(1.0), ctype(0.0), ctype(0.0)


def _collapse(shape, xs, ys, ms) -> list[tuple[int, int, int, int]]:
    """Merge neighbouring axes that are contiguous in x, y and the mask.

    Returns ``(length, x stride, y stride, mask stride)`` per remaining axis,
    outermost first; axes of length 1 are dropped. The innermost mask stride
    is 0 or 1, as the kernels need (an axis of length 1 is appended if not).
    """
    merged = _merge(shape, xs, ys, ms)
    if not merged or merged[-1][3] not in (0, 1):
        merged.append((1, 0, 0, 0))
    return merged


def _merge(shape, xs, ys, ms) -> list[tuple[int, int, int, int]]:
    """:func:`_collapse` without the appended axis."""
    merged: list[tuple[int, int, int, int]] = []
    for n, a, b, c in reversed(list(zip(shape, xs, ys, ms, strict=True))):  # innermost first
        if n == 1:
            continue
        if merged:
            n_in, a_in, b_in, c_in = merged[-1]
            if a == a_in * n_in and b == b_in * n_in and c == c_in * n_in:
                merged[-1] = (n * n_in, a_in, b_in, c_in)
                continue
        merged.append((n, a, b, c))
    merged.reverse()
    return merged


def walk_order(shape, ys, ms) -> list[int]:
    """The axes (outermost first) in the order the kernels walk them.

    ``y``'s memory order (axes sorted by decreasing ``|y stride|``), so that
    an output allocated in the input's memory order (NumPy's ``order='K'``)
    and the input are both read and written sequentially, when that order's
    innermost axis has mask stride 0 or 1 (the kernels draw Philox groups
    along it); otherwise the logical (C) order. Axes of length 1 are left out.
    """
    axes = [a for a in range(len(shape)) if shape[a] != 1]
    order = sorted(axes, key=lambda a: -abs(ys[a]))  # stable: ties keep C order
    if order and ms[order[-1]] not in (0, 1):
        return axes
    return order


def walks_memory_order(shape, ys, ms) -> bool:
    """True when :func:`walk_order` walks ``y`` in its memory order."""
    axes = [a for a in range(len(shape)) if shape[a] != 1]
    return walk_order(shape, ys, ms) == sorted(axes, key=lambda a: -abs(ys[a]))


def column_dims(shape, xs, ys, ms, start: int, itemsize: int):
    """``(P, C, R)`` dims for :func:`numbadrop._cpu.run_columns`, or None.

    In ``y``'s memory order the array must collapse to at most three axes:
    R innermost, unit stride in x and y, mask stride a multiple of 4; C next,
    mask stride 1 and a length divisible by 4; P (if any) a mask stride
    divisible by 4; and ``start % 4 == 0``. Then each row's 4-column groups
    are whole Philox groups (a transposed array of even width under element
    dropout).
    """
    axes = [a for a in range(len(shape)) if shape[a] != 1]
    order = sorted(axes, key=lambda a: -abs(ys[a]))
    dims = _merge(*(tuple(v[a] for a in order) for v in (shape, xs, ys, ms)))
    if len(dims) not in (2, 3) or start % 4:
        return None
    p, (c, r) = (dims[0] if len(dims) == 3 else (1, 0, 0, 0)), dims[-2:]
    if r[1] != itemsize or r[2] != itemsize or r[3] % 4 or r[3] == 0:
        return None
    if c[3] != 1 or c[0] % 4 or p[3] % 4:
        return None
    return p, c, r


def keeps_order(shape, xs, ys, ms, itemsize: int) -> bool:
    """Whether the kernels walk a ``y`` of strides ``ys`` in its memory order (see ``_host``)."""
    return walks_memory_order(shape, ys, ms) or column_dims(shape, xs, ys, ms, 0, itemsize) is not None


@functools.lru_cache(maxsize=512)
def _threshold(p: float) -> np.uint64:
    return np.uint64(threshold(p))


@functools.lru_cache(maxsize=1024)
def _is_plain(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """True when the mask index of every element is its C-order flat index."""
    return strides == mask_strides(shape, ())


def _views(x: np.ndarray, y: np.ndarray, strides: tuple[int, ...]):
    """Collapsed views of ``x`` and ``y`` (at least 3-D) and their mask strides."""
    order = walk_order(y.shape, y.strides, strides)
    dims = _collapse(*(tuple(v[a] for a in order) for v in (y.shape, x.strides, y.strides, strides)))
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

    Parameters
    ----------
    x, y : numpy.ndarray or GPU arrays
        Input and output of equal shape, any strides; may be the same array
        object (in place). Other overlaps are allowed but cost a copy of ``x``.
        float16, float32, float64 or bfloat16 (an ``ml_dtypes.bfloat16``
        array, or its bits as an ``int16`` array: int16 reaching the kernels
        always means bfloat16, computed in float32).
        For ``op="mask"``, ``y`` is a boolean array and ``x`` is ignored.
        GPU arrays (``__cuda_array_interface__``) run ``numbadrop._cuda.launch``.
    op : {"dropout", "alpha", "alpha_grad", "mask", "gaussian_dropout", "gaussian_noise"}
        Dropout (forward and backward alike), alpha dropout forward, alpha
        dropout backward, the boolean keep-mask, or the normal variates'
        operations (:func:`numbadrop._gaussian.launch`).
    p : float
        Drop probability, ``0 <= p < 1``; for the normal variates, the noise
        multiplier (``stddev`` or ``sqrt(p / (1 - p))``).
    seed, offset : int
        The mask's key and stream offset.
    strides : tuple of int
        Mask index stride of each axis of ``x`` (0 along broadcast axes).
    start : int, default 0
        Global mask index of ``x``'s first element (for blocks of larger arrays).
    """
    if op in ("gaussian_dropout", "gaussian_noise"):  # the normal variates; p carries the noise multiplier
        from numbadrop import _gaussian

        _gaussian.launch(x, y, op == "gaussian_noise", p, seed, offset, strides, start)
        return
    if not isinstance(y, np.ndarray) and _backend.is_gpu_array(y):
        from numbadrop import _cuda  # imported on the first GPU array only

        _cuda.launch(x, y, op, p, seed, offset, strides, start)
        return
    if y.size == 0:
        return
    mode, m, b, d = _coefficients(op, p, y.dtype)
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
    if x.flags.c_contiguous and y.flags.c_contiguous and _is_plain(y.shape, strides):
        n = y.size
        _cpu.run_plain(x.reshape(1, 1, n), y.reshape(1, 1, n), start, key, off, t, m, b, d, mode, inplace)
        return
    if op != "mask" and (dims := column_dims(y.shape, x.strides, y.strides, strides, start, y.itemsize)):
        shape = tuple(dim[0] for dim in dims)
        xv = as_strided(x, shape, tuple(dim[1] for dim in dims), writeable=False)
        yv = as_strided(y, shape, tuple(dim[2] for dim in dims))
        _cpu.run_columns(xv, yv, start, dims[0][3], dims[2][3], key, off, t, m, b, d, mode, inplace)
        return
    else:
        xv, yv, ms = _views(x, y, strides)
    lead = xv.ndim - 3
    if lead == 0:
        _cpu.run(xv, yv, start, ms, key, off, t, m, b, d, mode, inplace)
        return
    for index in itertools.product(*(range(n) for n in xv.shape[:lead])):
        block_start = start + sum(i * s for i, s in zip(index, ms, strict=False))
        _cpu.run(xv[index], yv[index], block_start, ms[lead:], key, off, t, m, b, d, mode, inplace)
