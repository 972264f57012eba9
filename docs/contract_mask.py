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


# --- Normal variates (Gaussian dropout and noise) ---
LN2, SQRT2, PIO2 = 0.6931471805599453, 1.4142135623730951, 1.5707963267948966  # nearest float64s
L = [2 / (2 * k + 1) for k in range(1, 11)]  # ln:  L_1 .. L_10
S = [(-1) ** n / math.factorial(2 * n + 1) for n in range(1, 9)]  # sin: S_1 .. S_8
C = [(-1) ** n / math.factorial(2 * n) for n in range(1, 10)]  # cos: C_1 .. C_9


def horner(cs, w):
    """``c_1 + w (c_2 + w (... + w c_K))``, every operation rounded on its own (no FMA)."""
    p = cs[-1]
    for c in cs[-2::-1]:
        p = c + w * p
    return p


def normals(n, seed, offset=0):
    """Standard normal variates ``z_j``, ``0 <= j < n`` (float64): Box-Muller on the word pairs."""
    g = np.arange((n + 3) // 4, dtype=np.uint64)
    ctr = np.stack([g & M, g >> 32, np.full_like(g, offset & M), np.full_like(g, offset >> 32)], 1)
    a, b = philox4x32_10(ctr, seed & M, seed >> 32).reshape(-1, 2).T  # pairs (r_4g, r_4g+1), (r_4g+2, r_4g+3)
    f, e = np.frexp(2.0 * a + 1)  # 2a + 1 = f * 2**e exactly, f in [1/2, 1)
    f, e = np.where(f < SQRT2 / 2, (2 * f, e - 34.0), (f, e - 33.0))  # f in [sqrt(1/2), sqrt(2)); e - 33
    s = (f - 1) / (f + 1)
    rho = np.sqrt(-2 * (e * LN2 + ((s + s) + s * (s * s) * horner(L, s * s))))  # sqrt(-2 ln u)
    k = (b + 2**29) >> 30  # the nearest quarter turn of the angle 2 pi (2b + 1) / 2**33, 0..4
    phi = ((2.0 * b + 1) / 2**31 - k) * PIO2  # the rest, in [-pi/4, pi/4]
    v = phi * phi
    sin, cos = phi + phi * v * horner(S, v), 1 + v * horner(C, v)
    q = (k % 4).astype(int)
    z = rho * np.choose(q, [cos, -sin, -cos, sin]), rho * np.choose(q, [sin, cos, -sin, -cos])
    return np.stack(z, 1).reshape(-1)[:n]  # z_4g, z_4g+1 from the first pair, z_4g+2, z_4g+3 from the second
