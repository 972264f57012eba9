"""NumPy functions written as compositions of recorded operations.

``rollaxis``, ``hsplit``/``vsplit``/``dsplit``, ``cross``, ``gradient``,
``nan_to_num``, ``select``, ``real_if_close``, ``trapezoid``, ``polyval``,
``ediff1d``, ``cumulative_sum``/``cumulative_prod``, ``matrix_transpose``,
``vecdot``/``matvec``/``vecmat``, ``ldexp``, and the ``np.linalg`` spellings
(``multi_dot``, ``matrix_power``, ``eigvalsh``, ``svdvals``, ``vector_norm``,
``matrix_norm``, ``outer``, ``trace``, ``diagonal``, ``tensordot``,
``matmul``, ``cross``, ``vecdot``, ``matrix_transpose``). Each is exact
because each step is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.ops import value
from numbadrop.autograd.registry import defun, defvjp

__all__: list[str] = []


def _rollaxis(a, axis, start=0):
    nd = np.ndim(value(a))
    perm = list(range(nd))
    axis = int(axis) % nd
    start = int(start) + nd if start < 0 else int(start)
    perm.remove(axis)
    perm.insert(start - 1 if start > axis else start, axis)
    return np.transpose(a, perm)


def _hsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, axis=1 if np.ndim(value(ary)) > 1 else 0)


def _vsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, axis=0)


def _dsplit(ary, indices_or_sections):
    return np.split(ary, indices_or_sections, axis=2)


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    na, nb = np.shape(value(a))[-1], np.shape(value(b))[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    if na == 2 and nb == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    zero = np.zeros(np.shape(value(a))[:-1])
    a0, a1, a2 = a[..., 0], a[..., 1], (a[..., 2] if na == 3 else zero)
    b0, b1, b2 = b[..., 0], b[..., 1], (b[..., 2] if nb == 3 else zero)
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


def _gradient(f, *varargs, axis=None, edge_order=1):
    nd = np.ndim(value(f))
    axes = list(range(nd)) if axis is None else [int(a) % nd for a in np.atleast_1d(axis)]
    if len(varargs) > 1 or (varargs and np.ndim(value(varargs[0])) != 0):
        raise TypeError("np.gradient of a recorded value takes one scalar spacing (coordinates are not supported)")
    dx = varargs[0] if varargs else 1.0
    out = []
    for ax in axes:
        lead = (slice(None),) * ax

        def s(start, stop=None, lead=lead):
            return f[(*lead, slice(start, stop))]

        inner = (s(2) - s(None, -2)) / (2 * dx)
        if edge_order == 1:
            first, last = (s(1, 2) - s(0, 1)) / dx, (s(-1) - s(-2, -1)) / dx
        else:
            first = (-1.5 * s(0, 1) + 2 * s(1, 2) - 0.5 * s(2, 3)) / dx
            last = (0.5 * s(-3, -2) - 2 * s(-2, -1) + 1.5 * s(-1)) / dx
        out.append(np.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    v = np.asarray(value(x))
    info = np.finfo(v.dtype)
    fill = np.where(np.isnan(v), nan, np.where(v > 0, info.max if posinf is None else posinf,
                                                info.min if neginf is None else neginf))  # fmt: skip
    return np.where(np.isfinite(v), x, fill)


def _select(condlist, choicelist, default=0):
    result = default
    for cond, choice in reversed(list(zip(condlist, choicelist, strict=True))):
        result = np.where(np.asarray(value(cond)), choice, result)
    return result * 1.0 if np.ndim(value(result)) == 0 else result


def _trapezoid(y, x=None, dx=1.0, axis=-1):
    nd = np.ndim(value(y))
    ax = int(axis) % nd
    lead = (slice(None),) * ax
    hi, lo = y[(*lead, slice(1, None))], y[(*lead, slice(None, -1))]
    if x is None:
        width = dx
    else:
        width = np.diff(x)
        if np.ndim(value(width)) == 1 and nd > 1:
            shape = [1] * nd
            shape[ax] = -1
            width = np.reshape(width, shape)
    return np.sum(width * (hi + lo) / 2.0, axis=ax)


def _polyval(p, x):
    y = np.zeros_like(value(x)) if np.ndim(value(p)) == 0 else p[0] * np.ones_like(value(x))
    for i in range(1, np.shape(value(p))[0]):
        y = y * x + p[i]
    return y


def _ediff1d(ary, to_end=None, to_begin=None):
    flat = np.ravel(ary)
    parts = [np.ravel(to_begin)] if to_begin is not None else []
    parts.append(flat[1:] - flat[:-1])
    if to_end is not None:
        parts.append(np.ravel(to_end))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _cumulative(scan: Any, name: str) -> Any:
    def impl(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        if axis is None:
            if np.ndim(value(x)) > 1:
                raise ValueError(f"{name}: axis must be given for arrays of more than one dimension")
            axis = 0
        y = scan(x, axis=axis, dtype=dtype, out=out)
        if include_initial:
            shape = list(np.shape(value(y)))
            shape[int(axis) % len(shape)] = 1
            start = np.zeros(shape) if scan is np.cumsum else np.ones(shape)
            y = np.concatenate([start, y], axis=axis)
        return y

    return impl


def _matrix_transpose(x, /):
    return np.swapaxes(x, -1, -2)


def _vecdot(x1, x2, /, *, axis=-1, **kwargs):
    return np.sum(x1 * x2, axis=axis)


def _matvec(x1, x2, /, **kwargs):
    return np.matmul(x1, x2[..., None])[..., 0]


def _vecmat(x1, x2, /, **kwargs):
    return np.matmul(x1[..., None, :], x2)[..., 0, :]


def _multi_dot(arrays, *, out=None):
    arrays = list(arrays)
    result = arrays[0]
    for a in arrays[1:]:
        result = np.dot(result, a)
    return result


def _matrix_power(a, n):
    if n == 0:
        return np.broadcast_to(np.eye(np.shape(value(a))[-1]), np.shape(value(a))) * 1.0
    base = np.linalg.inv(a) if n < 0 else a
    result = base
    for _ in range(abs(int(n)) - 1):
        result = np.matmul(result, base)
    return result


def _eigvalsh(a, UPLO="L"):
    return np.linalg.eigh(a, UPLO=UPLO)[0]


def _svdvals(x, /):
    return np.linalg.svd(x, compute_uv=False)


def _vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    if axis is None:
        y = np.linalg.norm(np.ravel(x), ord)
        return np.reshape(y, (1,) * np.ndim(value(x))) if keepdims else y
    if isinstance(axis, tuple) and len(axis) > 1:
        nd = np.ndim(value(x))
        axes = tuple(int(a) % nd for a in axis)
        rest = [i for i in range(nd) if i not in axes]
        moved = np.reshape(np.transpose(x, rest + list(axes)), [np.shape(value(x))[i] for i in rest] + [-1])
        y = np.linalg.norm(moved, ord, axis=-1)
        return np.expand_dims(y, axes) if keepdims else y
    return np.linalg.norm(x, ord, axis=axis, keepdims=keepdims)


def _matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return np.linalg.norm(x, ord, axis=(-2, -1), keepdims=keepdims)


for _func, _impl in (
    (np.rollaxis, _rollaxis), (np.hsplit, _hsplit), (np.vsplit, _vsplit), (np.dsplit, _dsplit),
    (np.cross, _cross), (np.gradient, _gradient), (np.nan_to_num, _nan_to_num), (np.select, _select),
    (np.real_if_close, lambda a, tol=100: a * 1.0), (np.polyval, _polyval), (np.ediff1d, _ediff1d),
    (np.linalg.multi_dot, _multi_dot), (np.linalg.matrix_power, _matrix_power), (np.linalg.eigvalsh, _eigvalsh),
    (np.linalg.outer, lambda x1, x2, /: np.outer(x1, x2)),
    (np.linalg.trace, lambda x, /, *, offset=0, dtype=None: np.trace(x, offset, -2, -1, dtype)),
    (np.linalg.diagonal, lambda x, /, *, offset=0: np.diagonal(x, offset, -2, -1)),
    (np.linalg.tensordot, lambda x1, x2, /, *, axes=2: np.tensordot(x1, x2, axes)),
    (np.linalg.matmul, lambda x1, x2, /: np.matmul(x1, x2)),
    (np.linalg.cross, lambda x1, x2, /, *, axis=-1: _cross(x1, x2, axis=axis)),
    (np.linalg.vecdot, _vecdot),
):  # fmt: skip
    defun(_func, _impl)
# Generalized ufuncs of NumPy >= 2: the dispatcher sends their calls here.
for _name, _impl in (("vecdot", _vecdot), ("matvec", _matvec), ("vecmat", _vecmat)):
    if hasattr(np, _name):
        _func = getattr(np, _name)
    defun(_func, _impl)
for _name, _impl in (
    ("trapezoid", _trapezoid), ("cumulative_sum", _cumulative(np.cumsum, "np.cumulative_sum")),
    ("cumulative_prod", _cumulative(np.cumprod, "np.cumulative_prod")), ("matrix_transpose", _matrix_transpose),
):  # fmt: skip
    if hasattr(np, _name):
        defun(getattr(np, _name), _impl)
for _name, _impl in (
    ("svdvals", _svdvals), ("vector_norm", _vector_norm), ("matrix_norm", _matrix_norm),
    ("matrix_transpose", _matrix_transpose),
):  # fmt: skip
    if hasattr(np.linalg, _name):
        defun(getattr(np.linalg, _name), _impl)
defvjp(np.ldexp, lambda g, ans, x, i: g * np.exp2(i), lambda g, ans, x, i: np.zeros(np.shape(i)), notes="x only")
