"""The vector-Jacobian products of NumPy's ufuncs, and ``where``, ``clip``, ``full_like``, ``sinc``.

One line per ufunc: ``defvjp(ufunc, vjp_arg0, vjp_arg1, ...)``, each
``vjp(g, ans, *args)`` returning the gradient for that argument before
broadcasting is undone (the dispatcher sums it back to the argument's shape
with :func:`~numbadrop.autograd.registry.unbroadcast`). Below them, the
functions whose results are constants. Reductions, shapes, products and
``np.linalg``, statistics: the sibling modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.core import record, source, wrap
from numbadrop.autograd.graph import needs_input_grad
from numbadrop.autograd.indexing import astype
from numbadrop.autograd.ops import apply, value
from numbadrop.autograd.reductions import no_out
from numbadrop.autograd.registry import CONSTANT_FUNCTIONS, NOTES, defun, defvjp, unbroadcast

# --- elementwise ufuncs --------------------------------------------------------------
# fmt: off
defvjp(np.add,          lambda g, ans, x, y: g, lambda g, ans, x, y: g, keep_inputs=False)
defvjp(np.subtract,     lambda g, ans, x, y: g, lambda g, ans, x, y: -g, keep_inputs=False)
defvjp(np.multiply,     lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defvjp(np.true_divide,  lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * x / (y * y))
defvjp(np.negative,     lambda g, ans, x: -g, keep_inputs=False)
defvjp(np.positive,     lambda g, ans, x: g, keep_inputs=False)
defvjp(np.square,       lambda g, ans, x: g * (2 * x))
defvjp(np.sqrt,         lambda g, ans, x: g / (2 * ans), keep_inputs=False, keep_output=True)
defvjp(np.reciprocal,   lambda g, ans, x: -g * (ans * ans), keep_inputs=False, keep_output=True)
defvjp(np.exp,          lambda g, ans, x: g * ans, keep_inputs=False, keep_output=True)
defvjp(np.expm1,        lambda g, ans, x: g * (ans + 1), keep_inputs=False, keep_output=True)
defvjp(np.log,          lambda g, ans, x: g / x)
defvjp(np.log1p,        lambda g, ans, x: g / (1 + x))
defvjp(np.log2,         lambda g, ans, x: g / (x * np.log(2)))
defvjp(np.log10,        lambda g, ans, x: g / (x * np.log(10)))
defvjp(np.tanh,         lambda g, ans, x: g * (1 - ans * ans), keep_inputs=False, keep_output=True)
defvjp(np.sin,          lambda g, ans, x: g * np.cos(x))
defvjp(np.cos,          lambda g, ans, x: -g * np.sin(x))
defvjp(np.absolute,     lambda g, ans, x: g * np.sign(x))
defvjp(np.maximum,      lambda g, ans, x, y: g * _pick(x, y), lambda g, ans, x, y: g * _pick(y, x))
defvjp(np.minimum,      lambda g, ans, x, y: g * _pick(y, x), lambda g, ans, x, y: g * _pick(x, y))
defvjp(np.power,        lambda g, ans, x, y: g * _dpow_base(x, y), lambda g, ans, x, y: g * _dpow_exp(x, y))
defvjp(np.matmul,       lambda g, ans, x, y: _matmul_vjp(g, x, y)[0], lambda g, ans, x, y: _matmul_vjp(g, x, y)[1])
defvjp(np.tan,          lambda g, ans, x: g * (1 + ans * ans), keep_inputs=False, keep_output=True)
defvjp(np.arcsin,       lambda g, ans, x: g / np.sqrt(1 - x * x))
defvjp(np.arccos,       lambda g, ans, x: -g / np.sqrt(1 - x * x))
defvjp(np.arctan,       lambda g, ans, x: g / (1 + x * x))
defvjp(np.sinh,         lambda g, ans, x: g * np.cosh(x))
defvjp(np.cosh,         lambda g, ans, x: g * np.sinh(x))
defvjp(np.arcsinh,      lambda g, ans, x: g / np.sqrt(x * x + 1))
defvjp(np.arccosh,      lambda g, ans, x: g / np.sqrt(x * x - 1))
defvjp(np.arctanh,      lambda g, ans, x: g / (1 - x * x))
defvjp(np.exp2,         lambda g, ans, x: g * ans * np.log(2), keep_inputs=False, keep_output=True)
defvjp(np.logaddexp,    lambda g, ans, x, y: g * np.exp(x - ans), lambda g, ans, x, y: g * np.exp(y - ans),
       keep_output=True)
defvjp(np.logaddexp2,   lambda g, ans, x, y: g * np.exp2(x - ans), lambda g, ans, x, y: g * np.exp2(y - ans),
       keep_output=True)
defvjp(np.arctan2,      lambda g, ans, y, x: g * x / (x * x + y * y), lambda g, ans, y, x: -g * y / (x * x + y * y))
defvjp(np.hypot,        lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans, keep_output=True)
defvjp(np.fmod,         lambda g, ans, x, y: g, lambda g, ans, x, y: -g * np.trunc(x / y),
       notes="jumps where x/y is an integer")
defvjp(np.remainder,    lambda g, ans, x, y: g, lambda g, ans, x, y: -g * np.floor(x / y),
       notes="np.mod; jumps where x/y is an integer")
defvjp(np.fabs,         lambda g, ans, x: g * np.sign(x), notes="gradient 0 at 0")
defvjp(np.deg2rad,      lambda g, ans, x: g * (np.pi / 180), keep_inputs=False)
defvjp(np.rad2deg,      lambda g, ans, x: g * (180 / np.pi), keep_inputs=False)
defvjp(np.radians,      lambda g, ans, x: g * (np.pi / 180), keep_inputs=False)
defvjp(np.degrees,      lambda g, ans, x: g * (180 / np.pi), keep_inputs=False)
defvjp(np.cbrt,         lambda g, ans, x: g / (3 * ans * ans), keep_inputs=False, keep_output=True)
defvjp(np.float_power,  lambda g, ans, x, y: g * _dpow_base(x, y), lambda g, ans, x, y: g * _dpow_exp(x, y))
defvjp(np.fmax,         lambda g, ans, x, y: g * _pick(x, y), lambda g, ans, x, y: g * _pick(y, x), notes="ties share")
defvjp(np.fmin,         lambda g, ans, x, y: g * _pick(y, x), lambda g, ans, x, y: g * _pick(x, y), notes="ties share")
defvjp(np.conjugate,    lambda g, ans, x: g, keep_inputs=False, notes="real values only")
defvjp(np.copysign,     lambda g, ans, x, y: g * np.sign(x) * np.sign(ans), lambda g, ans, x, y: np.zeros_like(g),
       keep_output=True, notes="the sign argument gets gradient 0")
# fmt: on
for _ufunc, _note in (
    (np.absolute, "gradient 0 at 0"),
    (np.maximum, "ties share the gradient (as torch)"),
    (np.minimum, "ties share the gradient (as torch)"),
    (np.power, "0**y: torch's limits"),
):
    NOTES[_ufunc] = _note
# Piecewise constant in their inputs: derivative zero wherever it exists.
CONSTANT_FUNCTIONS.update({np.floor, np.ceil, np.trunc, np.rint, np.sign, np.floor_divide, np.heaviside, np.spacing})


def _pick(x: Any, y: Any) -> np.ndarray:
    """Share of the gradient of ``maximum(x, y)`` that goes to ``x``: 1, 0, or 1/2 on ties (as torch)."""
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))


def _dpow_base(x: Any, y: Any) -> np.ndarray:
    return np.where(np.asarray(y) == 0, 0.0, y * np.power(x, y - 1))


def _dpow_exp(x: Any, y: Any) -> np.ndarray:
    # torch's rule: 0 where x == 0 and y >= 0 (the limit), otherwise x**y * log(x).
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.power(x, y) * np.log(x)
    return np.where((np.asarray(x) == 0) & (np.asarray(y) >= 0), 0.0, value)


def _matmul_vjp(g: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``x @ y``; 1-D operands are promoted as matmul does, then the added axis dropped."""
    x2 = x[np.newaxis, :] if x.ndim == 1 else x
    y2 = y[:, np.newaxis] if y.ndim == 1 else y
    g2 = g
    if y.ndim == 1:
        g2 = g2[..., np.newaxis]
    if x.ndim == 1:
        g2 = np.expand_dims(g2, -2)
    gx = g2 @ np.swapaxes(y2, -1, -2)
    gy = np.swapaxes(x2, -1, -2) @ g2
    if x.ndim == 1:
        gx = gx[..., 0, :]
    if y.ndim == 1:
        gy = gy[..., :, 0]
    return gx, gy


