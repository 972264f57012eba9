"""The torch backend: CPU tensors in, CPU tensors out; CUDA tensors to the GPU backend.

A CPU tensor is computed through its NumPy view (``Tensor.numpy``, no
copy); the result is a new tensor of the same dtype, in the input's memory
order where the NumPy backend would keep it (``torch.empty_strided``), or the
input itself in place. bfloat16, which NumPy has no dtype for, is viewed as
``int16`` (the kernels' storage type for bfloat16 bits, see
:func:`numbadrop.kernels.cpu.dropout.launch`), on the CPU and on the GPU alike
(torch gives no ``__cuda_array_interface__`` for bfloat16, but does for the
``int16`` view). Other CUDA tensors go to :mod:`numbadrop.backends.cuda_array` unchanged. A tensor
that requires grad is recorded into torch's graph one layer up
(:mod:`numbadrop.ops.torch_autograd`); here every write into a tensor's memory
(in place, ``out=``) moves its version counter, as torch's own in-place ops do.
Tensors numbadrop cannot read through a plain pointer (``torch.func`` transforms'
wrappers, nested tensors, negative or conjugate bit views) are refused by name.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from numbadrop._core import geometry
from numbadrop._core.formula import threshold
from numbadrop._core.validation import dtype_error
from numbadrop.backends import cuda_array
from numbadrop.backends import numpy as numpy_backend
from numbadrop.kernels.cpu import dropblock as dropblock_kernels


def _torch():
    return sys.modules["torch"]


def _floats():
    torch = _torch()
    return (torch.float16, torch.float32, torch.float64, torch.bfloat16)


def check(x, name: str = "x"):
    """A strided float16/32/64 or bfloat16 tensor on the CPU or a CUDA device."""
    torch = _torch()
    _check_plain(torch, x, name)
    if x.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {x.layout}")
    if x.dtype not in _floats():
        raise dtype_error(name, x.dtype)
    if x.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{name} must be a CPU or CUDA tensor, got device {x.device}")
    if x.device.type == "cuda" and x.dtype == torch.bfloat16:
        cuda_array.require_cuda()  # the int16 view is the kernels' bfloat16 storage
    elif x.device.type == "cuda":
        cuda_array.check(x, name)
    return x


def _check_plain(torch, x, name: str) -> None:
    """TypeError for the tensors whose memory is not their values (transforms' wrappers, nested, bit views)."""
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is not None and functorch.is_functorch_wrapped_tensor(x):
        kind = "torch.vmap" if functorch.is_batchedtensor(x) else "torch.func (grad, jacrev, jvp, functionalize)"
        raise TypeError(
            f"numbadrop does not support {kind} transforms: {name} is a transform's wrapped tensor. "
            "Call numbadrop outside the transform (torch.autograd records its gradient: use loss.backward() "
            "or torch.autograd.grad)"
        )
    if x.is_nested:
        raise TypeError(f"numbadrop does not support nested tensors ({name} is one): pass each component tensor")
    if x.is_neg() or x.is_conj():
        bit = "negative" if x.is_neg() else "conjugate"
        raise ValueError(
            f"numbadrop does not support tensors with the {bit} bit set ({name} is a lazy {bit} view, "
            "e.g. x.conj().imag): pass x.resolve_neg() / x.resolve_conj()"
        )


def check_inplace(x, name: str = "x") -> None:
    """ValueError for a tensor whose elements overlap in memory; torch's RuntimeError where autograd would be fooled.

    An ``expand()``-ed tensor (a stride 0 along an axis longer than 1) or any
    layout where two indices reach one address cannot take a result: one
    mask value would be written into many elements.
    """
    torch = _torch()
    if _overlaps(tuple(x.shape), tuple(x.stride())):
        where = "as out=" if name == "out" else "in place"
        raise ValueError(
            f"numbadrop cannot write {where} into {name}: its elements overlap in memory "
            f"(shape {tuple(x.shape)}, strides {tuple(x.stride())}, e.g. from expand()); pass {name}.clone()"
        )
    if x.requires_grad and torch.is_grad_enabled():
        if x.is_leaf:
            raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation.")
        if name == "out":
            raise RuntimeError(
                "functions with out=... arguments don't support automatic differentiation, "
                "but one of the arguments requires grad (out requires grad)"
            )


def _overlaps(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """True unless the axes, sorted by stride, each step past the last element the smaller ones reach.

    ``extent`` is one past the largest offset the axes seen so far reach: an axis of stride ``s`` and
    length ``n`` adds ``s * (n - 1)``. Conservative: interleaved layouts that never collide may be refused.
    """
    extent = 1
    for stride, n in sorted((abs(s), n) for s, n in zip(strides, shape, strict=True) if n > 1):
        if stride < extent:
            return True
        extent += stride * (n - 1)
    return False


def bump(t) -> None:
    """Count a write into ``t``'s memory that torch did not see (through a NumPy view or a GPU pointer)."""
    if not t.is_inference():
        _torch().autograd.graph.increment_version(t)


def _bits(t):
    """``t`` as the kernels see it: bfloat16 as an ``int16`` view; CPU tensors as NumPy views."""
    torch = _torch()
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy() if t.device.type == "cpu" else t


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` (see :mod:`numbadrop.backends`)."""
    torch = _torch()
    if x.device.type == "cuda" and x.dtype != torch.bfloat16:
        y = cuda_array.apply(x, op, p, seed, offset, broadcast, inplace)
        if inplace:
            bump(x)
        return y
    shape = tuple(x.shape)
    xb = _bits(x)
    if inplace:
        y = x
    elif x.device.type == "cpu":  # the NumPy backend's memory-order rule
        like = numpy_backend._empty_like(xb, broadcast)
        strides = tuple(s // like.itemsize for s in like.strides)
        y = torch.empty_strided(shape, strides, dtype=x.dtype, device=x.device)
    else:
        y = torch.empty(shape, dtype=x.dtype, device=x.device)
    if op == "zero":
        with torch.no_grad():
            y.zero_()
        return y
    _launch(xb, _bits(y), op, p, seed, offset, geometry.mask_strides(shape, broadcast))
    if inplace:
        bump(x)
    return y


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x`` written into the torch tensor ``out`` (``x``'s shape, dtype and device)."""
    torch = _torch()
    if out.device != x.device:
        raise ValueError(f"out is on {out.device}, but the input is on {x.device}")
    if x.device.type == "cuda" and x.dtype != torch.bfloat16:
        cuda_array.apply_into(x, op, p, seed, offset, broadcast, out.detach())
        bump(out)
        return out
    if op == "zero":
        with torch.no_grad():
            out.zero_()
        return out
    _launch(_bits(x), _bits(out), op, p, seed, offset, geometry.mask_strides(tuple(x.shape), broadcast))
    bump(out)
    return out


def mask(shape, broadcast, p, seed, offset, device=None):
    """The keep-mask as a bool tensor on the ``torch.device`` ``device`` (CPU: NumPy's mask, no copy)."""
    if device.type == "cpu":
        return _torch().from_numpy(numpy_backend.mask(shape, broadcast, p, seed, offset))
    return cuda_array.mask(shape, broadcast, p, seed, offset, device)


def _launch(xb, yb, op, p, seed, offset, strides) -> None:
    """The kernels of the bits' target: NumPy views run on the CPU, CUDA tensors on the GPU."""
    target = numpy_backend if isinstance(yb, np.ndarray) else cuda_array
    target.launch(xb, yb, op, p, seed, offset, strides)


# --- DropBlock ---------------------------------------------------------------------------------


def drop_block(x, state, eps: float, inplace: bool):
    """DropBlock's forward of the tensor ``x`` as ``(y, scale)``."""
    torch = _torch()
    ctype = np.float64 if x.dtype == torch.float64 else np.float32
    if x.device.type == "cuda":
        kept = cuda_array.dropblock_kernels.count_kept(
            _gpu_bits(x),
            *geometry.block_geometry(state.shape, state.block_size),
            state.seed,
            state.offset,
            threshold(state.gamma),
        )
    else:
        planes, dims, block = geometry.block_geometry(state.shape, state.block_size)
        kept = dropblock_kernels.count_kept(
            planes, dims, block, state.seed, state.offset, threshold(state.gamma), np.dtype(ctype)
        )
    scale = geometry.scale_of(math.prod(state.shape), kept, eps, ctype)
    return drop_block_apply(x, dataclasses.replace(state, scale=scale), inplace), scale


def drop_block_apply(x, state, inplace: bool):
    """``x * state.scale`` where the block mask keeps, 0 elsewhere (CUDA tensors on their GPU, CPU ones via NumPy)."""
    torch = _torch()
    if x.device.type == "cuda":
        y = cuda_array.drop_block_apply(_gpu_bits(x), state, inplace)
        if inplace:
            bump(x)
        return x if inplace else y.view(x.dtype)
    data = x.detach()
    if data.dtype == torch.bfloat16:
        y = torch.from_numpy(numpy_backend.drop_block_planes(data.float().numpy(), state, True)).to(torch.bfloat16)
    else:
        y = torch.from_numpy(numpy_backend.drop_block_planes(data.numpy(), state, inplace))
    if not inplace:
        return y
    if y.data_ptr() != data.data_ptr():
        with torch.no_grad():
            x.copy_(y)
    else:
        bump(x)
    return x


def _gpu_bits(x):
    """A CUDA tensor as the kernels take it: detached, bfloat16 as its ``int16`` bits."""
    torch = _torch()
    x = x.detach()
    return x.view(torch.int16) if x.dtype == torch.bfloat16 else x
