"""``Linear``: ``y = x @ weight.T + bias`` with torch's layout and initialization."""

from __future__ import annotations

import math

import numpy as np

from numbadrop import functional as F
from numbadrop._core.validation import check_p, is_bfloat16
from numbadrop.nn.module import Module
from numbadrop.nn.parameter import Parameter
from numbadrop.nn.tape import Backprop, needs_input_grad, primitive
from numbadrop.random import Generator, RngLike, check_rng, default_generator

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
        Parameter dtype (float32 or float64). A bfloat16 input
        (``ml_dtypes.bfloat16``) is computed in this dtype and the output and
        the input gradient are rounded to bfloat16: bfloat16 activations with
        float32 master weights, the mixed precision of ``torch.autocast``.
    rng : None, int, Generator or numpy.random.Generator
        Source of the initial values, drawn like torch's: ``U(-k, k)`` with
        ``k = 1/sqrt(in_features)`` for weight and bias.
    weight_dropout : float, default 0.0
        DropConnect: in training mode each forward drops every weight with
        this probability and scales the others by ``1/(1-p)`` (a mask under
        the contract, regenerated in the backward: the weight gradient is
        masked the same way). Eval mode uses the weights as they are.
    dropout_rng : None, int, Generator or numpy.random.Generator
        Source of the weight masks (an int seeds a generator the layer owns).

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
    >>> nn.Linear(8, 4, weight_dropout=0.3, rng=0)  # DropConnect
    Linear(in_features=8, out_features=4, bias=True, weight_dropout=0.3)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: np.dtype | type = np.float32,
        rng: RngLike = None,
        weight_dropout: float = 0.0,
        dropout_rng: RngLike = None,
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
        self.weight_dropout = check_p(weight_dropout, "weight_dropout")
        check_rng(dropout_rng)
        owned = isinstance(dropout_rng, (int, np.integer)) and not isinstance(dropout_rng, bool)
        self.dropout_rng = Generator(dropout_rng) if owned else dropout_rng

    @primitive(saves=(0,))
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """``x @ weight.T + bias`` for input of shape ``(..., in_features)``."""
        x = np.asarray(x)
        if x.ndim == 0:  # as torch: a 1-d input is one sample, a 0-d one has no feature axis
            raise ValueError(f"Linear's input must be at least 1-D, (..., {self.in_features}); got a 0-d array")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear's input must have last axis {self.in_features}, got shape {x.shape}")
        weight, bias = self.weight, self.bias
        w, mask = weight.data, None
        if self.weight_dropout and self.training:  # DropConnect: this forward's weights
            w, mask = F.dropout(w, self.weight_dropout, rng=self.dropout_rng, return_state=True)
        # bfloat16 activations (mixed precision): the products run in the weights' float type
        # (BLAS has no bfloat16), the output and the input gradient are rounded to bfloat16.
        given = x.dtype if is_bfloat16(x.dtype) else None
        if given is not None:
            x = x.astype(w.dtype)
        y = x @ w.T
        if bias is not None:
            y += bias.data

        def backprop(grad: np.ndarray) -> np.ndarray:
            if given is not None:
                grad = grad.astype(w.dtype)
            g2 = grad.reshape(-1, self.out_features)
            grad_w = g2.T @ x.reshape(-1, self.in_features)
            weight.accumulate(grad_w if mask is None else mask.backward(grad_w, inplace=True), owned=True)
            if bias is not None:
                bias.accumulate(g2.sum(axis=0), owned=True)
            # A network's first layer: nothing needs the input gradient (a third of the matrix work).
            if not needs_input_grad():
                return None
            grad_x = grad @ (weight.data if mask is None else w)
            return grad_x if given is None else grad_x.astype(given)

        return (y if given is None else y.astype(given)), backprop

    def extra_repr(self) -> str:
        text = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        return text + (f", weight_dropout={self.weight_dropout}" if self.weight_dropout else "")
