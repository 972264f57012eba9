"""numbadrop.dask on a 2-worker LocalCluster against numbadrop on one process.

The issue's performance check: dropout (p = 0.5) of a 2**28-element float32
array (1 GiB) in 64 chunks, computed by a ``LocalCluster`` of 2 worker
processes with one thread each (loopback only), must run within 1.5x of the
single-process CPU kernel, ``numbadrop.dropout``, on the same data.

What is timed, ``--repeat`` times, the three cases interleaved run by run so
that a noisy neighbour hurts all of them alike (medians reported):

* ``numbadrop.dropout(a, 0.5, rng=g)`` on the whole NumPy array in this
  process (numba's thread pool: all cores);
* ``numbadrop.dask.dropout(x, 0.5, rng=g).persist()`` and ``wait`` on the
  cluster, where ``x`` holds the same data already in the workers' memory:
  from the call (graph construction included) until every output block is
  computed and held by a worker;
* for scale, the same round trip of a plain ``x.map_blocks(np.copy)``: what
  the scheduler and the workers' allocation cost with no dropout at all.

Each worker's numba uses ``--worker-numba-threads`` threads (default 1, as
``threads_per_worker=1``: one core per worker). Afterwards the cluster's
result is checked bit for bit against the single-process one (a BLAKE2b
digest per block, computed where the block lives).

Usage (from the repository root)::

    python asv_bench/dask_compare.py                   # the issue's table (needs ~5 GiB of RAM)
    python asv_bench/dask_compare.py --size-log2 22    # a quick smoke run
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import statistics
import sys
import time

import numpy as np

SEED = 20260501
TARGET = 1.5


def make_block(seed: int, block_info=None) -> np.ndarray:
    """Standard-normal float32 data for one block, a function of its position only."""
    lo, hi = block_info[None]["array-location"][0]
    return np.random.default_rng([seed, lo]).standard_normal(hi - lo, dtype=np.float32)


def digest(block: np.ndarray) -> np.ndarray:
    """A 64-bit BLAKE2b digest of one block's bytes, as a length-1 array."""
    h = hashlib.blake2b(np.ascontiguousarray(block).tobytes(), digest_size=8).digest()
    return np.array([int.from_bytes(h, "little")], np.uint64)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-log2", type=int, default=28, help="array of 2**N float32 (default 28)")
    parser.add_argument("--chunks", type=int, default=64, help="number of chunks (default 64)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--p", type=float, default=0.5, help="drop probability (default 0.5)")
    parser.add_argument(
        "--worker-numba-threads", type=int, default=1, help="NUMBA_NUM_THREADS of each worker (default 1)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError:
        print('dask_compare.py needs Dask: pip install "numbadrop[dask]"', file=sys.stderr)
        return 2
    import numba

    import numbadrop
    import numbadrop.dask as ndd

    n = 2**args.size_log2
    if n % args.chunks:
        print(f"2**{args.size_log2} is not a multiple of {args.chunks} chunks", file=sys.stderr)
        return 2
    chunk = n // args.chunks
    p = args.p

    # The same data on both sides: each block is a function of its position.
    a = np.empty(n, np.float32)
    for lo in range(0, n, chunk):
        np.random.default_rng([SEED, lo]).standard_normal(out=a[lo : lo + chunk], dtype=np.float32)

    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        env={"NUMBA_NUM_THREADS": str(args.worker_numba_threads)},
    )
    client = distributed.Client(cluster)
    try:
        x = da.map_blocks(
            make_block, SEED, chunks=((chunk,) * args.chunks,), dtype=np.float32, meta=np.empty(0, np.float32)
        ).persist()
        distributed.wait(x)
        spread = client.has_what()
        blocks_per_worker = sorted(len(keys) for keys in spread.values())

        gen_single, gen_dask = numbadrop.Generator(1), numbadrop.Generator(1)

        def run_single() -> float:
            t = time.perf_counter()
            y = numbadrop.dropout(a, p, rng=gen_single)
            elapsed = time.perf_counter() - t
            del y
            return elapsed

        def run_dask() -> float:
            t = time.perf_counter()
            y = ndd.dropout(x, p, rng=gen_dask).persist()
            distributed.wait(y)
            elapsed = time.perf_counter() - t
            del y
            return elapsed

        def run_copy() -> float:
            t = time.perf_counter()
            y = x.map_blocks(np.copy, token=f"copy-{time.perf_counter_ns()}").persist()
            distributed.wait(y)
            elapsed = time.perf_counter() - t
            del y
            return elapsed

        cases = {"single": run_single, "dask": run_dask, "copy": run_copy}
        for fn in cases.values():  # warm-up: numba compiles in this process and in each worker
            fn()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, fn in cases.items():
                gc.collect()
                times[name].append(fn())

        # Bit-identical check of one more draw, digests computed where the blocks live.
        seed, offset = 2**64 - 1, 12345
        want = numbadrop.dropout(a, p, rng=numbadrop.Generator(seed, offset))
        y = ndd.dropout(x, p, rng=numbadrop.Generator(seed, offset))
        got = y.map_blocks(digest, chunks=((1,) * args.chunks,), dtype=np.uint64).compute()
        expected = np.concatenate([digest(want[lo : lo + chunk]) for lo in range(0, n, chunk)])
        identical = bool(np.array_equal(got, expected))
    finally:
        client.close()
        cluster.close()

    med = {name: statistics.median(ts) for name, ts in times.items()}
    ratio = med["dask"] / med["single"]
    print(
        f"dropout p={p}, 2**{args.size_log2} float32 ({n * 4 / 2**20:.0f} MiB), "
        f"{args.chunks} chunks of {chunk} elements; medians of {args.repeat} runs"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, dask {dask.__version__}, "
        f"distributed {distributed.__version__}"
    )
    print(
        f"cluster: LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host='127.0.0.1'), "
        f"NUMBA_NUM_THREADS={args.worker_numba_threads} per worker; input blocks per worker: "
        f"{blocks_per_worker}"
    )
    print(f"single process: numba {numba.get_num_threads()} threads")
    print()
    rows = [
        ("numbadrop.dropout, one process (NumPy array)", "single"),
        ("numbadrop.dask.dropout, 2-worker cluster (persist+wait)", "dask"),
        ("  for scale: map_blocks(np.copy), same cluster", "copy"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'case':<{width}}  {'median ms':>10}  {'min ms':>8}  {'GB/s r+w':>8}  {'vs one process':>14}")
    for label, name in rows:
        ts = times[name]
        gbs = 8 * n / med[name] / 1e9
        print(
            f"{label:<{width}}  {med[name] * 1e3:>10.1f}  {min(ts) * 1e3:>8.1f}  {gbs:>8.2f}  "
            f"{med[name] / med['single']:>13.2f}x"
        )
    print()
    print(f"bit-identical to the one-process result ({args.chunks} block digests): {'yes' if identical else 'NO'}")
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"target: cluster within {TARGET}x of one process -> {verdict} ({ratio:.2f}x)")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
