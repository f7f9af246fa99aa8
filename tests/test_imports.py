"""Imports run one way: adbench's import graph has no circle, and importing its modules loads no AD framework."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adbench.xp import NAMESPACES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "adbench"

# The frameworks a backend imports when it is first used, never at an adbench module's import.
FRAMEWORKS = frozenset(NAMESPACES) - {"numpy"} | {"jaxlib", "array_api_compat"}
# Heavy libraries that only a run, a report or a cluster needs: not the light entry points.
HEAVY = frozenset({"pandas", "scipy", "matplotlib", "distributed", "jinja2"})


def _module_names(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name, not ``__init__``)."""
    names = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _runtime_nodes(tree: ast.AST):
    """The tree's nodes, leaving out ``if TYPE_CHECKING:`` blocks, which never run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, wherever the import statement is (inside functions too:
    a circle hidden in a function runs as soon as the function does)."""
    modules = _module_names(package)
    top = package.name

    def known(name: str) -> str:  # the module itself, or the package whose attribute it is
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {known(a.name) for a in node.names if a.name.split(".")[0] == top}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package upwards
                    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        here = here.rpartition(".")[0]
                    base = f"{here}.{base}".rstrip(".")
                if base.split(".")[0] == top:
                    imported |= {
                        f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base) for a in node.names
                    }
        imported.discard(name)
        graph[name] = imported
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n")  # the hidden half of a circle
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    graph = import_graph(pkg)
    assert graph["pkg.sub.b"] == {"pkg.a"} and graph["pkg.c"] == set() and graph["pkg.d"] == {"pkg.c"}
    assert circles(graph) == [["pkg.a", "pkg.sub.b"]]


@pytest.fixture(scope="module")
def adbench_graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE)


# One parameter per part of the package, so a circle names where it is.
@pytest.mark.parametrize(
    "part", ["adbench", "adbench.backends", "adbench.engine", "adbench.problems", "adbench.report"]
)
def test_no_import_circle(part, adbench_graph):
    graph = adbench_graph
    subpackages = [n for n, path in _module_names(PACKAGE).items() if path.name == "__init__.py" and "." in n]
    part_of = {m: next((s for s in subpackages if m == s or m.startswith(s + ".")), "adbench") for m in graph}
    in_part = [c for c in circles(graph) if any(part_of[m] == part for m in c)]
    assert in_part == [], "import circles: " + "; ".join(" <-> ".join(c) for c in in_part)


def _loaded_by(statement: str) -> set[str]:
    """Top-level modules in ``sys.modules`` after ``statement`` runs in a fresh interpreter."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


# What each light entry point must not load in a fresh interpreter.
LIGHT = {
    "adbench": FRAMEWORKS | HEAVY | {"numpy"},  # its docstring's promise: not even NumPy until a name is used
    "adbench.xp": FRAMEWORKS | HEAVY | {"numpy"},  # each namespace imported on first use
    "adbench.cli": FRAMEWORKS | HEAVY,  # `list` and `--help` answer in a second
    "adbench.api": FRAMEWORKS | HEAVY,
    "adbench.problems": FRAMEWORKS | HEAVY,
    "adbench.backends": FRAMEWORKS | HEAVY,
}


@pytest.mark.parametrize("module", LIGHT)
def test_import_loads_nothing_heavy(module):
    forbidden = LIGHT[module]
    loaded = _loaded_by(f"import {module}")
    assert loaded & forbidden == set(), f"import {module} loaded {sorted(loaded & forbidden)}"


def test_every_module_imports_without_a_framework():
    """Each framework is imported by its backend when first used; no module imports one at its top."""
    names = sorted(n for n in _module_names(PACKAGE) if not n.endswith("__main__"))  # __main__ runs the CLI
    # A module that needs an optional library not installed here (the report's matplotlib) is left out.
    statement = textwrap.dedent(f"""
        import importlib
        for name in {names!r}:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if (exc.name or "adbench").startswith("adbench"):
                    raise
    """)
    loaded = _loaded_by(statement)
    assert loaded & FRAMEWORKS == set(), f"importing adbench's modules loaded {sorted(loaded & FRAMEWORKS)}"
