"""DropBlock against copies and torchvision's algorithm, in one process (run once, not a test).

Medians of ``--repeat`` timed runs after one warm-up run, on ``(64, 256, 32, 32)``
float32, ``block_size=7``, ``p=0.1`` by default (issue 12's case):

* ``numbadrop drop_block2d`` forward (new output, and in place) and its
  backward (``state.backward``: new output, and in place);
* ``np.copyto`` into a preallocated array (the memory floor of the in-place
  calls) and ``x.copy()`` into a new one (the floor of a call that allocates:
  on this VM first-touching fresh pages costs as much as the copy itself);
* torchvision's algorithm written in torch (if installed): Bernoulli seed
  grid, ``F.pad``, ``F.max_pool2d``, ``numel / (eps + sum)``, two products;
  and its backward through torch autograd.

The ratios are to ``np.copyto`` (the issue's target: forward and backward
each at most 3x) and to the allocating floor.

Usage (from the repository root)::

    python asv_bench/dropblock_bench.py [--shape 64 256 32 32] [--block 7] [--p 0.1] [--repeat 7]
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from front_door_check import timeit  # run as a script: asv_bench/ is on sys.path

import numbadrop as nd


def _torch_rows(x: np.ndarray, p: float, bs: int):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return []
    torch.set_num_threads(numba.get_num_threads())
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    n, c, h, w = x.shape
    gamma = p * h * w / (bs**2 * ((h - bs + 1) * (w - bs + 1)))

    def forward():
        noise = torch.empty((n, c, h - bs + 1, w - bs + 1), dtype=xt.dtype).bernoulli_(gamma)
        noise = F.pad(noise, [bs // 2] * 4, value=0)
        noise = F.max_pool2d(noise, stride=(1, 1), kernel_size=(bs, bs), padding=bs // 2)
        noise = 1 - noise
        return xt * noise * (noise.numel() / (1e-6 + noise.sum()))

    grad = torch.ones_like(xt)
    y = forward()

    def backward():
        xt.grad = None
        torch.autograd.grad(y, xt, grad, retain_graph=True)

    with torch.no_grad():
        fwd = timeit(forward, 3)
    return [("torch (torchvision algorithm) forward", fwd), ("torch autograd backward", timeit(backward, 3))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[64, 256, 32, 32])
    parser.add_argument("--block", type=int, default=7)
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    shape, bs, p, repeat = tuple(args.shape), args.block, args.p, args.repeat
    n = repeat

    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    grad = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
    work = x.copy()
    gen = nd.Generator(0)
    _, state = nd.drop_block2d(x, p, bs, rng=gen, return_state=True)

    copyto = timeit(lambda: np.copyto(work, x), repeat)
    alloc = timeit(lambda: x.copy(), repeat)
    rows = [
        ("np.copyto (preallocated)", copyto),
        ("x.copy() (allocating)", alloc),
        ("drop_block2d forward", timeit(lambda: nd.drop_block2d(x, p, bs, rng=gen), repeat)),
        ("drop_block2d forward, inplace", timeit(lambda: nd.drop_block2d(work, p, bs, True, True, rng=gen), n)),
        ("state.backward", timeit(lambda: state.backward(grad), repeat)),
        ("state.backward, inplace", timeit(lambda: state.backward(work, inplace=True), repeat)),
    ]
    if not args.no_torch:
        rows += _torch_rows(x, p, bs)

    threads = numba.get_num_threads()
    print(f"DropBlock {shape} float32, block_size={bs}, p={p}, {threads} threads, median of {repeat}")
    print("ms: median and best of the timed runs; ratios to np.copyto's and to x.copy()'s of the same kind")
    print(f"{'case':40s} {'median':>8s} {'best':>8s} {'/copyto':>8s} {'best/':>8s} {'/copy()':>8s}")
    for name, (ms, best) in rows:
        ratios = f"{ms / copyto[0]:8.2f} {best / copyto[1]:8.2f} {ms / alloc[0]:8.2f}"
        print(f"{name:40s} {ms:8.2f} {best:8.2f} {ratios}")


if __name__ == "__main__":
    main()
