"""Standard normal variates from Philox words (the contract's normal section), written once as plain Python.

:mod:`numbadrop.kernels.cpu.gaussian` compiles these functions with ``numba.njit`` and
:mod:`numbadrop.kernels.cuda.gaussian` with ``numba.cuda.jit(device=True)``; the CUDA simulator
runs them as Python. They must give the same bits on every target, so they
call no library ``log``, ``sin``, ``cos`` or ``exp`` (glibc's and NVIDIA's
differ in the last bit). Only operations IEEE 754 rounds exactly are used:
``+ - * /`` and ``sqrt`` in float64, integer operations (the exponent of
``2a + 1`` from its leading zeros), comparisons, exact scalings by powers
of two, and fixed polynomials in Horner form, every product that feeds an
addition written through :func:`numbadrop._core.formula.mul_rn` so that NVVM
never fuses it into an FMA (the CPU does not fuse without ``fastmath``).

Four helpers name what each target lowers its own way (as Python they are
plain functions): ``mul_rn``, :func:`sqrt_rn`, :func:`clz64` and
:func:`compute`; the CPU and CUDA Gaussian kernels register them.

Box-Muller on a pair of 32-bit words ``(a, b)``:
``u = (2a + 1) / 2**33``, ``turns = (2b + 1) / 2**33`` (both in ``(0, 1)``,
so no logarithm of 0), ``rho = sqrt(-2 ln u)``, and the pair is
``(rho cos(2 pi turns), rho sin(2 pi turns))``. ``|z| < 6.77`` always.
"""

from __future__ import annotations

import math

import numpy as np

from numbadrop._core.formula import mul_rn

#: float64 nearest to ln 2, sqrt 2 and pi / 2.
LN2 = 0.6931471805599453
SQRT2 = 1.4142135623730951
PIO2 = 1.5707963267948966

# ln f = 2 atanh(s) = 2 s + s w (L1 + w (L2 + ... + w L10)), s = (f - 1)/(f + 1), w = s * s,
# L_k = float64 nearest to 2 / (2k + 1). |s| <= 0.1716 for f in [sqrt(1/2), sqrt(2)).
L1, L2, L3, L4, L5, L6, L7, L8, L9, L10 = (2.0 / (2 * k + 1) for k in range(1, 11))

# sin phi = phi + phi v (S1 + v (S2 + ... + v S8)), cos phi = 1 + v (C1 + v (C2 + ... + v C9)),
# v = phi * phi, S_n = float64 nearest to (-1)**n / (2n + 1)!, C_n to (-1)**n / (2n)!.
# |phi| <= pi / 4.
# (factorials up to 18! are exact in float64, so each is one correctly rounded division)
S1, S2, S3, S4, S5, S6, S7, S8 = ((-1.0) ** n / math.factorial(2 * n + 1) for n in range(1, 9))
C1, C2, C3, C4, C5, C6, C7, C8, C9 = ((-1.0) ** n / math.factorial(2 * n) for n in range(1, 10))

_U1 = np.uint64(1)
_U29 = np.uint64(1 << 29)
_U30 = np.uint64(30)
_U3 = np.uint64(3)


def clz64(v):
    """Leading zero bits of the 64-bit unsigned integer ``v`` (``llvm.ctlz`` on the CPU, ``clz.b64`` on the GPU)."""
    return 64 - int(v).bit_length()


def sqrt_rn(v):
    """``sqrt(v)`` correctly rounded (IEEE 754), as a vectorizable instruction on every target.

    numba lowers ``math.sqrt`` on the CPU to a call of libm's ``sqrt``,
    which LLVM does not vectorize; the CPU registers ``llvm.sqrt.f64``
    instead, the GPU ``sqrt.rn.f64``; both round like libm.
    """
    return math.sqrt(v)


