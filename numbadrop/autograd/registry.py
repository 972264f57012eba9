"""Tables of what the graph knows how to differentiate, and the one ``unbroadcast`` helper.

:mod:`numbadrop.autograd.vjps` fills these tables, one line per NumPy
operation; :mod:`numbadrop.autograd.tensor` looks them up. An operation on a
recorded value that is in none of them raises ``TypeError`` unless its result
carries no gradient (booleans, integers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "CONSTANT_FUNCTIONS", "FUNCTIONS", "NOTES", "REDUCTIONS", "REFUSED", "UFUNCS", "UfuncRule", "defun", "defvjp",
    "refuse", "unbroadcast",
]  # fmt: skip

Vjp = Callable[..., Any]


@dataclass(frozen=True)
class UfuncRule:
    """Vector-Jacobian products of one ufunc, one per argument: ``vjp(g, ans, *args)``.

    ``keep_inputs`` / ``keep_output`` say whether the products read the
    arguments / the result (only then are they kept alive for the backward).
    """

    vjps: tuple[Vjp, ...]
    keep_inputs: bool
    keep_output: bool


#: ufunc -> its rule for ``ufunc(*args)``.
UFUNCS: dict[np.ufunc, UfuncRule] = {}
#: ufunc -> ``(vjp(g, ans, x, axis, keepdims), reads the values)`` for ``ufunc.reduce(x, axis, keepdims=...)``;
#: a product that reads only ``x.shape`` gets a stand-in of that shape, not the values.
REDUCTIONS: dict[np.ufunc, tuple[Vjp, bool]] = {}
#: NumPy function -> an implementation built from recorded operations.
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {}
#: Functions and ufuncs whose result is a constant of the inputs' values
#: (derivative zero wherever it exists): their results are not recorded.
CONSTANT_FUNCTIONS: set[Any] = set()


#: Function or ufunc -> what the table of the documentation says of it (ties, kinks, what is refused).
NOTES: dict[Any, str] = {}
#: Functions refused on a recorded value with a reason (the generic message covers the others).
REFUSED: dict[Any, str] = {}


def defvjp(ufunc: np.ufunc, *vjps: Vjp, keep_inputs: bool = True, keep_output: bool = False, notes: str = "") -> None:
    """Register the vector-Jacobian products of ``ufunc``, one per argument."""
    if len(vjps) != ufunc.nin:
        raise ValueError(f"{ufunc.__name__} takes {ufunc.nin} arguments, got {len(vjps)} products")
    UFUNCS[ufunc] = UfuncRule(vjps, keep_inputs, keep_output)
    if notes:
        NOTES[ufunc] = notes


def defun(func: Callable[..., Any], impl: Callable[..., Any], notes: str = "") -> None:
    """Register ``impl`` (built from recorded operations, or recording its own node) for the NumPy ``func``."""
    FUNCTIONS[func] = impl
    if notes:
        NOTES[func] = notes


def refuse(func: Callable[..., Any], why: str) -> None:
    """Record why ``func`` of a recorded value raises (its ``TypeError`` and the documentation say it)."""
    REFUSED[func] = why


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...], dtype: np.dtype | None = None) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    Parameters
    ----------
    grad : numpy.ndarray
        Gradient of a result of a broadcasting operation.
    shape : tuple of int
        Shape of the operand the gradient is for.
    dtype : numpy dtype, optional
        The operand's dtype: the result is cast to it.

    Examples
    --------
    >>> import numpy as np
    >>> unbroadcast(np.ones((4, 3)), (3,))
    array([4., 4., 4.])
    >>> unbroadcast(np.ones((4, 3)), (4, 1)).shape
    (4, 1)
    """
    grad = np.asarray(grad)
    if grad.shape != shape:
        if grad.ndim < len(shape):  # NumPy also drops leading length-1 axes of an assigned value
            grad = grad.reshape((1,) * (len(shape) - grad.ndim) + grad.shape)
        extra = grad.ndim - len(shape)
        if extra > 0:
            grad = grad.sum(axis=tuple(range(extra)))
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if stretched:
            grad = grad.sum(axis=stretched, keepdims=True)
        if grad.shape != shape:  # a scalar operand of a 0-d result, or a size-0 broadcast
            grad = np.broadcast_to(grad, shape).copy()
    if dtype is not None and grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad
