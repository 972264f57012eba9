"""The dropout family on Dask arrays, with masks that do not depend on chunking.

Every numbadrop mask is a pure function of ``(seed, offset, global mask
index)`` (DESIGN.md section 1), so each block of a chunked array can draw its
part of the mask on its own, from the block's global start index. The result
is bit-identical to :func:`numbadrop.dropout` on the whole array, for any
chunking (chunks may split channels or Philox groups of four) and whichever
worker computes each block.

Nothing is computed at call time: each function validates its arguments,
resolves ``rng`` once (a :class:`numbadrop.Generator` advances once per call,
as in the core API) and returns a lazy :class:`dask.array.Array`. Graph keys
are deterministic: the same input, ``p``, seed and offset give the same keys.

This module needs the ``dask`` extra (``pip install "numbadrop[dask]"``);
``import numbadrop`` never imports it.

Each block runs through :func:`numbadrop._engine.launch`, the same entry point
the NumPy API uses, with the whole array's mask strides and the block's global
start. NumPy-backed blocks run on the CPU kernels; CuPy-backed dask arrays are
rejected at call time by the same check as in the core API until numbadrop's
GPU backend routes device arrays through that entry point.

Examples
--------
>>> import numpy as np, dask.array as da, numbadrop, numbadrop.dask
>>> a = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
>>> x = da.from_array(a, chunks=(2, 3))
>>> y = numbadrop.dask.dropout(x, 0.5, rng=7)  # lazy: a graph
>>> bool(np.array_equal(y.compute(), numbadrop.dropout(a, 0.5, rng=7)))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('numbadrop.dask needs Dask; install it with: pip install "numbadrop[dask]"') from exc

from numbadrop import _engine
from numbadrop._validation import (
    FLOAT_DTYPES,
    check_bool,
    check_float_array,
    check_p,
    normalize_axes,
)
from numbadrop.functional import DropoutState, _channel_axes, _check_call, _check_shape, _draw, _feature_axes
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

Output = Union[da.Array, tuple[da.Array, "DaskDropoutState"]]


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
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float16, float32 or float64, got dtype {x.dtype}")
    meta = x._meta
    if type(meta) is not np.ndarray and not hasattr(meta, "__cuda_array_interface__"):
        raise TypeError(
            f"{name} has blocks of type {type(meta).__module__}.{type(meta).__name__}; "
            "numbadrop.dask supports NumPy-backed (and, with a GPU backend, CuPy-backed) dask arrays"
        )
    check_float_array(meta, name)  # the core's verdict on the block type (GPU arrays)
    _check_known_chunks(x, name)
    return x


def _check_no_inplace(inplace: object) -> None:
    if check_bool(inplace, "inplace"):
        raise ValueError("inplace=True is not supported for dask arrays (they are immutable)")


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


@dataclass(frozen=True)
class DaskDropoutState(DropoutState):
    """:class:`numbadrop.DropoutState` whose backward also takes dask arrays.

    Fields as in :class:`numbadrop.DropoutState`. :meth:`backward` of a dask
    array returns a lazy dask array (any chunking of ``grad`` gives the same
    result); a NumPy ``grad`` goes to the core backward.
    """

    def backward(self, grad, inplace: bool = False):
        """Gradient with respect to the forward's input.

        Parameters
        ----------
        grad : dask.array.Array or numpy.ndarray
            Gradient with respect to the forward's output, of the same shape.
        inplace : bool, default False
            NumPy ``grad`` only; must be False for a dask array.

        Returns
        -------
        dask.array.Array or numpy.ndarray
            Lazy for a dask ``grad``; as :meth:`numbadrop.DropoutState.backward` otherwise.
        """
        if not isinstance(grad, da.Array):
            return super().backward(grad, inplace)
        grad = _check_dask_float_array(grad, "grad")
        _check_no_inplace(inplace)
        if grad.shape != tuple(self.shape):
            raise ValueError(f"grad has shape {grad.shape}, expected {tuple(self.shape)}")
        if self.kind == "identity":
            return grad
        if self.kind == "zero":
            return da.zeros_like(grad)
        op = "dropout" if self.kind == "dropout" else "alpha_grad"
        return _map(grad, op, self.p, self.seed, self.offset, self.broadcast)


def _run(x, p, training, inplace, rng, broadcast, return_state, kind) -> Output:
    """Shared body of every forward: ``x`` and ``broadcast`` are already checked."""
    p, training, return_state = _check_call(p, training, return_state, rng)
    _check_no_inplace(inplace)
    seed, offset = _draw(rng, training)  # once, now, at call time: not per block
    if not training or p == 0.0:
        y = x
        state = DaskDropoutState("identity", p, 0, 0, x.shape, broadcast)
    else:
        if p == 1.0:
            y = da.zeros_like(x)
            state = DaskDropoutState("zero", p, seed, offset, x.shape, broadcast)
        else:
            y = _map(x, kind, p, seed, offset, broadcast)
            state = DaskDropoutState(kind, p, seed, offset, x.shape, broadcast)
    return (y, state) if return_state else y


# --- the public functions ---------------------------------------------------


def dropout(
    x: da.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    broadcast_dims: int | tuple[int, ...] = (),
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.dropout` of a dask array, identical for any chunking.

    Parameters
    ----------
    x : dask.array.Array
        float16, float32 or float64, with known chunk sizes.
    p, training, rng, broadcast_dims, return_state
        As in :func:`numbadrop.dropout`. ``rng`` is resolved once, at call time.
    inplace : bool, default False
        Must be False (dask arrays are immutable); kept for the core signature.

    Returns
    -------
    y : dask.array.Array
        Lazy result with ``x``'s shape, dtype and chunks; ``x`` itself in eval
        mode or for ``p = 0``.
    state : DaskDropoutState
        Only with ``return_state=True``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, numbadrop, numbadrop.dask
    >>> a = np.ones((4, 6), np.float32)
    >>> y, state = numbadrop.dask.dropout(da.from_array(a, chunks=3), 0.5, rng=1, return_state=True)
    >>> bool(np.array_equal(y.compute(), numbadrop.dropout(a, 0.5, rng=1)))
    True
    >>> g = state.backward(da.ones((4, 6), dtype=np.float32, chunks=(1, 5)))  # any chunking
    >>> bool(np.array_equal(g.compute(), y.compute()))
    True
    """
    x = _check_dask_float_array(x)
    broadcast = normalize_axes(broadcast_dims, x.ndim)
    return _run(x, p, training, inplace, rng, broadcast, return_state, "dropout")


