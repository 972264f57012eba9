"""Memory order and threads: the benchmark targets of issue 11, as one table.

Run from the repository root: ``python asv_bench/front_door_check.py [--repeat N]``.
Prints the median (and min) of N runs of each case, in milliseconds, and the
ratios the issue sets targets for. Needs ~3 GiB of memory; Dask for the last rows.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np

import numbadrop as nd


def timeit(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm: compile, first touch
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def channels_last(r: int) -> list:
    """dropout2d of an (N, C, H, W) view of (N, H, W, C) memory, against copies of the same bytes."""
    nhwc = np.random.default_rng(0).standard_normal((64, 64, 64, 256), dtype=np.float32)
    x_cl = nhwc.transpose(0, 3, 1, 2)
    x_cf = np.ascontiguousarray(x_cl)
    dst = np.empty_like(nhwc)
    copy = timeit(lambda: np.copyto(dst, nhwc), r)
    fresh = timeit(lambda: nhwc * np.float32(2), r)  # the same bytes into a new array (first touch)
    cl = timeit(lambda: nd.dropout2d(x_cl, 0.5, rng=1), r)
    cf = timeit(lambda: nd.dropout2d(x_cf, 0.5, rng=1), r)
    y = nd.dropout2d(x_cl, 0.5, rng=1)
    out_cl = np.empty_like(x_cl)  # channels-last too (empty_like keeps the order)
    cl_out = timeit(lambda: nd.dropout2d(x_cl, 0.5, rng=1, out=out_cl), r)
    return [
        ("np.copyto (64,256,64,64) f32", *copy, ""),
        ("x * 2 into a new array (same bytes)", *fresh, ""),
        (
            "dropout2d channels-last",
            *cl,
            f"{cl[0] / copy[0]:.2f}x copyto, {cl[0] / fresh[0]:.2f}x x*2 (both new arrays)",
        ),
        ("dropout2d channels-last, out=", *cl_out, f"{cl_out[0] / copy[0]:.2f}x copyto (target <= 1.3)"),
        ("dropout2d C-contiguous", *cf, f"{cf[0] / copy[0]:.2f}x copyto"),
        ("  (strides: input, channels-last output)", 0, 0, f"{x_cl.strides}, {y.strides}"),
    ]


def transposed(r: int) -> list:
    """dropout of a transposed 2**26 float32 array against the contiguous one."""
    a = np.random.default_rng(1).standard_normal((8192, 8192), dtype=np.float32)
    contiguous = timeit(lambda: nd.dropout(a, 0.5, rng=2), r)
    trans = timeit(lambda: nd.dropout(a.T, 0.5, rng=2), r)
    out = np.empty_like(a)
    contiguous_out = timeit(lambda: nd.dropout(a, 0.5, rng=2, out=out), r)
    trans_out = timeit(lambda: nd.dropout(a.T, 0.5, rng=2, out=out.T), r)
    return [
        ("dropout 2**26 f32 contiguous", *contiguous, ""),
        ("dropout 2**26 f32 transposed", *trans, f"{trans[0] / contiguous[0]:.2f}x contiguous (target <= 1.2)"),
        ("dropout 2**26 f32 contiguous, out=", *contiguous_out, ""),
        ("dropout 2**26 f32 transposed, out=", *trans_out, f"{trans_out[0] / contiguous_out[0]:.2f}x contiguous"),
    ]


def dask_threads(r: int) -> list:
    """Dask's threaded scheduler on 2**27 float32 in 16 chunks."""
    import dask
    import dask.array as da

    b = np.random.default_rng(2).standard_normal(2**27, dtype=np.float32)
    xd = da.from_array(b, chunks=2**23)
    one = timeit(lambda: nd.dropout(b, 0.5, rng=3), r)
    with dask.config.set(scheduler="threads"):
        lazy = timeit(lambda: nd.dropout(xd, 0.5, rng=3).compute(), r)
        floor = timeit(lambda: xd.map_blocks(np.copy).compute(), r)
    return [
        ("dropout 2**27 f32, one NumPy call", *one, ""),
        ("dask threads, 16 chunks: map_blocks(np.copy)", *floor, ""),
        ("dask threads, 16 chunks: nd.dropout", *lazy, f"{lazy[0] / floor[0]:.2f}x np.copy blocks"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    rows = channels_last(args.repeat) + transposed(args.repeat)
    if not args.skip_dask:
        rows += dask_threads(args.repeat)
    print(f"numba threads: {numba.get_num_threads()}, layer: {numba.threading_layer()}, repeat: {args.repeat}")
    print(f"{'case':<48} {'median ms':>10} {'min ms':>9}  note")
    for name, med, low, note in rows:
        if med:
            print(f"{name:<48} {med:>10.1f} {low:>9.1f}  {note}")
        else:
            print(f"{name:<48} {'':>10} {'':>9}  {note}")


if __name__ == "__main__":
    main()
