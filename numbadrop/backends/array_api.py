"""Arrays of other array-API namespaces (``__array_namespace__``): JAX, array-api-strict, ...: the same kind back.

The input is viewed as a NumPy array through DLPack (``numpy.from_dlpack``,
no copy where the producer allows; ``numpy.asarray`` otherwise), computed by
the NumPy backend, and the result handed back to the input's namespace with
``xp.from_dlpack`` (again no copy where the library allows; JAX copies into
its own buffer when NumPy's is not aligned as it needs). So a JAX array gives
a JAX array, an array-api-strict array an array-api-strict array, with the
NumPy call's bits.

In place and ``out=``: an array whose DLPack view is writeable
(array-api-strict) is written through it; JAX arrays are immutable, and
their view is read-only: TypeError. JAX's tracers (inside ``jit``, ``grad``,
``vmap``) have no values to compute on: TypeError saying so. Only CPU arrays
are taken here (a JAX GPU array has ``__cuda_array_interface__`` and goes to
the GPU backend).

Imported when the first such array arrives; the array's library is reached
through the array itself (``__array_namespace__``), never imported here.
"""

from __future__ import annotations

import numpy as np

from numbadrop.backends import numpy as numpy_backend


def _library(x) -> str:
    return type(x).__module__.split(".", 1)[0]


def _view(x, name: str) -> np.ndarray:
    """``x`` as a NumPy array, without a copy where DLPack allows."""
    if "Tracer" in type(x).__name__:
        raise TypeError(
            f"{name} is a JAX tracer ({type(x).__name__}): numbadrop computes on values, so it runs outside "
            "jax.jit, jax.grad and jax.vmap (call it on concrete arrays)"
        )
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        try:
            return np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{name} ({type(x).__module__}.{type(x).__name__}) gives NumPy no view of it") from exc


def check(x, name: str = "x"):
    """An array of an array-API namespace that NumPy can view, of a float dtype."""
    numpy_backend.check(_view(x, name), name)
    return x


def check_inplace(x, name: str = "x") -> None:
    """Writeable only where the library's DLPack view is (array-api-strict); JAX arrays are immutable."""
    if _library(x) in ("jax", "jaxlib") or not _view(x, name).flags.writeable:
        raise TypeError(
            f"{name} is a {type(x).__module__}.{type(x).__name__}, which cannot be written in place "
            "(JAX arrays are immutable): use the returned array (inplace=False, no out=)"
        )


def _back(x, y: np.ndarray):
    """``y`` as an array of ``x``'s namespace."""
    xp = x.__array_namespace__()
    try:
        return xp.from_dlpack(y)
    except (TypeError, RuntimeError, BufferError, AttributeError, ValueError):
        return xp.asarray(y)


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` as an array of ``x``'s namespace (``x`` itself, written through its view, in place)."""
    y = numpy_backend.apply(_view(x, "x"), op, p, seed, offset, broadcast, inplace)
    return x if inplace else _back(x, y)


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x`` written into ``out`` through its (writeable) view."""
    numpy_backend.apply_into(_view(x, "x"), op, p, seed, offset, broadcast, _view(out, "out"))
    return out


def drop_block(x, state, eps: float, inplace: bool):
    """DropBlock's forward of ``x``: ``(array of x's namespace, scale)``."""
    y, scale = numpy_backend.drop_block(_view(x, "x"), state, eps, inplace)
    return (x if inplace else _back(x, y)), scale


def drop_block_apply(x, state, inplace: bool):
    """DropBlock's mask applied with a known scale (the backward)."""
    y = numpy_backend.drop_block_apply(_view(x, "x"), state, inplace)
    return x if inplace else _back(x, y)
