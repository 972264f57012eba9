"""Helpers for the CUDA tests: GPU arrays in the simulator or on a real device."""

from __future__ import annotations

import os

import numpy as np

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def to_gpu(x: np.ndarray):
    """A Numba device array holding ``x`` (a simulator array under CUDASIM)."""
    from numba import cuda

    return cuda.to_device(np.ascontiguousarray(x))


def to_host(a) -> np.ndarray:
    """NumPy copy of a GPU array made by these tests or returned by numbadrop."""
    if isinstance(a, HostCAI):
        return a.array.copy()
    if isinstance(a, np.ndarray):
        return a
    return a.copy_to_host()


class HostCAI:
    """A NumPy array behind a bare ``__cuda_array_interface__`` (simulator only).

    Stands for arrays from libraries numbadrop does not know (its outputs are
    then Numba device arrays): in the simulator, "device" pointers are host
    pointers. Any strides, including negative and zero ones, and read-only.
    """

    def __init__(self, array: np.ndarray, readonly: bool = False, stream: int | None = None):
        self.array = array
        self.readonly = readonly
        self.stream = stream

    @property
    def __cuda_array_interface__(self) -> dict:
        a = self.array
        desc = {
            "shape": a.shape,
            "strides": None if a.flags.c_contiguous else a.strides,
            "typestr": a.dtype.str,
            "data": (a.__array_interface__["data"][0], self.readonly),
            "version": 3,
        }
        if self.stream is not None:
            desc["stream"] = self.stream
        return desc

    @property
    def shape(self):
        return self.array.shape

    @property
    def ndim(self):
        return self.array.ndim


def assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape, dtype and bits (the sign of zero counts)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    uint = UINT[actual.dtype.itemsize]
    a = np.ascontiguousarray(actual).view(uint)
    e = np.ascontiguousarray(expected).view(uint)
    if not np.array_equal(a, e):
        bad = np.argwhere(a != e)
        first = tuple(bad[0])
        raise AssertionError(
            f"{len(bad)} of {a.size} elements differ; first at {first}: "
            f"got {actual[first]!r} expected {expected[first]!r}"
        )
