"""Benchmark of the benchmark: adbench's timer against timeit, its intervals in simulation, and what real default
runs resolve, reproduce and call different, each figure printed beside its target.

    python tools/bench_the_bench.py               # timer, simulation, 2 default runs + --quick + 2 beside a
                                                  # noisy neighbour (~7 min)
    python tools/bench_the_bench.py --no-noise    # without the noisy-neighbour pair (~4 min)
    python tools/bench_the_bench.py --no-runs     # timer and simulation only (~1 min)
    python tools/bench_the_bench.py --long        # also: an A/A run (--replicates 2), a run with three worker
                                                  # processes per framework (the worker level), two more quiet
                                                  # runs (coverage by repeated runs), the per-visit statistic
                                                  # compared (~15 min)
    python tools/bench_the_bench.py --aa          # the default's runs and the A/A run (--replicates 2) (~8 min)
    python tools/bench_the_bench.py --sets DIR    # the figures again from the sets a run kept (--keep DIR)

Not a test: these are measurements on a shared machine; run them with the machine as it is and say
how it was. Definitions:

* A *pair* is two cases of one group (same problem, size, operation) that a run compares from
  their visits matched in time; its *verdict* is a winner, a tie or not resolved (adbench's rule).
* The *true gap* of a pair is the geometric mean of its ratio over every run of the same grid
  (pooled runs); POWER counts the pairs of one summary line (the AD cases and the hand-written
  baseline at the size the line speaks of) whose true gap is >= 2x (>= 1.25x) and that a run resolved.
* REPRODUCTION: of the pairs one run resolves, the share a second run orders the same way.
* A/A: cases measured twice in workers of their own (``--replicates 2``); the share of those pairs
  called different.
* COVERAGE (real runs): two runs' estimates of a pair agree within their combined interval
  (|difference| <= t * sqrt(se1² + se2²)) in the share of pairs printed; 95 % if both intervals are
  honest and nothing changed between the runs.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adbench.engine.estimates import Estimate, decide  # noqa: E402
from adbench.engine.record import case_key  # noqa: E402
from adbench.engine.results import comparisons_of, read_results, reanalyse  # noqa: E402
from adbench.engine.stats import t_critical  # noqa: E402
from adbench.engine.threads import cpus_for  # noqa: E402
from adbench.engine.timing import measure, time_block  # noqa: E402


def noop() -> None:
    return None


# -- the timer ------------------------------------------------------------------------------------------
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
    """adbench's min and median against timeit's, per workload: timeit's own way (min of 5 autorange blocks of
    at least 0.2 s), and timeit's loop sampled as adbench samples (its calls per sample and number of samples,
    right after). The second isolates the timer: a minimum over a few hundred 1 ms samples is lower than one
    over five 0.2 s blocks whatever the timer (more draws, each less likely to hold an interruption)."""
    rows = []
    for name, fn in workloads().items():
        for _ in range(rounds):
            t = timeit.Timer(fn)
            number, _ = t.autorange()
            blocks = [b / number for b in t.repeat(repeat=5, number=number)]
            ref_min = min(blocks)
            fn()
            m = measure(fn, budget_s=0.2)
            same = min(t.repeat(repeat=len(m.samples), number=m.number)) / m.number
            rows.append(
                {
                    "workload": name,
                    "timeit min": ref_min,
                    "adbench min": m.min,
                    "adbench median": m.median,
                    "min diff %": 100 * (m.min / ref_min - 1),
                    "median diff %": 100 * (m.median / ref_min - 1),
                    "same-design min diff %": 100 * (m.min / same - 1),
                }
            )
    return pd.DataFrame(rows).groupby("workload", sort=False).median(numeric_only=True)


# -- simulation -------------------------------------------------------------------------------------------
def simulation(trials: int) -> None:
    """The whole engine on a simulated machine with bursty, time-correlated noise: a default-shaped grid,
    true times known, the adaptive loop on."""
    from adbench.compare import build_grid
    from adbench.engine.simulation import Noise, pair_checks, simulated_run

    specs = [s for s in build_grid(problems=["basic", "loss", "tall", "gmm"], replicates=2)]
    rng = np.random.default_rng(0)
    true = {}

    def times(spec):
        key = (spec.problem, spec.size, spec.operation, spec.backend, spec.mode)
        if key not in true:  # log-uniform over 5 µs ... 50 ms; some pairs near-equal
            true[key] = float(np.exp(rng.uniform(np.log(5e-6), np.log(5e-2))))
        return true[key]

    noises = {
        "bursty (drift 8 %, bursts 0.3/s of 1.2-2x, visits 4 %, 3 % preempted)": Noise(
            drift_sd=0.08,
            drift_s=5.0,
            burst_rate=0.3,
            burst_s=1.5,
            burst_slowdown=(1.2, 2.0),
            visit_sd=0.04,
            sample_sd=0.03,
            preempt_p=0.03,
            process_sd=0.0,
        ),
        "bursty, and each process 2 % off per case": Noise(
            drift_sd=0.08, burst_rate=0.3, burst_s=1.5, visit_sd=0.04, preempt_p=0.03, process_sd=0.02
        ),
    }
    print(
        f"\nsimulation: {len(specs)} cases (4 problems, every case twice in workers of its own), {trials} runs per "
        "noise model, 50 s budget, adaptive loop on"
    )
    rows = []
    for name, noise in noises.items():
        found = []
        for seed in range(trials):
            outcome, sim = simulated_run(specs, times, noise, seed=seed, time_budget_s=50.0, min_visits=6)
            found += pair_checks(outcome, sim)
        frame = pd.DataFrame(found)
        aa = frame[frame["replicates"]]
        real = frame[~frame["replicates"] & (frame["truth"].abs() > 0)]
        gap = real["truth"].abs()
        rows.append(
            {
                "noise": name,
                "pairs": len(frame),
                "coverage % (target >= 95)": 100 * frame["covered"].mean(),
                "A/A called different % (<= 2)": 100 * aa["verdict"].isin(["a", "b"]).mean(),
                ">= 2x resolved % (100)": 100 * real[gap >= math.log(2)]["verdict"].isin(["a", "b"]).mean(),
                ">= 1.25x resolved % (>= 80)": 100 * real[gap >= math.log(1.25)]["verdict"].isin(["a", "b"]).mean(),
                "wrong way %": 100
                * (
                    (real["verdict"] == "a") & (real["truth"] > 0) | (real["verdict"] == "b") & (real["truth"] < 0)
                ).mean(),
            }
        )
    print(pd.DataFrame(rows).set_index("noise").to_string(float_format=lambda v: f"{v:.3g}"))


# -- real runs -------------------------------------------------------------------------------------------
def compare_run(args: list[str], output: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "adbench", "compare", *args, "--output", str(output), "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    return wall


def burn(cpus: set[int], on_s: float = 0.03, off_s: float = 0.07) -> None:
    """The noisy neighbour: pinned to the benchmark's CPUs, busy for on_s, idle for off_s, forever."""
    os.sched_setaffinity(0, cpus)
    while True:
        end = time.perf_counter() + on_s
        while time.perf_counter() < end:
            pass
        time.sleep(off_s)


