"""Alpha dropout (SELU networks): forward and backward."""

from __future__ import annotations

import math

import numpy as np

import numbadrop as nd

from .common import (
    DTYPES,
    PEERS,
    SIZES,
    THREADS,
    P,
    numpy_mask,
    random_array,
    require_torch,
    set_threads,
    torch,
    warm_up,
)

ALPHA = 1.7580993408473766  # SELU's alpha * scale


def alpha_coefficients(p: float) -> tuple[float, float, float]:
    """``(a, b, d)``: a kept element becomes ``a*x + b``, a dropped one ``d``."""
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))
    return a, ALPHA * a * p, -ALPHA * a * (1.0 - p)


class AlphaDropout:
    """``alpha_dropout(x, 0.5, training=True)`` on a 1-D array, and its backward.

    Peers: NumPy ``np.where(keep, a*x + b, d)`` with a freshly drawn mask
    (backward ``grad * keep * a`` with the stored mask); torch
    ``F.alpha_dropout`` (backward: the gradient times the stored scaled mask,
    as its autograd computes it).
    """

    params = (DTYPES, SIZES, THREADS, PEERS)
    param_names = ("dtype", "size", "threads", "peer")

    def setup(self, dtype, size, threads, peer):
        set_threads(threads, peer)
        x = random_array(size, dtype)
        grad = random_array(size, dtype, seed=1)
        a, b, d = alpha_coefficients(P)
        if peer == "numbadrop":
            gen = nd.Generator(0)
            _, state = nd.alpha_dropout(x, P, training=True, rng=gen, return_state=True)
            self.forward = lambda: nd.alpha_dropout(x, P, training=True, rng=gen)
            self.backward = lambda: state.backward(grad)
        elif peer == "numpy":
            rng = np.random.default_rng(0)
            keep = numpy_mask(size, P, dtype, rng)
            at, bt, dt = (np.dtype(dtype).type(v) for v in (a, b, d))
            self.forward = lambda: np.where(numpy_mask(size, P, dtype, rng), x * at + bt, dt)
            self.backward = lambda: grad * keep * at
        elif peer == "torch":
            require_torch()
            xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
            mask = torch.empty(size, dtype=xt.dtype).bernoulli_(1 - P).mul_(a)
            self.forward = lambda: torch.nn.functional.alpha_dropout(xt, P, training=True)
            self.backward = lambda: gt * mask
        else:
            out = np.empty_like(x)
            self.forward = lambda: np.copyto(out, x)
            self.backward = lambda: np.copyto(out, grad)
        warm_up(self.forward)
        warm_up(self.backward)

    def time_forward(self, dtype, size, threads, peer):
        self.forward()

    def time_backward(self, dtype, size, threads, peer):
        self.backward()
