"""The boolean keep-mask itself, on the device asked for."""

from __future__ import annotations

import importlib

import numpy as np

from numbadrop import backends
from numbadrop._core.arrays import check_device, is_cpu_device, is_dask, is_torch_device
from numbadrop._core.validation import check_p, normalize_axes
from numbadrop.random import RngLike, seed_offset


def dropout_mask(
    shape: int | tuple[int, ...],
    p: float,
    *,
    rng: RngLike = None,
    broadcast_dims: int | tuple[int, ...] = (),
    device: object = None,
) -> np.ndarray:
    """The boolean keep-mask (True = kept) that :func:`dropout` would use.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the input the mask is for.
    p : float
        Drop probability in ``[0, 1]``.
    rng, broadcast_dims
        As in :func:`dropout`.
    device : None, "cpu", "cuda", "cuda:N", torch.device, cupy.cuda.Device, a GPU or a Dask array
        Where to compute and return the mask: ``None``/``"cpu"`` -> NumPy;
        ``"cuda[:N]"`` -> a Numba device array on GPU ``N``; a
        ``torch.device`` -> a torch tensor; a ``cupy.cuda.Device`` -> a CuPy
        array; a GPU array -> the same kind of array on its device; a Dask
        array (of ``shape``'s size) -> a lazy Dask array chunked like it
        (one chunk along broadcast axes).

    Returns
    -------
    numpy.ndarray, GPU array or dask.array.Array
        Boolean array of the mask shape: ``shape`` with broadcast axes set to 1.

    Examples
    --------
    >>> import numpy as np, numbadrop as nd
    >>> x = np.ones((3, 4), np.float32)
    >>> keep = nd.dropout_mask(x.shape, 0.5, rng=5)
    >>> bool((nd.dropout(x, 0.5, rng=5) == np.where(keep, 2.0, 0.0)).all())
    True
    """
    shape = check_shape(shape)
    p = check_p(p)
    broadcast = normalize_axes(broadcast_dims, len(shape))
    backend = _mask_backend(device)
    seed, offset = seed_offset(rng)
    return backend.mask(shape, broadcast, p, seed, offset, device)


def _mask_backend(device: object):
    """The backend that makes a mask for ``device`` (validated; ValueError naming it otherwise)."""
    if is_torch_device(device):  # a torch tensor on that device, CPU included
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be a CPU or CUDA torch.device, got {device!r}")
        return importlib.import_module("numbadrop.backends.torch")
    if is_cpu_device(device):
        return backends.backend_of(None)
    if is_dask(device):
        backend = backends.backend_of(device)
        backend.check_chunks(device, "device")
        return backend
    check_device(device)
    return importlib.import_module("numbadrop.backends.cuda_array")


def check_shape(shape: object) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    for n in dims:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"shape must hold ints, got {shape!r}")
        if n < 0:
            raise ValueError(f"shape must hold non-negative ints, got {shape!r}")
    return tuple(int(n) for n in dims)
