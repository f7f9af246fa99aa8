"""The ``adbench`` command line: ``list``, ``compare`` and ``report``."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = ("table", "csv", "json", "markdown")


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are comma-separated positive integers, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sizes are comma-separated positive integers, not {text!r}")
    return values


def _default_memory_limit_gib() -> float:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4.0
    return round(total / 2**30 / 2, 1)  # half the machine: room for the parent and the OS


# -- list -----------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from adbench.backends import list_backends
    from adbench.problems import list_problems

    problems = pd.DataFrame([
        {"problem": p.name, "sizes (n)": ", ".join(map(str, p.sizes)),
         "outputs (m)": ", ".join(str(p.n_outputs(n)) for n in p.sizes), "description": p.description}
        for p in list_problems()
    ])
    backends = pd.DataFrame([
        {"backend": b.name, "framework": b.framework, "modes": ", ".join(b.modes),
         "available": "yes" if b.available else "no", "version": b.version or "",
         "note": b.description if b.available else b.reason}
        for b in list_backends()
    ])
    print("Problems\n" + problems.to_markdown(index=False, tablefmt="simple"))
    print("\nBackends\n" + backends.to_markdown(index=False, tablefmt="simple"))
    return EXIT_OK


# -- compare --------------------------------------------------------------------------------------
def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    from adbench.threads import DEFAULT_THREADS

    p.add_argument("--problems", type=_csv_list, help="comma-separated problem names (default: all registered)")
    p.add_argument("--problem", action="append", default=[], metavar="MODULE:FUNCTION",
                   help="your own f(x, xp), from a module or a .py file; repeatable; runs at --sizes")
    p.add_argument("--backends", type=_csv_list, help="comma-separated backends (default: all)")
    p.add_argument("--modes", type=_csv_list, help="forward, reverse or both (default: both)")
    p.add_argument("--sizes", type=_int_list, help="comma-separated input sizes n (default: each problem's sweep)")
    p.add_argument("--dtype", default="float32", help="float32 (default, as in the tutorial) or float64")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"threads for every framework (default {DEFAULT_THREADS}: equal, and quiet on a shared machine)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="sampling time per case after the first call (default 0.1; 0.03 with --quick)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="a case running longer is recorded as timeout (default 60)")
    p.add_argument("--memory-limit", type=float, default=_default_memory_limit_gib(), metavar="GIB",
                   help="skip cases whose estimated peak memory exceeds this (default: half the RAM)")
    p.add_argument("--seed", type=int, default=0, help="seed of the deterministic inputs (default 0)")
    p.add_argument("--quick", action="store_true", help="fewer sizes and a shorter budget: an answer in ~20 s")
    p.add_argument("--output", type=Path, help="results CSV path (a JSON sidecar goes beside it); "
                   "default results/compare-<UTC time>.csv")
    p.add_argument("--format", default="table", help=f"what to print: {', '.join(FORMATS)} (default table)")


def _validate_compare(args: argparse.Namespace) -> None:
    """Check every name before starting any worker, so a typo costs nothing."""
    from adbench.backends import AD_MODES, DTYPES, get_backend
    from adbench.errors import UnknownChoiceError
    from adbench.problems import get_problem
    from adbench.threads import check_threads

    if args.format not in FORMATS:
        raise UnknownChoiceError("format", args.format, FORMATS)
    if args.dtype not in DTYPES:
        raise UnknownChoiceError("dtype", args.dtype, DTYPES)
    for mode in args.modes or ():
        if mode not in AD_MODES:
            raise UnknownChoiceError("mode", mode, AD_MODES)
    for name in args.backends or ():
        get_backend(name)
    for name in args.problems or ():
        get_problem(name)
    for spec in args.problem:
        get_problem(spec if ":" in spec else f"{spec}:")
    check_threads(args.threads)
    for value, flag in ((args.budget, "--budget"), (args.timeout, "--timeout"), (args.memory_limit, "--memory-limit")):
        if value is not None and value <= 0:
            raise ValueError(f"{flag} must be positive, not {value}")


def cmd_compare(args: argparse.Namespace) -> int:
    from adbench.compare import build_grid, render
    from adbench.environment import environment
    from adbench.results import rows_to_frame, write_results
    from adbench.runner import RunOutcome, RunSettings, run_grid

    _validate_compare(args)
    problems = list(args.problems or [])
    problems += args.problem
    if args.problem and not args.problems:
        problems = list(args.problem)  # --problem alone means: just my function
    specs = build_grid(problems or None, args.backends, args.modes, args.sizes, args.dtype, args.seed, args.quick)
    budget = args.budget if args.budget is not None else (0.03 if args.quick else 0.1)
    settings = RunSettings(threads=args.threads, budget_s=budget, timeout_s=args.timeout,
                           memory_limit_bytes=int(args.memory_limit * 2**30))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or Path("results") / f"compare-{stamp}.csv"
    run_settings = {
        "command": "adbench compare " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["compare"] else "adbench compare",
        "threads": args.threads, "budget_s": budget, "timeout_s": args.timeout,
        "memory_limit_gib": args.memory_limit, "dtype": args.dtype, "seed": args.seed, "quick": args.quick,
        "statistic": "median of calibrated samples (each >= 1 ms of back-to-back synced calls)",
    }
    outcome = RunOutcome()
    # Taken once, at the start; "frameworks" is the dict the workers fill in as they start.
    env = environment(outcome.versions, args.threads)
    progress = _progress_bar(len(specs))

    def save(row: dict) -> None:
        # Rewritten atomically after every case: a crash or Ctrl-C keeps every finished case.
        write_results(output, outcome.rows, env, run_settings)
        if progress is not None:
            progress.set_postfix_str(f"{row['problem']} n={row['size']} {row['backend']}/{row['mode']}", refresh=False)
            progress.update(1)

    run_grid(specs, settings, on_result=save, outcome=outcome)
    if progress is not None:
        progress.close()
    if not outcome.rows:
        print("no case ran", file=sys.stderr)
        return EXIT_INTERRUPTED if outcome.interrupted else EXIT_CASE_FAILED
    write_results(output, outcome.rows, env, run_settings)
    frame = rows_to_frame(outcome.rows)
    print(render(frame, args.format), end="")
    failed = frame[frame["status"].isin(["error", "timeout"])]
    skipped = frame[frame["status"] == "skipped"]
    print(f"\n{len(frame)} cases: {len(frame) - len(failed) - len(skipped)} ok, {len(failed)} failed, "
          f"{len(skipped)} skipped. Results: {output} (+ .json)", file=sys.stderr)
    for _, row in failed.iterrows():
        print(f"  {row['status']}: {row['problem']} n={row['size']} {row['backend']}/{row['mode']}: {row['error']}",
              file=sys.stderr)
    if outcome.interrupted:
        print(f"interrupted: kept the {len(frame)} finished cases", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_CASE_FAILED if len(failed) else EXIT_OK






def _progress_bar(total: int):
    """A tqdm bar on stderr when it is a terminal; nothing in CI logs or pipes."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)


# -- report ---------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from adbench import report

    return report.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adbench",
        description="Benchmark automatic differentiation: forward vs reverse mode, JAX vs PyTorch vs autograd.",
        epilog="exit codes: 0 every case ran; 1 a case errored or timed out; 2 bad arguments; 130 interrupted",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p_list = sub.add_parser("list", help="problems and backends (available or not, with versions)")
    p_list.set_defaults(func=cmd_list)
    p_compare = sub.add_parser("compare", help="time forward vs reverse mode across sizes and frameworks")
    add_compare_arguments(p_compare)
    p_compare.set_defaults(func=cmd_compare)
    p_report = sub.add_parser("report", help="build the HTML result pages from saved results")
    from adbench import report  # light: matplotlib and Jinja2 load only when a report is built

    report.add_arguments(p_report)
    p_report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad names and values: the message lists the valid choices
        print(f"adbench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
