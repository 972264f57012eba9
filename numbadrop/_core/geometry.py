"""Where each element's mask index comes from: mask shapes and strides, axis collapsing, DropBlock geometry.

The kernels take at most three axes. :func:`collapse` merges neighbouring axes
that are contiguous in the input, the output *and* the mask; a caller loops in
Python over any leading axes left beyond three, naming each sub-block's global
mask index, so the mask is unchanged. :func:`walk_order` and
:func:`column_dims` choose the order the kernels walk an output in (NumPy's
``order='K'``, the output's memory order). NumPy only: no kernel is compiled here.
"""

from __future__ import annotations

import functools
import math

import numpy as np


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


def collapse(shape, xs, ys, ms) -> list[tuple[int, int, int, int]]:
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
    """:func:`collapse` without the appended axis."""
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


#: The longest run of memory-contiguous axes that the column walk flattens into one (its
#: mask offsets are a table of this many int64 values, read once per group of columns).
#: Long runs matter: a Fortran-ordered (16, 32, 128, 256) float32 array walked as 128
#: runs of 512 rows took 2.9x the C-order time, as one run of 65536 rows 1.0x.
RUN_CAP = 1 << 20


def column_dims(shape, xs, ys, ms, itemsize: int):
    """The column walk of ``y`` (:mod:`numbadrop.kernels.cpu.columns`) as ``(lead, Q, P, C, L, offs)``, or None.

    For an output whose memory-contiguous axis has a mask stride that is
    neither 0 nor 1 (a Fortran-ordered array, any permutation that moves the
    mask's contiguous axis). ``C`` is the mask's contiguous axis (mask stride
    1); ``L`` the run of axes that are contiguous in memory in both ``x`` and
    ``y`` below it, flattened (at most :data:`RUN_CAP` elements, at least the
    innermost axis), with ``offs``, the mask offset of each of its rows;
    ``P`` and ``Q`` the two innermost in memory of the other axes once
    merged (length 1 if none), and ``lead`` the rest, which the caller loops
    over. Each of ``Q``, ``P``, ``C``, ``L`` and ``lead``'s entries is
    ``(length, x stride, y stride, mask stride)``.
    """
    axes = [a for a in range(len(shape)) if shape[a] != 1]
    c = next((a for a in axes if ms[a] == 1), None)
    if c is None or len(axes) < 2:
        return None
    order = sorted(axes, key=lambda a: -abs(ys[a]))
    r = order[-1]
    if r == c or ms[r] == 0 or ys[r] != itemsize:
        return None
    run = [r]
    for a in reversed(order[:-1]):
        inner, n = run[-1], shape[run[-1]]
        if a == c or ys[a] != ys[inner] * n or xs[a] != xs[inner] * n:
            break
        if math.prod(shape[b] for b in run) * shape[a] > RUN_CAP:
            break
        run.append(a)
    run.reverse()  # outermost first
    others = [a for a in order if a != c and a not in run]
    dims = _merge(*(tuple(v[a] for a in others) for v in (shape, xs, ys, ms)))
    p = dims.pop() if dims else (1, 0, 0, 0)  # the innermost in memory: the walk stays sequential
    q = dims.pop() if dims else (1, 0, 0, 0)
    n_run = math.prod(shape[a] for a in run)
    flat = (n_run, xs[r], ys[r], 0)
    return dims, q, p, (shape[c], xs[c], ys[c], 1), flat, run_offsets(tuple((shape[a], ms[a]) for a in run))


@functools.lru_cache(maxsize=8)
def run_offsets(axes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Mask offset of each element of a run of ``(length, mask stride)`` axes (outermost first), C order."""
    offs = np.zeros(1, np.int64)
    for n, stride in axes:
        offs = (offs[:, None] + np.arange(n, dtype=np.int64) * stride).ravel()
    offs.flags.writeable = False
    return offs


@functools.lru_cache(maxsize=1024)
def is_plain(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """True when the mask index of every element is its C-order flat index."""
    return strides == mask_strides(shape, ())


# --- DropBlock (docs/contract.rst, "DropBlock seed grid") ---------------------------------------


def gamma(p: float, spatial: tuple[int, ...], block_size: int) -> float:
    """Seed probability, torchvision's expression evaluated in the same order (float64).

    ``p * H * W / (bs**2 * ((H - bs + 1) * (W - bs + 1)))`` in 2-D, and with
    ``D`` and cubes in 3-D; at most 1 whenever ``block_size`` fits.
    """
    numerator = p
    for n in spatial:
        numerator = numerator * n
    return numerator / (block_size ** len(spatial) * math.prod(n - block_size + 1 for n in spatial))


def compute_type(dtype: np.dtype) -> type:
    """DropBlock's scale type: float64 for float64 data, float32 otherwise (as for dropout)."""
    dtype = np.dtype(dtype)
    return np.float64 if dtype.kind == "f" and dtype.itemsize == 8 else np.float32


def scale_of(numel: int, kept: int, eps: float, ctype: type) -> np.floating:
    """``numel / (eps + kept)`` as torch evaluates ``numel / tensor``: ``(1 / (kept + eps)) * numel``.

    Each operation rounds to ``ctype`` (the bits of torchvision's scale for a
    float32 or float64 input whose count is exact in that type).
    """
    return ctype(ctype(ctype(1.0) / (ctype(kept) + ctype(eps))) * ctype(numel))


def block_geometry(shape: tuple[int, ...], block_size: int) -> tuple[int, tuple[int, int, int], tuple[int, int, int]]:
    """``(planes, (D, H, W), (bd, bh, bw))`` of an ``(N, C, *spatial)`` shape; 2-D is depth 1."""
    spatial = shape[2:]
    dims = (1, *spatial) if len(spatial) == 2 else spatial
    block = (1, block_size, block_size) if len(spatial) == 2 else (block_size,) * 3
    return shape[0] * shape[1], dims, block
