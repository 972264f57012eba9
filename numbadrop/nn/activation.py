"""Activation layers; each forward returns its output and a backward closure."""

from __future__ import annotations

import math

import numpy as np

from numbadrop._core.validation import is_bfloat16
from numbadrop.kernels.cpu._cache import njit
from numbadrop.nn.module import Module
from numbadrop.nn.tape import Backprop, is_recording, primitive

__all__ = ["GELU", "LeakyReLU", "ReLU", "SELU", "Sigmoid", "Tanh"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float_input(x: object, owner: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f" and not is_bfloat16(x.dtype):
        raise TypeError(f"{owner} expects a float array, got dtype {x.dtype}")
    return x


@njit(cache=True)
def _pass_where_kernel(grad, keep, out):
    zero = grad.dtype.type(0)
    for i in range(grad.size):
        g = grad[i]  # read whether kept or not: a conditional read became masked vector loads (slow on AMD)
        out[i] = g if keep[i] else zero


def _pass_where(grad: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``grad`` where ``keep``, +0 elsewhere (also where ``grad`` is NaN): ReLU's backward, in one pass."""
    if grad.dtype in (np.float32, np.float64) and grad.flags.c_contiguous and keep.flags.c_contiguous:
        out = np.empty_like(grad)
        _pass_where_kernel(grad.reshape(-1), keep.reshape(-1), out.reshape(-1))
        return out
    return np.where(keep, grad, grad.dtype.type(0))


class ReLU(Module):
    """``max(x, 0)``; the backward passes the gradient where the output is positive.

    Parameters
    ----------
    inplace : bool, default False
        Overwrite the input.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply ReLU."""
        x = _float_input(x, "ReLU")
        y = np.maximum(x, 0, out=x if self.inplace else None)
        if not is_recording():
            return y, None
        # Keep the mask, not ``y``: a later in-place layer (AlphaDropout) may overwrite ``y``.
        positive = y > 0
        return y, lambda grad: _pass_where(grad, positive)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply LeakyReLU."""
        x = _float_input(x, "LeakyReLU")
        slope = x.dtype.type(self.negative_slope)
        positive = x > 0
        y = np.multiply(x, np.where(positive, x.dtype.type(1), slope), out=x if self.inplace else None)
        return y, lambda grad: grad * np.where(positive, grad.dtype.type(1), grad.dtype.type(slope))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    """Hyperbolic tangent; backward ``grad * (1 - y**2)``."""

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply tanh."""
        y = np.tanh(_float_input(x, "Tanh"))
        if not is_recording():
            return y, None
        # The derivative now, not ``y``: a later in-place layer (Dropout) may overwrite ``y``.
        slope = 1 - y * y
        return y, lambda grad: grad * slope


class Sigmoid(Module):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow."""

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply the sigmoid."""
        x = _float_input(x, "Sigmoid")
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        if not is_recording():
            return y, None
        slope = y * (1 - y)  # now, not from ``y`` later: a later in-place layer may overwrite ``y``
        return y, lambda grad: grad * slope


@njit(cache=True)
def _gelu(x, approximate):
    y = np.empty_like(x)
    d = np.empty_like(x)
    c = math.sqrt(2.0 / math.pi)
    for i in range(x.size):
        v = float(x.flat[i])
        if approximate:
            inner = c * (v + 0.044715 * v * v * v)
            t = math.tanh(inner)
            y.flat[i] = 0.5 * v * (1.0 + t)
            d.flat[i] = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * v * v)
        else:
            cdf = 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))
            y.flat[i] = v * cdf
            d.flat[i] = cdf + v * math.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)
    return y, d


class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        Exact (erf) form, or torch's tanh approximation.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply GELU (computed in float64, returned in the input dtype)."""
        x = _float_input(x, "GELU")
        y, d = _gelu(np.ascontiguousarray(x, dtype=np.float64), self.approximate == "tanh")
        d = d.astype(x.dtype)
        return y.astype(x.dtype), lambda grad: grad * d

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SELU(Module):
    """Scaled ELU of self-normalizing networks (pair it with ``AlphaDropout``)."""

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Apply SELU."""
        x = _float_input(x, "SELU")
        scale = x.dtype.type(SELU_SCALE)
        neg = x.dtype.type(SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0))
        positive = x > 0
        y = np.where(positive, scale * x, neg)
        slope = np.where(positive, scale, neg + x.dtype.type(SELU_SCALE * SELU_ALPHA))
        return y, lambda grad: grad * slope
