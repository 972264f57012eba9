"""Memory: a numbadrop forward keeps O(1) bytes for its backward, not a mask.

``mem_`` benchmarks report the size of the object a forward keeps for its
backward; ``peakmem_`` ones the peak resident memory of the whole benchmark
process (imports and setup included, the same for every peer), so compare
the peers with one another rather than reading the absolute numbers.
"""

from __future__ import annotations

import numpy as np

import numbadrop as nd

from .common import SIZES, P, numpy_mask, random_array, require_torch, set_threads, torch, warm_up

#: Dropout layers in the simulated network of ``peakmem_forward_layers``.
LAYERS = 16


class SavedForBackward:
    """What one float32 forward keeps for its backward.

    numbadrop: a ``DropoutState`` (seed, offset, p, shape); NumPy: the boolean
    mask (one byte per element). torch's tensors are opaque to ``asizeof``,
    so torch is measured by ``ForwardPeakMemory`` only.
    """

    params = (SIZES, ["numbadrop", "numpy"])
    param_names = ("size", "peer")

    def setup(self, size, peer):
        set_threads(1, peer)
        self.x = random_array(size, "float32")
        self.gen = nd.Generator(0)
        self.rng = np.random.default_rng(0)

    def mem_saved_for_backward(self, size, peer):
        if peer == "numbadrop":
            return nd.dropout(self.x, P, rng=self.gen, return_state=True)[1]
        return numpy_mask(self.x.shape, P, self.x.dtype, self.rng)


class ForwardPeakMemory:
    """Peak memory of the forwards of ``LAYERS`` dropout layers on one input.

    Each forward's output is dropped at once; what it keeps for the backward
    is held until the end, as a network's tape would hold it: numbadrop keeps
    ``LAYERS`` states, NumPy and torch ``LAYERS`` boolean masks.
    ``peakmem_setup_only`` is the control (everything but those forwards,
    numba's compiler included): the difference between the two is what the
    forwards cost.
    """

    params = ([10**6, 10**7], ["numbadrop", "numpy", "torch"])
    param_names = ("size", "peer")

    def setup(self, size, peer):
        set_threads(1, peer)
        x = random_array(size, "float32")
        if peer == "numbadrop":
            gen = nd.Generator(0)
            self.forward = lambda: nd.dropout(x, P, rng=gen, return_state=True)[1]
        elif peer == "numpy":
            rng = np.random.default_rng(0)

            def forward():
                mask = numpy_mask(x.shape, P, x.dtype, rng)
                _ = x * mask / (1 - P)
                return mask

            self.forward = forward
        else:
            require_torch()
            xt = torch.from_numpy(x)
            self.forward = lambda: torch.ops.aten.native_dropout(xt, P, True)[1]
        warm_up(self.forward)

    def peakmem_setup_only(self, size, peer):
        """The control: imports, data and the warm-up forward, no more."""

    def peakmem_forward_layers(self, size, peer):
        saved = [self.forward() for _ in range(LAYERS)]
        return len(saved)