class RunSet:
    """One kept run: its rows, its paired comparisons by key, its variance and budget."""

    def __init__(self, csv: Path, wall: float | None = None) -> None:
        self.path, self.wall = csv, wall
        self.frame, self.meta = read_results(csv)
        self.pairs = comparisons_of(self.meta)
        self.keys = {case_key(r): r for _, r in self.frame.iterrows()}

    def pair(self, a: tuple, b: tuple) -> Estimate | None:
        e = self.pairs.get(a, b) if self.pairs is not None else None
        return e if e is not None and math.isfinite(e.se) else None

    def all_pairs(self) -> dict[tuple, Estimate]:
        """Every paired comparison of two cases that passed, keyed (a, b) with a < b."""
        out = {}
        for (a, b), e in self.pairs.pairs.items() if self.pairs else []:
            ra, rb = self.keys.get(a), self.keys.get(b)
            if ra is None or rb is None or ra["status"] != "ok" or rb["status"] != "ok" or not math.isfinite(e.se):
                continue
            out[(a, b) if a < b else (b, a)] = e if a < b else Estimate(-e.log, e.se, e.df, e.n)
        return out

    def summary_pairs(self) -> set[tuple]:
        """Pairs of one summary line: AD cases and the hand-written baseline, first replicates, at the size
        the line speaks of (the largest where an AD case passed)."""
        from adbench.engine.questions import ad_rows

        ok = self.frame[(self.frame["status"] == "ok") & (self.frame["replicate"].fillna(0) == 0)]
        out = set()
        for _, group in ok.groupby(["problem", "operation"], sort=False):
            ad = ad_rows(group)
            if ad.empty:
                continue
            at = group[(group["size"] == ad["size"].max()) & (~group["backend"].isin(["finite-diff"]))]
            keys = sorted(case_key(r) for _, r in at.iterrows())
            out |= set(itertools.combinations(keys, 2))
        return out


def verdict(e: Estimate) -> str | None:
    return decide(*e.log_interval())


