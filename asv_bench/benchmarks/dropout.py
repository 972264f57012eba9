"""Element dropout: forward, backward (``DropoutState.backward``), layouts, small activations."""

from __future__ import annotations

import numpy as np

import numbadrop as nd
from numbadrop import nn

from .common import (
    DTYPES,
    PEERS,
    SIZES,
    THREADS,
    P,
    numpy_dropout,
    numpy_mask,
    random_array,
    require_torch,
    set_threads,
    torch,
    warm_up,
)


def _peer_functions(peer: str, x: np.ndarray, p: float):
    """``(forward, backward)`` callables of ``peer`` on ``x`` (backward takes no argument).

    Each backward reuses what the peer's forward keeps: numbadrop a
    ``DropoutState``, NumPy a stored boolean mask, torch the mask that
    ``native_dropout`` returns.
    """
    grad = random_array(x.shape, x.dtype.name, seed=1)
    if peer == "numbadrop":
        gen = nd.Generator(0)
        _, state = nd.dropout(x, p, rng=gen, return_state=True)
        return (lambda: nd.dropout(x, p, rng=gen)), (lambda: state.backward(grad))
    if peer == "numpy":
        rng = np.random.default_rng(0)
        mask = numpy_mask(x.shape, p, x.dtype, rng)
        return (lambda: numpy_dropout(x, p, rng)), (lambda: grad * mask / (1 - p))
    if peer == "torch":
        require_torch()
        xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
        mask = torch.ops.aten.native_dropout(xt, p, True)[1]
        scale = 1.0 / (1.0 - p)
        return (
            lambda: torch.nn.functional.dropout(xt, p, training=True),
            lambda: torch.ops.aten.native_dropout_backward(gt, mask, scale),
        )
    if peer == "copy":
        out = np.empty_like(x)
        return (lambda: np.copyto(out, x)), (lambda: np.copyto(out, grad))
    raise ValueError(peer)


class Dropout:
    """``dropout(x, 0.5)`` on a 1-D array, and the backward from its state."""

    params = (DTYPES, SIZES, THREADS, PEERS)
    param_names = ("dtype", "size", "threads", "peer")

    def setup(self, dtype, size, threads, peer):
        set_threads(threads, peer)
        self.x = random_array(size, dtype)
        self.forward, self.backward = _peer_functions(peer, self.x, P)
        warm_up(self.forward)
        warm_up(self.backward)

    def time_forward(self, dtype, size, threads, peer):
        self.forward()

    def time_backward(self, dtype, size, threads, peer):
        self.backward()


class DropoutInPlace:
    """``dropout(x, 0.5, inplace=True)`` on a 1-D float32 array.

    Each peer overwrites its own buffer on every call (NumPy with ``*=``,
    torch with ``F.dropout(..., inplace=True)``); ``copy`` is ``np.copyto``
    into a second buffer. In place, numbadrop reads each element through the
    output view, so each cache line is read and written once.
    """

    params = (SIZES, THREADS, PEERS)
    param_names = ("size", "threads", "peer")

    def setup(self, size, threads, peer):
        set_threads(threads, peer)
        buf = random_array(size, "float32")
        if peer == "numbadrop":
            gen = nd.Generator(0)
            self.forward = lambda: nd.dropout(buf, P, rng=gen, inplace=True)
        elif peer == "numpy":
            rng = np.random.default_rng(0)

            def forward():
                buf[...] *= rng.random(size, np.float32) >= P
                buf[...] *= np.float32(1 / (1 - P))

            self.forward = forward
        elif peer == "torch":
            require_torch()
            bt = torch.from_numpy(buf)
            self.forward = lambda: torch.nn.functional.dropout(bt, P, training=True, inplace=True)
        else:
            out = np.empty_like(buf)
            self.forward = lambda: np.copyto(out, buf)
        warm_up(self.forward)

    def time_forward(self, size, threads, peer):
        self.forward()


class DropoutLayout:
    """Forward on non-contiguous 2-D views of 10**6 float32 elements.

    ``"transposed"`` is an F-ordered view, ``"strided"`` every other column
    of a wider array, ``"locked"`` a ``(batch, time, features)`` array with
    one mask per sequence shared along time (``broadcast_dims=1``; its NumPy
    peer draws a ``(batch, 1, features)`` mask and broadcasts it).
    """

    params = (["contiguous", "transposed", "strided", "locked"], THREADS, PEERS)
    param_names = ("layout", "threads", "peer")

    def setup(self, layout, threads, peer):
        set_threads(threads, peer)
        if layout == "contiguous":
            x = random_array((1000, 1000), "float32")
        elif layout == "transposed":
            x = random_array((1000, 1000), "float32").T
        elif layout == "strided":
            x = random_array((1000, 2000), "float32")[:, ::2]
        else:
            x = random_array((100, 100, 100), "float32")
        self.x = x
        rng = np.random.default_rng(0)
        if layout == "locked":
            mask_shape = (x.shape[0], 1, x.shape[2])
            if peer == "numbadrop":
                gen = nd.Generator(0)
                self.forward = lambda: nd.dropout(x, P, rng=gen, broadcast_dims=1)
            elif peer == "numpy":
                self.forward = lambda: x * (rng.random(mask_shape, np.float32) >= P) / (1 - P)
            elif peer == "torch":
                require_torch()
                xt = torch.from_numpy(x)
                # torch has no broadcast-mask dropout: the usual idiom draws the mask itself.
                self.forward = lambda: xt * torch.empty(mask_shape).bernoulli_(1 - P) / (1 - P)
            else:
                out = np.empty(x.shape, x.dtype)
                self.forward = lambda: np.copyto(out, x)
        else:
            if peer == "copy":
                out = np.empty(x.shape, x.dtype)  # C-ordered, as the other peers' outputs
                self.forward = lambda: np.copyto(out, x)
            else:
                self.forward = _peer_functions(peer, x, P)[0]
        warm_up(self.forward)

    def time_forward(self, layout, threads, peer):
        self.forward()


class SmallActivation:
    """A (32, 256) float32 activation, where per-call overhead dominates.

    ``time_layer_step`` is one training step through a dropout *layer*:
    forward and backward (numbadrop ``nn.Dropout``; torch ``nn.Dropout``
    with autograd; NumPy the mask line and ``grad * mask / (1 - p)``; copy
    two copies).
    """

    params = (PEERS,)
    param_names = ("peer",)

    def setup(self, peer):
        set_threads(1, peer)
        x = random_array((32, 256), "float32")
        grad = random_array((32, 256), "float32", seed=1)
        self.forward, self.backward = _peer_functions(peer, x, P)
        if peer == "numbadrop":
            layer = nn.Dropout(P, rng=0)

            def step():
                layer(x)
                return layer.backward(grad)

        elif peer == "numpy":
            rng = np.random.default_rng(0)

            def step():
                mask = rng.random(x.shape, np.float32) >= P
                _ = x * mask / (1 - P)
                return grad * mask / (1 - P)

        elif peer == "torch":
            layer = torch.nn.Dropout(P)
            xt = torch.from_numpy(x).requires_grad_(True)
            gt = torch.from_numpy(grad)

            def step():
                layer(xt).backward(gt)
                xt.grad = None

        else:
            out = np.empty_like(x)

            def step():
                np.copyto(out, x)
                np.copyto(out, grad)

        self.step = step
        warm_up(self.forward)
        warm_up(self.backward)
        warm_up(step)

    def time_forward(self, peer):
        self.forward()

    def time_backward(self, peer):
        self.backward()

    def time_layer_step(self, peer):
        self.step()
