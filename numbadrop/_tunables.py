"""Tunable constants, kept in one place so that tests can patch them.

Only values read at call time live here; ``TILE`` is baked into the compiled
CPU kernels and changing it needs a recompile (it never changes a result).
"""

#: Elements handled by one CPU work item. A multiple of 4 (one Philox call).
TILE = 2048

#: Arrays with fewer elements than this run on the calling thread, so that a
#: small activation does not pay for waking the thread pool.
SERIAL_CUTOFF = 1 << 16

#: Work items per thread in the parallel CPU kernel (load balancing only).
CHUNKS_PER_THREAD = 4
