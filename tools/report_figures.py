"""The report's figures: its build time (issue 27: `python -m adbench report` wall time, median of 3 and spread,
for the shipped reference sets (`--reference`) and for one small run of the user's own (`compare --quick`)),
how many of the overview grids' ★ land on a baseline column (issue 27: none; the hand-written floor is not a
framework), and the report package's largest modules and functions (issue 30: <= 500 and <= 60 lines).

    python tools/report_figures.py                     # both figures (makes the user run first, about 15 s)
    python tools/report_figures.py --user-run RUN.csv  # time the report of an existing run instead
    python tools/report_figures.py --baseline PATH     # the same builds by another checkout, for a ratio
    python tools/report_figures.py --house             # module and function sizes only (no build)

Each build is a fresh process (`python -m adbench report`), as a user runs it: imports included. The
machine's load is printed beside the figures: on a shared machine, compare ratios taken in one run.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 15.0  # issue 27: report <= 15 s, for the shipped sets and after one user run
MODULE_LINES, FUNCTION_LINES = 500, 60  # issue 30's house rules


def build_seconds(tree: Path, args: list[str], out: Path) -> tuple[float, float]:
    """Wall time of one build, and the CPU time (user + system) of its process and its workers."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "adbench", "report", *args, "--output", str(out)],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def figure(name: str, tree: Path, args: list[str], repeats: int, work: Path) -> None:
    runs = [build_seconds(tree, args, work / f"site-{name}-{i}") for i in range(repeats)]
    times, cpu = [w for w, _ in runs], [c for _, c in runs]
    med = statistics.median(times)
    # CPU time moves less than wall time with other load on a shared machine: printed beside it.
    print(
        f"{name:<34} wall median {med:6.2f} s  min {min(times):6.2f}  max {max(times):6.2f}  "
        f"cpu median {statistics.median(cpu):6.2f} s  "
        f"(n = {repeats}; goal <= {GOAL_S:g} s wall: {'met' if med <= GOAL_S else 'NOT met'})",
        flush=True,
    )


def grid_stars(site: Path) -> tuple[int, int]:
    """(every ★ in the overview grids of a built site, those in a baseline's column): the second must be 0."""
    sys.path.insert(0, str(ROOT))
    from adbench.backends import list_backends
    from adbench.report.data import backend_style

    styles = [backend_style(b.name) for b in list_backends(import_frameworks=False)]
    baselines = {s.label for s in styles if s.baseline}
    stars = on_baseline = 0
    for page in site.glob("sets/*/index.html"):
        html = page.read_text(encoding="utf-8")
        grid = html[html.index('<table class="grid">') :]
        grid = grid[: grid.index("</table>")]
        columns = re.findall(r'<th scope="col" class="backend">([^<]*)</th>', grid)
        for row in re.findall(r'<tr>\s*<th scope="row">(.*?)</tr>', grid, re.S):
            for column, cell in zip(columns, re.findall(r'<td class="cell[^"]*"', row)):
                if "fastest" in cell:
                    stars += 1
                    on_baseline += column in baselines
    return stars, on_baseline


def house() -> None:
    """The report package's largest modules and longest functions (AST: every def, nested ones on their own)."""
    modules, functions = [], []
    for path in sorted((ROOT / "adbench" / "report").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        modules.append((len(text.splitlines()), path.name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path.name} {node.name}"))
    modules.sort(reverse=True)
    functions.sort(reverse=True)
    print(f"largest modules (goal <= {MODULE_LINES}): " + ", ".join(f"{n} {name}" for n, name in modules[:4]))
    print(f"longest functions (goal <= {FUNCTION_LINES}): " + ", ".join(f"{n} {name}" for n, name in functions[:4]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-run", type=Path, help="an existing result set (CSV) to stand for the user's run")
    parser.add_argument("--baseline", type=Path, help="another checkout of adbench to time the same builds with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--house", action="store_true", help="print module and function sizes only")
    args = parser.parse_args()
    house()
    if args.house:
        return 0
    with tempfile.TemporaryDirectory(prefix="adbench-report-figures-") as tmp:
        work = Path(tmp)
        run = args.user_run
        if run is None:
            run = work / "run.csv"
            subprocess.run(
                [sys.executable, "-m", "adbench", "compare", "--quick", "--output", str(run)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        print(
            f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; python {sys.version.split()[0]}"
        )
        trees = [("", ROOT)] + ([(" [baseline]", args.baseline.resolve())] if args.baseline else [])
        for suffix, tree in trees:
            # A baseline that predates --reference read every set under results/, the shipped ones included.
            knows_reference = "--reference" in (tree / "adbench" / "report" / "__init__.py").read_text(encoding="utf-8")
            shipped = ["--reference"] if knows_reference else ["--results", str(tree / "results")]
            figure("shipped sets" + suffix, tree, shipped, args.repeats, work)
            figure("one user run (compare --quick)" + suffix, tree, ["--results", str(run)], args.repeats, work)
        stars, on_baseline = grid_stars(work / "site-shipped sets-0")
        print(f"grid stars on a baseline column (hand-written, finite differences): {on_baseline} of {stars}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
