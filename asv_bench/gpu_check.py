#!/usr/bin/env python3
"""numbadrop on a real NVIDIA GPU: bit-identity with the CPU, timings against PyTorch.

Run from the repository root, on a machine with a CUDA GPU, PyTorch built for
CUDA, numba-cuda and (optionally) CuPy; nothing is installed, numbadrop is
imported from this checkout::

    python3 asv_bench/gpu_check.py                 # under 3 minutes on an H100
    python3 asv_bench/gpu_check.py --json gpu.json # also save every number

What it does, in one process:

1. **First call.** Times numba-cuda's import and the first ``dropout`` call
   (kernel compile + launch), then the first call of the other kernels.
2. **Bit-identity.** Every kernel (``vec``, ``rows`` 4-wide and scalar,
   ``general``, the leading-dimension loop) x every operation (dropout,
   alpha dropout, alpha backward, mask) x float16/32/64, on about 2**24
   elements, launched into outputs poisoned first (NaN; byte 2 for boolean
   masks) and compared bit for bit with the CPU kernels; strided outputs
   also prove that nothing outside the view was written. Both Philox builds
   (32-bit and the shared function). Inputs hold +-0, +-inf, subnormals and
   the largest finite values, but no NaN (GPUs return the canonical NaN,
   not the input's payload).
   Then the rest of the family, forward and backward, against the same
   public call on the CPU: ``drop_block2d``/``drop_block3d``,
   ``gaussian_dropout``, ``gaussian_noise`` (float16/32/64, finite inputs:
   ``inf * 0`` has a different NaN on each device) and, on PyTorch,
   bfloat16 tensors.
3. **Dispatch.** PyTorch tensors, CuPy arrays and Numba device arrays in,
   the same kind on the same device out; a non-default torch stream; the
   layers; ``dropout_mask(device=...)``.
4. **Timings.** CUDA events around each call, after a spin kernel that keeps
   the GPU busy while Python queues the call (so host overhead is not
   counted; it is reported separately), 5 warm-up runs, median of 50:
   forward, backward, ``dropout2d`` and float16 forward, each against its
   PyTorch counterpart and a device copy of the same bytes; then DropBlock
   (against torchvision's algorithm written in torch), Gaussian dropout
   (against ``x * (1 + a * randn_like(x))``) and bfloat16 dropout.
5. **Tuning sweep** of ``numbadrop._core.tunables.CUDA_*`` (results never change).
6. **One table** with ratios and PASS/FAIL against the targets.

``--simulator`` runs step 2 on small arrays in Numba's CUDA simulator (no
GPU, no PyTorch needed): a check of this script itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

NUMPY_HAD_ROW_STACK = hasattr(np, "row_stack")

# Targets (H100, 2**28 float32, p = 0.5).
TARGETS = {
    "forward_vs_copy": 1.10,  # numbadrop forward <= 1.10 x device copy
    "forward_speedup": 1.2,  # torch F.dropout / numbadrop >= 1.2
    "backward_vs_torch": 1.0,  # numbadrop backward <= native_dropout_backward
    "dropout2d_vs_copy": 1.05,  # numbadrop dropout2d <= 1.05 x copy
    "fp16_speedup": 1.3,  # torch fp16 F.dropout / numbadrop >= 1.3
    "compile_s": 2.0,  # first call (compile + launch) <= 2 s
}

SEED = 0xDEADBEEFCAFEF00D
FLOATS = (np.float16, np.float32, np.float64)
OFFSET = 2**63 + 12345


# --- carriers: PyTorch tensors on a GPU, or Numba simulator arrays -------------------------


class TorchCarrier:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch
        self.device = torch.device("cuda")

    def to_device(self, a: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def full(self, shape, dtype, fill):
        t = self.torch
        if np.dtype(dtype) == np.bool_:
            out = t.empty(shape, dtype=t.bool, device=self.device)
            out.view(t.uint8).fill_(fill)
            return out
        tdt = {"float16": t.float16, "float32": t.float32, "float64": t.float64}[np.dtype(dtype).name]
        return t.full(shape, fill, dtype=tdt, device=self.device)

    def to_host(self, a) -> np.ndarray:
        self.torch.cuda.synchronize()
        if a.dtype == self.torch.bool:
            return a.cpu().view(self.torch.uint8).numpy().view(np.bool_)
        return a.cpu().numpy()

    def sync(self):
        self.torch.cuda.synchronize()


class SimulatorCarrier:
    name = "numba-simulator"

    def __init__(self):
        from numba import cuda

        self.cuda = cuda

    def to_device(self, a):
        return self.cuda.to_device(np.ascontiguousarray(a))

    def full(self, shape, dtype, fill):
        if np.dtype(dtype) == np.bool_:
            return self.cuda.to_device(np.full(shape, fill, np.uint8).view(np.bool_))
        return self.cuda.to_device(np.full(shape, fill, dtype))

    def to_host(self, a):
        return a.copy_to_host()

    def sync(self):
        pass


# --- helpers ------------------------------------------------------------------------------


def inputs(n: int, dtype, seed: int = 0) -> np.ndarray:
    """Normal data with the specials the formula must carry: +-0, +-inf, subnormals, max."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    info = np.finfo(dtype)
    specials = np.array(
        [0.0, -0.0, np.inf, -np.inf, info.smallest_subnormal, -info.smallest_subnormal, info.max, -info.max],
        dtype,
    )
    idx = rng.choice(n, size=min(n, 64 * specials.size), replace=False)
    x[idx] = np.resize(specials, idx.size)
    return x


def bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def compare(actual: np.ndarray, expected: np.ndarray) -> str:
    """'' when identical bit for bit, else a short description of the first difference."""
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return f"shape/dtype {actual.shape} {actual.dtype} vs {expected.shape} {expected.dtype}"
    a, e = bits(actual), bits(expected)
    bad = np.flatnonzero(a.reshape(-1) != e.reshape(-1))
    if bad.size == 0:
        return ""
    i = np.unravel_index(bad[0], actual.shape)
    return f"{bad.size} of {a.size} differ; first at {i}: got {actual[i]!r} expected {expected[i]!r}"


class KernelSpy:
    """Records which kernel variants ``numbadrop.kernels.cuda.dropout.launch`` used."""

    def __init__(self, cuda_module):
        self.module = cuda_module
        self.real = cuda_module.kernel
        self.seen: list[str] = []

    def __enter__(self):
        def spy(kind, mode, vec=None):
            wide = kind == "vec" if vec is None else vec
            self.seen.append(kind + ("4" if wide and kind == "rows" else ""))
            return self.real(kind, mode, vec)

        self.module.kernel = spy
        return self

    def __exit__(self, *exc):
        self.module.kernel = self.real

    def summary(self) -> str:
        kinds = sorted(set(self.seen))
        return "+".join(kinds) + (f" x{len(self.seen)}" if len(self.seen) > 1 else "")


# --- 1. first call ------------------------------------------------------------------------


def first_calls(carrier, nd, results, n: int = 1 << 20):
    from numbadrop.kernels.cuda import _runtime as _cuda_runtime

    t0 = time.perf_counter()
    _cuda_runtime.require()
    t_import = time.perf_counter() - t0
    x = carrier.to_device(inputs(n, np.float32))
    carrier.sync()
    t0 = time.perf_counter()
    y = nd.dropout(x, 0.5, rng=1)
    carrier.sync()
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    y = nd.dropout(x, 0.5, rng=1)
    carrier.sync()
    t_second = time.perf_counter() - t0
    del y
    results["first_call"] = {
        "numba_cuda_import_s": t_import,
        "first_dropout_call_s": t_first,
        "second_call_s": t_second,
    }
    print(
        f"numba-cuda import {t_import:.2f} s; first dropout call (compile + launch) {t_first:.2f} s; "
        f"second call {t_second * 1e3:.2f} ms"
    )
    others = {}
    for name, make in [
        ("dropout2d", lambda: nd.dropout2d(carrier.to_device(inputs(n, np.float32).reshape(-1, 4, 16, 16)), 0.5)),
        ("float16 dropout", lambda: nd.dropout(carrier.to_device(inputs(n, np.float16)), 0.5, rng=1)),
        ("dropout backward", lambda: nd.dropout(x, 0.5, rng=1, return_state=True)[1].backward(x)),
        ("alpha dropout", lambda: nd.alpha_dropout(x, 0.5, True, rng=1)),
        ("dropout_mask", lambda: nd.dropout_mask(x.shape, 0.5, rng=1, device=x)),
    ]:
        carrier.sync()
        t0 = time.perf_counter()
        make()
        carrier.sync()
        others[name] = time.perf_counter() - t0
    results["first_call"]["others_s"] = others
    print("first calls of other kernels: " + ", ".join(f"{k} {v:.2f} s" for k, v in others.items()))


# --- 2. bit-identity ----------------------------------------------------------------------


