"""How a CPU kernel runs: on the calling thread or numba's pool, and how calls from many threads share it.

Calls may come from many Python threads at once (a thread pool, Dask's
threaded scheduler). Two rules, neither of which can change a result (the
mask does not depend on how the work is split):

- Oversubscription: while k calls run the parallel kernel at once, each uses
  1/k of numba's threads (``numba.set_num_threads`` is per calling thread), or
  the serial kernel once that share is one thread.
- Numba's workqueue threading layer (used where neither OpenMP nor TBB loads)
  aborts the process when two threads enter a parallel region at once. There,
  one call at a time runs the parallel kernel and the others the serial one.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

from numbadrop._core import tunables


def launch(serial, parallel, x, y, args, n_items: int, size: int | None = None) -> None:
    """``serial(x, y, 0, n_items, *args)`` for small arrays, else ``parallel(x, y, *args, n_chunks)`` (see above).

    The kernels only read ``x``; it is passed as a read-only view, so that a
    writable and a read-only input (or ``x`` being ``y`` in place) share one
    compiled specialization instead of two. ``size``: the number of elements
    the call computes (default ``x.size``; a flat buffer's span is larger).
    """
    x = read_only(x)
    if (x.size if size is None else size) < tunables.SERIAL_CUTOFF:
        serial(x, y, np.int64(0), np.int64(n_items), *args)
        return
    global _active
    with _count_lock:
        _active += 1
        active = _active
    try:
        _run_parallel(serial, parallel, x, y, args, active, n_items)
    finally:
        with _count_lock:
            _active -= 1


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` itself if read-only, else a read-only view of it (numba types the two differently)."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def flat(a: np.ndarray, writeable: bool = True) -> tuple[np.ndarray, int, tuple[int, ...]] | None:
    """``a``'s memory as ``(buffer, offset, strides)``, or None where its strides are not whole elements.

    ``buffer`` is a 1-D C-contiguous view of the memory ``a`` spans (from its
    lowest to its highest element, gaps included), ``offset`` the index in it
    of ``a``'s first element and ``strides`` ``a``'s strides in elements
    (negative and zero ones too). A kernel typed on such buffers compiles once
    per dtype, whatever the layouts of its arguments, and still gets
    C-contiguous slices for contiguous rows (which LLVM vectorizes).
    """
    item = a.itemsize
    if a.size == 0 or any(s % item for s in a.strides):
        return None
    strides = tuple(s // item for s in a.strides)
    low = sum((n - 1) * s for n, s in zip(a.shape, strides, strict=True) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, strides, strict=True) if s > 0)
    lowest = a[tuple(slice(n - 1, n) if s < 0 else slice(0, 1) for n, s in zip(a.shape, strides, strict=True))]
    buffer = np.lib.stride_tricks.as_strided(lowest, (high - low + 1,), (item,), writeable=writeable)
    return buffer, -low, strides


def flat_views(x: np.ndarray, y: np.ndarray, inplace: bool):
    """``(xb, yb, geo)``: flat buffers of ``x`` and ``y`` and their geometry, or None (strides not in elements).

    ``geo`` is ``x.shape`` followed by each array's offset and element strides
    (int64), the form the kernels of ``dropout`` and ``columns`` take:
    one compiled specialization per dtype, whatever the layouts.
    """
    fy = flat(y)
    fx = fy if inplace else flat(x, writeable=False)
    if fx is None or fy is None:
        return None
    (xb, xo, xs), (yb, yo, ys) = fx, fy
    geo = tuple(np.int64(v) for v in (*y.shape, xo, *xs, yo, *ys))
    return xb, yb, geo


def through_copy(runner, x, y, inplace, *args) -> None:
    """``runner`` into a C-ordered temporary, then copied into ``y`` (strides that are not whole elements)."""
    tmp = np.empty(y.shape, y.dtype)
    runner(np.ascontiguousarray(x), tmp, *args, inplace=False)
    y[...] = tmp


_count_lock = threading.Lock()
_active = 0
_workqueue_lock = threading.Lock()
_layer_safe = False  # True once numba reports a threadsafe layer (omp, tbb)


def _threadsafe_layer() -> bool:
    """Whether concurrent parallel regions are allowed (False until the layer is known)."""
    global _layer_safe
    if not _layer_safe:
        try:
            _layer_safe = numba.threading_layer() != "workqueue"
        except ValueError:  # no parallel region has run yet: the layer is not chosen
            return False
    return _layer_safe


def _run_parallel(serial, parallel, x, y, args, active: int, n_items: int) -> None:
    threads = numba.get_num_threads()
    share = threads if active == 1 else threads // active
    if share < 1 or (active > 1 and share == 1):
        serial(x, y, np.int64(0), np.int64(n_items), *args)
        return
    if not _threadsafe_layer():
        if not _workqueue_lock.acquire(blocking=False):
            serial(x, y, np.int64(0), np.int64(n_items), *args)
            return
        try:
            parallel(x, y, *args, np.int64(threads * tunables.CHUNKS_PER_THREAD))
        finally:
            _workqueue_lock.release()
        return
    if share == threads:
        parallel(x, y, *args, np.int64(threads * tunables.CHUNKS_PER_THREAD))
        return
    numba.set_num_threads(share)
    try:
        parallel(x, y, *args, np.int64(share * tunables.CHUNKS_PER_THREAD))
    finally:
        numba.set_num_threads(threads)


def locked(kernel, *args):
    """``kernel(*args)`` for a parallel kernel that cannot fall back to a serial twin.

    Under the workqueue layer it takes the same lock as :func:`launch`, so that
    no two parallel regions of any kernel family overlap; elsewhere it runs at once.
    """
    if _threadsafe_layer():
        return kernel(*args)
    with _workqueue_lock:
        return kernel(*args)
