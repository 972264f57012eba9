"""Tunable constants, kept in one place so that tests can patch them.

Only values read at call time live here; ``TILE`` is baked into the compiled
CPU kernels and changing it needs a recompile (it never changes a result).
"""

#: Elements handled by one CPU work item. A multiple of 4 (one Philox call).
TILE = 2048

#: Arrays with fewer elements than this run on the calling thread. A parallel
#: region wakes numba's OpenMP pool, whose workers then spin for a while; beside
#: BLAS's or torch's threads on few cores, or on a loaded machine, that cost more
#: than the kernel saves (measured on 2 cores, busy: a 131,072-element dropout
#: took 0.35 ms serial and 0.23-16 ms parallel; a residual-MLP step ran 3x slower
#: with its activations on the pool). Below 2**20 elements (about 2 ms of work on
#: one core) the kernels stay on the caller, so a training step's activations
#: never start the pool; larger arrays use it. Changes no result.
SERIAL_CUTOFF = 1 << 20

#: Work items per thread in the parallel CPU kernel (load balancing only).
CHUNKS_PER_THREAD = 4

#: Rows per work item of the CPU kernel for rows that share their mask words
#: (channels-last channel dropout): the words are drawn once per item. Baked
#: into the compiled kernels, like ``TILE``.
SHARED_ROWS = 64

# --- CUDA (numbadrop._cuda). Launch-time values are read on every call; the
# ``*_UNROLL`` values are baked into a kernel when it is built, and kernels
# are built per value, so patching them simply builds another kernel. None
# of them ever changes a result.

#: Threads per block of every CUDA kernel (a multiple of 32).
CUDA_THREADS_PER_BLOCK = 256

#: Grid size cap, in blocks per multiprocessor; the kernels loop (grid-stride)
#: over whatever work a grid of that size does not cover in one pass.
CUDA_BLOCKS_PER_SM = 8

#: Absolute grid size cap in blocks, or None for ``CUDA_BLOCKS_PER_SM`` times
#: the device's multiprocessors. Tests set it small so that the grid-stride
#: loops run more than once.
CUDA_MAX_BLOCKS = None

#: Grid size floor in blocks (not in the simulator): numba-cuda warns on every
#: launch of fewer than 128 blocks; the extra blocks find no work and exit.
CUDA_MIN_BLOCKS = 128

#: Philox groups (4 elements each, one 4-element vector load) per thread and
#: loop trip in the contiguous kernel.
CUDA_VEC_UNROLL = 2

#: Accesses (4-element vectors where rows are aligned, else single elements)
#: per thread and loop trip in the channel (broadcast-row) kernel.
CUDA_ROW_UNROLL = 4

#: Rows at least this long use the channel kernel (one Philox call per row
#: chunk); shorter broadcast rows use the general kernel.
CUDA_ROW_MIN = 512

#: Philox implementation compiled into the CUDA kernels: "u32" (32-bit words,
#: ``mul.hi.u32``; fewer instructions) or "shared" (numbadrop._philox, the
#: function the CPU compiles). Both give the same words.
CUDA_PHILOX = "u32"
