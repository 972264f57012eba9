"""The torch backend: CPU tensors in, CPU tensors out; CUDA tensors to the GPU backend.

A CPU tensor is computed through its NumPy view (``Tensor.numpy``, no
copy); the result is a new tensor of the same dtype, in the input's memory
order where the NumPy backend would keep it (``torch.empty_strided``), or the
input itself in place. bfloat16, which NumPy has no dtype for, is viewed as
``int16`` (the kernels' storage type for bfloat16 bits, see
:mod:`numbadrop._engine`), on the CPU and on the GPU alike (torch gives no
``__cuda_array_interface__`` for bfloat16, but does for the ``int16`` view).
Other CUDA tensors go to :mod:`numbadrop._gpu` unchanged. torch's autograd
does not see these calls: use :class:`numbadrop.DropoutState` for the backward.
"""

from __future__ import annotations

import sys

from numbadrop import _backend, _engine, _gpu, _host
from numbadrop._validation import dtype_error


def _torch():
    return sys.modules["torch"]


def _floats():
    torch = _torch()
    return (torch.float16, torch.float32, torch.float64, torch.bfloat16)


def check(x, name: str = "x"):
    """A strided float16/32/64 or bfloat16 tensor on the CPU or a CUDA device."""
    torch = _torch()
    if x.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {x.layout}")
    if x.dtype not in _floats():
        raise dtype_error(name, x.dtype)
    if x.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{name} must be a CPU or CUDA tensor, got device {x.device}")
    if x.device.type == "cuda" and x.dtype == torch.bfloat16:
        _backend.require_cuda()  # the int16 view is the kernels' bfloat16 storage
    elif x.device.type == "cuda":
        _gpu.check(x, name)
    return x


def check_inplace(x, name: str = "x") -> None:
    """Tensors are writeable; nothing to check."""


def _bits(t):
    """``t`` as the kernels see it: bfloat16 as an ``int16`` view; CPU tensors as NumPy views."""
    torch = _torch()
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy() if t.device.type == "cpu" else t


def apply(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], inplace: bool):
    """``op`` of ``x`` (see :mod:`numbadrop._dispatch`)."""
    torch = _torch()
    if x.device.type == "cuda" and x.dtype != torch.bfloat16:
        return _gpu.apply(x, op, p, seed, offset, broadcast, inplace)
    shape = tuple(x.shape)
    xb = _bits(x)
    if inplace:
        y = x
    elif x.device.type == "cpu":  # the NumPy backend's memory-order rule
        like = _host._empty_like(xb, broadcast)
        strides = tuple(s // like.itemsize for s in like.strides)
        y = torch.empty_strided(shape, strides, dtype=x.dtype, device=x.device)
    else:
        y = torch.empty(shape, dtype=x.dtype, device=x.device)
    if op == "zero":
        with torch.no_grad():
            y.zero_()
        return y
    _engine.launch(xb, _bits(y), op, p, seed, offset, _engine.mask_strides(shape, broadcast))
    return y


def apply_into(x, op: str, p: float, seed: int, offset: int, broadcast: tuple[int, ...], out):
    """``op`` of ``x`` written into the torch tensor ``out`` (``x``'s shape, dtype and device)."""
    torch = _torch()
    if out.device != x.device:
        raise ValueError(f"out is on {out.device}, but the input is on {x.device}")
    if x.device.type == "cuda" and x.dtype != torch.bfloat16:
        return _gpu.apply_into(x, op, p, seed, offset, broadcast, out)
    if op == "zero":
        with torch.no_grad():
            out.zero_()
        return out
    _engine.launch(_bits(x), _bits(out), op, p, seed, offset, _engine.mask_strides(tuple(x.shape), broadcast))
    return out


def mask(shape, broadcast, p, seed, offset, device=None):  # pragma: no cover - dropout_mask sends devices to _gpu
    return _gpu.mask(shape, broadcast, p, seed, offset, device)
