"""The NumPy backend: NumPy arrays (and array-likes) through the CPU kernels (:mod:`numbadrop.kernels.cpu`).

Array kinds (the policy itself is :func:`numbadrop._core.validation.check_float_array`):

- ``numpy.ma.MaskedArray``: the result is a masked array with the same mask;
  masked elements keep their data (out of place: copied from the input; in
  place: never written).
- Other ``ndarray`` subclasses (``np.memmap``, ``np.matrix``, ...): computed on
  the plain-ndarray view of their data; the result goes through the input's
  ``__array_wrap__``, as a NumPy ufunc's does (``np.memmap`` -> ``ndarray``,
  ``np.matrix`` -> ``np.matrix``).
- Non-native byte order (``>f4`` on a little-endian machine, as read from
  many file formats): computed through a native copy; the result is in native
  order (in place: written back into the input).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from numbadrop._core import geometry, tunables
from numbadrop._core.formula import MODE_SCALE, coefficients, threshold
from numbadrop._core.validation import check_float_array, check_writeable
from numbadrop.kernels.cpu import dropblock as dropblock_kernels
from numbadrop.kernels.cpu import dropout as dropout_kernels
from numbadrop.kernels.cpu import gaussian as gaussian_kernels
from numbadrop.kernels.cpu import small as small_kernels
from numbadrop.random import seed_offset

#: The operations of the normal variates (``p`` carries the noise multiplier).
GAUSSIAN_OPS = ("gaussian_dropout", "gaussian_noise")


def check(x: object, name: str = "x") -> np.ndarray:
    """A float NumPy array (array-likes converted): see :func:`check_float_array`."""
    return check_float_array(x, name)


def check_inplace(x: np.ndarray, name: str = "x") -> None:
    check_writeable(x, name)


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` (see :mod:`numbadrop.backends`)."""
    if type(x) is not np.ndarray:
        if isinstance(x, np.ma.MaskedArray):
            return _apply_masked(x, op, p, seed, offset, broadcast, inplace)
        y = _apply(x.view(np.ndarray), op, p, seed, offset, broadcast, inplace)
        return x if inplace else x.__array_wrap__(y)
    return _apply(x, op, p, seed, offset, broadcast, inplace)


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out: np.ndarray):
    """``op`` of ``x`` written into ``out`` (a native, writeable ndarray of ``x``'s shape and dtype)."""
    if not out.dtype.isnative:
        out[...] = _apply(x, op, p, seed, offset, broadcast, False)
        return out
    xv = x.view(np.ndarray) if type(x) is not np.ndarray else x
    if not xv.dtype.isnative:
        xv = xv.astype(xv.dtype.newbyteorder("="))
    y = out.view(np.ndarray) if type(out) is not np.ndarray else out
    if op == "zero":
        y[...] = 0
    else:  # an out that overlaps x (but is not x) is handled by the kernels: they read a copy of x
        launch(xv, y, op, p, seed, offset, geometry.mask_strides(xv.shape, broadcast))
    return out


def _apply(x: np.ndarray, op, p, seed, offset, broadcast, inplace) -> np.ndarray:
    if not x.dtype.isnative:
        y = _apply(x.astype(x.dtype.newbyteorder("=")), op, p, seed, offset, broadcast, True)
        if not inplace:
            return y
        x[...] = y
        return x
    y = x if inplace else _empty_like(x, broadcast)
    if op == "zero":
        y[...] = 0
    else:
        launch(x, y, op, p, seed, offset, geometry.mask_strides(x.shape, broadcast))
    return y


def _empty_like(x: np.ndarray, broadcast: tuple[int, ...] = ()) -> np.ndarray:
    """The output: a new array in ``x``'s memory order, NumPy's ``order='K'`` (as ``x * s`` has).

    The kernels walk it in that order (:func:`numbadrop.kernels.cpu.dropout.launch`),
    with each element's logical mask index, so the bits do not depend on it.
    """
    if x.flags.c_contiguous:
        return np.empty(x.shape, x.dtype)
    return np.empty_like(x, order="K", subok=False)


def _apply_masked(x: np.ma.MaskedArray, op, p, seed, offset, broadcast, inplace) -> np.ma.MaskedArray:
    data = x.data  # the ndarray holding the values (a view)
    masked = np.ma.getmaskarray(x)
    y = _apply(data, op, p, seed, offset, broadcast, False)
    if inplace:
        np.copyto(data, y, where=~masked)
        return x
    np.copyto(y, data, where=masked)
    return np.ma.MaskedArray(y, mask=np.ma.getmask(x).copy() if masked.any() else np.ma.nomask)


