"""numbadrop against NumPy, torch and a plain copy, side by side (training steps: each library in its own process).

Prints the machine, then one table: the median time of each case for each
peer (``--repeat`` timed runs after warm-up), the ratios, and whether the
case meets numbadrop's performance targets.

By default each peer's runs follow one another (``--order blocked``), as in a
program that uses one library. ``--order interleaved`` alternates the peers
run by run instead, so that a noisy neighbour hurts all of them alike; but on
a virtual machine a peer then pays for the one before it: torch's forward
frees ~0.5 GiB, and the next call that allocates 256 MiB of fresh pages
(numbadrop's new output) was measured at 222 ms instead of 46 ms (the second
call after it: 46 ms again). Targets:

* element forward (new output and in place) and backward, 2**26 float32,
  p = 0.5: at least 5x faster than the NumPy line, at least 30x faster than
  torch, at most 3x ``np.copyto`` (the memory-bandwidth floor);
* ``dropout2d`` on (64, 256, 64, 64) float32: at most 1.5x ``np.copyto``;
* forward of a (32, 256) float32 activation: at most 20 microseconds;
* training steps (DropoutNet, residual MLP): numbadrop and torch each in a
  fresh process (``asv_bench/process_steps.py``): two libraries with thread
  pools slow each other down in one process, by an amount that depends on
  the import order. The "mixed" rows time each library in a process that also
  imported the other, in both orders.

Usage (from the repository root)::

    python asv_bench/compare.py                  # the full table (~1 GiB of arrays per case)
    python asv_bench/compare.py --quick          # small sizes, a smoke test
    python asv_bench/compare.py --threads 1 --repeat 15

torch is optional: without it its column reads ``n/a`` and the torch targets
are not judged. To add a section (say, an MLP training step), write a
function ``(args) -> list[Case]`` and append it to :data:`SECTIONS`.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

import numbadrop as nd

try:  # optional peer
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

P = 0.5
PEERS = ("numbadrop", "numpy", "torch", "copy", "C order")
UNITS = {"ms": 1e3, "µs": 1e6}


# --------------------------------------------------------------------------- timing


def measure(fn: Callable[[], object], min_batch_s: float = 2e-3) -> Callable[[], float]:
    """Warm ``fn`` up and return a callable timing one run (seconds per call).

    Fast functions are timed in batches of calls lasting at least
    ``min_batch_s``, so that the clock's resolution does not matter.
    """
    fn()  # compile (numba), allocate caches
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    number = 1 if once >= min_batch_s else max(1, int(min_batch_s / max(once, 1e-7)))

    def run() -> float:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number

    return run


def median_times(
    peers: dict[str, Callable[[], object] | None], repeat: int, order: str = "blocked"
) -> dict[str, float | None]:
    """Median seconds per call of each peer.

    ``order="blocked"`` warms each peer up and times its ``repeat`` runs in a
    row; ``"interleaved"`` warms all up, then runs the peers in turn.
    """
    if order not in ("blocked", "interleaved"):
        raise ValueError(f"order must be 'blocked' or 'interleaved', got {order!r}")
    samples: dict[str, list[float]] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if order == "blocked":
            for name, fn in peers.items():
                if fn is not None:
                    timer = measure(fn)
                    samples[name] = [timer() for _ in range(repeat)]
        else:
            timers = {name: measure(fn) for name, fn in peers.items() if fn is not None}
            samples = {name: [] for name in timers}
            for _ in range(repeat):
                for name, timer in timers.items():
                    samples[name].append(timer())
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: (statistics.median(samples[name]) if name in samples else None) for name in PEERS}


# --------------------------------------------------------------------------- cases and targets


@dataclass
class Target:
    """One performance target: ``metric op bound``.

    ``metric`` is ``"numpy/numbadrop"``, ``"torch/numbadrop"``,
    ``"numbadrop/copy"`` or ``"numbadrop"`` (the time itself, in the case's unit).
    """

    metric: str
    op: str  # ">=" or "<="
    bound: float

    def judge(self, case: Case) -> bool | None:
        """True / False, or None when the metric is not available (e.g. no torch)."""
        value = case.metric(self.metric)
        if value is None:
            return None
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def label(self) -> str:
        metric = {
            "numpy/numbadrop": "vs numpy",
            "torch/numbadrop": "vs torch",
            "numbadrop/copy": "/copy",
            "numbadrop/C order": "/C order",
        }
        if self.metric == "numbadrop":
            return f"{self.op}{self.bound:g}"
        return f"{metric[self.metric]} {self.op}{self.bound:g}x"


@dataclass
class Case:
    """One row of the table: the median seconds per call of each peer."""

    name: str
    seconds: dict[str, float | None]
    unit: str = "ms"
    targets: list[Target] = field(default_factory=list)

    def ratio(self, num: str, den: str) -> float | None:
        a, b = self.seconds.get(num), self.seconds.get(den)
        return None if a is None or b is None or b == 0 else a / b

    def metric(self, metric: str) -> float | None:
        if metric == "numbadrop":
            t = self.seconds.get("numbadrop")
            return None if t is None else t * UNITS[self.unit]
        num, den = metric.split("/")
        return self.ratio(num, den)

    def verdict(self) -> str:
        if not self.targets:
            return ""
        failed, unjudged = [], []
        for target in self.targets:
            ok = target.judge(self)
            if ok is None:
                unjudged.append(target.label())
            elif not ok:
                value = self.metric(target.metric)
                failed.append(f"{target.label()} (got {value:.3g})")
        text = "PASS" if not failed else "FAIL: " + ", ".join(failed)
        if unjudged:
            text += " [n/a: " + ", ".join(unjudged) + "]"
        return text

    @property
    def passed(self) -> bool:
        return all(t.judge(self) is not False for t in self.targets)


ELEMENT_TARGETS = [
    Target("numpy/numbadrop", ">=", 5.0),
    Target("torch/numbadrop", ">=", 30.0),
    Target("numbadrop/copy", "<=", 3.0),
]


def _data(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def _tag(shape) -> str:
    if isinstance(shape, int):
        log2 = shape.bit_length() - 1
        return f"2**{log2} f32" if shape == 1 << log2 else f"{shape} f32"
    return f"{tuple(shape)} f32"


# --------------------------------------------------------------------------- sections


def _forward_peers(x: np.ndarray) -> dict[str, Callable[[], object] | None]:
    """Element dropout forward of ``x`` by each peer (torch ``None`` when absent)."""
    rng = np.random.default_rng(0)
    gen = nd.Generator(0)
    out = np.empty_like(x)
    peers = {
        "numbadrop": lambda: nd.dropout(x, P, rng=gen),
        "numpy": lambda: x * (rng.random(x.shape, np.float32) >= P) / (1 - P),
        "torch": None,
        "copy": lambda: np.copyto(out, x),
    }
    if torch is not None:
        xt = torch.from_numpy(x)
        peers["torch"] = lambda: torch.nn.functional.dropout(xt, P, training=True)
    return peers


def forward_section(args) -> list[Case]:
    """Element dropout forward, 2**size_log2 float32, p = 0.5."""
    n = 1 << args.size_log2
    peers = _forward_peers(_data(n))
    return [Case(f"forward {_tag(n)}", median_times(peers, args.repeat, args.order), "ms", ELEMENT_TARGETS)]


def inplace_section(args) -> list[Case]:
    """Element dropout forward in place (``inplace=True``), 2**size_log2 float32.

    Each peer overwrites its own buffer again on every run; the values drift
    (zeros, growing magnitudes), which costs no peer anything extra.
    """
    n = 1 << args.size_log2
    x = _data(n)
    bufs = {peer: x.copy() for peer in ("numbadrop", "numpy", "torch")}
    rng = np.random.default_rng(0)
    gen = nd.Generator(0)
    out = np.empty_like(x)

    def numpy_inplace():
        y = bufs["numpy"]
        y *= rng.random(n, np.float32) >= P
        y *= np.float32(1 / (1 - P))

    peers = {
        "numbadrop": lambda: nd.dropout(bufs["numbadrop"], P, rng=gen, inplace=True),
        "numpy": numpy_inplace,
        "torch": None,
        "copy": lambda: np.copyto(out, x),
    }
    if torch is not None:
        yt = torch.from_numpy(bufs["torch"])
        peers["torch"] = lambda: torch.nn.functional.dropout(yt, P, training=True, inplace=True)
    return [Case(f"forward in place {_tag(n)}", median_times(peers, args.repeat, args.order), "ms", ELEMENT_TARGETS)]


def backward_section(args) -> list[Case]:
    """Element dropout backward from what each forward keeps, 2**size_log2 float32."""
    n = 1 << args.size_log2
    x, grad = _data(n), _data(n, seed=1)
    state = nd.dropout(x, P, rng=0, return_state=True)[1]
    mask = np.random.default_rng(0).random(n, np.float32) >= P  # the NumPy forward's stored mask
    out = np.empty_like(grad)
    peers = {
        "numbadrop": lambda: state.backward(grad),
        "numpy": lambda: grad * mask / (1 - P),
        "torch": None,
        "copy": lambda: np.copyto(out, grad),
    }
    if torch is not None:
        gt = torch.from_numpy(grad)
        tmask = torch.ops.aten.native_dropout(torch.from_numpy(x), P, True)[1]
        scale = 1.0 / (1.0 - P)
        peers["torch"] = lambda: torch.ops.aten.native_dropout_backward(gt, tmask, scale)
    del x
    return [Case(f"backward {_tag(n)}", median_times(peers, args.repeat, args.order), "ms", ELEMENT_TARGETS)]


def out_section(args) -> list[Case]:
    """Forward and backward into a preallocated ``out=``, 2**size_log2 float32: the copy floor case.

    The NumPy peer writes into its own buffer too (``np.multiply(..., out=)``);
    torch's ``dropout`` has no ``out=`` and allocates. The reference row is
    NumPy's ``np.multiply(x, s, out=)`` alone, no mask: the floor of any
    elementwise pass into a buffer, which (unlike ``np.copyto``'s ``memcpy``)
    reads each output line before writing it.
    """
    n = 1 << args.size_log2
    x, grad = _data(n), _data(n, seed=1)
    gen = nd.Generator(0)
    rng = np.random.default_rng(0)
    bufs = {peer: np.empty_like(x) for peer in ("numbadrop", "numpy", "copy")}
    state = nd.dropout(x, P, rng=0, return_state=True)[1]
    mask = rng.random(n, np.float32) >= P

    def numpy_forward():
        np.multiply(x, rng.random(n, np.float32) >= P, out=bufs["numpy"])
        np.multiply(bufs["numpy"], np.float32(1 / (1 - P)), out=bufs["numpy"])

    def numpy_backward():
        np.multiply(grad, mask, out=bufs["numpy"])
        np.multiply(bufs["numpy"], np.float32(1 / (1 - P)), out=bufs["numpy"])

    forward = {
        "numbadrop": lambda: nd.dropout(x, P, rng=gen, out=bufs["numbadrop"]),
        "numpy": numpy_forward,
        "torch": None,
        "copy": lambda: np.copyto(bufs["copy"], x),
    }
    backward = {
        "numbadrop": lambda: state.backward(grad, out=bufs["numbadrop"]),
        "numpy": numpy_backward,
        "torch": None,
        "copy": lambda: np.copyto(bufs["copy"], grad),
    }
    scale_only = {  # no mask at all: what any elementwise pass into a buffer costs (reference row)
        "numbadrop": None,
        "numpy": lambda: np.multiply(x, np.float32(1 / (1 - P)), out=bufs["numpy"]),
        "torch": None,
        "copy": lambda: np.copyto(bufs["copy"], x),
    }
    targets = [Target("numbadrop/copy", "<=", 1.2)]
    return [
        Case(f"forward out= {_tag(n)}", median_times(forward, args.repeat, args.order), "ms", targets),
        Case(f"backward out= {_tag(n)}", median_times(backward, args.repeat, args.order), "ms", targets),
        Case(f"reference: x * s out= {_tag(n)}", median_times(scale_only, args.repeat, args.order), "ms"),
    ]


def dropout2d_section(args) -> list[Case]:
    """Channel dropout (one decision per (n, c)) on an (N, C, H, W) float32 array."""
    shape = args.dropout2d_shape
    x = _data(shape)
    rng = np.random.default_rng(0)
    gen = nd.Generator(0)
    out = np.empty_like(x)
    mask_shape = (*shape[:2], 1, 1)
    peers = {
        "numbadrop": lambda: nd.dropout2d(x, P, rng=gen),
        "numpy": lambda: x * (rng.random(mask_shape, np.float32) >= P) / (1 - P),
        "torch": None,
        "copy": lambda: np.copyto(out, x),
    }
    if torch is not None:
        xt = torch.from_numpy(x)
        peers["torch"] = lambda: torch.nn.functional.dropout2d(xt, P, training=True)
    targets = [Target("numbadrop/copy", "<=", 1.5)]
    return [Case(f"dropout2d {_tag(shape)}", median_times(peers, args.repeat, args.order), "ms", targets)]


def small_forward_section(args) -> list[Case]:
    """Forward of a small (32, 256) float32 activation: per-call overhead."""
    shape = (32, 256)
    peers = _forward_peers(_data(shape))
    targets = [Target("numbadrop", "<=", 5.0)]  # issue 13 (was 20 µs)
    return [Case(f"forward {_tag(shape)}", median_times(peers, args.repeat, args.order), "µs", targets)]


def _process_step(peer: str, model: str, other: str | None = None, order: str = "first", steps: int = 25) -> float:
    """Median seconds of one training step of ``peer`` in a fresh process (``asv_bench/process_steps.py``).

    ``other`` is the library imported beside it (``order="first"``: before it;
    ``"after"``: after it, with one step run so that its thread pool exists).
    """
    script = Path(__file__).with_name("process_steps.py")
    cmd = [sys.executable, str(script), "run", "--peer", peer, "--model", model, "--steps", str(steps)]
    if other:
        cmd += ["--with", other, "--order", order]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])["median_s"]


def _process_cases(model: str, cases: list[tuple[str, str | None, str]], args) -> dict[tuple, float | None]:
    """Median over ``--rounds`` of each ``(peer, other, order)`` case, each run in its own process, in alternation."""
    rounds = max(3, args.repeat // 3)
    samples: dict[tuple, list[float]] = {case: [] for case in cases}
    for _ in range(rounds):
        for case in cases:
            peer, other, order = case
            if "torch" in (peer, other) and torch is None:
                continue
            samples[case].append(_process_step(peer, model, other, order))
    return {case: (statistics.median(v) if v else None) for case, v in samples.items()}


def _training_step_case(name: str, model: str, args, targets) -> Case:
    """Median time of one training step of numbadrop and of torch, each alone in its own process."""
    medians = _process_cases(model, [("numbadrop", None, "-"), ("torch", None, "-")], args)
    seconds = dict.fromkeys(PEERS)
    seconds["numbadrop"], seconds["torch"] = medians[("numbadrop", None, "-")], medians[("torch", None, "-")]
    return Case(name, seconds, "µs", targets)


def mlp_step_section(args) -> list[Case]:
    """One training step (forward, loss, backward, SGD) of DropoutNet 784-256-256-10, batch 128.

    Each library alone in its own process. Target: at most 0.75x torch's time (torch/numbadrop >= 1.33).
    """
    return [
        _training_step_case(
            "MLP train step (128, 784) f32", "dropoutnet", args, [Target("torch/numbadrop", ">=", 1.33)]
        )
    ]


def residual_mlp_section(args) -> list[Case]:
    """One AdamW step with ``loss.backward()`` of a residual MLP (width 512, 4 dropout blocks, batch 256).

    Each library alone in its own process. Target: at most 0.8x torch's time (torch/numbadrop >= 1.25).
    """
    targets = [Target("torch/numbadrop", ">=", 1.25)]
    return [_training_step_case("residual MLP step (256, 512) f32", "residual", args, targets)]


def mixed_process_section(args) -> list[Case]:
    """The residual step of each library in a process that also imported the other, in both import orders.

    The numbadrop and torch columns hold each library's own step; ``numbadrop/copy`` is not
    used. The target (each library at most 1.15x its time alone) is judged against the
    alone medians measured here in the same rounds.
    """
    cases = [
        (peer, other, order)
        for peer, other in (("numbadrop", "torch"), ("torch", "numbadrop"))
        for order in ("-", "first", "after")
    ]
    medians = _process_cases("residual", [(p, None if o == "-" else q, o) for p, q, o in cases], args)
    rows = []
    for order, label in (("first", "the other imported first"), ("after", "the other imported after")):
        seconds = dict.fromkeys(PEERS)
        for peer, other in (("numbadrop", "torch"), ("torch", "numbadrop")):
            seconds[peer] = medians[(peer, other, order)]
            alone = medians[(peer, None, "-")]
            mixed = medians[(peer, other, order)]
            if alone and mixed:
                label += f"; {peer} x{mixed / alone:.2f} alone"
        rows.append(Case(f"residual step, mixed ({label})", seconds, "µs"))
    return rows


def memory_order_section(args) -> list[Case]:
    """Element dropout forward of Fortran-ordered and permuted arrays (order-K output) against C order.

    The same values, 2**size_log2 float32, stored with another axis order; the
    "C order" peer is numbadrop on the C-contiguous array of the same shape.
    Target: at most 1.2x the C-order time. The odd-width row (a mask row that
    is not a whole number of Philox groups) is shown without a target.
    """
    n = 1 << args.size_log2
    side = 1 << (args.size_log2 // 2)
    four = (16, 32, 128, n // (16 * 32 * 128))
    layouts = [
        ("F", (side, n // side), (1, 0)),
        ("perm (3,2,1,0)", four, (3, 2, 1, 0)),
        ("perm (0,1,3,2)", four, (0, 1, 3, 2)),
        ("perm (2,0,3,1)", four, (2, 0, 3, 1)),
        ("F odd width", (side, n // side - 1), (1, 0)),
    ]
    cases = []
    for label, shape, perm in layouts:
        xc = _data(shape)
        x = np.ascontiguousarray(xc.transpose(perm)).transpose(np.argsort(perm))
        out = np.empty_like(x, order="K")
        gen_c, gen = nd.Generator(0), nd.Generator(0)
        peers = {
            "numbadrop": lambda x=x, gen=gen: nd.dropout(x, P, rng=gen),
            "C order": lambda xc=xc, gen_c=gen_c: nd.dropout(xc, P, rng=gen_c),
            "copy": lambda x=x, out=out: np.copyto(out, x),
        }
        targets = [] if "odd" in label else [Target("numbadrop/C order", "<=", 1.2)]
        cases.append(Case(f"forward {label} {shape}", median_times(peers, args.repeat, args.order), "ms", targets))
    return cases


#: The sections of the table, in order: each is a function ``(args) -> list[Case]``.
#: Append new ones here (e.g. an MLP training step: numbadrop nn vs torch nn).
SECTIONS: list[Callable[[argparse.Namespace], list[Case]]] = [
    forward_section,
    inplace_section,
    backward_section,
    out_section,
    dropout2d_section,
    memory_order_section,
    small_forward_section,
    mlp_step_section,
    residual_mlp_section,
    mixed_process_section,
]


# --------------------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(
            ["git", "-C", root, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> list[str]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = os.cpu_count()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = "not yet chosen"
    torch_line = "not installed"
    if torch is not None:
        torch_line = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    return [
        f"date       {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine    {_cpu_model()}; os.cpu_count() = {os.cpu_count()}, usable = {affinity}",
        f"python     {platform.python_version()} ({platform.platform()})",
        f"numbadrop  {nd.__version__} (git {_git_commit()})",
        f"numpy      {np.__version__}",
        f"numba      {numba.__version__} ({numba.get_num_threads()} threads, {layer} layer)",
        f"torch      {torch_line}",
    ]


def _fmt_time(seconds: float | None, unit: str) -> str:
    if seconds is None:
        return "n/a"
    value = seconds * UNITS[unit]
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def format_table(cases: list[Case]) -> str:
    header = [
        "case",
        "numbadrop ms",
        "numpy ms",
        "torch ms",
        "copy ms",
        "C order ms",
        "numpy/numbadrop",
        "torch/numbadrop",
        "numbadrop/copy",
        "numbadrop/C order",
        "target",
    ]
    rows = []
    for case in cases:
        name = case.name if case.unit == "ms" else f"{case.name} [{case.unit}]"
        rows.append(
            [
                name,
                *(_fmt_time(case.seconds.get(peer), case.unit) for peer in PEERS),
                _fmt_ratio(case.ratio("numpy", "numbadrop")),
                _fmt_ratio(case.ratio("torch", "numbadrop")),
                _fmt_ratio(case.ratio("numbadrop", "copy")),
                _fmt_ratio(case.ratio("numbadrop", "C order")),
                case.verdict(),
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        middle = [cell.rjust(width) for cell, width in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *middle, cells[-1]]).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size-log2", type=int, default=None, help="element cases use 2**N float32 elements (default 26)"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per peer, median taken (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="numba and torch threads (default: numba's default)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2**20 elements and a (8, 32, 32, 32) dropout2d"
    )
    parser.add_argument(
        "--order",
        choices=("blocked", "interleaved"),
        default="blocked",
        help="time each peer's runs in a row (default) or alternate the peers run by run",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any target fails")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SECTION",
        help=f"run only these sections: {', '.join(s.__name__.removesuffix('_section') for s in SECTIONS)}",
    )
    args = parser.parse_args(argv)
    if args.only:
        known = {s.__name__.removesuffix("_section") for s in SECTIONS}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"unknown section(s) {unknown}; choose from {sorted(known)}")
    if args.size_log2 is None:
        args.size_log2 = 20 if args.quick else 26
    args.dropout2d_shape = (8, 32, 32, 32) if args.quick else (64, 256, 64, 64)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 0 <= args.size_log2 <= 34:
        parser.error("--size-log2 must be in [0, 34]")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    nd.dropout(np.zeros(1 << 17, np.float32), P, rng=0)  # start numba's thread pool
    print("\n".join(machine_info()))
    print(f"p = {P}; medians of {args.repeat} runs after warm-up; peers {args.order}\n", flush=True)
    if args.repeat < 7:
        print(f"warning: --repeat {args.repeat} < 7: medians are less reliable\n", flush=True)
    cases: list[Case] = []
    for section in SECTIONS:
        if args.only and section.__name__.removesuffix("_section") not in args.only:
            continue
        cases.extend(section(args))
        gc.collect()
    print(format_table(cases))
    print("\ntimes in ms, except rows marked [µs]; ratios > 1 in the numpy and torch columns mean numbadrop")
    print("is faster; numbadrop/copy is its time over np.copyto's (the memory-bandwidth floor).")
    ok = all(case.passed for case in cases)
    print(f"\ntargets: {'all met' if ok else 'NOT all met'}")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
