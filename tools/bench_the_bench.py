"""Benchmark of the benchmark: adbench's timer against timeit, run-to-run spread, and wall times.

    python tools/bench_the_bench.py            # everything (~4 min: includes two default runs)
    python tools/bench_the_bench.py --no-runs  # timer figures only (~30 s)

Prints each figure beside its target. Not a test: these are measurements on a shared machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

from adbench.timing import measure, time_block

ROOT = Path(__file__).resolve().parents[1]


def noop() -> None:
    return None


def timer_overhead(rounds: int = 15, number: int = 200_000) -> tuple[float, float, float]:
    """ns per call of a no-op callable: adbench's loop vs timeit's, interleaved; (ours, timeit's, ratio)."""
    ours, theirs = [], []
    t = timeit.Timer(noop)
    for _ in range(rounds):
        ours.append(time_block(noop, None, number))
        theirs.append(t.timeit(number) / number)
    o, th = min(ours), min(theirs)
    return o * 1e9, th * 1e9, o / th


def workloads():
    rng = np.random.default_rng(0)
    small, medium, large = rng.standard_normal(2_000), rng.standard_normal(30_000), rng.standard_normal(300_000)
    to_sort = rng.standard_normal(20_000)
    return {
        "sin 2e3 (~10 µs)": lambda: np.sin(small),
        "sin 3e4 (~150 µs)": lambda: np.sin(medium),
        # single-threaded work only: a BLAS call's thread pool would time the pool, not the timer
        "sort 2e4 (~1 ms)": lambda: np.sort(to_sort),
        "sin 3e5 (~1.5 ms)": lambda: np.sin(large),
    }


def agreement(rounds: int = 3) -> pd.DataFrame:
    """adbench's min and median against timeit's (min of 5 autorange blocks), per workload."""
    rows = []
    for name, fn in workloads().items():
        for _ in range(rounds):
            t = timeit.Timer(fn)
            number, _ = t.autorange()
            blocks = [b / number for b in t.repeat(repeat=5, number=number)]
            ref_min = min(blocks)  # the reference for both our min and our median
            m = measure(fn, budget_s=0.2)
            rows.append({
                "workload": name,
                "timeit min": ref_min,
                "adbench min": m.min,
                "adbench median": m.median,
                "min diff %": 100 * (m.min / ref_min - 1),
                "median diff %": 100 * (m.median / ref_min - 1),
                "noisy": m.noisy,
            })
    frame = pd.DataFrame(rows)
    return frame.groupby("workload", sort=False).median(numeric_only=True)


def compare_run(args: list[str], output: Path) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "adbench", "compare", *args, "--output", str(output), "--format", "csv"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    return wall, pd.read_csv(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-runs", action="store_true", help="skip the full compare runs")
    args = parser.parse_args()

    ours, theirs, ratio = timer_overhead()
    print(f"timer overhead, no-op callable: adbench {ours:.1f} ns/call, timeit {theirs:.1f} ns/call, "
          f"ratio {ratio:.2f}x (target <= 1.5x)")

    table = agreement()
    print("\nagreement with timeit (medians over 3 rounds; targets: min within ±3%, median within -2...+10%)")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))

    if args.no_runs:
        return
    with tempfile.TemporaryDirectory() as tmp:
        walls, frames = [], []
        for i in range(2):
            wall, frame = compare_run([], Path(tmp) / f"default{i}.csv")
            walls.append(wall)
            frames.append(frame)
        quick_wall, _ = compare_run(["--quick"], Path(tmp) / "quick.csv")
    key = ["problem", "size", "backend", "mode"]
    a, b = (f[f["status"] == "ok"].set_index(key)["median_s"] for f in frames)
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1).dropna()
    slow = both[both.min(axis=1) >= 1e-3]
    spread = (slow["a"] - slow["b"]).abs() / slow.mean(axis=1) * 100
    noisy = pd.concat(frames)["noisy"].astype(str).str.lower().eq("true").mean() * 100
    print(f"\nrun-to-run, two back-to-back default runs, {len(slow)} cases >= 1 ms: spread of medians "
          f"median {spread.median():.1f}%, 90th percentile {spread.quantile(0.9):.1f}%, max {spread.max():.1f}% "
          f"(target <= 10%)")
    print(f"cases flagged noisy (IQR/median >= 10%): {noisy:.0f}% of {sum(len(f) for f in frames)}")
    print(f"wall time: default run {walls[0]:.1f} s and {walls[1]:.1f} s (target <= 60 s); "
          f"--quick {quick_wall:.1f} s (target <= 20 s)")


if __name__ == "__main__":
    main()
