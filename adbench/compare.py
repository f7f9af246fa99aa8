"""``adbench compare``: build the case grid, plan and run it, and save the results (``adbench.rendering`` says
what they show)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adbench.backends import (
    NESTED,
    OPERATIONS,
    SECOND_ORDER,
    Operation,
    as_dtype,
    as_operation,
    backend_names,
    get_backend,
)
from adbench.engine.cases import CaseSpec
from adbench.engine.record import FAILED, CaseResult

# The run's defaults are declared once, with its settings; the CLI reads them here.
from adbench.engine.settings import (
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

    from adbench.cluster import ClusterSession
    from adbench.engine.estimates import Comparisons
    from adbench.engine.results import ResultWriter
    from adbench.engine.runner import RunOutcome

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
# The grid's inputs unless asked: the tutorial's float32, seed 0, on the CPU, each case once.
DEFAULT_DTYPE, DEFAULT_SEED, DEFAULT_DEVICE, DEFAULT_REPLICATES = "float32", 0, "cpu", 1
# --quick leaves out the problems that declare a sparsity pattern unless they are named: ba's nine
# Jacobian cases alone took 9-11 s of --quick's 25 s on 2 cores (autograd's dense one 0.55 s a call,
# JAX's compressed ones 3-4 s to compile), against its 20 s.


def build_grid(
    problems: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    dtype: str = DEFAULT_DTYPE,
    seed: int = DEFAULT_SEED,
    quick: bool = False,
    *,
    operations: Sequence[str] | None = None,
    full: bool = False,
    chunk_sizes: Sequence[int | None] = (None,),
    device: str = DEFAULT_DEVICE,
    replicates: int = DEFAULT_REPLICATES,
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
    grid_dtype = as_dtype(dtype)  # a caller's string, checked once (an unknown one is an error naming the dtypes)
    specs = []
    for problem in probs:
        ours = tuple(operations) if operations else (QUICK_OPERATIONS if quick else DEFAULT_OPERATIONS)
        for n, operation in _operations_at(problem, sizes_for(problem, sizes, quick, full), ours):
            for backend in backend_objs:
                wanted = modes or (None if full else DEFAULT_MODES.get(operation))
                for mode in backend.modes_for(operation):
                    if wanted and not backend.baseline and mode not in wanted:
                        continue
                    chunks = chunk_sizes if (backend.chunkable and operation == "jacobian") else (None,)
                    specs += [
                        CaseSpec(problem.name, n, backend.name, mode, grid_dtype, seed, operation, chunk, device, again)
                        for chunk in dict.fromkeys(chunks)
                        for again in range(replicates)
                    ]
    return specs


def _operations_at(problem: Problem, sizes: Sequence[int], operations: Sequence[str]) -> list[tuple[int, Operation]]:
    """(size, operation) pairs the problem has: no Hessian of a registered vector-valued problem, no compressed
    Jacobian without a declared pattern, and the nested operation only (and always) for a nested problem."""
    pairs = []
    for n in sizes:
        m = problem.known_n_outputs(n)
        for operation in operations:
            if operation in SECOND_ORDER and m is not None and not problem.is_scalar(n):
                continue
            if operation == "sparse-jacobian" and problem.sparsity is None:
                continue  # no pattern declared: nothing to compress
            if problem.nested != (operation == NESTED):
                continue
            pairs.append((n, as_operation(operation)))
    return pairs


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
    quick: bool = False,
    threads: int = 1,
    time_budget_s: float | None = None,
    min_visits: int | None = None,
    workers: int = DEFAULT_WORKERS,
    visit_s: float = DEFAULT_VISIT_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    compile_timeout_s: float = DEFAULT_COMPILE_TIMEOUT_S,
    memory_limit_gib: float | None = None,
    device: str = DEFAULT_DEVICE,
    adaptive: bool = True,
    detail_questions: bool = True,
    statistic: str | None = None,
    exact_min_visits: bool = False,
) -> RunSettings:
    """The engine's settings for a comparison: the time budget and visits a plain run (or with ``quick``, a
    --quick one) takes unless given; ``exact_min_visits``: every case gets ``min_visits`` (the user asked for
    them), not fewer for a slow one."""
    from adbench.engine.estimates import DEFAULT_STATISTIC

    settings = RunSettings(
        threads=threads,
        time_budget_s=time_budget_s or (QUICK_TIME_BUDGET_S if quick else DEFAULT_TIME_BUDGET_S),
        min_visits=min_visits or (QUICK_MIN_VISITS if quick else DEFAULT_MIN_VISITS),
        workers=workers,
        visit_s=visit_s,
        timeout_s=timeout_s,
        compile_timeout_s=compile_timeout_s,
        memory_limit_bytes=int(memory_limit_gib * 2**30) if memory_limit_gib else None,
        device=device,
        adaptive=adaptive,
        detail_questions=detail_questions,
        statistic=statistic or DEFAULT_STATISTIC,
    )
    return dataclasses.replace(settings, slow_case_s=None, unstated_min_visits=None) if exact_min_visits else settings


def plan_words(specs: list[CaseSpec], settings: RunSettings) -> str:
    """What the run will do, said before it starts."""
    frameworks = list(dict.fromkeys((get_backend(s.backend).framework, s.replicate) for s in specs))
    groups = len({(s.problem, s.size, s.operation, s.dtype, s.chunk_size, s.device) for s in specs})
    workers = f", {settings.workers} workers each" if settings.workers != 1 else ""
    extra = "then extra visits for open comparisons" if settings.adaptive else "no extra visits"
    floor = settings.unstated_floor
    fewer = f" ({floor} where the screen states nothing)" if floor and floor < settings.min_visits else ""
    return (
        f"plan: {len(specs)} cases in {groups} groups, {len(frameworks)} frameworks{workers}; "
        f"{settings.time_budget_s:g} s budget (--time-budget); each case built once, then "
        f"{settings.min_visits}+ visits{fewer} of ~{settings.visit_s * 1e3:g} ms (--rounds, --budget), {extra}"
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

    outcome: RunOutcome
    frame: pd.DataFrame
    csv_path: Path
    settings: dict[str, Any] = field(default_factory=dict)
    comparisons: Comparisons | None = None

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


# The run's settings by RunSettings' own names: the CLI's options that set them, and what a set's sidecar records
# (read back by merge and the report).
RUN_SETTINGS = (
    "threads",
    "time_budget_s",
    "min_visits",
    "workers",
    "visit_s",
    "timeout_s",
    "compile_timeout_s",
    "device",
    "adaptive",
    "detail_questions",
)


def recorded_settings(
    settings: RunSettings, grid: Sequence[CaseSpec], command: str, shard: str | None, cluster: str | None
) -> dict[str, Any]:
    """The sidecar's "settings": the run's, taken from the object, and what the grid asked for."""
    from adbench.engine.estimates import STATISTIC_WORDS

    memory = settings.memory_limit_bytes
    return {
        "command": command,
        **{name: getattr(settings, name) for name in RUN_SETTINGS},
        # The minimum visits of a case the run states nothing on (RunSettings.unstated_min_visits); None: min_visits.
        "unstated_min_visits": settings.unstated_floor,
        "memory_limit_gib": round(memory / 2**30, 3) if memory else None,
        "dtype": sorted({s.dtype for s in grid}),
        "seed": sorted({s.seed for s in grid}),
        "operations": list(dict.fromkeys(s.operation for s in grid)),
        "statistic": f"per visit {STATISTIC_WORDS[settings.statistic]} (samples of >= 1 ms of back-to-back "
        "synced calls, after a warm-up); a case's time is the geometric mean of its visits' statistics",
        "statistic_name": settings.statistic,
        "interval": INTERVAL_METHOD,
        "shard": shard,
        "grid": grid_digest(grid) if shard else None,
        "cluster": cluster,
    }


def _run(
    specs: list[CaseSpec],
    output: Path | None,
    settings: RunSettings,
    command: str,
    on_result: Callable[[CaseResult], None] | None,
    save_interval_s: float,
    session: ClusterSession | None,
    shard: str | None,
) -> CompareRun:
    from adbench.engine.environment import environment
    from adbench.engine.estimates import Comparisons
    from adbench.engine.results import ResultWriter, check_output_path, new_run_id, reserve_default_path, rows_to_frame
    from adbench.engine.runner import RunOutcome

    path = check_output_path(output) if output is not None else reserve_default_path()
    grid = specs
    if shard:
        from adbench.cluster import parse_shard
        from adbench.cluster import shard as slice_of

        specs = slice_of(grid, *parse_shard(shard))
    recorded = recorded_settings(settings, grid, command, shard, session.address if session is not None else None)
    outcome = RunOutcome()
    env = environment(outcome.versions, settings.threads, device=settings.device, framework_builds=outcome.builds)
    writer = ResultWriter(path, new_run_id(), env, recorded)
    writer.write([])  # the set exists (and the path is proven writable) before anything is timed
    if session is not None:
        from adbench.compare_cluster import run_on_cluster

        run_on_cluster(specs, settings, session, outcome, writer, on_result)
    else:
        _run_here(specs, settings, outcome, writer, on_result, save_interval_s)
    comparisons = Comparisons.from_cases(outcome.results, outcome.comparisons)
    return CompareRun(outcome, rows_to_frame(outcome.results), writer.csv_path, recorded, comparisons)


def _save(writer: ResultWriter, outcome: RunOutcome) -> None:
    """The set as it stands: the rows, the machine's noise, the budget, the variance and the comparisons."""
    writer.noise = outcome.noise
    writer.extra = {"budget": outcome.budget, "variance": outcome.variance, "comparisons": outcome.comparisons}
    writer.write(outcome.results)


