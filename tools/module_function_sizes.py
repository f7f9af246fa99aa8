"""Issue 30's size figures for a set of paths: each module's lines and every function longer than a limit.

    python tools/module_function_sizes.py [PATH ...] [--over 60] [--largest 5]

PATHs are files or folders (default: adbench/). A function's length is ``end_lineno - lineno + 1`` of its def (a
nested def counted on its own too), as the issue measures it. Exits 1 where a module is over 500 lines or a
function over the limit, so CI or a reviewer can use it as a check. Counts lines, so nothing here is timed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 500


def python_files(paths: list[str]) -> list[Path]:
    """The .py files at or below each path, sorted."""
    found: set[Path] = set()
    for path in map(Path, paths):
        found |= {path} if path.is_file() else set(path.rglob("*.py"))
    return sorted(found)


def function_lengths(path: Path) -> list[tuple[int, str, int]]:
    """(length, name, first line) of every def and async def in ``path``, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.end_lineno - node.lineno + 1, node.name, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["adbench"])
    parser.add_argument("--over", type=int, default=60, help="list functions longer than this (default 60)")
    parser.add_argument("--largest", type=int, default=5, help="how many of the largest modules to list")
    args = parser.parse_args(argv)
    files = python_files(args.paths)
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), p) for p in files), reverse=True)
    print(f"largest modules (of {len(files)}; limit {MAX_MODULE_LINES} lines):")
    for lines, path in sizes[: args.largest]:
        print(f"  {lines:5d}  {path}")
    long = sorted(((n, f"{p}:{line} {name}") for p in files for n, name, line in function_lengths(p)), reverse=True)
    over = [(n, where) for n, where in long if n > args.over]
    longest = f" (longest: {long[0][0]}, {long[0][1]})" if long else ""
    print(f"functions over {args.over} lines: {len(over)}{longest}")
    for n, where in over:
        print(f"  {n:5d}  {where}")
    too_large = [p for lines, p in sizes if lines > MAX_MODULE_LINES]
    return 1 if over or too_large else 0


if __name__ == "__main__":
    sys.exit(main())
