"""The terminal figures of issue 27, measured: the README's first command (wall time, exit status, widest stdout
line at COLUMNS=100, the answers' line count), `list`'s wall time and a raising function's refusal time.

    python tools/glance_figures.py [--runs 1] [--list-runs 5] [--quick]
    python tools/glance_figures.py --render results/compare-a.csv results/compare-b.csv   # nothing is timed

Each figure is printed with its median and spread over the runs asked for. The default `compare` takes about
a minute a run (it is the run-time target itself, glance-speed's to meet; this script only measures it).
``--render`` prints the first screen's figures (its lines, its widest line at 100 columns) of saved result sets
as a default run would print them, so a change to the rendering is measured without running anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "100"}


CPU_S: list[float] = []  # each timed command's CPU seconds (user + system): steadier than wall on a busy machine


def timed(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "adbench", *args], capture_output=True, text=True, env=ENV, cwd=cwd, check=False
    )  # the exit status is a figure
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, out


def spread(values: list[float], unit: str = "s") -> str:
    """'12.3 s (median of 5; min 11.9, max 13.0)'."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f} {unit} (one run)"
    return f"{med:.2f} {unit} (median of {len(values)}; min {min(values):.2f}, max {max(values):.2f})"


def answers_lines(stdout: str) -> int:
    """The answers' lines: the table, its notes and findings, up to the time line (before --details)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Time: "):
            return i
    return len(lines)


def screen_words(stdout: str) -> str:
    """'43 lines (answers 36 before the time line), widest 100': the first screen a default run prints."""
    lines = stdout.splitlines()
    widest = max((len(line) for line in lines), default=0)
    return f"{len(lines)} lines (answers {answers_lines(stdout)} before the time line), widest {widest}"


def rendered(csv: Path) -> str:
    """A saved set's stdout as the default run printed it: its answers, findings, noise and budget at 100
    columns, with the known framework defects of this adbench."""
    sys.path.insert(0, str(ROOT))
    from adbench.engine.results import comparisons_of, read_results
    from adbench.findings import known_defects
    from adbench.rendering import render

    frame, meta = read_results(csv)
    noise, budget, comparisons = meta.get("noise"), meta.get("budget"), comparisons_of(meta)
    return render(frame, "table", noise, comparisons, budget, width=100, explained=known_defects(frame))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="default compare runs (each about a minute)")
    parser.add_argument("--list-runs", type=int, default=5, help="`adbench list` runs (default 5)")
    parser.add_argument("--quick", action="store_true", help="measure `compare --quick` instead of the default run")
    parser.add_argument("--render", nargs="+", type=Path, metavar="SET.csv", help="saved sets: their first screens")
    args = parser.parse_args()
    if args.render:
        for csv in args.render:
            print(f"{csv}: first screen {screen_words(rendered(csv))} (a screen is 50 lines, 100 columns)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        walls, codes, widths, counts, screens = [], [], [], [], []
        command = ["compare"] + (["--quick"] if args.quick else [])
        for i in range(args.runs):
            wall, out = timed([*command, "--output", str(cwd / f"run{i}.csv")], cwd)
            walls.append(wall)
            codes.append(out.returncode)
            widths.append(max((len(line) for line in out.stdout.splitlines()), default=0))
            counts.append(answers_lines(out.stdout))
            screens.append(len(out.stdout.splitlines()))
        print(f"python -m adbench {' '.join(command)}: wall {spread(walls)}; exit status {codes}")
        print(f"  widest stdout line at COLUMNS=100: {max(widths)} characters (per run: {widths})")
        print(f"  stdout (the first screen: a default run prints no --details): {screens} lines (a screen is 50)")
        print(f"  answers (table, notes, findings) before the time line: {counts} lines")
        CPU_S.clear()
        list_walls = [timed(["list"], cwd)[0] for _ in range(args.list_runs)]
        print(f"python -m adbench list: wall {spread(list_walls)}; CPU {spread(CPU_S)}")
        (cwd / "raises.py").write_text("def f(x, xp):\n    raise ZeroDivisionError('division by zero')\n")
        wall, out = timed(
            ["compare", "--problem", "raises.py:f", "--sizes", "10,1000", "--output", str(cwd / "r.csv")], cwd
        )
        said = [line for line in out.stderr.splitlines() if line.strip()]
        print(
            f"a raising user function: refused in {wall:.2f} s, exit status {out.returncode}, "
            f"{len(said)} stderr line(s), traceback: {'yes' if 'Traceback' in out.stderr else 'no'}"
        )
    print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