def _run_here(
    specs: list[CaseSpec],
    settings: RunSettings,
    outcome: RunOutcome,
    writer: ResultWriter,
    on_result: Callable[[CaseResult], None] | None,
    save_interval_s: float,
) -> None:
    """The grid on this machine's workers, the set saved while a worker compiles, after a pass every
    ``save_interval_s``, and at the end (where an error writing it is the run's error)."""
    import time

    from adbench.engine.runner import Scheduler

    last = [0.0]
    warned: list[str] = []

    def save() -> None:
        try:
            _save(writer, outcome)
        except OSError as exc:  # a full disk mid-run: keep measuring, say so once, retry later
            if not warned:
                warned.append(str(exc))
                print(
                    f"adbench: cannot save results to {writer.csv_path} ({exc}); still running, will retry",
                    file=sys.stderr,
                )

    scheduler = Scheduler(specs, settings, on_result=on_result, outcome=outcome)

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
        _save(writer, outcome)  # the last chance: an error here is the run's error


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
    "RUN_SETTINGS",
    "recorded_settings",
    "run",
    "settings_for",
    "sizes_for",
    "summary_lines",  # noqa: F822 - served lazily by __getattr__ from adbench.rendering (pandas loads only when asked)
    "trial_error",
    "trial_size",
]
