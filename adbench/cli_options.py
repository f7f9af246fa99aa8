"""``adbench compare``'s options: their types, their four help groups, and every default from the constant the
run uses."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from adbench.cli_exits import EXIT_CASE_FAILED

FORMATS = ("table", "csv", "json", "markdown")
# What fails a run (--fail-on): a case's status, unless a known framework defect explains it ("known" fails on
# those too). A failure of the suite itself (bad arguments, results not saved) is non-zero whatever it says.
FAIL_ON_STATUSES = ("wrong", "error", "timeout", "compile-timeout", "memory")
FAIL_ON_CHOICES = FAIL_ON_STATUSES + ("known", "none")
DEFAULT_FAIL_ON = FAIL_ON_STATUSES


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


def _total_memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 8.0


def _default_memory_limit_gib() -> float:
    return round(_total_memory_gib() / 2, 1)  # half the machine: room for the parent and the OS


# -- the four groups: what to run · how long and how hard to measure · what is shown · scale-out --------------
def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """compare's flags in four groups; every default printed is the constant the run uses. The flags that are
    the engine's settings keep ``adbench.compare.settings_for``'s names as their ``dest``."""
    what = p.add_argument_group("what to run")
    _add_grid_options(what)
    _add_input_options(what)
    _add_measure_options(p.add_argument_group("how long and how hard to measure"))
    _add_output_options(p.add_argument_group("what is shown, where results go, what fails the run"))
    _add_scale_options(p.add_argument_group("scale-out"))


def _add_grid_options(what: argparse._ArgumentGroup) -> None:
    """Which problems, backends, operations, modes and sizes."""
    from adbench import compare
    from adbench.backends import OPERATIONS, backend_names
    from adbench.problems import get_problem

    plain = [q.name for q in compare.plain_problems()]
    every = [q.name for q in compare.plain_problems(full=True)]
    ours = backend_names(default_only=True)
    left_out = [b for b in backend_names() if b not in ours]
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
        help="your own f(x, xp[, **constants]), from a module or a .py file (its module-level constants(n, seed) "
        "supplies the data); tried once with NumPy first; repeatable; runs at --sizes",
    )
    what.add_argument(
        "--constants",
        metavar="FILE",
        help="x and constants of the one problem --problems names, from FILE: .npz (arrays by constant name, x "
        "as 'x'), gradbench's input JSON, or ADBench's .txt data (ba, gmm, ht)",
    )
    listed = {
        "--backends": f"comma-separated backends (default: {', '.join(ours)}; not {', '.join(left_out)}, slow to "
        "set up: ask by name)",
        "--operations": f"{', '.join(OPERATIONS)}, comma-separated (default: {','.join(compare.DEFAULT_OPERATIONS)}"
        f", each where the problem has it; {','.join(compare.QUICK_OPERATIONS)} with --quick)",
        "--modes": "forward, reverse and, for hvp/hessian, compositions such as forward-over-reverse (default: "
        f"forward and reverse; for hvp/hessian {' and '.join(compare.DEFAULT_MODES['hvp'])}; --full: every mode)",
    }
    for flag, said in listed.items():
        what.add_argument(flag, type=names(flag), help=said)
    user_sizes = ",".join(map(str, get_problem(lambda x, xp: x).run_sizes))
    what.add_argument(
        "--sizes",
        type=positive_ints("--sizes"),
        help="comma-separated input sizes n for problems that take any n; a problem with presets takes its "
        f"presets only (default: each problem's; your own function: {user_sizes})",
    )


def _add_input_options(what: argparse._ArgumentGroup) -> None:
    """How much of the grid (--quick, --full), and the inputs' dtype, seed, chunking and device."""
    from adbench import compare

    scope = what.add_mutually_exclusive_group()
    scope.add_argument(
        "--quick",
        action="store_true",
        help=f"a first look: one size per problem, {','.join(compare.QUICK_OPERATIONS)} only, "
        f"{compare.QUICK_MIN_VISITS} visits, a {compare.QUICK_TIME_BUDGET_S:g} s budget",
    )
    scope.add_argument("--full", action="store_true", help="every preset and size of every problem (long)")
    dtype, seed, device = compare.DEFAULT_DTYPE, compare.DEFAULT_SEED, compare.DEFAULT_DEVICE
    what.add_argument("--dtype", default=dtype, help=f"float32 or float64 (default {dtype}, as in the tutorial)")
    parse_seed = int_in("--seed", 0, 2**32 - 1)
    what.add_argument("--seed", type=parse_seed, default=seed, help=f"the inputs' seed (default {seed})")
    what.add_argument(
        "--chunk-size",
        type=positive_ints("--chunk-size", allow_none=True),
        default=None,
        metavar="K[,K...]",
        help="basis vectors per vectorised pass for Jacobians (jax, torch); several give a memory-time "
        "trade-off; 'none' is unchunked (default: none)",
    )
    what.add_argument("--device", default=device, help=f"cpu or cuda (default {device})")


