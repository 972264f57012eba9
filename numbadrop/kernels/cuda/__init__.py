"""CUDA kernels (numba-cuda), imported only when a GPU array arrives.

``_prims`` (Philox in 32-bit words, 2-byte floats, vector accesses),
``_runtime`` (loading numba-cuda, grids, streams, array views), and one module
per family: ``dropout`` (with ``launch``), ``gaussian`` and ``dropblock``.
Importing these modules needs only NumPy; numba-cuda loads on
:func:`numbadrop.kernels.cuda._runtime.require`.
"""
