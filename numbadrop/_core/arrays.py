"""What kind of array an object is, and what a kernel launch needs to know about a GPU array.

numbadrop picks the backend from the array's type, with no flags: any object
exposing ``__cuda_array_interface__`` (a Numba device array, a CuPy array, a
PyTorch CUDA tensor, ...) is a GPU array and is processed on its GPU; NumPy
arrays stay on the CPU.

Nothing here imports any array library: the library an array comes from is
already imported by whoever made the array, and is looked up in
``sys.modules`` (as array-api-compat does).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np


def is_torch(x: object) -> bool:
    """True for a ``torch.Tensor`` (torch is not imported to ask)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def refuse_torch(*groups: object) -> None:
    """TypeError when a torch tensor is among ``groups`` (values, or lists of them) that meet a recorded value.

    numbadrop's graph (:mod:`numbadrop.autograd`) and torch's cannot see each
    other's gradients, so a value of one never enters the other's arithmetic.
    """
    if sys.modules.get("torch") is None:
        return
    for group in groups:
        for value in group if isinstance(group, (list, tuple)) else (group,):
            if any(is_torch(v) for v in (value if isinstance(value, (list, tuple)) else (value,))):
                raise TypeError(
                    "numbadrop.autograd values and torch tensors cannot be mixed: neither graph would see the "
                    "other's gradient. Use torch tensors with numbadrop's functions (recorded by torch.autograd) "
                    "or NumPy arrays with numbadrop.autograd, not both"
                )


def is_dask(x: object) -> bool:
    """True for a ``dask.array.Array`` (Dask is not imported to ask)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def is_xarray(x: object) -> bool:
    """True for an ``xarray.DataArray`` or ``Dataset`` (xarray is not imported to ask)."""
    xr = sys.modules.get("xarray")
    return xr is not None and isinstance(x, (xr.DataArray, xr.Dataset))


def is_pandas(x: object) -> bool:
    """True for a ``pandas.Series`` or ``DataFrame`` (pandas is not imported to ask)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, (pd.Series, pd.DataFrame))


def is_array_api(x: object) -> bool:
    """True for an array of another array-API namespace (``__array_namespace__``: JAX, array-api-strict...).

    NumPy arrays and scalars (and every kind with a row of its own before
    this one in :data:`numbadrop.backends.BACKENDS`) are not asked.
    """
    return not isinstance(x, (np.ndarray, np.generic)) and hasattr(type(x), "__array_namespace__")


def is_gpu_array(x: object) -> bool:
    """True for objects that live on a GPU (``__cuda_array_interface__``).

    Numba's CUDA simulator's arrays (which lack the interface but carry
    ``__cuda_ndarray__``) count too, so that the simulator can stand in for a
    GPU in tests.
    """
    if isinstance(x, np.ndarray):
        return False
    return hasattr(x, "__cuda_array_interface__") or getattr(type(x), "__cuda_ndarray__", False) is True


def library_of(x: object) -> str:
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
    library = library_of(x)
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


# --- device names (dropout_mask's device=) ----------------------------------------------------


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


def is_torch_device(device: object) -> bool:
    """True for a ``torch.device`` (torch is not imported to ask)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(device, torch.device)


def is_cpu_device(device: object) -> bool:
    """True for ``None``, ``"cpu"`` and ``torch.device("cpu")``."""
    if device is None:
        return True
    if isinstance(device, str):
        return device.strip().lower() == "cpu"
    return type(device).__module__.split(".", 1)[0] == "torch" and getattr(device, "type", None) == "cpu"
