"""Reproduce a numbadrop keep-mask with nothing but NumPy (mask contract v1)."""

import math

import numpy as np

M = 0xFFFFFFFF


def philox4x32_10(c, k0, k1):
    """Philox4x32-10 (Random123) of each row of ``c``: uint64 array (n, 4), words < 2**32."""
    c0, c1, c2, c3 = c.T
    for r in range(10):
        if r:  # the key is bumped between rounds
            k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
        p0, p1 = c0 * np.uint64(0xD2511F53), c2 * np.uint64(0xCD9E8D57)
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M, (p0 >> 32) ^ c3 ^ k1, p0 & M
    return np.stack([c0, c1, c2, c3], axis=1)


def keep_mask(shape, p, seed, offset=0, broadcast_dims=()):
    """Boolean mask (True = kept) of ``shape`` with every broadcast axis set to 1."""
    bdims = {a % len(shape) for a in broadcast_dims}
    mshape = tuple(1 if a in bdims else n for a, n in enumerate(shape))
    n = math.prod(mshape)
    g = np.arange((n + 3) // 4, dtype=np.uint64)  # one Philox call per group of 4
    ctr = np.stack([g & M, g >> 32, np.full_like(g, offset & M), np.full_like(g, offset >> 32)], 1)
    r = philox4x32_10(ctr, seed & M, seed >> 32).reshape(-1)[:n]  # r_j = word j % 4 of group j // 4
    return (r >= math.ceil(p * 2**32)).reshape(mshape)  # dropped iff r_j < t
