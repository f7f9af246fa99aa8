"""Benchmark of the benchmark: adbench's timer against timeit, run-to-run agreement, verdicts, wall times.

    python tools/bench_the_bench.py            # everything (~6 min: four default runs, two under noise)
    python tools/bench_the_bench.py --no-noise # without the noisy-neighbour pair (~3 min)
    python tools/bench_the_bench.py --no-runs  # timer figures only (~30 s)

Prints each figure beside its target. Not a test: these are measurements on a shared machine.
The noisy neighbour is a process pinned to the CPU the workers are timed on that burns it in
bursts (on 30 ms, off 70 ms): the kind of interference that made whole worker processes shift
between runs before rounds and intervals.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

from adbench.formatting import verdict
from adbench.engine.results import read_results
from adbench.engine.threads import cpus_for
from adbench.engine.timing import measure, time_block

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
    return wall, read_results(output)[0]


KEY = ["problem", "size", "operation", "backend", "mode", "dtype", "chunk_size"]


def agreement_between(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, float]:
    """Three figures for two runs of the same grid: median spread, verdicts kept, intervals overlapping."""
    ok_a, ok_b = (f[f["status"] == "ok"].set_index(KEY) for f in (a, b))
    both = ok_a.add_suffix("_a").join(ok_b.add_suffix("_b"), how="inner")
    slow = both[both[["median_s_a", "median_s_b"]].min(axis=1) >= 1e-3]
    spread = ((slow["median_s_a"] - slow["median_s_b"]).abs() / slow[["median_s_a", "median_s_b"]].mean(axis=1) * 100)
    overlap = ((both["ci_low_s_a"] <= both["ci_high_s_b"]) & (both["ci_low_s_b"] <= both["ci_high_s_a"])).mean() * 100
    separated = kept = 0
    for _, group in both.groupby(level=["problem", "size", "operation", "dtype"]):
        rows = list(group.iterrows())
        for (_, r1), (_, r2) in itertools.combinations(rows, 2):
            v = verdict(r1["median_s_a"], (r1["ci_low_s_a"], r1["ci_high_s_a"]),
                        r2["median_s_a"], (r2["ci_low_s_a"], r2["ci_high_s_a"]))
            if not v.resolved:
                continue
            separated += 1
            first_faster_a = v.winner == "a"
            kept += first_faster_a == (r1["median_s_b"] < r2["median_s_b"])
    return {"cases >= 1 ms": len(slow), "spread median %": spread.median(), "spread p90 %": spread.quantile(0.9),
            "pairs separated": separated, "verdicts kept %": 100 * kept / separated if separated else float("nan"),
            "intervals overlap %": overlap, "noisy %": 100 * pd.concat([a, b])["noisy"].fillna(False).mean()}


def burn(cpus: set[int], on_s: float = 0.03, off_s: float = 0.07) -> None:
    """The noisy neighbour: pinned to the benchmark's CPUs, busy for on_s, idle for off_s, forever."""
    os.sched_setaffinity(0, cpus)
    while True:
        end = time.perf_counter() + on_s
        while time.perf_counter() < end:
            pass
        time.sleep(off_s)


def pair_of_runs(tmp: Path, label: str) -> tuple[list[float], dict[str, float]]:
    walls, frames = [], []
    for i in range(2):
        wall, frame = compare_run([], tmp / f"{label}{i}.csv")
        walls.append(wall)
        frames.append(frame)
    return walls, agreement_between(*frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-runs", action="store_true", help="skip the full compare runs")
    parser.add_argument("--no-noise", action="store_true", help="skip the pair of runs beside a noisy neighbour")
    args = parser.parse_args()

    ours, theirs, ratio = timer_overhead()
    print(f"timer overhead, no-op callable: adbench {ours:.1f} ns/call, timeit {theirs:.1f} ns/call, "
          f"ratio {ratio:.2f}x (target <= 1.5x)")

    table = agreement()
    print("\nagreement with timeit (medians over 3 rounds; targets: min within ±3%, median within -2...+10%)")
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))

    if args.no_runs:
        return
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        walls, figures["quiet"] = pair_of_runs(Path(tmp), "quiet")
        quick_wall, _ = compare_run(["--quick"], Path(tmp) / "quick.csv")
        if not args.no_noise:
            neighbour = multiprocessing.Process(target=burn, args=(cpus_for(1),), daemon=True)
            neighbour.start()
            try:
                noisy_walls, figures["noisy neighbour"] = pair_of_runs(Path(tmp), "noisy")
            finally:
                neighbour.terminate()
    print("\ntwo back-to-back default runs (targets: spread of medians <= 10% on cases >= 1 ms; of the pairs the "
          "first run separates, >= 99% ordered the same by the second; >= 90% of cases' intervals overlap):")
    print(pd.DataFrame(figures).T.to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"\nwall time: default run {walls[0]:.1f} s and {walls[1]:.1f} s (target <= 60 s); "
          f"--quick {quick_wall:.1f} s (target <= 20 s)"
          + ("" if args.no_noise else f"; beside the neighbour {noisy_walls[0]:.1f} s and {noisy_walls[1]:.1f} s"))


if __name__ == "__main__":
    main()
