"""The xarray backend: a ``DataArray`` in, a ``DataArray`` out, with the same dims, coords, attrs and name.

A ``DataArray`` is a container: the work is done by the backend of the array
it holds (``DataArray.data``): NumPy through the CPU kernels, Dask lazily
(the result stays a lazy, Dask-backed ``DataArray``, bit-identical to the
NumPy call), CuPy on its GPU. The result is ``x.copy(data=y)``: xarray's own
way of keeping everything but the values. In place and ``out=`` follow the
data's rules (a NumPy-backed ``DataArray`` is written, a Dask-backed one
refuses). A ``Dataset`` holds several arrays that may differ in dtype and
shape: it is a TypeError that says to map over its variables.

Imported when the first xarray object arrives (the ``xarray`` extra); xarray
itself is never imported here: the object's own methods are used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from numbadrop._core.arrays import is_dask, is_gpu_array
from numbadrop.backends import numpy as numpy_backend


def _inner(data: object) -> ModuleType:
    """The backend of the array a ``DataArray`` holds."""
    if is_dask(data):
        return importlib.import_module("numbadrop.backends.dask")
    if is_gpu_array(data):
        return importlib.import_module("numbadrop.backends.cuda_array")
    return numpy_backend


def check(x, name: str = "x"):
    """A ``DataArray`` whose data its own backend accepts; a ``Dataset`` is a TypeError."""
    if not hasattr(x, "variable"):  # a Dataset (DataArray has .variable, Dataset has .variables)
        raise TypeError(
            f"{name} is an xarray.Dataset: numbadrop takes one DataArray at a time; apply it per variable, "
            f"e.g. {name}.map(lambda v: numbadrop.dropout(v, p, rng=...))"
        )
    backend = _inner(x.data)
    if backend is numpy_backend and not isinstance(x.data, np.ndarray):
        raise TypeError(f"{name} is a DataArray of {type(x.data).__module__}.{type(x.data).__name__}, not of an array")
    backend.check(x.data, name)
    return x


def check_inplace(x, name: str = "x") -> None:
    """The data's rule: a writeable NumPy array can be written; Dask data cannot."""
    _inner(x.data).check_inplace(x.data, name)


def _wrap(x, y):
    return x.copy(deep=False, data=y)


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x``'s data, as a ``DataArray`` labelled as ``x`` (``x`` itself in place)."""
    y = _inner(x.data).apply(x.data, op, p, seed, offset, broadcast, inplace)
    return x if inplace else _wrap(x, y)


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x``'s data written into the ``DataArray`` ``out``'s data."""
    backend = _inner(x.data)
    if _inner(out.data) is not backend or not hasattr(backend, "apply_into"):
        raise TypeError(f"out= needs a DataArray holding the same kind of array as the input's ({type(x.data)})")
    backend.apply_into(x.data, op, p, seed, offset, broadcast, out.data)
    return out


def drop_block(x, state, eps: float, inplace: bool):
    """DropBlock's forward of ``x``'s data: ``(DataArray, scale)``."""
    y, scale = _inner(x.data).drop_block(x.data, state, eps, inplace)
    return (x if inplace else _wrap(x, y)), scale


def drop_block_apply(x, state, inplace: bool):
    """DropBlock's mask applied to ``x``'s data with a known scale (the backward)."""
    y = _inner(x.data).drop_block_apply(x.data, state, inplace)
    return x if inplace else _wrap(x, y)
