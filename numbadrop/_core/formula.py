"""The element formula of the mask contract, written once as plain Python.

:mod:`numbadrop.kernels.cpu` compiles :func:`element` with ``numba.njit`` and
:mod:`numbadrop.kernels.cuda` with
``numba.cuda.jit(device=True)``; the CUDA simulator runs it as Python. The
only operation whose meaning differs between targets is a multiply followed
by an add: NVVM fuses ``x * m + b`` into one FMA (one rounding) unless told
not to, while the CPU rounds twice. :func:`mul_rn` names "multiply, rounded
once, never fused"; each target registers its own lowering of it (the CPU a
plain multiply, the GPU ``mul.rn``), and as Python it is a plain multiply.
"""

from __future__ import annotations

import functools
import math

import numpy as np

MODE_SCALE = 0  # kept: x * m, dropped: d
MODE_AFFINE = 1  # kept: x * m + b, dropped: d
MODE_MASK = 2  # y = keep (boolean output)


def mul_rn(a, b):
    """``a * b`` rounded to nearest once; never contracted into an FMA."""
    return a * b


def element(xv, keep, m, b, d, mode):
    """The element formula of the contract, in the compute type."""
    if mode == MODE_AFFINE:
        return mul_rn(xv, m) + b if keep else d
    return xv * m if keep else d


# --- the coefficients of each operation (Python side, before any kernel) ----------------------

#: SELU's alpha * scale, the saturation value alpha dropout keeps the mean at.
ALPHA = 1.7580993408473766


def threshold(p: float) -> int:
    """The contract's drop threshold ``t = ceil(p * 2**32)`` (exact in float64)."""
    return math.ceil(p * 4294967296.0)


def alpha_coefficients(p: float) -> tuple[float, float, float]:
    """``(a, b, d)``: kept ``a*x + b``, dropped ``d`` (float64, before rounding)."""
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    return a, ALPHA * a * p, -ALPHA * a * (1.0 - p)


@functools.lru_cache(maxsize=512)
def coefficients(op: str, p: float, dtype: np.dtype):
    """``(mode, m, b, d)`` of ``op`` at ``p`` for arrays of ``dtype`` (cached: every call of a training loop asks).

    ``op`` is ``"dropout"``, ``"alpha"``, ``"alpha_grad"`` or ``"mask"``; the
    coefficients are rounded once to the compute type (float64 for float64
    arrays, float32 otherwise).
    """
    ctype = np.float64 if dtype == np.float64 else np.float32
    if op == "dropout":
        return MODE_SCALE, ctype(1.0 / (1.0 - p)), ctype(0.0), ctype(0.0)
    a, b, d = alpha_coefficients(p)
    if op == "alpha":
        return MODE_AFFINE, ctype(a), ctype(b), ctype(d)
    if op == "alpha_grad":
        return MODE_SCALE, ctype(a), ctype(0.0), ctype(0.0)
    return MODE_MASK, ctype(1.0), ctype(0.0), ctype(0.0)
