"""Channel dropout: ``dropout2d`` on ``(N, C, H, W)``, forward and backward."""

from __future__ import annotations

import numpy as np

import numbadrop as nd

from .common import (
    DTYPES,
    LARGE,
    PEERS,
    THREADS,
    P,
    numpy_mask,
    random_array,
    require_torch,
    set_threads,
    torch,
    warm_up,
)

#: 16 Ki, 1 Mi and ~9.4 M elements; (64, 256, 64, 64) = 2**26 only in the large suite.
SHAPES = [(4, 16, 16, 16), (16, 64, 32, 32), (32, 128, 48, 48)] + ([(64, 256, 64, 64)] if LARGE else [])


class Dropout2d:
    """``dropout2d(x, 0.5)``: one keep decision per ``(n, c)``, shared over ``H x W``.

    Peers: NumPy draws an ``(N, C, 1, 1)`` mask and broadcasts it; torch runs
    ``F.dropout2d`` forward and, as its autograd does, multiplies the
    gradient by the stored scaled mask.
    """

    params = (DTYPES, SHAPES, THREADS, PEERS)
    param_names = ("dtype", "shape", "threads", "peer")

    def setup(self, dtype, shape, threads, peer):
        set_threads(threads, peer)
        x = random_array(shape, dtype)
        grad = random_array(shape, dtype, seed=1)
        mask_shape = (*shape[:2], 1, 1)
        if peer == "numbadrop":
            gen = nd.Generator(0)
            _, state = nd.dropout2d(x, P, rng=gen, return_state=True)
            self.forward = lambda: nd.dropout2d(x, P, rng=gen)
            self.backward = lambda: state.backward(grad)
        elif peer == "numpy":
            rng = np.random.default_rng(0)
            mask = numpy_mask(mask_shape, P, dtype, rng)
            self.forward = lambda: x * numpy_mask(mask_shape, P, dtype, rng) / (1 - P)
            self.backward = lambda: grad * mask / (1 - P)
        elif peer == "torch":
            require_torch()
            xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
            mask = torch.empty(mask_shape, dtype=xt.dtype).bernoulli_(1 - P).div_(1 - P)
            self.forward = lambda: torch.nn.functional.dropout2d(xt, P, training=True)
            self.backward = lambda: gt * mask
        else:
            out = np.empty_like(x)
            self.forward = lambda: np.copyto(out, x)
            self.backward = lambda: np.copyto(out, grad)
        warm_up(self.forward)
        warm_up(self.backward)

    def time_forward(self, dtype, shape, threads, peer):
        self.forward()

    def time_backward(self, dtype, shape, threads, peer):
        self.backward()
