"""Which device an array lives on, and new arrays of the same kind there.

numbadrop picks the device from the array's type, with no flags: any object
exposing ``__cuda_array_interface__`` (a Numba device array, a CuPy array, a
PyTorch CUDA tensor, ...) is a GPU array and is processed on its GPU; NumPy
arrays stay on the CPU. Outputs are allocated as the same kind of array on
the same device (PyTorch -> ``torch.empty``, CuPy -> ``cupy.empty``, anything
else -> a Numba device array).

Nothing here imports numba-cuda, PyTorch or CuPy: the libraries an array
comes from are already imported by whoever made the array, and are looked up
in ``sys.modules``; Numba's CUDA target is imported only to allocate Numba
device arrays.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

#: What to install when a GPU array arrives and numba-cuda is missing.
INSTALL_HINT = 'pip install "numbadrop[cuda]"  (which installs numba-cuda)'


def is_gpu_array(x: object) -> bool:
    """True for objects that live on a GPU (``__cuda_array_interface__``).

    Numba's CUDA simulator's arrays (which lack the interface but carry
    ``__cuda_ndarray__``) count too, so that the simulator can stand in for a
    GPU in tests.
    """
    if isinstance(x, np.ndarray):
        return False
    return hasattr(x, "__cuda_array_interface__") or getattr(type(x), "__cuda_ndarray__", False) is True


def require_cuda() -> None:
    """Load numba-cuda for numbadrop's kernels; ImportError naming what to install if missing."""
    from numbadrop import _cuda

    _cuda.require()


def _library(x: object) -> str:
    """``"torch"``, ``"cupy"``, ``"numba"`` or ``"cai"`` (any other producer)."""
    module = type(x).__module__.split(".", 1)[0]
    if module in ("torch", "cupy"):
        return module
    if getattr(type(x), "__cuda_ndarray__", False) is True:
        return "numba"
    return "cai"


@dataclass(frozen=True)
class GpuArray:
    """What the kernels need to know about one GPU array.

    Attributes
    ----------
    obj : object
        The array itself (kept alive while its memory is in use).
    ptr : int
        Device address of element ``[0, ..., 0]``.
    shape : tuple of int
    strides : tuple of int
        In bytes (computed for C order where the interface omits them).
    dtype : numpy.dtype
    readonly : bool
    stream : int or None
        CUDA stream handle to launch on, ``None`` for the default stream.
    device : int or None
        Device ordinal, ``None`` where the producer does not say.
    library : str
        ``"torch"``, ``"cupy"``, ``"numba"`` or ``"cai"``.
    """

    obj: object
    ptr: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: np.dtype
    readonly: bool
    stream: int | None
    device: int | None
    library: str


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Byte strides of a C-contiguous array."""
    strides = []
    step = itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def interface(x: object) -> dict:
    """``x.__cuda_array_interface__`` (a simulator array's host interface)."""
    desc = getattr(x, "__cuda_array_interface__", None)
    if desc is None:  # numba's CUDA simulator: a NumPy array underneath
        desc = dict(x._ary.__array_interface__)
    return desc


def dtype_of(x: object) -> np.dtype:
    """The NumPy dtype of a GPU array, from its interface's ``typestr``."""
    return np.dtype(interface(x)["typestr"])


def shape_of(x: object) -> tuple[int, ...]:
    return tuple(int(n) for n in interface(x)["shape"])


def is_readonly(x: object) -> bool:
    return bool(interface(x)["data"][1])


def describe(x: object) -> GpuArray:
    """Everything about ``x`` that a kernel launch needs."""
    desc = interface(x)
    dtype = np.dtype(desc["typestr"])
    shape = tuple(int(n) for n in desc["shape"])
    strides = desc.get("strides")
    strides = c_strides(shape, dtype.itemsize) if strides is None else tuple(int(s) for s in strides)
    library = _library(x)
    stream = desc.get("stream")
    device = None
    if library == "torch":
        device = x.device.index
        if stream is None:
            stream = sys.modules["torch"].cuda.current_stream(x.device).cuda_stream
    elif library == "cupy":
        device = x.device.id
        if stream is None:
            stream = sys.modules["cupy"].cuda.get_current_stream().ptr
    if stream in (0, 1):  # the legacy default stream
        stream = None
    return GpuArray(x, int(desc["data"][0]), shape, strides, dtype, bool(desc["data"][1]), stream, device, library)


def _torch_dtype(dtype: np.dtype):
    torch = sys.modules["torch"]
    return {
        "float16": torch.float16,
        "float32": torch.float32,
        "float64": torch.float64,
        "bool": torch.bool,
    }[np.dtype(dtype).name]


def empty(like: object, shape: tuple[int, ...], dtype) -> object:
    """A new C-contiguous array of ``like``'s kind, on ``like``'s device."""
    library = _library(like)
    if library == "torch":
        return sys.modules["torch"].empty(tuple(shape), dtype=_torch_dtype(dtype), device=like.device)
    if library == "cupy":
        cupy = sys.modules["cupy"]
        with like.device:
            return cupy.empty(tuple(shape), dtype=np.dtype(dtype))
    from numba import cuda  # numba-cuda is present: _cuda checked when the input arrived

    return cuda.device_array(tuple(shape), dtype=np.dtype(dtype))


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
    ordinal = parse_device(device)
    require_cuda()
    from numba import cuda

    with cuda.gpus[ordinal]:
        return cuda.device_array(tuple(shape), dtype=np.dtype(dtype))


def check_device(device: object) -> None:
    """ValueError unless ``device`` names a GPU (see :func:`empty_on`)."""
    if is_gpu_array(device):
        return
    module = type(device).__module__.split(".", 1)[0]
    if module == "torch" and type(device).__name__ == "device" and device.type == "cuda":
        return
    if module == "cupy" and type(device).__name__ == "Device":
        return
    parse_device(device)


def parse_device(device: object) -> int:
    """Ordinal of ``"cuda"`` / ``"cuda:N"`` / ``"gpu"`` / an int; ValueError otherwise."""
    if isinstance(device, (int, np.integer)) and not isinstance(device, (bool, np.bool_)) and device >= 0:
        return int(device)
    if isinstance(device, str):
        name, _, index = device.strip().lower().partition(":")
        if name in ("cuda", "gpu") and (index == "" or index.isdigit()):
            return int(index) if index else 0
    raise ValueError(
        "device must be None or 'cpu', 'cuda', 'cuda:N', a torch.device, a cupy.cuda.Device "
        f"or a GPU array to take the device from, got {device!r}"
    )


def is_cpu_device(device: object) -> bool:
    """True for ``None``, ``"cpu"`` and ``torch.device("cpu")``."""
    if device is None:
        return True
    if isinstance(device, str):
        return device.strip().lower() == "cpu"
    return type(device).__module__.split(".", 1)[0] == "torch" and getattr(device, "type", None) == "cpu"
