"""Measure dropout throughput against array size and draw docs/_static/throughput_cpu.png.

numbadrop's forward (``numbadrop.dropout``) and backward (``DropoutState.backward``)
against NumPy (a boolean mask from ``Generator.random``, as a NumPy pipeline writes
dropout), PyTorch (``torch.nn.functional.dropout`` and ``native_dropout_backward``,
when installed) and ``np.copyto`` (reading and writing the same bytes: the memory
bandwidth floor), for float32 arrays of 2**10 .. 2**24 elements, p = 0.5.

This is a measured artifact, not run at documentation build time: run it on a quiet
machine and commit the PNG it writes (the machine and date are stamped in the title)::

    python docs/perf/plot_throughput.py                 # ~2 minutes
    python docs/perf/plot_throughput.py --max-log2 20   # quicker
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numba
import numpy as np

import numbadrop as nd

try:
    import torch
except ImportError:  # optional peer
    torch = None

P = 0.5
OUT = Path(__file__).resolve().parents[1] / "_static" / "throughput_cpu.png"
STYLE = {
    "numbadrop": ("tab:blue", "o-"),
    "numpy": ("tab:orange", "s-"),
    "torch": ("tab:red", "^-"),
    "copy (np.copyto)": ("0.4", "--"),
}


def seconds_per_call(fn, repeat: int, min_time: float = 0.02) -> float:
    """Median seconds per call; each sample loops ``fn`` for at least ``min_time``."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(min_time / once))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def empty_away_from(src: np.ndarray) -> np.ndarray:
    """An empty array like ``src`` whose address is 2 KiB from ``src``'s modulo 4 KiB.

    ``np.copyto`` into a buffer whose address is a few bytes past a multiple of
    4 KiB from its source's runs into the CPU's 4K-aliasing stalls (loads wait
    on stores to other addresses with the same low 12 bits): 28 µs instead of
    2 µs for 2**14 float32 on the development machine, which made the copy
    "floor" of mid-sized arrays depend on where two allocations happened to land.
    """
    raw = np.empty(src.nbytes + 8192, np.uint8)
    shift = (src.ctypes.data + 2048 - raw.ctypes.data) % 4096
    return raw[shift : shift + src.nbytes].view(src.dtype)


def peers(n: int):
    """``{name: (forward, backward)}`` callables for ``n`` float32 elements."""
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    grad = np.random.default_rng(1).standard_normal(n, dtype=np.float32)
    out_x, out_grad = empty_away_from(x), empty_away_from(grad)
    gen = nd.Generator(0)
    state = nd.dropout(x, P, rng=0, return_state=True)[1]
    rng = np.random.default_rng(0)
    mask = rng.random(n, np.float32) >= P
    result = {
        "numbadrop": (lambda: nd.dropout(x, P, rng=gen), lambda: state.backward(grad)),
        "numpy": (lambda: x * (rng.random(n, np.float32) >= P) / np.float32(1 - P), lambda: grad * mask / (1 - P)),
        "copy (np.copyto)": (lambda: np.copyto(out_x, x), lambda: np.copyto(out_grad, grad)),
    }
    if torch is not None:
        xt, gt = torch.from_numpy(x), torch.from_numpy(grad)
        tmask = torch.ops.aten.native_dropout(xt, P, True)[1]
        result["torch"] = (
            lambda: torch.nn.functional.dropout(xt, P, training=True),
            lambda: torch.ops.aten.native_dropout_backward(gt, tmask, 1.0 / (1.0 - P)),
        )
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-log2", type=int, default=10)
    parser.add_argument("--max-log2", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    threads = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    sizes = [1 << k for k in range(args.min_log2, args.max_log2 + 1)]
    names = [name for name in STYLE if name != "torch" or torch is not None]
    rates = {(name, d): [] for name in names for d in ("forward", "backward")}
    for n in sizes:
        fns = peers(n)
        for name in names:
            for d, fn in zip(("forward", "backward"), fns[name], strict=True):
                rates[name, d].append(n / seconds_per_call(fn, args.repeat) / 1e9)
        line = "  ".join(f"{name} {rates[name, 'forward'][-1]:.3g}/{rates[name, 'backward'][-1]:.3g}" for name in names)
        print(f"2**{n.bit_length() - 1:2d}: {line}  (G elements/s, forward/backward)", flush=True)

    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    torch_text = f", torch {torch.__version__}" if torch is not None else ""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, d in zip(axes, ("forward", "backward"), strict=True):
        for name in names:
            colour, style = STYLE[name]
            ax.plot(sizes, rates[name, d], style, color=colour, ms=4, label=name)
        ax.set(xscale="log", yscale="log", xlabel="float32 elements", title=f"{d}, p = {P}")
        ax.set_xticks(sizes[::2], [f"$2^{{{n.bit_length() - 1}}}$" for n in sizes[::2]])
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("throughput (G elements / s, higher is better)")
    axes[0].legend()
    fig.suptitle(
        f"{cpu_model()}, {os.cpu_count()} cores, {threads} numba threads; {stamp}; load average {load:.1f}\n"
        f"numbadrop {nd.__version__}, numpy {np.__version__}, numba {numba.__version__}{torch_text}; "
        f"python docs/perf/plot_throughput.py",
        fontsize=9.5,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
