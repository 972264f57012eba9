"""The GPU backend: arrays exposing ``__cuda_array_interface__``.

The result is the same kind of array on the same device (see
:mod:`numbadrop._backend`); the kernels are :mod:`numbadrop._cuda`'s,
reached through :func:`numbadrop._engine.launch`.
"""

from __future__ import annotations

import numpy as np

from numbadrop import _backend, _engine
from numbadrop._validation import FLOAT_DTYPES, dtype_error


def check(x: object, name: str = "x") -> object:
    """A float16/32/64 GPU array; ImportError saying what to install without numba-cuda."""
    _backend.require_cuda()
    dtype = _backend.dtype_of(x)
    if dtype not in FLOAT_DTYPES:
        raise dtype_error(name, dtype)
    return x


def check_inplace(x: object, name: str = "x") -> None:
    if _backend.is_readonly(x):
        raise ValueError(f"inplace=True needs a writeable array, but {name} is read-only")


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` (see :mod:`numbadrop._dispatch`)."""
    shape = tuple(x.shape)
    y = x if inplace else _backend.empty(x, shape, _backend.dtype_of(x))
    if op == "zero":
        _engine.launch(y, y, "zero", 1.0, 0, 0, _engine.mask_strides(shape, ()))
    else:
        _engine.launch(x, y, op, p, seed, offset, _engine.mask_strides(shape, broadcast))
    return y


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x`` written into the GPU array ``out`` (``x``'s shape and dtype)."""
    shape = tuple(x.shape)
    if op == "zero":
        _engine.launch(out, out, "zero", 1.0, 0, 0, _engine.mask_strides(shape, ()))
    else:
        _engine.launch(x, out, op, p, seed, offset, _engine.mask_strides(shape, broadcast))
    return out


def mask(shape: tuple[int, ...], broadcast: tuple[int, ...], p: float, seed: int, offset: int, device=None):
    """The keep-mask on the GPU ``device`` names (p = 0 and 1 need no special case)."""
    out_shape = _engine.mask_shape(shape, broadcast)
    keep = _backend.empty_on(device, out_shape, np.bool_)
    _engine.launch(keep, keep, "mask", p, seed, offset, _engine.mask_strides(out_shape, ()))
    return keep
