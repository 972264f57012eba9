"""How NumPy's ufuncs and functions reach the graph: ``Tensor.__array_ufunc__`` / ``__array_function__``.

A ufunc with a rule in :data:`~numbadrop.autograd.registry.UFUNCS` (or a
reduction in ``REDUCTIONS``) and a function in ``FUNCTIONS`` is recorded;
functions that write into their first argument are allowed where no gradient
is lost; a result without a gradient (booleans, integers) is returned plain;
anything else raises ``TypeError`` naming the function, before any gradient
is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from numbadrop._core.arrays import refuse_torch
from numbadrop.autograd import registry
from numbadrop.autograd.core import (
    ADVICE,
    Tensor,
    any_live,
    bump,
    check_not_leaf,
    is_float_dtype,
    is_float_value,
    is_live,
    plain_of,
    qualname,
    rebase,
    record,
    source,
    strip,
    unrecorded,
    wrap,
)
from numbadrop.autograd.graph import Node, grad_enabled, needs_input_grad
from numbadrop.autograd.indexing import check_writable_view

__all__ = ["dispatch_function", "dispatch_ufunc"]


# --- ufuncs --------------------------------------------------------------------
_CALL_KWARGS = frozenset({"dtype", "casting", "order", "subok"})
_REDUCE_KWARGS = frozenset({"axis", "keepdims", "dtype"})


def dispatch_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``ufunc.method(*inputs, **kwargs)`` with Tensors among the operands."""
    refuse_torch(inputs, kwargs.get("out"))
    operands = tuple(source(x) for x in inputs)
    plain = tuple(p for p, _, _ in operands)
    outs = kwargs.pop("out", None)
    live = any(node is not None for _, node, _ in operands)
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method == "reduce" and live:
        _drop_defaults(kwargs)
    if method == "at":  # unbuffered in place into the first operand
        if live:
            raise unrecorded(f"{name} (in place)")
        bump(inputs[0])
        return ufunc.at(*plain, **kwargs)
    if live and method == "__call__" and outs is None and ufunc in registry.FUNCTIONS:  # a gufunc (np.vecdot)
        return registry.FUNCTIONS[ufunc](*inputs, **kwargs)
    if outs is not None:
        return _ufunc_into(ufunc, method, inputs, operands, plain, outs, kwargs, live)
    result = getattr(ufunc, method)(*plain, **kwargs)
    if not live or ufunc in registry.CONSTANT_FUNCTIONS or not is_float_value(result):
        return result
    backprop, keep_inputs, keep_output = _ufunc_backprop(ufunc, method, operands, result, kwargs, name)
    keep = tuple(range(len(operands))) if keep_inputs else ()
    return record(name, result, operands, backprop, keep=keep, keep_output=keep_output, holders=inputs)


def _drop_defaults(kwargs: dict) -> None:
    """Drop ``where=True`` / ``initial=<none>``, which ``ndarray.sum`` and friends pass to ``ufunc.reduce``."""
    if kwargs.get("where", True) is True:
        kwargs.pop("where", None)
    if "initial" in kwargs and (kwargs["initial"] is None or kwargs["initial"] is np._NoValue):
        del kwargs["initial"]
    if kwargs.get("dtype", 0) is None:
        del kwargs["dtype"]


def _ufunc_backprop(ufunc: np.ufunc, method: str, operands: tuple, result: Any, kwargs: dict, name: str) -> tuple:
    """``(backprop, reads the operands, reads the result)`` of one ufunc call, or TypeError."""
    shapes = [np.shape(p) for p, _, _ in operands]
    dtypes = [getattr(p, "dtype", None) for p, _, _ in operands]
    if method == "__call__" and ufunc in registry.UFUNCS and _CALL_KWARGS.issuperset(kwargs):
        rule = registry.UFUNCS[ufunc]
        args = tuple(p for p, _, _ in operands) if rule.keep_inputs else (None,) * len(operands)
        ans = result if rule.keep_output else None
        if len(operands) == 1:
            (vjp,) = rule.vjps
            single = lambda g: registry.unbroadcast(vjp(g, ans, *args), shapes[0], dtypes[0])  # noqa: E731
            return single, rule.keep_inputs, rule.keep_output

        def backprop(g: np.ndarray) -> tuple:
            return tuple(
                registry.unbroadcast(vjp(g, ans, *args), shape, dtype) if needs_input_grad(i) else None
                for i, (vjp, shape, dtype) in enumerate(zip(rule.vjps, shapes, dtypes, strict=True))
            )

        return backprop, rule.keep_inputs, rule.keep_output
    if method == "reduce" and ufunc in registry.REDUCTIONS and _REDUCE_KWARGS.issuperset(kwargs):
        vjp, reads_values = registry.REDUCTIONS[ufunc]
        (x,) = (p for p, _, _ in operands)
        if not reads_values:  # only the shape: keep a zero-byte stand-in, not the values
            x, result = np.broadcast_to(np.empty((), x.dtype), x.shape), None
        axis = kwargs.get("axis", 0)
        keepdims = kwargs.get("keepdims", False)
        backprop = lambda g: vjp(g, result, x, axis, keepdims).astype(x.dtype, copy=False)  # noqa: E731
        return backprop, reads_values, reads_values
    raise unrecorded(name + (f" with {sorted(kwargs)}" if kwargs else ""))


