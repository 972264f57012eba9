"""Forwards written twice, in numbadrop (NumPy idioms) and in torch, for gradient comparisons.

Each operation of :data:`OPS` is a pair ``(numbadrop_fn, torch_fn)`` over the
same arguments; :class:`Program` strings them into a forward with residual
sums, shared layers, concatenations, reductions, scalar arithmetic and
dropout (the mask of the numbadrop call is injected into the torch twin), and
runs it on both sides with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import numbadrop as nd
from numbadrop import nn

WIDTH = 4


def keep_mask(shape: tuple[int, ...], p: float, seed: int, offset: int = 0) -> np.ndarray:
    """numbadrop's keep-mask of one dropout call as floats."""
    return nd.dropout_mask(shape, p, rng=nd.Generator(seed, offset)).astype(np.float64)


def _dropout_pair(p: float, seed: int):
    def ours(h):
        return nd.dropout(h, p, training=True, rng=seed)

    def theirs(h):
        return h * _torch().from_numpy(keep_mask(tuple(h.shape), p, seed)) / (1 - p)

    return ours, theirs


def _torch():
    import torch

    return torch


def unary_ops() -> dict[str, tuple]:
    """Width-preserving operations on one ``(N, WIDTH)`` value."""
    t = _torch
    return {
        "scale": (lambda h: h * 1.5, lambda h: h * 1.5),
        "rdiv": (lambda h: h / 3.0, lambda h: h / 3.0),
        "rsub": (lambda h: 2.0 - h, lambda h: 2.0 - h),
        "neg": (lambda h: -h, lambda h: -h),
        "square": (lambda h: h**2, lambda h: h**2),
        "pow3": (lambda h: h**3, lambda h: h**3),
        "tanh": (np.tanh, lambda h: t().tanh(h)),
        "exp": (lambda h: np.exp(h / 4), lambda h: t().exp(h / 4)),
        "log": (lambda h: np.log(h * h + 1), lambda h: t().log(h * h + 1)),
        "sqrt": (lambda h: np.sqrt(h * h + 0.5), lambda h: t().sqrt(h * h + 0.5)),
        "abs": (np.abs, lambda h: t().abs(h)),
        "relu_np": (lambda h: np.maximum(h, 0), lambda h: t().clamp(h, min=0)),
        "min_np": (lambda h: np.minimum(h, 0.3), lambda h: t().clamp(h, max=0.3)),
        "clip": (lambda h: np.clip(h, -0.5, 0.7), lambda h: t().clamp(h, -0.5, 0.7)),
        "where": (lambda h: np.where(h > 0, h, 0.1 * h), lambda h: t().where(h > 0, h, 0.1 * h)),
        "centre": (lambda h: h - h.mean(axis=1, keepdims=True), lambda h: h - h.mean(dim=1, keepdim=True)),
        "norm": (
            lambda h: h / np.sqrt(h.var(axis=1, keepdims=True) + 1e-3),
            lambda h: h / t().sqrt(h.var(dim=1, keepdim=True, unbiased=False) + 1e-3),
        ),
        "l2": (
            lambda h: h / (np.linalg.norm(h, axis=1, keepdims=True) + 1),
            lambda h: h / (t().linalg.norm(h, dim=1, keepdim=True) + 1),
        ),
        "rowmax": (lambda h: h - h.max(axis=1, keepdims=True), lambda h: h - t().amax(h, dim=1, keepdim=True)),
        "colsum": (lambda h: h + h.sum(axis=0), lambda h: h + h.sum(dim=0)),
        "transpose2": (lambda h: h.T.T * 2, lambda h: h.T.T * 2),
        "reshape": (lambda h: h.reshape(-1, 2).reshape(h.shape), lambda h: h.reshape(-1, 2).reshape(h.shape)),
        "flip_cols": (lambda h: h[:, ::-1], lambda h: h.flip(1)),
        "gather": (lambda h: h[:, [0, 0, 2, 3]], lambda h: h[:, [0, 0, 2, 3]]),
        "mask_index": (
            lambda h: np.concatenate([h[:, :2], h[:, 2:] * 0.5], axis=1),
            lambda h: t().cat([h[:, :2], h[:, 2:] * 0.5], dim=1),
        ),
        "split_join": (
            lambda h: np.concatenate(np.split(h, 2, axis=1)[::-1], axis=1),
            lambda h: t().cat(t().split(h, 2, dim=1)[::-1], dim=1),
        ),
        "stack_mean": (lambda h: np.stack([h, 2 * h]).mean(axis=0), lambda h: t().stack([h, 2 * h]).mean(dim=0)),
        "dropout": _dropout_pair(0.4, 11),
        "dropout_hi": _dropout_pair(0.8, 12),
    }


def binary_ops() -> dict[str, tuple]:
    """Operations joining two ``(N, WIDTH)`` values into one."""
    t = _torch
    return {
        "add": (lambda a, b: a + b, lambda a, b: a + b),
        "sub": (lambda a, b: a - b, lambda a, b: a - b),
        "mul": (lambda a, b: a * b, lambda a, b: a * b),
        "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
        "max": (np.maximum, lambda a, b: t().maximum(a, b)),
        "rowdot": (lambda a, b: a * (a * b).sum(axis=1, keepdims=True), lambda a, b: a * (a * b).sum(1, keepdim=True)),
        "matmul": (lambda a, b: a @ (b.T @ b) / 10, lambda a, b: a @ (b.T @ b) / 10),
    }


@dataclass
class Program:
    """A random forward: ``steps`` of ``(op name, operand indices)`` over a growing list of values.

    Values start as ``[x]``; ``("layer", (i, k))`` applies shared Linear layer
    ``k`` to value ``i``; a unary op takes one index, a binary op two. The
    output is the sum of the last value and every value no step consumed.
    """

    steps: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    n_layers: int = 2

    def numbadrop_model(self, seed: int = 0) -> nn.Module:
        return _NumbadropProgram(self, seed)

    def torch_forward(self, model: nn.Module):
        torch = _torch()
        layers = []
        for layer in model.layers:
            twin = torch.nn.Linear(WIDTH, WIDTH).double()
            with torch.no_grad():
                twin.weight.copy_(torch.from_numpy(layer.weight.data))
                twin.bias.copy_(torch.from_numpy(layer.bias.data))
            layers.append(twin)
        unary, binary = unary_ops(), binary_ops()

        def forward(x):
            return _run(self.steps, x, layers, lambda name, *v: (unary.get(name) or binary[name])[1](*v))

        return forward, layers


def _run(steps, x, layers, apply):
    values = [x]
    used: set[int] = set()
    for name, args in steps:
        if name == "layer":
            i, k = args
            values.append(layers[k](values[i]))
            used.add(i)
        else:
            values.append(apply(name, *(values[i] for i in args)))
            used.update(args)
    out = values[-1]
    for i, value in enumerate(values[:-1]):
        if i not in used and i > 0:
            out = out + value
    return out


class _NumbadropProgram(nn.Module):
    def __init__(self, program: Program, seed: int) -> None:
        super().__init__()
        self.program = program
        self.layers = [nn.Linear(WIDTH, WIDTH, dtype=np.float64, rng=seed + k) for k in range(program.n_layers)]
        for k, layer in enumerate(self.layers):
            self.add_module(f"fc{k}", layer)
        self._unary, self._binary = unary_ops(), binary_ops()

    def forward(self, x):
        return _run(
            self.program.steps, x, self.layers, lambda name, *v: (self._unary.get(name) or self._binary[name])[0](*v)
        )
