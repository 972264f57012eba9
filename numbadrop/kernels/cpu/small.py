"""One compiled call for element dropout of a small C-contiguous array.

:func:`numbadrop.backends.numpy.small_dropout` calls :func:`scale` instead of the
general serial kernel: the whole array is one tile of the contract's flat
mask index (the same bits as any tiling), and the call takes arguments that
numba's dispatcher types on its fast paths -- arrays and Python ints -- where
the general kernel's seventeen NumPy scalars cost several microseconds to
build and to type on every call.
"""

from __future__ import annotations

import numpy as np

from numbadrop.kernels.cpu._cache import njit
from numbadrop.kernels.cpu.dropout import _tile_scale, _tile_scale_inplace


@njit(cache=True)
def scale(x, y, coef, k0, k1, o0, o1, t, inplace):
    """``y = x * coef[0]`` where kept, ``coef[2]`` where dropped, mask index = flat C index.

    ``x`` and ``y`` are C-contiguous arrays of one shape and dtype (``y`` may be
    ``x`` itself when ``inplace``); ``coef`` holds ``(m, b, d)`` in that dtype;
    ``k0, k1, o0, o1`` are the 32-bit halves of the key and the stream offset
    and ``t`` the drop threshold, as Python ints.
    """
    n = x.size
    u = np.uint64
    m, b, d = coef[0], coef[1], coef[2]
    if inplace:
        _tile_scale_inplace(y.reshape(n), u(0), n, 0, u(k0), u(k1), u(o0), u(o1), u(t), m, b, d)
    else:
        _tile_scale(x.reshape(n), y.reshape(n), u(0), n, 0, u(k0), u(k1), u(o0), u(o1), u(t), m, b, d)
