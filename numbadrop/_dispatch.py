"""Which backend handles an array: one small interface, one table.

The public functions (:mod:`numbadrop.functional`) validate their scalar
arguments once and hand the array to the backend of its kind. A backend is a
module with four functions:

``check(x, name) -> x``
    Validate an input of this kind (dtype, kind of memory); TypeError or
    ValueError naming ``name`` otherwise. Returns the array to work on.
``check_inplace(x, name) -> None``
    ValueError unless ``x`` can be written in place.
``apply(x, op, p, seed, offset, broadcast, inplace) -> y``
    ``op`` (``"dropout"``, ``"alpha"``, ``"alpha_grad"`` or ``"zero"``) of
    ``x`` under the mask contract, with the mask shared along the axes in
    ``broadcast``; the result is ``x`` itself when ``inplace``, else a new
    array of ``x``'s kind, shape and dtype.
``mask(shape, broadcast, p, seed, offset, device) -> keep``
    The boolean keep-mask of the mask shape, of the kind ``device`` names.

Every backend ends in :func:`numbadrop._engine.launch` (CPU kernels or
:mod:`numbadrop._cuda`); none imports another's library at module level, and
:data:`BACKENDS` names them by module so that each is imported only when its
first array arrives (``import numbadrop`` imports neither Dask nor torch nor
numba-cuda). Adding a backend (say JAX through DLPack) is one new module with
these four functions plus one row in :data:`BACKENDS` (or a
:func:`register` call), whose test must not import anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np

from numbadrop import _backend, _host


def _is_torch(x: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_dask(x: object) -> bool:
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


#: ``(test, module)``: the first row whose test accepts an array names its
#: backend. Tests look at ``sys.modules`` only (an array's library is already
#: imported by whoever made the array). NumPy arrays and array-likes that
#: match no row go to :mod:`numbadrop._host`. torch comes before the generic
#: GPU row: a torch bfloat16 CUDA tensor has no ``__cuda_array_interface__``.
BACKENDS: list[tuple[Callable[[object], bool], str]] = [
    (_is_torch, "numbadrop._torch"),
    (is_dask, "numbadrop.dask"),
    (_backend.is_gpu_array, "numbadrop._gpu"),
]


def register(test: Callable[[object], bool], module: str) -> None:
    """Add a backend: arrays for which ``test`` is true go to ``module`` (imported on first use)."""
    BACKENDS.insert(0, (test, module))


def backend_of(x: object) -> ModuleType:
    """The backend module of ``x`` (:mod:`numbadrop._host` for NumPy arrays and array-likes)."""
    if isinstance(x, np.ndarray):
        return _host
    for test, module in BACKENDS:
        if test(x):
            return importlib.import_module(module)
    return _host


def check_array(x: object, name: str = "x") -> object:
    """``x`` validated by its backend (see the module docstring)."""
    as_tensor = getattr(x, "as_tensor", None)
    if as_tensor is not None and getattr(x, "__autograd_leaf__", None) is not None:
        x = as_tensor()  # a Parameter (DropConnect): its recorded leaf, so that its gradient is kept
    return backend_of(x).check(x, name)
