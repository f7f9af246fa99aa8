"""The asv suite's run times, measured in a fresh clone of this repository's HEAD (docs/asv.md's table).

    python tools/asv_times.py                  # asv check and the default tier's quick run
    python tools/asv_times.py --full           # and the default tier's full run (saved in the clone only)
    python tools/asv_times.py --all-sample 50  # and one case in 50 of the all tier, quick, times 50

Each command runs with `--python=same` in a clone under a temporary folder (`git clone`, `asv machine
--yes`, PYTHONPATH and ASV_PYTHONPATH at the clone), so the repository's own results are untouched. The all tier's
estimate runs every SAMPLE-th case key of each benchmark (asv's --bench with the exact keys) and
scales each benchmark's time by its keys / keys run: an extrapolation from a sample, and said so.
The load average before and after each command is printed: on a shared machine the times are upper
bounds.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(label: str, command: list[str], clone: Path, env: dict[str, str]) -> float:
    before = load()
    start = time.perf_counter()
    out = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    failed = len(re.findall(r"\bfailed\b", out.stdout))
    print(
        f"{label}: {wall:.0f} s ({wall / 60:.1f} min), exit {out.returncode}, {failed} failed; "
        f"load {before} -> {load()}",
        flush=True,
    )
    if out.returncode not in (0, 2):
        print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
    return wall


def sample_keys(clone: Path, env: dict[str, str], every: int) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """--bench regexes for every ``every``-th key of each all-tier benchmark, and per benchmark (keys, run)."""
    code = (
        "import json; from benchmarks import ad\n"
        "print(json.dumps({n: list(c.params[0]) for n, c in (('Derivative', ad.Derivative), "
        "('Function', ad.Function), ('FirstCall', ad.FirstCall), ('Memory', ad.Memory))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, capture_output=True, text=True, check=True)
    import json

    keys = json.loads(out.stdout.strip().splitlines()[-1])
    benches, counts = [], {}
    for name, values in keys.items():
        chosen = values[::every]
        counts[name] = (len(values), len(chosen))
        benches += [f"{name}\\.\\w+\\('{re.escape(k)}'\\)" for k in chosen]
    return benches, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also the default tier's full (saved) run")
    parser.add_argument("--all-sample", type=int, metavar="N", help="also every N-th case of the all tier")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "adbench"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        # asv.conf.json tracks main; a clone of a branch holds it only as origin/main.
        subprocess.run(["git", "branch", "-q", "main", "origin/main"], cwd=clone, capture_output=True, check=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADBENCH_ASV_")}
        # asv drops PYTHONPATH from the benchmark processes (isolation); ASV_PYTHONPATH is its own.
        env["PYTHONPATH"] = env["ASV_PYTHONPATH"] = str(clone)
        subprocess.run(["asv", "machine", "--yes"], cwd=clone, env=env, capture_output=True, check=True)
        head = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=clone, text=True).strip()
        print(f"commit {head[:8]}, {os.cpu_count()} CPUs")
        timed("asv check --python=same", ["asv", "check", "--python=same"], clone, env)
        timed(
            "asv run --python=same --quick (default tier)",
            ["asv", "run", "--python=same", "--quick", "--set-commit-hash", head],
            clone,
            env,
        )
        if opts.full:
            timed(
                "asv run --python=same (default tier, saved)",
                ["asv", "run", "--python=same", "--set-commit-hash", head],
                clone,
                env,
            )
        if opts.all_sample:
            env_all = dict(env, ADBENCH_ASV_TIER="all")
            benches, counts = sample_keys(clone, env_all, opts.all_sample)
            total_keys = sum(k for k, _ in counts.values())
            run_keys = sum(r for _, r in counts.values())
            args = [a for b in benches for a in ("--bench", b)]
            wall = timed(
                f"ADBENCH_ASV_TIER=all asv run --python=same --quick, {run_keys} of {total_keys} cases",
                ["asv", "run", "--python=same", "--quick", *args],
                clone,
                env_all,
            )
            print(
                "the all tier's quick run, extrapolated from the sample: about "
                f"{wall * total_keys / run_keys / 3600:.1f} h "
                f"(a full run times each timed case in 2 rounds: roughly twice that)"
            )


if __name__ == "__main__":
    main()
