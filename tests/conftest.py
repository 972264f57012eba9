"""Hypothesis profiles of the suite.

``default``: every property test draws the examples derived from its own source
(``derandomize``), so README's test command tests the same examples on every
machine. The strategies do not depend on which optional packages are installed
(see ``FLOATS`` in test_fuzz.py), so that holds across environments too.

``random``: a seeded random draw, not stored in a database::

    python -m pytest --hypothesis-profile=random --hypothesis-seed=3

draws another set of examples per seed (``.ci/run`` does not; the seeds 0-9 were
run for issue 22). Per-test settings (``max_examples``, ``deadline``, ...) apply in
both profiles.

Optional packages: README's test command also collects the doctests of every
module under ``numbadrop/``. A module that needs a package which is not installed
(``numbadrop/dask.py`` without Dask) is not collected, and the run says which and
why in its summary, as the tests of an absent optional package skip. Any other
import error of a module stays an error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib

import pytest

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - the property tests skip themselves
    settings = None

if settings is not None:
    settings.register_profile("default", derandomize=True)
    settings.register_profile("random", derandomize=False, database=None)
    # Reload "default" with the change, unless hypothesis chose its (also derandomized) "ci" profile.
    # --hypothesis-profile, when given, is loaded after this file by hypothesis' pytest plugin.
    if getattr(settings, "get_current_profile_name", lambda: "default")() == "default":
        settings.load_profile("default")


#: Packages numbadrop may use but does not require (the extras of pyproject.toml and the GPU libraries).
OPTIONAL_PACKAGES = frozenset(
    {"dask", "distributed", "ml_dtypes", "torch", "sklearn", "matplotlib", "tqdm", "cupy", "numba_cuda"}
)


def _missing_optional_package(exc: BaseException) -> str | None:
    """The absent optional package behind ``exc`` (or the errors it was raised from), else None."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            top = exc.name.split(".")[0]
            if top in OPTIONAL_PACKAGES and importlib.util.find_spec(top) is None:
                return top
        exc = exc.__cause__ or exc.__context__
    return None


class _OptionalDoctests:
    """Leaves out the doctests of numbadrop modules whose optional package is absent (a plugin for every path)."""

    def __init__(self, root: pathlib.Path):
        self.package = root / "numbadrop"
        self.left_out: dict[str, str] = {}

    def pytest_ignore_collect(self, collection_path, config):
        path = pathlib.Path(collection_path)
        if path.suffix != ".py" or self.package not in path.parents:
            return None
        parts = path.relative_to(self.package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            package = _missing_optional_package(exc)
            if package is not None:
                self.left_out[str(path.relative_to(self.package.parent))] = package
                return True
        return None  # imported, or an error the doctest collector reports

    def pytest_terminal_summary(self, terminalreporter):
        for path, package in sorted(self.left_out.items()):
            terminalreporter.write_line(f"doctests of {path} not collected: {package} is not installed")


#: Most worker processes README's test command starts. Each compiles the kernels its own tests need, so a
#: worker per core spreads a cold run's compiling over the cores (9:42 instead of ~14 min on 2 cores).
MAX_WORKERS = 8


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Runs the suite in one worker process per core (at most ``MAX_WORKERS``) when pytest-xdist is installed.

    Only when the command line says nothing of it: ``-n 0`` (or ``-p no:xdist``)
    runs in this process, ``-n N`` uses N workers. Files go whole to one worker
    (``--dist loadfile``), so a file's kernels compile in one process. Not with
    ``NUMBADROP_SIGNATURES`` (the record of compiled kernels is one process's),
    ``--collect-only`` or ``--pdb``.
    """
    option = config.option
    if not hasattr(option, "numprocesses") or option.numprocesses is not None:
        return
    if os.environ.get("NUMBADROP_SIGNATURES") or option.collectonly or getattr(option, "usepdb", False):
        return
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    option.numprocesses = min(MAX_WORKERS, os.cpu_count() or 1)
    if option.numprocesses < 2:
        option.numprocesses = None
    elif option.dist == "no":
        option.dist = "loadfile"


def pytest_configure(config):
    config.pluginmanager.register(_OptionalDoctests(config.rootpath), "numbadrop-optional-doctests")


def _slow_requested(config) -> bool:
    """``pytest -m slow`` (or an expression selecting it) or ``NUMBADROP_RUN_SLOW=1`` (``.ci/run`` sets it)."""
    expr = config.getoption("markexpr", "") or ""
    return os.environ.get("NUMBADROP_RUN_SLOW") == "1" or ("slow" in expr and "not slow" not in expr)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (a few long runs) skip, saying how to run them, unless requested."""
    if _slow_requested(config):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or NUMBADROP_RUN_SLOW=1 (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _dispatchers(obj, name, seen, found):
    """Every numba CPU dispatcher reachable from ``obj`` through dicts, tuples and lists."""
    from numba.core.registry import CPUDispatcher

    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, CPUDispatcher):
        found[f"{name} ({obj.py_func.__module__}.{obj.py_func.__qualname__})"] = obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _dispatchers(value, f"{name}[{key!r}]", seen, found)
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            _dispatchers(value, f"{name}[{i}]", seen, found)


def _all_dispatchers() -> dict:
    import sys

    found, seen = {}, set()
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("numbadrop") and module is not None:
            for attr, value in list(vars(module).items()):
                _dispatchers(value, f"{module_name}.{attr}", seen, found)
    return found


_FIRST_COMPILED: dict = {}  # (dispatcher name, signature) -> the test that compiled (or loaded) it first


def pytest_runtest_logfinish(nodeid, location):
    if os.environ.get("NUMBADROP_SIGNATURES"):
        for name, dispatcher in _all_dispatchers().items():
            for sig in list(dispatcher.overloads):
                _FIRST_COMPILED.setdefault((name, str(sig)), nodeid)


def pytest_sessionfinish(session, exitstatus):
    """With NUMBADROP_SIGNATURES=path: write every numbadrop kernel's compiled signatures there (JSON).

    The record of which specializations a run compiled, which test reached each
    first, and how long numba took to compile it (absent where it came from the
    cache): how to check that a faster suite still reaches every kernel, dtype
    and layout it reached before, and where the compile time goes.
    """
    path = os.environ.get("NUMBADROP_SIGNATURES")
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # run with -n N: one record per worker process
        path = f"{path}.{worker}"
    import json

    record = {}
    for name, dispatcher in sorted(_all_dispatchers().items()):
        entries = []
        for sig, overload in dispatcher.overloads.items():
            timers = (getattr(overload, "metadata", None) or {}).get("timers", {})
            first = _FIRST_COMPILED.get((name, str(sig)))
            entries.append({"signature": str(sig), "compile_s": timers.get("compiler_lock"), "first_test": first})
        record[name] = sorted(entries, key=lambda e: e["signature"])
    with open(path, "w") as fh:
        json.dump(record, fh, indent=1)
