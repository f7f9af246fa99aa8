"""``adbench compare`` on the command line: check the options, build the grid, run it with a progress bar, show
the answers and say which exit status the run earned."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from adbench.cli_exits import EXIT_CASE_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE, UsageError
from adbench.cli_options import FAIL_ON_STATUSES, FORMATS

if TYPE_CHECKING:  # imported where used at run time: `adbench --help` and `list` stay fast
    import pandas as pd
    import tqdm

    from adbench.compare import CompareRun
    from adbench.engine.cases import CaseSpec
    from adbench.engine.record import CaseResult
    from adbench.engine.settings import RunSettings
    from adbench.findings import KnownDefect


def cmd_compare(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    """Check, plan, run and show one comparison; the exit status says whether a case failed by --fail-on."""
    from adbench.terminal import terminal_width

    validate(args)
    try_user_functions(args)
    specs = grid(args)
    settings = run_settings(args)
    width = terminal_width()
    _announce(args, specs, settings, width)
    done = _run(args, argv, specs, settings)
    return done if isinstance(done, int) else _show(args, done, width)


# -- before anything starts: every name and path checked, so a typo costs nothing ----------------------
def validate(args: argparse.Namespace) -> None:
    """Check every name and path before starting any worker, so a typo costs nothing."""
    try:
        _check_choices(args)
        _check_problems(args)
        _check_places(args)
    except UsageError:
        raise
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_choices(args: argparse.Namespace) -> None:
    """The format, statistic, dtype, device, operations, modes and backends are among the valid ones."""
    from adbench.backends import AD_MODES, COMPOSITIONS, DEVICES, DTYPES, OPERATIONS, get_backend
    from adbench.engine.estimates import STATISTICS
    from adbench.errors import UnknownChoiceError

    asked = [
        ("format", [args.format], FORMATS),
        ("statistic", [args.statistic] if args.statistic is not None else [], STATISTICS),
        ("dtype", [args.dtype], DTYPES),
        ("device", [args.device], DEVICES),
        ("operation", args.operations or (), OPERATIONS),
        ("mode", args.modes or (), AD_MODES + COMPOSITIONS),
    ]
    for kind, values, choices in asked:
        for value in values:
            if value not in choices:
                raise UnknownChoiceError(kind, value, choices)
    for name in args.backends or ():
        get_backend(name)


def _check_problems(args: argparse.Namespace) -> None:
    """Registered problems at sizes they take, one --constants file, and --problem specs that name a function."""
    from adbench.problems import get_problem, list_problems

    if args.constants:  # one registered problem at the instance in FILE: runs as NAME@FILE
        from adbench.problems.inputs import problems_at_file

        args.problems = problems_at_file(args.problems, args.constants)
    for name in args.problems or ():
        get_problem(name).requested_sizes(args.sizes or ())  # a preset problem refuses other sizes, by name
    for spec in args.problem:
        if ":" not in spec:
            registered = spec in {p.name for p in list_problems()}
            hint = f"; {spec!r} is a registered problem: use --problems {spec}" if registered else ""
            raise UsageError(
                f"--problem takes MODULE:FUNCTION (your own f(x, xp), e.g. mymodule:f or ./file.py:f), not "
                f"{spec!r}{hint}"
            )
        get_problem(spec)


def _check_places(args: argparse.Namespace) -> None:
    """Threads this machine has, a cluster address, a shard, a visible GPU for cuda, a writable results path."""
    from adbench.engine.results import check_output_path
    from adbench.engine.threads import check_threads

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
                f"--device cuda: no CUDA GPU is visible here (nvidia-smi finds none); devices found: cpu "
                f"({os.cpu_count()} CPUs). Run with --device cpu"
            )
    # Where the results will go, default or not, is checked before anything is timed.
    check_output_path(args.output if args.output is not None else Path("results") / "compare-check.csv")


def try_user_functions(args: argparse.Namespace) -> None:
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


def grid(args: argparse.Namespace) -> list[CaseSpec]:
    """The cases the options ask for (--problem alone means: just my function), or a UsageError that says why
    there are none."""
    from adbench import compare

    problems = list(args.problem) if args.problem and not args.problems else [*(args.problems or []), *args.problem]
    specs = compare.build_grid(
        problems or None,
        args.backends,
        args.modes,
        args.sizes,
        args.dtype,
        args.seed,
        args.quick,
        operations=args.operations,  # None: the plain run's, or --quick's
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
                f"--shard {args.shard}: the grid has {groups} case groups, so slice {k} of {n} is empty; use N <= "
                f"{groups}"
            )
    return specs


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The engine's settings from compare's options, which carry their names (``cli_options``' dests); --rounds
    given: every case gets them."""
    from adbench import compare

    named = (*compare.RUN_SETTINGS, "memory_limit_gib", "statistic", "quick")  # settings_for's own names
    options = {name: getattr(args, name) for name in named if name != "detail_questions"}
    # Extra visits for the detail tables' questions only when --details prints those tables.
    return compare.settings_for(**options, detail_questions=args.details, exact_min_visits=args.min_visits is not None)


