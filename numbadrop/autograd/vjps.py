"""The vector-Jacobian products of the NumPy operations numbadrop differentiates.

One line per ufunc: ``defvjp(ufunc, vjp_arg0, vjp_arg1, ...)``, each
``vjp(g, ans, *args)`` returning the gradient for that argument before
broadcasting is undone (the dispatcher sums it back to the argument's shape
with :func:`~numbadrop.autograd.registry.unbroadcast`). Below them, NumPy
functions written with recorded operations (shape changes, joins and splits,
reductions, ``where``, ``clip``, ``dot``), and the functions whose results
are constants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.graph import needs_input_grad
from numbadrop.autograd.registry import CONSTANT_FUNCTIONS, FUNCTIONS, REDUCTIONS, defvjp, unbroadcast
from numbadrop.autograd.tensor import astype, getitem, record, source

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
# fmt: on
CONSTANT_FUNCTIONS.update({np.floor, np.ceil, np.trunc, np.rint, np.sign})


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


# --- reductions ---------------------------------------------------------------------
def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(int(a) % ndim for a in axes)


def _expand(g: np.ndarray, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return g if keepdims else np.expand_dims(g, _axes(axis, x.ndim))


def _sum_vjp(g: np.ndarray, ans: Any, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.broadcast_to(_expand(g, x, axis, keepdims), x.shape).copy()


def _extremum_vjp(g: np.ndarray, ans: Any, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    hit = x == _expand(np.asarray(ans), x, axis, keepdims)
    share = hit / hit.sum(axis=_axes(axis, x.ndim), keepdims=True)
    return _expand(g, x, axis, keepdims) * share


REDUCTIONS.update({np.add: (_sum_vjp, False), np.maximum: (_extremum_vjp, True), np.minimum: (_extremum_vjp, True)})


def _no_out(name: str, out: Any = None, **unsupported: Any) -> None:
    given = sorted(k for k, v in unsupported.items() if v is not None)
    if out is not None or given:
        raise TypeError(
            f"np.{name} of a recorded value supports no {['out', *given] if out is not None else given} argument: "
            "compute a new array instead (or do it under numbadrop.no_grad() if no gradient should flow)"
        )


def _reduce(ufunc: np.ufunc, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    kwargs = {"axis": axis, "keepdims": keepdims}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return ufunc.reduce(a, **kwargs)


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("sum", out, initial=initial, where=where)
    return _reduce(np.add, a, axis, keepdims, dtype)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_out("mean", out, where=where)
    shape = np.shape(source(a)[0])
    count = int(np.prod([shape[i] for i in _axes(axis, len(shape))]))
    total = _reduce(np.add, a, axis, keepdims, dtype)
    return total / count


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    _no_out("var", out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    centred = a - _mean(a, axis, dtype, keepdims=True)
    shape = np.shape(source(a)[0])
    count = int(np.prod([shape[i] for i in _axes(axis, len(shape))]))
    return _sum(centred * centred, axis, keepdims=keepdims) / max(count - ddof, 0)


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    return np.sqrt(_var(a, axis, dtype, out, ddof, keepdims, where, mean, correction))


def _max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("max", out, initial=initial, where=where)
    return _reduce(np.maximum, a, axis, keepdims)


def _min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out("min", out, initial=initial, where=where)
    return _reduce(np.minimum, a, axis, keepdims)


# --- shape changes (views where NumPy makes views) ------------------------------------------
def _reshaped(name: str, a: Any, y_of: Any, back: Any) -> Any:
    """Record ``y = y_of(x)`` whose gradient is ``back(g, x_shape)``."""
    operand = source(a)
    x = np.asarray(operand[0])
    shape = x.shape
    return record(name, y_of(x), (operand,), lambda g: back(g, shape))


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    return _reshaped("reshape", a, lambda x: np.reshape(x, shape, order=order), lambda g, s: g.reshape(s, order=order))


def _ravel(a, order="C"):
    return _reshaped("ravel", a, lambda x: np.ravel(x, order), lambda g, s: g.reshape(s, order=order))


def _squeeze(a, axis=None):
    return _reshaped("squeeze", a, lambda x: np.squeeze(x, axis), lambda g, s: g.reshape(s))


def _expand_dims(a, axis):
    return _reshaped("expand_dims", a, lambda x: np.expand_dims(x, axis), lambda g, s: g.reshape(s))


def _atleast(n: int, a: Any) -> Any:
    fn = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[n]
    return _reshaped(f"atleast_{n}d", a, fn, lambda g, s: g.reshape(s))


def _transpose(a, axes=None):
    operand = source(a)
    x = np.asarray(operand[0])
    perm = tuple(range(x.ndim))[::-1] if axes is None else tuple(int(i) % x.ndim for i in axes)
    inverse = tuple(np.argsort(perm))
    return record("transpose", x.transpose(perm), (operand,), lambda g: g.transpose(inverse))


def _swapaxes(a, axis1, axis2):
    return _reshaped("swapaxes", a, lambda x: np.swapaxes(x, axis1, axis2), lambda g, s: np.swapaxes(g, axis1, axis2))


def _moveaxis(a, source_axes, destination):
    return _reshaped(
        "moveaxis",
        a,
        lambda x: np.moveaxis(x, source_axes, destination),
        lambda g, s: np.moveaxis(g, destination, source_axes),
    )


def _broadcast_to(array, shape, subok=False):
    operand = source(array)
    x = np.asarray(operand[0])
    return record("broadcast_to", np.broadcast_to(x, shape), (operand,), lambda g: unbroadcast(g, x.shape, x.dtype))


def _copy(a, order="K", subok=False):
    operand = source(a)
    return record("copy", np.array(operand[0], order=order, copy=True), (operand,), lambda g: g)


# --- joins and splits ------------------------------------------------------------------
def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out("concatenate", out)
    operands = tuple(source(a) for a in arrays)
    values = [np.asarray(p) for p, _, _ in operands]
    if axis is None:
        return _concatenate([np.ravel(a) for a in arrays], 0, dtype=dtype, casting=casting)
    y = np.concatenate(values, axis=axis, dtype=dtype, casting=casting)
    axis = int(axis) % y.ndim
    bounds = np.cumsum([v.shape[axis] for v in values])[:-1]
    dtypes = [v.dtype for v in values]

    def backprop(g: np.ndarray) -> tuple:
        pieces = np.split(g, bounds, axis=axis)
        return tuple(
            p.astype(d, copy=False) if needs_input_grad(i) else None
            for i, (p, d) in enumerate(zip(pieces, dtypes, strict=True))
        )

    return record("concatenate", y, operands, backprop)


def _stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out("stack", out)
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    ndim = np.ndim(source(arrays[0])[0]) + 1
    axis = int(axis) % ndim
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis, dtype=dtype, casting=casting)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    return _concatenate([_atleast(2, a) for a in tup], 0, dtype=dtype, casting=casting)


def _hstack(tup, *, dtype=None, casting="same_kind"):
    arrays = [_atleast(1, a) for a in tup]
    axis = 0 if np.ndim(source(arrays[0])[0]) == 1 else 1
    return _concatenate(arrays, axis, dtype=dtype, casting=casting)


def _split(ary, indices_or_sections, axis=0, *, _array_split: bool = False):
    x = np.asarray(source(ary)[0])
    splitter = np.array_split if _array_split else np.split
    pieces = splitter(np.empty((x.shape[axis], 0)), indices_or_sections, axis=0)  # just the boundaries
    axis = int(axis) % x.ndim
    out, start = [], 0
    for piece in pieces:
        stop = start + piece.shape[0]
        out.append(getitem(ary, (slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return out


def _array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, _array_split=True)


# --- selection, clipping, products ------------------------------------------------------
def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.where(np.asarray(source(condition)[0]))
    cond = np.asarray(source(condition)[0]).astype(bool)
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

    return record("where", result, operands, backprop)


def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    _no_out("clip", out, **kwargs)
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    operands = (source(a), source(a_min), source(a_max))
    x, lo, hi = (p for p, _, _ in operands)
    result = np.clip(x, lo, hi)
    below = np.zeros(np.shape(x), bool) if lo is None else x < lo
    above = np.zeros(np.shape(x), bool) if hi is None else x > hi
    inside = ~(below | above)
    shapes = [np.shape(v) for v in (x, lo, hi)]
    dtypes = [getattr(v, "dtype", None) for v in (x, lo, hi)]

    def backprop(g: np.ndarray) -> tuple:
        masks = (inside, below & ~above, above)
        return tuple(
            unbroadcast(g * m, s, d) if needs_input_grad(i) else None
            for i, (m, s, d) in enumerate(zip(masks, shapes, dtypes, strict=True))
        )

    return record("clip", result, operands, backprop)


def _dot(a, b, out=None):
    _no_out("dot", out)
    na, nb = np.ndim(source(a)[0]), np.ndim(source(b)[0])
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na <= 2 and nb <= 2:
        return np.matmul(a, b)
    raise TypeError(
        f"np.dot of recorded values is differentiated for operands of at most 2 dimensions, got {na} and {nb}: "
        "use np.matmul (@), which broadcasts batch axes"
    )


def _norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm`` for the 2-norm / Frobenius norm; gradient 0 at the zero vector, as in torch."""
    operand = source(x)
    ndim = np.ndim(operand[0])
    vector = isinstance(axis, (int, np.integer)) or (axis is None and ndim == 1)
    if not (ord is None or (ord == 2 and vector) or (ord == "fro" and not vector)):
        raise TypeError(
            f"np.linalg.norm(ord={ord!r}, axis={axis!r}) of a recorded value has no gradient rule in numbadrop "
            "(the Euclidean / Frobenius norm has: ord=None). Wrap it in numbadrop.no_grad() or apply it to "
            "x.detach() if no gradient should flow through it, or define it with numbadrop.autograd.primitive."
        )
    value = np.asarray(operand[0])
    y = np.sqrt(np.sum(value * value, axis=axis, keepdims=keepdims))

    def backprop(g: np.ndarray) -> np.ndarray:
        norm = _expand(np.asarray(y), value, axis, keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(norm == 0, 0.0, value / norm)
        return (_expand(g, value, axis, keepdims) * share).astype(value.dtype, copy=False)

    return record("norm", y, (operand,), backprop, keep=(0,), keep_output=True, holders=(x,))


def _astype_function(x, dtype, /, *, copy=True, device=None):
    return astype(x, np.dtype(dtype), copy=copy)


FUNCTIONS.update(
    {
        np.sum: _sum,
        np.mean: _mean,
        np.var: _var,
        np.std: _std,
        np.max: _max,
        np.amax: _max,
        np.min: _min,
        np.amin: _min,
        np.reshape: _reshape,
        np.ravel: _ravel,
        np.squeeze: _squeeze,
        np.expand_dims: _expand_dims,
        np.atleast_1d: lambda a: _atleast(1, a),
        np.atleast_2d: lambda a: _atleast(2, a),
        np.transpose: _transpose,
        np.swapaxes: _swapaxes,
        np.moveaxis: _moveaxis,
        np.broadcast_to: _broadcast_to,
        np.copy: _copy,
        np.concatenate: _concatenate,
        np.stack: _stack,
        np.vstack: _vstack,
        np.hstack: _hstack,
        np.split: _split,
        np.array_split: _array_split,
        np.where: _where,
        np.clip: _clip,
        np.dot: _dot,
        np.linalg.norm: _norm,
    }
)
if hasattr(np, "astype"):  # NumPy >= 2.1
    FUNCTIONS[np.astype] = _astype_function
# Results that are constants of the values (zero derivative wherever it exists, as torch has it for
# round, floor, sign and unique), and arrays shaped like an input whose values do not come from it.
CONSTANT_FUNCTIONS.update(
    {np.round, np.around, np.fix, np.unique, np.histogram, np.histogram_bin_edges, np.digitize}
    | {np.zeros_like, np.ones_like, np.empty_like, np.full_like}
)
