"""The base of every layer that draws from a generator: dropout, DropBlock, Gaussian noise."""

from __future__ import annotations

import numpy as np

from numbadrop._core.validation import check_bool, check_p
from numbadrop.nn.module import Module
from numbadrop.nn.tape import Backprop, primitive
from numbadrop.random import Generator, RngLike, check_rng

__all__ = ["RateLayer", "StochasticLayer"]


class StochasticLayer(Module):
    """Shared body: ``inplace``, the layer's generator, and a backward that is the forward's state's.

    Subclasses implement ``_apply(x) -> (y, state)`` (their function called
    with ``return_state=True``); the state's ``kind`` is ``"identity"`` when
    nothing was drawn (eval mode, a zero rate), and its ``backward``
    regenerates the mask or noise.

    Parameters
    ----------
    inplace : bool
        Overwrite the input.
    rng : None, int, Generator or numpy.random.Generator
        An int seeds a generator owned by the layer, so that successive
        forwards draw offsets 0, 1, 2, ... instead of repeating one mask.
    """

    def __init__(self, inplace: bool, rng: RngLike) -> None:
        super().__init__()
        self.inplace = check_bool(inplace, "inplace")
        check_rng(rng)
        self.rng = Generator(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else rng

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop | None]:
        """Apply the layer; in training mode record the backward that regenerates its mask or noise."""
        y, state = self._apply(x)
        return y, (None if state.kind == "identity" else state.backward)

    def _apply(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        """``(y, state)`` of the layer's function on ``x`` with the layer's options."""
        raise NotImplementedError


class RateLayer(StochasticLayer):
    """A layer over a function called as ``f(x, p, training, inplace, rng=..., return_state=True)``.

    Subclasses set ``_function`` (a ``staticmethod``) and, where the rate's
    range is not ``[0, 1]``, ``_check`` (a ``staticmethod`` raising on a bad
    ``p``).
    """

    _function = None
    _check = staticmethod(check_p)

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RngLike = None) -> None:
        self._check(p)
        super().__init__(inplace, rng)
        self.p = p  # as given, so repr shows p=1 for an int 1, like torch

    def _apply(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        """The layer's function with its options and ``return_state=True``."""
        return self._function(x, self.p, self.training, self.inplace, rng=self.rng, return_state=True)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
