"""DropBlock (torchvision's ``ops.drop_block2d/3d``) under the mask contract.

The seeds are a mask of the contract (docs/contract.rst, "DropBlock seed
grid"): on the grid ``(N, C, *(n - block_size + 1 for n in spatial))`` a cell
is a seed where the contract, with drop probability ``gamma``, drops. A seed at
grid cell ``(i, j)`` zeroes the input window ``[i, i + bs) x [j, j + bs)``,
which is torchvision's "pad the seeds by ``bs // 2``, max-pool ``bs x bs``
with stride 1 and padding ``bs // 2``". The kept values are scaled by one
scalar for the whole batch, computed as torchvision computes it. The kernels
(:mod:`numbadrop.kernels.cpu.dropblock`, :mod:`numbadrop.kernels.cuda.dropblock`)
regenerate the block mask from counters; a forward keeps only the scalar for
its backward. Each backend's ``drop_block`` and ``drop_block_apply`` run them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Union

import numpy as np

from numbadrop import backends
from numbadrop._core.geometry import gamma
from numbadrop._core.validation import check_bool, check_same_shape
from numbadrop.autograd.tensor import bump, is_recorded
from numbadrop.ops import torch_autograd
from numbadrop.ops._front import check_call, draw, recorded
from numbadrop.random import RngLike

__all__ = ["DropBlockState", "drop_block2d", "drop_block3d"]

Output = Union[np.ndarray, tuple[np.ndarray, "DropBlockState"]]


@dataclass(frozen=True)
class DropBlockState:
    """What a DropBlock forward keeps for its backward: how to redraw the block mask, and the scale.

    Attributes
    ----------
    kind : {"dropblock", "identity"}
        A DropBlock forward, or a pass-through (eval mode or ``p = 0``).
    p : float
        Drop probability.
    seed, offset : int
        The seed grid's Philox key and stream offset.
    shape : tuple of int
        Shape of the forward input ``(N, C, *spatial)``.
    block_size : int
        Side of the dropped blocks.
    gamma : float
        Seed probability (the seed grid's drop probability).
    scale : numpy.floating or dask.array.Array
        ``numel / (eps + kept)`` in the compute type (float32 for float16,
        bfloat16 and float32 inputs, float64 for float64); for a Dask input,
        a lazy 0-d array.
    """

    kind: str
    p: float
    seed: int
    offset: int
    shape: tuple[int, ...]
    block_size: int = 1
    gamma: float = 0.0
    scale: np.floating = 1.0  # type: ignore[assignment]  (a NumPy scalar of the compute type)

    def backward(self, grad: np.ndarray, inplace: bool = False) -> np.ndarray:
        """Gradient with respect to the forward's input: ``grad * scale`` where kept, 0 where dropped.

        Parameters
        ----------
        grad : array
            Gradient with respect to the forward's output (its shape; a NumPy,
            GPU, torch or Dask array, like the forward's input).
        inplace : bool, default False
            Write the result into ``grad``.

        Returns
        -------
        array
            The gradient with respect to the input; ``grad`` itself after a
            pass-through forward.
        """
        grad = _check_array(grad, "grad", inplace)
        check_same_shape(grad, self.shape)
        inplace = check_bool(inplace, "inplace")
        if is_recorded(grad):  # a differentiated backward: linear in grad
            return recorded(lambda g: (self.backward(g, inplace), self), grad, "drop_block_backward", False)
        if self.kind == "identity":
            return grad
        backend = backends.backend_of(grad)
        if inplace:
            backend.check_inplace(grad, "grad")
        return backend.drop_block_apply(grad, self, inplace)


def _check_array(x: object, name: str, inplace: object = False) -> object:
    x = backends.check_array(x, name, inplace)
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"DropBlock does not support masked arrays (got one as {name}): pass {name}.filled() or .data")
    return x


def _check_block_size(block_size: object, spatial: tuple[int, ...], name: str) -> int:
    if isinstance(block_size, (bool, np.bool_)) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"block_size must be an int, got {block_size!r} ({type(block_size).__name__})")
    bs = int(block_size)
    if bs < 1 or bs % 2 == 0:
        raise ValueError(f"block_size must be a positive odd int (as in torchvision), got {block_size!r}")
    if any(bs > n for n in spatial):
        raise ValueError(f"block_size {bs} is larger than the spatial size {spatial} of {name}'s input")
    return bs


def _check_eps(eps: object) -> float:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a real number, got {eps!r} ({type(eps).__name__})")
    value = float(eps)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return value


def _drop_block(x, p, block_size, training, inplace, eps, rng, return_state, spatial: int, name: str) -> Output:
    """Shared body of :func:`drop_block2d` and :func:`drop_block3d`."""
    x = _check_array(x, "x", inplace)
    if len(x.shape) != spatial + 2:
        dims = "(N, C, H, W)" if spatial == 2 else "(N, C, D, H, W)"
        raise ValueError(f"{name} expects a {spatial + 2}-D {dims} input, got an array of shape {tuple(x.shape)}")
    shape = tuple(int(n) for n in x.shape)
    bs = _check_block_size(block_size, shape[2:], name)
    eps = _check_eps(eps)
    p, training, return_state = check_call(p, training, return_state, rng)
    inplace = check_bool(inplace, "inplace")
    if is_recorded(x):
        return recorded(
            lambda v: _drop_block(v, p, bs, training, inplace, eps, rng, True, spatial, name), x, name, return_state
        )
    if torch_autograd.wants_grad(x):  # one node of torch's graph, whose backward redraws the block mask
        run = lambda v: _drop_block(v, p, bs, training, inplace, eps, rng, True, spatial, name)  # noqa: E731
        return torch_autograd.record(run, x, name, inplace, return_state)
    backend = backends.backend_of(x)
    if inplace:
        backend.check_inplace(x, "x")
        bump(x)  # an unrecorded write: a pending backward that needs x must see it
    seed, offset = draw(rng, training)
    if not training or p == 0.0:
        state = DropBlockState("identity", p, 0, 0, shape, bs)
        return (x, state) if return_state else x
    state = DropBlockState("dropblock", p, seed, offset, shape, bs, gamma(p, shape[2:], bs))
    y, scale = backend.drop_block(x, state, eps, inplace)
    state = dataclasses.replace(state, scale=scale)
    return (y, state) if return_state else y


def drop_block2d(
    x: np.ndarray,
    p: float,
    block_size: int,
    training: bool = True,
    inplace: bool = False,
    *,
    eps: float = 1e-6,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """DropBlock on ``(N, C, H, W)`` input: zero square blocks, rescale the rest (``torchvision.ops.drop_block2d``).

    Seeds are drawn on the grid ``(N, C, H - bs + 1, W - bs + 1)`` with
    probability ``gamma = p * H * W / (bs**2 * (H - bs + 1) * (W - bs + 1))``
    (the contract's mask of that shape with drop probability ``gamma``: a
    seed is where it drops); a seed at ``(n, c, i, j)`` zeroes
    ``x[n, c, i:i + bs, j:j + bs]``. The kept elements are scaled by
    ``numel / (eps + kept)``, one scalar for the whole batch (computed in
    float32, or float64 for float64 input, as torchvision computes it).

    Parameters
    ----------
    x : numpy.ndarray, GPU array, torch.Tensor or dask.array.Array
        ``(N, C, H, W)`` float16, float32, float64 or bfloat16 array (float16
        and bfloat16 are computed in float32 and rounded once). A Dask array
        gives a lazy Dask array (in ``x``'s chunks, computed in blocks of
        whole planes; the same bits as the NumPy call) and a state whose
        ``scale`` is lazy; ``inplace`` must then be False.
    p : float
        Drop probability in ``[0, 1]`` (the expected dropped fraction before
        overlaps; ``p = 1`` does not drop everything, as in torchvision).
    block_size : int
        Side of the dropped squares: odd, at most ``H`` and ``W`` (a larger
        one is a ValueError, where torchvision silently uses ``min(H, W)``).
    training : bool, default True
        If False, return ``x`` itself.
    inplace : bool, default False
        Write the result into ``x``.
    eps : float, default 1e-6
        Added to the kept count before dividing (``>= 0``).
    rng : None, int, numbadrop.Generator or numpy.random.Generator
        Source of the seed grid (see :func:`numbadrop.random.seed_offset`).
    return_state : bool, default False
        Also return a :class:`DropBlockState` for the backward pass.

    Returns
    -------
    y : array
        The result: ``x``'s shape, dtype and kind (C-contiguous).
    state : DropBlockState
        Only with ``return_state=True``; ``state.backward(grad)`` applies the
        same mask and scale to a gradient.

    Notes
    -----
    The positional order is that of numbadrop's dropout functions
    (``training`` before ``inplace``), not torchvision's
    ``(input, p, block_size, inplace, eps, training)``: pass those by keyword
    when porting code. On a recorded value (a training forward) the call is
    recorded, and its backward regenerates the mask.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.ones((2, 3, 8, 8), np.float32)
    >>> y, state = nd.drop_block2d(x, 0.3, block_size=3, rng=0, return_state=True)
    >>> kept = int((y != 0).sum())
    >>> bool(np.allclose(y[y != 0], x.size / kept)), state.scale.dtype
    (True, dtype('float32'))
    >>> bool((state.backward(np.ones_like(x)) == y).all())
    True
    >>> nd.drop_block2d(x, 0.3, 3, training=False) is x
    True
    """
    return _drop_block(x, p, block_size, training, inplace, eps, rng, return_state, 2, "drop_block2d")


def drop_block3d(
    x: np.ndarray,
    p: float,
    block_size: int,
    training: bool = True,
    inplace: bool = False,
    *,
    eps: float = 1e-6,
    rng: RngLike = None,
    return_state: bool = False,
) -> Output:
    """DropBlock on ``(N, C, D, H, W)`` input: zero cubes, rescale the rest (``torchvision.ops.drop_block3d``).

    As :func:`drop_block2d`, with the seed grid
    ``(N, C, D - bs + 1, H - bs + 1, W - bs + 1)``,
    ``gamma = p * D * H * W / (bs**3 * (D - bs + 1) * (H - bs + 1) * (W - bs + 1))``
    and a seed at ``(n, c, i, j, k)`` zeroing
    ``x[n, c, i:i + bs, j:j + bs, k:k + bs]``.

    Parameters
    ----------
    x : numpy.ndarray, GPU array, torch.Tensor or dask.array.Array
        ``(N, C, D, H, W)`` float array.
    p, block_size, training, inplace, eps, rng, return_state
        As in :func:`drop_block2d` (``block_size`` at most ``D``, ``H`` and ``W``).

    Returns
    -------
    y : array
        The result.
    state : DropBlockState
        Only with ``return_state=True``.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.ones((1, 2, 5, 5, 5))
    >>> y, state = nd.drop_block3d(x, 0.5, block_size=3, rng=1, return_state=True)
    >>> bool(np.all((y == 0) | (y == state.scale))), bool((y == 0).any())
    (True, True)
    """
    return _drop_block(x, p, block_size, training, inplace, eps, rng, return_state, 3, "drop_block3d")
