"""CPU kernels (``numba.njit``, ``parallel=True`` with a serial twin for small arrays).

``_prims`` (inlined Philox, 2-byte floats), ``_runtime`` (serial or parallel,
sharing numba's threads between Python threads), and one module per family:
``dropout`` (with ``launch``, the entry point), ``small``, ``gaussian``,
``dropblock`` and ``optim``. Importing compiles nothing: numba compiles each
kernel on its first call (and caches it on disk).
"""