def reproduction(a: RunSet, b: RunSet) -> dict[str, float]:
    pa, pb = a.all_pairs(), b.all_pairs()
    resolved = [(k, e) for k, e in pa.items() if verdict(e) in ("a", "b") and k in pb]
    kept = sum(np.sign(e.log) == np.sign(pb[k].log) for k, e in resolved)
    both = [k for k in pa if k in pb]
    t = lambda e1, e2: t_critical(min(e1.df, e2.df))  # noqa: E731
    agree = [abs(pa[k].log - pb[k].log) <= t(pa[k], pb[k]) * math.sqrt(pa[k].se ** 2 + pb[k].se ** 2) for k in both]
    spread = []
    for key, row in a.keys.items():
        other = b.keys.get(key)
        if other is not None and row["status"] == "ok" and other["status"] == "ok" and row["time_s"] >= 1e-3:
            spread.append(100 * abs(row["time_s"] - other["time_s"]) / ((row["time_s"] + other["time_s"]) / 2))
    return {
        "pairs resolved": len(resolved),
        "ordered the same %": 100 * kept / len(resolved) if resolved else np.nan,
        "agree within intervals %": 100 * np.mean(agree) if agree else np.nan,
        "spread of times >= 1 ms, median %": np.median(spread) if spread else np.nan,
        "p90 %": np.quantile(spread, 0.9) if spread else np.nan,
    }


def power(runs: list[RunSet], pool: list[RunSet]) -> dict[str, float]:
    """Of the summary lines' pairs whose true gap (pooled over ``pool``) is >= 2x / >= 1.25x, the share each
    run resolved (winner named the right way)."""
    truth: dict[tuple, list[float]] = {}
    for r in pool:
        for k, e in r.all_pairs().items():
            truth.setdefault(k, []).append(e.log)
    gaps = {k: float(np.mean(v)) for k, v in truth.items() if len(v) == len(pool)}
    out = {}
    for limit in (2.0, 1.25):
        hits = total = 0
        missed = []
        for r in runs:
            for k in r.summary_pairs():
                if k not in gaps or abs(gaps[k]) < math.log(limit):
                    continue
                e = r.pair(*k)
                total += 1
                good = e is not None and verdict(e) == ("a" if gaps[k] < 0 else "b")
                hits += good
                if not good and limit == 2.0:
                    missed.append(
                        f"{k[0][0]} {k[0][2]}: {k[0][3]}/{k[0][4]} vs {k[1][3]}/{k[1][4]} "
                        f"({math.exp(abs(gaps[k])):.2f}x)"
                    )
        out[f"gaps >= {limit:g}x"] = total
        out[f"resolved % ({'100' if limit == 2 else '>= 80'})"] = 100 * hits / total if total else np.nan
        if limit == 2.0:
            out["missed >= 2x"] = "; ".join(missed[:4]) or "none"
    return out


def aa_figures(run: RunSet) -> dict[str, float]:
    pairs = run.all_pairs()
    twins = [(k, e) for k, e in pairs.items() if k[0][:-1] == k[1][:-1] and k[0][-1] != k[1][-1]]
    called = [verdict(e) in ("a", "b") for _, e in twins]
    ties = [verdict(e) == "tie" for _, e in twins]
    return {
        "replicate pairs": len(twins),
        "called different % (target <= 2)": 100 * np.mean(called) if called else np.nan,
        "tie %": 100 * np.mean(ties) if ties else np.nan,
    }


def components(run: RunSet) -> dict[str, float]:
    comp = (run.meta.get("variance") or {}).get("components") or {}
    keys = [
        "samples_within_visit_sd_percent",
        "calls_within_sample_sd_percent",
        "visits_within_worker_sd_percent",
        "worker_sets_sd_percent",
        "paired_same_worker_sd_percent",
        "paired_other_worker_sd_percent",
        "time_autocorrelation",
        "drift_range_percent",
    ]
    return {k.replace("_sd_percent", " sd %").replace("_", " "): comp.get(k) for k in keys}


