"""Numba's disk cache, safe for processes that compile the same kernel at the same moment.

Numba's ``IndexDataCacheFile.save`` loads a function's index, picks the first
free data-file number, saves the index, then the data, with no lock. Two
processes that save *different* overloads of one kernel at once (Dask
workers starting on a fresh install, pytest-xdist, parallel jobs) can pick
the same number: the index then maps one overload's key to a file that holds
the other overload's machine code, and the next process that loads it runs
code compiled for other argument types. Two defences, either of which is
enough on its own:

- **a file lock** (``fcntl.flock`` on ``<function>.nbi.lock`` in the cache
  directory) around each save, so that load-index, pick, save-index and
  save-data run as one step; where ``fcntl`` is missing (Windows) or the lock
  file cannot be opened, saves run unlocked, as numba's own do;
- **a signature check** on every load: a cached overload whose signature is
  not the one asked for is ignored (compiled again and saved over the bad
  entry), so even a cache written without the lock (an older numbadrop,
  another writer) cannot hand a kernel the wrong code.

:func:`njit` is ``numba.njit`` with that cache where ``cache=True`` (the
dispatcher's ``_cache`` replaced before its first compile), and plain
``numba.njit`` otherwise; the kernels import it in place of numba's.
Nothing process-wide changes: other numba code keeps numba's own cache.
"""

from __future__ import annotations

import contextlib
import os

import numba
from numba.core import sigutils
from numba.core.caching import FunctionCache

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class CheckedCache(FunctionCache):
    """numba's per-function disk cache, with a locked save and a signature-checked load."""

    def load_overload(self, sig, target_context):
        cres = super().load_overload(sig, target_context)
        if cres is None:
            return None
        args, _ = sigutils.normalize_signature(sig)
        if tuple(cres.signature.args) != tuple(args):
            return None  # another overload's code under this key (a raced save): compile again
        return cres

    def save_overload(self, sig, data):
        with self._lock():
            super().save_overload(sig, data)

    @contextlib.contextmanager
    def _lock(self):
        path = os.path.join(self._cache_path, self._cache_file._index_name + ".lock")
        try:
            file = open(path, "a+b") if fcntl is not None else None
        except OSError:  # a read-only cache directory: numba's save fails quietly as well
            file = None
        if file is None:
            yield
            return
        with file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)


def njit(*args, **options):
    """``numba.njit``; with ``cache=True`` the dispatcher uses :class:`CheckedCache`."""
    if not options.get("cache"):
        return numba.njit(*args, **options)

    def decorate(fn):
        dispatcher = numba.njit(**options)(fn)
        dispatcher._cache = CheckedCache(dispatcher.py_func)  # as enable_caching() does, before any compile
        return dispatcher

    return decorate(args[0]) if args else decorate
