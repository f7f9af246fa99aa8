"""The same fixed-work grid run here and on ``--cluster local:N``: wall seconds of each, and whether the two
runs' verdicts and times agree (prints figures; no assertion: the README quotes them)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adbench.engine.results import read_results  # noqa: E402


def run(args: list[str], out: Path) -> float:
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "adbench", "compare", *args, "--output", str(out), "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    p.add_argument("--problems", default="basic,loss,tall,gmm,control_loop")
    p.add_argument("--backends", default="jax,torch,autograd,manual")
    p.add_argument("--repeats", type=int, default=1)
    a = p.parse_args()
    # Fixed work: every case its 4 visits, no adaptive visits, so both runs measure the same amount.
    grid = ["--problems", a.problems, "--backends", a.backends, "--no-adaptive", "--rounds", "4"]
    walls: dict[str, list[float]] = {"local": [], f"local:{a.workers}": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            for name in walls:
                out = Path(tmp) / f"{name.replace(':', '-')}-{r}.csv"
                extra = [] if name == "local" else ["--cluster", name]
                walls[name].append(run(grid + extra, out))
                print(f"{name:>10}: {walls[name][-1]:6.1f} s", flush=True)
        here, there = (read_results(Path(tmp) / f"{n.replace(':', '-')}-0.csv")[0] for n in walls)
    keys = ["problem", "size", "operation", "backend", "mode"]
    joined = here.merge(there, on=keys, suffixes=("_here", "_cluster"))
    ok = joined[(joined["status_here"] == "ok") & (joined["status_cluster"] == "ok")]
    ratios = sorted(ok["time_s_cluster"] / ok["time_s_here"])
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [float("nan")] * 3
    print(f"cases: {len(here)} here, {len(there)} on the cluster, {len(ok)} ok in both")
    for name, values in walls.items():
        print(
            f"{name:>10}: median {statistics.median(values):.1f} s of {len(values)} "
            f"(range {min(values):.1f}-{max(values):.1f})"
        )
    print(f"speed-up: {statistics.median(walls['local']) / statistics.median(walls[f'local:{a.workers}']):.2f}x")
    print(f"time_s cluster / here per case: median {statistics.median(ratios):.3f}, quartiles {q[0]:.3f}-{q[2]:.3f}")


if __name__ == "__main__":
    main()
