"""Shape changes, joins and splits, and the selections that move values around.

``reshape``/``ravel`` with any ``order``, ``transpose``, ``moveaxis``, joins
(``concatenate``, ``stack``, ``np.r_``...), ``split``, ``repeat``, ``tile``,
``roll``, ``flip``, ``rot90``, ``pad``, ``append``, ``take``,
``take_along_axis``, ``put_along_axis``, ``diag``, ``diagonal``, ``trace``,
``tril``/``triu``. Most are written with the recorded indexing of
:mod:`numbadrop.autograd.indexing`; the rest record a node with
:func:`~numbadrop.autograd.ops.apply`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.core import record, source
from numbadrop.autograd.graph import needs_input_grad
from numbadrop.autograd.indexing import getitem
from numbadrop.autograd.ops import apply, value
from numbadrop.autograd.reductions import no_out
from numbadrop.autograd.registry import defun, unbroadcast

__all__ = ["concatenate", "expand_dims"]


def _moved(name: str, a: Any, move: Any) -> Any:
    """Record ``y = move(x)`` for a ``move`` that only rearranges elements: the gradient is the inverse move.

    ``move`` is applied to the positions of ``x``'s elements too (an index array
    with ``x``'s memory layout, for ``order='A'``/``'K'``), so the gradient of
    every element goes back to where it came from, whatever the layout.
    """
    operand = source(a)
    x = np.asarray(operand[0])
    y = move(x)
    if operand[1] is None:
        return y
    ids = np.empty_like(x, dtype=np.intp)  # 1 + each element's position; 0 marks a padded, new element
    ids[...] = np.arange(1, x.size + 1, dtype=np.intp).reshape(x.shape)
    where = np.asarray(move(ids))
    shape, dtype = x.shape, x.dtype

    def backprop(g: np.ndarray) -> np.ndarray:
        out = np.zeros(int(np.prod(shape)) + 1, np.result_type(g, dtype))
        np.add.at(out, where.ravel(), np.ravel(g))
        return out[1:].reshape(shape).astype(dtype, copy=False)

    return record(name, y, (operand,), backprop)


def _reshaped(name: str, a: Any, y_of: Any) -> Any:
    """Record ``y = y_of(x)`` (C order, same elements): the gradient is reshaped back."""
    operand = source(a)
    x = np.asarray(operand[0])
    shape = x.shape
    return record(name, y_of(x), (operand,), lambda g: np.reshape(g, shape))


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if order == "C":
        return _reshaped("np.reshape", a, lambda x: np.reshape(x, shape, copy=copy))
    return _moved("np.reshape", a, lambda x: np.reshape(x, shape, order=order, copy=copy))


def _ravel(a, order="C"):
    if order == "C":
        return _reshaped("np.ravel", a, np.ravel)
    return _moved("np.ravel", a, lambda x: np.ravel(x, order))


def _squeeze(a, axis=None):
    return _reshaped("np.squeeze", a, lambda x: np.squeeze(x, axis))


def expand_dims(a: Any, axis: Any) -> Any:
    """Recorded ``np.expand_dims``."""
    return _reshaped("np.expand_dims", a, lambda x: np.expand_dims(x, axis))


def _atleast(n: int, *arys: Any) -> Any:
    fn = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[n]
    if len(arys) != 1:
        return tuple(_atleast(n, a) for a in arys)
    return _moved(f"np.atleast_{n}d", arys[0], fn) if n == 3 else _reshaped(f"np.atleast_{n}d", arys[0], fn)


def _transpose(a, axes=None):
    operand = source(a)
    x = np.asarray(operand[0])
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(int(i) % x.ndim for i in axes)
    inverse = tuple(np.argsort(perm))
    return record("np.transpose", x.transpose(perm), (operand,), lambda g: np.transpose(g, inverse))


def _swapaxes(a, axis1, axis2):
    return _moved("np.swapaxes", a, lambda x: np.swapaxes(x, axis1, axis2))


def _moveaxis(a, source, destination):
    return _moved("np.moveaxis", a, lambda x: np.moveaxis(x, source, destination))


def _broadcast_to(array, shape, subok=False):
    operand = source(array)
    x = np.asarray(operand[0])
    return record("np.broadcast_to", np.broadcast_to(x, shape), (operand,), lambda g: unbroadcast(g, x.shape, x.dtype))


def _copy(a, order="K", subok=False):
    operand = source(a)
    return record("np.copy", np.array(operand[0], order=order, copy=True), (operand,), lambda g: g)


# --- joins and splits ------------------------------------------------------------------
def concatenate(arrays: Any, axis: Any = 0, out: Any = None, dtype: Any = None, casting: str = "same_kind") -> Any:
    """Recorded ``np.concatenate`` (one array too)."""
    no_out("np.concatenate", out)
    arrays = list(arrays)
    if axis is None:
        return concatenate([np.ravel(a) for a in arrays], 0, dtype=dtype, casting=casting)
    operands = tuple(source(a) for a in arrays)
    values = [np.asarray(p) for p, _, _ in operands]
    y = np.concatenate(values, axis=axis, dtype=dtype, casting=casting)
    axis = int(axis) % y.ndim
    bounds = np.cumsum([v.shape[axis] for v in values])[:-1]
    dtypes = [v.dtype for v in values]

    def backprop(g: np.ndarray) -> Any:
        pieces = np.split(g, bounds, axis=axis)
        grads = tuple(
            p.astype(d, copy=False) if needs_input_grad(i) else None
            for i, (p, d) in enumerate(zip(pieces, dtypes, strict=True))
        )
        return grads[0] if len(grads) == 1 else grads

    return record("np.concatenate", y, operands, backprop)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    no_out("np.stack", out)
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    axis = int(axis) % (np.ndim(value(arrays[0])) + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis, dtype=dtype, casting=casting)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    return concatenate([_atleast(2, a) for a in tup], 0, dtype=dtype, casting=casting)


def _hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [_atleast(1, a) for a in tup]
    axis = 0 if np.ndim(value(arrays[0])) == 1 else 1
    return concatenate(arrays, axis, dtype=dtype, casting=casting)


def _dstack(tup):
    return concatenate([_atleast(3, a) for a in tup], 2)


def _column_stack(tup):
    cols = [a if np.ndim(value(a)) >= 2 else np.reshape(a, (-1, 1)) for a in tup]
    return concatenate(cols, 1)


def _split(ary, indices_or_sections, axis=0, *, _array_split: bool = False):
    x = np.asarray(value(ary))
    splitter = np.array_split if _array_split else np.split
    axis = int(axis) % x.ndim
    pieces = splitter(np.empty((x.shape[axis], 0)), indices_or_sections, axis=0)  # just the boundaries
    out, start = [], 0
    for piece in pieces:
        stop = start + piece.shape[0]
        out.append(getitem(ary, (slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return out


def _array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, _array_split=True)


# --- element moves: each result element is one input element (or a sum of them) -----------------
def _mover(name: str, fn: Any, first: str = "a") -> Any:
    """The rule of ``fn(a, ...)``, an element move; ``first`` is the name NumPy gives ``a`` (keyword calls)."""

    def impl(*args, **kwargs):
        a, rest = (args[0], args[1:]) if args else (kwargs.pop(first), ())
        return _moved(name, a, lambda x: fn(x, *rest, **kwargs))

    return impl


def _pad(array, pad_width, mode="constant", **kwargs):
    if mode not in ("constant", "edge", "reflect", "symmetric", "wrap") or kwargs.get("reflect_type", "even") != "even":
        raise TypeError(
            f"np.pad(mode={mode!r}, {kwargs}) of a recorded value is not differentiated (its padding is computed "
            "from the values): modes constant, edge, reflect, symmetric and wrap are"
        )
    if mode == "constant" and np.any(np.asarray(kwargs.get("constant_values", 0), dtype=object) != 0):
        values = np.asarray(kwargs["constant_values"], dtype=float)
        zero = _moved("np.pad", array, lambda x: np.pad(x, pad_width, mode="constant"))
        return zero + (np.pad(np.zeros(np.shape(value(array))), pad_width, mode="constant", constant_values=values))
    return _moved("np.pad", array, lambda x: np.pad(x, pad_width, mode=mode, **kwargs))


def _append(arr, values, axis=None):
    if axis is None:
        return concatenate([np.ravel(arr), np.ravel(values)], 0)
    return concatenate([arr, values], axis)


def _take(a, indices, axis=None, out=None, mode="raise"):
    no_out("np.take", out)
    return _moved("np.take", a, lambda x: np.take(x, value(indices), axis=axis, mode=mode))


def _take_along_axis(arr, indices, axis=-1):
    return _moved("np.take_along_axis", arr, lambda x: np.take_along_axis(x, value(indices), axis=axis))


def _put_along_axis(arr, indices, values, axis):
    raise TypeError(
        "np.put_along_axis writes into its argument, which numbadrop does not record on a recorded value: "
        "compute y = x.copy() under no_grad and use y[...] = v (recorded) instead"
    )


def _compress(condition, a, axis=None, out=None):
    no_out("np.compress", out)
    return _moved("np.compress", a, lambda x: np.compress(value(condition), x, axis=axis))


def _diag(v, k=0):
    if np.ndim(value(v)) == 2:
        return _moved("np.diag", v, lambda x: np.diag(x, k))
    operand = source(v)
    n = np.shape(operand[0])[0]
    return apply("np.diag", lambda x: np.diag(x, k), (v,), lambda g, y, x: (np.diagonal(g, k)[:n],))


def _tri(name: str, fn: Any) -> Any:
    def impl(m, k=0):
        mask = fn(np.ones(np.shape(value(m)), bool), k)
        return apply(name, lambda x: fn(x, k), (m,), lambda g, y, x: (np.where(mask, g, 0),))

    return impl


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    no_out("np.trace", out)
    return np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    def f(lo, hi):
        return np.linspace(lo, hi, num, endpoint=endpoint, dtype=dtype, axis=axis)

    def vjp(g, y, lo, hi):
        t = np.linspace(np.zeros(np.shape(lo)), np.ones(np.shape(hi)), num, endpoint=endpoint, axis=axis)
        if num == 1:
            t = np.zeros_like(t)
        ax = int(axis) % g.ndim
        return np.sum(g * (1 - t), axis=ax), np.sum(g * t, axis=ax)

    y = apply("np.linspace", f, (start, stop), vjp)
    if retstep:
        div = (num - 1) if endpoint else num
        return y, (stop - start) / div if div > 0 else np.nan
    return y


_MOVES = "the gradient of each element goes back to where it came from"
for _func, _impl, _notes in (
    (np.reshape, _reshape, "any order, 'A'/'K' included"), (np.ravel, _ravel, "any order"),
    (np.squeeze, _squeeze, ""), (np.expand_dims, expand_dims, ""),
    (np.atleast_1d, lambda *a: _atleast(1, *a), ""), (np.atleast_2d, lambda *a: _atleast(2, *a), ""),
    (np.atleast_3d, lambda *a: _atleast(3, *a), ""), (np.transpose, _transpose, ""),
    (np.swapaxes, _swapaxes, ""), (np.moveaxis, _moveaxis, ""), (np.broadcast_to, _broadcast_to, ""),
    (np.copy, _copy, ""), (np.concatenate, concatenate, "``np.r_`` and ``np.c_`` too"), (np.stack, _stack, ""),
    (np.vstack, _vstack, ""), (np.hstack, _hstack, ""), (np.dstack, _dstack, ""),
    (np.column_stack, _column_stack, ""), (np.split, _split, ""), (np.array_split, _array_split, ""),
    (np.repeat, _mover("np.repeat", np.repeat), _MOVES), (np.tile, _mover("np.tile", np.tile, "A"), _MOVES),
    (np.roll, _mover("np.roll", np.roll), ""), (np.flip, _mover("np.flip", np.flip, "m"), ""),
    (np.fliplr, _mover("np.fliplr", np.fliplr, "m"), ""), (np.flipud, _mover("np.flipud", np.flipud, "m"), ""),
    (np.rot90, _mover("np.rot90", np.rot90, "m"), ""),
    (np.pad, _pad, "modes constant, edge, reflect, symmetric, wrap; others refused"),
    (np.append, _append, ""), (np.take, _take, "repeated indices add up"),
    (np.take_along_axis, _take_along_axis, "repeated indices add up"),
    (np.put_along_axis, _put_along_axis, "refused: writes in place; use y[...] = v"),
    (np.compress, _compress, ""), (np.diagonal, _mover("np.diagonal", np.diagonal), ""),
    (np.diag, _diag, ""), (np.tril, _tri("np.tril", np.tril), ""), (np.triu, _tri("np.triu", np.triu), ""),
    (np.trace, _trace, ""), (np.linspace, _linspace, "recorded start/stop"),
):  # fmt: skip
    defun(_func, _impl, _notes)
