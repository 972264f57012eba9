"""Structural modules: ``Sequential``, ``Flatten``, ``Identity``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from numbadrop.nn.module import Module
from numbadrop.nn.tape import Backprop, primitive

__all__ = ["Flatten", "Identity", "Sequential"]


class Sequential(Module):
    """Modules applied one after another.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Dropout(0.5, rng=0), nn.Linear(8, 2, rng=1))
    >>> model[0]
    Linear(in_features=4, out_features=8, bias=True)
    >>> model(np.ones((3, 4), np.float32)).shape
    (3, 2)
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns ``self``."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential takes Modules, got {module!r}")
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Feed ``x`` through every module in order."""
        for module in self._modules.values():
            x = module(x)
        return x


class Flatten(Module):
    """Flatten axes ``start_dim`` .. ``end_dim`` into one (a view when possible)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop]:
        """Reshape ``x``; the backward reshapes the gradient back."""
        x = np.asarray(x)
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        shape = (*x.shape[:start], -1, *x.shape[end + 1 :])
        in_shape = x.shape
        return x.reshape(shape), lambda grad: grad.reshape(in_shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; records nothing."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return ``x``."""
        return x
