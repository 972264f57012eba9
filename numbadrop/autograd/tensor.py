"""``Tensor``: a NumPy array that carries the node of the graph that produced it.

While gradients are enabled, what a training-mode module call returns is a
:class:`Tensor`, a light ``ndarray`` subclass. NumPy operations on it go
through ``__array_ufunc__`` / ``__array_function__``: operations with a
registered vector-Jacobian product (:mod:`numbadrop.autograd.vjps`) compute on
the plain data and record a node; operations whose results carry no gradient
(comparisons, ``argmax``, ``isnan``...) return plain arrays; anything else
raises ``TypeError`` naming the operation, so a gradient is never silently
dropped. Under :class:`~numbadrop.no_grad` every operation returns plain
arrays.

In-place writes (``t *= 2``, ``t[mask] = 0``, ``np.add(a, b, out=t)``, the
``inplace=True`` layers) are recorded too: the tensor's node is replaced and
its memory's version counter goes up. A backward that needs the old values
raises ``RuntimeError`` instead of reading the new ones, and so does using a
view whose memory was changed through another view.

``np.asarray(t)``, ``t.view(np.ndarray)`` and :meth:`Tensor.detach` give the
plain values: gradients do not flow through them (they are constants).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numbadrop._core.arrays import refuse_torch
from numbadrop.autograd import registry
from numbadrop.autograd.graph import Node, backward, grad_enabled, needs_input_grad

__all__ = ["Tensor", "is_recorded", "record", "source", "tensor"]

_UNTRACKED = Node("an ndarray method numbadrop does not record", (), None, (), np.dtype(np.float64))


class _GradSlot:
    """The sink of a tensor made with ``requires_grad=True``: its ``.grad``."""

    __slots__ = ("grad",)
    always = True

    def __init__(self) -> None:
        self.grad: np.ndarray | None = None

    def add(self, grad: np.ndarray) -> None:
        self.grad = np.array(grad, copy=True) if self.grad is None else self.grad + grad


class Tensor(np.ndarray):
    """A recorded value: an ``ndarray`` with the graph node that produced it.

    Made by numbadrop (module calls in training mode, operations on recorded
    values) or by :func:`tensor`. It is a NumPy array in every other respect.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop.autograd import tensor
    >>> x = tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.])
    """

    __slots__ = ("_box", "_data", "_node", "_ver")

    def __array_finalize__(self, obj: Any) -> None:
        # Views NumPy makes of a recorded value behind our back (ndarray methods
        # we do not override) are marked, so that using them raises.
        node = getattr(obj, "_node", None)
        self._node = None if node is None else _UNTRACKED
        self._box = [0]
        self._ver = 0
        self._data = None

    # --- autodiff API ---------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """True for a value the graph records (its operations are differentiated)."""
        return self._node is not None

    @property
    def grad_fn(self) -> str | None:
        """Name of the operation that produced the value (``None`` for leaves and constants)."""
        node = self._node
        return node.name if node is not None and node.parents else None

    @property
    def is_leaf(self) -> bool:
        """True unless the value was produced by a recorded operation."""
        return self._node is None or not self._node.parents

    @property
    def grad(self) -> np.ndarray | None:
        """Accumulated gradient of a tensor made with ``requires_grad=True``."""
        sink = getattr(self._node, "sink", None)
        return sink.grad if isinstance(sink, _GradSlot) else None

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        sink = getattr(self._node, "sink", None)
        if not isinstance(sink, _GradSlot):
            raise AttributeError("only tensors made with requires_grad=True have a .grad")
        sink.grad = value

    def view(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """``ndarray.view``; a view with another dtype (the bits reinterpreted) is a plain array."""
        result = np.ndarray.view(self, *args, **kwargs)
        if isinstance(result, Tensor) and result.dtype != self.dtype:
            return np.ndarray.view(result, np.ndarray)
        return result

    def detach(self) -> np.ndarray:
        """The values as a plain, read-only ``ndarray`` (same memory); no gradient flows through it.

        Read-only because numbadrop could not see a write through it (a
        pending backward would read the new values); ``.detach().copy()``
        gives values to modify.
        """
        view = np.ndarray.view(self, np.ndarray)
        view.flags.writeable = False
        return view

    def backward(self, grad: object = None, retain_graph: bool = False) -> None:
        """Backpropagate from this value, adding gradients into every parameter it depends on.

        Parameters
        ----------
        grad : array_like, optional
            Gradient with respect to this value; may be omitted for a scalar (1).
        retain_graph : bool, default False
            Keep the graph so that it can be backpropagated again.

        Raises
        ------
        RuntimeError
            If the value is not recorded, reaches no parameter, or its graph
            was already backpropagated.
        ValueError
            If ``grad`` does not have this value's shape.
        """
        node = self._node
        if node is None or node is _UNTRACKED:
            raise RuntimeError(
                "backward() needs a recorded value, and this one is a constant: it was computed under "
                "numbadrop.no_grad(), by a module in eval mode, or from values that carry no gradient"
            )
        _check_fresh(self)
        if grad is None:
            if self.ndim != 0:
                raise RuntimeError(f"grad can be omitted only for a scalar, this value has shape {self.shape}")
            grad = np.ones((), self.dtype)
        else:
            grad = np.asarray(grad.detach() if isinstance(grad, Tensor) else grad)
            if grad.shape != self.shape:
                raise ValueError(f"grad has shape {grad.shape}, expected this value's shape {self.shape}")
            if not is_float_dtype(grad.dtype):
                raise TypeError(f"grad must be a float array, got dtype {grad.dtype}")
        backward([(node, grad)], retain_graph=bool(retain_graph), require_sink=True)

    # --- NumPy protocol -----------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable[..., Any], types: Iterable[type], args: tuple, kwargs: dict) -> Any:
        return dispatch_function(func, args, kwargs)

    def __array_wrap__(self, array: np.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
        # What NumPy (or a library mimicking a ufunc) computed from us outside the graph: plain values.
        return array[()] if return_scalar else array

    def __getitem__(self, key: Any) -> Any:
        return getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        setitem(self, key, value)

    def __repr__(self) -> str:
        text = np.array_repr(self.view(np.ndarray)).replace("array(", "Tensor(", 1)
        name = self.grad_fn or ("leaf" if self._node is not None else None)
        return text if name is None else f"{text[:-1]}, grad_fn={name})"

    def __str__(self) -> str:
        return str(self.view(np.ndarray))

    def __reduce__(self) -> Any:  # pickling keeps the values, not the graph
        return self.view(np.ndarray).__reduce__()

    # --- ndarray methods, through the recorded NumPy functions -------------------
    def reshape(self, *shape: Any, order: str = "C") -> Any:  # type: ignore[override]
        """Recorded ``numpy.reshape``."""
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes: Any) -> Any:  # type: ignore[override]
        """Recorded ``numpy.transpose``."""
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    @property
    def T(self) -> Any:  # type: ignore[override]
        """Recorded transpose."""
        return np.transpose(self)

    def flatten(self, order: str = "C") -> Any:  # type: ignore[override]
        """Recorded flattened copy."""
        return np.copy(np.ravel(self, order))

    def astype(
        self, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True, copy: bool = True
    ) -> Any:  # type: ignore[override]
        """Recorded dtype conversion (the gradient is converted back)."""
        return astype(self, np.dtype(dtype), order=order, casting=casting, copy=copy)

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """The array's shape (setting it on a recorded value raises; use ``reshape``)."""
        return np.ndarray.shape.__get__(self)

    @shape.setter
    def shape(self, value: Any) -> None:
        if _live(self):
            raise TypeError("setting .shape of a recorded value is not recorded: use x = x.reshape(...)")
        np.ndarray.shape.__set__(self, value)