def time_structure(run: RunSet) -> dict[str, float]:
    """From a run's visits: how long the noise stays correlated (two different cases' visit residuals,
    standardized, correlated at distances in time) and how much pairing in time leaves of two cases' variance."""
    from adbench.engine.estimates import STATISTICS

    stat = STATISTICS[(run.meta.get("settings") or {}).get("statistic_name") or "median"]
    points, by_case = [], {}
    for i, case in enumerate(run.meta.get("cases") or []):
        visits = [v for v in case.get("visits") or [] if v.get("samples")]
        if case.get("status") != "ok" or len(visits) < 4:
            continue
        y = np.log([stat(v["samples"]) for v in visits])
        sd = float(np.std(y, ddof=1))
        if sd > 0:
            points += [(v["t"], i, (value - y.mean()) / sd) for v, value in zip(visits, y)]
        by_case[i] = {(v["worker"], v["pass"]): value for v, value in zip(visits, y)}
    points.sort()
    t = np.array([p[0] for p in points])
    who = np.array([p[1] for p in points])
    z = np.array([p[2] for p in points])
    out = {}
    for lo, hi in ((0, 0.05), (0.05, 0.5), (0.5, 5), (5, 50)):
        num = den = 0.0
        for i in range(len(t)):
            j = np.searchsorted(t, t[i] + lo, side="left")
            k = np.searchsorted(t, t[i] + hi, side="left")
            if j < k:
                other = who[j:k] != who[i]
                num += float(np.sum(z[i] * z[j:k][other]))
                den += float(np.sum(other))
        out[f"r at {lo:g}-{hi:g} s"] = num / den if den else np.nan
    ratios = []
    groups: dict[tuple, list[int]] = {}
    for i in by_case:
        key = case_key(run.meta["cases"][i])
        groups.setdefault((key[0], key[1], key[2]), []).append(i)
    for members in groups.values():
        for a, b in itertools.combinations(members, 2):
            keys = sorted(set(by_case[a]) & set(by_case[b]))
            if len(keys) < 4:
                continue
            ya, yb = np.array([by_case[a][k] for k in keys]), np.array([by_case[b][k] for k in keys])
            ratios.append(np.var(ya - yb, ddof=1) / (np.var(ya, ddof=1) + np.var(yb, ddof=1)))
    out["paired / unpaired variance, median"] = float(np.median(ratios)) if ratios else np.nan
    return out


def budget(run: RunSet) -> str:
    b = run.meta.get("budget") or {}
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in (b.get("phases_s") or {}).items())
    return (
        f"{b.get('spent_s')} s of {b.get('time_budget_s')} s: {phases}; {b.get('visits')} visits "
        f"({b.get('adaptive_visits')} adaptive, {b.get('adaptive_looks')} looks)"
    )


