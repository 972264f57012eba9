"""``Parameter``: a trainable array and its gradient."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array (``data``) with its accumulated gradient (``grad``).

    Parameters
    ----------
    data : numpy.ndarray
        The values; kept as given (no copy), so optimizers update it in place.

    Attributes
    ----------
    data : numpy.ndarray
        The values.
    grad : numpy.ndarray or None
        Sum of gradients since the last ``zero_grad``; ``None`` before any backward.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
            raise TypeError(f"Parameter data must be a float numpy.ndarray, got {data!r}")
        self.data = data
        self.grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``data``."""
        return self.data.shape

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` to ``self.grad`` (allocating it on first use)."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
