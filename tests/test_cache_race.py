"""Numba's disk cache under processes that compile different overloads of one kernel at the same moment.

numba's ``IndexDataCacheFile.save`` (load the index, pick the first free data
file, save both) has no lock: two processes saving different overloads at
once can write one overload's machine code under the other's key.
:mod:`numbadrop.kernels.cpu._cache` locks each save and checks the signature
of every loaded overload. These tests run on a fresh ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

#: Run in a child: compile (or load) the small kernel's overload ``sys.argv[1]`` and print its bits' check.
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    import naive
    import numbadrop as nd

    kind, start = sys.argv[1], float(sys.argv[2])
    if sys.argv[3:] == ["unchecked"]:  # numba's own load, to show what the check prevents
        from numba.core.caching import FunctionCache
        from numbadrop.kernels.cpu import _cache
        _cache.CheckedCache.load_overload = FunctionCache.load_overload
    dtype, readonly = {{"f4": (np.float32, False), "f8": (np.float64, False),
                       "f4r": (np.float32, True), "f8r": (np.float64, True)}}[kind]
    x = np.random.default_rng(0).standard_normal(1000).astype(dtype)
    x.flags.writeable = not readonly
    while time.time() < start:  # all children compile at the same moment
        pass
    y = nd.dropout(x, 0.5, rng=7)
    print("ok" if y.tobytes() == naive.dropout(x, 0.5, 7).tobytes() else "WRONG")
    """
)
KINDS = ["f4", "f8", "f4r", "f8r"]


def _script(tmp_path):
    path = tmp_path / "child.py"
    path.write_text(CHILD.format(tests=os.path.dirname(__file__)))
    return path


def _run(script, cache_dir, kinds, delay: float, *extra):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    start = time.time() + delay
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), kind, str(start), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in kinds
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, out.strip(), err[-1500:]))
    return results


@pytest.mark.slow  # ~100 s on 2 busy cores: each child compiles the small path's kernels from nothing
def test_concurrent_compiles_of_different_overloads_leave_a_sound_cache(tmp_path):
    """Rounds of 4 processes compiling 4 overloads at once; then a fresh process loads each and checks its bits."""
    script = _script(tmp_path)
    for round_ in range(2):
        cache_dir = tmp_path / f"cache{round_}"
        for code, out, err in _run(script, cache_dir, KINDS, 3.0):
            assert code == 0 and out == "ok", err
        for code, out, err in _run(script, cache_dir, KINDS, 0.0):  # fresh processes: loaded from the cache
            assert code == 0 and out == "ok", err


