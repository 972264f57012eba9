"""The package's layering rule (docs/architecture.rst), checked on every import statement.

Every ``import`` and ``from ... import`` in ``numbadrop/`` counts, at module
level or inside a function, and so does every string naming a numbadrop
module (the backend table, ``importlib.import_module`` calls). Each module
imports only its own layer or lower; a kernel folder never imports the other
compile target; numba-cuda is imported only under ``kernels/cuda``; and the
import graph has no cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "numbadrop"

#: Lowest first: a module may import modules of its own rank or lower.
LAYERS = [
    ("numbadrop._core", "numbadrop.random", "numbadrop.autograd"),
    ("numbadrop.kernels",),
    ("numbadrop.backends",),
    ("numbadrop.ops",),
    ("numbadrop",),  # functional, dask, nn, optim, torch, examples and the package itself
]

MODULE_NAME = re.compile(r"^numbadrop(\.[A-Za-z_]\w*)+$")


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def rank(module: str) -> int:
    """The layer of ``module``: the most specific prefix in :data:`LAYERS` that names it."""
    best, best_len = None, -1
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = level, len(prefix)
    assert best is not None, module
    return best


def resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str) -> list[tuple[str, int]]:
    """``(imported name, line)`` of every import in ``module``, numbadrop and foreign alike."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in MODULES else base, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_NAME.match(node.value):
            if node.value in MODULES:
                found.append((node.value, node.lineno))
    return found


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _ in imports(module):
            if name in MODULES and name != module:
                graph[module].add(name)
    return graph


def test_the_walk_sees_every_kind_of_import():
    """The walker finds a function-level import and a module named by a string (it can fail)."""
    found = {name for name, _ in imports("numbadrop.backends")}
    assert {"numbadrop.backends.torch", "numbadrop.backends.dask", "numbadrop.backends.cuda_array"} <= found
    found = {name for name, _ in imports("numbadrop.kernels.cuda._runtime")}
    assert "numba" in found  # ``from numba import cuda`` inside require()


def violations(rule) -> list[str]:
    """Every ``module imports name at line`` for which ``rule(module, name)`` holds."""
    return [
        f"{module} imports {name} at line {line}"
        for module in MODULES
        for name, line in imports(module)
        if rule(module, name)
    ]


def test_imports_only_go_down():
    assert violations(lambda module, name: name in MODULES and rank(name) > rank(module)) == []


def test_kernel_targets_never_import_each_other():
    def crosses(module: str, name: str) -> bool:
        return any(
            module.startswith(f"numbadrop.kernels.{a}") and name.startswith(f"numbadrop.kernels.{b}")
            for a, b in (("cpu", "cuda"), ("cuda", "cpu"))
        )

    assert violations(crosses) == []


def test_numba_cuda_only_under_kernels_cuda():
    def outside(module: str, name: str) -> bool:
        return name.startswith(("numba.cuda", "numba_cuda")) and not module.startswith("numbadrop.kernels.cuda")

    assert violations(outside) == []


def test_the_rules_catch_a_bad_edge():
    """Each rule flags the edge it forbids (so that an empty list above means something)."""
    assert rank("numbadrop.kernels.cpu.dropout") < rank("numbadrop.backends.numpy")
    assert rank("numbadrop._core.geometry") == rank("numbadrop.autograd.tensor") < rank("numbadrop.ops.dropout")
    assert any("numbadrop.kernels.cuda" in v for v in violations(lambda m, n: n.startswith("numbadrop.kernels.cuda")))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(edges()) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    """No module over 500 lines (the issue's limit; most are under 400)."""
    lines = MODULES[module].read_text().count("\n")
    assert lines <= 500, f"{module} has {lines} lines"
