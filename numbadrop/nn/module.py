"""The ``Module`` base class: train/eval mode and a backward for the latest forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Backprop = Callable[[np.ndarray], np.ndarray]


class Module:
    """Base class of numbadrop layers, shaped like ``torch.nn.Module``.

    Subclasses implement :meth:`forward`. A forward in training mode that
    needs a backward stores one closure (``forward -> (y, backprop)``, as in
    thinc): the closure holds what the backward needs, and the next forward
    replaces it, so nothing accumulates on the layer.

    Attributes
    ----------
    training : bool
        True in training mode (the default), False after :meth:`eval`.
    """

    def __init__(self) -> None:
        self.training = True
        self._backprop: Backprop | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the layer's output; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=True``) or evaluation mode; returns ``self``."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"mode must be a bool, got {mode!r}")
        self.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Input gradient of the latest training-mode forward.

        Raises
        ------
        RuntimeError
            If no training-mode forward has run since construction or since
            the latest eval-mode forward.
        """
        if self._backprop is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a training-mode forward first")
        return self._backprop(grad)

    def extra_repr(self) -> str:
        """The text inside the parentheses of ``repr``; subclasses override it."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
