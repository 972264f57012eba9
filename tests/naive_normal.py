"""Slow, obviously-correct NumPy reference of the contract's normal variates (docs/contract.rst).

Written from the contract text, independently of numbadrop's code (its only
shared piece is :func:`naive.philox4x32_10`, Random123's definition). Every
step is a NumPy float64 operation on whole arrays, rounded once, in the order
the contract gives; the exponent comes from ``np.frexp`` (the kernels find it
by exact scalings), and the quadrant from ``np.choose``.
"""

from __future__ import annotations

import math

import numpy as np
from naive import philox4x32_10

LN2 = 0.6931471805599453  # float64 nearest to ln 2
SQRT2 = 1.4142135623730951  # float64 nearest to sqrt 2
PIO2 = 1.5707963267948966  # float64 nearest to pi / 2
LOG_COEFS = [2.0 / (2 * k + 1) for k in range(1, 11)]  # L_1 .. L_10
SIN_COEFS = [(-1.0) ** n / math.factorial(2 * n + 1) for n in range(1, 9)]  # S_1 .. S_8
COS_COEFS = [(-1.0) ** n / math.factorial(2 * n) for n in range(1, 10)]  # C_1 .. C_9


def words(n_groups: int, seed: int, offset: int) -> np.ndarray:
    """The four words of Philox groups ``0 <= g < n_groups``, shape ``(n_groups, 4)``."""
    g = np.arange(n_groups, dtype=np.uint64)
    ctr = np.stack(
        [
            g & np.uint64(0xFFFFFFFF),
            g >> np.uint64(32),
            np.full_like(g, offset & 0xFFFFFFFF),
            np.full_like(g, offset >> 32),
        ],
        axis=1,
    )
    return philox4x32_10(ctr, (seed & 0xFFFFFFFF, seed >> 32))


def horner(coefs: list[float], w: np.ndarray) -> np.ndarray:
    """``c1 + w (c2 + w (... + w cK))``, one rounding per operation."""
    p = np.full_like(w, coefs[-1])
    for c in coefs[-2::-1]:
        p = c + w * p
    return p


def log_u(a: np.ndarray) -> np.ndarray:
    """``ln((2a + 1) / 2**33)`` by the contract: ``2a + 1 = f 2**e``, ``f`` in ``[sqrt(1/2), sqrt(2))``."""
    f, e = np.frexp(2.0 * a.astype(np.float64) + 1.0)  # f in [1/2, 1)
    low = f < SQRT2 / 2
    f = np.where(low, 2.0 * f, f)
    e = np.where(low, e - 1, e).astype(np.float64)
    s = (f - 1.0) / (f + 1.0)
    w = s * s
    return (e - 33.0) * LN2 + ((s + s) + (s * w) * horner(LOG_COEFS, w))


def cos_sin(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of ``2 pi (2b + 1) / 2**33`` by the contract's quarter-turn reduction."""
    k = (b.astype(np.uint64) + np.uint64(2**29)) >> np.uint64(30)
    d = (2.0 * b.astype(np.float64) + 1.0) / 2.0**31 - k.astype(np.float64)
    phi = d * PIO2
    v = phi * phi
    sin_phi = phi + (phi * v) * horner(SIN_COEFS, v)
    cos_phi = 1.0 + v * horner(COS_COEFS, v)
    q = (k % np.uint64(4)).astype(np.intp)
    return (
        np.choose(q, [cos_phi, -sin_phi, -cos_phi, sin_phi]),
        np.choose(q, [sin_phi, cos_phi, -sin_phi, -cos_phi]),
    )


def normals(n: int, seed: int, offset: int = 0) -> np.ndarray:
    """``z_j`` for ``0 <= j < n`` (float64): pairs ``(r_4g, r_4g+1)`` and ``(r_4g+2, r_4g+3)`` of each group."""
    r = words((n + 3) // 4, seed, offset).reshape(-1, 2)
    rho = np.sqrt(-2.0 * log_u(r[:, 0]))
    c, s = cos_sin(r[:, 1])
    return np.stack([rho * c, rho * s], axis=1).reshape(-1)[:n]


def compute_type(dtype) -> type:
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def gaussian_dropout(x, p: float, seed: int, offset: int = 0) -> np.ndarray:
    """``x * (1 + s z)``, ``s = sqrt(p / (1 - p))``: factor in float64, rounded to the compute type."""
    x = np.asarray(x)
    ct = compute_type(x.dtype)
    s = math.sqrt(p / (1.0 - p))
    m = (1.0 + s * normals(x.size, seed, offset)).astype(ct).reshape(x.shape)
    with np.errstate(all="ignore"):
        return (x.astype(ct) * m).astype(x.dtype)


def gaussian_noise(x, stddev: float, seed: int, offset: int = 0) -> np.ndarray:
    """``x + stddev * z``: the noise in float64, rounded to the compute type, then added there."""
    x = np.asarray(x)
    ct = compute_type(x.dtype)
    noise = (stddev * normals(x.size, seed, offset)).astype(ct).reshape(x.shape)
    with np.errstate(all="ignore"):
        return (x.astype(ct) + noise).astype(x.dtype)
