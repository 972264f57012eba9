"""numbadrop.dask: dropout of chunked Dask arrays, in-process and on a LocalCluster.

Every benchmark compares ``numbadrop.dask.dropout`` with peers on the same
data:

``"numbadrop"``
    ``numbadrop.dropout`` on the whole NumPy array (the single-process kernel);
``"dask"``
    ``numbadrop.dask.dropout(x).persist()``: every output block computed and
    held, nothing concatenated;
``"dask-copy"``
    ``x.map_blocks(np.copy).persist()``: the scheduler's and the allocator's
    share, with no dropout at all.

Sizes stay small by default; ``NUMBADROP_BENCH_LARGE=1`` adds the issue's
2**28-element array. Without dask (and distributed, for the cluster
benchmark) ``setup`` raises ``NotImplementedError`` and asv skips.
"""

from __future__ import annotations

import os

import numpy as np

try:
    import dask.array as da

    import numbadrop.dask as ndd
except ImportError:  # pragma: no cover - depends on the environment
    da = ndd = None

try:
    import distributed
except ImportError:  # pragma: no cover - depends on the environment
    distributed = None

import numbadrop

P = 0.5
LARGE = os.environ.get("NUMBADROP_BENCH_LARGE", "0") not in ("", "0")
#: Elements of the 1-D float32 array; 2**28 (1 GiB) only in the large suite.
SIZES = [2**20, 2**23] + ([2**28] if LARGE else [])
CHUNKS = [1, 16, 64]
PEERS = ["numbadrop", "dask", "dask-copy"]


def require_dask(cluster: bool = False) -> None:
    if da is None:
        raise NotImplementedError("dask[array] is not installed")
    if cluster and distributed is None:
        raise NotImplementedError("distributed is not installed")


def make_data(size: int, n_chunks: int):
    """The same float32 data as a NumPy array and as a dask array of ``n_chunks`` chunks."""
    a = np.random.default_rng(0).standard_normal(size, dtype=np.float32)
    return a, da.from_array(a, chunks=-(-size // n_chunks))


def peer_function(peer: str, a: np.ndarray, x, persist):
    """A zero-argument callable doing one run of ``peer``; ``persist`` finishes a dask run."""
    gen = numbadrop.Generator(0)
    if peer == "numbadrop":
        if x.npartitions != 1:
            raise NotImplementedError("the whole-array kernel does not depend on chunking")
        return lambda: numbadrop.dropout(a, P, rng=gen)
    if peer == "dask":
        return lambda: persist(ndd.dropout(x, P, rng=gen))
    counter = iter(range(1 << 62))
    return lambda: persist(x.map_blocks(np.copy, token=f"bench-copy-{next(counter)}"))


class DaskThreaded:
    """Dropout of a 1-D float32 array in ``n_chunks`` chunks, threaded scheduler (2 threads)."""

    params = (SIZES, CHUNKS, PEERS)
    param_names = ("size", "n_chunks", "peer")
    number = 1
    repeat = (3, 10, 20.0)
    timeout = 300

    def setup(self, size, n_chunks, peer):
        require_dask()
        a, x = make_data(size, n_chunks)
        x = x.persist(scheduler="threads")
        self.run = peer_function(peer, a, x, lambda y: y.persist(scheduler="threads", num_workers=2))
        self.run()  # compile

    def time_dropout(self, size, n_chunks, peer):
        self.run()


class DaskGraph:
    """Building the lazy graph only (the per-call, per-block overhead on the client)."""

    params = ([64, 4096],)
    param_names = ("n_chunks",)

    def setup(self, n_chunks):
        require_dask()
        self.x = da.zeros(n_chunks * 16, dtype=np.float32, chunks=16)
        self.x2 = da.zeros((n_chunks, 16), dtype=np.float32, chunks=(1, 16))
        self.gen = numbadrop.Generator(0)

    def time_build(self, n_chunks):
        ndd.dropout(self.x, P, rng=self.gen)

    def time_build_channel(self, n_chunks):
        ndd.dropout1d(self.x2, P, rng=self.gen)


class DaskLocalCluster:
    """Dropout on a ``LocalCluster`` of 2 worker processes x 1 thread, data held by the workers.

    Timed: from the call until every output block is computed and held by a
    worker (``persist`` + ``wait``). The ``"numbadrop"`` peer runs the
    single-process kernel in the benchmark process, for the ratio the issue
    asks about (``asv_bench/dask_compare.py`` prints it as a table).
    """

    params = (SIZES, [64], PEERS)
    param_names = ("size", "n_chunks", "peer")
    number = 1
    repeat = (3, 10, 30.0)
    timeout = 600

    def setup(self, size, n_chunks, peer):
        require_dask(cluster=True)
        a, x = make_data(size, n_chunks)
        self.cluster = None
        if peer == "numbadrop":  # the single-process kernel in this process
            self.run = lambda: numbadrop.dropout(a, P, rng=numbadrop.Generator(0))
            self.run()
            return
        self.cluster = distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        )
        self.client = distributed.Client(self.cluster)
        # Made by the workers (shipping the NumPy array through the scheduler
        # would dominate setup); same size and distribution as ``a``.
        rng = da.random.default_rng(0)
        x = rng.standard_normal(size, chunks=x.chunks).astype(np.float32).persist()
        distributed.wait(x)

        def persist(y):
            y = y.persist()
            distributed.wait(y)

        self.run = peer_function(peer, a, x, persist)
        self.run()  # workers compile

    def teardown(self, size, n_chunks, peer):
        if self.cluster is not None:
            self.client.close()
            self.cluster.close()

    def time_dropout(self, size, n_chunks, peer):
        self.run()