# --- selection, clipping, filling -------------------------------------------------------------
def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.where(np.asarray(value(condition)))
    cond = np.asarray(value(condition)).astype(bool)
    operands = (source(x), source(y))
    (xv, _, _), (yv, _, _) = operands
    result = np.where(cond, xv, yv)
    shapes = [np.shape(xv), np.shape(yv)]
    dtypes = [getattr(xv, "dtype", None), getattr(yv, "dtype", None)]

    def backprop(g: np.ndarray) -> tuple:
        return (
            unbroadcast(np.where(cond, g, 0), shapes[0], dtypes[0]) if needs_input_grad(0) else None,
            unbroadcast(np.where(cond, 0, g), shapes[1], dtypes[1]) if needs_input_grad(1) else None,
        )

    return record("np.where", result, operands, backprop)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kwargs):
    """``np.clip`` is ``minimum(maximum(a, a_min), a_max)``: with ``a_min > a_max`` the result is ``a_max``."""
    no_out("np.clip", out, **kwargs)
    a_min = None if a_min is np._NoValue else a_min
    a_max = None if a_max is np._NoValue else a_max
    a_min = a_min if min is np._NoValue else min
    a_max = a_max if max is np._NoValue else max
    operands = (source(a), source(a_min), source(a_max))
    x, lo, hi = (p for p, _, _ in operands)
    result = np.clip(x, lo, hi)
    below = np.zeros(np.shape(x), bool) if lo is None else x < lo
    raised = x if lo is None else np.maximum(x, lo)
    above = np.zeros(np.shape(x), bool) if hi is None else raised > hi
    masks = (~(below | above), below & ~above, above)
    shapes = [np.shape(v) for v in (x, lo, hi)]
    dtypes = [getattr(v, "dtype", None) for v in (x, lo, hi)]

    def backprop(g: np.ndarray) -> tuple:
        return tuple(
            unbroadcast(g * m, s, d) if needs_input_grad(i) else None
            for i, (m, s, d) in enumerate(zip(masks, shapes, dtypes, strict=True))
        )

    return record("np.clip", result, operands, backprop)


