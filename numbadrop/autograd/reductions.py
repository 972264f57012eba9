"""Reductions and scans: ``sum`` ... ``std``, ``max``/``min``, ``prod``, ``cumsum``, ``cumprod``, ``diff``,
``sort``/``partition``, the ``nan*`` family, ``average``, ``ptp``.

``sum``/``max``/``min`` go through ``ufunc.reduce`` (rules in
:data:`~numbadrop.autograd.registry.REDUCTIONS`); the others are written with
recorded operations or :func:`~numbadrop.autograd.ops.apply`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd.ops import apply, axes_of, expand, value
from numbadrop.autograd.registry import REDUCTIONS, defun

__all__: list[str] = []


def _sum_vjp(g: np.ndarray, ans: Any, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.broadcast_to(expand(g, x.ndim, axis, keepdims), x.shape).copy()


def _extremum_vjp(g: np.ndarray, ans: Any, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    hit = x == expand(ans, x.ndim, axis, keepdims)
    share = hit / hit.sum(axis=axes_of(axis, x.ndim), keepdims=True)
    return expand(g, x.ndim, axis, keepdims) * share


def no_out(name: str, out: Any = None, **unsupported: Any) -> None:
    """Refuse ``out=`` (and the named arguments given) of a function of a recorded value."""
    given = sorted(k for k, v in unsupported.items() if v is not np._NoValue and not (k == "where" and v is True))
    if out is not None or given:
        raise TypeError(
            f"{name} of a recorded value supports no {['out', *given] if out is not None else given} argument: "
            "compute a new array instead (or do it under numbadrop.no_grad() if no gradient should flow)"
        )


def _reduce(ufunc: np.ufunc, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    kwargs: dict[str, Any] = {"axis": axis, "keepdims": keepdims}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return ufunc.reduce(a, **kwargs)


def _count(a: Any, axis: Any) -> int:
    shape = np.shape(value(a))
    return int(np.prod([shape[i] for i in axes_of(axis, len(shape))]))


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.sum", out, initial=initial, where=where)
    return _reduce(np.add, a, axis, keepdims, dtype)


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    no_out("np.mean", out, where=where)
    return _reduce(np.add, a, axis, keepdims, dtype) / _count(a, axis)


def _var(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue, correction=None
):
    no_out("np.var", out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    centred = a - _mean(a, axis, dtype, keepdims=True)
    return _sum(centred * centred, axis, keepdims=keepdims) / max(_count(a, axis) - ddof, 0)


def _std(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue, correction=None
):
    """The standard deviation; its gradient is 0 where it is 0 (a length-1 axis, constant values)."""
    no_out("np.std", out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    divisor = max(_count(a, axis) - ddof, 0)

    def vjp(g, y, x):
        centred = x - np.mean(x, axis=axes_of(axis, x.ndim), keepdims=True)
        s = expand(y, x.ndim, axis, keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(s == 0, 0.0, centred / (divisor * s))
        return (expand(g, x.ndim, axis, keepdims) * share,)

    f = lambda x: np.std(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)  # noqa: E731
    return apply("np.std", f, (a,), vjp, reads_output=True)


def _max(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.max", out, initial=initial, where=where)
    return _reduce(np.maximum, a, axis, keepdims)


def _min(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.min", out, initial=initial, where=where)
    return _reduce(np.minimum, a, axis, keepdims)


def _ptp(a, axis=None, out=None, keepdims=False):
    no_out("np.ptp", out)
    return _max(a, axis, keepdims=keepdims) - _min(a, axis, keepdims=keepdims)


# --- products and scans ------------------------------------------------------------------
def _to_last(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``x`` with ``axes`` moved to the end and merged into one."""
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    return moved.reshape((*moved.shape[: x.ndim - len(axes)], -1))


def _others_product(x: np.ndarray) -> np.ndarray:
    """Product of every other element along the last axis (exact with zeros: no division)."""
    ones = np.ones_like(x[..., :1])
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return left * right


