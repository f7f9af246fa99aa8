"""The ``adbench`` command line: ``list``, ``compare``, ``merge`` and ``report``."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # imported where used at run time: `adbench --help` and `list` stay fast
    import pandas as pd
    import tqdm

    from adbench.backends.modes import ModeName, Operation
    from adbench.engine.record import CaseResult
    from adbench.findings import KnownDefect

# Imported here, not in main(): an interrupt while main() imported it escaped main's own handler (a traceback
# and exit -2, tests/faults/test_signals.py's early Ctrl-C); at import time __main__ catches it.
from adbench.errors import Terminated

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE = 0, 1, 2
# A shell's status for a process ended by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
FORMATS = ("table", "csv", "json", "markdown")
EXIT_CODES = (
    f"exit codes: {EXIT_OK} the run finished and no case failed by --fail-on (known framework defects are "
    f"findings, not failures); {EXIT_CASE_FAILED} a case failed by --fail-on, or the results could not be "
    f"saved; {EXIT_USAGE} bad arguments, or your function failed its NumPy trial; {EXIT_INTERRUPTED} "
    f"interrupted (Ctrl-C); {EXIT_TERMINATED} terminated (SIGTERM). Finished cases are saved in every case. "
    "See docs/compare.md."
)


class UsageError(ValueError):
    """Bad command-line input: exit status 2, with a message that names the flag and the valid choices."""


# -- argument types: each names its flag and the valid range --------------------------------------------
def names(flag: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
        if not items:
            raise argparse.ArgumentTypeError(f"{flag} needs at least one name, not {text!r}")
        return items

    return parse


def positive_ints(flag: str, allow_none: bool = False) -> Callable[[str], list[int | None]]:
    def parse(text: str) -> list[int | None]:
        values: list[int | None] = []
        for item in (t.strip() for t in text.split(",")):
            if allow_none and item.lower() in ("none", "full"):
                values.append(None)
                continue
            try:
                value = int(item)
            except ValueError:
                value = 0
            if value < 1:
                extra = " (or none: unchunked)" if allow_none else ""
                raise argparse.ArgumentTypeError(f"{flag} takes comma-separated positive integers{extra}, not {text!r}")
            values.append(value)
        return list(dict.fromkeys(values))

    return parse


def positive_number(flag: str, unit: str, maximum: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        top = f" and at most {maximum:g}" if maximum else ""
        if not math.isfinite(value) or value <= 0 or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number of {unit} above 0{top}, not {text!r}")
        return value

    return parse


def int_in(flag: str, lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lo - 1
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer from {lo} to {hi}, not {text!r}")
        return value

    return parse


def _total_memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0


def _default_memory_limit_gib() -> float:
    return round(_total_memory_gib() / 2, 1)  # half the machine: room for the parent and the OS


# -- list -----------------------------------------------------------------------------------------
def _operations_words(operations: Mapping[Operation, Sequence[ModeName]]) -> str:
    """'jacobian: forward, reverse; jvp; vjp; hvp: all 4 compositions': an operation with its one natural mode
    (jvp forward, vjp reverse, a baseline's own) is named alone."""
    from adbench.backends import COMPOSITIONS

    def words(op: str, modes: Sequence[str]) -> str:
        if len(modes) == 1 and (
            op in ("jvp", "vjp") or "-over-" not in modes[0] and modes[0] not in ("forward", "reverse")
        ):
            return op
        return f"{op}: {'all 4 compositions' if tuple(modes) == COMPOSITIONS else ', '.join(modes)}"

    return "; ".join(words(op, ms) for op, ms in operations.items())


def cmd_list(args: argparse.Namespace) -> int:
    """Problems and backends, fitted to the terminal; frameworks are looked up, not imported (versions from
    their package metadata), so it takes well under a second."""
    from adbench.backends import backend_names, list_backends
    from adbench.problems import list_problems
    from adbench.terminal import terminal_width, text_table, wrap

    width = terminal_width()
    every = list_problems()
    problems = [
        (
            p.name,
            ", ".join(map(str, p.run_sizes)) if p.plain_run else "–",
            ", ".join(f"{n} ({p.presets[n]})" if n in p.presets else str(n) for n in p.sizes),
            p.description,
        )
        for p in every
    ]
    print(
        wrap(
            f"Problems ({sum(p.plain_run for p in every)} of {len(every)} in a plain compare: those with a plain "
            "run n; the others by --problems or --full)",
            width,
        )
    )
    print(text_table(("problem", "plain run n", "sizes n", "description"), problems, width))
    default = set(backend_names(default_only=True))
    backends = [
        (
            b.name + ("" if b.name in default else " °"),
            b.version if b.available else "–",
            _operations_words(b.operations),
            "" if b.available else b.reason,
        )
        for b in list_backends(import_frameworks=False)
    ]
    print(
        "\n"
        + wrap(
            "Backends (° not in a plain compare, slow to set up: ask with --backends; versions from package metadata)",
            width,
        )
    )
    print(
        text_table(("backend", "version", "operations: modes", "unavailable because"), backends, width)
        if any(row[3] for row in backends)
        else text_table(("backend", "version", "operations: modes"), [row[:3] for row in backends], width)
    )
    return EXIT_OK


# -- compare --------------------------------------------------------------------------------------
# What fails a run (--fail-on): a case's status, unless a known framework defect explains it ("known" fails on
# those too). A failure of the suite itself (bad arguments, results not saved) is non-zero whatever it says.
FAIL_ON_STATUSES = ("wrong", "error", "timeout", "compile-timeout", "memory")
FAIL_ON_CHOICES = FAIL_ON_STATUSES + ("known", "none")
DEFAULT_FAIL_ON = FAIL_ON_STATUSES


def fail_on(text: str) -> frozenset[str]:
    """--fail-on's comma-separated statuses (or 'none'), each checked against the choices."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in FAIL_ON_CHOICES]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"--fail-on takes comma-separated names from {', '.join(FAIL_ON_CHOICES)}, not {bad[0] if bad else text!r}"
        )
    if "none" in items and len(items) > 1:
        raise argparse.ArgumentTypeError(f"--fail-on none stands alone, not with {', '.join(set(items) - {'none'})}")
    return frozenset() if items == ["none"] else frozenset(items)


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """compare's flags in four groups; every default printed is the constant the run uses."""
    from adbench import compare
    from adbench.backends import backend_names
    from adbench.engine.threads import DEFAULT_THREADS
    from adbench.problems import get_problem

    plain = [q.name for q in compare.plain_problems()]
    every = [q.name for q in compare.plain_problems(full=True)]
    left_out = [b for b in backend_names() if b not in backend_names(default_only=True)]
    what = p.add_argument_group("what to run")
    what.add_argument(
        "--problems",
        type=names("--problems"),
        help=f"comma-separated problem names (default: the plain run's {len(plain)} of {len(every)}: "
        f"{', '.join(plain)}; --full: all)",
    )
    what.add_argument(
        "--problem",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="your own f(x, xp[, **constants]), from a module or a .py file (its module-level "
        "constants(n, seed) supplies the data); tried once with NumPy first; repeatable; "
        "runs at --sizes",
    )
    what.add_argument(
        "--constants",
        metavar="FILE",
        help="x and constants of the one problem --problems names, from FILE: .npz (arrays by "
        "constant name, x as 'x'), gradbench's input JSON, or ADBench's .txt data (ba, gmm, ht)",
    )
    what.add_argument(
        "--backends",
        type=names("--backends"),
        help=f"comma-separated backends (default: {', '.join(backend_names(default_only=True))}; "
        f"not {', '.join(left_out)}, slow to set up: ask by name)",
    )
    what.add_argument(
        "--operations",
        type=names("--operations"),
        help=f"jacobian, jvp, vjp, hvp, hessian, sparse-jacobian, nested, comma-separated (default: "
        f"{','.join(compare.DEFAULT_OPERATIONS)}, each where the problem has it; "
        f"{','.join(compare.QUICK_OPERATIONS)} with --quick)",
    )
    what.add_argument(
        "--modes",
        type=names("--modes"),
        help="forward, reverse and, for hvp/hessian, compositions such as forward-over-reverse "
        "(default: forward and reverse; for hvp/hessian "
        f"{' and '.join(compare.DEFAULT_MODES['hvp'])}; --full: every mode)",
    )
    what.add_argument(
        "--sizes",
        type=positive_ints("--sizes"),
        help="comma-separated input sizes n for problems that take any n; a problem with presets takes its "
        "presets only (default: each problem's; "
        f"your own function: {','.join(map(str, get_problem(lambda x, xp: x).run_sizes))})",
    )
    scope = what.add_mutually_exclusive_group()
    scope.add_argument(
        "--quick",
        action="store_true",
        help=f"a first look: one size per problem, {','.join(compare.QUICK_OPERATIONS)} only, "
        f"{compare.QUICK_MIN_VISITS} visits, a {compare.QUICK_TIME_BUDGET_S:g} s budget",
    )
    scope.add_argument("--full", action="store_true", help="every preset and size of every problem (long)")
    what.add_argument("--dtype", default="float32", help="float32 (default, as in the tutorial) or float64")
    what.add_argument(
        "--seed", type=int_in("--seed", 0, 2**32 - 1), default=0, help="seed of the deterministic inputs (default 0)"
    )
    what.add_argument(
        "--chunk-size",
        type=positive_ints("--chunk-size", allow_none=True),
        default=None,
        metavar="K[,K...]",
        help="basis vectors per vectorised pass for Jacobians (jax, torch); "
        "several give a memory-time trade-off; 'none' is unchunked (default: none)",
    )
    what.add_argument("--device", default="cpu", help="cpu (default) or cuda")

    how = p.add_argument_group("how long and how hard to measure")
    how.add_argument(
        "--time-budget",
        type=positive_number("--time-budget", "seconds", 86400),
        default=None,
        metavar="SECONDS",
        help=f"seconds the whole run may take: worker starts, first builds, the "
        f"minimum visits, then visits for the comparisons still open (default "
        f"{compare.DEFAULT_TIME_BUDGET_S:g}; {compare.QUICK_TIME_BUDGET_S:g} with --quick)",
    )
    how.add_argument(
        "--rounds",
        type=int_in("--rounds", 1, 1000),
        default=None,
        help=f"the least visits of every case, each a few calibrated samples (default "
        f"{compare.DEFAULT_MIN_VISITS}, 2 for a slow case; {compare.QUICK_MIN_VISITS} with "
        "--quick); made even past the time budget",
    )
    how.add_argument(
        "--budget",
        type=positive_number("--budget", "seconds", 3600),
        default=None,
        metavar="SECONDS",
        help=f"sampled seconds of the operation per visit (default {compare.DEFAULT_VISIT_S:g})",
    )
    how.add_argument(
        "--no-adaptive",
        dest="adaptive",
        action="store_false",
        help="no visits beyond --rounds: leave the time budget unspent",
    )
    how.add_argument(
        "--statistic",
        default=None,
        help="per-visit statistic: min (default: the fastest of a visit's samples), median or q25",
    )
    how.add_argument(
        "--workers",
        type=int_in("--workers", 1, 16),
        default=compare.DEFAULT_WORKERS,
        help=f"fresh worker processes per framework, each building and visiting every case "
        f"(default {compare.DEFAULT_WORKERS})",
    )
    how.add_argument(
        "--replicates",
        type=int_in("--replicates", 1, 8),
        default=1,
        help="measure every case this many times, each copy in worker processes of its own (an "
        "A/A check of the engine: copies must not be called different; default 1)",
    )
    how.add_argument(
        "--threads",
        type=int_in("--threads", 1, 4096),
        default=DEFAULT_THREADS,
        help=f"threads for every framework (default {DEFAULT_THREADS}: equal, and quiet on a shared machine)",
    )
    how.add_argument(
        "--timeout",
        type=positive_number("--timeout", "seconds", 86400),
        default=60.0,
        metavar="SECONDS",
        help="a visit (or a build after its first call) running longer is recorded as timeout (default 60)",
    )
    how.add_argument(
        "--compile-timeout",
        type=positive_number("--compile-timeout", "seconds", 86400),
        default=300.0,
        metavar="SECONDS",
        help="a first call (trace, compile, run) running longer is recorded as compile-timeout (default 300)",
    )
    how.add_argument(
        "--memory-limit",
        type=positive_number("--memory-limit", "GiB", 1 << 20),
        default=_default_memory_limit_gib(),
        metavar="GIB",
        help="skip cases estimated above this, and kill a worker whose memory passes it (default: half the RAM)",
    )

    out = p.add_argument_group("what is shown, where results go, what fails the run")
    out.add_argument(
        "--output",
        type=Path,
        help="results CSV path (a JSON sidecar goes beside it); default results/compare-<UTC time>.csv",
    )
    out.add_argument(
        "--format",
        default="table",
        help=f"what to print: {', '.join(FORMATS)} (default table: the answers on one screen)",
    )
    out.add_argument(
        "--details",
        action="store_true",
        help="after the answers, every backend's table and the verdicts with their 95%% intervals "
        "and theory (markdown always has them)",
    )
    out.add_argument(
        "--fail-on",
        type=fail_on,
        default=frozenset(DEFAULT_FAIL_ON),
        metavar="STATUS[,STATUS...]",
        help=f"exit {EXIT_CASE_FAILED} when a case ends with one of these statuses and no known "
        f"framework defect explains it: {', '.join(FAIL_ON_STATUSES)}; add 'known' to fail on "
        f"explained ones too, or 'none' (default {','.join(DEFAULT_FAIL_ON)})",
    )

    scale = p.add_argument_group("scale-out")
    scale.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="run the grid's case groups on a Dask cluster: a scheduler's address (tcp://HOST:8786; "
        "its workers started with --nthreads 1 --resources bench=1) or local:N for N one-slot "
        "workers here; each group runs whole on one host, the set is saved as groups finish "
        "(pip install 'adbench[cluster]')",
    )
    scale.add_argument(
        "--shard",
        metavar="K/N",
        default=None,
        help="run only the K-th of N deterministic slices of the grid (whole case groups), e.g. on "
        "N machines by hand or from a batch scheduler; `adbench merge` joins the N sets",
    )