def _method(name: str, kind: str) -> Callable[..., Any]:
    """``ndarray.<name>`` for a Tensor: through NumPy's recorded function, refused, or on the plain values."""
    recorded = getattr(np, name) if kind == "recorded" else None
    method = getattr(np.ndarray, name)

    def call(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if recorded is not None:
            return recorded(self, *args, **kwargs)
        if kind == "refused" and _live(self):
            raise TypeError(f"ndarray.{name}() on a recorded value is not differentiated by numbadrop. {_ADVICE}")
        return method(np.ndarray.view(self, np.ndarray), *args, **kwargs)

    call.__name__ = name
    call.__doc__ = {
        "recorded": f"Recorded ``numpy.{name}`` (see :mod:`numbadrop.autograd.vjps`).",
        "refused": f"``ndarray.{name}``; raises ``TypeError`` on a recorded value.",
        "plain": f"``ndarray.{name}`` of the values: its result carries no gradient.",
    }[kind]
    return call


_ADVICE = (
    "Wrap it in numbadrop.no_grad() or apply it to x.detach() if no gradient should flow through it, "
    "or define it as a differentiable operation with numbadrop.autograd.primitive (forward and backward)."
)

# The ndarray methods whose arguments mirror a NumPy function: they go through it, so they are recorded.
for _name in ("sum", "mean", "var", "std", "max", "min", "clip", "squeeze", "swapaxes", "ravel", "dot", "copy"):
    setattr(Tensor, _name, _method(_name, "recorded"))
# Methods that write in place or build new values without going through a ufunc or a NumPy function.
for _name in (
    "fill", "sort", "partition", "put", "resize", "setfield", "byteswap", "take", "repeat", "compress",
    "choose", "diagonal", "trace", "searchsorted", "conj", "conjugate", "getfield", "__copy__", "__deepcopy__",
):  # fmt: skip
    setattr(Tensor, _name, _method(_name, "refused"))
# Results without a gradient (indices, a rounding): computed on the plain values.
for _name in ("argmax", "argmin", "argsort", "argpartition", "nonzero", "round"):
    setattr(Tensor, _name, _method(_name, "plain"))


# --- wrapping and unwrapping ------------------------------------------------------
def is_float_dtype(dtype: np.dtype) -> bool:
    """Floating point dtypes gradients are computed in: NumPy's and ``ml_dtypes.bfloat16``."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def _live(t: Tensor) -> bool:
    return t._node is not None and grad_enabled()


def is_recorded(x: object) -> bool:
    """True when operations on ``x`` are recorded now (a recorded ``Tensor``, gradients enabled)."""
    return isinstance(x, Tensor) and _live(x)


def _plain(t: Tensor) -> np.ndarray:
    data = t._data
    return data if data is not None else t.view(np.ndarray)


def _check_fresh(t: Tensor) -> None:
    if t._ver != t._box[0]:
        raise RuntimeError(
            "this value's memory was modified in place (through another view of it) after it was computed, "
            "so its recorded history no longer matches its values: compute it again after the in-place change"
        )
    if t._node is _UNTRACKED:
        raise TypeError(f"this value was made from a recorded value by {_UNTRACKED.name}. {_ADVICE}")


def source(x: Any) -> tuple[Any, Node | None, list[int] | None]:
    """``(plain value, node, version box)`` of an operand: a Tensor, a Parameter or a constant.

    With gradients disabled every operand is a constant (node ``None``).
    """
    if isinstance(x, Tensor):
        node = x._node
        if node is None or not grad_enabled():
            return _plain(x), None, x._box
        _check_fresh(x)
        return _plain(x), node, x._box
    leaf = getattr(x, "__autograd_leaf__", None)
    if leaf is not None:
        return leaf() if grad_enabled() else (x.data, None, None)
    return x, None, None


def wrap(data: np.ndarray, node: Node | None, box: list[int] | None = None) -> Tensor:
    """A Tensor viewing ``data`` with ``node`` (``box``: the version counter shared with views)."""
    t = data.view(Tensor)
    t._node = node
    t._data = data
    if box is not None:
        t._box = box
        t._ver = box[0]
    return t


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A Tensor from ``data`` (copied), optionally a leaf whose ``.grad`` backward fills.

    Parameters
    ----------
    data : array_like
        Float values.
    requires_grad : bool, default False
        Record operations on it and collect its gradient in ``.grad``.
    dtype : numpy dtype, optional
        Conversion of ``data``.
    """
    array = np.array(data, dtype=dtype, copy=True)
    if requires_grad and not is_float_dtype(array.dtype):
        raise TypeError(f"only float arrays can require gradients, got dtype {array.dtype}")
    node = Node("leaf", (), None, array.shape, array.dtype, sink=_GradSlot()) if requires_grad else None
    return wrap(array, node)


def _version_box(y: np.ndarray, operands: Iterable[tuple[Any, list[int] | None]]) -> list[int] | None:
    """The version counter ``y`` shares with an operand whose memory it is or views, if any."""
    for plain, box in operands:
        if box is not None and isinstance(plain, np.ndarray):
            if y is plain or (y.base is not None and np.may_share_memory(y, plain)):
                return box
    return None


def record(
    name: str,
    y: np.ndarray,
    operands: tuple[tuple[Any, Node | None, list[int] | None], ...],
    backprop: Callable[[np.ndarray], Any],
    *,
    keep: tuple[int, ...] = (),
    keep_output: bool = False,
    params: bool = False,
    holders: tuple[Any, ...] = (),
    extra_saved: tuple[tuple[list[int], int, Any], ...] = (),
) -> Any:
    """Record ``y = op(operands)`` with ``backprop`` and return ``y`` as a Tensor.

    ``operands`` are :func:`source` triples; ``keep`` lists the operands the
    closure reads at backward and ``keep_output`` says whether it reads
    ``y`` (their versions are checked then); ``holders`` are objects the node
    keeps alive with them (the tensors the closure's arrays came from). With
    no recorded operand and no parameters, ``y`` is returned as it is.
    """
    parents = tuple(node for _, node, _ in operands)
    if not params and not any(node is not None for node in parents):
        return y
    saved = tuple(
        (operands[i][2], operands[i][2][0], holders[i] if i < len(holders) else None)
        for i in keep
        if operands[i][2] is not None
    )
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
    box = _version_box(y, ((p, b) for p, _, b in operands)) or [0]
    saved += extra_saved
    if keep_output:
        saved += ((box, box[0], None),)
    node = Node(name, parents, backprop, y.shape, y.dtype, params=params, saved=saved)
    return wrap(y, node, box)


def rebase(t: Tensor, node: Node) -> Tensor:
    """After an in-place write into ``t``: ``t`` now holds ``node``'s value (a new version)."""
    _check_not_leaf(t)
    t._box[0] += 1
    t._ver = t._box[0]
    t._node = node
    return t


def _check_not_leaf(t: Tensor) -> None:
    node = t._node
    if node is not None and not node.parents and node.sink is not None and grad_enabled():
        raise RuntimeError(
            "an in-place operation on a tensor made with requires_grad=True (a leaf whose .grad backward fills) "
            "would lose its gradient: compute a new array (y = x * 2), or change it under numbadrop.no_grad()"
        )


def bump(t: object) -> None:
    """Count an in-place write into ``t``'s memory that was not recorded (gradients disabled)."""
    if isinstance(t, Tensor):
        t._box[0] += 1
        t._ver = t._box[0]


def _is_float(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_is_float(v) for v in value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return isinstance(value, (float, complex))
    return dtype.kind in "fcVO"


def _unrecorded(name: str) -> TypeError:
    return TypeError(f"{name} of a recorded value has no gradient rule in numbadrop. {_ADVICE}")


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
    if method == "at":  # unbuffered in place into the first operand
        if live:
            raise _unrecorded(f"{name} (in place)")
        bump(inputs[0])
        return ufunc.at(*plain, **kwargs)
    if outs is not None:
        return _ufunc_into(ufunc, method, inputs, operands, plain, outs, kwargs, live)
    result = getattr(ufunc, method)(*plain, **kwargs)
    if not live or ufunc in registry.CONSTANT_FUNCTIONS or not _is_float(result):
        return result
    backprop, keep_inputs, keep_output = _ufunc_backprop(ufunc, method, operands, result, kwargs, name)
    keep = tuple(range(len(operands))) if keep_inputs else ()
    return record(name, result, operands, backprop, keep=keep, keep_output=keep_output, holders=inputs)


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
    raise _unrecorded(name + (f" with {sorted(kwargs)}" if kwargs else ""))


def _ufunc_into(ufunc, method, inputs, operands, plain, outs, kwargs, live) -> Any:
    """``ufunc(..., out=outs)``: an in-place write, recorded on the Tensor written into."""
    plain_outs = tuple(_plain(o) if isinstance(o, Tensor) else o for o in outs)
    targets = [o for o in outs if isinstance(o, Tensor)]
    recorded_target = any(_live(o) for o in targets)
    if not (live or recorded_target):
        result = getattr(ufunc, method)(*plain, out=plain_outs, **kwargs)
        for o in targets:
            bump(o)
        return outs[0] if len(outs) == 1 else outs
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if len(outs) != 1 or method != "__call__":
        raise _unrecorded(f"{name} with out=")
    (target,) = outs
    if not isinstance(target, Tensor):
        # Booleans and integers may go into a plain array (they carry no gradient); floats would lose theirs.
        if is_float_dtype(plain_outs[0].dtype) or plain_outs[0].dtype.kind == "c":
            raise TypeError(
                f"{name}(..., out=<plain array>) would store a recorded result in an array that carries no "
                "gradient: write y = ... (a new array) instead, or compute it under numbadrop.no_grad()"
            )
        return getattr(ufunc, method)(*plain, out=plain_outs, **kwargs)
    if ufunc not in registry.UFUNCS or not _CALL_KWARGS.issuperset(kwargs):
        raise _unrecorded(f"{name} with out= (in place)")
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
    if isinstance(destination, Tensor) and _live(destination):
        raise TypeError(f"{name} writes into a recorded value, which numbadrop does not record. {_ADVICE}")
    if grad_enabled() and _any_live(tuple(sources)):
        raise TypeError(
            f"{name} would store a recorded value in an array that carries no gradient: build the result with "
            "recorded operations (np.where, np.concatenate, indexing a Tensor), or do it under numbadrop.no_grad()"
        )
    bump(destination)
    return func(*_strip(args), **{k: _strip(v) for k, v in kwargs.items()})


def _any_live(value: Any) -> bool:
    if isinstance(value, Tensor):
        return _live(value)
    if isinstance(value, (list, tuple)):
        return any(_any_live(v) for v in value)
    return getattr(value, "__autograd_leaf__", None) is not None


def _strip(value: Any, readonly: bool = False) -> Any:
    """Operands with every Tensor replaced by its plain values (read-only views if asked)."""
    if isinstance(value, Tensor):
        if readonly and _live(value):
            _check_fresh(value)
            view = _plain(value).view()
            view.flags.writeable = False
            return view
        return _plain(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_strip(v, readonly) for v in value)
    if getattr(value, "__autograd_leaf__", None) is not None:
        return value.data
    return value


def dispatch_function(func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)`` (a NumPy function) with Tensors among the arguments."""
    refuse_torch(args, *kwargs.values())
    live = grad_enabled() and (_any_live(args) or _any_live(tuple(kwargs.values())))
    if live:
        impl = registry.FUNCTIONS.get(func)
        if impl is not None:
            return impl(*args, **kwargs)
    name = f"np.{func.__name__}"
    if func in _WRITERS:
        return _write(func, name, args, kwargs)
    if func in _LIKE and grad_enabled() and any(isinstance(a, Tensor) for a in args[:1]):
        # A buffer to fill (``out = np.zeros_like(h); out[i] = ...``): a Tensor, so that the writes are recorded.
        return wrap(func(*_strip(args), **{k: _strip(v) for k, v in kwargs.items()}), None)
    if not live or func in registry.CONSTANT_FUNCTIONS:
        return func(*_strip(args), **{k: _strip(v) for k, v in kwargs.items()})
    try:
        result = func(*_strip(args, True), **{k: _strip(v, True) for k, v in kwargs.items()})
    except ValueError as exc:
        if "read-only" in str(exc):
            raise TypeError(f"{name} writes into a recorded value, which numbadrop does not record. {_ADVICE}") from exc
        raise
    if _is_float(result):
        raise _unrecorded(name)
    return result


# --- indexing, conversion --------------------------------------------------------------
def _index(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_strip(k) for k in key)
    return _strip(key)


def getitem(t: Tensor, key: Any) -> Any:
    """Recorded ``t[key]`` (basic, integer-array and boolean indexing)."""
    operand = source(t)
    x, node, _ = operand
    key = _index(key)
    y = x[key]
    if node is None or (not isinstance(y, np.ndarray) and not _is_float(y)):
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


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """Recorded ``t[key] = value``: the old values at ``key`` get no gradient, ``value`` gets ``g[key]``."""
    key = _index(key)
    target = _plain(t)
    vplain, vnode, _ = source(value)
    if not _live(t) and vnode is None:
        target[key] = vplain
        bump(t)
        return
    old = None
    if _live(t):
        if not _is_region(value, t, key):  # ``t[key] op= v``: the view at key was changed in place, then stored
            _check_fresh(t)
        old = t._node
    vshape, vdtype = np.shape(vplain), getattr(vplain, "dtype", None)
    target[key] = vplain

    def backprop(g: np.ndarray) -> tuple:
        g_old = None
        if needs_input_grad(0):
            g_old = g.copy()
            g_old[key] = 0
        g_value = None
        if needs_input_grad(1):
            g_value = registry.unbroadcast(np.asarray(g[key]), vshape, vdtype)
        return g_old, g_value

    rebase(t, Node("setitem (in place)", (old, vnode), backprop, target.shape, target.dtype))


def _is_region(value: Any, t: Tensor, key: Any) -> bool:
    """True when ``value`` is the fresh view of ``t[key]`` itself (what ``t[key] *= 2`` stores back).

    ``t``'s recorded history then still holds everywhere but at ``key``, and
    the write about to be recorded replaces exactly that region.
    """
    if not isinstance(value, Tensor) or value._box is not t._box or value._ver != value._box[0]:
        return False
    region, data = _plain(t)[key], _plain(value)
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
