"""DropBlock layers (``torchvision.ops.DropBlock2d/3d``): thin modules over :func:`numbadrop.drop_block2d`."""

from __future__ import annotations

import numpy as np

from numbadrop._core.validation import check_p
from numbadrop.nn.stochastic import StochasticLayer
from numbadrop.ops import dropblock as _dropblock
from numbadrop.random import RngLike

__all__ = ["DropBlock2d", "DropBlock3d"]


class _DropBlockNd(StochasticLayer):
    """Shared body: the options and the function (see :class:`~numbadrop.nn.stochastic.StochasticLayer`)."""

    _spatial = 2

    def __init__(
        self, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6, *, rng: RngLike = None
    ) -> None:
        check_p(p)
        _dropblock._check_block_size(block_size, (), type(self).__name__)
        _dropblock._check_eps(eps)
        super().__init__(inplace, rng)
        self.p = p
        self.block_size = block_size
        self.eps = eps

    def _apply(self, x: np.ndarray) -> tuple[np.ndarray, _dropblock.DropBlockState]:
        name = f"drop_block{self._spatial}d"
        args = (self.p, self.block_size, self.training, self.inplace, self.eps, self.rng, True, self._spatial, name)
        return _dropblock._drop_block(x, *args)

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}, inplace={self.inplace}, eps={self.eps}"


class DropBlock2d(_DropBlockNd):
    """DropBlock on ``(N, C, H, W)`` input: see :func:`numbadrop.drop_block2d`.

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
    rng : None, int, Generator or numpy.random.Generator
        An int seeds a generator owned by the layer; ``None`` uses the
        default generator (see :func:`numbadrop.manual_seed`).

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> layer = nn.DropBlock2d(0.2, 3, rng=0)
    >>> layer
    DropBlock2d(p=0.2, block_size=3, inplace=False, eps=1e-06)
    >>> layer(np.ones((2, 4, 8, 8), np.float32)).shape
    (2, 4, 8, 8)
    >>> x = np.ones((1, 1, 5, 5), np.float32)
    >>> layer.eval()(x) is x
    True
    """

    _spatial = 2


class DropBlock3d(_DropBlockNd):
    """DropBlock on ``(N, C, D, H, W)`` input: see :func:`numbadrop.drop_block3d` and :class:`DropBlock2d`.

    Parameters
    ----------
    p, block_size, inplace, eps, rng
        As in :class:`DropBlock2d` (cubes of side ``block_size``).

    Examples
    --------
    >>> import numpy as np
    >>> from numbadrop import nn
    >>> nn.DropBlock3d(0.1, 3, rng=0)(np.ones((1, 2, 4, 4, 4))).shape
    (1, 2, 4, 4, 4)
    """

    _spatial = 3
