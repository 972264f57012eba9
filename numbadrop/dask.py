"""Dask arrays: the backend behind the main functions, and the old module's names.

``numbadrop.dropout(dask_array)`` (and every function of the family,
:meth:`numbadrop.DropoutState.backward` of a Dask gradient, and
:func:`numbadrop.dropout_mask` with ``device=`` a Dask array) returns a lazy
:class:`dask.array.Array`. Every numbadrop mask is a pure function of
``(seed, offset, global mask index)`` (DESIGN.md section 1), so each block
draws its part of the mask on its own, from the block's global start index:
the result is bit-identical to the NumPy call on the whole array, for any
chunking (chunks may split channels or Philox groups of four) and whichever
worker computes each block.

Nothing is computed at call time: ``rng`` is resolved once (a
:class:`numbadrop.Generator` advances once per call, as for NumPy arrays) and
graph keys are deterministic: the same input, ``p``, seed and offset give the
same keys. ``inplace=True`` is a ValueError (Dask arrays are immutable); chunk
sizes must be known. Each block runs through :func:`numbadrop._engine.launch`,
the entry point the NumPy backend uses, with the whole array's mask strides
and the block's global start.

This module is imported when the first Dask array arrives (it needs the
``dask`` extra: ``pip install "numbadrop[dask]"``); ``import numbadrop`` never
imports it. Its public names are the main functions, accepting Dask arrays
only (kept for code written against the earlier separate API), and
:func:`dropout_mask`, which also takes explicit ``chunks``.

Examples
--------
>>> import numpy as np, dask.array as da, numbadrop
>>> a = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
>>> x = da.from_array(a, chunks=(2, 3))
>>> y = numbadrop.dropout(x, 0.5, rng=7)  # lazy: a graph
>>> bool(np.array_equal(y.compute(), numbadrop.dropout(a, 0.5, rng=7)))
True
"""

from __future__ import annotations

import functools
import math

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('numbadrop.dask needs Dask; install it with: pip install "numbadrop[dask]"') from exc

from numbadrop import _dispatch, _engine, functional
from numbadrop._validation import check_p, dtype_error, is_float_dtype, normalize_axes
from numbadrop.functional import DropoutState, _check_shape
from numbadrop.random import RngLike, seed_offset

__all__ = [
    "DaskDropoutState",
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "dropout_mask",
    "feature_alpha_dropout",
]

# --- per-block work (runs on the workers) -----------------------------------


def _block_start(block_info: dict, strides: tuple[int, ...]) -> int:
    """Global mask index of a block's first element (0 for an empty block)."""
    location = block_info[None]["array-location"]
    return sum(lo * s for (lo, _), s in zip(location, strides, strict=True))


def _apply_block(x, *, op, p, seed, offset, strides, block_info=None):
    """``op`` of one block of the whole array, from the block's global start.

    ``np.empty_like`` dispatches on the block's type (``__array_function__``),
    so a CuPy block gets a CuPy output and goes to the same ``launch`` as a
    NumPy block.
    """
    y = np.empty_like(x, order="C")
    _engine.launch(x, y, op, p, seed, offset, strides, _block_start(block_info, strides))
    return y


def _mask_block(*, p, seed, offset, strides, block_info=None):
    """One block of the boolean keep-mask."""
    keep = np.empty(block_info[None]["chunk-shape"], np.bool_)
    _engine.launch(keep, keep, "mask", p, seed, offset, strides, _block_start(block_info, strides))
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
    _dispatch.check_array(meta, name)  # the block kind's own verdict (GPU arrays)
    _check_known_chunks(x, name)
    return x


# --- the backend (see numbadrop._dispatch) -------------------------------------


def check(x: object, name: str = "x") -> da.Array:
    """A Dask array of floats with known chunks and NumPy (or GPU) blocks."""
    return _check_dask_float_array(x, name)


def check_inplace(x: da.Array, name: str = "x") -> None:
    raise ValueError("inplace=True is not supported for dask arrays (they are immutable)")


def check_chunks(x: da.Array, name: str) -> None:
    """Known chunk sizes (``dropout_mask(device=x)``)."""
    _check_known_chunks(x, name)


def apply(x: da.Array, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """Lazy ``op`` of ``x`` (see :mod:`numbadrop._dispatch`)."""
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
    strides = _engine.mask_strides(x.shape, broadcast)
    name = f"numbadrop-{op}-" + tokenize(x.name, op, p, seed, offset, strides)
    return x.map_blocks(
        _apply_block,
        op=op,
        p=p,
        seed=seed,
        offset=offset,
        strides=strides,
        name=name,
        dtype=x.dtype,
        meta=x._meta,
    )


def _lazy_mask(shape, chunks, broadcast, p, seed, offset) -> da.Array:
    """Lazy boolean keep-mask of ``shape`` (chunked ``chunks``; one chunk along broadcast axes)."""
    chunks = da.core.normalize_chunks("auto" if chunks is None else chunks, shape, dtype=np.bool_)
    if any(math.isnan(c) for axis in chunks for c in axis):
        raise ValueError("chunks must be known sizes, got NaN")
    out_shape = _engine.mask_shape(shape, broadcast)
    out_chunks = tuple((1,) if axis in broadcast else c for axis, c in enumerate(chunks))
    if p == 0.0 or p == 1.0:
        return da.full(out_shape, p == 0.0, dtype=np.bool_, chunks=out_chunks)
    strides = _engine.mask_strides(out_shape, ())
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


# --- the earlier module's public names ---------------------------------------------


#: The state's backward takes Dask gradients itself; the old name is an alias.
DaskDropoutState = DropoutState


def _dask_only(fn):
    """``fn`` for Dask arrays only: the earlier module refused NumPy input."""

    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        _check_dask_float_array(x)
        return fn(x, *args, **kwargs)

    return wrapper


dropout = _dask_only(functional.dropout)
dropout1d = _dask_only(functional.dropout1d)
dropout2d = _dask_only(functional.dropout2d)
dropout3d = _dask_only(functional.dropout3d)
alpha_dropout = _dask_only(functional.alpha_dropout)
feature_alpha_dropout = _dask_only(functional.feature_alpha_dropout)


def dropout_mask(
    shape: int | tuple[int, ...] | da.Array,
    p: float,
    *,
    rng: RngLike = None,
    broadcast_dims: int | tuple[int, ...] = (),
    chunks=None,
) -> da.Array:
    """Lazy :func:`numbadrop.dropout_mask`, with explicit ``chunks``.

    ``shape`` may be a Dask array, which lends its shape and (by default) its
    chunks; ``chunks`` defaults to ``"auto"`` otherwise. Along broadcast axes
    the mask has one chunk of length 1.

    Examples
    --------
    >>> import numpy as np, dask.array as da, numbadrop, numbadrop.dask
    >>> x = da.ones((4, 6), dtype=np.float32, chunks=(3, 2))
    >>> keep = numbadrop.dask.dropout_mask(x, 0.5, rng=5, broadcast_dims=1)
    >>> keep.shape, keep.chunks
    ((4, 1), ((3, 1), (1,)))
    >>> bool(np.array_equal(keep.compute(), numbadrop.dropout_mask((4, 6), 0.5, rng=5, broadcast_dims=1)))
    True
    """
    if isinstance(shape, da.Array):
        _check_known_chunks(shape, "shape")
        if chunks is None:
            chunks = shape.chunks
        shape = shape.shape
    shape = _check_shape(shape)
    p = check_p(p)
    broadcast = normalize_axes(broadcast_dims, len(shape))
    seed, offset = seed_offset(rng)
    return _lazy_mask(shape, chunks, broadcast, p, seed, offset)