def _channel_dropout(x, p, training, inplace, rng, return_state, spatial, name) -> Output:
    x = _check_dask_float_array(x)
    broadcast = _channel_axes(x, spatial, name)
    return _run(x, p, training, inplace, rng, broadcast, return_state, "dropout")


def dropout1d(
    x: da.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.dropout1d` (whole channels of ``(N, C, L)`` or ``(C, L)``)."""
    return _channel_dropout(x, p, training, inplace, rng, return_state, 1, "dropout1d")


def dropout2d(
    x: da.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.dropout2d` (whole channels of ``(N, C, H, W)`` or ``(C, H, W)``)."""
    return _channel_dropout(x, p, training, inplace, rng, return_state, 2, "dropout2d")


def dropout3d(
    x: da.Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.dropout3d` (whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)``)."""
    return _channel_dropout(x, p, training, inplace, rng, return_state, 3, "dropout3d")


def alpha_dropout(
    x: da.Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.alpha_dropout`; ``training`` defaults to False, as there."""
    x = _check_dask_float_array(x)
    return _run(x, p, training, inplace, rng, (), return_state, "alpha")


def feature_alpha_dropout(
    x: da.Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """Lazy :func:`numbadrop.feature_alpha_dropout` (one mask value per ``(N, C)``)."""
    x = _check_dask_float_array(x)
    return _run(x, p, training, inplace, rng, _feature_axes(x), return_state, "alpha")


def dropout_mask(
    shape: int | tuple[int, ...] | da.Array,
    p: float,
    *,
    rng: RngLike = None,
    broadcast_dims: int | tuple[int, ...] = (),
    chunks=None,
) -> da.Array:
    """Lazy boolean keep-mask (True = kept) that :func:`dropout` would use.

    Parameters
    ----------
    shape : int, tuple of int, or dask.array.Array
        Shape of the input the mask is for; a dask array lends its shape and
        chunks.
    p, rng, broadcast_dims
        As in :func:`numbadrop.dropout_mask`.
    chunks : dask chunks, optional
        Chunking of the input (default: the array's chunks, or ``"auto"``).
        The mask takes it, with one chunk of length 1 along broadcast axes.

    Returns
    -------
    dask.array.Array
        Lazy boolean array of the mask shape (``shape`` with broadcast axes
        set to 1), equal to :func:`numbadrop.dropout_mask` for any chunking.

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