def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    def f(x, s):
        return np.full_like(x, s, dtype=dtype, order=order, subok=False, shape=shape)

    if source(fill_value)[1] is None:  # a buffer to fill (out = np.full_like(h, 0); out[i] = ...): writes recorded
        return wrap(f(value(a), value(fill_value)), None)
    return apply("np.full_like", f, (value(a), fill_value), lambda g, y, x, s: (None, g))


def _sinc(x):
    def vjp(g, y, v):
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(v == 0, 0.0, (np.cos(np.pi * v) - y) / v)
        return (g * d,)

    return apply("np.sinc", np.sinc, (x,), vjp, reads_output=True)


def _real(val):
    if np.iscomplexobj(value(val)):
        raise TypeError("np.real of a recorded complex value is not differentiated (complex values are not)")
    return val


def _astype_function(x, dtype, /, *, copy=True, device=None):
    return astype(x, np.dtype(dtype), copy=copy)


for _func, _impl, _notes in (
    (np.where, _where, "the condition is a constant"),
    (np.clip, _clip, "a_min > a_max gives a_max (NumPy's order); at the bounds the gradient goes to x"),
    (np.full_like, _full_like, "recorded fill value; the values of the first argument are not used"),
    (np.sinc, _sinc, ""), (np.real, _real, "real values"),
):  # fmt: skip
    defun(_func, _impl, _notes)
if hasattr(np, "astype"):  # NumPy >= 2.1
    defun(np.astype, _astype_function)
# Results that are constants of the values (zero derivative wherever it exists) or that carry no values
# of their input (its shape only).
CONSTANT_FUNCTIONS.update(
    {np.round, np.around, np.fix, np.digitize, np.searchsorted, np.count_nonzero, np.imag}
    | {np.zeros_like, np.ones_like, np.empty_like}
)
