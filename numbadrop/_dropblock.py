"""DropBlock (torchvision's ``ops.drop_block2d/3d``) under the mask contract.

The seeds are a mask of the contract (docs/contract.rst, "DropBlock seed
grid"): on the grid ``(N, C, *(n - block_size + 1 for n in spatial))`` a cell
is a seed where the contract, with drop probability ``gamma``, drops. A seed at
grid cell ``(i, j)`` zeroes the input window ``[i, i + bs) x [j, j + bs)``,
which is torchvision's "pad the seeds by ``bs // 2``, max-pool ``bs x bs``
with stride 1 and padding ``bs // 2``". The kept values are scaled by one
scalar for the whole batch, computed as torchvision computes it. The kernels
(:mod:`numbadrop._dropblock_cpu`, :mod:`numbadrop._dropblock_cuda`) regenerate
the block mask from counters; a forward keeps only the scalar for its backward.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Union

import numpy as np

from numbadrop import _dispatch, _dropblock_cpu
from numbadrop._validation import check_bool, check_same_shape
from numbadrop.autograd.tensor import bump, is_recorded
from numbadrop.random import RngLike, threshold

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
        grad = _check_array(grad, "grad")
        check_same_shape(grad, self.shape)
        inplace = check_bool(inplace, "inplace")
        if is_recorded(grad):  # a differentiated backward: linear in grad
            from numbadrop.functional import _recorded  # functional imports this module at its end

            return _recorded(lambda g: (self.backward(g, inplace), self), grad, "drop_block_backward", False)
        if self.kind == "identity":
            return grad
        if inplace:
            _dispatch.backend_of(grad).check_inplace(grad, "grad")
        return _apply(grad, self, inplace)


def _check_array(x: object, name: str) -> object:
    x = _dispatch.check_array(x, name)
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


def gamma(p: float, spatial: tuple[int, ...], block_size: int) -> float:
    """Seed probability, torchvision's expression evaluated in the same order (float64).

    ``p * H * W / (bs**2 * ((H - bs + 1) * (W - bs + 1)))`` in 2-D, and with
    ``D`` and cubes in 3-D; at most 1 whenever ``block_size`` fits.
    """
    numerator = p
    for n in spatial:
        numerator = numerator * n
    return numerator / (block_size ** len(spatial) * math.prod(n - block_size + 1 for n in spatial))


def compute_type(dtype: np.dtype) -> type:
    """The scale's type: float64 for float64 data, float32 otherwise (as for dropout)."""
    dtype = np.dtype(dtype)
    return np.float64 if dtype.kind == "f" and dtype.itemsize == 8 else np.float32


def scale_of(numel: int, kept: int, eps: float, ctype: type) -> np.floating:
    """``numel / (eps + kept)`` as torch evaluates ``numel / tensor``: ``(1 / (kept + eps)) * numel``.

    Each operation rounds to ``ctype`` (the bits of torchvision's scale for a
    float32 or float64 input whose count is exact in that type).
    """
    return ctype(ctype(ctype(1.0) / (ctype(kept) + ctype(eps))) * ctype(numel))


def _geometry(shape: tuple[int, ...], block_size: int) -> tuple[int, tuple[int, int, int], tuple[int, int, int]]:
    """``(planes, (D, H, W), (bd, bh, bw))`` of an ``(N, C, *spatial)`` shape; 2-D is depth 1."""
    spatial = shape[2:]
    dims = (1, *spatial) if len(spatial) == 2 else spatial
    block = (1, block_size, block_size) if len(spatial) == 2 else (block_size,) * 3
    return shape[0] * shape[1], dims, block


def _count(x: object, shape: tuple[int, ...], bs: int, g: float, seed: int, offset: int, ctype: type) -> int:
    """Elements the block mask keeps (computed where ``x`` lives; ``ctype`` picks the CPU kernel)."""
    planes, dims, block = _geometry(shape, bs)
    t = threshold(g)
    if _is_gpu(x):
        from numbadrop import _dropblock_cuda

        return _dropblock_cuda.count_kept(_gpu_bits(x), planes, dims, block, seed, offset, t)
    return _dropblock_cpu.count_kept(planes, dims, block, seed, offset, t, np.dtype(ctype))


def _is_gpu(x: object) -> bool:
    if isinstance(x, np.ndarray) or _dispatch.is_dask(x):
        return False
    if _dispatch._is_torch(x):
        return x.device.type == "cuda"
    return True


def _apply(x: object, state: DropBlockState, inplace: bool) -> object:
    """``x * scale`` where the block mask keeps, 0 elsewhere (a new array unless ``inplace``)."""
    if _is_gpu(x):
        from numbadrop import _dropblock_cuda

        planes, dims, block = _geometry(state.shape, state.block_size)
        y = _dropblock_cuda.apply(_gpu_bits(x), planes, dims, block, state, _t(state), inplace)
        return x if inplace else (y.view(x.dtype) if _dispatch._is_torch(x) else y)
    if _dispatch._is_torch(x):
        return _apply_torch_cpu(x, state, inplace)
    if _dispatch.is_dask(x):
        from numbadrop import _dropblock_dask

        return _dropblock_dask.apply(x, state)
    if type(x) is not np.ndarray:  # np.memmap, np.matrix...: computed on the data, wrapped back as NumPy does
        y = _apply_host(x.view(np.ndarray), state, inplace)
        return x if inplace else x.__array_wrap__(y)
    return _apply_host(x, state, inplace)


