"""Which backend handles an array: one small interface, one table.

The public functions (:mod:`numbadrop.ops`) validate their scalar arguments
once and hand the array to the backend of its kind. A backend is a module of
this package (``numpy``, ``cuda_array``, ``torch``, ``dask``, ``xarray``,
``pandas``, ``array_api``) with these
functions:

``check(x, name) -> x``
    Validate an input of this kind (dtype, kind of memory); TypeError or
    ValueError naming ``name`` otherwise. Returns the array to work on.
``check_inplace(x, name) -> None``
    ValueError unless ``x`` can be written in place.
``apply(x, op, p, seed, offset, broadcast, inplace) -> y``
    ``op`` (``"dropout"``, ``"alpha"``, ``"alpha_grad"``, ``"zero"``, or the
    normal variates' ``"gaussian_dropout"`` / ``"gaussian_noise"``, where ``p``
    carries the noise multiplier) of ``x`` under the mask contract, with the
    mask shared along the axes in ``broadcast``; the result is ``x`` itself
    when ``inplace``, else a new array of ``x``'s kind, shape and dtype.
``apply_into(x, op, p, seed, offset, broadcast, out) -> out``
    The same, written into ``out`` (optional: a backend without it refuses ``out=``).
``mask(shape, broadcast, p, seed, offset, device) -> keep``
    The boolean keep-mask of the mask shape, of the kind ``device`` names.
``dtype(x) -> numpy.dtype``
    Optional: ``x``'s one dtype where ``x.dtype`` is not it (a pandas ``DataFrame``).
``drop_block(x, state, eps, inplace) -> (y, scale)`` and ``drop_block_apply(x, state, inplace) -> y``
    DropBlock's forward (the kept count, the scale and the scaled output) and
    its mask applied with a known ``state.scale`` (the backward).

Every backend ends in the kernels of one compile target,
:mod:`numbadrop.kernels.cpu` or :mod:`numbadrop.kernels.cuda` (:func:`launch`
picks by the array). None imports another library at module level, and
:data:`BACKENDS` names them by module so that each is imported only when its
first array arrives (``import numbadrop`` imports neither Dask nor torch nor
numba-cuda; the tests look at ``sys.modules`` only, as array-api-compat does).
Adding a backend (say JAX through DLPack) is one new module with these
functions plus one row in :data:`BACKENDS` (or a :func:`register` call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import numpy as np

from numbadrop._core.arrays import is_array_api, is_dask, is_gpu_array, is_pandas, is_torch, is_xarray
from numbadrop.backends import numpy as numpy_backend

#: ``(test, module)``: the first row whose test accepts an array names its
#: backend. NumPy arrays and array-likes that match no row go to
#: :mod:`numbadrop.backends.numpy`. torch comes before the generic GPU row: a
#: torch bfloat16 CUDA tensor has no ``__cuda_array_interface__``. The containers
#: (xarray, pandas) and the generic array-API row (JAX, array-api-strict) come last:
#: CuPy and Dask arrays have ``__array_namespace__`` too.
BACKENDS: list[tuple[Callable[[object], bool], str]] = [
    (is_torch, "numbadrop.backends.torch"),
    (is_dask, "numbadrop.backends.dask"),
    (is_gpu_array, "numbadrop.backends.cuda_array"),
    (is_xarray, "numbadrop.backends.xarray"),
    (is_pandas, "numbadrop.backends.pandas"),
    (is_array_api, "numbadrop.backends.array_api"),
]


def register(test: Callable[[object], bool], module: str) -> None:
    """Add a backend: arrays for which ``test`` is true go to ``module`` (imported on first use)."""
    BACKENDS.insert(0, (test, module))


def backend_of(x: object) -> ModuleType:
    """The backend module of ``x`` (:mod:`numbadrop.backends.numpy` for NumPy arrays and array-likes)."""
    if isinstance(x, np.ndarray):
        return numpy_backend
    for test, module in BACKENDS:
        if test(x):
            return importlib.import_module(module)
    return numpy_backend


def check_array(x: object, name: str = "x", inplace: object = False) -> object:
    """``x`` validated by its backend (see the module docstring).

    With ``inplace`` true, an ``x`` that its backend had to convert (a list, a
    tuple, a Python or NumPy scalar: anything that is not itself an array the
    result could be written into) is a TypeError, never a silent copy.
    """
    as_tensor = getattr(x, "as_tensor", None)
    if as_tensor is not None and getattr(x, "__autograd_leaf__", None) is not None:
        x = as_tensor()  # a Parameter (DropConnect): its recorded leaf, so that its gradient is kept
    checked = backend_of(x).check(x, name)
    if checked is not x and isinstance(inplace, (bool, np.bool_)) and inplace:
        raise TypeError(
            f"inplace=True needs an array that can be written in place, but {name} is a "
            f"{type(x).__module__}.{type(x).__name__}: pass an array, or use the returned value with inplace=False"
        )
    return checked


def launch(x, y, op: str, p: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """Write ``op`` of ``x`` into ``y`` with the kernels of ``y``'s target (see ``numpy_backend.launch``).

    NumPy arrays run the CPU kernels, GPU arrays (``__cuda_array_interface__``)
    the CUDA kernels; the parameters are those of
    :func:`numbadrop.kernels.cpu.dropout.launch`, and ``op`` may also be
    ``"gaussian_dropout"`` or ``"gaussian_noise"`` (``p`` the noise multiplier).
    """
    if isinstance(y, np.ndarray) or not is_gpu_array(y):
        numpy_backend.launch(x, y, op, p, seed, offset, strides, start)
        return
    importlib.import_module("numbadrop.backends.cuda_array").launch(x, y, op, p, seed, offset, strides, start)
