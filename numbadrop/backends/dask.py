"""The Dask backend: lazy graphs whose blocks run the kernels, bit-identical to the NumPy call.

Every numbadrop mask is a pure function of ``(seed, offset, global mask
index)`` (DESIGN.md section 1), so each block draws its part of the mask on
its own, from the block's global start index: the result is bit-identical to
the NumPy call on the whole array, for any chunking (chunks may split
channels or Philox groups of four) and whichever worker computes each block.
Nothing is computed at call time, and graph keys are deterministic: the same
input, ``p``, seed and offset give the same keys. ``inplace=True`` is a
ValueError (Dask arrays are immutable); chunk sizes must be known. NumPy
blocks run the CPU kernels (:mod:`numbadrop.backends.numpy`), CuPy blocks the
CUDA kernels.

DropBlock: the input is rechunked so that every block holds whole planes
(one chunk along each spatial axis; any chunking along ``N`` and ``C``),
since a seed reaches ``block_size - 1`` elements past it. Then:

- the kept count is a lazy sum of per-block counts that depend only on the
  blocks' locations, not on ``x``'s data (each block regenerates the seeds of
  its planes from their global plane indices ``n * C + c``), so computing the
  scale never holds ``x`` in memory;
- the scale is a lazy 0-d array computed from that count as for NumPy input;
- each output block is the CPU kernel's result for its planes, with the
  global plane index and the whole batch's scale.

The result is rechunked back to ``x``'s chunks.

Imported when the first Dask array arrives (the ``dask`` extra).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('Dask arrays need Dask; install it with: pip install "numbadrop[dask]"') from exc

from numbadrop._core import geometry
from numbadrop._core.arrays import is_gpu_array
from numbadrop._core.formula import threshold
from numbadrop._core.validation import dtype_error, is_float_dtype
from numbadrop.backends import cuda_array
from numbadrop.backends import numpy as numpy_backend
from numbadrop.kernels.cpu import dropblock as dropblock_kernels


def _target(block):
    """The backend whose kernels compute a block: CuPy blocks run on the GPU."""
    return cuda_array if is_gpu_array(block) else numpy_backend


# --- per-block work (runs on the workers) -----------------------------------


def _block_start(block_info: dict, strides: tuple[int, ...]) -> int:
    """Global mask index of a block's first element (0 for an empty block)."""
    location = block_info[None]["array-location"]
    return sum(lo * s for (lo, _), s in zip(location, strides, strict=True))


def _apply_block(x, *, op, p, seed, offset, strides, block_info=None):
    """``op`` of one block of the whole array, from the block's global start.

    ``np.empty_like`` dispatches on the block's type (``__array_function__``),
    so a CuPy block gets a CuPy output (and the CUDA kernels).
    """
    if not x.dtype.isnative:  # big-endian blocks (read from a file): computed, and returned, in native order
        x = x.astype(x.dtype.newbyteorder("="))
    y = np.empty_like(x, order="C")
    _target(y).launch(x, y, op, p, seed, offset, strides, _block_start(block_info, strides))
    return y


def _mask_block(*, p, seed, offset, strides, block_info=None):
    """One block of the boolean keep-mask."""
    keep = np.empty(block_info[None]["chunk-shape"], np.bool_)
    numpy_backend.launch(keep, keep, "mask", p, seed, offset, strides, _block_start(block_info, strides))
    return keep


# --- validation -------------------------------------------------------------


def _check_known_chunks(x: da.Array, name: str) -> None:
    if any(math.isnan(c) for axis in x.chunks for c in axis):
        raise ValueError(
            f"{name} has unknown chunk sizes (NaN in {name}.chunks); numbadrop.dask needs each "
            f"block's position in the whole array. Call {name}.compute_chunk_sizes() first."
        )


def _check_dask_float_array(x: object, name: str = "x") -> da.Array:
    """A dask array of float16/32/64 with known chunks and supported blocks."""
    if not isinstance(x, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array, got {type(x).__name__} "
            "(use numbadrop.dropout and friends for NumPy arrays)"
        )
    if not is_float_dtype(x.dtype):
        raise dtype_error(name, x.dtype)
    meta = x._meta
    if type(meta) is not np.ndarray and not hasattr(meta, "__cuda_array_interface__"):
        raise TypeError(
            f"{name} has blocks of type {type(meta).__module__}.{type(meta).__name__}; "
            "numbadrop.dask supports NumPy-backed (and, with a GPU backend, CuPy-backed) dask arrays"
        )
    _target(meta).check(meta, name)  # the block kind's own verdict (GPU arrays)
    _check_known_chunks(x, name)
    return x


# --- the backend (see numbadrop.backends) ---------------------------------------


def check(x: object, name: str = "x") -> da.Array:
    """A Dask array of floats with known chunks and NumPy (or GPU) blocks."""
    return _check_dask_float_array(x, name)


def check_inplace(x: da.Array, name: str = "x") -> None:
    raise ValueError("inplace=True is not supported for dask arrays (they are immutable)")


def check_chunks(x: da.Array, name: str) -> None:
    """Known chunk sizes (``dropout_mask(device=x)``)."""
    _check_known_chunks(x, name)


