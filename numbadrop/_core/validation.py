"""Checks at the door: every public function validates here, kernels never do."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def check_p(p: object, name: str = "p") -> float:
    """Return ``p`` as a float in [0, 1]; TypeError/ValueError otherwise."""
    if type(p) is float and 0.0 <= p <= 1.0:  # the usual call, without the ABC checks below
        return p
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {p!r} ({type(p).__name__})")
    value = float(p)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    return value


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` as a bool; only ``bool`` and ``numpy.bool_`` pass."""
    if value is True or value is False:
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def is_bfloat16(dtype: np.dtype) -> bool:
    """True for ``ml_dtypes.bfloat16`` (recognised without importing ml_dtypes)."""
    return dtype.kind == "V" and dtype.itemsize == 2 and dtype.name == "bfloat16"


def is_float_dtype(dtype: np.dtype) -> bool:
    """float16, float32, float64 (either byte order) or bfloat16."""
    return (dtype.kind == "f" and dtype.newbyteorder("=") in FLOAT_DTYPES) or is_bfloat16(dtype)


def dtype_error(name: str, dtype: object) -> TypeError:
    return TypeError(f"{name} must have dtype float16, float32 or float64, got dtype {dtype} (bfloat16 works too)")


def check_float_array(x: object, name: str = "x") -> np.ndarray:
    """Return ``x`` as a NumPy float16/32/64 or bfloat16 array (array-likes are converted).

    This is the one place that says which NumPy arrays the NumPy backend
    (:mod:`numbadrop._host`) takes: every ``ndarray`` subclass is accepted
    (a ``MaskedArray`` keeps its mask, others are computed on their data and
    wrapped back by their ``__array_wrap__``), in either byte order.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # e.g. ragged nested lists
            raise TypeError(f"{name} must be an array of floats, got {type(x).__name__}") from exc
    if not is_float_dtype(x.dtype):
        raise dtype_error(name, x.dtype)
    return x


def check_writeable(x: np.ndarray, name: str = "x") -> None:
    """In-place operation needs a writeable NumPy array."""
    if not x.flags.writeable:
        raise ValueError(f"inplace=True needs a writeable array, but {name} is read-only")


def normalize_axes(axes: object, ndim: int, name: str = "broadcast_dims") -> tuple[int, ...]:
    """Turn an axis or axes (negative allowed) into a sorted tuple of distinct axes."""
    if type(axes) is tuple and not axes:
        return ()
    if isinstance(axes, numbers.Integral) and not isinstance(axes, (bool, np.bool_)):
        axes = (axes,)
    if not isinstance(axes, Iterable) or isinstance(axes, (str, bytes)):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {axes!r}")
    axes = tuple(axes)
    result = []
    for axis in axes:
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"{name} must contain ints, got {axes!r}")
        if not -ndim <= axis < ndim:
            raise ValueError(f"{name} axis {axis} is out of range for an array of {ndim} dimensions")
        result.append(int(axis) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{name} has repeated axes: {axes!r}")
    return tuple(sorted(result))


def check_same_shape(grad: object, shape: tuple[int, ...], name: str = "grad") -> None:
    """A backward gradient has the forward input's shape."""
    if tuple(grad.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(grad.shape)}, expected {tuple(shape)}")


def check_grad(grad: object, shape: tuple[int, ...], name: str = "grad") -> np.ndarray:
    """A NumPy backward gradient: a float array of the forward input's shape.

    (``DropoutState.backward`` checks gradients of every kind through their
    backend and :func:`check_same_shape`; this is the NumPy-only form.)
    """
    grad = check_float_array(grad, name)
    check_same_shape(grad, shape, name)
    return grad