def normal_pair(a, b):
    """Two standard normals from the 32-bit words ``a`` and ``b`` (Box-Muller, float64).

    Self-contained (no calls), like :func:`numbadrop._philox.philox4x32_10`,
    so that every target inlines it and the CPU vectorizes it.

    ``ln u``, ``u = (2a + 1) / 2**33``: ``2a + 1 = f * 2**e`` exactly, with
    ``f`` in ``[sqrt(1/2), sqrt(2))`` (from the leading zeros of ``2a + 1``:
    shifted up to bit 63, it converts exactly), and
    ``ln u = (e - 33) ln 2 + ln f``.

    The angle is ``2 pi (2b + 1) / 2**33``: in quarter turns
    ``q = (2b + 1) / 2**31``, ``k = round(q)`` (``(b + 2**29) >> 30``, no
    ties), ``d = q - k`` in ``[-1/2, 1/2]`` (exact) and ``phi = d * pi/2``;
    ``(cos, sin)`` of the angle are those of ``phi`` turned by ``k`` quarter
    turns, which only swaps and negates them.
    """
    # rho = sqrt(-2 ln u)
    ai = np.uint64(a) + np.uint64(a) + _U1  # 2a + 1 < 2**33
    lz = clz64(ai)  # 31 .. 63: 2a + 1 = f * 2**(63 - lz), f in [1, 2)
    m = np.float64(ai << np.uint64(lz)) * 1.0842021724855044e-19  # exact: 33 bits at most, times 2**-63
    n = 30.0 - np.float64(lz)  # e - 33
    big = m >= SQRT2
    m = m * 0.5 if big else m
    n = n + 1.0 if big else n
    s = (m - 1.0) / (m + 1.0)
    w = mul_rn(s, s)
    p = L9 + mul_rn(w, L10)
    p = L8 + mul_rn(w, p)
    p = L7 + mul_rn(w, p)
    p = L6 + mul_rn(w, p)
    p = L5 + mul_rn(w, p)
    p = L4 + mul_rn(w, p)
    p = L3 + mul_rn(w, p)
    p = L2 + mul_rn(w, p)
    p = L1 + mul_rn(w, p)
    ln_u = mul_rn(n, LN2) + ((s + s) + mul_rn(mul_rn(s, w), p))
    rho = sqrt_rn(-2.0 * ln_u)  # -2 ln u > 0: u < 1
    # cos and sin of 2 pi (2b + 1) / 2**33
    fb = np.float64(b)
    k = (np.uint64(b) + _U29) >> _U30  # 0..4
    kf = np.float64(k)
    d = mul_rn(fb + fb + 1.0, 4.656612873077393e-10) - kf  # exact: (2b + 1) / 2**31 - k
    phi = mul_rn(d, PIO2)
    v = mul_rn(phi, phi)
    ps = S7 + mul_rn(v, S8)
    ps = S6 + mul_rn(v, ps)
    ps = S5 + mul_rn(v, ps)
    ps = S4 + mul_rn(v, ps)
    ps = S3 + mul_rn(v, ps)
    ps = S2 + mul_rn(v, ps)
    ps = S1 + mul_rn(v, ps)
    sin_phi = phi + mul_rn(mul_rn(phi, v), ps)
    pc = C8 + mul_rn(v, C9)
    pc = C7 + mul_rn(v, pc)
    pc = C6 + mul_rn(v, pc)
    pc = C5 + mul_rn(v, pc)
    pc = C4 + mul_rn(v, pc)
    pc = C3 + mul_rn(v, pc)
    pc = C2 + mul_rn(v, pc)
    pc = C1 + mul_rn(v, pc)
    cos_phi = 1.0 + mul_rn(v, pc)
    q = k & _U3  # quadrant; k = 4 is quadrant 0
    odd = (q & np.uint64(1)) != np.uint64(0)
    cos_t = sin_phi if odd else cos_phi
    sin_t = cos_phi if odd else sin_phi
    cos_t = -cos_t if (q == np.uint64(1) or q == np.uint64(2)) else cos_t
    sin_t = -sin_t if q >= np.uint64(2) else sin_t
    return mul_rn(rho, cos_t), mul_rn(rho, sin_t)


def compute(ref, v):
    """``v`` (float64) rounded once to the compute type of ``ref``: float64 for float64, else float32.

    (As Python, in the CUDA simulator, a float16 ``ref`` is not widened
    first; adding or multiplying its float32 noise promotes it exactly.)
    """
    return np.float64(v) if isinstance(ref, np.float64) else np.float32(v)


def noise_element(xv, z, a, additive):
    """The element formula: ``xv + a*z`` (``additive``) or ``xv * (1 + a*z)``, in ``xv``'s type.

    ``a*z`` and ``1 + a*z`` are float64; the noise (or the factor) is rounded
    once to the compute type, then added to (multiplied by) ``xv`` there.
    """
    if additive:
        return xv + compute(xv, mul_rn(a, z))
    return xv * compute(xv, 1.0 + mul_rn(a, z))
