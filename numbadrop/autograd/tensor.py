"""``Tensor``: a NumPy array that carries the node of the graph that produced it.

While gradients are enabled, what a training-mode module call returns is a
:class:`Tensor`, a light ``ndarray`` subclass. NumPy operations on it go
through ``__array_ufunc__`` / ``__array_function__``: operations with a
registered vector-Jacobian product (:mod:`numbadrop.autograd.vjps` and its
sibling modules) compute on the plain data and record a node; operations
whose results carry no gradient (comparisons, ``argmax``, ``isnan``...) return
plain arrays; anything else raises ``TypeError`` naming the operation, so a
gradient is never silently dropped. Under :class:`~numbadrop.no_grad` every
operation returns plain arrays.

In-place writes (``t *= 2``, ``t[mask] = 0``, ``np.add(a, b, out=t)``, the
``inplace=True`` layers) are recorded too: the tensor's node is replaced and
its memory's version counter goes up. A backward that needs the old values
raises ``RuntimeError`` instead of reading the new ones, and so does using a
view whose memory was changed through another view.

``np.asarray(t)``, ``t.view(np.ndarray)`` and :meth:`Tensor.detach` give the
plain values: gradients do not flow through them (they are constants).

This module attaches NumPy's protocols and every ``ndarray`` method to the
class (defined in :mod:`numbadrop.autograd.core`): each method is recorded
(through the NumPy function of the same name), refused by name on a recorded
value, or computed on the plain values when its result carries no gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from numbadrop.autograd.core import (
    ADVICE,
    Tensor,
    bump,
    check_fresh,
    is_float_dtype,
    is_live,
    is_recorded,
    plain_of,
    rebase,
    record,
    source,
    tensor,
    wrap,
)
from numbadrop.autograd.dispatch import dispatch_function, dispatch_ufunc
from numbadrop.autograd.indexing import FlatIndexer, astype, getitem, setitem

__all__ = [
    "METHODS", "Tensor", "bump", "check_fresh", "dispatch_function", "dispatch_ufunc", "is_float_dtype",
    "is_recorded", "is_live", "plain_of", "rebase", "record", "source", "tensor", "wrap",
]  # fmt: skip

#: ``ndarray`` method -> ``"recorded"`` (through ``numpy.<name>``), ``"refused"`` (raises on a recorded
#: value) or ``"plain"`` (its result carries no gradient: computed on the values).
METHODS: dict[str, str] = {}


def _method(name: str, kind: str) -> Callable[..., Any]:
    """``ndarray.<name>`` for a Tensor: through NumPy's recorded function, refused, or on the plain values."""
    recorded = getattr(np, name) if kind == "recorded" else None
    method = getattr(np.ndarray, name)

    def call(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if recorded is not None and is_live(self):
            return recorded(self, *args, **kwargs)
        if kind == "refused" and is_live(self):
            raise TypeError(f"ndarray.{name}() on a recorded value is not differentiated by numbadrop. {ADVICE}")
        result = method(plain_of(self), *args, **kwargs)
        if kind == "refused":
            bump(self)  # it may have written into the values
        return result

    call.__name__ = name
    call.__doc__ = {
        "recorded": f"Recorded ``numpy.{name}``.",
        "refused": f"``ndarray.{name}``; raises ``TypeError`` on a recorded value.",
        "plain": f"``ndarray.{name}`` of the values: its result carries no gradient.",
    }[kind]
    return call


def _install(kind: str, names: Iterable[str]) -> None:
    for name in names:
        METHODS[name] = kind
        setattr(Tensor, name, _method(name, kind))


# The ndarray methods whose arguments mirror a NumPy function: they go through it, so they are recorded.
_install("recorded", (
    "sum", "mean", "var", "std", "max", "min", "prod", "cumsum", "cumprod", "clip", "squeeze", "swapaxes", "ravel",
    "dot", "copy", "diagonal", "trace", "repeat", "take", "compress", "conj", "conjugate",
))  # fmt: skip
# Methods that write in place or reinterpret the bits.
_install("refused", (
    "fill", "sort", "partition", "put", "resize", "setfield", "byteswap", "getfield", "choose", "__copy__",
    "__deepcopy__",
))  # fmt: skip
# Results without a gradient (indices, booleans, a rounding, the values as bytes or Python objects).
_install("plain", (
    "argmax", "argmin", "argsort", "argpartition", "nonzero", "round", "all", "any", "searchsorted", "tobytes",
    "tofile", "dump", "dumps", "tolist", "item", "setflags",
))  # fmt: skip
METHODS.update(dict.fromkeys(("reshape", "transpose", "flatten", "astype", "view", "to_device"), "recorded"))
METHODS.update(dict.fromkeys(("T", "mT", "real", "imag", "flat"), "recorded"))


def _reshape(self: Tensor, *shape: Any, order: str = "C") -> Any:
    """Recorded ``numpy.reshape``."""
    return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)