def mask(shape: tuple[int, ...], broadcast: tuple[int, ...], p: float, seed: int, offset: int, device=None):
    """The keep-mask as a NumPy array."""
    out_shape = geometry.mask_shape(shape, broadcast)
    if p == 0.0 or p == 1.0:
        return np.full(out_shape, p == 0.0)
    keep = np.empty(out_shape, np.bool_)
    launch(keep, keep, "mask", p, seed, offset, geometry.mask_strides(out_shape, ()))
    return keep


def launch(x, y, op: str, p: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """``op`` of the ndarray ``x`` into ``y`` by the CPU kernels (see :func:`numbadrop.kernels.cpu.dropout.launch`).

    ``op`` may also be one of :data:`GAUSSIAN_OPS`
    (:func:`numbadrop.kernels.cpu.gaussian.launch`, ``p`` the noise multiplier).
    """
    if op in GAUSSIAN_OPS:
        gaussian_kernels.launch(x, y, op == "gaussian_noise", p, seed, offset, strides, start)
    else:
        dropout_kernels.launch(x, y, op, p, seed, offset, strides, start)


# --- DropBlock ---------------------------------------------------------------------------------


def drop_block(x: np.ndarray, state, eps: float, inplace: bool):
    """DropBlock's forward of ``x`` as ``(y, scale)`` (``state.scale`` is not read: this computes it)."""
    ctype = geometry.compute_type(x.dtype)
    planes, dims, block = geometry.block_geometry(state.shape, state.block_size)
    t = threshold(state.gamma)
    if type(x) is np.ndarray and x.dtype == ctype and x.flags.c_contiguous and x.size:
        # The common call: the count pass keeps the flags (1 byte per value, for this call
        # only), and the apply pass reads them instead of drawing and eroding again.
        flags = np.empty((planes, math.prod(dims)), np.uint8)
        kept = dropblock_kernels.count_kept(planes, dims, block, state.seed, state.offset, t, x.dtype, 0, flags)
        scale = geometry.scale_of(flags.size, kept, eps, ctype)
        y = x if inplace else np.empty(state.shape, x.dtype)
        dropblock_kernels.apply_flags(x.reshape(flags.shape), y.reshape(flags.shape), flags, scale, inplace)
        return y, scale
    kept = dropblock_kernels.count_kept(planes, dims, block, state.seed, state.offset, t, np.dtype(ctype))
    scale = geometry.scale_of(math.prod(state.shape), kept, eps, ctype)
    return drop_block_apply(x, dataclasses.replace(state, scale=scale), inplace), scale


def drop_block_apply(x, state, inplace: bool) -> np.ndarray:
    """``x * state.scale`` where the block mask keeps, 0 elsewhere (a new array unless ``inplace``)."""
    if type(x) is not np.ndarray:  # np.memmap, np.matrix...: computed on the data, wrapped back as NumPy does
        y = drop_block_planes(x.view(np.ndarray), state, inplace)
        return x if inplace else x.__array_wrap__(y)
    return drop_block_planes(x, state, inplace)


def drop_block_planes(x: np.ndarray, state, inplace: bool, first_plane: int = 0) -> np.ndarray:
    """The float32/float64 kernels; other dtypes and layouts through a float32/native copy.

    ``x[n, c]`` is plane ``first_plane + n * C + c`` of the seed grid (a block of a Dask array's).
    """
    work = np.dtype(geometry.compute_type(x.dtype))
    direct = x.dtype == work and x.flags.c_contiguous
    xc = x if direct else np.ascontiguousarray(x, dtype=work)
    planes, dims, block = geometry.block_geometry(tuple(x.shape), state.block_size)
    scale = work.type(np.asarray(state.scale))  # (a Dask forward's scale is computed here)
    t = threshold(state.gamma)
    x2 = xc.reshape(planes, math.prod(dims))
    if direct and not inplace:
        y = np.empty(x.shape, work)
        dropblock_kernels.apply(
            x2, y.reshape(x2.shape), dims, block, state.seed, state.offset, t, scale, False, first_plane
        )
        return y
    dropblock_kernels.apply(x2, x2, dims, block, state.seed, state.offset, t, scale, True, first_plane)
    if direct:
        return x
    if inplace:
        x[...] = xc
        return x
    native = x.dtype.newbyteorder("=")
    if xc.flags.c_contiguous and not x.flags.c_contiguous:  # x's memory order, as for dropout
        y = np.empty_like(x, native, order="K", subok=False)
        y[...] = xc
        return y
    return xc if xc.dtype == native else xc.astype(native)


# --- the short path of the most common call ----------------------------------------------------
# ``dropout(x, p, rng=...)`` on a small C-contiguous float32/float64 activation, out of place:
# the general path (argument checks, backend choice, launch planning) cost about twice the
# kernel itself on a (32, 256) array. What depends only on (dtype, p) is computed once.

#: ``(dtype, p) -> (mode, threshold, coefficients)`` of element dropout.
_SMALL_PLANS: dict[tuple[np.dtype, float], tuple[np.ndarray, int]] = {}
_SMALL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LOW32 = 0xFFFFFFFF


def small_dropout(x: np.ndarray, p: float, rng: object, out: object = None) -> tuple[np.ndarray, int, int] | None:
    """Element dropout of a plain ndarray as ``(y, seed, offset)``, or None where the general path must run.

    Only for what the general path would compute the same way with the
    serial kernel: ``type(x) is np.ndarray``, C-contiguous, native float32 or
    float64, ``0 < size < SERIAL_CUTOFF``, and ``p`` a float in ``(0, 1)``
    (the caller checks the types of ``x`` and ``p``). ``out`` is None, ``x``
    itself (written in place) or a plain, writeable, C-contiguous ndarray of
    ``x``'s shape and dtype that does not overlap ``x``; any other ``out`` --
    the errors and the overlaps included -- is left to the general path.
    Draws from ``rng`` only when it returns an array.
    """
    plan = _small_plan(x, p)
    if plan is None:
        return None
    y = _small_output(x, out)
    if y is None:
        return None
    seed, offset = seed_offset(rng)
    _run_small(x, y, plan, seed, offset)
    return y, seed, offset


def small_backward(grad: np.ndarray, p: float, seed: int, offset: int) -> np.ndarray | None:
    """The backward of :func:`small_dropout` (the same mask and scale applied to ``grad``), or None."""
    plan = _small_plan(grad, p)
    if plan is None:
        return None
    y = np.empty(grad.shape, grad.dtype)
    _run_small(grad, y, plan, seed, offset)
    return y


def _small_plan(x: np.ndarray, p: float) -> tuple[np.ndarray, int] | None:
    """``(coefficients, threshold)`` when the short path handles ``x`` and ``p``, else None."""
    if not 0 < x.size < tunables.SERIAL_CUTOFF or not x.flags.c_contiguous:
        return None
    plan = _SMALL_PLANS.get((x.dtype, p))
    if plan is None:
        if x.dtype not in _SMALL_DTYPES or not 0.0 < p < 1.0:
            return None
        mode, m, b, d = coefficients("dropout", p, x.dtype)
        if mode != MODE_SCALE:
            return None
        plan = _SMALL_PLANS[(x.dtype, p)] = (np.array([m, b, d], x.dtype), threshold(p))
    return plan


def _small_output(x: np.ndarray, out: object) -> np.ndarray | None:
    """The array the short path writes: a new one, ``x`` (in place) or ``out``; None to decline ``out``."""
    if out is None:
        return np.empty(x.shape, x.dtype)
    if out is x:
        return x if x.flags.writeable else None
    if (
        type(out) is not np.ndarray
        or out.shape != x.shape
        or out.dtype != x.dtype
        or not out.flags.c_contiguous
        or not out.flags.writeable
        or np.may_share_memory(x, out)
    ):
        return None
    return out


def _run_small(x: np.ndarray, y: np.ndarray, plan: tuple[np.ndarray, int], seed: int, offset: int) -> None:
    coef, t = plan
    inplace = y is x
    # 1-D views, x read-only: one compiled kernel per dtype, not one per rank and writeability.
    xv, yv = x.reshape(-1), y.reshape(-1)
    if not inplace:
        xv.flags.writeable = False
    small_kernels.scale(xv, yv, coef, seed & _LOW32, seed >> 32, offset & _LOW32, offset >> 32, t, inplace)