def _add_measure_options(how: argparse._ArgumentGroup) -> None:
    """The time budget, the visits and their statistic, the workers and threads, and the limits."""
    from adbench import compare
    from adbench.engine.threads import DEFAULT_THREADS

    seconds = positive_number
    how.add_argument(
        "--time-budget",
        dest="time_budget_s",
        type=seconds("--time-budget", "seconds", 86400),
        metavar="SECONDS",
        help="seconds the whole run may take: worker starts, first builds, the minimum visits, then visits for "
        f"the comparisons still open (default {compare.DEFAULT_TIME_BUDGET_S:g}; "
        f"{compare.QUICK_TIME_BUDGET_S:g} with --quick)",
    )
    how.add_argument(
        "--rounds",
        dest="min_visits",
        type=int_in("--rounds", 1, 1000),
        metavar="ROUNDS",
        help=f"the least visits of every case, each a few calibrated samples (default {compare.DEFAULT_MIN_VISITS}"
        f", 2 for a slow case; {compare.QUICK_MIN_VISITS} with --quick); made even past the time budget",
    )
    per_visit = f"sampled seconds of the operation per visit (default {compare.DEFAULT_VISIT_S:g})"
    budget = seconds("--budget", "seconds", 3600)
    how.add_argument(
        "--budget", dest="visit_s", type=budget, default=compare.DEFAULT_VISIT_S, metavar="SECONDS", help=per_visit
    )
    unspent = "no visits beyond --rounds: leave the time budget unspent"
    how.add_argument("--no-adaptive", dest="adaptive", action="store_false", help=unspent)
    how.add_argument(
        "--statistic", help="per-visit statistic: min (default: the fastest of a visit's samples), median or q25"
    )
    workers, replicates = compare.DEFAULT_WORKERS, compare.DEFAULT_REPLICATES
    each = f"fresh worker processes per framework, each building and visiting every case (default {workers})"
    how.add_argument("--workers", type=int_in("--workers", 1, 16), default=workers, help=each)
    copies = (
        "measure every case this many times, each copy in worker processes of its own (an A/A check of the "
        f"engine: copies must not be called different; default {replicates})"
    )
    how.add_argument("--replicates", type=int_in("--replicates", 1, 8), default=replicates, help=copies)
    threads = f"threads for every framework (default {DEFAULT_THREADS}: equal, and quiet on a shared machine)"
    how.add_argument("--threads", type=int_in("--threads", 1, 4096), default=DEFAULT_THREADS, help=threads)
    _add_limit_options(how)


def _add_limit_options(how: argparse._ArgumentGroup) -> None:
    """When a visit, a first call or a worker's memory is too much."""
    from adbench import compare

    visit = "a visit (or a build after its first call) running longer is recorded as timeout"
    first = "a first call (trace, compile, run) running longer is recorded as compile-timeout"
    limits = {
        "--timeout": (compare.DEFAULT_TIMEOUT_S, visit),
        "--compile-timeout": (compare.DEFAULT_COMPILE_TIMEOUT_S, first),
    }
    for flag, (default, what) in limits.items():
        dest = flag.removeprefix("--").replace("-", "_") + "_s"  # the settings' names: timeout_s, compile_timeout_s
        kind = positive_number(flag, "seconds", 86400)
        how.add_argument(
            flag, dest=dest, type=kind, default=default, metavar="SECONDS", help=f"{what} (default {default:g})"
        )
    how.add_argument(
        "--memory-limit",
        dest="memory_limit_gib",
        type=positive_number("--memory-limit", "GiB", 1 << 20),
        default=_default_memory_limit_gib(),
        metavar="GIB",
        help="skip cases estimated above this, and kill a worker whose memory passes it (default: half the RAM)",
    )


def _add_output_options(out: argparse._ArgumentGroup) -> None:
    """What is printed, where the set is saved, and which statuses fail the run."""
    saved = "results CSV path (a JSON sidecar goes beside it); default results/compare-<UTC time>.csv"
    out.add_argument("--output", type=Path, help=saved)
    shown = f"what to print: {', '.join(FORMATS)} (default {FORMATS[0]}: the answers on one screen)"
    out.add_argument("--format", default=FORMATS[0], help=shown)
    out.add_argument(
        "--details",
        action="store_true",
        help="after the answers, every backend's table and the verdicts with their 95%% intervals and theory "
        "(markdown always has them)",
    )
    out.add_argument(
        "--fail-on",
        type=fail_on,
        default=frozenset(DEFAULT_FAIL_ON),
        metavar="STATUS[,STATUS...]",
        help=f"exit {EXIT_CASE_FAILED} when a case ends with one of these statuses and no known framework defect "
        f"explains it: {', '.join(FAIL_ON_STATUSES)}; add 'known' to fail on explained ones too, or 'none' "
        f"(default {','.join(DEFAULT_FAIL_ON)})",
    )


def _add_scale_options(scale: argparse._ArgumentGroup) -> None:
    """A Dask cluster, or one slice of the grid."""
    scale.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the grid's case groups on a Dask cluster: a scheduler's address (tcp://HOST:8786; its workers "
        "started with --nthreads 1 --resources bench=1) or local:N for N one-slot workers here; each group runs "
        "whole on one host, the set is saved as groups finish (pip install 'adbench[cluster]')",
    )
    scale.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N deterministic slices of the grid (whole case groups), e.g. on N machines by "
        "hand or from a batch scheduler; `adbench merge` joins the N sets",
    )


__all__ = [
    "DEFAULT_FAIL_ON",
    "FAIL_ON_CHOICES",
    "FAIL_ON_STATUSES",
    "FORMATS",
    "add_compare_arguments",
    "fail_on",
    "int_in",
    "names",
    "positive_ints",
    "positive_number",
]
