"""Losses: ``loss = loss_fn(output, target)``; ``loss.backward()`` or ``loss_fn.backward()``.

A loss call returns a 0-d :class:`~numbadrop.autograd.Tensor`: in training
mode (the default) it is recorded like any layer, so ``loss.backward()``
backpropagates through the whole graph that made ``output``; under
:class:`~numbadrop.no_grad` it is a constant. ``float(loss)``,
``loss.item()`` and f-strings give its value. ``loss_fn.backward()``
returns ``dloss/doutput`` of the latest call, for ``model.backward(...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from numbadrop._core.validation import is_bfloat16
from numbadrop.autograd.tensor import wrap
from numbadrop.nn.module import Module
from numbadrop.nn.tape import is_recording, primitive

__all__ = ["CrossEntropyLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum")
LossBackprop = Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]


class _Loss(Module):
    """Shared body: the ``reduction`` option and ``backward(grad=1.0)``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def backward(self, grad: float = 1.0) -> np.ndarray:  # type: ignore[override]
        """Gradient of ``grad * loss`` with respect to the latest call's output.

        Raises
        ------
        RuntimeError
            If no loss was computed in training mode since the last backward.
        """
        return super().backward(grad)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _scalar(value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits ``(N, C)`` against integer labels ``(N,)``.

    Parameters
    ----------
    reduction : {"mean", "sum"}, default "mean"
        How the per-sample losses are combined.
    label_smoothing : float, default 0.0
        Mix the one-hot target with the uniform distribution, as torch does.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> logits = np.zeros((2, 4), np.float32)
    >>> loss = loss_fn(logits, np.array([0, 3]))
    >>> round(float(loss), 6) == round(float(np.log(4)), 6)
    True
    >>> loss_fn.backward().shape
    (2, 4)
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    @primitive
    def forward(self, logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, LossBackprop | None]:
        """Loss value (0-d, the logits' dtype; float32 for bfloat16 logits) and its backward closure."""
        logits = np.asarray(logits)
        target = np.asarray(target)
        given = logits.dtype
        if is_bfloat16(given):  # NumPy has no bfloat16 exp/log of its own: float32, as torch's autocast does
            logits = logits.astype(np.float32)
        if logits.ndim != 2 or logits.dtype.kind != "f":
            raise ValueError(f"logits must be a 2-D float array (N, C), got shape {logits.shape}, dtype {logits.dtype}")
        n, c = logits.shape
        if target.shape != (n,) or target.dtype.kind not in "iu":
            raise ValueError(
                f"target must be integer labels of shape ({n},), got shape {target.shape}, dtype {target.dtype}"
            )
        if n and (target.min() < 0 or target.max() >= c):
            raise ValueError(f"target labels must be in [0, {c}), got values in [{target.min()}, {target.max()}]")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_z
        eps = self.label_smoothing
        rows = np.arange(n)
        per_sample = -(1.0 - eps) * log_p[rows, target] - (eps / c) * log_p.sum(axis=1)
        divisor = max(n if self.reduction == "mean" else 1, 1)
        loss = _scalar(per_sample.sum() / divisor, logits.dtype)
        if not is_recording():
            return wrap(loss, None), None  # a constant: .item() works, .backward() says why not

        def backprop(g: np.ndarray) -> tuple[np.ndarray, None]:
            grad = np.exp(log_p)
            grad -= eps / c
            grad[rows, target] -= 1.0 - eps
            grad /= divisor
            if g != 1:
                grad *= grad.dtype.type(g)
            return grad.astype(given, copy=False), None

        return loss, backprop

    def extra_repr(self) -> str:
        parts = [super().extra_repr()] if self.reduction != "mean" else []
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(parts)


class MSELoss(_Loss):
    """Mean (or summed) squared error.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> loss = nn.MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    >>> loss.item()
    5.0
    """

    @primitive
    def forward(self, output: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, LossBackprop | None]:
        """Loss value (0-d, the output's dtype) and its backward closure."""
        output = np.asarray(output)
        target = np.asarray(target)
        if output.shape != target.shape:
            raise ValueError(f"output shape {output.shape} and target shape {target.shape} differ")
        diff = output - target
        divisor = max(diff.size, 1) if self.reduction == "mean" else 1
        loss = _scalar(np.vdot(diff, diff) / divisor, diff.dtype)
        if not is_recording():
            return wrap(loss, None), None  # a constant: .item() works, .backward() says why not

        def backprop(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            grad = diff * diff.dtype.type(2.0 * float(g) / divisor)
            return grad, -grad

        return loss, backprop