def _gpu_bits(x: object) -> object:
    """A GPU array as the kernels take it: torch tensors detached, bfloat16 as its ``int16`` bits."""
    if not _dispatch._is_torch(x):
        return x
    import torch

    x = x.detach()
    return x.view(torch.int16) if x.dtype == torch.bfloat16 else x


def _apply_host(x: np.ndarray, state: DropBlockState, inplace: bool, first_plane: int = 0) -> np.ndarray:
    """The NumPy path: float32/float64 kernels; other dtypes and layouts through a float32/native copy.

    ``x[n, c]`` is plane ``first_plane + n * C + c`` of the seed grid (a block of a Dask array's).
    """
    work = np.dtype(compute_type(x.dtype))
    direct = x.dtype == work and x.flags.c_contiguous
    xc = x if direct else np.ascontiguousarray(x, dtype=work)
    planes, dims, block = _geometry(tuple(x.shape), state.block_size)
    scale = work.type(np.asarray(state.scale))  # (a Dask forward's scale is computed here)
    t = _t(state)
    x2 = xc.reshape(planes, math.prod(dims))
    if direct and not inplace:
        y = np.empty(x.shape, work)
        _dropblock_cpu.apply(
            x2, y.reshape(x2.shape), dims, block, state.seed, state.offset, t, scale, False, first_plane
        )
        return y
    _dropblock_cpu.apply(x2, x2, dims, block, state.seed, state.offset, t, scale, True, first_plane)
    if direct:
        return x
    if inplace:
        x[...] = xc
        return x
    native = x.dtype.newbyteorder("=")
    return xc if xc.dtype == native else xc.astype(native)


def _t(state: DropBlockState) -> int:
    return threshold(state.gamma)


def _apply_torch_cpu(x, state: DropBlockState, inplace: bool):
    """A torch CPU tensor through its NumPy view (bfloat16 through float32)."""
    import torch

    data = x.detach()
    if data.dtype == torch.bfloat16:
        y = torch.from_numpy(_apply_host(data.float().numpy(), state, True)).to(torch.bfloat16)
    else:
        y = torch.from_numpy(_apply_host(data.numpy(), state, inplace))
    if not inplace:
        return y
    if y.data_ptr() != data.data_ptr():
        with torch.no_grad():
            x.copy_(y)
    return x


def _drop_block(x, p, block_size, training, inplace, eps, rng, return_state, spatial: int, name: str) -> Output:
    """Shared body of :func:`drop_block2d` and :func:`drop_block3d`."""
    from numbadrop.functional import _check_call, _draw, _recorded  # functional imports this module at its end

    x = _check_array(x, "x")
    if len(x.shape) != spatial + 2:
        dims = "(N, C, H, W)" if spatial == 2 else "(N, C, D, H, W)"
        raise ValueError(f"{name} expects a {spatial + 2}-D {dims} input, got an array of shape {tuple(x.shape)}")
    shape = tuple(int(n) for n in x.shape)
    bs = _check_block_size(block_size, shape[2:], name)
    eps = _check_eps(eps)
    p, training, return_state = _check_call(p, training, return_state, rng)
    inplace = check_bool(inplace, "inplace")
    if is_recorded(x):
        return _recorded(
            lambda v: _drop_block(v, p, bs, training, inplace, eps, rng, True, spatial, name), x, name, return_state
        )
    if inplace:
        _dispatch.backend_of(x).check_inplace(x, "x")
        bump(x)  # an unrecorded write: a pending backward that needs x must see it
    seed, offset = _draw(rng, training)
    if not training or p == 0.0:
        state = DropBlockState("identity", p, 0, 0, shape, bs)
        return (x, state) if return_state else x
    ctype = _ctype_of(x)
    g = gamma(p, shape[2:], bs)
    if _dispatch.is_dask(x):
        from numbadrop import _dropblock_dask

        scale = _dropblock_dask.count_and_scale(x, shape, bs, g, seed, offset, eps, ctype)
    elif type(x) is np.ndarray and x.dtype == ctype and x.flags.c_contiguous and x.size:
        # The common NumPy call: the count pass keeps the flags (1 byte per value, for this call
        # only), and the apply pass reads them instead of drawing and eroding again.
        planes, dims, block = _geometry(shape, bs)
        flags = np.empty((planes, math.prod(dims)), np.uint8)
        kept = _dropblock_cpu.count_kept(planes, dims, block, seed, offset, threshold(g), x.dtype, 0, flags)
        state = DropBlockState("dropblock", p, seed, offset, shape, bs, g, scale_of(flags.size, kept, eps, ctype))
        y = x if inplace else np.empty(shape, x.dtype)
        _dropblock_cpu.apply_flags(x.reshape(flags.shape), y.reshape(flags.shape), flags, state.scale, inplace)
        return (y, state) if return_state else y
    else:
        scale = scale_of(math.prod(shape), _count(x, shape, bs, g, seed, offset, ctype), eps, ctype)
    state = DropBlockState("dropblock", p, seed, offset, shape, bs, g, scale)
    y = _apply(x, state, inplace)
    return (y, state) if return_state else y


def _ctype_of(x: object) -> type:
    """The compute type of ``x``'s dtype (any array kind)."""
    if isinstance(x, np.ndarray) or _dispatch.is_dask(x):
        return compute_type(x.dtype)
    if _dispatch._is_torch(x):
        import torch

        return np.float64 if x.dtype == torch.float64 else np.float32
    from numbadrop import _backend

    return compute_type(_backend.dtype_of(x))


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