def _validate_compare(args: argparse.Namespace) -> None:
    """Check every name and path before starting any worker, so a typo costs nothing."""
    from adbench.backends import AD_MODES, COMPOSITIONS, DEVICES, DTYPES, OPERATIONS, get_backend
    from adbench.engine.results import check_output_path
    from adbench.engine.threads import check_threads
    from adbench.errors import UnknownChoiceError
    from adbench.problems import get_problem

    try:
        if args.format not in FORMATS:
            raise UnknownChoiceError("format", args.format, FORMATS)
        from adbench.engine.estimates import STATISTICS

        if args.statistic is not None and args.statistic not in STATISTICS:
            raise UnknownChoiceError("statistic", args.statistic, STATISTICS)
        if args.dtype not in DTYPES:
            raise UnknownChoiceError("dtype", args.dtype, DTYPES)
        if args.device not in DEVICES:
            raise UnknownChoiceError("device", args.device, DEVICES)
        for op in args.operations or ():
            if op not in OPERATIONS:
                raise UnknownChoiceError("operation", op, OPERATIONS)
        for mode in args.modes or ():
            if mode not in AD_MODES + COMPOSITIONS:
                raise UnknownChoiceError("mode", mode, AD_MODES + COMPOSITIONS)
        for name in args.backends or ():
            get_backend(name)
        if args.constants:  # one registered problem at the instance in FILE: runs as NAME@FILE
            from adbench.problems.inputs import problems_at_file

            args.problems = problems_at_file(args.problems, args.constants)
        for name in args.problems or ():
            get_problem(name).requested_sizes(args.sizes or ())  # a preset problem refuses other sizes, by name
        for spec in args.problem:
            if ":" not in spec:
                from adbench.problems import list_problems

                hint = (
                    f"; {spec!r} is a registered problem: use --problems {spec}"
                    if spec in {p.name for p in list_problems()}
                    else ""
                )
                raise UsageError(
                    f"--problem takes MODULE:FUNCTION (your own f(x, xp), e.g. mymodule:f or "
                    f"./file.py:f), not {spec!r}{hint}"
                )
            get_problem(spec)
        check_threads(args.threads)
        if args.cluster is not None:
            from adbench.cluster import parse_address

            parse_address(args.cluster)
        if args.shard is not None:
            from adbench.cluster import parse_shard

            parse_shard(args.shard)
        if args.device == "cuda":
            from adbench.engine.environment import visible_gpus

            if not visible_gpus():
                raise UsageError(
                    f"--device cuda: no CUDA GPU is visible here (nvidia-smi finds none); devices "
                    f"found: cpu ({os.cpu_count()} CPUs). Run with --device cpu"
                )
        # Where the results will go, default or not, is checked before anything is timed.
        check_output_path(args.output if args.output is not None else Path("results") / "compare-check.csv")
    except UsageError:
        raise
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_compare(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    from adbench import compare

    _validate_compare(args)
    problems = list(args.problems or [])
    problems += args.problem
    if args.problem and not args.problems:
        problems = list(args.problem)  # --problem alone means: just my function
    _try_user_functions(args)
    operations = args.operations  # None: the plain run's, or --quick's (compare.build_grid)
    specs = compare.build_grid(
        problems or None,
        args.backends,
        args.modes,
        args.sizes,
        args.dtype,
        args.seed,
        args.quick,
        operations=operations,
        full=args.full,
        chunk_sizes=args.chunk_size or (None,),
        device=args.device,
        replicates=args.replicates,
    )
    if not specs:
        raise UsageError("nothing to run: no backend offers the operations and modes asked for (see `adbench list`)")
    if args.shard:
        from adbench.cluster import case_groups, parse_shard, shard

        k, n = parse_shard(args.shard)
        groups = len(case_groups(specs))
        if not shard(specs, k, n):  # compare.run runs the slice, recording the whole grid's settings
            raise UsageError(
                f"--shard {args.shard}: the grid has {groups} case groups, so slice {k} of {n} is "
                f"empty; use N <= {groups}"
            )
    settings = compare.settings_for(
        threads=args.threads,
        time_budget_s=args.time_budget
        or (compare.QUICK_TIME_BUDGET_S if args.quick else compare.DEFAULT_TIME_BUDGET_S),
        min_visits=args.rounds or (compare.QUICK_MIN_VISITS if args.quick else compare.DEFAULT_MIN_VISITS),
        workers=args.workers,
        visit_s=args.budget or compare.DEFAULT_VISIT_S,
        timeout_s=args.timeout,
        compile_timeout_s=args.compile_timeout,
        memory_limit_gib=args.memory_limit,
        device=args.device,
        adaptive=args.adaptive,
        statistic=args.statistic,
        exact_min_visits=args.rounds is not None,
    )
    from adbench.rendering import terminal_width, wrap

    width = terminal_width()
    print(wrap(f"adbench compare: {compare.plan_words(specs, settings)}", width), file=sys.stderr)
    if args.cluster:
        from adbench.cluster import local_share_words

        note = local_share_words(args.cluster, args.threads)
        if note:
            print(f"adbench compare: note: {note}", file=sys.stderr)
    progress = _progress_bar(settings.time_budget_s)
    started = time.monotonic()

    def advance(result: CaseResult) -> None:
        if progress is not None:
            progress.set_postfix_str(
                f"{result.problem} n={result.size} {result.operation} {result.backend}/{result.mode}", refresh=False
            )
            progress.update(round(min(time.monotonic() - started, progress.total) - progress.n, 1))

    from adbench.cluster import ClusterError

    try:
        done = compare.run(
            specs,
            output=args.output,
            settings=settings,
            command="adbench " + " ".join(argv),
            on_result=advance,
            cluster=args.cluster,
            shard=args.shard,
        )
    except ClusterError as exc:  # before anything ran or was written
        print(f"adbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the results could not be written (a full disk, a vanished folder)
        print(f"adbench compare: error: cannot save the results: {exc}", file=sys.stderr)
        return EXIT_CASE_FAILED
    finally:
        if progress is not None:
            progress.close()
    outcome, frame = done.outcome, done.frame
    explained = known_defects(frame)
    try:
        if len(frame):
            print(
                compare.render(
                    frame,
                    args.format,
                    outcome.noise,
                    done.comparisons,
                    outcome.budget,
                    details=args.details,
                    width=width,
                    explained=explained,
                ),
                end="",
            )
    except KeyboardInterrupt:  # the data are saved: say where, then stop
        outcome.interrupted = outcome.interrupted or signal.SIGINT
    _report_cases(frame, done.csv_path, explained, width)
    if outcome.interrupted:
        terminated = outcome.interrupted == signal.SIGTERM
        print(
            f"{'terminated' if terminated else 'interrupted'}: kept the finished cases in {done.csv_path}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    failing = failing_cases(frame, args.fail_on, explained)
    if len(failing):
        print(
            wrap(
                f"adbench compare: exit {EXIT_CASE_FAILED}: {len(failing)} case(s) "
                f"{', '.join(sorted(set(failing['status'])))} that no known framework defect explains "
                f"(--fail-on {','.join(sorted(args.fail_on))})",
                width,
            ),
            file=sys.stderr,
        )
        return EXIT_CASE_FAILED
    return EXIT_OK


def known_defects(frame: pd.DataFrame) -> dict[Hashable, KnownDefect]:
    """Row index -> the known framework defect (``adbench.findings``) that explains that row, for rows not ok."""
    from adbench.findings import explaining

    if not len(frame):
        return {}
    return {
        index: defect
        for index, row in frame[frame["status"] != "ok"].iterrows()
        if (defect := explaining(row)) is not None
    }


def failing_cases(
    frame: pd.DataFrame, statuses: frozenset[str], explained: Mapping[Hashable, KnownDefect]
) -> pd.DataFrame:
    """The rows that fail the run under --fail-on ``statuses``: a listed status, not explained by a known
    defect unless 'known' is listed too."""
    if not len(frame):
        return frame
    listed = frame["status"].isin(sorted(statuses & set(FAIL_ON_STATUSES)))
    unexplained = ~frame.index.isin(list(explained)) | ("known" in statuses)
    return frame[listed & unexplained]


def _try_user_functions(args: argparse.Namespace) -> None:
    """Each --problem function tried once with NumPy at its smallest size, before any worker starts: an
    exception or a non-finite result refuses the run here, in one message, instead of in every framework."""
    from adbench import compare
    from adbench.problems import get_problem

    for spec in args.problem:
        problem = get_problem(spec)
        n = compare.trial_size(problem, args.sizes, args.quick, args.full)
        error = compare.trial_error(problem, n, args.seed) if n is not None else None
        if error is not None:
            raise UsageError(
                f"your function {spec} failed its NumPy trial at n={n}: {error}. No framework was "
                "started; fix f (or choose --sizes) and run again"
            )


def _report_cases(
    frame: pd.DataFrame, csv_path: Path, explained: Mapping[Hashable, KnownDefect] | None = None, width: int = 100
) -> None:
    """Counts, where the set went, every case that is not ok with its reason (a known framework defect named),
    and the baselines skipped by design (no hand-written derivative) in one line."""
    import pandas as pd

    from adbench.engine.record import STATUSES
    from adbench.rendering import skipped_by_design, wrap

    explained = explained or {}
    counts = frame["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s)]
    known = f" ({len(explained)} by known framework defects)" if explained else ""
    print(
        "\n"
        + wrap(
            f"{len(frame)} cases: {', '.join(parts) or 'none finished'}{known}. Results: {csv_path} (+ .json)", width
        ),
        file=sys.stderr,
    )
    by_design = skipped_by_design(frame)
    for index, row in frame[(frame["status"] != "ok") & ~by_design].iterrows():
        chunk = f" chunk={int(row['chunk_size'])}" if pd.notna(row["chunk_size"]) else ""
        defect = explained.get(index)
        why = f" [known: {defect.framework} {row['framework_version']}, {defect.upstream}]" if defect else ""
        # One line each, unwrapped: an error message is quoted whole, for a reader's search (and grep's).
        print(
            f"  {row['status']}: {row['problem']} n={row['size']} {row['operation']} {row['backend']}/"
            f"{row['mode']}{chunk}{why}: {row['error']}",
            file=sys.stderr,
        )
    skipped = frame[by_design]
    if len(skipped):
        what = ", ".join(dict.fromkeys(f"{r.problem} {r.operation}" for r in skipped.itertuples()))
        print(
            wrap(
                f"skipped by design: {len(skipped)} baseline case(s) with no hand-written derivative to time "
                f"({', '.join(dict.fromkeys(skipped['backend']))}: {what})",
                width,
                "  ",
            ),
            file=sys.stderr,
        )


def _progress_bar(total: float) -> tqdm.tqdm | None:
    """A tqdm bar of the time budget on stderr when it is a terminal; nothing in CI logs or pipes."""
    if not sys.stderr.isatty():
        return None
    try:
        import tqdm
    except ImportError:
        return None
    tqdm.tqdm.monitor_interval = 0  # no monitor thread: workers are started with preexec_fn
    return tqdm.tqdm(
        total=total,
        unit="s",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}",
    )


# -- merge ----------------------------------------------------------------------------------------
def cmd_merge(args: argparse.Namespace) -> int:
    from adbench.merge import MergeError, merge

    try:
        out = merge(args.sets, args.output)
    except MergeError as exc:
        print(f"adbench merge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"adbench merge: {out.cases} cases from {len(args.sets)} sets, {out.hosts} host(s): {out.path} (+ .json)",
        file=sys.stderr,
    )
    return EXIT_OK


# -- report ---------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from adbench import report

    return report.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adbench",
        description="Benchmark automatic differentiation: forward vs reverse mode, JAX vs PyTorch vs autograd.",
        epilog=EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p_list = sub.add_parser("list", help="problems and backends (available or not, with versions)")
    p_list.set_defaults(func=cmd_list)
    p_compare = sub.add_parser(
        "compare", help="time forward vs reverse mode across sizes and frameworks", epilog=EXIT_CODES
    )
    add_compare_arguments(p_compare)
    p_compare.set_defaults(func=cmd_compare)
    p_merge = sub.add_parser("merge", help="join result sets of the same settings (shards, hosts) into one set")
    p_merge.add_argument("sets", nargs="+", type=Path, metavar="SET.csv", help="the result sets to join (2 or more)")
    p_merge.add_argument("-o", "--output", type=Path, required=True, help="the merged set's CSV (a sidecar beside it)")
    p_merge.set_defaults(func=cmd_merge)
    p_report = sub.add_parser("report", help="build the HTML result pages from saved results")
    from adbench import report  # light: matplotlib and Jinja2 load only when a report is built

    report.add_arguments(p_report)
    p_report.set_defaults(func=cmd_report)
    from adbench.gradbench import tool as gradbench_tool  # light: frameworks load when the tool runs

    p_gradbench = sub.add_parser("gradbench-tool", help="answer gradbench's protocol with one backend (stdin/stdout)")
    gradbench_tool.add_arguments(p_gradbench)
    p_gradbench.set_defaults(func=gradbench_tool.main)
    return parser


_INTERRUPTED: list[int] = []  # SIGINT seen by _note_interrupt


def _note_interrupt(signum: int, frame: types.FrameType | None) -> NoReturn:
    """Python's own SIGINT handler, remembering that it ran: a Ctrl-C inside an extension module's import
    surfaces as that module's ImportError (numpy's "PyCapsule_Import could not import module"), not as
    KeyboardInterrupt, and only this memory tells the two apart."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; an interrupt at any moment ends quietly with its own status."""
    try:  # the handler too: a Ctrl-C may come while it is installed
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _note_interrupt)
        return _main(argv)
    except KeyboardInterrupt as exc:  # before or after _main's own handling: still no traceback
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except ImportError:
        if _INTERRUPTED:  # a Ctrl-C that an import turned into its ImportError
            return EXIT_INTERRUPTED
        raise


def _main(argv: Sequence[str] | None) -> int:
    def on_term(signum: int, frame: types.FrameType | None) -> NoReturn:
        raise Terminated()

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.func is cmd_compare:
            return cmd_compare(args, argv)
        return args.func(args)
    except UsageError as exc:
        print(f"adbench {argv[0] if argv else ''}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