def _transpose(self: Tensor, *axes: Any) -> Any:
    """Recorded ``numpy.transpose``."""
    return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))


def _flatten(self: Tensor, order: str = "C") -> Any:
    """Recorded flattened copy."""
    return np.copy(np.ravel(self, order))


def _astype(self: Tensor, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True, copy: bool = True):
    """Recorded dtype conversion (the gradient is converted back)."""
    return astype(self, np.dtype(dtype), order=order, casting=casting, copy=copy)


def _view(self: Tensor, *args: Any, **kwargs: Any) -> Any:
    """``ndarray.view``: a recorded view; as a plain class or with another dtype (bits reinterpreted), plain."""
    plain = np.ndarray.view(plain_of(self), *args, **kwargs)
    if not isinstance(plain, np.ndarray) or type(plain) is not np.ndarray or plain.dtype != self.dtype:
        return plain if type(plain) is not Tensor else np.ndarray.view(plain, np.ndarray)
    if args and isinstance(args[0], type) and not issubclass(args[0], Tensor):
        return plain  # view(np.ndarray): the documented way to take the values
    operand = source(self)
    if operand[1] is None:
        return wrap(plain, None, self._box)
    return record("view", plain, (operand,), lambda g: g)


def _to_device(self: Tensor, device: Any, /, *, stream: Any = None) -> Any:
    """``ndarray.to_device("cpu")``: the value itself."""
    if device != "cpu":
        raise ValueError(f"only the 'cpu' device is supported, got {device!r}")
    return self


def _real(self: Tensor) -> Any:
    """The real part (a real array itself, recorded; complex values are not differentiated)."""
    return np.real(self)


def _imag(self: Tensor) -> Any:
    """The imaginary part: zeros for a real array (a constant)."""
    return np.imag(self)


def _flat(self: Tensor) -> Any:
    """``ndarray.flat``; on a recorded value, reading ``t.flat[i]`` is recorded (``t.ravel()[i]``)."""
    return FlatIndexer(self) if is_live(self) else plain_of(self).flat


def _protocol_ufunc(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    return dispatch_ufunc(ufunc, method, inputs, kwargs)


def _protocol_function(self: Tensor, func: Callable[..., Any], types: Iterable[type], args: tuple, kwargs: dict):
    return dispatch_function(func, args, kwargs)


Tensor.__array_ufunc__ = _protocol_ufunc  # type: ignore[method-assign,assignment]
Tensor.__array_function__ = _protocol_function  # type: ignore[method-assign,assignment]
Tensor.__getitem__ = getitem  # type: ignore[method-assign,assignment]
Tensor.__setitem__ = setitem  # type: ignore[method-assign,assignment]
Tensor.reshape = _reshape  # type: ignore[method-assign,assignment]
Tensor.transpose = _transpose  # type: ignore[method-assign,assignment]
Tensor.flatten = _flatten  # type: ignore[method-assign,assignment]
Tensor.astype = _astype  # type: ignore[method-assign,assignment]
Tensor.view = _view  # type: ignore[method-assign,assignment]
Tensor.to_device = _to_device  # type: ignore[method-assign,assignment]
Tensor.T = property(lambda self: np.transpose(self), doc="Recorded transpose.")  # type: ignore[assignment]
Tensor.mT = property(lambda self: np.swapaxes(self, -1, -2), doc="Recorded transpose of the last two axes.")  # type: ignore[assignment]
Tensor.real = property(_real)  # type: ignore[assignment]
Tensor.imag = property(_imag)  # type: ignore[assignment]
Tensor.flat = property(_flat)  # type: ignore[assignment]
