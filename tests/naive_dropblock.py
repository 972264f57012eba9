"""Slow, obviously-correct NumPy reference of DropBlock under the mask contract.

Written from docs/contract.rst ("DropBlock seed grid") and torchvision's
definition; it uses :mod:`naive` for the seed grid and no numbadrop code.
"""

from __future__ import annotations

import itertools
import math

import naive
import numpy as np


def gamma(p: float, spatial: tuple[int, ...], bs: int) -> float:
    """torchvision's seed rate, evaluated left to right in float64."""
    numerator = p
    for n in spatial:
        numerator = numerator * n
    return numerator / (bs ** len(spatial) * math.prod(n - bs + 1 for n in spatial))


def seeds(shape: tuple[int, ...], p: float, bs: int, seed: int, offset: int) -> np.ndarray:
    """Boolean seed grid ``(N, C, *(n - bs + 1))``: where the contract drops with probability gamma."""
    grid = shape[:2] + tuple(n - bs + 1 for n in shape[2:])
    return ~naive.keep_mask(grid, gamma(p, shape[2:], bs), seed, offset)


def block_keep(shape: tuple[int, ...], p: float, bs: int, seed: int, offset: int) -> np.ndarray:
    """Keep-mask of the input shape: every seed at grid index ``i`` zeroes ``[i, i + bs)`` on each spatial axis."""
    keep = np.ones(shape, bool)
    for index in np.argwhere(seeds(shape, p, bs, seed, offset)):
        n, c, *corner = (int(i) for i in index)
        keep[(n, c, *(slice(i, i + bs) for i in corner))] = False
    return keep


def scale(numel: int, kept: int, eps: float, ctype: type) -> np.floating:
    """``numel / (eps + kept)`` as torch computes ``numel / tensor``: a reciprocal, then a product."""
    return ctype(ctype(ctype(1.0) / (ctype(kept) + ctype(eps))) * ctype(numel))


def drop_block(x: np.ndarray, p: float, bs: int, seed: int, offset: int = 0, eps: float = 1e-6):
    """``(y, scale)``: ``x * scale`` rounded to x's dtype where kept, +0 where dropped."""
    x = np.asarray(x)
    ctype = naive.compute_type(x.dtype)
    keep = block_keep(x.shape, p, bs, seed, offset)
    s = scale(x.size, int(keep.sum()), eps, ctype)
    with np.errstate(all="ignore"):
        kept = (x.astype(ctype) * s).astype(x.dtype)
    return np.where(keep, kept, x.dtype.type(0)), s


def block_keep_by_windows(shape: tuple[int, ...], p: float, bs: int, seed: int, offset: int) -> np.ndarray:
    """The same mask, the other way round: an element is dropped iff a seed lies in the window behind it."""
    grid = seeds(shape, p, bs, seed, offset)
    keep = np.ones(shape, bool)
    for index in itertools.product(*(range(n) for n in shape)):
        n, c, *pos = index
        window = tuple(slice(max(0, i - bs + 1), min(i, g - 1) + 1) for i, g in zip(pos, grid.shape[2:], strict=True))
        keep[index] = not grid[(n, c, *window)].any()
    return keep
