"""The element formula of the mask contract, written once as plain Python.

``_cpu`` compiles :func:`element` with ``numba.njit`` and ``_cuda`` with
``numba.cuda.jit(device=True)``; the CUDA simulator runs it as Python. The
only operation whose meaning differs between targets is a multiply followed
by an add: NVVM fuses ``x * m + b`` into one FMA (one rounding) unless told
not to, while the CPU rounds twice. :func:`mul_rn` names "multiply, rounded
once, never fused"; each target registers its own lowering of it (the CPU a
plain multiply, the GPU ``mul.rn``), and as Python it is a plain multiply.
"""

from __future__ import annotations

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
