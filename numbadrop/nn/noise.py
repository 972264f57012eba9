"""Gaussian dropout and Gaussian noise layers (Keras' names): thin modules over the functions."""

from __future__ import annotations

from numbadrop.nn.stochastic import RateLayer, StochasticLayer
from numbadrop.ops import gaussian as _gaussian
from numbadrop.random import RngLike

__all__ = ["GaussianDropout", "GaussianNoise"]


class GaussianDropout(RateLayer):
    """Multiply by Gaussian noise of mean 1 and standard deviation ``sqrt(p/(1-p))`` (training mode only).

    Parameters
    ----------
    p : float, default 0.5
        Drop rate in ``[0, 1)`` (Keras' ``rate``).
    inplace : bool, default False
        Overwrite the input.
    rng : None, int, Generator or numpy.random.Generator
        An int seeds a generator owned by the layer; ``None`` uses the
        default generator (see :func:`numbadrop.manual_seed`).

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> layer = nn.GaussianDropout(0.2, rng=0)
    >>> layer
    GaussianDropout(p=0.2, inplace=False)
    >>> y = layer(np.ones((1000, 100), np.float32))
    >>> round(float(y.std()), 1)
    0.5
    >>> _ = layer.eval()
    >>> bool((layer(np.ones((2, 3), np.float32)) == 1).all())
    True
    """

    _function = staticmethod(_gaussian.gaussian_dropout)
    _check = staticmethod(_gaussian._check_rate)


class GaussianNoise(StochasticLayer):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` (training mode only).

    Parameters
    ----------
    stddev : float
        Finite, ``>= 0``.
    inplace, rng
        As in :class:`GaussianDropout`.

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> layer = nn.GaussianNoise(0.1, rng=0)
    >>> layer
    GaussianNoise(stddev=0.1, inplace=False)
    >>> y = layer(np.zeros((1000, 100), np.float32))
    >>> round(float(y.std()), 2)
    0.1
    """

    def __init__(self, stddev: float, inplace: bool = False, *, rng: RngLike = None) -> None:
        _gaussian._check_stddev(stddev)
        super().__init__(inplace, rng)
        self.stddev = stddev

    def _apply(self, x):
        return _gaussian.gaussian_noise(x, self.stddev, self.training, self.inplace, rng=self.rng, return_state=True)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}, inplace={self.inplace}"
