"""Recorded indexing: ``t[key]``, ``t[key] = value``, ``t.flat[key]`` and dtype conversion."""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd import registry
from numbadrop.autograd.core import (
    Tensor,
    bump,
    check_fresh,
    check_not_leaf,
    is_float_value,
    is_live,
    plain_of,
    rebase,
    record,
    source,
    strip,
    wrap,
)
from numbadrop.autograd.graph import Node, grad_enabled, needs_input_grad

__all__ = ["FlatIndexer", "astype", "check_writable_view", "getitem", "setitem"]


# --- indexing, conversion --------------------------------------------------------------
def _index(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(strip(k) for k in key)
    return strip(key)


def getitem(t: Tensor, key: Any) -> Any:
    """Recorded ``t[key]`` (basic, integer-array and boolean indexing)."""
    operand = source(t)
    x, node, box = operand
    key = _index(key)
    y = x[key]
    if node is None:
        if isinstance(y, np.ndarray) and grad_enabled() and y.base is not None and np.may_share_memory(y, x):
            return wrap(y, None, box)  # a view of a buffer: a write of a recorded value into it must be seen
        return y
    if not isinstance(y, np.ndarray) and not is_float_value(y):
        return y
    y = np.asarray(y)
    shape, dtype = x.shape, x.dtype
    view = y.base is not None and np.may_share_memory(y, x)

    def backprop(g: np.ndarray) -> np.ndarray:
        out = np.zeros(shape, dtype)
        if view:
            out[key] = g
        else:  # repeated indices add up
            np.add.at(out, key, g)
        return out

    return record("getitem", y, (operand,), backprop)


def _fancy(key: Any) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (list, np.ndarray)) and np.asarray(k).dtype.kind in "iu" for k in keys)


def _winners(shape: tuple[int, ...], key: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """Which element of ``t[key]`` NumPy's ``t[key] = v`` keeps where ``key`` repeats an index (the last)."""
    region_shape = np.empty(shape, np.bool_)[key].shape
    where = np.full(shape, -1, np.intp)
    where[key] = np.arange(int(np.prod(region_shape)), dtype=np.intp).reshape(region_shape)
    kept = np.zeros(int(np.prod(region_shape)), np.bool_)
    kept[where[where >= 0]] = True
    return kept.reshape(region_shape), region_shape


def check_writable_view(t: Tensor, what: str) -> None:
    """Refuse a recorded write into a view of an unrecorded buffer: the buffer itself would not see it."""
    if t._node is None and plain_of(t).base is not None:
        raise TypeError(
            f"{what} writes a recorded value into a view of an array that is not recorded (out[i][:] = v with "
            "out = np.zeros_like(x)): the array itself would keep no gradient. Write through one index instead "
            "(out[i, :] = v or out[i] = v)"
        )


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """Recorded ``t[key] = value``: the old values at ``key`` get no gradient, ``value`` gets ``g[key]``.

    Where an integer-array ``key`` repeats an index, the element NumPy keeps
    (the last written) gets the gradient, the others none.
    """
    key = _index(key)
    target = plain_of(t)
    vplain, vnode, _ = source(value)
    if not is_live(t) and vnode is None:
        target[key] = vplain
        bump(t)
        return
    old = None
    if is_live(t):
        if not _is_region(value, t, key):  # ``t[key] op= v``: the view at key was changed in place, then stored
            check_fresh(t)
        old = t._node
    else:
        check_writable_view(t, "t[key] = value")
    check_not_leaf(t)
    vshape, vdtype = np.shape(vplain), getattr(vplain, "dtype", None)
    kept = _winners(target.shape, key) if vnode is not None and _fancy(key) else None
    target[key] = vplain

    def backprop(g: np.ndarray) -> tuple:
        g_old = None
        if needs_input_grad(0):
            g_old = g.copy()
            g_old[key] = 0
        g_value = None
        if needs_input_grad(1):
            g_region = np.asarray(g[key])
            if kept is not None:
                g_region = np.where(kept[0], g_region, 0).reshape(kept[1])
            g_value = registry.unbroadcast(g_region, vshape, vdtype)
        return g_old, g_value

    rebase(t, Node("setitem (in place)", (old, vnode), backprop, target.shape, target.dtype))


class FlatIndexer:
    """``t.flat`` of a recorded value: ``t.flat[i]`` reads ``t.ravel()[i]`` (recorded); writes are refused."""

    __slots__ = ("_t",)

    def __init__(self, t: Tensor) -> None:
        self._t = t

    def __getitem__(self, key: Any) -> Any:
        return getitem(np.ravel(self._t), key)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("ndarray.flat[...] = v into a recorded value is not recorded: write t.reshape(-1)[i] = v")

    def __len__(self) -> int:
        return self._t.size

    def __iter__(self) -> Any:
        flat = np.ravel(self._t)
        return (getitem(flat, i) for i in range(flat.shape[0]))


def _is_region(value: Any, t: Tensor, key: Any) -> bool:
    """True when ``value`` is the fresh view of ``t[key]`` itself (what ``t[key] *= 2`` stores back).

    ``t``'s recorded history then still holds everywhere but at ``key``, and
    the write about to be recorded replaces exactly that region.
    """
    if not isinstance(value, Tensor) or value._box is not t._box or value._ver != value._box[0]:
        return False
    region, data = plain_of(t)[key], plain_of(value)
    return (
        region.__array_interface__["data"][0] == data.__array_interface__["data"][0]
        and region.shape == data.shape
        and region.strides == data.strides
    )


def astype(t: Any, dtype: np.dtype, **kwargs: Any) -> Any:
    """Recorded dtype conversion: the gradient is converted back to the source dtype."""
    operand = source(t)
    x, node, _ = operand
    y = x.astype(dtype, **kwargs)
    if node is None or dtype.kind not in "fc":
        return y
    source_dtype = x.dtype
    return record("astype", y, (operand,), lambda g: g.astype(source_dtype))