def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.prod", out, initial=initial, where=where)

    def vjp(g, y, x):
        return (_product_vjp(g, y, x, axis, keepdims),)

    return apply("np.prod", lambda x: np.prod(x, axis=axis, dtype=dtype, keepdims=keepdims), (a,), vjp)


def _product_vjp(g: np.ndarray, ans: Any, x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    """``np.multiply.reduce`` (what ``ndarray.prod`` runs): the product of the others, exact with zeros."""
    if x.ndim == 0:
        return np.asarray(g)
    axes = axes_of(axis, x.ndim)
    others = _others_product(_to_last(x, axes))
    kept = [x.shape[i] for i in range(x.ndim) if i not in axes]
    others = np.moveaxis(others.reshape((*kept, *(x.shape[i] for i in axes))), tuple(range(len(kept), x.ndim)), axes)
    return expand(g, x.ndim, axis, keepdims) * others


REDUCTIONS.update(
    {
        np.add: (_sum_vjp, False),
        np.maximum: (_extremum_vjp, True),
        np.minimum: (_extremum_vjp, True),
        np.multiply: (_product_vjp, True),
    }
)


def _scan_axis(x: np.ndarray, axis: Any) -> tuple[np.ndarray, int]:
    return (np.ravel(x), 0) if axis is None else (x, int(axis) % max(x.ndim, 1))


def _cumsum(a, axis=None, dtype=None, out=None):
    no_out("np.cumsum", out)

    def vjp(g, y, x):
        _, ax = _scan_axis(x, axis)
        back = np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax)
        return (back.reshape(x.shape),)

    return apply("np.cumsum", lambda x: np.cumsum(x, axis=axis, dtype=dtype), (a,), vjp)


def _cumprod(a, axis=None, dtype=None, out=None):
    no_out("np.cumprod", out)

    def vjp(g, y, x):
        xs, ax = _scan_axis(x, axis)
        xs, gs = np.moveaxis(xs, ax, -1), np.moveaxis(g, ax, -1)
        n = xs.shape[-1]
        out = np.zeros(xs.shape, np.result_type(xs, g))
        for i in range(n):  # dy_j/dx_i = prod_{k <= j, k != i} x_k for j >= i; no division, so zeros are exact
            masked = xs[..., i:].copy()
            masked[..., 0] = 1
            before = np.prod(xs[..., :i], axis=-1, keepdims=True)
            out[..., i] = np.sum(gs[..., i:] * before * np.cumprod(masked, axis=-1), axis=-1)
        return (np.moveaxis(out, -1, ax).reshape(x.shape),)

    return apply("np.cumprod", lambda x: np.cumprod(x, axis=axis, dtype=dtype), (a,), vjp)


def _diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    nd = np.ndim(value(a))
    axis = int(axis) % max(nd, 1)
    pieces = []
    for extra in (prepend, append):
        if extra is np._NoValue:
            pieces.append(None)
            continue
        if np.ndim(value(extra)) == 0:
            shape = list(np.shape(value(a)))
            shape[axis] = 1
            extra = np.broadcast_to(extra, tuple(shape))
        pieces.append(extra)
    if pieces[0] is not None or pieces[1] is not None:
        a = np.concatenate([p for p in (pieces[0], a, pieces[1]) if p is not None], axis=axis)
    lead = (slice(None),) * axis
    for _ in range(n):
        a = a[(*lead, slice(1, None))] - a[(*lead, slice(None, -1))]
    return a


# --- sorting: the values, differentiated as the selection they are -------------------------------
def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise TypeError("np.sort(order=...) of a recorded value is not differentiated (structured arrays)")
    if axis is None:
        a, axis = np.ravel(a), -1
    index = np.argsort(value(a), axis=axis, kind=kind, stable=stable)
    return np.take_along_axis(a, index, axis=axis)


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    if order is not None:
        raise TypeError("np.partition(order=...) of a recorded value is not differentiated (structured arrays)")
    if axis is None:
        a, axis = np.ravel(a), -1
    return np.take_along_axis(a, np.argpartition(value(a), kth, axis=axis, kind=kind), axis=axis)


# --- the nan* family: the NaNs are constants, the rest as without them ------------------------------
def _nan_filled(a: Any, fill: float) -> Any:
    return np.where(np.isnan(value(a)), fill, a)


