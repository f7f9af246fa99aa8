"""The test command's figures: wall time of `python -m pytest` (median and spread of --repeat runs), its
outcome counts, the tests collected by the default run and by `-m slow`, and the assertions executed.

    python tools/test_timing.py                     # the README's command once, on this machine
    python tools/test_timing.py --repeat 3          # median and range of three runs
    python tools/test_timing.py --slow              # `python -m pytest -m slow` instead
    python tools/test_timing.py tests/test_foo.py   # a file or a -k selection: extra arguments go to pytest

Assertions are counted by tools/assert_counter.py, loaded into every test process (xdist's workers too):
each `assert` statement that passes (pytest's assertion-pass hook, so only plain asserts in rewritten
test modules, conftest included) and each call of a numpy.testing assert_* function. A failing
assertion fails its test and shows in the outcome counts instead. Run it on a quiet machine: the wall
time is the figure the README quotes (goal: 200 s on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors", "deselected")


def collected(marker: str) -> int:
    """How many tests `pytest -m MARKER --collect-only` selects (in one process, no xdist)."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", marker],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"(\d+)(?:/\d+)? tests? (?:collected|selected)", out.stdout)
    if match is None:
        sys.exit(f"could not read pytest's collection: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    return int(match.group(1))


def run_once(args: list[str]) -> tuple[float, dict[str, int], int, int]:
    """One run of `python -m pytest ARGS`: wall seconds, outcome counts, asserts and numpy asserts passed."""
    # pytest caches its rewritten test modules; without them it rewrites them again, with the
    # assertion-pass hook in, and (no bytecode written) leaves no hooked copy for later runs.
    for cached in (ROOT / "tests").rglob("__pycache__/*-pytest-*.pyc"):
        cached.unlink()
    with tempfile.TemporaryDirectory() as counts:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tools"), os.environ.get("PYTHONPATH")])),
            ADBENCH_ASSERT_COUNTS=counts,
            PYTHONDONTWRITEBYTECODE="1",
        )
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "assert_counter",
            "-o",
            "enable_assertion_pass_hook=true",
            *args,
        ]
        start = time.perf_counter()
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        outcomes = {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", tail) if name in OUTCOMES}
        if out.returncode not in (0, 1) or not outcomes:
            print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
        totals = [json.loads(p.read_text()) for p in Path(counts).glob("*.json")]
        return (wall, outcomes, sum(t["asserts"] for t in totals), sum(t["numpy_asserts"] for t in totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of the command (default 1)")
    parser.add_argument("--slow", action="store_true", help="time `python -m pytest -m slow`")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after -m slow with --slow)")
    opts = parser.parse_args()
    args = (["-m", "slow"] if opts.slow else []) + opts.pytest_args
    print(f"tests collected: default run {collected('not slow')}, -m slow {collected('slow')}")
    walls = []
    for i in range(opts.repeat):
        wall, outcomes, asserts, numpy_asserts = run_once(args)
        walls.append(wall)
        counts = ", ".join(f"{n} {name}" for name, n in outcomes.items())
        print(
            f"run {i + 1}: {wall:.0f} s  ({counts}); assertions passed: {asserts} assert statements, "
            f"{numpy_asserts} numpy.testing calls"
        )
    print(
        f"python -m pytest {' '.join(args)}: median {statistics.median(walls):.0f} s, "
        f"range {min(walls):.0f}-{max(walls):.0f} s over {len(walls)} run(s), {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
