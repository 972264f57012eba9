"""DropBlock: ``drop_block2d`` on ``(N, C, H, W)``, forward and backward."""

from __future__ import annotations

import numpy as np

import numbadrop as nd

from .common import THREADS, random_array, require_torch, set_threads, torch, warm_up

#: ~1 Mi elements, and issue 12's case (16 Mi elements).
SHAPES = [(16, 64, 32, 32), (64, 256, 32, 32)]
BLOCK_SIZE = 7
P = 0.1


class DropBlock2d:
    """``drop_block2d(x, 0.1, 7)`` and its backward.

    Peers: torch runs torchvision's algorithm (Bernoulli seed grid, pad,
    ``max_pool2d``, a global rescale) and, as its autograd does, multiplies
    the gradient by the stored mask and scale; ``copy`` is ``np.copyto``
    into a preallocated array (the memory floor of the in-place calls).
    """

    params = (["float32", "float64"], SHAPES, THREADS, ["numbadrop", "numbadrop-inplace", "torch", "copy"])
    param_names = ("dtype", "shape", "threads", "peer")

    def setup(self, dtype, shape, threads, peer):
        set_threads(threads, "numbadrop" if peer.startswith("numbadrop") else peer)
        x = random_array(shape, dtype)
        grad = random_array(shape, dtype, seed=1)
        if peer == "numbadrop":
            gen = nd.Generator(0)
            _, state = nd.drop_block2d(x, P, BLOCK_SIZE, rng=gen, return_state=True)
            self.forward = lambda: nd.drop_block2d(x, P, BLOCK_SIZE, rng=gen)
            self.backward = lambda: state.backward(grad)
        elif peer == "numbadrop-inplace":
            gen = nd.Generator(0)
            _, state = nd.drop_block2d(x, P, BLOCK_SIZE, rng=gen, return_state=True)
            self.forward = lambda: nd.drop_block2d(x, P, BLOCK_SIZE, inplace=True, rng=gen)
            self.backward = lambda: state.backward(grad, inplace=True)
        elif peer == "torch":
            require_torch()
            self.forward, self.backward = _torchvision(torch.from_numpy(x), torch.from_numpy(grad))
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


def _torchvision(xt, gt):
    """torchvision.ops.drop_block2d's forward, and the backward its autograd runs (``grad * noise * scale``)."""
    import torch.nn.functional as F

    n, c, h, w = xt.shape
    bs = BLOCK_SIZE
    gamma = P * h * w / (bs**2 * ((h - bs + 1) * (w - bs + 1)))

    def noise_and_scale():
        noise = torch.empty((n, c, h - bs + 1, w - bs + 1), dtype=xt.dtype).bernoulli_(gamma)
        noise = F.pad(noise, [bs // 2] * 4, value=0)
        noise = 1 - F.max_pool2d(noise, stride=(1, 1), kernel_size=(bs, bs), padding=bs // 2)
        return noise, noise.numel() / (1e-6 + noise.sum())

    def forward():
        noise, scale = noise_and_scale()
        return xt * noise * scale

    noise, scale = noise_and_scale()
    return forward, lambda: gt * scale * noise
