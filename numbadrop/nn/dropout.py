"""Dropout layers: thin modules over :mod:`numbadrop.functional`."""

from __future__ import annotations

import numpy as np

from numbadrop import functional as F
from numbadrop.nn.stochastic import RateLayer
from numbadrop.random import RngLike

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout", "StochasticDepth"]


class _DropoutNd(RateLayer):
    """The dropout layers (the ones :func:`numbadrop.nn.mc_dropout` keeps sampling); see :class:`RateLayer`."""

    _function = staticmethod(F.dropout)


class Dropout(_DropoutNd):
    """Zero each element with probability ``p``, scale the rest by ``1/(1-p)``.

    Parameters
    ----------
    p : float, default 0.5
        Drop probability.
    inplace : bool, default False
        Overwrite the input.
    rng : None, int, Generator or numpy.random.Generator
        An int seeds a generator owned by the layer; ``None`` uses the
        default generator (see :func:`numbadrop.manual_seed`).

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> layer = nn.Dropout(p=0.5, rng=0)
    >>> layer
    Dropout(p=0.5, inplace=False)
    >>> y = layer(np.ones((1, 10), np.float32))
    >>> sorted(set(y.ravel().tolist())) == [0.0, 2.0]
    True
    >>> _ = layer.eval()
    >>> bool((layer(np.ones((1, 10), np.float32)) == 1).all())
    True
    """

    _function = staticmethod(F.dropout)


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input; see :class:`Dropout`."""

    _function = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole channels of ``(N, C, H, W)`` or ``(C, H, W)`` input; see :class:`Dropout`."""

    _function = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input; see :class:`Dropout`."""

    _function = staticmethod(F.dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout for SELU networks (keeps mean 0 and variance 1); see :class:`Dropout`."""

    _function = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of ``(N, C, ...)`` input; see :class:`Dropout`."""

    _function = staticmethod(F.feature_alpha_dropout)


class StochasticDepth(_DropoutNd):
    """Stochastic depth (DropPath) of a residual branch, as ``torchvision.ops.StochasticDepth``.

    Parameters
    ----------
    p : float
        Probability of dropping a sample (``mode="row"``) or the whole batch.
    mode : {"row", "batch"}
        One decision per sample, or one for the batch.
    rng : None, int, Generator or numpy.random.Generator
        As in :class:`Dropout`.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> layer = nn.StochasticDepth(0.2, "row", rng=0)
    >>> layer
    StochasticDepth(p=0.2, mode='row')
    >>> layer(np.ones((4, 8), np.float32)).shape
    (4, 8)
    """

    def __init__(self, p: float, mode: str, *, rng: RngLike = None) -> None:
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch', got {mode!r}")
        super().__init__(p, False, rng=rng)
        self.mode = mode

    def _apply(self, x: np.ndarray) -> tuple[np.ndarray, F.DropoutState]:
        return F.stochastic_depth(x, self.p, self.mode, self.training, rng=self.rng, return_state=True)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
