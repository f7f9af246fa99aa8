"""The figures of issue 30 (the house, second pass) for the engine's files, or any files: each module's lines,
every function's length by the AST (``end_lineno - lineno + 1``, nested functions counted on their own too),
and the repeated blocks the ``duplicates`` command lists among them.

    python tools/engine_house.py [--limit-lines 500] [--limit-function 60] [PATH ...]

Without paths: ``adbench/engine/``, ``adbench/cluster.py`` and ``adbench/merge.py``. Static figures: nothing is
timed, so a busy machine does not move them. Exit status 1 when a module or function is over its limit.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("adbench/engine", "adbench/cluster.py", "adbench/merge.py")


def modules(paths: list[str]) -> list[Path]:
    """The .py files at or under ``paths`` (relative to the repository root)."""
    found: list[Path] = []
    for p in paths:
        path = ROOT / p
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """(lines, name at line) of every def in ``path``, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.end_lineno - node.lineno + 1, f"{node.name} (line {node.lineno})")
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None
    ]


def repeated_blocks(files: list[Path]) -> list[str]:
    """The ``duplicates`` rows of the whole package that name one of ``files`` (empty without the command)."""
    if shutil.which("duplicates") is None:
        return ["(the duplicates command is not installed here)"]
    out = subprocess.run(
        ["duplicates", "--repo", "adbench", "--most", "200"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    names = {str(f.relative_to(ROOT / "adbench")) for f in files if f.is_relative_to(ROOT / "adbench")}
    return [line for line in out.splitlines() if any(f" {n}:" in f" {line}" for n in names)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--limit-lines", type=int, default=500)
    parser.add_argument("--limit-function", type=int, default=60)
    args = parser.parse_args()
    files = modules(args.paths)
    over = 0
    print("module lines (largest first):")
    sized = sorted(((len(f.read_text(encoding="utf-8").splitlines()), f) for f in files), reverse=True)
    for lines, f in sized:
        over += lines > args.limit_lines
        print(f"  {lines:5d}  {f.relative_to(ROOT)}{'  OVER' if lines > args.limit_lines else ''}")
    print(f"function lengths by the AST (the 15 longest of {len(files)} modules):")
    lengths = sorted(
        ((n, f"{f.relative_to(ROOT)}: {name}") for f in files for n, name in function_lengths(f)), reverse=True
    )
    for n, where in lengths[:15]:
        print(f"  {n:5d}  {where}{'  OVER' if n > args.limit_function else ''}")
    over += sum(n > args.limit_function for n, _ in lengths)
    blocks = repeated_blocks(files)
    print(f"repeated blocks of 6+ lines naming these files ({len(blocks)}):")
    for line in blocks:
        print(f"  {line}")
    print(f"over the limits ({args.limit_lines} lines a module, {args.limit_function} a function): {over}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
