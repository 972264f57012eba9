"""The pandas backend: a ``Series`` or ``DataFrame`` of floats in, the same kind out, same index, columns and name.

The values are computed by the NumPy backend on ``to_numpy()`` (one float
dtype: a ``DataFrame``'s ``(rows, columns)`` values, as NumPy would see them,
so the bits are the NumPy call's on ``df.to_numpy()``). Every column must
have one float dtype (float16, float32, float64): an object, integer,
nullable (``Float64``) or mixed-dtype column is a TypeError naming it. In
place follows pandas' own rule, assignment (``x.iloc[:] = y``): the object
itself changes (pandas copies first if its data is shared, copy-on-write).
``out=`` must be a pandas object of the same shape and dtype, written the
same way.

Imported when the first pandas object arrives (the ``pandas`` extra); pandas
itself is found through ``sys.modules``.
"""

from __future__ import annotations

import sys

import numpy as np

from numbadrop._core.validation import is_float_dtype
from numbadrop.backends import numpy as numpy_backend


def _pd():
    return sys.modules["pandas"]


def _dtype(x, name: str) -> np.dtype:
    """The one float NumPy dtype of ``x``'s values; TypeError naming the column otherwise."""
    if isinstance(x, _pd().Series):
        dtypes = [(x.name, x.dtype)]
    else:
        dtypes = list(x.dtypes.items())
    first = None
    for column, dtype in dtypes:
        if not isinstance(dtype, np.dtype) or not is_float_dtype(dtype):
            raise TypeError(
                f"{name} has column {column!r} of dtype {dtype}: numbadrop takes float16, float32 or float64 "
                "columns (convert it, or select the float columns: x.select_dtypes('floating'))"
            )
        if first is not None and dtype != first:
            raise TypeError(
                f"{name} has mixed column dtypes: column {column!r} is {dtype}, the first is {first} "
                f"(cast them to one: {name}.astype(...))"
            )
        first = dtype
    return first if first is not None else np.dtype(np.float64)


def check(x, name: str = "x"):
    """A ``Series`` or ``DataFrame`` whose columns all have one float dtype."""
    _dtype(x, name)
    return x


def dtype(x) -> np.dtype:
    """The one dtype of ``x``'s values (a ``DataFrame`` has ``dtypes``, not a ``dtype``)."""
    return _dtype(x, "x")


def check_inplace(x, name: str = "x") -> None:
    """pandas objects are written by assignment: nothing to check."""


def _values(x) -> np.ndarray:
    return x.to_numpy(dtype=dtype(x), copy=False)


def _wrap(x, y: np.ndarray):
    pd = _pd()
    if isinstance(x, pd.Series):
        return pd.Series(y, index=x.index, name=x.name, copy=False)
    return pd.DataFrame(y, index=x.index, columns=x.columns, copy=False)


def _assign(x, y: np.ndarray):
    """``x``'s values set to ``y`` by pandas' own assignment; returns ``x``."""
    if isinstance(x, _pd().Series):
        x.iloc[:] = y
    else:
        x.iloc[:, :] = y
    return x


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x``'s values, as a pandas object labelled as ``x`` (``x`` itself in place)."""
    y = numpy_backend.apply(_values(x), op, p, seed, offset, broadcast, False)
    return _assign(x, y) if inplace else _wrap(x, y)


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x``'s values assigned into the pandas object ``out``."""
    return _assign(out, numpy_backend.apply(_values(x), op, p, seed, offset, broadcast, False))


_NO_BLOCKS = "DropBlock needs an (N, C, H, W) or (N, C, D, H, W) array, not a pandas object"


def drop_block(x, state, eps: float, inplace: bool):  # pragma: no cover - the op's shape check comes first
    raise TypeError(_NO_BLOCKS)


def drop_block_apply(x, state, inplace: bool):  # pragma: no cover - the state's shape check comes first
    raise TypeError(_NO_BLOCKS)
