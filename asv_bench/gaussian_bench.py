"""Gaussian dropout and noise against NumPy and a plain copy, in one process (run once, not a test).

Medians of ``--repeat`` timed runs after one warm-up run, 2**24 float32 by
default, p = 0.5 (noise std 1):

* ``numbadrop gaussian_dropout`` (new output, in place, backward) and
  ``gaussian_noise``;
* NumPy: ``x * (1 + s * rng.standard_normal(n))`` (float64 normals, as Keras
  users write it) and with ``standard_normal(n, dtype=np.float32)``;
* torch (if installed): ``x * (1 + s * torch.randn_like(x))``;
* ``np.copyto`` into a preallocated array (the memory floor) and ``x * 2``
  into a new one (an allocating floor, like the new-output call).

Usage (from the repository root)::

    python asv_bench/gaussian_bench.py [--log2n 24] [--repeat 7]
"""

from __future__ import annotations

import argparse
import math

import numba
import numpy as np
from front_door_check import timeit  # run as a script: asv_bench/ is on sys.path

import numbadrop as nd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = 1 << args.log2n
    p = 0.5
    s = math.sqrt(p / (1 - p))
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    buf = x.copy()
    out = np.empty_like(x)
    rng = np.random.default_rng(1)
    gen = nd.Generator(2)
    _, state = nd.gaussian_dropout(x, p, rng=gen, return_state=True)
    cases = {
        "numbadrop gaussian_dropout (new output)": lambda: nd.gaussian_dropout(x, p, rng=gen),
        "numbadrop gaussian_dropout (in place)": lambda: nd.gaussian_dropout(buf, p, inplace=True, rng=gen),
        "numbadrop gaussian_dropout backward": lambda: state.backward(x),
        "numbadrop gaussian_noise (new output)": lambda: nd.gaussian_noise(x, 1.0, rng=gen),
        "NumPy x * (1 + s * standard_normal(n))": lambda: x * (1 + s * rng.standard_normal(n)),
        "NumPy, float32 normals": lambda: x * (1 + np.float32(s) * rng.standard_normal(n, dtype=np.float32)),
        "np.copyto (preallocated)": lambda: np.copyto(out, x),
        "x * 2 (new output)": lambda: x * 2,
    }
    try:
        import torch

        xt = torch.from_numpy(x)
        cases["torch x * (1 + s * randn_like(x))"] = lambda: xt * (1 + s * torch.randn_like(xt))
    except ImportError:
        pass
    print(f"n = 2**{args.log2n} float32, p = {p}, numba threads = {numba.get_num_threads()}, repeat = {args.repeat}")
    results = {name: timeit(fn, args.repeat)[0] for name, fn in cases.items()}
    base = results["numbadrop gaussian_dropout (new output)"]
    copy = results["np.copyto (preallocated)"]
    print(f"| {'case':<45} | {'median ms':>9} | {'/ numbadrop':>11} | {'/ copyto':>8} |")
    print(f"|{'-' * 47}|{'-' * 11}|{'-' * 13}|{'-' * 10}|")
    for name, ms in results.items():
        print(f"| {name:<45} | {ms:9.1f} | {ms / base:11.2f} | {ms / copy:8.2f} |")


if __name__ == "__main__":
    main()
