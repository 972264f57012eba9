"""DropBlock layers (``torchvision.ops.DropBlock2d/3d``): thin modules over :func:`numbadrop.drop_block2d`."""

from __future__ import annotations

import numpy as np

from numbadrop import _dropblock
from numbadrop._validation import check_bool, check_p
from numbadrop.nn.module import Module
from numbadrop.nn.tape import Backprop, primitive
from numbadrop.random import Generator, RngLike, check_rng

__all__ = ["DropBlock2d", "DropBlock3d"]


class _DropBlockNd(Module):
    """Shared body: the options, the layer's generator, and the backward via the state."""

    _spatial = 2

    def __init__(
        self, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6, *, rng: RngLike = None
    ) -> None:
        super().__init__()
        check_p(p)
        _dropblock._check_block_size(block_size, (), type(self).__name__)
        _dropblock._check_eps(eps)
        self.p = p
        self.block_size = block_size
        self.inplace = check_bool(inplace, "inplace")
        self.eps = eps
        check_rng(rng)
        # An int seed becomes the layer's own generator: successive forwards draw offsets 0, 1, 2, ...
        self.rng = Generator(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else rng

    @primitive
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, Backprop | None]:
        """Apply DropBlock; in training mode record the mask-regenerating backward."""
        y, state = _dropblock._drop_block(
            x,
            self.p,
            self.block_size,
            self.training,
            self.inplace,
            self.eps,
            self.rng,
            True,
            self._spatial,
            f"drop_block{self._spatial}d",
        )
        return y, (None if state.kind == "identity" else state.backward)

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