def _nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.nansum", out, initial=initial, where=where)
    return _sum(_nan_filled(a, 0.0), axis, dtype, keepdims=keepdims)


def _nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.nanprod", out, initial=initial, where=where)
    return _prod(_nan_filled(a, 1.0), axis, dtype, keepdims=keepdims)


def _nancumsum(a, axis=None, dtype=None, out=None):
    return _cumsum(_nan_filled(a, 0.0), axis, dtype, out)


def _nancumprod(a, axis=None, dtype=None, out=None):
    return _cumprod(_nan_filled(a, 1.0), axis, dtype, out)


def _nan_count(a: Any, axis: Any, keepdims: bool) -> np.ndarray:
    return np.sum(~np.isnan(value(a)), axis=axis, keepdims=keepdims)


def _nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    no_out("np.nanmean", out, where=where)
    return _sum(_nan_filled(a, 0.0), axis, dtype, keepdims=keepdims) / _nan_count(a, axis, keepdims)


def _nanvar(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue, correction=None
):
    no_out("np.nanvar", out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    centred = _nan_filled(a - _nanmean(a, axis, dtype, keepdims=True), 0.0)
    count = np.maximum(_nan_count(a, axis, keepdims) - ddof, 0)
    return _sum(centred * centred, axis, keepdims=keepdims) / count


def _nanstd(
    a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue, correction=None
):
    return np.sqrt(_nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction))


def _nanmax(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.nanmax", out, initial=initial, where=where)
    return _max(_nan_filled(a, -np.inf), axis, keepdims=keepdims)


def _nanmin(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    no_out("np.nanmin", out, initial=initial, where=where)
    return _min(_nan_filled(a, np.inf), axis, keepdims=keepdims)


def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = _mean(a, axis, keepdims=keepdims)
        scale = np.asarray(_count(a, axis), dtype=np.result_type(value(a), 1.0))
        return (avg, np.broadcast_to(scale, np.shape(value(avg))).copy()) if returned else avg
    w = weights
    nd, wd = np.ndim(value(a)), np.ndim(value(w))
    if wd == 1 and nd > 1:
        if axis is None or isinstance(axis, (tuple, list)):
            raise TypeError("np.average: 1-D weights need one integer axis")
        shape = [1] * nd
        shape[int(axis) % nd] = -1
        w = np.reshape(w, tuple(shape))
    total = _sum(w * np.ones_like(value(a)), axis, keepdims=keepdims)
    avg = _sum(a * w, axis, keepdims=keepdims) / total
    return (avg, total) if returned else avg


_TIES = "ties share the gradient equally (as torch.amax)"
for _func, _impl, _notes in (
    (np.sum, _sum, ""), (np.mean, _mean, ""), (np.var, _var, ""),
    (np.std, _std, "gradient 0 where the deviation is 0 (a length-1 axis); torch gives NaN"),
    (np.max, _max, _TIES), (np.amax, _max, _TIES), (np.min, _min, _TIES), (np.amin, _min, _TIES),
    (np.ptp, _ptp, _TIES), (np.prod, _prod, "exact with zeros (products of the others, no division)"),
    (np.cumsum, _cumsum, ""), (np.cumprod, _cumprod, "exact with zeros"), (np.diff, _diff, "prepend/append too"),
    (np.sort, _sort, "the sorted values; equal values: the gradient follows argsort's order"),
    (np.partition, _partition, "the values, as placed by argpartition"),
    (np.nansum, _nansum, "NaNs get gradient 0"), (np.nanprod, _nanprod, "NaNs get gradient 0"),
    (np.nancumsum, _nancumsum, ""), (np.nancumprod, _nancumprod, ""), (np.nanmean, _nanmean, ""),
    (np.nanvar, _nanvar, ""), (np.nanstd, _nanstd, ""), (np.nanmax, _nanmax, _TIES), (np.nanmin, _nanmin, _TIES),
    (np.average, _average, "recorded weights too"),
):  # fmt: skip
    defun(_func, _impl, _notes)