def _ufunc_into(ufunc, method, inputs, operands, plain, outs, kwargs, live) -> Any:
    """``ufunc(..., out=outs)``: an in-place write, recorded on the Tensor written into."""
    plain_outs = tuple(plain_of(o) if isinstance(o, Tensor) else o for o in outs)
    targets = [o for o in outs if isinstance(o, Tensor)]
    recorded_target = any(is_live(o) for o in targets)
    if not (live or recorded_target):
        result = getattr(ufunc, method)(*plain, out=plain_outs, **kwargs)
        for o in targets:
            bump(o)
        return outs[0] if len(outs) == 1 else outs
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if len(outs) != 1 or method != "__call__":
        raise unrecorded(f"{name} with out=")
    (target,) = outs
    if not isinstance(target, Tensor):
        # Booleans and integers may go into a plain array (they carry no gradient); floats would lose theirs.
        if is_float_dtype(plain_outs[0].dtype) or plain_outs[0].dtype.kind == "c":
            raise TypeError(
                f"{name}(..., out=<plain array>) would store a recorded result in an array that carries no "
                "gradient: write y = ... (a new array) instead, or compute it under numbadrop.no_grad()"
            )
        return getattr(ufunc, method)(*plain, out=plain_outs, **kwargs)
    if target._node is None:
        check_writable_view(target, f"{name}(..., out=)")
    if ufunc not in registry.UFUNCS or not _CALL_KWARGS.issuperset(kwargs):
        raise unrecorded(f"{name} with out= (in place)")
    check_not_leaf(target)
    rule = registry.UFUNCS[ufunc]
    target_data = plain_outs[0]
    if rule.keep_inputs:  # the products read the operands: keep copies of the ones being overwritten
        operands = tuple(
            (p.copy(), n, None) if isinstance(p, np.ndarray) and np.may_share_memory(p, target_data) else (p, n, b)
            for p, n, b in operands
        )
    getattr(ufunc, method)(*plain, out=plain_outs, **kwargs)
    result = target_data.copy() if rule.keep_output else target_data
    backprop = _ufunc_backprop(ufunc, method, operands, result, kwargs, name)[0]
    keep = tuple(range(len(operands))) if rule.keep_inputs else ()
    parents = tuple(n for _, n, _ in operands)
    saved = tuple((b, b[0], inputs[i]) for i in keep if (b := operands[i][2]) is not None)
    node = Node(name + " (in place)", parents, backprop, target_data.shape, target_data.dtype, saved=saved)
    return rebase(target, node)


# --- NumPy functions -----------------------------------------------------------------
_WRITERS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}
_LIKE = {np.zeros_like, np.ones_like, np.empty_like, np.full_like}


def _write(func: Callable[..., Any], name: str, args: tuple, kwargs: dict) -> Any:
    """A NumPy function that writes into its first argument: allowed where no gradient is lost."""
    values = list(args) + list(kwargs.values())
    destination, sources = values[0], values[1:]
    if isinstance(destination, Tensor) and is_live(destination):
        raise TypeError(f"{name} writes into a recorded value, which numbadrop does not record. {ADVICE}")
    if grad_enabled() and any_live(tuple(sources)):
        raise TypeError(
            f"{name} would store a recorded value in an array that carries no gradient: build the result with "
            "recorded operations (np.where, np.concatenate, indexing a Tensor), or do it under numbadrop.no_grad()"
        )
    bump(destination)
    return func(*strip(args), **{k: strip(v) for k, v in kwargs.items()})


def dispatch_function(func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)`` (a NumPy function) with Tensors among the arguments."""
    refuse_torch(args, *kwargs.values())
    live = grad_enabled() and (any_live(args) or any_live(tuple(kwargs.values())))
    if live:
        impl = registry.FUNCTIONS.get(func)
        if impl is not None:
            return impl(*args, **kwargs)
    name = qualname(func)
    if func in _WRITERS:
        return _write(func, name, args, kwargs)
    if live and func in registry.REFUSED:
        raise TypeError(f"{name} of a recorded value is not differentiated: {registry.REFUSED[func]}. {ADVICE}")
    if func in _LIKE and grad_enabled() and any(isinstance(a, Tensor) for a in args[:1]):
        # A buffer to fill (``out = np.zeros_like(h); out[i] = ...``): a Tensor, so that the writes are recorded.
        return wrap(func(*strip(args), **{k: strip(v) for k, v in kwargs.items()}), None)
    if not live or func in registry.CONSTANT_FUNCTIONS:
        return func(*strip(args), **{k: strip(v) for k, v in kwargs.items()})
    try:
        result = func(*strip(args, True), **{k: strip(v, True) for k, v in kwargs.items()})
    except ValueError as exc:
        if "read-only" in str(exc):
            raise TypeError(f"{name} writes into a recorded value, which numbadrop does not record. {ADVICE}") from exc
        raise
    if is_float_value(result):
        raise unrecorded(name)
    return result
