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
sizes must be known. Each block runs the kernels the NumPy backend uses,
with the whole array's mask strides and the block's global start.

The backend itself is :mod:`numbadrop.backends.dask`, imported when the first
Dask array arrives (it needs the ``dask`` extra: ``pip install
"numbadrop[dask]"``); ``import numbadrop`` never imports either. This module's
public names are the main functions, accepting Dask arrays only (kept for
code written against the earlier separate API), and :func:`dropout_mask`,
which also takes explicit ``chunks``.

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

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('numbadrop.dask needs Dask; install it with: pip install "numbadrop[dask]"') from exc

from numbadrop import functional
from numbadrop._core.validation import check_p, normalize_axes
from numbadrop.backends.dask import _check_dask_float_array, _check_known_chunks, _lazy_mask
from numbadrop.functional import DropoutState
from numbadrop.ops.mask import check_shape
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
    shape = check_shape(shape)
    p = check_p(p)
    broadcast = normalize_axes(broadcast_dims, len(shape))
    seed, offset = seed_offset(rng)
    return _lazy_mask(shape, chunks, broadcast, p, seed, offset)
