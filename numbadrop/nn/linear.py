"""``Linear``: ``y = x @ weight.T + bias`` with torch's layout and initialization."""

from __future__ import annotations

import math

import numpy as np

from numbadrop.nn.module import Module
from numbadrop.nn.parameter import Parameter
from numbadrop.nn.tape import Backprop, needs_input_grad, primitive
from numbadrop.random import Generator, RngLike, default_generator

__all__ = ["Linear", "init_rng"]


def init_rng(rng: RngLike) -> np.random.Generator:
    """A NumPy generator for parameter initialization from an ``rng=`` argument.

    ``None`` draws from numbadrop's default generator, so
    :func:`numbadrop.manual_seed` makes initialization reproducible too.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        rng = default_generator
    if isinstance(rng, Generator):
        seed, offset = rng.draw()
        return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, offset & 0xFFFFFFFF, offset >> 32, 1])
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int, a numbadrop.Generator or a numpy Generator, got {rng!r}")


def _check_features(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class Linear(Module):
    """Affine layer ``y = x @ weight.T + bias``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis of the input and of the output.
    bias : bool, default True
        Whether to add a learned bias.
    dtype : numpy dtype, default float32
        Parameter dtype (float32 or float64).
    rng : None, int, Generator or numpy.random.Generator
        Source of the initial values, drawn like torch's: ``U(-k, k)`` with
        ``k = 1/sqrt(in_features)`` for weight and bias.

    Attributes
    ----------
    weight : Parameter
        Shape ``(out_features, in_features)``.
    bias : Parameter or None
        Shape ``(out_features,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> fc = nn.Linear(784, 256, rng=0)
    >>> fc
    Linear(in_features=784, out_features=256, bias=True)
    >>> fc(np.zeros((32, 784), np.float32)).shape
    (32, 256)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: np.dtype | type = np.float32,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.in_features = _check_features(in_features, "in_features")
        self.out_features = _check_features(out_features, "out_features")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        gen = init_rng(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(gen.uniform(-bound, bound, shape).astype(dtype))
        self.bias = Parameter(gen.uniform(-bound, bound, self.out_features).astype(dtype)) if bias else None

    @primitive(saves=(0,))
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """``x @ weight.T + bias`` for input of shape ``(..., in_features)``."""
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects input with last axis {self.in_features}, got shape {x.shape}")
        weight, bias = self.weight, self.bias
        y = x @ weight.data.T
        if bias is not None:
            y += bias.data

        def backprop(grad: np.ndarray) -> np.ndarray:
            g2 = grad.reshape(-1, self.out_features)
            weight.accumulate(g2.T @ x.reshape(-1, self.in_features), owned=True)
            if bias is not None:
                bias.accumulate(g2.sum(axis=0), owned=True)
            # A network's first layer: nothing needs the input gradient (a third of the matrix work).
            return grad @ weight.data if needs_input_grad() else None

        return y, backprop

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
