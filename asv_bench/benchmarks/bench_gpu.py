"""GPU dropout (numbadrop's CUDA kernels) against PyTorch and a device copy.

Every ``setup`` raises ``NotImplementedError`` (asv reports the benchmark as
skipped) unless PyTorch sees a CUDA device and numba-cuda is installed. Each
timed call ends with ``torch.cuda.synchronize()``, so asv's wall-clock times
include numbadrop's host overhead (Python, argument checks, launch); for
kernel-only times and the targets, run ``python3 asv_bench/gpu_check.py``.

Peers: ``"numbadrop"`` (a torch CUDA tensor passed straight in), ``"torch"``
(``torch.nn.functional`` / ``native_dropout_backward``) and ``"copy"``
(``Tensor.copy_`` of the same bytes into a preallocated tensor).
"""

from __future__ import annotations

import importlib.util

P = 0.5
GPU_PEERS = ["numbadrop", "torch", "copy"]
GPU_DTYPES = ["float16", "float32"]
GPU_SIZES = [2**20, 2**24, 2**28]


def _require_gpu():
    """``(torch, numbadrop)`` where a CUDA device and numba-cuda exist; NotImplementedError otherwise."""
    try:
        import torch
    except ImportError:
        raise NotImplementedError("PyTorch is not installed") from None
    if not torch.cuda.is_available():
        raise NotImplementedError("no CUDA device")
    if importlib.util.find_spec("numba_cuda") is None:
        raise NotImplementedError("numba-cuda is not installed (pip install 'numbadrop[cuda]')")
    import numbadrop

    return torch, numbadrop


class _GpuBench:
    def _sync(self):
        self.torch.cuda.synchronize()

    def _warm(self, *fns):
        for fn in fns:
            for _ in range(3):
                fn()
        self._sync()


class GpuDropout(_GpuBench):
    """Element dropout forward and backward on a contiguous CUDA tensor."""

    params = (GPU_DTYPES, GPU_SIZES, GPU_PEERS)
    param_names = ("dtype", "size", "peer")
    timeout = 300

    def setup(self, dtype, size, peer):
        torch, nd = _require_gpu()
        self.torch = torch
        x = torch.randn(size, device="cuda", dtype=getattr(torch, dtype))
        g = torch.randn_like(x)
        if peer == "numbadrop":
            gen = nd.Generator(0)
            _, state = nd.dropout(x, P, rng=gen, return_state=True)
            self.forward = lambda: nd.dropout(x, P, rng=gen)
            self.backward = lambda: state.backward(g)
        elif peer == "torch":
            mask = torch.ops.aten.native_dropout(x, P, True)[1]
            self.forward = lambda: torch.nn.functional.dropout(x, P, training=True)
            self.backward = lambda: torch.ops.aten.native_dropout_backward(g, mask, 1.0 / (1.0 - P))
        else:
            out = torch.empty_like(x)
            self.forward = lambda: out.copy_(x)
            self.backward = lambda: out.copy_(g)
        self._warm(self.forward, self.backward)

    def time_forward(self, dtype, size, peer):
        self.forward()
        self._sync()

    def time_backward(self, dtype, size, peer):
        self.backward()
        self._sync()


class GpuDropout2d(_GpuBench):
    """Channel dropout on ``(64, 256, 128, 128)`` float32 (2**28 elements)."""

    params = (GPU_PEERS,)
    param_names = ("peer",)
    timeout = 300

    def setup(self, peer):
        torch, nd = _require_gpu()
        self.torch = torch
        x = torch.randn((64, 256, 128, 128), device="cuda")
        if peer == "numbadrop":
            gen = nd.Generator(0)
            self.forward = lambda: nd.dropout2d(x, P, rng=gen)
        elif peer == "torch":
            self.forward = lambda: torch.nn.functional.dropout2d(x, P, training=True)
        else:
            out = torch.empty_like(x)
            self.forward = lambda: out.copy_(x)
        self._warm(self.forward)

    def time_forward(self, peer):
        self.forward()
        self._sync()


class GpuMask(_GpuBench):
    """The boolean keep-mask itself, on the GPU (``dropout_mask(device=...)``)."""

    params = ([2**24, 2**28],)
    param_names = ("size",)
    timeout = 300

    def setup(self, size):
        torch, nd = _require_gpu()
        self.torch = torch
        gen = nd.Generator(0)
        device = torch.device("cuda")
        self.make = lambda: nd.dropout_mask(size, P, rng=gen, device=device)
        self._warm(self.make)

    def time_dropout_mask(self, size):
        self.make()
        self._sync()