def _small_scale_index(cache_dir):
    """The index of ``kernels/cpu/small.scale`` in ``cache_dir``, as numba's cache file object and its overloads."""
    code = textwrap.dedent(
        """
        from numbadrop.kernels.cpu import small, _cache
        file = _cache.CheckedCache(small.scale.py_func)._cache_file
        overloads = file._load_index()
        keys = sorted(overloads, key=lambda k: str(k[0]))
        print(len(keys), [overloads[k] for k in keys])
        if len(keys) == 2:  # what the race leaves: the second key names the first key's data file
            overloads[keys[1]] = overloads[keys[0]]
            file._save_index(overloads)
        """
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    return done.stdout


@pytest.mark.slow  # ~50 s: four compiles of the small path's kernels
def test_a_raced_index_is_caught_by_the_signature_check(tmp_path):
    """The race's outcome made by hand: float64's key names float32's code. Checked: right bits; unchecked: not."""
    script = _script(tmp_path)
    cache_dir = tmp_path / "cache"
    for kind in ("f4", "f8"):  # one after the other: a sound cache with two overloads
        ((code, out, err),) = _run(script, cache_dir, [kind], 0.0)
        assert code == 0 and out == "ok", err
    assert _small_scale_index(cache_dir).startswith("2 ")
    ((code, out, err),) = _run(script, cache_dir, ["f4"], 0.0, "unchecked")
    assert code == 0 and out == "ok", err  # float32's own entry is sound
    ((code, out, err),) = _run(script, cache_dir, ["f8"], 0.0, "unchecked")
    assert code != 0 or out == "WRONG", "numba's own load ran float32 code on float64 data and got it right?"
    ((code, out, err),) = _run(script, cache_dir, ["f8"], 0.0)
    assert code == 0 and out == "ok", err  # the check ignores the wrong entry, compiles again, saves over it
    ((code, out, err),) = _run(script, cache_dir, ["f8"], 0.0, "unchecked")
    assert code == 0 and out == "ok", err  # and the entry is now the right one


@pytest.mark.slow
def test_many_rounds_of_concurrent_compiles(tmp_path):
    script = _script(tmp_path)
    for round_ in range(8):
        cache_dir = tmp_path / f"cache{round_}"
        for code, out, err in _run(script, cache_dir, KINDS * 2, 4.0):
            assert code == 0 and out == "ok", err
        for code, out, err in _run(script, cache_dir, KINDS, 0.0):
            assert code == 0 and out == "ok", err


# --- the same on a tiny kernel, fast enough for every run -----------------------------------------

TINY = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from numbadrop.kernels.cpu import _cache

    @_cache.njit(cache=True)
    def halve(x):
        return x[0] * x[1] - x[2]

    kind, start = sys.argv[1], float(sys.argv[2])
    if "unchecked" in sys.argv[3:]:
        from numba.core.caching import FunctionCache
        _cache.CheckedCache.load_overload = FunctionCache.load_overload
    if "corrupt" in sys.argv[3:]:  # what the race leaves: one key names the other overload's data file
        file = halve._cache._cache_file
        overloads = file._load_index()
        keys = sorted(overloads, key=lambda k: str(k[0]))
        overloads[keys[1]] = overloads[keys[0]]
        file._save_index(overloads)
        sys.exit(0)
    x = np.array([1.1, 2.3, 0.7]).astype({"f4": np.float32, "f8": np.float64, "i8": np.int64, "f4r": np.float32}[kind])
    x.flags.writeable = kind != "f4r"
    while time.time() < start:
        pass
    got = halve(x)
    want = halve.py_func(x)  # NumPy's own arithmetic, in x's dtype
    print("ok" if got == want else "WRONG", got, want, halve.stats.cache_hits)
    """
)


def _tiny(tmp_path, cache_dir, kinds, delay, *extra):
    (tmp_path / "tiny.py").write_text(TINY)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    start = time.time() + delay
    procs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "tiny.py"), kind, str(start), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind in kinds
    ]
    return [(p.wait(timeout=120), p.stdout.read().strip(), p.stderr.read()[-1500:]) for p in procs]


@pytest.mark.slow  # ~20 s on 2 busy cores (8 processes)
def test_tiny_kernel_concurrent_compiles_then_fresh_loads(tmp_path):
    """4 processes compile 4 overloads of one cached function at once; fresh ones then load each: right values."""
    kinds = ["f4", "f8", "i8", "f4r"]
    for code, out, err in _tiny(tmp_path, tmp_path / "c", kinds, 2.0):
        assert code == 0 and out.startswith("ok"), err
    for code, out, err in _tiny(tmp_path, tmp_path / "c", kinds, 0.0):
        assert code == 0 and out.startswith("ok"), err
        assert out.endswith(": 1})"), out  # loaded from the cache (a hit), not compiled again
    assert len(list((tmp_path / "c").rglob("*.nbi.lock"))) == 1  # saves went through the lock


def test_tiny_kernel_raced_index_is_caught_by_the_signature_check(tmp_path):
    cache = tmp_path / "c"
    for kind in ("f4", "f8"):
        ((code, out, err),) = _tiny(tmp_path, cache, [kind], 0.0)
        assert code == 0 and out.startswith("ok"), err
    ((code, _, err),) = _tiny(tmp_path, cache, ["f4"], 0.0, "corrupt")
    assert code == 0, err
    ((code, out, err),) = _tiny(tmp_path, cache, ["f8"], 0.0, "unchecked")
    assert code != 0 or out.startswith("WRONG"), f"numba's own load gave the right value: {out}"
    ((code, out, err),) = _tiny(tmp_path, cache, ["f8"], 0.0)
    assert code == 0 and out.startswith("ok"), err


# --- closures of one factory: one machine-code symbol each ----------------------------------------


def _numbadrop_dispatchers() -> list:
    """Every numba dispatcher numbadrop defines: module globals, the kernel tables, every column-walk variant."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import numbadrop
    from numbadrop.kernels.cpu import columns

    found = []

    def collect(value, depth=0):
        if isinstance(value, Dispatcher):
            found.append(value)
        elif depth < 2 and isinstance(value, (dict, tuple, list)):
            for item in value.values() if isinstance(value, dict) else value:
                collect(item, depth + 1)

    for info in pkgutil.walk_packages(numbadrop.__path__, "numbadrop."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # torch or numba-cuda absent: those modules define no CPU kernels
            continue
        for value in vars(module).values():
            collect(value)
    for mode in (0, 1, 2):
        for inplace in (False, True):
            for aligned in (False, True):
                collect(columns._make_kernels(mode, inplace, 4 if aligned else 8, aligned))
    return found


def _constant(value):
    """A closure constant, or a compiled function's code with its own constants."""
    if not hasattr(value, "py_func"):
        return value
    fn = value.py_func
    return fn.__code__, tuple(_constant(cell.cell_contents) for cell in fn.__closure__ or ())


def test_every_compiled_function_has_its_own_qualname():
    """numba names a function's symbol by qualname, argument types and a per-process counter.

    Two closures of one factory with one qualname can get one symbol name in two
    processes, and a kernel loaded from the cache then calls the other's code.
    """
    by_name: dict = {}
    dispatchers = _numbadrop_dispatchers()
    for dispatcher in dispatchers:
        fn = dispatcher.py_func
        # A variant made twice (the test's column walks beside the table's) is one variant: the same constants.
        constants = tuple(_constant(cell.cell_contents) for cell in fn.__closure__ or ())
        by_name.setdefault((fn.__module__, fn.__qualname__), set()).add((fn.__code__, constants))
    assert len(dispatchers) > 40, len(dispatchers)  # the walk found the kernels
    shared = {name: len(fns) for name, fns in by_name.items() if len(fns) > 1}
    assert not shared, shared


#: A child: run each ``name:mode`` (d/a: dropout/alpha dropout, i/o: in place or not) on 70003 float32
#: elements (the serial tile kernels) and check the bits against the naive reference.
VARIANTS = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    import naive
    import numbadrop as nd

    x = np.random.default_rng(0).standard_normal(70_003).astype(np.float32)
    x[::50] = -0.0
    funcs = {{"d": (nd.dropout, naive.dropout), "a": (nd.alpha_dropout, naive.alpha_dropout)}}
    for op in sys.argv[1:]:
        name, mode = op.split(":")
        func, ref = funcs[name]
        y = x.copy()
        if mode == "i":
            func(y, 0.3, True, True, rng=42)
        else:
            y = func(x, 0.3, True, rng=42)
        print(op, "ok" if y.tobytes() == ref(x, 0.3, 42).tobytes() else "WRONG")
    """
)


@pytest.mark.slow  # ~20 s: three processes compile the serial tile kernels
def test_variants_compiled_in_different_processes_keep_their_code(tmp_path):
    """Alpha dropout's in-place kernel compiled in one process, dropout's in another, both loaded in a third.

    With one qualname for the variants, the third process ran dropout's tile in
    alpha dropout (wrong bits) or the reverse, depending on the load order.
    """
    script = tmp_path / "variants.py"
    script.write_text(VARIANTS.format(tests=os.path.dirname(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for ops in (["a:i"], ["d:i"], ["d:i", "a:i", "d:o", "a:o"], ["a:i", "d:i", "a:o", "d:o"]):
        done = subprocess.run([sys.executable, str(script), *ops], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-1500:]
        assert done.stdout.split() == [w for op in ops for w in (op, "ok")], done.stdout
