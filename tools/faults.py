#!/usr/bin/env python
"""Fault injection for ``adbench``: runs the probes in tests/faults/ and prints probe → expected → observed.

    python tools/faults.py                 # every probe, the slow ones too (about a minute on 2 cores)
    python tools/faults.py --quick         # the default pytest selection (-m 'not slow')
    python tools/faults.py --only sigterm memory-watchdog
    python tools/faults.py --list

The probes are pytest tests (``python -m pytest tests/faults`` runs the same ones, ``-m slow`` the slow
ones); this script runs them through pytest and prints one row per probe: its issue 8 item, its name
(the test's parameter id or its function name), what it expects (the test's docstring), what it
observed (the failure, or what a passing probe printed), its time and its verdict. The table ends
the output; the exit status is 1 when a probe fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FAULTS = REPO / "tests" / "faults"


@dataclass
class Outcome:
    name: str
    item: str
    expected: str
    slow: bool
    verdict: str = "NOT RUN"
    observed: str = ""
    wall_s: float = 0.0


def probe_name(item: pytest.Item) -> str:
    """A probe's name: the parameter id of a parametrized test, else the function's name, as the CLI spells it."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        return callspec.id
    return item.name.removeprefix("test_").replace("_", "-")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _observed(report: pytest.TestReport, call: pytest.CallInfo | None) -> str:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return f"skipped: {reason.removeprefix('Skipped: ')}"
    if report.failed:
        exc = call.excinfo.value if call is not None and call.excinfo is not None else None
        text = str(exc) if exc is not None else str(report.longrepr)
        if isinstance(exc, AssertionError):
            text = text.split("\nassert ")[0]  # the message, without pytest's rewritten expression
        elif exc is not None and not isinstance(exc, pytest.fail.Exception):
            text = f"probe crashed: {type(exc).__name__}: {text}"
        return " ".join(text.split())
    return " ".join(report.capstdout.split())


class Collector:
    """A pytest plugin: selects the probes asked for and keeps one Outcome per probe."""

    def __init__(self, only: Sequence[str]) -> None:
        self.only = list(only)
        self.outcomes: dict[str, Outcome] = {}
        self.unknown: list[str] = []
        self.names: list[str] = []  # every probe collected, before --only chose

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        names = {probe_name(item): item for item in items}
        self.names = list(names)
        if self.only:
            self.unknown = [n for n in self.only if n not in names]
            keep = [names[n] for n in self.only if n in names]
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
        for item in items:
            marker = item.get_closest_marker("fault")
            doc = item.obj.__doc__ if isinstance(item, pytest.Function) else None  # a probe is a test function
            self.outcomes[item.nodeid] = Outcome(
                probe_name(item),
                marker.args[0] if marker else "?",
                _first_paragraph(doc),
                item.get_closest_marker("slow") is not None,
            )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
        report = (yield).get_result()
        outcome = self.outcomes[item.nodeid]
        outcome.wall_s += report.duration
        if report.when == "call" or report.failed or report.skipped:
            if outcome.verdict in ("NOT RUN", "PASS"):
                outcome.verdict = "FAIL" if report.failed else "SKIP" if report.skipped else "PASS"
                outcome.observed = _observed(report, call)
        if report.when == "teardown" and outcome.verdict != "NOT RUN":
            print(f"{outcome.verdict:5} {outcome.name} ({outcome.wall_s:.1f} s)", file=sys.stderr, flush=True)


def _item_order(outcome: Outcome) -> tuple[bool, int]:
    return (not outcome.item.isdigit(), int(outcome.item) if outcome.item.isdigit() else 0)


def table(outcomes: Sequence[Outcome]) -> str:
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "item": o.item,
                "probe": o.name,
                "expected": o.expected,
                "observed": o.observed,
                "s": f"{o.wall_s:.1f}",
                "result": o.verdict,
            }
            for o in outcomes
        ]
    )
    return frame.to_markdown(index=False, maxcolwidths=[None, None, 55, 70, None, None])


def run_pytest(args: Sequence[str], collector: Collector) -> tuple[int, str]:
    """pytest's exit code and what its terminal said (kept back: the table below says it per probe)."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = pytest.main(list(args), plugins=[collector])
    return code, said.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="only the default pytest selection (not slow)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these probes (slow ones included)")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    args = parser.parse_args(argv)
    # -m '' selects every probe (pyproject's addopts leave the slow ones out); -p no:cacheprovider: no .pytest_cache.
    pytest_args = [
        str(FAULTS),
        "-q",
        "--tb=no",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",  # one process (a later -n wins over addopts): the collector sees every probe here
        "-m",
        "not slow" if args.quick and not args.only else "",
    ]
    collector = Collector(args.only)
    code, said = run_pytest([*pytest_args, *(["--collect-only"] if args.list else [])], collector)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        print(said, file=sys.stderr)  # pytest itself could not run them (an import error, say): its words
        return int(code)
    if collector.unknown:
        print(f"unknown probe(s) {', '.join(collector.unknown)}; valid: {', '.join(collector.names)}", file=sys.stderr)
        return 2
    if args.list:
        for o in collector.outcomes.values():
            print(f"{o.item:>5}  {o.name:28} {'slow ' if o.slow else 'quick'}")
        return 0
    outcomes = sorted(collector.outcomes.values(), key=_item_order)  # issue 8's order, its extras last
    print(table(outcomes))
    failed = [o for o in outcomes if o.verdict == "FAIL"]
    skipped = [o for o in outcomes if o.verdict == "SKIP"]
    print(
        f"\n{len(outcomes)} probes: {sum(o.verdict == 'PASS' for o in outcomes)} pass, {len(failed)} fail"
        + (f", {len(skipped)} skipped" if skipped else "")
    )
    return 1 if failed or code != pytest.ExitCode.OK else 0


if __name__ == "__main__":
    sys.exit(main())
