"""Slow, obviously-correct NumPy reference of the mask contract (DESIGN.md section 1).

Nothing here imports numbadrop's kernels: the tests compare those kernels with
these functions bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(ctr: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 of each row of ``ctr`` (shape ``(n, 4)``), Random123's definition."""
    c = [ctr[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for rnd in range(10):
        if rnd:
            k0 = (k0 + np.uint64(0x9E3779B9)) & M32
            k1 = (k1 + np.uint64(0xBB67AE85)) & M32
        prod0 = np.uint64(0xD2511F53) * c[0]
        prod1 = np.uint64(0xCD9E8D57) * c[2]
        c = [
            ((prod1 >> np.uint64(32)) ^ c[1] ^ k0) & M32,
            prod1 & M32,
            ((prod0 >> np.uint64(32)) ^ c[3] ^ k1) & M32,
            prod0 & M32,
        ]
    return np.stack(c, axis=1)


def words(n: int, seed: int, offset: int, first: int = 0) -> np.ndarray:
    """Random words ``r_j`` for mask indices ``first <= j < first + n``."""
    j = np.arange(first, first + n, dtype=np.uint64)
    g = j // np.uint64(4)
    groups = np.unique(g)
    ctr = np.stack(
        [
            groups & M32,
            groups >> np.uint64(32),
            np.full_like(groups, offset & 0xFFFFFFFF),
            np.full_like(groups, offset >> 32),
        ],
        axis=1,
    )
    out = philox4x32_10(ctr, (seed & 0xFFFFFFFF, seed >> 32))
    return out[np.searchsorted(groups, g), (j % np.uint64(4)).astype(np.intp)]


def keep_mask(mask_shape: tuple[int, ...], p: float, seed: int, offset: int) -> np.ndarray:
    """Boolean keep-mask of ``mask_shape``: kept iff ``r_j >= ceil(p * 2**32)``."""
    n = math.prod(mask_shape)
    t = math.ceil(p * 2.0**32)
    return (words(n, seed, offset) >= np.uint64(t)).reshape(mask_shape)


def broadcast_mask(shape, broadcast, p, seed, offset) -> np.ndarray:
    mshape = tuple(1 if a in broadcast else n for a, n in enumerate(shape))
    return np.broadcast_to(keep_mask(mshape, p, seed, offset), shape)


def compute_type(dtype) -> type:
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def dropout(x, p, seed, offset=0, broadcast=()) -> np.ndarray:
    """``x * scale`` where kept, 0 where dropped; product in the compute type."""
    x = np.asarray(x)
    if p == 1.0:
        return np.zeros_like(x)
    ct = compute_type(x.dtype)
    keep = broadcast_mask(x.shape, tuple(a % max(x.ndim, 1) for a in broadcast), p, seed, offset)
    with np.errstate(all="ignore"):
        kept = (x.astype(ct) * ct(1.0 / (1.0 - p))).astype(x.dtype)
    return np.where(keep, kept, x.dtype.type(0))


ALPHA = 1.7580993408473766


def alpha_coefficients(p):
    a = 1.0 / math.sqrt((ALPHA**2 * p + 1.0) * (1.0 - p))
    return a, ALPHA * a * p, -ALPHA * a * (1.0 - p)


def alpha_dropout(x, p, seed, offset=0, broadcast=()) -> np.ndarray:
    """Kept ``a*x + alpha*a*p``, dropped ``-alpha*a*(1-p)``, in the compute type."""
    x = np.asarray(x)
    if p == 1.0:
        return np.zeros_like(x)
    ct = compute_type(x.dtype)
    a, b, d = (ct(v) for v in alpha_coefficients(p))
    keep = broadcast_mask(x.shape, broadcast, p, seed, offset)
    with np.errstate(all="ignore"):
        kept = (x.astype(ct) * a + b).astype(x.dtype)
    return np.where(keep, kept, d.astype(x.dtype))


def alpha_dropout_grad(g, p, seed, offset=0, broadcast=()) -> np.ndarray:
    """``grad * a`` where kept, 0 where dropped."""
    g = np.asarray(g)
    if p == 1.0:
        return np.zeros_like(g)
    ct = compute_type(g.dtype)
    a = ct(alpha_coefficients(p)[0])
    keep = broadcast_mask(g.shape, broadcast, p, seed, offset)
    with np.errstate(all="ignore"):
        kept = (g.astype(ct) * a).astype(g.dtype)
    return np.where(keep, kept, g.dtype.type(0))


# --- bfloat16 without ml_dtypes: arrays of its bits (uint16) ----------------------------------


def bfloat16_to_float32(bits) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32: the upper half of a float32 (exact)."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bfloat16(f) -> np.ndarray:
    """float32 -> bfloat16 bits: round to nearest even; NaN -> quiet NaN 0x7FC0 with its sign."""
    u = np.asarray(f, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    quiet = ((u >> np.uint64(16)) & np.uint64(0x8000)) | np.uint64(0x7FC0)
    return np.where(np.isnan(f), quiet, rounded).astype(np.uint16)


def dropout_bfloat16(bits, p, seed, offset=0, broadcast=()) -> np.ndarray:
    """:func:`dropout` of bfloat16 data given as bits: float32 product, one rounding, dropped +0."""
    bits = np.asarray(bits, np.uint16)
    if p == 1.0:
        return np.zeros_like(bits)
    keep = broadcast_mask(bits.shape, broadcast, p, seed, offset)
    with np.errstate(all="ignore"):
        kept = float32_to_bfloat16(bfloat16_to_float32(bits) * np.float32(1.0 / (1.0 - p)))
    return np.where(keep, kept, np.uint16(0))


def alpha_dropout_bfloat16(bits, p, seed, offset=0, broadcast=()) -> np.ndarray:
    """:func:`alpha_dropout` of bfloat16 bits: ``a*x`` then ``+ b`` in float32, one final rounding."""
    bits = np.asarray(bits, np.uint16)
    if p == 1.0:
        return np.zeros_like(bits)
    a, b, d = (np.float32(v) for v in alpha_coefficients(p))
    keep = broadcast_mask(bits.shape, broadcast, p, seed, offset)
    with np.errstate(all="ignore"):
        kept = float32_to_bfloat16(bfloat16_to_float32(bits) * a + b)
    return np.where(keep, kept, float32_to_bfloat16(d))