# -- the run ---------------------------------------------------------------------------------------------------
def _announce(args: argparse.Namespace, specs: list[CaseSpec], settings: RunSettings, width: int) -> None:
    """The plan on stderr, before anything starts (and a cluster's note on sharing this machine)."""
    from adbench import compare
    from adbench.terminal import wrap

    print(wrap(f"adbench compare: {compare.plan_words(specs, settings)}", width), file=sys.stderr)
    if args.cluster:
        from adbench.cluster import local_share_words

        note = local_share_words(args.cluster, args.threads)
        if note:
            print(f"adbench compare: note: {note}", file=sys.stderr)


def _run(
    args: argparse.Namespace, argv: Sequence[str], specs: list[CaseSpec], settings: RunSettings
) -> CompareRun | int:
    """The run, its time budget shown by a progress bar; an exit status where it could not start or save."""
    from adbench import compare
    from adbench.cluster import ClusterError

    progress = _progress_bar(settings.time_budget_s)
    started = time.monotonic()

    def advance(result: CaseResult) -> None:
        if progress is not None:
            case = f"{result.problem} n={result.size} {result.operation} {result.backend}/{result.mode}"
            progress.set_postfix_str(case, refresh=False)
            progress.update(round(min(time.monotonic() - started, progress.total) - progress.n, 1))

    try:
        command = "adbench " + " ".join(argv)
        return compare.run(
            specs, output=args.output, settings=settings, command=command, on_result=advance, cluster=args.cluster,
            shard=args.shard,
        )  # fmt: skip
    except ClusterError as exc:  # before anything ran or was written
        print(f"adbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the results could not be written (a full disk, a vanished folder)
        print(f"adbench compare: error: cannot save the results: {exc}", file=sys.stderr)
        return EXIT_CASE_FAILED
    finally:
        if progress is not None:
            progress.close()


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


# -- after it: the answers, the cases that are not ok, and the exit status ------------------------------------
def _show(args: argparse.Namespace, done: CompareRun, width: int) -> int:
    """The answers on stdout, the cases on stderr, and the exit status: interrupted, failed by --fail-on, or 0."""
    from adbench.findings import known_defects
    from adbench.rendering import render
    from adbench.terminal import wrap

    outcome, frame = done.outcome, done.frame
    explained = known_defects(frame)
    try:
        if len(frame):
            answers = render(
                frame, args.format, outcome.noise, done.comparisons, outcome.budget, details=args.details,
                width=width, explained=explained,
            )  # fmt: skip
            print(answers, end="")
    except KeyboardInterrupt:  # the data are saved: say where, then stop
        outcome.interrupted = outcome.interrupted or signal.SIGINT
    report_cases(frame, done.csv_path, explained, width)
    if outcome.interrupted:
        terminated = outcome.interrupted == signal.SIGTERM
        print(
            f"{'terminated' if terminated else 'interrupted'}: kept the finished cases in {done.csv_path}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    failing = failing_cases(frame, args.fail_on, explained)
    if not len(failing):
        return EXIT_OK
    statuses = ", ".join(sorted(set(failing["status"])))
    said = (
        f"adbench compare: exit {EXIT_CASE_FAILED}: {len(failing)} case(s) {statuses} that no known framework "
        f"defect explains (--fail-on {','.join(sorted(args.fail_on))})"
    )
    print(wrap(said, width), file=sys.stderr)
    return EXIT_CASE_FAILED


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


def report_cases(
    frame: pd.DataFrame, csv_path: Path, explained: Mapping[Hashable, KnownDefect] | None = None, width: int = 100
) -> None:
    """Counts, where the set went, every case that is not ok with its reason (a known framework defect named),
    and the baselines skipped by design (no hand-written derivative) in one line."""
    import pandas as pd

    from adbench.engine.record import STATUSES
    from adbench.rendering import skipped_by_design
    from adbench.terminal import wrap

    explained = explained or {}
    counts = frame["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s)]
    known = f" ({len(explained)} by known framework defects)" if explained else ""
    said = f"{len(frame)} cases: {', '.join(parts) or 'none finished'}{known}. Results: {csv_path} (+ .json)"
    print("\n" + wrap(said, width), file=sys.stderr)
    by_design = skipped_by_design(frame)
    for index, row in frame[(frame["status"] != "ok") & ~by_design].iterrows():
        chunk = f" chunk={int(row['chunk_size'])}" if pd.notna(row["chunk_size"]) else ""
        defect = explained.get(index)
        why = f" [known: {defect.framework} {row['framework_version']}, {defect.upstream}]" if defect else ""
        # Wrapped to the terminal like every line a person reads; the message whole, unwrapped, for search
        # and grep, is in the CSV's `error` column and the sidecar named just above.
        said = (
            f"{row['status']}: {row['problem']} n={row['size']} {row['operation']} {row['backend']}/"
            f"{row['mode']}{chunk}{why}: {row['error']}"
        )
        print(wrap(said, width, "  "), file=sys.stderr)
    skipped = frame[by_design]
    if len(skipped):
        what = ", ".join(dict.fromkeys(f"{r.problem} {r.operation}" for r in skipped.itertuples()))
        said = (
            f"skipped by design: {len(skipped)} baseline case(s) with no hand-written derivative to time "
            f"({', '.join(dict.fromkeys(skipped['backend']))}: {what})"
        )
        print(wrap(said, width, "  "), file=sys.stderr)


__all__ = ["cmd_compare", "failing_cases", "grid", "report_cases", "run_settings", "validate"]
