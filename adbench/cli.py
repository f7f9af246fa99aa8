"""The ``adbench`` command line: ``list``, ``compare``, ``merge`` and ``report``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # imported where used at run time: `adbench --help` and `list` stay fast
    from adbench.backends.modes import ModeName, Operation

# compare's own modules: light at import (the run's libraries load when it runs), and public through here.
from adbench.cli_compare import cmd_compare, failing_cases
from adbench.cli_exits import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE, UsageError
from adbench.cli_options import DEFAULT_FAIL_ON, add_compare_arguments

# Imported here, not in main(): an interrupt while main() imported it escaped main's own handler (a traceback
# and exit -2, tests/faults/test_signals.py's early Ctrl-C); at import time __main__ catches it.
from adbench.errors import Terminated


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


__all__ = [
    "DEFAULT_FAIL_ON",
    "EXIT_CODES",
    "UsageError",
    "build_parser",
    "cmd_compare",
    "cmd_list",
    "failing_cases",
    "main",
]

if __name__ == "__main__":
    sys.exit(main())
