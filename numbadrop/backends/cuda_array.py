"""The GPU backend: arrays exposing ``__cuda_array_interface__``, through the CUDA kernels.

The result is the same kind of array on the same device: PyTorch ->
``torch.empty``, CuPy -> ``cupy.empty``, anything else -> a Numba device
array. PyTorch and CuPy are looked up in ``sys.modules`` (whoever made the
array imported them); numba-cuda is loaded by :mod:`numbadrop.kernels.cuda`
when the first GPU array arrives.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from numbadrop._core import geometry
from numbadrop._core.arrays import dtype_of, is_gpu_array, is_readonly, library_of, parse_device
from numbadrop._core.formula import threshold
from numbadrop._core.validation import FLOAT_DTYPES, dtype_error
from numbadrop.kernels.cuda import _runtime
from numbadrop.kernels.cuda import dropblock as dropblock_kernels
from numbadrop.kernels.cuda import dropout as dropout_kernels
from numbadrop.kernels.cuda import gaussian as gaussian_kernels

#: The operations of the normal variates (``p`` carries the noise multiplier).
GAUSSIAN_OPS = ("gaussian_dropout", "gaussian_noise")


def require_cuda() -> None:
    """Load numba-cuda for numbadrop's kernels; ImportError naming what to install if missing."""
    _runtime.require()


def check(x: object, name: str = "x") -> object:
    """A float16/32/64 GPU array; ImportError saying what to install without numba-cuda."""
    require_cuda()
    dtype = dtype_of(x)
    if dtype not in FLOAT_DTYPES:
        raise dtype_error(name, dtype)
    return x


def check_inplace(x: object, name: str = "x") -> None:
    if is_readonly(x):
        raise ValueError(f"inplace=True needs a writeable array, but {name} is read-only")


def launch(x, y, op: str, p: float, seed: int, offset: int, strides: tuple[int, ...], start: int = 0) -> None:
    """``op`` of the GPU array ``x`` into ``y`` by the CUDA kernels (the parameters of the CPU ``launch``).

    ``op`` may also be ``"zero"`` (write zeros through ``y``'s strides) or one
    of :data:`GAUSSIAN_OPS` (``p`` the noise multiplier).
    """
    if op in GAUSSIAN_OPS:
        if math.prod(tuple(y.shape)) == 0:
            return
        gaussian_kernels.launch(x, y, op == "gaussian_noise", p, seed, offset, strides, start)
    else:
        dropout_kernels.launch(x, y, op, p, seed, offset, strides, start)


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` (see :mod:`numbadrop.backends`)."""
    shape = tuple(x.shape)
    y = x if inplace else empty(x, shape, dtype_of(x))
    if op == "zero":
        launch(y, y, "zero", 1.0, 0, 0, geometry.mask_strides(shape, ()))
    else:
        launch(x, y, op, p, seed, offset, geometry.mask_strides(shape, broadcast))
    return y


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x`` written into the GPU array ``out`` (``x``'s shape and dtype)."""
    shape = tuple(x.shape)
    if op == "zero":
        launch(out, out, "zero", 1.0, 0, 0, geometry.mask_strides(shape, ()))
    else:
        launch(x, out, op, p, seed, offset, geometry.mask_strides(shape, broadcast))
    return out


def mask(shape: tuple[int, ...], broadcast: tuple[int, ...], p: float, seed: int, offset: int, device=None):
    """The keep-mask on the GPU ``device`` names (p = 0 and 1 need no special case)."""
    out_shape = geometry.mask_shape(shape, broadcast)
    keep = empty_on(device, out_shape, np.bool_)
    launch(keep, keep, "mask", p, seed, offset, geometry.mask_strides(out_shape, ()))
    return keep


# --- DropBlock ---------------------------------------------------------------------------------


def drop_block(x, state, eps: float, inplace: bool):
    """DropBlock's forward of the GPU array ``x`` as ``(y, scale)`` (C-contiguous input)."""
    ctype = geometry.compute_type(dtype_of(x))
    planes, dims, block = geometry.block_geometry(state.shape, state.block_size)
    kept = dropblock_kernels.count_kept(x, planes, dims, block, state.seed, state.offset, threshold(state.gamma))
    scale = geometry.scale_of(math.prod(state.shape), kept, eps, ctype)
    return drop_block_apply(x, dataclasses.replace(state, scale=scale), inplace), scale


def drop_block_apply(x, state, inplace: bool):
    """``x * state.scale`` where the block mask keeps, 0 elsewhere (a new array of ``x``'s kind unless ``inplace``)."""
    require_cuda()
    y = x if inplace else empty(x, tuple(x.shape), dtype_of(x))
    planes, dims, block = geometry.block_geometry(state.shape, state.block_size)
    dropblock_kernels.apply(x, y, planes, dims, block, state.seed, state.offset, state.scale, threshold(state.gamma))
    return y


# --- new arrays on a device ----------------------------------------------------------------------


def _torch_dtype(dtype: np.dtype):
    torch = sys.modules["torch"]
    return {
        "float16": torch.float16,
        "float32": torch.float32,
        "float64": torch.float64,
        "bool": torch.bool,
        "int16": torch.int16,  # bfloat16 bits
    }[np.dtype(dtype).name]


def empty(like: object, shape: tuple[int, ...], dtype) -> object:
    """A new C-contiguous array of ``like``'s kind, on ``like``'s device."""
    library = library_of(like)
    if library == "torch":
        return sys.modules["torch"].empty(tuple(shape), dtype=_torch_dtype(dtype), device=like.device)
    if library == "cupy":
        cupy = sys.modules["cupy"]
        with like.device:
            return cupy.empty(tuple(shape), dtype=np.dtype(dtype))
    return _runtime.device_array(shape, dtype)


def empty_on(device: object, shape: tuple[int, ...], dtype) -> object:
    """A new array on ``device`` (see :func:`numbadrop.dropout_mask`)."""
    if is_gpu_array(device):
        return empty(device, shape, dtype)
    module = type(device).__module__.split(".", 1)[0]
    if module == "torch":  # a torch.device
        torch = sys.modules["torch"]
        return torch.empty(tuple(shape), dtype=_torch_dtype(dtype), device=device)
    if module == "cupy":  # a cupy.cuda.Device
        cupy = sys.modules["cupy"]
        with device:
            return cupy.empty(tuple(shape), dtype=np.dtype(dtype))
    return _runtime.device_array(shape, dtype, parse_device(device))
