"""The recorded value: :class:`Tensor`, its wrapping and unwrapping, and its version counter.

A :class:`Tensor` is a light ``ndarray`` subclass that carries the node of the
graph that produced it. This module holds what every other module of the
graph builds on: :func:`source` (an operand's plain values, node and version
counter), :func:`record` (a new node for a result), :func:`wrap`,
:func:`rebase` (an in-place write: a new node and a new version) and
:func:`bump` (a write that is not recorded). How NumPy's functions, ufuncs and
``ndarray`` methods reach the graph is in :mod:`numbadrop.autograd.tensor`,
which attaches them to the class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numbadrop.autograd.graph import Node, backward, grad_enabled

__all__ = [
    "ADVICE", "Tensor", "any_live", "bump", "check_fresh", "check_not_leaf", "is_float_dtype", "is_float_value",
    "is_live", "is_recorded", "plain_of", "qualname", "rebase", "record", "source", "strip", "tensor", "unrecorded",
    "wrap",
]  # fmt: skip

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
        check_fresh(self)
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

    def __repr__(self) -> str:
        text = np.array_repr(np.ndarray.view(self, np.ndarray)).replace("array(", "Tensor(", 1)
        name = self.grad_fn or ("leaf" if self._node is not None else None)
        return text if name is None else f"{text[:-1]}, grad_fn={name})"

    def __str__(self) -> str:
        return str(np.ndarray.view(self, np.ndarray))

    def __reduce__(self) -> Any:  # pickling keeps the values, not the graph
        return np.ndarray.view(self, np.ndarray).__reduce__()

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        """The array's shape (setting it on a recorded value raises; use ``reshape``)."""
        return np.ndarray.shape.__get__(self)

    @shape.setter
    def shape(self, value: Any) -> None:
        if is_live(self):
            raise TypeError("setting .shape of a recorded value is not recorded: use x = x.reshape(...)")
        np.ndarray.shape.__set__(self, value)


ADVICE = (
    "Wrap it in numbadrop.no_grad() or apply it to x.detach() if no gradient should flow through it, "
    "or define it as a differentiable operation with numbadrop.autograd.primitive (forward and backward)."
)


# --- wrapping and unwrapping ------------------------------------------------------
def is_float_dtype(dtype: np.dtype) -> bool:
    """Floating point dtypes gradients are computed in: NumPy's and ``ml_dtypes.bfloat16``."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def is_live(t: Tensor) -> bool:
    return t._node is not None and grad_enabled()


def is_recorded(x: object) -> bool:
    """True when operations on ``x`` are recorded now (a recorded ``Tensor``, gradients enabled)."""
    return isinstance(x, Tensor) and is_live(x)


def plain_of(t: Tensor) -> np.ndarray:
    data = t._data
    return data if data is not None else np.ndarray.view(t, np.ndarray)


def check_fresh(t: Tensor) -> None:
    """Raise when ``t``'s memory changed through another view since ``t``'s node was recorded.

    A leaf has no recorded history to contradict (a change under ``no_grad``
    through a view of it is an update, as in torch).
    """
    node = t._node
    if t._ver != t._box[0] and not (node is not None and not node.parents and node.sink is not None):
        raise RuntimeError(
            "this value's memory was modified in place (through another view of it) after it was computed, "
            "so its recorded history no longer matches its values: compute it again after the in-place change"
        )
    if t._node is _UNTRACKED:
        raise TypeError(f"this value was made from a recorded value by {_UNTRACKED.name}. {ADVICE}")


def source(x: Any) -> tuple[Any, Node | None, list[int] | None]:
    """``(plain value, node, version box)`` of an operand: a Tensor, a Parameter or a constant.

    With gradients disabled every operand is a constant (node ``None``).
    """
    if isinstance(x, Tensor):
        node = x._node
        if node is None or not grad_enabled():
            return plain_of(x), None, x._box
        check_fresh(x)
        return plain_of(x), node, x._box
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
    if not requires_grad:
        return wrap(array, None)
    # The second entry of the version box marks memory a leaf owns: its views share the box.
    return wrap(array, Node("leaf", (), None, array.shape, array.dtype, sink=_GradSlot()), [0, "leaf"])


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
    check_not_leaf(t)
    t._box[0] += 1
    t._ver = t._box[0]
    t._node = node
    return t


def check_not_leaf(t: Tensor) -> None:
    """Raise before an in-place write into the memory of a ``requires_grad=True`` leaf (or a view of it)."""
    node = t._node
    leaf = node is not None and not node.parents and node.sink is not None
    if (leaf or len(t._box) > 1) and grad_enabled():  # the leaf itself, or a view of its memory (x[0:2])
        raise RuntimeError(
            "an in-place operation on a tensor made with requires_grad=True (a leaf whose .grad backward fills), "
            f"{'' if leaf else 'through a view of it, '}would lose its gradient: compute a new array (y = x * 2), "
            "or change it under numbadrop.no_grad()"
        )


def bump(t: object) -> None:
    """Count an in-place write into ``t``'s memory that was not recorded (gradients disabled)."""
    if isinstance(t, Tensor):
        t._box[0] += 1
        t._ver = t._box[0]


def is_float_value(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(is_float_value(v) for v in value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return isinstance(value, (float, complex))
    return dtype.kind in "fcVO"


def unrecorded(name: str) -> TypeError:
    """The ``TypeError`` for an operation on a recorded value that has no gradient rule."""
    return TypeError(f"{name} of a recorded value has no gradient rule in numbadrop. {ADVICE}")


def qualname(func: Any) -> str:
    """How messages and the docs name a NumPy function: ``np.cumsum``, ``np.linalg.inv``, ``np.add``."""
    parts = (getattr(func, "__module__", None) or "numpy").split(".")
    prefix = f"np.{parts[1]}" if len(parts) > 1 and parts[1] in ("linalg", "fft", "random", "ma") else "np"
    return f"{prefix}.{func.__name__}"


def any_live(value: Any) -> bool:
    if isinstance(value, Tensor):
        return is_live(value)
    if isinstance(value, (list, tuple)):
        return any(any_live(v) for v in value)
    return getattr(value, "__autograd_leaf__", None) is not None


def strip(value: Any, readonly: bool = False) -> Any:
    """Operands with every Tensor replaced by its plain values (read-only views if asked)."""
    if isinstance(value, Tensor):
        if readonly and is_live(value):
            check_fresh(value)
            view = plain_of(value).view()
            view.flags.writeable = False
            return view
        return plain_of(value)
    if isinstance(value, (list, tuple)):
        return type(value)(strip(v, readonly) for v in value)
    if getattr(value, "__autograd_leaf__", None) is not None:
        return value.data
    return value
