"""One helper the rule modules share: record ``y = f(arrays)`` with a vector-Jacobian product.

``apply(name, f, arrays, vjp)`` computes ``f`` on the plain values of its
array arguments and records one node whose backward is ``vjp(g, y, *values)``
(a tuple, one gradient per array, ``None`` where there is none). The
gradients are summed back to each operand's shape and cast to its dtype,
and only the ones the backward needs are kept. This is HIPS autograd's
``defvjp`` for a NumPy function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from numbadrop.autograd.core import is_float_value, record, source
from numbadrop.autograd.graph import needs_input_grad
from numbadrop.autograd.registry import unbroadcast

__all__ = ["apply", "axes_of", "expand", "value"]


def apply(
    name: str,
    f: Callable[..., Any],
    arrays: Sequence[Any],
    vjp: Callable[..., Any],
    *,
    reads_output: bool = False,
) -> Any:
    """Record ``y = f(*values)`` where ``values`` are the plain values of ``arrays``.

    Parameters
    ----------
    name : str
        The operation's name in messages (``np.cumsum``).
    f : callable
        Computes the result from the plain values.
    arrays : sequence
        The differentiable arguments (Tensors, Parameters or constants).
    vjp : callable
        ``vjp(g, y, *values)`` -> one gradient per array (a tuple, even for one array).
    reads_output : bool
        The product reads ``y``: an in-place change of ``y`` before the backward then raises.
    """
    operands = tuple(source(a) for a in arrays)
    values = tuple(p for p, _, _ in operands)
    y = f(*values)
    if all(node is None for _, node, _ in operands) or not is_float_value(y):
        return y
    y = np.asarray(y)
    shapes = tuple(np.shape(v) for v in values)
    dtypes = tuple(getattr(v, "dtype", None) for v in values)
    wanted = tuple(node is not None for _, node, _ in operands)

    def backprop(g: np.ndarray) -> Any:
        grads = vjp(g, y, *values)
        out = tuple(
            unbroadcast(np.asarray(gi), shape, dtype) if (want and gi is not None and needs_input_grad(i)) else None
            for i, (gi, shape, dtype, want) in enumerate(zip(grads, shapes, dtypes, wanted, strict=True))
        )
        return out[0] if len(out) == 1 else out

    keep = tuple(i for i, (_, _, box) in enumerate(operands) if box is not None)
    return record(name, y, operands, backprop, keep=keep, keep_output=reads_output, holders=tuple(arrays))


def value(a: Any) -> Any:
    """The plain values of an operand (a Tensor's data, a Parameter's ``.data``, anything else as it is)."""
    return source(a)[0]


def axes_of(axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(int(a) % max(ndim, 1) for a in axes)


def expand(g: Any, ndim: int, axis: Any, keepdims: bool) -> np.ndarray:
    """The gradient of a reduction over ``axis`` with the reduced axes put back (length 1)."""
    g = np.asarray(g)
    return g if keepdims else np.expand_dims(g, axes_of(axis, ndim))
