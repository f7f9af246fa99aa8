"""The ``adbench`` command line: ``list``, ``compare``, ``merge`` and ``report``."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# Imported here, not in main(): an interrupt while main() imported it escaped main's own handler (a traceback
# and exit -2, tests/faults/test_signals.py's early Ctrl-C); at import time __main__ catches it.
from adbench.errors import Terminated

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE = 0, 1, 2
# A shell's status for a process ended by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
FORMATS = ("table", "csv", "json", "markdown")
EXIT_CODES = (f"exit codes: {EXIT_OK} every case ran (skipped ones included); {EXIT_CASE_FAILED} a case errored, "
              f"timed out, passed the memory limit or was wrong; {EXIT_USAGE} bad arguments; {EXIT_INTERRUPTED} "
              f"interrupted (Ctrl-C); {EXIT_TERMINATED} terminated (SIGTERM). Finished cases are saved in every case.")


class UsageError(ValueError):
    """Bad command-line input: exit status 2, with a message that names the flag and the valid choices."""


# -- argument types: each names its flag and the valid range --------------------------------------------
def names(flag: str):
    def parse(text: str) -> list[str]:
        items = list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
        if not items:
            raise argparse.ArgumentTypeError(f"{flag} needs at least one name, not {text!r}")
        return items

    return parse


def positive_ints(flag: str, allow_none: bool = False):
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


def positive_number(flag: str, unit: str, maximum: float | None = None):
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


def int_in(flag: str, lo: int, hi: int):
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
def _modes_words(modes: Sequence[str]) -> str:
    from adbench.backends import COMPOSITIONS

    return "all 4 compositions" if tuple(modes) == COMPOSITIONS else ", ".join(modes)


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from adbench.backends import list_backends
    from adbench.problems import list_problems

    problems = pd.DataFrame([
        {"problem": p.name,
         "sizes (n)": ", ".join(f"{n} ({p.presets[n]})" if n in p.presets else str(n) for n in p.sizes),
         "default run": (", ".join(map(str, p.run_sizes)) if p.plain_run
                         else f"none (--full; named: {', '.join(map(str, p.run_sizes))})"),
         "outputs (m)": ", ".join(str(p.n_outputs(n)) for n in p.sizes), "description": p.description}
        for p in list_problems()
    ])
    backends = pd.DataFrame([
        {"backend": b.name, "framework": b.framework,
         "operations: modes": "; ".join(f"{op}: {_modes_words(ms)}" for op, ms in b.operations.items()),
         "available": "yes" if b.available else "no", "version": b.version or "",
         "note": b.description if b.available else b.reason}
        for b in list_backends()
    ])
    print("Problems\n" + problems.to_markdown(index=False, tablefmt="simple"))
    print("\nBackends\n" + backends.to_markdown(index=False, tablefmt="simple"))
    from adbench.backends import backend_names

    left_out = sorted(set(backend_names()) - set(backend_names(default_only=True)))
    if left_out:
        print(f"\nNot in a plain `compare` (ask with --backends): {', '.join(left_out)}")
    return EXIT_OK


# -- compare --------------------------------------------------------------------------------------
def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    from adbench.engine.threads import DEFAULT_THREADS

    p.add_argument("--problems", type=names("--problems"), help="comma-separated problem names (default: all registered)")
    p.add_argument("--problem", action="append", default=[], metavar="MODULE:FUNCTION",
                   help="your own f(x, xp[, **constants]), from a module or a .py file (its module-level "
                        "constants(n, seed) supplies the data); repeatable; runs at --sizes")
    p.add_argument("--constants", metavar="FILE",
                   help="x and constants of the one problem --problems names, from FILE: .npz (arrays by constant "
                        "name, x as 'x'), gradbench's input JSON, or ADBench's .txt data (ba, gmm, ht)")
    p.add_argument("--backends", type=names("--backends"),
                   help="comma-separated backends (default: all but those slow to set up, e.g. torch-compile)")
    p.add_argument("--operations", type=names("--operations"),
                   help="jacobian, jvp, vjp, hvp, hessian, sparse-jacobian, nested, comma-separated (default: "
                        "jacobian,hvp, sparse-jacobian for problems that declare a pattern, and nested for the "
                        "problems that differentiate inside themselves; jacobian with --quick)")
    p.add_argument("--modes", type=names("--modes"),
                   help="forward, reverse and, for hvp/hessian, compositions such as forward-over-reverse "
                        "(default: all each backend offers)")
    p.add_argument("--sizes", type=positive_ints("--sizes"),
                   help="comma-separated input sizes n for problems that take any n; a named problem with presets "
                        "takes its presets only (default: each problem's)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--quick", action="store_true",
                       help="a first look in under 20 s: one size per problem, Jacobians, fewer visits, a short "
                            "time budget")
    scope.add_argument("--full", action="store_true", help="every preset and size of every problem (long)")
    p.add_argument("--dtype", default="float32", help="float32 (default, as in the tutorial) or float64")
    p.add_argument("--threads", type=int_in("--threads", 1, 4096), default=DEFAULT_THREADS,
                   help=f"threads for every framework (default {DEFAULT_THREADS}: equal, and quiet on a shared machine)")
    from adbench import compare

    p.add_argument("--time-budget", type=positive_number("--time-budget", "seconds", 86400), default=None,
                   metavar="SECONDS", help=f"seconds the whole run may take: worker starts, first builds, the "
                   f"minimum visits, then visits for the comparisons still open (default "
                   f"{compare.DEFAULT_TIME_BUDGET_S:g}; {compare.QUICK_TIME_BUDGET_S:g} with --quick)")
    p.add_argument("--rounds", type=int_in("--rounds", 1, 1000), default=None,
                   help=f"the least visits of every case, each a few calibrated samples (default "
                        f"{compare.DEFAULT_MIN_VISITS}, 2 for a slow case; {compare.QUICK_MIN_VISITS} with "
                        "--quick); made even past the time budget")
    p.add_argument("--workers", type=int_in("--workers", 1, 16), default=compare.DEFAULT_WORKERS,
                   help=f"fresh worker processes per framework, each building and visiting every case "
                        f"(default {compare.DEFAULT_WORKERS})")
    p.add_argument("--budget", type=positive_number("--budget", "seconds", 3600), default=None, metavar="SECONDS",
                   help=f"sampled seconds of the operation per visit (default {compare.DEFAULT_VISIT_S:g})")
    p.add_argument("--no-adaptive", dest="adaptive", action="store_false",
                   help="no visits beyond --rounds: leave the time budget unspent")
    p.add_argument("--statistic", default=None, help="per-visit statistic: min (default: the fastest of a visit's "
                   "samples), median or q25")
    p.add_argument("--replicates", type=int_in("--replicates", 1, 8), default=1,
                   help="measure every case this many times, each copy in worker processes of its own (an "
                        "A/A check of the engine: copies must not be called different; default 1)")
    p.add_argument("--timeout", type=positive_number("--timeout", "seconds", 86400), default=60.0, metavar="SECONDS",
                   help="a visit (or a build after its first call) running longer is recorded as timeout "
                        "(default 60)")
    p.add_argument("--compile-timeout", type=positive_number("--compile-timeout", "seconds", 86400), default=300.0,
                   metavar="SECONDS", help="a first call (trace, compile, run) running longer is recorded as "
                   "compile-timeout (default 300)")
    p.add_argument("--memory-limit", type=positive_number("--memory-limit", "GiB", 1 << 20),
                   default=_default_memory_limit_gib(), metavar="GIB",
                   help="skip cases estimated above this, and kill a worker whose memory passes it "
                        "(default: half the RAM)")
    p.add_argument("--chunk-size", type=positive_ints("--chunk-size", allow_none=True), default=None, metavar="K[,K...]",
                   help="basis vectors per vectorised pass for Jacobians (jax, torch); several give a "
                        "memory-time trade-off; 'none' is unchunked (default: none)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--seed", type=int_in("--seed", 0, 2**32 - 1), default=0, help="seed of the deterministic inputs (default 0)")
    p.add_argument("--output", type=Path, help="results CSV path (a JSON sidecar goes beside it); "
                   "default results/compare-<UTC time>.csv")
    p.add_argument("--format", default="table", help=f"what to print: {', '.join(FORMATS)} (default table)")
    p.add_argument("--cluster", metavar="ADDRESS", default=None,
                   help="run the grid's case groups on a Dask cluster: a scheduler's address (tcp://HOST:8786; its "
                        "workers started with --nthreads 1 --resources bench=1) or local:N for N one-slot workers "
                        "here; each group runs whole on one host, the set is saved as groups finish "
                        "(pip install 'adbench[cluster]')")
    p.add_argument("--shard", metavar="K/N", default=None,
                   help="run only the K-th of N deterministic slices of the grid (whole case groups), e.g. on "
                        "N machines by hand or from a batch scheduler; `adbench merge` joins the N sets")


def _validate_compare(args: argparse.Namespace) -> None:
    """Check every name and path before starting any worker, so a typo costs nothing."""
    from adbench.backends import AD_MODES, COMPOSITIONS, DEVICES, DTYPES, OPERATIONS, get_backend
    from adbench.errors import UnknownChoiceError
    from adbench.problems import get_problem
    from adbench.engine.results import check_output_path
    from adbench.engine.threads import check_threads

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

                hint = (f"; {spec!r} is a registered problem: use --problems {spec}"
                        if spec in {p.name for p in list_problems()} else "")
                raise UsageError(f"--problem takes MODULE:FUNCTION (your own f(x, xp), e.g. mymodule:f or "
                                 f"./file.py:f), not {spec!r}{hint}")
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
                raise UsageError(f"--device cuda: no CUDA GPU is visible here (nvidia-smi finds none); devices "
                                 f"found: cpu ({os.cpu_count()} CPUs). Run with --device cpu")
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
    operations = args.operations  # None: the plain run's, or --quick's (compare.build_grid)
    specs = compare.build_grid(
        problems or None, args.backends, args.modes, args.sizes, args.dtype, args.seed, args.quick,
        operations=operations, full=args.full, chunk_sizes=args.chunk_size or (None,), device=args.device,
        replicates=args.replicates)
    if not specs:
        raise UsageError("nothing to run: no backend offers the operations and modes asked for "
                         "(see `adbench list`)")
    if args.shard:
        from adbench.cluster import case_groups, parse_shard, shard

        k, n = parse_shard(args.shard)
        groups = len(case_groups(specs))
        if not shard(specs, k, n):  # compare.run runs the slice, recording the whole grid's settings
            raise UsageError(f"--shard {args.shard}: the grid has {groups} case groups, so slice {k} of {n} is "
                             f"empty; use N <= {groups}")
    settings = compare.settings_for(
        threads=args.threads,
        time_budget_s=args.time_budget or (compare.QUICK_TIME_BUDGET_S if args.quick else compare.DEFAULT_TIME_BUDGET_S),
        min_visits=args.rounds or (compare.QUICK_MIN_VISITS if args.quick else compare.DEFAULT_MIN_VISITS),
        workers=args.workers, visit_s=args.budget or compare.DEFAULT_VISIT_S, timeout_s=args.timeout,
        compile_timeout_s=args.compile_timeout, memory_limit_gib=args.memory_limit, device=args.device,
        adaptive=args.adaptive, statistic=args.statistic, exact_min_visits=args.rounds is not None)
    print(f"adbench compare: {compare.plan_words(specs, settings)}", file=sys.stderr)
    if args.cluster:
        from adbench.cluster import local_share_words

        note = local_share_words(args.cluster, args.threads)
        if note:
            print(f"adbench compare: note: {note}", file=sys.stderr)
    progress = _progress_bar(settings.time_budget_s)
    started = time.monotonic()

    def advance(result) -> None:
        if progress is not None:
            progress.set_postfix_str(f"{result.problem} n={result.size} {result.operation} {result.backend}/"
                                     f"{result.mode}", refresh=False)
            progress.update(round(min(time.monotonic() - started, progress.total) - progress.n, 1))

    from adbench.cluster import ClusterError

    try:
        done = compare.run(specs, output=args.output, settings=settings, command="adbench " + " ".join(argv),
                           on_result=advance, cluster=args.cluster, shard=args.shard)
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
    try:
        if len(frame):
            print(compare.render(frame, args.format, outcome.noise, done.comparisons, outcome.budget), end="")
    except KeyboardInterrupt:  # the data are saved: say where, then stop
        outcome.interrupted = outcome.interrupted or signal.SIGINT
    _report_cases(frame, done.csv_path)
    if outcome.interrupted:
        terminated = outcome.interrupted == signal.SIGTERM
        print(f"{'terminated' if terminated else 'interrupted'}: kept the finished cases in {done.csv_path}",
              file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    return EXIT_CASE_FAILED if len(done.failed) else EXIT_OK


def _report_cases(frame, csv_path: Path) -> None:
    """Counts, where the set went, and every case that is not ok with its reason."""
    import pandas as pd

    from adbench.engine.record import STATUSES

    counts = frame["status"].value_counts().to_dict()
    parts = [f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s)]
    print(f"\n{len(frame)} cases: {', '.join(parts) or 'none finished'}. Results: {csv_path} (+ .json)",
          file=sys.stderr)
    for _, row in frame[frame["status"] != "ok"].iterrows():
        print(f"  {row['status']}: {row['problem']} n={row['size']} {row['operation']} {row['backend']}/{row['mode']}"
              f"{' chunk=' + str(int(row['chunk_size'])) if pd.notna(row['chunk_size']) else ''}"
              f": {row['error']}", file=sys.stderr)


def _progress_bar(total: float):
    """A tqdm bar of the time budget on stderr when it is a terminal; nothing in CI logs or pipes."""
    if not sys.stderr.isatty():
        return None
    try:
        import tqdm
    except ImportError:
        return None
    tqdm.tqdm.monitor_interval = 0  # no monitor thread: workers are started with preexec_fn
    return tqdm.tqdm(total=total, unit="s", file=sys.stderr, dynamic_ncols=True,
                     bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}")


# -- merge ----------------------------------------------------------------------------------------
def cmd_merge(args: argparse.Namespace) -> int:
    from adbench.merge import MergeError, merge

    try:
        out = merge(args.sets, args.output)
    except MergeError as exc:
        print(f"adbench merge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"adbench merge: {out.cases} cases from {len(args.sets)} sets, {out.hosts} host(s): {out.path} (+ .json)",
          file=sys.stderr)
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
    p_compare = sub.add_parser("compare", help="time forward vs reverse mode across sizes and frameworks",
                               epilog=EXIT_CODES)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; an interrupt at any moment ends quietly with its own status."""
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # before or after _main's own handling: still no traceback
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    def on_term(signum, frame):
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
