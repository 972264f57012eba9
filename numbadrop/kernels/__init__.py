"""The Numba kernels, one folder per compile target with the same file names in each.

:mod:`numbadrop.kernels.cpu` (``numba.njit``) and :mod:`numbadrop.kernels.cuda`
(``numba.cuda.jit``, numba-cuda loaded only when the first GPU array arrives).
Neither imports the other; both compile the plain-Python contract of
:mod:`numbadrop._core`.
"""
