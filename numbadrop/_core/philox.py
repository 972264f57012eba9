"""Philox4x32-10 (Salmon et al., SC'11), written once as plain Python.

The functions below only use operations that mean the same thing in CPython,
in ``numba.njit`` code and in ``numba.cuda.jit(device=True)`` code: every
value is held in a 64-bit unsigned integer and explicitly masked back to 32
bits, so no result ever depends on 32-bit wraparound (which the CUDA simulator
and compiled code treat differently, see NUMBA_NOTES.md).
"""

from __future__ import annotations

import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)
ROUNDS = 10


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)``.

    All arguments and results are ``uint64`` values below ``2**32``. The
    function is self-contained (no calls) so that every compiler target can
    inline it into a loop and vectorize over independent counters.
    """
    for r in range(ROUNDS):
        if r > 0:
            k0 = (k0 + PHILOX_W0) & MASK32
            k1 = (k1 + PHILOX_W1) & MASK32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (
            ((p1 >> SHIFT32) ^ c1 ^ k0) & MASK32,
            p1 & MASK32,
            ((p0 >> SHIFT32) ^ c3 ^ k1) & MASK32,
            p0 & MASK32,
        )
    return c0, c1, c2, c3
