"""Losses: ``loss = loss_fn(output, target)`` is a float, ``loss_fn.backward()`` its gradient."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from numbadrop.nn.module import Module
from numbadrop.nn.tape import grad_enabled

__all__ = ["CrossEntropyLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum")


class _Loss(Module):
    """A loss keeps the gradient of its latest call (not a tape: it is a leaf)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._grad_fn: Callable[[], np.ndarray] | None = None

    def __call__(self, output: np.ndarray, target: np.ndarray) -> float:
        loss, grad_fn = self.forward(output, target)
        self._grad_fn = grad_fn if grad_enabled() else None
        return loss

    def backward(self, grad: float = 1.0) -> np.ndarray:  # type: ignore[override]
        """Gradient of ``grad * loss`` with respect to the latest call's output.

        Raises
        ------
        RuntimeError
            If the loss has not been computed since the last backward.
        """
        if self._grad_fn is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a loss computed first")
        grad_fn, self._grad_fn = self._grad_fn, None
        out = grad_fn()
        if grad != 1.0:
            out *= out.dtype.type(grad)
        return out

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


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
    >>> round(loss_fn(logits, np.array([0, 3])), 6) == round(float(np.log(4)), 6)
    True
    >>> loss_fn.backward().shape
    (2, 4)
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> tuple[float, Callable[[], np.ndarray]]:
        """Loss value and a closure computing its gradient."""
        logits = np.asarray(logits)
        target = np.asarray(target)
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
        divisor = n if self.reduction == "mean" else 1

        def grad_fn() -> np.ndarray:
            grad = np.exp(log_p)
            grad -= eps / c
            grad[rows, target] -= 1.0 - eps
            grad /= max(divisor, 1)
            return grad

        return float(per_sample.sum() / max(divisor, 1)), grad_fn

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
    >>> nn.MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    5.0
    """

    def forward(self, output: np.ndarray, target: np.ndarray) -> tuple[float, Callable[[], np.ndarray]]:
        """Loss value and a closure computing its gradient."""
        output = np.asarray(output)
        target = np.asarray(target)
        if output.shape != target.shape:
            raise ValueError(f"output shape {output.shape} and target shape {target.shape} differ")
        diff = output - target
        divisor = max(diff.size, 1) if self.reduction == "mean" else 1
        loss = float(np.vdot(diff, diff) / divisor)
        return loss, lambda: diff * diff.dtype.type(2.0 / divisor)