def identity_cases(n: int):
    """(name, base shape, view, broadcast axes, start, ops, dtypes) with about n elements each."""
    all_ops = ("dropout", "alpha", "alpha_grad", "mask")
    all_dt = (np.float16, np.float32, np.float64)
    f32 = (np.float32,)
    side = round(n**0.5)
    q = 32 if n >= 1 << 20 else 8  # spatial side of the (64, C, q, q) cases
    c = max(1, n // (64 * q * q))
    r5 = max(2, round((n * 2 / 512) ** 0.25))
    ident = None
    return [
        ("contiguous", (n,), ident, (), 0, all_ops, all_dt),
        ("contiguous, tail of 3", (n - 3,), ident, (), 0, ("dropout", "mask"), all_dt),
        ("start 2**40+8", (n,), ident, (), 2**40 + 8, ("dropout", "mask"), f32),
        ("start 2**33+2 (unaligned group)", (n,), ident, (), 2**33 + 2, ("dropout", "alpha", "mask"), all_dt),
        ("offset by 1 (unaligned pointer)", (n + 1,), lambda a: a[1:], (), 0, ("dropout", "alpha"), all_dt),
        ("every other column", (side, 2 * side), lambda a: a[:, ::2], (), 0, all_ops, all_dt),
        ("transposed", (side, side), lambda a: a.T, (), 0, ("dropout", "alpha_grad"), f32),
        ("5-D, 2 axes stepped", (r5, r5, r5, r5, 512), lambda a: a[:, ::2, :, ::2, :], (), 0, ("dropout",), f32),
        ("dropout2d, aligned rows", (64, c, q, q), ident, (2, 3), 0, all_ops, all_dt),
        ("dropout2d, odd rows", (64, c, q - 1, q + 1), ident, (2, 3), 0, ("dropout", "alpha"), all_dt),
        ("dropout2d, rows with gaps", (64, c, q, 2 * q), lambda a: a[..., ::2], (2, 3), 0, ("dropout",), f32),
        ("dropout2d, short rows", (n // 64, 1, 8, 8), ident, (2, 3), 0, ("dropout", "mask"), f32),
        ("channels last (N,H,W,C)", (64, q // 4 or 1, q // 4 or 1, c * 16), ident, (1, 2), 0, ("dropout",), f32),
    ]


def bit_identity(carrier, nd, n: int, results, philox_builds=("u32", "shared")):
    from numbadrop import backends as _engine
    from numbadrop._core import geometry as _geometry
    from numbadrop._core import tunables as _tunables
    from numbadrop.kernels.cuda import dropout as _cuda

    rows = []
    failures = 0
    need = max(int(np.prod(case[1])) for case in identity_cases(n))
    hosts = {np.dtype(dt): inputs(need, dt, 7) for dt in (np.float16, np.float32, np.float64)}
    for philox in philox_builds:
        _tunables.CUDA_PHILOX = philox
        for name, base_shape, view, broadcast, start, ops, dtypes in identity_cases(n):
            if philox != "u32" and name not in ("contiguous", "dropout2d, aligned rows", "every other column"):
                continue
            view = view or (lambda a: a)
            size = int(np.prod(base_shape))
            for op in ops:
                for dt in dtypes if op != "mask" else (np.float32,):
                    host = hosts[np.dtype(dt)][:size].reshape(base_shape)
                    hx = view(host)
                    strides = _geometry.mask_strides(hx.shape, broadcast)
                    p = {"dropout": 0.5, "alpha": 0.3, "alpha_grad": 0.3, "mask": 0.7}[op]
                    out_dt = np.bool_ if op == "mask" else dt
                    expected = np.empty(hx.shape, out_dt)
                    _engine.launch(hx, expected, op, p, SEED, OFFSET, strides, start)
                    dx = view(carrier.to_device(host))
                    # Output: a fresh poisoned array, or (strided cases) a view of a poisoned buffer.
                    poison = 2 if op == "mask" else np.nan
                    strided_out = view is not None and name in ("every other column", "5-D, 2 axes stepped")
                    ybase = carrier.full(base_shape if strided_out else hx.shape, out_dt, poison)
                    dy = view(ybase) if strided_out else ybase
                    with KernelSpy(_cuda) as spy:
                        _engine.launch(dy if op == "mask" else dx, dy, op, p, SEED, OFFSET, strides, start)
                    got = carrier.to_host(dy) if not strided_out else view(carrier.to_host(ybase))
                    problem = compare(np.asarray(got), expected)
                    if not problem and strided_out:
                        whole = carrier.to_host(ybase)
                        written = np.zeros(base_shape, bool)
                        view(written)[...] = True
                        outside = bits(whole)[~written]
                        poison_bits = bits(np.full(1, poison, np.uint8 if op == "mask" else dt))[0]
                        if (outside != poison_bits).any():
                            problem = f"{int((outside != poison_bits).sum())} elements outside the view written"
                    failures += bool(problem)
                    rows.append(
                        {
                            "philox": philox,
                            "case": name,
                            "op": op,
                            "dtype": np.dtype(dt).name if op != "mask" else "bool",
                            "elements": int(np.prod(hx.shape)),
                            "kernel": spy.summary(),
                            "ok": not problem,
                            "problem": problem,
                        }
                    )
                    mark = "ok  " if not problem else "FAIL"
                    print(
                        f"  {mark} [{philox:6}] {name:34} {op:10} {rows[-1]['dtype']:8} "
                        f"{rows[-1]['elements']:>9} {rows[-1]['kernel']:14} {problem}"
                    )
    _tunables.CUDA_PHILOX = "u32"
    results["bit_identity"] = rows
    print(f"bit-identity: {len(rows) - failures} of {len(rows)} cases identical")
    return failures


def family_cases(n: int):
    """(name, base shape, view, call) of the rest of the family; ``call(x, rng) -> (y, state)``."""
    import numbadrop as nd

    q = 32 if n >= 1 << 20 else 8
    c = max(1, n // (16 * q * q))
    r3 = max(4, round((n / 64) ** (1 / 3)))
    side = round(n**0.5)

    def block2d(p, size):
        return lambda x, g: nd.drop_block2d(x, p, size, rng=g, return_state=True)

    def gauss(p):
        return lambda x, g: nd.gaussian_dropout(x, p, rng=g, return_state=True)

    return [
        ("drop_block2d p 0.1 block 7", (16, c, q, q), None, block2d(0.1, 7)),
        ("drop_block2d p 0.3 block 3, odd sides", (16, c, q - 1, q + 3), None, block2d(0.3, 3)),
        (
            "drop_block3d p 0.2 block 3",
            (2, 8, r3, r3, r3),
            None,
            lambda x, g: nd.drop_block3d(x, 0.2, 3, rng=g, return_state=True),
        ),
        ("gaussian_dropout p 0.3", (n,), None, gauss(0.3)),
        ("gaussian_dropout, every other column", (side, 2 * side), lambda a: a[:, ::2], gauss(0.3)),
        ("gaussian_noise stddev 0.5", (n - 3,), None, lambda x, g: nd.gaussian_noise(x, 0.5, rng=g, return_state=True)),
    ]


def finite_inputs(n: int, dtype, seed: int) -> np.ndarray:
    """:func:`inputs` without infinities and extremes (``x * (1 + a * z)`` could make inf * 0 = NaN of two payloads)."""
    x = inputs(n, dtype, seed)
    x[~np.isfinite(x) | (np.abs(x) == np.finfo(dtype).max)] = 1
    return x


def family_identity(carrier, nd, n: int, results, dtypes=FLOATS) -> int:
    """DropBlock, Gaussian dropout and noise (forward and backward) and, on torch, bfloat16: GPU against CPU."""
    rows = []
    failures = 0
    for name, shape, view, call in family_cases(n):
        view = view or (lambda a: a)
        size = int(np.prod(shape))
        for dt in dtypes:
            base = finite_inputs(size, dt, 21).reshape(shape)
            host = view(base)
            grad = finite_inputs(host.size, dt, 22).reshape(host.shape)
            y_cpu, state_cpu = call(host, nd.Generator(SEED, OFFSET))
            g_cpu = state_cpu.backward(grad)
            y, state = call(view(carrier.to_device(base)), nd.Generator(SEED, OFFSET))
            g = state.backward(carrier.to_device(grad))
            problem = compare(np.asarray(carrier.to_host(y)), y_cpu)
            if not problem:
                problem = compare(np.asarray(carrier.to_host(g)), g_cpu)
                problem = problem and "backward: " + problem
            failures += bool(problem)
            rows.append(
                {"case": name, "dtype": np.dtype(dt).name, "elements": host.size, "ok": not problem, "problem": problem}
            )
            print(f"  {'ok  ' if not problem else 'FAIL'} {name:40} {np.dtype(dt).name:8} {host.size:>9} {problem}")
    if carrier.name == "torch":
        failures += _bfloat16_identity(carrier, nd, n, rows)
    results["family_identity"] = rows
    print(f"the rest of the family: {len(rows) - failures} of {len(rows)} cases identical")
    return failures


def _bfloat16_identity(carrier, nd, n: int, rows) -> int:
    """bfloat16 torch tensors: the GPU's result against the same call on the CPU tensor, bit for bit."""
    torch = carrier.torch
    failures = 0
    host = torch.from_numpy(finite_inputs(n, np.float32, 23)).to(torch.bfloat16)
    for name, call in [
        ("bfloat16 dropout p 0.5", lambda x: nd.dropout(x, 0.5, rng=nd.Generator(SEED, OFFSET))),
        ("bfloat16 alpha_dropout p 0.3", lambda x: nd.alpha_dropout(x, 0.3, True, rng=nd.Generator(SEED, OFFSET))),
        ("bfloat16 gaussian_dropout p 0.3", lambda x: nd.gaussian_dropout(x, 0.3, rng=nd.Generator(SEED, OFFSET))),
    ]:
        expected = call(host).view(torch.int16).numpy()
        got = carrier.to_host(call(host.to(carrier.device)).view(torch.int16))
        problem = compare(got, expected)
        failures += bool(problem)
        rows.append({"case": name, "dtype": "bfloat16", "elements": n, "ok": not problem, "problem": problem})
        print(f"  {'ok  ' if not problem else 'FAIL'} {name:40} {'bfloat16':8} {n:>9} {problem}")
    return failures


def philox_words(carrier, n: int, results) -> int:
    """Both Philox builds, as raw words on the device, against the shared function run as NumPy."""
    import naive  # tests/naive.py: pure NumPy Philox4x32-10
    from numba import cuda

    from numbadrop.kernels.cuda import _prims as _cuda_prims
    from numbadrop.kernels.cuda import _runtime as _cuda_runtime

    _cuda_runtime.require()
    dev_u32, dev_shared = _cuda_prims._philox_devs["u32"], _cuda_prims._philox_devs["shared"]

    @cuda.jit
    def words(ctr, key, out_u32, out_shared):
        i = cuda.grid(1)
        if i < ctr.shape[0]:
            a0, a1, a2, a3 = dev_u32(ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[i, 0], key[i, 1])
            b0, b1, b2, b3 = dev_shared(ctr[i, 0], ctr[i, 1], ctr[i, 2], ctr[i, 3], key[i, 0], key[i, 1])
            out_u32[i, 0] = a0
            out_u32[i, 1] = a1
            out_u32[i, 2] = a2
            out_u32[i, 3] = a3
            out_shared[i, 0] = b0
            out_shared[i, 1] = b1
            out_shared[i, 2] = b2
            out_shared[i, 3] = b3

    rng = np.random.default_rng(3)
    edge = np.array([0, 1, 2**31, 2**32 - 1], np.uint64)
    keys = [(0, 0), (2**32 - 1, 2**32 - 1), (0, 2**32 - 1), (2**31, 1)]
    keys += [tuple(int(v) for v in rng.integers(0, 2**32, 2, dtype=np.uint64)) for _ in range(12)]
    per_key = n // len(keys)
    n = per_key * len(keys)
    ctr = rng.integers(0, 2**32, size=(n, 4), dtype=np.uint64)
    ctr[: 64 * len(keys) : 64] = edge[rng.integers(0, 4, size=(len(keys), 4))]
    key = np.repeat(np.array(keys, np.uint64), per_key, axis=0)
    out_u32 = cuda.device_array((n, 4), np.uint64)
    out_shared = cuda.device_array((n, 4), np.uint64)
    words[(n + 255) // 256, 256](cuda.to_device(ctr), cuda.to_device(key), out_u32, out_shared)
    got_u32, got_shared = out_u32.copy_to_host(), out_shared.copy_to_host()
    ref = np.concatenate([naive.philox4x32_10(ctr[i * per_key : (i + 1) * per_key], k) for i, k in enumerate(keys)])
    ok = bool((got_u32 == got_shared).all() and (got_shared == ref).all())
    m = n
    results["philox_words"] = {"counters": n, "numpy_reference_rows": m, "ok": ok}
    print(f"Philox words: 32-bit == shared on {n} counters, == NumPy reference on {m}: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def beyond_int32(nd, results) -> int:
    """2**31 + 100 float16 elements (4 GiB): the last ones' mask indices need 64 bits."""
    import torch

    from numbadrop import backends as _engine

    n = 2**31 + 100
    m = 1 << 20
    try:
        x = torch.randn(n, device="cuda", dtype=torch.float16)
    except RuntimeError as exc:  # out of memory on a smaller GPU
        print(f"  skipped: {exc}")
        return 0
    y = nd.dropout(x, 0.5, rng=nd.Generator(SEED, OFFSET))
    tail_x = x[-m:].cpu().numpy()
    tail_y = y[-m:].cpu().numpy()
    head_y = y[:m].cpu().numpy()
    head_x = x[:m].cpu().numpy()
    del x, y
    torch.cuda.empty_cache()
    expected_tail = np.empty_like(tail_x)
    _engine.launch(tail_x, expected_tail, "dropout", 0.5, SEED, OFFSET, (1,), n - m)
    expected_head = np.empty_like(head_x)
    _engine.launch(head_x, expected_head, "dropout", 0.5, SEED, OFFSET, (1,), 0)
    problem = compare(tail_y, expected_tail) or compare(head_y, expected_head)
    results["beyond_int32"] = {"elements": n, "ok": not problem, "problem": problem}
    print(f"  {'ok  ' if not problem else 'FAIL'} float16 dropout of {n} elements, first and last 2**20 {problem}")
    return int(bool(problem))


# --- 3. dispatch --------------------------------------------------------------------------


def dispatch_checks(nd, results) -> int:
    import torch

    from numbadrop import nn

    checks = {}
    host = inputs(1 << 16, np.float32, 11).reshape(64, 1024)
    expected = nd.dropout(host, 0.5, rng=5)

    def same(a, b):
        return not compare(np.asarray(a), b)

    x = torch.from_numpy(host).cuda()
    y = nd.dropout(x, 0.5, rng=5)
    checks["torch in, torch out, same device"] = (
        isinstance(y, torch.Tensor) and y.device == x.device and y.dtype == x.dtype and same(y.cpu().numpy(), expected)
    )
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        xs = x * 1  # produced on s
        ys = nd.dropout(xs, 0.5, rng=5)
    s.synchronize()
    checks["non-default torch stream"] = same(ys.cpu().numpy(), expected)
    xi = x.clone()
    checks["torch in place"] = nd.dropout(xi, 0.5, inplace=True, rng=5) is xi and same(xi.cpu().numpy(), expected)
    z = nd.dropout(x, 1.0, rng=5)
    checks["torch p=1 zeros"] = bool((z == 0).all()) and not bool(torch.signbit(z).any())
    keep = nd.dropout_mask((64, 1024), 0.5, rng=5, device=torch.device("cuda"))
    checks["dropout_mask(device=torch.device)"] = keep.dtype == torch.bool and same(
        keep.cpu().numpy(), nd.dropout_mask((64, 1024), 0.5, rng=5)
    )
    _, st = nd.dropout(x, 0.5, rng=5, return_state=True)
    g = torch.from_numpy(inputs(1 << 16, np.float32, 12).reshape(64, 1024)).cuda()
    _, cst = nd.dropout(host, 0.5, rng=5, return_state=True)
    checks["torch backward"] = same(st.backward(g).cpu().numpy(), cst.backward(g.cpu().numpy()))
    checks["state keeps no array"] = not any(
        hasattr(v, "__cuda_array_interface__") or isinstance(v, np.ndarray) for v in dataclasses.asdict(st).values()
    )
    layer, cpu_layer = nn.Dropout2d(0.5, rng=4), nn.Dropout2d(0.5, rng=4)
    x4 = torch.from_numpy(inputs(8 * 16 * 64, np.float32, 13).reshape(8, 16, 8, 8)).cuda()
    out = layer(x4)
    ok = isinstance(out, torch.Tensor) and same(out.cpu().numpy(), cpu_layer(x4.cpu().numpy()))
    ok = ok and same(layer.backward(x4).cpu().numpy(), cpu_layer.backward(x4.cpu().numpy()))
    checks["nn.Dropout2d forward/backward on torch"] = ok
    from numba import cuda

    dn = cuda.to_device(host)
    yn = nd.dropout(dn, 0.5, rng=5)
    checks["numba device array in, numba out"] = type(yn) is type(dn) and same(yn.copy_to_host(), expected)
    try:
        import cupy
    except Exception as exc:  # not on every image
        checks[f"cupy (not importable: {type(exc).__name__})"] = True
    else:
        xc = cupy.asarray(host)
        yc = nd.dropout(xc, 0.5, rng=5)
        checks["cupy in, cupy out"] = isinstance(yc, cupy.ndarray) and same(cupy.asnumpy(yc), expected)
        kc = nd.dropout_mask((64, 1024), 0.5, rng=5, device=xc)
        checks["dropout_mask(device=cupy array)"] = isinstance(kc, cupy.ndarray) and same(
            cupy.asnumpy(kc), nd.dropout_mask((64, 1024), 0.5, rng=5)
        )
    for k, v in checks.items():
        print(f"  {'ok  ' if v else 'FAIL'} {k}")
    results["dispatch"] = checks
    return sum(not v for v in checks.values())


# --- 4./5. timings ------------------------------------------------------------------------


class Timer:
    def __init__(self, torch, reps: int, warmup: int):
        self.torch = torch
        self.reps = reps
        self.warmup = warmup
        self.sleep = hasattr(torch.cuda, "_sleep")

    def __call__(self, fn) -> dict:
        torch = self.torch
        for _ in range(self.warmup):
            fn()
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        gpu, host = [], []
        for _ in range(self.reps):
            if self.sleep:
                torch.cuda._sleep(2_000_000)  # ~1 ms of spinning: Python queues the call meanwhile
            start.record()
            t0 = time.perf_counter()
            fn()
            host.append(time.perf_counter() - t0)
            end.record()
            end.synchronize()
            gpu.append(start.elapsed_time(end))
        return {"ms": statistics.median(gpu), "min_ms": min(gpu), "host_us": statistics.median(host) * 1e6}


def _time_f32(nd, timer, n: int) -> dict:
    import torch
    import torch.nn.functional as F

    from numbadrop._core import tunables as _tunables

    t = {}
    x = torch.randn(n, device="cuda")
    y = torch.empty_like(x)
    gen = nd.Generator(1)
    t["copy f32"] = timer(lambda: y.copy_(x))
    t["torch dropout f32"] = timer(lambda: F.dropout(x, 0.5, training=True))
    t["numbadrop dropout f32"] = timer(lambda: nd.dropout(x, 0.5, rng=gen))
    t["numbadrop dropout f32 in place"] = timer(lambda: nd.dropout(y, 0.5, inplace=True, rng=gen))
    t["numbadrop alpha_dropout f32"] = timer(lambda: nd.alpha_dropout(x, 0.5, True, rng=gen))
    t["numbadrop dropout_mask 2**28"] = timer(lambda: nd.dropout_mask(n, 0.5, rng=gen, device=x))
    _tunables.CUDA_PHILOX = "shared"
    try:
        t["numbadrop dropout f32 (shared Philox)"] = timer(lambda: nd.dropout(x, 0.5, rng=gen))
    finally:
        _tunables.CUDA_PHILOX = "u32"
    _, mask = torch.ops.aten.native_dropout(x, 0.5, True)
    _, state = nd.dropout(x, 0.5, rng=gen, return_state=True)
    t["torch native_dropout_backward f32"] = timer(lambda: torch.ops.aten.native_dropout_backward(x, mask, 2.0))
    t["numbadrop backward f32"] = timer(lambda: state.backward(x))
    return t


def _time_dropout2d(nd, timer, shape) -> dict:
    import torch
    import torch.nn.functional as F

    t = {}
    x = torch.randn(shape, device="cuda")
    y = torch.empty_like(x)
    gen = nd.Generator(3)
    t["copy dropout2d shape"] = timer(lambda: y.copy_(x))
    t["torch dropout2d"] = timer(lambda: F.dropout2d(x, 0.5, training=True))
    t["numbadrop dropout2d"] = timer(lambda: nd.dropout2d(x, 0.5, rng=gen))
    return t


def _time_f16(nd, timer, n: int) -> dict:
    import torch
    import torch.nn.functional as F

    t = {}
    h = torch.randn(n, device="cuda", dtype=torch.float16)
    hy = torch.empty_like(h)
    gen = nd.Generator(4)
    t["copy f16"] = timer(lambda: hy.copy_(h))
    t["torch dropout f16"] = timer(lambda: F.dropout(h, 0.5, training=True))
    t["numbadrop dropout f16"] = timer(lambda: nd.dropout(h, 0.5, rng=gen))
    return t


def _time_dropblock(nd, timer) -> dict:
    """DropBlock on (64, 256, 32, 32) float32 against torchvision's algorithm in torch and a copy."""
    import torch
    import torch.nn.functional as F

    t = {}
    gen = nd.Generator(5)
    x4 = torch.randn((64, 256, 32, 32), device="cuda")
    y4 = torch.empty_like(x4)
    n, c, h, w = x4.shape
    bs, p = 7, 0.1
    gamma = p * h * w / (bs**2 * ((h - bs + 1) * (w - bs + 1)))

    def torchvision_drop_block():  # torchvision.ops.drop_block2d's algorithm (torchvision itself may be absent)
        noise = torch.empty((n, c, h - bs + 1, w - bs + 1), device="cuda").bernoulli_(gamma)
        noise = F.pad(noise, [bs // 2] * 4, value=0)
        noise = 1 - F.max_pool2d(noise, stride=(1, 1), kernel_size=(bs, bs), padding=bs // 2)
        return x4 * noise * (noise.numel() / (1e-6 + noise.sum()))

    t["copy dropblock shape"] = timer(lambda: y4.copy_(x4))
    t["torch drop_block2d (torchvision algorithm)"] = timer(torchvision_drop_block)
    t["numbadrop drop_block2d block 7"] = timer(lambda: nd.drop_block2d(x4, p, bs, rng=gen))
    return t


def _time_gaussian_bf16(nd, timer) -> dict:
    """Gaussian dropout float32 and dropout bfloat16, 2**28 elements, against torch (and a copy)."""
    import torch
    import torch.nn.functional as F

    t = {}
    gen = nd.Generator(6)
    x = torch.randn(1 << 28, device="cuda")
    a = (0.3 / 0.7) ** 0.5
    t["torch x * (1 + a * randn_like(x)) f32"] = timer(lambda: x * (1 + a * torch.randn_like(x)))
    t["numbadrop gaussian_dropout f32"] = timer(lambda: nd.gaussian_dropout(x, 0.3, rng=gen))
    b = x.to(torch.bfloat16)
    yb = torch.empty_like(b)
    t["copy bf16"] = timer(lambda: yb.copy_(b))
    t["torch dropout bf16"] = timer(lambda: F.dropout(b, 0.5, training=True))
    t["numbadrop dropout bf16"] = timer(lambda: nd.dropout(b, 0.5, rng=gen))
    return t


def timings(nd, results, reps: int, sweep: bool):
    import torch

    timer = Timer(torch, reps, 5)
    n = 1 << 28
    t = {}
    t.update(_time_f32(nd, timer, n))
    torch.cuda.empty_cache()
    t.update(_time_dropout2d(nd, timer, (64, 256, 128, 128)))
    torch.cuda.empty_cache()
    t.update(_time_f16(nd, timer, n))
    torch.cuda.empty_cache()
    t.update(_time_dropblock(nd, timer))
    torch.cuda.empty_cache()
    t.update(_time_gaussian_bf16(nd, timer))
    torch.cuda.empty_cache()
    results["timings"] = t
    for k, v in t.items():
        print(f"  {k:40} {v['ms']:8.3f} ms (min {v['min_ms']:.3f})  host {v['host_us']:7.1f} us")
    if sweep:
        print("\ntuning sweep (* = current defaults):")
        results["sweep"] = tuning_sweep(nd, Timer(torch, max(10, reps // 2), 3), n)
        torch.cuda.empty_cache()


def tuning_sweep(nd, timer, n: int) -> list:
    """Other values of the CUDA tunables: forward f32, forward f16, dropout2d."""
    import torch

    from numbadrop._core import tunables as _tunables

    defaults = {k: getattr(_tunables, k) for k in dir(_tunables) if k.startswith("CUDA_")}
    x = torch.randn(n, device="cuda")
    h = x.half()
    x4 = x.view(64, 256, 128, 128)
    gen = nd.Generator(2)
    rows = []

    def run(label, fn, **overrides):
        for k, v in overrides.items():
            setattr(_tunables, k, v)
        try:
            r = timer(fn)
        finally:
            for k, v in defaults.items():
                setattr(_tunables, k, v)
        star = "*" if all(defaults[k] == v for k, v in overrides.items()) else " "
        rows.append({"case": label, **overrides, "ms": r["ms"]})
        print(f"  {star} {label:10} {overrides}  {r['ms']:.3f} ms")

    for tpb, bps, unroll in [
        (256, 8, 2),
        (128, 16, 2),
        (512, 4, 2),
        (1024, 2, 2),
        (256, 4, 2),
        (256, 16, 2),
        (256, 32, 2),
        (256, 8, 1),
        (256, 8, 4),
    ]:
        over = {"CUDA_THREADS_PER_BLOCK": tpb, "CUDA_BLOCKS_PER_SM": bps, "CUDA_VEC_UNROLL": unroll}
        run("fwd f32", lambda: nd.dropout(x, 0.5, rng=gen), **over)
    for unroll in (1, 2, 4):
        run("fwd f16", lambda: nd.dropout(h, 0.5, rng=gen), CUDA_VEC_UNROLL=unroll)
    for tpb, unroll in [(256, 4), (256, 2), (256, 8), (512, 4), (128, 8)]:
        run("dropout2d", lambda: nd.dropout2d(x4, 0.5, rng=gen), CUDA_THREADS_PER_BLOCK=tpb, CUDA_ROW_UNROLL=unroll)
    return rows


# --- 6. the table -------------------------------------------------------------------------


def table(results) -> list[tuple]:
    t = results.get("timings", {})
    fc = results.get("first_call", {})

    def ratio(a, b):
        if a in t and b in t:
            return t[a]["ms"] / t[b]["ms"]
        return float("nan")

    rows = [
        ("forward f32 2**28 / device copy", ratio("numbadrop dropout f32", "copy f32"), "<=", "forward_vs_copy"),
        ("torch F.dropout / forward f32", ratio("torch dropout f32", "numbadrop dropout f32"), ">=", "forward_speedup"),
        (
            "backward / native_dropout_backward",
            ratio("numbadrop backward f32", "torch native_dropout_backward f32"),
            "<=",
            "backward_vs_torch",
        ),
        (
            "dropout2d (64,256,128,128) / copy",
            ratio("numbadrop dropout2d", "copy dropout2d shape"),
            "<=",
            "dropout2d_vs_copy",
        ),
        (
            "torch fp16 F.dropout / forward f16",
            ratio("torch dropout f16", "numbadrop dropout f16"),
            ">=",
            "fp16_speedup",
        ),
        ("first call: compile + launch (s)", fc.get("first_dropout_call_s", float("nan")), "<=", "compile_s"),
    ]
    out = []
    for name, value, op, key in rows:
        target = TARGETS[key]
        ok = value <= target if op == "<=" else value >= target
        out.append((name, value, op, target, bool(ok)))
    return out


def print_table(results, failures: int) -> None:
    def verdict(ok):
        return "PASS" if ok else "FAIL"

    print()
    print("=" * 86)
    print(f"numbadrop on {results['env'].get('gpu', '?')}")
    print(f"{'check':44} {'value':>9}  {'target':>9}  result")
    print("-" * 86)
    ident = results.get("bit_identity", [])
    n_ok = sum(r["ok"] for r in ident)
    print(f"{'bit-identity with CPU (cases)':44} {n_ok:>5}/{len(ident):<3}  {'all':>9}  {verdict(n_ok == len(ident))}")
    family = results.get("family_identity", [])
    if family:
        n_ok = sum(r["ok"] for r in family)
        label = "DropBlock, Gaussian, bfloat16 (cases)"
        print(f"{label:44} {n_ok:>5}/{len(family):<3}  {'all':>9}  {verdict(n_ok == len(family))}")
    if "beyond_int32" in results:
        print(
            f"{'2**31 + 100 elements (64-bit indexing)':44} {'':>9}  {'':>9}  {verdict(results['beyond_int32']['ok'])}"
        )
    if "philox_words" in results:
        print(f"{'Philox 32-bit == shared == NumPy':44} {'':>9}  {'':>9}  {verdict(results['philox_words']['ok'])}")
    if "dispatch" in results:
        d = results["dispatch"]
        print(f"{'dispatch checks':44} {sum(d.values()):>5}/{len(d):<3}  {'all':>9}  {verdict(all(d.values()))}")
    for name, value, op, target, ok in results.get("table", []):
        print(f"{name:44} {value:9.3f}  {op}{target:7.2f}  {verdict(ok)}")
    t = results.get("timings", {})
    if t:
        print("-" * 86)
        for k, v in t.items():
            nbytes = (1 << 28) * (2 if "f16" in k or "bf16" in k else 4) * 2
            if "dropblock" in k or "drop_block" in k:
                nbytes = (1 << 24) * 4 * 2
            extra = f"{nbytes / (v['ms'] * 1e-3) / 1e9:7.0f} GB/s" if "mask" not in k else ""
            print(f"  {k:42} {v['ms']:8.3f} ms  {extra}  host {v['host_us']:6.0f} us")
        print("  (GB/s: the data's bytes read + written per second; masks and torch's mask bytes not counted)")
    print("=" * 86)
    print("correctness failures:", failures)


def environment(carrier) -> dict:
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_had_row_stack": NUMPY_HAD_ROW_STACK,
        "carrier": carrier.name,
    }
    import numba

    env["numba"] = numba.__version__
    try:
        from importlib.metadata import version

        env["numba-cuda"] = version("numba-cuda")
    except Exception:
        env["numba-cuda"] = "?"
    if carrier.name == "torch":
        import torch

        env["torch"] = torch.__version__
        env["gpu"] = torch.cuda.get_device_name()
    else:
        env["gpu"] = "Numba CUDA simulator"
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulator", action="store_true", help="bit-identity only, small, in the CUDA simulator")
    ap.add_argument("--elements", type=int, default=None, help="elements per bit-identity case (default 2**24)")
    ap.add_argument("--reps", type=int, default=50, help="timed repetitions per measurement (median)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the tuning sweep")
    ap.add_argument("--json", type=Path, default=None, help="write every result to this file")
    args = ap.parse_args(argv)

    if args.simulator:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        # float16 max * scale -> inf on purpose; the simulator's threads would warn about it
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        sys.path.insert(0, str(ROOT / "tests"))
        import numbadrop as nd
        from numbadrop._core import tunables as _tunables

        _tunables.CUDA_THREADS_PER_BLOCK = 32
        _tunables.CUDA_MAX_BLOCKS = 4
        _tunables.CUDA_ROW_MIN = 16
        carrier = SimulatorCarrier()
        n = args.elements or 1 << 10
    else:
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device visible to PyTorch; use --simulator to check this script without a GPU")
            return 2
        sys.path.insert(0, str(ROOT / "tests"))
        import numbadrop as nd

        carrier = TorchCarrier()
        n = args.elements or 1 << 24
    results = {"env": environment(carrier)}
    print(" ".join(f"{k}={v}" for k, v in results["env"].items()))
    started = time.perf_counter()
    failures = 0
    first_calls(carrier, nd, results, 1 << 10 if args.simulator else 1 << 20)
    print(f"\nbit-identity on ~{n} elements per case (outputs poisoned first):")
    with np.errstate(over="ignore"):  # float16 max * scale -> inf, on purpose (NumPy scalars in the simulator)
        failures += bit_identity(carrier, nd, n, results)
    print("\nthe rest of the family (forward and backward):")
    failures += family_identity(carrier, nd, n, results, (np.float32,) if args.simulator else FLOATS)
    if not args.simulator:
        failures += philox_words(carrier, 1 << 22, results)
        print("\n64-bit indexing:")
        failures += beyond_int32(nd, results)
        print("\ndispatch:")
        failures += dispatch_checks(nd, results)
        print("\ntimings (CUDA events, median):")
        timings(nd, results, args.reps, not args.no_sweep)
        results["table"] = table(results)
    results["seconds"] = time.perf_counter() - started
    print_table(results, failures)
    print(f"total {results['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