def statistic_study(runs: list[RunSet], tmp: Path) -> None:
    """Each run re-analysed with each per-visit statistic: reproduction and power, side by side."""
    rows = []
    for statistic in ("median", "min", "q25"):
        again = []
        for r in runs:
            target = tmp / f"{r.path.stem}-{statistic}.csv"
            again.append(RunSet(reanalyse(r.path, target, statistic=statistic)))
        figures = {"statistic": statistic}
        repro = [reproduction(a, b) for a, b in zip(again[::2], again[1::2])]
        figures["pairs resolved"] = np.mean([x["pairs resolved"] for x in repro])
        figures["ordered the same %"] = np.mean([x["ordered the same %"] for x in repro])
        figures["agree within intervals %"] = np.mean([x["agree within intervals %"] for x in repro])
        p = power(again, again)
        figures[">= 1.25x resolved %"] = p["resolved % (>= 80)"]
        figures[">= 2x resolved %"] = p["resolved % (100)"]
        figures["median paired se %"] = 100 * np.median([e.se for r in again for e in r.all_pairs().values()])
        rows.append(figures)
    print("\nthe per-visit statistic, each run re-analysed (reproduction over run pairs; power over these runs)")
    print(pd.DataFrame(rows).set_index("statistic").to_string(float_format=lambda v: f"{v:.3g}"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-runs", action="store_true", help="timer and simulation only")
    parser.add_argument("--no-noise", action="store_true", help="skip the pair of runs beside a noisy neighbour")
    parser.add_argument(
        "--long",
        action="store_true",
        help="also the A/A run, the worker-level run, two more quiet runs and the per-visit statistic compared",
    )
    parser.add_argument(
        "--aa", action="store_true", help="also the A/A run (--replicates 2), without the rest of --long"
    )
    parser.add_argument("--trials", type=int, default=6, help="simulated runs per noise model (6)")
    parser.add_argument("--keep", type=Path, help="keep every run's set in this folder")
    parser.add_argument("--sets", type=Path, help="the figures from the sets of an earlier --keep, without running")
    args = parser.parse_args()

    if args.sets is None:
        ours, theirs, ratio = timer_overhead()
        print(
            f"timer overhead, no-op callable: adbench {ours:.1f} ns/call, timeit {theirs:.1f} ns/call, "
            f"ratio {ratio:.2f}x (target <= 1.5x)"
        )
        table = agreement()
        print(
            "\nagreement with timeit (medians over 3 rounds; targets: min within ±3% of timeit's loop sampled as"
            " adbench samples ('same-design'), median within -2...+10% of timeit's own min; timeit's own min, of"
            " five 0.2 s blocks, sits above a min of many 1 ms samples by design)"
        )
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
        simulation(args.trials)
        if args.no_runs:
            return
    tmp_dir = tempfile.TemporaryDirectory()
    folder = args.sets or args.keep or Path(tmp_dir.name)
    folder.mkdir(parents=True, exist_ok=True)
    walls: dict[str, float] = {}

    def run(name: str, extra: list[str], neighbour: bool = False) -> RunSet:
        csv = folder / f"{name}.csv"
        if args.sets is None:
            proc = None
            if neighbour:
                proc = multiprocessing.Process(target=burn, args=(cpus_for(1),), daemon=True)
                proc.start()
            try:
                walls[name] = compare_run(extra, csv)
            finally:
                if proc is not None:
                    proc.terminate()
        return RunSet(csv, walls.get(name))

    quiet = [run("quiet0", []), run("quiet1", [])]
    quick = run("quick", ["--quick"])
    noisy = [] if args.no_noise else [run("noisy0", [], True), run("noisy1", [], True)]
    extra_quiet, aa, workers3 = [], None, None
    if args.long:
        extra_quiet = [run("quiet2", []), run("quiet3", [])]
    if args.long or args.aa:
        aa = run("aa", ["--replicates", "2"])
    if args.long:
        workers3 = run("workers3", ["--workers", "3"])

    print(
        "\nwall time (targets: default <= 60 s, --quick <= 20 s): "
        + ", ".join(f"{n} {w:.1f} s" for n, w in walls.items())
        if walls
        else ""
    )
    for r in [*quiet, quick, *noisy]:
        print(f"  {r.path.stem}: budget {budget(r)}")
    everything = quiet + extra_quiet
    figures = {"quiet": {**reproduction(*quiet), **power(quiet, everything)}}
    if noisy:
        figures["beside the noisy neighbour"] = {**reproduction(*noisy), **power(noisy, everything)}
    print(
        "\ntwo back-to-back default runs (targets: of the pairs one run resolves, >= 99 % ordered the same by the "
        "other; every gap >= 2x within a summary line resolved, >= 80 % of those >= 1.25x; beside the neighbour "
        ">= 90 % of the >= 2x gaps). 'agree within intervals': two runs' estimates of a pair within their "
        "combined 95 % interval (95 % if honest and nothing changed between the runs)"
    )
    frame = pd.DataFrame(figures).T
    print(frame.drop(columns=["missed >= 2x"]).to_string(float_format=lambda v: f"{v:.3g}"))
    for name, f in figures.items():
        print(f"  {name}: missed >= 2x: {f['missed >= 2x']}")
    print(
        "\nvariance components (sd of log times, %; pooled over each run's cases), how long the noise stays "
        "correlated in time (r: two different cases' standardized visit residuals, by their distance in time) "
        "and what pairing in time leaves of two cases' variance"
    )
    shown = [*quiet, *noisy, *([workers3] if workers3 else [])]
    comp = {r.path.stem: {**components(r), **time_structure(r)} for r in shown}
    print(pd.DataFrame(comp).to_string(float_format=lambda v: f"{v:.3g}"))
    if len(everything) >= 4:
        pairs = [reproduction(a, b) for a, b in itertools.combinations(everything, 2)]
        print(
            f"\ncoverage by repeated runs ({len(everything)} quiet runs, {len(pairs)} run pairs): two runs' "
            f"estimates of a pair agree within their combined interval in "
            f"{np.mean([p['agree within intervals %'] for p in pairs]):.1f} % of pairs (95 % expected); "
            f"ordered the same {np.mean([p['ordered the same %'] for p in pairs]):.2f} %"
        )
    if aa is not None:
        print(
            "\nA/A: every case twice, in workers of its own (--replicates 2): "
            + ", ".join(f"{k} {v:.3g}" for k, v in aa_figures(aa).items())
            + f"; wall {aa.wall or 0:.0f} s"
        )
    if workers3 is not None:
        comp = components(workers3)
        print(
            f"\nworker level (--workers 3): worker sets sd {comp.get('worker sets sd %')} % against visits within a "
            f"worker {comp.get('visits within worker sd %')} %; wall {workers3.wall or 0:.0f} s"
        )
    if args.long and len(everything) >= 2:
        statistic_study(everything, folder / "statistics")
    if args.keep is None and args.sets is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
