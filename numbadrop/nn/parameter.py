"""``Parameter``: a trainable array and its gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from numbadrop.autograd import graph
from numbadrop.autograd.graph import Node, grad_enabled
from numbadrop.autograd.tensor import dispatch_function, dispatch_ufunc, wrap


class Parameter:
    """A trainable array (``data``) with its accumulated gradient (``grad``).

    In a training-mode forward (and outside any forward, for terms such as a
    weight penalty added to the loss) NumPy arithmetic on a parameter is
    recorded, as on a torch parameter: ``x @ self.weight.T``,
    ``h * self.scale``, ``(self.weight ** 2).sum()``. The gradient that
    reaches it is added into :attr:`grad`. Optimizers update :attr:`data`.

    Parameters
    ----------
    data : numpy.ndarray
        The values; kept as given (no copy), so optimizers update it in place.

    Attributes
    ----------
    data : numpy.ndarray
        The values.
    grad : numpy.ndarray or None
        Sum of gradients since the last ``zero_grad``; ``None`` before any backward.

    Examples
    --------
    >>> import numpy as np
    >>> w = Parameter(np.array([1.0, -2.0]))
    >>> loss = (w * w).sum()
    >>> loss.backward()
    >>> w.grad
    array([ 2., -4.])
    """

    __slots__ = ("_box", "_data", "grad")
    #: Every backward that reaches a parameter adds into its gradient.
    always = True

    def __init__(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
            raise TypeError(f"Parameter data must be a float numpy.ndarray, got {data!r}")
        self._box = [0]
        self._data = data
        self.grad: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        """The values (optimizers update them in place)."""
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = value
        self.bump_version()

    def bump_version(self) -> None:
        """Count a change of the values: a pending backward that read the old ones raises instead."""
        self._box[0] += 1

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """Dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions of ``data``."""
        return self.data.ndim

    def accumulate(self, grad: np.ndarray, owned: bool = False) -> None:
        """Add ``grad`` to ``self.grad`` (allocating it on first use).

        ``owned=True`` says that ``grad`` is a new array nobody else holds:
        it then becomes ``self.grad`` without a copy. Skipped inside the
        backward of an eval-mode module call, whose parameters are constants.
        """
        if getattr(graph._state, "frozen", False):
            return
        if self.grad is None:
            fresh = owned and isinstance(grad, np.ndarray) and type(grad) is np.ndarray
            if fresh and grad.dtype == self.data.dtype and grad.shape == self.data.shape:
                self.grad = grad
            else:
                self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def add(self, grad: np.ndarray) -> None:
        """The graph's name for "collect a gradient here" (``grad`` may be shared: it is copied)."""
        self.accumulate(grad)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"

    # --- taking part in recorded arithmetic ----------------------------------------
    def __autograd_leaf__(self) -> tuple[np.ndarray, Node | None, list[int] | None]:
        """``(data, node, version box)``: a leaf of the graph unless inside an eval-mode module call."""
        if graph.module_context() == "eval":
            return self.data, None, None
        return self.data, Node("Parameter", (), None, self.data.shape, self.data.dtype, sink=self), self._box

    def as_tensor(self) -> Any:
        """The data as a recorded leaf (or the plain array when nothing is recorded)."""
        data, node, box = self.__autograd_leaf__() if grad_enabled() else (self.data, None, None)
        return data if node is None else wrap(data, node, box)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return dispatch_function(func, args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self.as_tensor()[key]

    def __len__(self) -> int:
        return len(self.data)

    def __getattr__(self, name: str) -> Any:
        # Array attributes and methods (``.T``, ``.sum()``, ``.max()``, ``.size``...) as on a torch
        # parameter: those of the recorded leaf (or of the plain data when nothing is recorded).
        if name.startswith("__") or name in Parameter.__slots__:
            raise AttributeError(name)
        return getattr(self.as_tensor(), name)


def _in_place(ufunc: np.ufunc) -> Any:
    def update(self: Parameter, other: Any) -> Parameter:
        if grad_enabled():
            raise RuntimeError(
                f"an in-place {ufunc.__name__} of a Parameter while gradients are recorded: update parameters "
                "under numbadrop.no_grad() (as in torch: with torch.no_grad(): p -= lr * p.grad)"
            )
        ufunc(self.data, np.asarray(other), out=self.data)
        self.bump_version()
        return self

    return update


def _compare(ufunc: np.ufunc) -> Any:
    return lambda self, other: ufunc(self.data, other)


def _binary(ufunc: np.ufunc, reflected: bool = False) -> Any:
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


for _name, _ufunc in (
    ("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
    ("matmul", np.matmul), ("pow", np.power),
):  # fmt: skip
    setattr(Parameter, f"__{_name}__", _binary(_ufunc))
    setattr(Parameter, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(Parameter, f"__i{_name}__", _in_place(_ufunc))
# Comparisons give booleans (no gradient); == and != stay identity, as parameters are dictionary keys.
for _name, _ufunc in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(Parameter, f"__{_name}__", _compare(_ufunc))
Parameter.__neg__ = lambda self: np.negative(self)  # type: ignore[attr-defined]
Parameter.__abs__ = lambda self: np.absolute(self)  # type: ignore[attr-defined]
