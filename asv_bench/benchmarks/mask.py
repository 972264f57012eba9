"""``dropout_mask``: the boolean keep-mask on its own."""

from __future__ import annotations

import numpy as np

import numbadrop as nd

from .common import PEERS, SIZES, THREADS, P, require_torch, set_threads, torch, warm_up


class DropoutMask:
    """A boolean keep-mask of ``size`` elements.

    Peers: NumPy ``rng.random(size, float32) >= p``; torch
    ``torch.empty(size, dtype=bool).bernoulli_(1 - p)``; copy a boolean
    array of that size (one byte read and written per element).
    """

    params = (SIZES, THREADS, PEERS)
    param_names = ("size", "threads", "peer")

    def setup(self, size, threads, peer):
        set_threads(threads, peer)
        if peer == "numbadrop":
            gen = nd.Generator(0)
            self.mask = lambda: nd.dropout_mask(size, P, rng=gen)
        elif peer == "numpy":
            rng = np.random.default_rng(0)
            self.mask = lambda: rng.random(size, np.float32) >= P
        elif peer == "torch":
            require_torch()
            self.mask = lambda: torch.empty(size, dtype=torch.bool).bernoulli_(1 - P)
        else:
            src = np.random.default_rng(0).random(size) >= P
            out = np.empty_like(src)
            self.mask = lambda: np.copyto(out, src)
        warm_up(self.mask)

    def time_dropout_mask(self, size, threads, peer):
        self.mask()
