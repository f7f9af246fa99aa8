"""``adbench compare``: build the case grid, plan and run it, and save the results (``adbench.rendering`` says
what they show)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adbench.backends import NESTED, OPERATIONS, SECOND_ORDER, as_dtype, as_operation, backend_names, get_backend
from adbench.engine.cases import CaseSpec
from adbench.engine.record import FAILED, CaseResult

# The run's defaults are declared once, with its settings; the CLI reads them here.
from adbench.engine.settings import (  # noqa: F401 (QUICK_*: read by adbench.cli as compare.QUICK_*)
    DEFAULT_COMPILE_TIMEOUT_S,
    DEFAULT_MIN_VISITS,
    DEFAULT_TIME_BUDGET_S,
    DEFAULT_TIMEOUT_S,
    DEFAULT_VISIT_S,
    DEFAULT_WORKERS,
    QUICK_MIN_VISITS,
    QUICK_TIME_BUDGET_S,
    RunSettings,
)
from adbench.engine.timing import INTERVAL_METHOD
from adbench.problems import Problem, get_problem, list_problems

if TYPE_CHECKING:  # pandas loads with the results, not with the grid: `adbench list` and --help stay light
    import pandas as pd

# sparse-jacobian runs only on problems that declare a pattern; nested only on the problems that
# differentiate inside themselves, which have no other operation.
DEFAULT_OPERATIONS = ("jacobian", "hvp", "sparse-jacobian", NESTED)
# A plain run asks the question people ask of HVPs, forward-over-reverse or reverse-over-reverse;
# --modes or --full add the other two compositions.
DEFAULT_MODES = {
    "hvp": ("forward-over-reverse", "reverse-over-reverse"),
    "hessian": ("forward-over-reverse", "reverse-over-reverse"),
}
QUICK_OPERATIONS = ("jacobian",)
# --quick leaves out the problems that declare a sparsity pattern unless they are named: ba's nine
# Jacobian cases alone took 9-11 s of --quick's 25 s on 2 cores (autograd's dense one 0.55 s a call,
# JAX's compressed ones 3-4 s to compile), against its 20 s.


def build_grid(
    problems: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    dtype: str = "float32",
    seed: int = 0,
    quick: bool = False,
    *,
    operations: Sequence[str] | None = None,
    full: bool = False,
    chunk_sizes: Sequence[int | None] = (None,),
    device: str = "cpu",
    replicates: int = 1,
) -> list[CaseSpec]:
    """Every (problem, size, operation, backend, mode[, chunk]) asked for (``operations`` by default: the
    plain run's, or with ``quick`` the Jacobian of every plain-run problem without a sparsity pattern).

    Baselines run their one mode whatever ``modes`` says. A second-order operation is left out
    for a registered problem with vector output (it has no Hessian to ask for); a user's function
    is kept and its worker decides. Chunk sizes apply to the Jacobians of backends that chunk;
    every other case runs once, unchunked. ``replicates`` > 1 adds copies of every case (an A/A
    check), each measured in worker processes of its own, beside the original in its group.
    """
    probs = (
        [get_problem(p) for p in problems]
        if problems
        else [p for p in plain_problems(quick, full) if not sizes or p.takes_any_size or set(sizes) <= set(p.presets)]
    )  # --sizes: those that take them
    backend_objs = [get_backend(b) for b in (backends or backend_names(default_only=True))]
    chosen = tuple(operations) if operations else None
    specs = []
    for problem in probs:
        ours = chosen or (QUICK_OPERATIONS if quick else DEFAULT_OPERATIONS)
        for n in sizes_for(problem, sizes, quick, full):
            m = problem.known_n_outputs(n)
            for operation in ours:
                if operation in SECOND_ORDER and m is not None and not problem.is_scalar(n):
                    continue
                if operation == "sparse-jacobian" and problem.sparsity is None:
                    continue  # no pattern declared: nothing to compress
                if problem.nested != (operation == NESTED):
                    continue
                for backend in backend_objs:
                    wanted = modes or (None if full else DEFAULT_MODES.get(operation))
                    for mode in backend.modes_for(operation):
                        if wanted and not backend.baseline and mode not in wanted:
                            continue
                        chunks = chunk_sizes if (backend.chunkable and operation == "jacobian") else (None,)
                        for chunk in dict.fromkeys(chunks):
                            for again in range(replicates):
                                specs.append(
                                    CaseSpec(
                                        problem.name,
                                        n,
                                        backend.name,
                                        mode,
                                        as_dtype(dtype),
                                        seed,
                                        as_operation(operation),
                                        chunk,
                                        device,
                                        again,
                                    )
                                )
    return specs


def plain_problems(quick: bool = False, full: bool = False) -> list[Problem]:
    """The problems a run without --problems takes: the plain run's (those a problem marks ``plain_run``),
    without the sparse ones for --quick; every registered problem with --full."""
    return [p for p in list_problems() if full or (p.plain_run and not (quick and p.sparsity is not None))]


# A user's f is tried with NumPy before the run only up to this size: a larger input is the memory guard's to
# weigh (its estimate may skip the case), not the parent's to allocate.
TRIAL_MAX_N = 100_000


def trial_size(problem: Problem, sizes: Sequence[int] | None, quick: bool, full: bool = False) -> int | None:
    """The size a user's f is tried at before the run: the smallest asked for, or None above ``TRIAL_MAX_N``."""
    n = min(sizes_for(problem, sizes, quick, full))
    return n if n <= TRIAL_MAX_N else None


def trial_error(problem: Problem, n: int, seed: int = 0) -> str | None:
    """A user's f tried once with NumPy at size ``n`` before any framework starts: its error (or a non-finite
    result) in one line, or None when it returned finite numbers."""
    import warnings

    import numpy as np

    from adbench.backends._base import bind_services
    from adbench.services import DEFAULTS

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            x = problem.inputs(n, seed)
            y = np.asarray(bind_services(problem.function, DEFAULTS)(x, np, **problem.constants(x, seed)), dtype=float)
    except Exception as exc:  # noqa: BLE001 - the user's code: anything it raises is its answer
        return f"{type(exc).__name__}: {exc}"
    bad = int(y.size - np.count_nonzero(np.isfinite(y)))
    if bad:
        return f"it returned {'NaN or infinity' if y.size == 1 else f'{bad} of {y.size} entries NaN or infinite'}"
    return None


def sizes_for(problem: Problem, sizes: Sequence[int] | None, quick: bool, full: bool = False) -> tuple[int, ...]:
    """The sizes a problem runs at: ``--sizes`` (a problem with presets takes those only: any other is a
    ValueError naming them, never run as another size); otherwise its own."""
    if sizes:
        return problem.requested_sizes(tuple(sizes))
    if quick:
        return problem.quick_sizes
    return problem.sizes if full else problem.run_sizes


def settings_for(
    *,
    threads: int = 1,
    time_budget_s: float = DEFAULT_TIME_BUDGET_S,
    min_visits: int = DEFAULT_MIN_VISITS,
    workers: int = DEFAULT_WORKERS,
    visit_s: float = DEFAULT_VISIT_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    compile_timeout_s: float = DEFAULT_COMPILE_TIMEOUT_S,
    memory_limit_gib: float | None = None,
    device: str = "cpu",
    adaptive: bool = True,
    statistic: str | None = None,
    exact_min_visits: bool = False,
) -> RunSettings:
    """The engine's settings for a comparison; ``exact_min_visits``: every case gets ``min_visits``
    (the user asked for them), not fewer for a slow one."""
    from adbench.engine.estimates import DEFAULT_STATISTIC

    settings = RunSettings(
        threads=threads,
        time_budget_s=time_budget_s,
        min_visits=min_visits,
        workers=workers,
        visit_s=visit_s,
        timeout_s=timeout_s,
        compile_timeout_s=compile_timeout_s,
        memory_limit_bytes=int(memory_limit_gib * 2**30) if memory_limit_gib else None,
        device=device,
        adaptive=adaptive,
        statistic=statistic or DEFAULT_STATISTIC,
    )
    return dataclasses.replace(settings, slow_case_s=None) if exact_min_visits else settings


def plan_words(specs: list[CaseSpec], settings: RunSettings) -> str:
    """What the run will do, said before it starts."""
    frameworks = list(dict.fromkeys((get_backend(s.backend).framework, s.replicate) for s in specs))
    groups = len({(s.problem, s.size, s.operation, s.dtype, s.chunk_size, s.device) for s in specs})
    workers = f", {settings.workers} workers each" if settings.workers != 1 else ""
    extra = "then extra visits for open comparisons" if settings.adaptive else "no extra visits"
    return (
        f"plan: {len(specs)} cases in {groups} groups, {len(frameworks)} frameworks{workers}; "
        f"{settings.time_budget_s:g} s budget (--time-budget); each case built once, then "
        f"{settings.min_visits}+ visits of ~{settings.visit_s * 1e3:g} ms (--rounds, --budget), {extra}"
    )


def grid_digest(specs: Sequence[CaseSpec]) -> str:
    """A short digest of a grid's cases, the same on every machine: shards of one grid share it."""
    import dataclasses
    import hashlib

    text = "\n".join(repr(dataclasses.astuple(s)) for s in specs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- running ------------------------------------------------------------------------------------------
@dataclass
class CompareRun:
    """What a comparison produced: the outcome, its rows as a DataFrame, its paired comparisons, and
    where they were saved."""

    outcome: Any
    frame: pd.DataFrame
    csv_path: Path
    settings: dict[str, Any] = field(default_factory=dict)
    comparisons: Any = None  # adbench.engine.estimates.Comparisons

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame["status"].isin(FAILED + ("wrong",))]


def run(
    specs: list[CaseSpec],
    *,
    output: Path | None = None,
    settings: RunSettings | None = None,
    command: str = "adbench.compare.run",
    on_result: Callable[[CaseResult], None] | None = None,
    save_interval_s: float = 10.0,
    cluster: str | None = None,
    shard: str | None = None,
    **options: Any,
) -> CompareRun:
    """Run ``specs`` and save them as a result set (a CSV and its JSON sidecar) as they finish.

    ``settings`` (``adbench.engine.runner.RunSettings``) or ``options`` for ``settings_for``.
    ``output`` defaults to a fresh ``results/compare-<UTC time>.csv`` (created exclusively). The
    set is rewritten whenever a worker is busy compiling (nothing is being timed), after a pass when
    ``save_interval_s`` have gone by since the last time, and once more at the end or when
    interrupted: an interrupted run keeps what it finished. (Not between visits: writing a set
    makes the kernel flush pages beside the next visits, and on a VM that slowed them by half.)

    ``cluster``: a Dask scheduler's address or ``local:N`` (``adbench.cluster``): the grid's groups run
    there, one per host at a time, and the set is saved as each comes back; an unreachable scheduler
    raises ``ClusterError`` before anything is written. ``shard`` ("K/N"): only the K-th of N slices of
    ``specs`` runs (``adbench.cluster.shard``), and the set records the whole grid's settings and digest,
    so ``adbench merge`` can tell the N sets belong together.
    """
    session = None
    if cluster:
        from adbench.cluster import connect

        session = connect(cluster)  # before the set exists: an unreachable scheduler leaves nothing behind
    try:
        return _run(
            specs, output, settings or settings_for(**options), command, on_result, save_interval_s, session, shard
        )
    finally:
        if session is not None:
            session.close()


def _run(
    specs: list[CaseSpec],
    output: Path | None,
    settings: RunSettings,
    command: str,
    on_result: Callable[[CaseResult], None] | None,
    save_interval_s: float,
    session: Any,
    shard: str | None,
) -> CompareRun:
    import time

    from adbench.engine.environment import environment
    from adbench.engine.estimates import STATISTIC_WORDS, Comparisons
    from adbench.engine.results import ResultWriter, check_output_path, new_run_id, reserve_default_path
    from adbench.engine.runner import RunOutcome, Scheduler

    path = check_output_path(output) if output is not None else reserve_default_path()
    grid = specs
    if shard:
        from adbench.cluster import parse_shard
        from adbench.cluster import shard as slice_of

        specs = slice_of(grid, *parse_shard(shard))
    recorded = {
        "command": command,
        "threads": settings.threads,
        "time_budget_s": settings.time_budget_s,
        "min_visits": settings.min_visits,
        "workers": settings.workers,
        "visit_s": settings.visit_s,
        "timeout_s": settings.timeout_s,
        "compile_timeout_s": settings.compile_timeout_s,
        "memory_limit_gib": round(settings.memory_limit_bytes / 2**30, 3) if settings.memory_limit_bytes else None,
        "device": settings.device,
        "adaptive": settings.adaptive,
        "dtype": sorted({s.dtype for s in grid}),
        "seed": sorted({s.seed for s in grid}),
        "operations": list(dict.fromkeys(s.operation for s in grid)),
        "statistic": f"per visit {STATISTIC_WORDS[settings.statistic]} (samples of >= 1 ms of back-to-back "
        "synced calls, after a warm-up); a case's time is the geometric mean of its visits' "
        "statistics",
        "statistic_name": settings.statistic,
        "interval": INTERVAL_METHOD,
        "shard": shard,
        "grid": grid_digest(grid) if shard else None,
        "cluster": session.address if session is not None else None,
    }
    outcome = RunOutcome()
    env = environment(outcome.versions, settings.threads, device=settings.device, framework_builds=outcome.builds)
    writer = ResultWriter(path, new_run_id(), env, recorded)
    writer.write([])  # the set exists (and the path is proven writable) before anything is timed
    last = [0.0]
    warned: list[str] = []

    def save() -> None:
        writer.noise = outcome.noise
        writer.extra = {"budget": outcome.budget, "variance": outcome.variance, "comparisons": outcome.comparisons}
        try:
            writer.write(outcome.results)
        except OSError as exc:  # a full disk mid-run: keep measuring, say so once, retry later
            if not warned:
                warned.append(str(exc))
                print(f"adbench: cannot save results to {path} ({exc}); still running, will retry", file=sys.stderr)

    def saved(result: CaseResult) -> None:
        if on_result:
            on_result(result)

    if session is not None:
        return _run_on_cluster(specs, settings, session, outcome, writer, recorded, on_result)
    scheduler = Scheduler(specs, settings, on_result=saved, outcome=outcome)

    def after_pass(_: int) -> None:
        if time.monotonic() - last[0] >= save_interval_s:
            scheduler.summarize(pairs=False)  # the pairs (a few hundred) at the end: a pass's save stays cheap
            save()
            last[0] = time.monotonic()

    def while_waiting() -> None:  # a worker is busy (a compile): the parent is free to save what is new
        scheduler.summarize(pairs=False)
        save()
        last[0] = time.monotonic()

    scheduler.on_pass, scheduler.on_checkpoint = after_pass, while_waiting
    try:
        scheduler.run()
    finally:
        writer.noise = outcome.noise
        writer.extra = {"budget": outcome.budget, "variance": outcome.variance, "comparisons": outcome.comparisons}
        writer.write(outcome.results)  # the last chance: an error here is the run's error
    from adbench.engine.results import rows_to_frame

    frame = rows_to_frame(outcome.results)
    comparisons = Comparisons.from_cases(outcome.results, outcome.comparisons)
    return CompareRun(outcome, frame, path, recorded, comparisons)


def _run_on_cluster(
    specs: list[CaseSpec],
    settings: Any,
    session: Any,
    outcome: Any,
    writer: Any,
    recorded: dict[str, Any],
    on_result: Callable[[CaseResult], None] | None,
) -> CompareRun:
    """The grid's groups on the cluster; each group's records join the set as it arrives, and the set's
    statistics are derived again per host (``adbench.engine.results.analyse_records``) and saved."""
    from adbench.cluster import run_groups
    from adbench.engine.estimates import Comparisons
    from adbench.engine.results import analyse_records, rows_to_frame

    hosts: dict[str, dict[str, Any]] = {}
    budgets: list[dict[str, Any]] = []
    cluster_words: dict[str, Any] = {"address": session.address}

    def arrived(group: Any) -> None:
        outcome.results.extend(group.results)
        outcome.versions.update({k: v for k, v in group.versions.items() if v})
        outcome.builds.update(group.builds)
        if group.host:
            hosts[group.host] = group.environment
        if group.budget:
            budgets.append(group.budget)
        for r in group.results:
            if on_result:
                on_result(r)
        save()

    def save() -> None:
        analysis = analyse_records(outcome.results, settings.statistic)
        outcome.comparisons, outcome.variance = analysis.comparisons(), analysis.variance()
        outcome.budget = _cluster_budget(budgets, settings, cluster_words)
        writer.extra = {
            "budget": outcome.budget,
            "variance": outcome.variance,
            "comparisons": outcome.comparisons,
            "hosts": hosts,
        }
        writer.write(outcome.results)

    try:
        cluster_words.update(run_groups(specs, settings, session, arrived))
        cluster_words["hosts"] = sorted(hosts)  # by the names the rows carry, not the workers' addresses
    except KeyboardInterrupt:
        import signal

        outcome.interrupted = signal.SIGINT
    finally:
        save()  # the last word: every group that came back, analysed together
    frame = rows_to_frame(outcome.results)
    return CompareRun(
        outcome, frame, writer.csv_path, recorded, Comparisons.from_cases(outcome.results, outcome.comparisons)
    )


def _cluster_budget(budgets: list[dict[str, Any]], settings: Any, cluster: dict[str, Any]) -> dict[str, Any]:
    """The groups' budgets as one: their seconds and visits summed (seconds of the hosts, not of the clock)."""
    phases: dict[str, float] = {}
    for b in budgets:
        for k, v in (b.get("phases_s") or {}).items():
            phases[k] = round(phases.get(k, 0.0) + (v or 0.0), 2)
    adaptive = [e for b in budgets for e in b.get("adaptive") or []]
    return {
        "time_budget_s": settings.time_budget_s,
        "spent_s": round(sum(b.get("spent_s", 0) for b in budgets), 2),
        "workers": settings.workers,
        "min_visits": settings.min_visits,
        "visit_s": settings.visit_s,
        "passes": sum(b.get("passes", 0) for b in budgets),
        "visits": sum(b.get("visits", 0) for b in budgets),
        "adaptive_visits": sum(b.get("adaptive_visits", 0) for b in budgets),
        "phases_s": phases,
        "adaptive": adaptive,
        "cluster": dict(cluster),
    }


def __getattr__(name: str) -> Any:
    """The presentation lives in adbench.rendering; its names stay importable from here (loaded when asked,
    with pandas)."""
    if name in ("comparison_table", "render", "summary_lines"):
        from adbench import rendering

        return getattr(rendering, name)
    raise AttributeError(f"module 'adbench.compare' has no attribute {name!r}")


__all__ = [
    "DEFAULT_OPERATIONS",
    "OPERATIONS",
    "CompareRun",
    "build_grid",
    "comparison_table",  # noqa: F822 - served lazily by __getattr__ from adbench.rendering (pandas loads only when asked)
    "plain_problems",
    "plan_words",
    "render",  # noqa: F822 - served lazily by __getattr__ from adbench.rendering (pandas loads only when asked)
    "run",
    "settings_for",
    "sizes_for",
    "summary_lines",  # noqa: F822 - served lazily by __getattr__ from adbench.rendering (pandas loads only when asked)
    "trial_error",
    "trial_size",
]