def apply(x: da.Array, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """Lazy ``op`` of ``x`` (see :mod:`numbadrop.backends`)."""
    if op == "zero":
        return da.zeros_like(x)
    return _map(x, op, p, seed, offset, broadcast)


def mask(shape, broadcast, p, seed, offset, device: da.Array) -> da.Array:
    """Lazy keep-mask chunked like ``device`` (a Dask array of ``shape``)."""
    if tuple(device.shape) != tuple(shape):
        raise ValueError(f"device (a dask array) has shape {device.shape}, but the mask is for shape {tuple(shape)}")
    return _lazy_mask(shape, device.chunks, broadcast, p, seed, offset)


# --- graph construction -----------------------------------------------------


def _map(x: da.Array, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...]) -> da.Array:
    """Lazy ``op`` of ``x``: one ``launch`` per block, deterministic keys."""
    strides = geometry.mask_strides(x.shape, broadcast)
    name = f"numbadrop-{op}-" + tokenize(x.name, op, p, seed, offset, strides)
    return x.map_blocks(
        _apply_block,
        op=op,
        p=p,
        seed=seed,
        offset=offset,
        strides=strides,
        name=name,
        dtype=x.dtype.newbyteorder("="),
        meta=x._meta.astype(x.dtype.newbyteorder("=")),
    )


def _lazy_mask(shape, chunks, broadcast, p, seed, offset) -> da.Array:
    """Lazy boolean keep-mask of ``shape`` (chunked ``chunks``; one chunk along broadcast axes)."""
    chunks = da.core.normalize_chunks("auto" if chunks is None else chunks, shape, dtype=np.bool_)
    if any(math.isnan(c) for axis in chunks for c in axis):
        raise ValueError("chunks must be known sizes, got NaN")
    out_shape = geometry.mask_shape(shape, broadcast)
    out_chunks = tuple((1,) if axis in broadcast else c for axis, c in enumerate(chunks))
    if p == 0.0 or p == 1.0:
        return da.full(out_shape, p == 0.0, dtype=np.bool_, chunks=out_chunks)
    strides = geometry.mask_strides(out_shape, ())
    name = "numbadrop-mask-" + tokenize(out_chunks, p, seed, offset)
    return da.map_blocks(
        _mask_block,
        p=p,
        seed=seed,
        offset=offset,
        strides=strides,
        name=name,
        chunks=out_chunks,
        dtype=np.bool_,
        meta=np.empty((0,) * len(out_shape), np.bool_),
    )


# --- DropBlock -----------------------------------------------------------------------------------


def _whole_planes(x: da.Array) -> da.Array:
    return x.rechunk({axis: -1 for axis in range(2, x.ndim)})


def _count_block(block, *, channels, dims, block3, seed, offset, t, kernel_dtype, block_info=None):
    """Kept elements of the planes of one ``(n, c)`` block, as a ``(1, 1)`` array."""
    (n0, n1), (c0, c1) = block_info[0]["array-location"][:2]  # the input block: the output is (1, 1)
    total = 0
    for n in range(n0, n1):
        total += dropblock_kernels.count_kept(c1 - c0, dims, block3, seed, offset, t, kernel_dtype, n * channels + c0)
    return np.full((1, 1), total, np.int64)


def _scale_block(kept, *, numel, eps, ctype):
    return np.asarray(geometry.scale_of(numel, int(kept), eps, ctype))


def count_and_scale(x: da.Array, shape, bs: int, g: float, seed: int, offset: int, eps: float, ctype) -> da.Array:
    """The scale as a lazy 0-d array of the compute type (its count does not read ``x``)."""
    _, dims, block3 = geometry.block_geometry(shape, bs)
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


def _drop_block_block(xb, scale, *, channels, state, block_info=None):
    """One block of whole planes: the CPU kernel with the block's global plane indices."""
    (n0, _), (c0, _) = block_info[0]["array-location"][:2]
    state = dataclasses.replace(state, scale=np.asarray(scale)[()])
    y = np.empty(xb.shape, xb.dtype.newbyteorder("="))
    for i in range(xb.shape[0]):
        y[i : i + 1] = numpy_backend.drop_block_planes(xb[i : i + 1], state, False, (n0 + i) * channels + c0)
    return y


def drop_block_apply(x: da.Array, state, inplace: bool = False) -> da.Array:
    """``x * state.scale`` where the block mask keeps, 0 elsewhere, lazily, in ``x``'s chunks."""
    xr = _whole_planes(x)
    scale = state.scale if isinstance(state.scale, da.Array) else da.from_array(np.asarray(state.scale))
    plain = dataclasses.replace(state, scale=None)
    y = da.map_blocks(
        _drop_block_block,
        xr,
        scale,
        channels=state.shape[1],
        state=plain,
        dtype=x.dtype.newbyteorder("="),
        meta=np.empty((0,) * x.ndim, x.dtype.newbyteorder("=")),
    )
    return y.rechunk(x.chunks)


def drop_block(x: da.Array, state, eps: float, inplace: bool):
    """DropBlock's lazy forward: ``(y, scale)`` with a lazy 0-d ``scale``."""
    ctype = geometry.compute_type(x.dtype)
    scale = count_and_scale(x, state.shape, state.block_size, state.gamma, state.seed, state.offset, eps, ctype)
    return drop_block_apply(x, dataclasses.replace(state, scale=scale)), scale
