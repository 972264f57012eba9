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

A third hazard is numba's symbol names: see :func:`closure_qualname`.

:func:`njit` is ``numba.njit`` with that cache where ``cache=True`` (the
dispatcher's ``_cache`` replaced before its first compile), and plain
``numba.njit`` otherwise; the kernels import it in place of numba's.
Nothing process-wide changes: other numba code keeps numba's own cache.
"""

from __future__ import annotations

import contextlib
import os
import re

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


def closure_qualname(fn) -> str:
    """``fn.__qualname__``, with its closure constants appended when it is a closure.

    numba names a compiled function's machine-code symbol after its qualname,
    its argument types and a counter local to the process. Two closures made by
    one factory with different constants (``mode``, ``inplace``) share a
    qualname; compiled in two processes, each can get the same counter value,
    so a cached library from one process and a function compiled in another
    can define one symbol with different code, and the JIT linker keeps the
    first definition: a kernel loaded from the cache then calls the other
    variant's code (measured: in-place dropout ran alpha dropout's tile, +0.0
    in place of -0.0). A qualname per variant keeps the symbols apart (and
    gives each variant its own cache index).
    """
    if not fn.__closure__:
        return fn.__qualname__
    parts = []
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True):
        value = cell.cell_contents
        if value is None or isinstance(value, (bool, int, float, str)):
            tag = repr(value)
        elif hasattr(value, "py_func"):  # a dispatcher: its own (already unique) qualname
            tag = value.py_func.__qualname__.rsplit(".", 1)[-1]
        else:
            raise TypeError(
                f"numbadrop's njit: closure variable {name!r} of {fn.__qualname__} is a "
                f"{type(value).__name__}; only constants and compiled functions name a variant"
            )
        parts.append(f"{name}_{tag}")
    return fn.__qualname__ + "__" + re.sub(r"\W", "_", "__".join(parts))


def njit(*args, **options):
    """``numba.njit``; with ``cache=True`` the dispatcher uses :class:`CheckedCache`.

    A closure gets a qualname per variant first (:func:`closure_qualname`).
    """

    def decorate(fn):
        fn.__qualname__ = closure_qualname(fn)
        dispatcher = numba.njit(**options)(fn)
        if options.get("cache"):
            dispatcher._cache = CheckedCache(dispatcher.py_func)  # as enable_caching() does, before any compile
        return dispatcher

    return decorate(args[0]) if args else decorate
