"""The ``torch.nn.Module`` drop-ins: thin modules over the functions of :mod:`numbadrop.functional`.

Every module keeps its options and its generator, nothing else: an int
``rng`` seeds a :class:`numbadrop.Generator` owned by the module, so that
successive training forwards draw offsets 0, 1, 2, ... Its seed and offset
travel in ``state_dict`` (torch's ``extra_state``), so a reloaded model
resumes the same stream of masks. In eval mode a module returns its input.

Under ``torch.compile`` the numbadrop call is a graph break (it runs Numba
kernels, which Dynamo cannot trace); the rest of the model compiles.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from numbadrop import functional as F
from numbadrop._core.validation import check_bool, check_p
from numbadrop.ops import dropblock as _dropblock
from numbadrop.ops import gaussian as _gaussian
from numbadrop.random import Generator, RngLike, check_rng

__all__ = [
    "AlphaDropout",
    "DropBlock2d",
    "DropBlock3d",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "StochasticDepth",
]


@torch.compiler.disable
def _call(function, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``function(x, *args, **kwargs)`` outside Dynamo's tracing (one graph break under ``torch.compile``)."""
    return function(x, *args, **kwargs)


class _NumbadropModule(torch.nn.Module):
    """Shared body: ``inplace``, the generator and its ``extra_state``."""

    def __init__(self, inplace: bool, rng: RngLike) -> None:
        super().__init__()
        self.inplace = check_bool(inplace, "inplace")
        check_rng(rng)
        own = isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool)
        self.rng = Generator(int(rng)) if own else rng

    def get_extra_state(self) -> dict:
        """The generator's seed and offset (``{}`` without a :class:`numbadrop.Generator`)."""
        if isinstance(self.rng, Generator):
            return {"seed": self.rng.seed, "offset": self.rng.offset}
        return {}

    def set_extra_state(self, state: dict) -> None:
        """Resume the stream of masks saved by :meth:`get_extra_state`."""
        if state:
            self.rng = Generator(state["seed"], state["offset"])


class _Rate(_NumbadropModule):
    _function = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RngLike = None) -> None:
        check_p(p)
        super().__init__(inplace, rng)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The module's function in training mode; ``x`` itself in eval mode."""
        if not self.training:
            return x
        return _call(self._function, x, self.p, True, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_Rate):
    """``torch.nn.Dropout`` under numbadrop's mask contract: :func:`numbadrop.dropout`.

    Parameters
    ----------
    p : float, default 0.5
        Drop probability.
    inplace : bool, default False
        Overwrite the input (refused on a leaf that requires grad, as in torch).
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        An int seeds a generator owned by the module; ``None`` uses numbadrop's
        default generator (:func:`numbadrop.manual_seed`).

    Examples
    --------
    >>> import torch
    >>> from numbadrop.torch import Dropout
    >>> layer = Dropout(0.5, rng=0)
    >>> sorted(layer(torch.ones(16)).unique().tolist())
    [0.0, 2.0]
    >>> _ = layer.eval()
    >>> bool((layer(torch.ones(16)) == 1).all())
    True
    """


class Dropout1d(_Rate):
    """``torch.nn.Dropout1d``: whole channels of ``(N, C, L)`` or ``(C, L)``; see :class:`Dropout`."""

    _function = staticmethod(F.dropout1d)


class Dropout2d(_Rate):
    """``torch.nn.Dropout2d``: whole channels of ``(N, C, H, W)`` or ``(C, H, W)``; see :class:`Dropout`."""

    _function = staticmethod(F.dropout2d)


class Dropout3d(_Rate):
    """``torch.nn.Dropout3d``: whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)``; see :class:`Dropout`."""

    _function = staticmethod(F.dropout3d)


class AlphaDropout(_Rate):
    """``torch.nn.AlphaDropout`` (SELU networks): :func:`numbadrop.alpha_dropout`; see :class:`Dropout`."""

    _function = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_Rate):
    """``torch.nn.FeatureAlphaDropout``: alpha dropout of whole channels; see :class:`Dropout`."""

    _function = staticmethod(F.feature_alpha_dropout)


class GaussianDropout(_Rate):
    """Multiplicative Gaussian noise of mean 1 and std ``sqrt(p/(1-p))``: :func:`numbadrop.gaussian_dropout`.

    Parameters as in :class:`Dropout` (``p`` in ``[0, 1)``).
    """

    _function = staticmethod(F.gaussian_dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: RngLike = None) -> None:
        _gaussian._check_rate(p)
        super().__init__(p, inplace, rng=rng)


class GaussianNoise(_NumbadropModule):
    """Additive Gaussian noise of standard deviation ``stddev``: :func:`numbadrop.gaussian_noise`.

    Parameters
    ----------
    stddev : float
        Finite, ``>= 0``.
    inplace : bool, default False
        Overwrite the input.
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        As in :class:`Dropout`.
    """

    def __init__(self, stddev: float, inplace: bool = False, *, rng: RngLike = None) -> None:
        _gaussian._check_stddev(stddev)
        super().__init__(inplace, rng)
        self.stddev = stddev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + stddev * z`` in training mode; ``x`` itself in eval mode."""
        if not self.training:
            return x
        return _call(F.gaussian_noise, x, self.stddev, True, self.inplace, rng=self.rng)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}, inplace={self.inplace}"


class StochasticDepth(_NumbadropModule):
    """``torchvision.ops.StochasticDepth(p, mode)``: :func:`numbadrop.stochastic_depth`.

    Parameters
    ----------
    p : float
        Probability of dropping a sample (``mode="row"``) or the whole batch.
    mode : {"row", "batch"}
        One decision per sample, or one for the batch.
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        As in :class:`Dropout`.
    """

    def __init__(self, p: float, mode: str, *, rng: RngLike = None) -> None:
        check_p(p)
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch', got {mode!r}")
        super().__init__(False, rng)
        self.p, self.mode = p, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole samples (or the batch) dropped in training mode; ``x`` itself in eval mode."""
        if not self.training:
            return x
        return _call(F.stochastic_depth, x, self.p, self.mode, True, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class _DropBlockNd(_NumbadropModule):
    _spatial = 2

    def __init__(
        self, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6, *, rng: RngLike = None
    ) -> None:
        check_p(p)
        _dropblock._check_block_size(block_size, (), type(self).__name__)
        _dropblock._check_eps(eps)
        super().__init__(inplace, rng)
        self.p, self.block_size, self.eps = p, block_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blocks dropped in training mode; ``x`` itself in eval mode."""
        if not self.training:
            return x
        function = F.drop_block2d if self._spatial == 2 else F.drop_block3d
        return _call(function, x, self.p, self.block_size, True, self.inplace, eps=self.eps, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}, inplace={self.inplace}, eps={self.eps}"


class DropBlock2d(_DropBlockNd):
    """``torchvision.ops.DropBlock2d(p, block_size, inplace, eps)``: :func:`numbadrop.drop_block2d`.

    Parameters
    ----------
    p : float
        Drop probability.
    block_size : int
        Side of the dropped squares (odd).
    inplace : bool, default False
        Overwrite the input.
    eps : float, default 1e-6
        Added to the kept count in the rescaling.
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        As in :class:`Dropout`.
    """


class DropBlock3d(_DropBlockNd):
    """``torchvision.ops.DropBlock3d``: cubes of ``(N, C, D, H, W)``; see :class:`DropBlock2d`."""

    _spatial = 3
