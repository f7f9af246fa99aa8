"""The first command's speed, as a new user meets it: ``adbench compare`` cold (fresh cache folders), then warm (the
same folders again), and ``--quick`` the same way, N times each; prints the wall times (median, min-max), the run's
own budget accounting (spent, phases, overrun) and how many of the summary's questions were answered.

    python tools/glance_speed.py            # 3 rounds of: default cold, default warm, --quick cold, --quick warm
    python tools/glance_speed.py -n 1 --only default-cold

Targets (issue 27): default cold <= 60 s, warm <= 40 s, budget overrun <= 5 %, --quick <= 15 s; the HVP mode
questions resolved or called ties. On a shared machine the walls are slower and noisier: compare ratios from one
invocation, and quote the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("default-cold", "default-warm", "quick-cold", "quick-warm")


def run_once(args: list[str], cache_home: str, tmp: str, out_dir: Path, name: str) -> dict:
    """One ``adbench compare`` in a fresh process: its wall, exit status and the sidecar's budget and verdicts."""
    csv = out_dir / f"{name}.csv"
    env = {**os.environ, "XDG_CACHE_HOME": cache_home, "TMPDIR": tmp, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    env.pop("ADBENCH_CACHE_DIR", None)  # the cache follows XDG_CACHE_HOME, as on a user's machine
    env.pop("ADBENCH_NO_CACHE", None)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-m", "adbench", "compare", *args, "--output", str(csv)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    meta = json.loads(csv.with_suffix(".json").read_text()) if csv.with_suffix(".json").exists() else {}
    budget = meta.get("budget", {})
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rc": proc.returncode,
        "spent_s": budget.get("spent_s"),
        "budget_s": budget.get("time_budget_s"),
        "phases_s": budget.get("phases_s", {}),
        "adaptive_visits": budget.get("adaptive_visits"),
        "answers": answers(csv) if meta else {},
        "load": os.getloadavg()[0],
        "stderr_tail": proc.stderr[-300:] if proc.returncode not in (0, 1) else "",
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and the workers they reaped: the run's work,
    which a busy machine inflates far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def answers(csv: Path) -> dict:
    """The summary's questions (adbench.engine.questions) and their verdicts at 95 %: resolved, ties, open; the
    HVP mode questions apart."""
    from adbench.engine.estimates import CONFIDENCE, Estimate, decide
    from adbench.engine.questions import questions
    from adbench.engine.results import read_results
    from adbench.formatting import verdict_of

    frame, meta = read_results(csv)
    frame = frame.reset_index(drop=True)
    pairs = {}
    for a, b, log, se, df, n in meta.get("comparisons", []):
        if se is not None:
            pairs[frozenset((a, b))] = (a, b, Estimate(log, se, df if df is not None else float("inf"), n))
    out = {"resolved": 0, "ties": 0, "open": [], "hvp_modes": 0, "hvp_modes_answered": 0, "hvp_table": 0}
    out["hvp_table_answered"] = 0
    out["hvp_modes_apart"] = []  # the bound (percent) each open first-screen HVP mode question still states
    for q in questions(frame):
        if q.role == "replicates":
            continue
        found = pairs.get(frozenset((int(q.a), int(q.b))))
        verdict = decide(*found[2].log_interval(CONFIDENCE)) if found else None
        if verdict == "tie":
            out["ties"] += 1
        elif verdict:
            out["resolved"] += 1
        else:
            out["open"].append(q.label)
        # The first screen's HVP mode questions (role "modes"), and the detail tables' (one backend's faster
        # mode, "table", which a plain run prints and pursues only with --details) apart.
        if q.role in ("modes", "table") and frame.loc[int(q.a), "operation"] == "hvp":
            kind = "hvp_modes" if q.role == "modes" else "hvp_table"
            out[kind] += 1
            out[f"{kind}_answered"] += verdict is not None
            if kind == "hvp_modes" and verdict is None and found:
                out["hvp_modes_apart"].append(100 * (verdict_of(found[2]).apart - 1))
    return out


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(name: str, runs: list[dict]) -> None:
    overrun = [100 * (r["spent_s"] / r["budget_s"] - 1) for r in runs if r["spent_s"] and r["budget_s"]]
    print(
        f"{name}: {len(runs)} run(s); wall s {spread([r['wall_s'] for r in runs])}; CPU s (all processes) "
        f"{spread([r['cpu_s'] for r in runs])}; spent s "
        f"{spread([r['spent_s'] for r in runs])} of {runs[0]['budget_s']}; overrun % {spread(overrun, '{:+.0f}')}; "
        f"exit {sorted({r['rc'] for r in runs})}; load {spread([r['load'] for r in runs])}"
    )
    phases = sorted({k for r in runs for k in r["phases_s"]})
    print("  phases s: " + "; ".join(f"{k} {spread([r['phases_s'].get(k) for r in runs])}" for k in phases))
    a = [r["answers"] for r in runs if r["answers"]]
    if a:
        print(
            f"  questions: resolved {spread([x['resolved'] for x in a], '{:.0f}')}, ties "
            f"{spread([x['ties'] for x in a], '{:.0f}')}, open {spread([len(x['open']) for x in a], '{:.0f}')}; "
            f"HVP mode questions answered: first screen's {spread([x['hvp_modes_answered'] for x in a], '{:.0f}')} "
            f"of {spread([x['hvp_modes'] for x in a], '{:.0f}')}, detail tables' "
            f"{spread([x.get('hvp_table_answered', 0) for x in a], '{:.0f}')} of "
            f"{spread([x.get('hvp_table', 0) for x in a], '{:.0f}')}; the first screen's open ones within "
            f"{spread([max(x['hvp_modes_apart'], default=None) for x in a], '{:.0f}')} % (the widest per run); "
            "adaptive visits "
            f"{spread([r['adaptive_visits'] for r in runs], '{:.0f}')}"
        )
        last_open = a[-1]["open"]
        if last_open:
            print(f"  open in the last run: {', '.join(last_open)}")
    for r in runs:
        if r["stderr_tail"]:
            print(f"  failed (exit {r['rc']}): {r['stderr_tail']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=3, help="rounds of every scenario (default 3)")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios, of {', '.join(SCENARIOS)} (a warm one runs its cold one "
        "first to fill the cache, unrecorded if not asked for)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the result sets in this folder")
    args = parser.parse_args()
    wanted = args.only.split(",")
    bad = [w for w in wanted if w not in SCENARIOS]
    if bad:
        parser.error(f"unknown scenario {bad[0]!r}; valid: {', '.join(SCENARIOS)}")
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="glance-speed-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {s: [] for s in SCENARIOS}
    for i in range(args.rounds):
        for kind, flags in (("default", []), ("quick", ["--quick"])):
            if not any(w.startswith(kind) for w in wanted):
                continue
            cache_home, tmp = tempfile.mkdtemp(prefix="xdg-"), tempfile.mkdtemp(prefix="tmp-")
            for state in ("cold", "warm"):
                name = f"{kind}-{state}"
                if state == "warm" and name not in wanted:
                    continue
                run = run_once(flags, cache_home, tmp, out_dir, f"{name}-{i}")
                if name in wanted:
                    results[name].append(run)
                print(
                    f"[{i + 1}/{args.rounds}] {name}: {run['wall_s']:.1f} s wall, spent {run['spent_s']} s, "
                    f"exit {run['rc']}",
                    file=sys.stderr,
                    flush=True,
                )
    print(f"machine: {os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.1f}; results in {out_dir}")
    for name in SCENARIOS:
        if results[name]:
            report(name, results[name])


if __name__ == "__main__":
    main()
