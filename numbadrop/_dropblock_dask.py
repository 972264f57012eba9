"""Dask arrays through DropBlock's front door: a lazy graph, bit-identical to the NumPy call.

Imported when the first Dask array reaches :func:`numbadrop.drop_block2d` or
:func:`numbadrop.drop_block3d` (it needs the ``dask`` extra). The input is
rechunked so that every block holds whole planes (one chunk along each
spatial axis; any chunking along ``N`` and ``C``), since a seed reaches
``block_size - 1`` elements past it. Then:

- the kept count is a lazy sum of per-block counts that depend only on the
  blocks' locations, not on ``x``'s data (each block regenerates the seeds of
  its planes from their global plane indices ``n * C + c``), so computing the
  scale never holds ``x`` in memory;
- the scale is a lazy 0-d array computed from that count as for NumPy input;
- each output block is the CPU kernel's result for its planes, with the
  global plane index and the whole batch's scale.

The result is rechunked back to ``x``'s chunks. Nothing is computed at call
time, and graph keys are deterministic.
"""

from __future__ import annotations

import dataclasses
import math

import dask.array as da
import numpy as np

from numbadrop import _dropblock, _dropblock_cpu
from numbadrop.random import threshold


def _whole_planes(x: da.Array) -> da.Array:
    return x.rechunk({axis: -1 for axis in range(2, x.ndim)})


def _count_block(block, *, channels, dims, block3, seed, offset, t, kernel_dtype, block_info=None):
    """Kept elements of the planes of one ``(n, c)`` block, as a ``(1, 1)`` array."""
    (n0, n1), (c0, c1) = block_info[0]["array-location"][:2]  # the input block: the output is (1, 1)
    total = 0
    for n in range(n0, n1):
        total += _dropblock_cpu.count_kept(c1 - c0, dims, block3, seed, offset, t, kernel_dtype, n * channels + c0)
    return np.full((1, 1), total, np.int64)


def _scale_block(kept, *, numel, eps, ctype):
    return np.asarray(_dropblock.scale_of(numel, int(kept), eps, ctype))


def count_and_scale(x: da.Array, shape, bs: int, g: float, seed: int, offset: int, eps: float, ctype) -> da.Array:
    """The scale as a lazy 0-d array of the compute type (its count does not read ``x``)."""
    _, dims, block3 = _dropblock._geometry(shape, bs)
    planes = da.zeros(shape[:2], chunks=x.chunks[:2], dtype=np.int8)  # only the blocks' locations are used
    counts = planes.map_blocks(
        _count_block,
        channels=shape[1],
        dims=dims,
        block3=block3,
        seed=seed,
        offset=offset,
        t=threshold(g),
        kernel_dtype=np.dtype(ctype),
        dtype=np.int64,
        chunks=tuple((1,) * len(c) for c in x.chunks[:2]),
        meta=np.empty((0, 0), np.int64),
    )
    return counts.sum().map_blocks(
        _scale_block, numel=math.prod(shape), eps=eps, ctype=ctype, dtype=ctype, meta=np.empty((), ctype)
    )


def _apply_block(xb, scale, *, channels, state, block_info=None):
    """One block of whole planes: the CPU kernel with the block's global plane indices."""
    (n0, _), (c0, _) = block_info[0]["array-location"][:2]
    state = dataclasses.replace(state, scale=np.asarray(scale)[()])
    y = np.empty(xb.shape, xb.dtype.newbyteorder("="))
    for i in range(xb.shape[0]):
        y[i : i + 1] = _dropblock._apply_host(xb[i : i + 1], state, False, (n0 + i) * channels + c0)
    return y


def apply(x: da.Array, state) -> da.Array:
    """``x * state.scale`` where the block mask keeps, 0 elsewhere, lazily, in ``x``'s chunks."""
    xr = _whole_planes(x)
    scale = state.scale if isinstance(state.scale, da.Array) else da.from_array(np.asarray(state.scale))
    plain = dataclasses.replace(state, scale=None)
    y = da.map_blocks(
        _apply_block,
        xr,
        scale,
        channels=state.shape[1],
        state=plain,
        dtype=x.dtype.newbyteorder("="),
        meta=np.empty((0,) * x.ndim, x.dtype.newbyteorder("=")),
    )
    return y.rechunk(x.chunks)
