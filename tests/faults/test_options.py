"""Fault probes, issue 8 items 9 and 12: bad options get exit 2 naming the flag; what the user is told."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from faultkit import FAST, REPO, adbench, exit_is, last_line, no_traceback, read_set, short, write


@pytest.mark.fault("9")
@pytest.mark.parametrize(
    "args, flag, needle",
    [
        pytest.param(["--timeout", "inf"], "--timeout", "finite", id="option-timeout-inf"),
        pytest.param(["--memory-limit", "inf"], "--memory-limit", "finite", id="option-memory-limit-inf"),
        pytest.param(["--budget", "nan"], "--budget", "finite", id="option-budget-nan"),  # never NaN in the JSON
        pytest.param(["--timeout", "nan"], "--timeout", "finite", id="option-timeout-nan"),
        pytest.param(["--seed", "-1"], "--seed", "0 to", id="option-seed-negative"),
    ],
)
def test_bad_option(tmp_path: Path, args: list[str], flag: str, needle: str) -> None:
    """A value out of an option's range (inf, NaN, a negative seed): exit 2 naming the flag and its range;
    no set started."""
    run = adbench(tmp_path, "compare", *args, "--problems", "basic", "--backends", "manual", *FAST)
    exit_is(run, 2)
    message = last_line(run.stderr)
    assert flag in message and needle in message, f"message lacks {flag!r} or {needle!r}: {short(message, 130)}"
    no_traceback(run)
    assert not (tmp_path / "results").exists(), "a set was started"


@pytest.mark.fault("9")
def test_option_empty_list(tmp_path: Path) -> None:
    """An empty --problems/--backends/--sizes/--modes: exit 2 naming the flag."""
    failed = []
    for flag in ("--problems", "--backends", "--sizes", "--modes"):
        run = adbench(tmp_path, "compare", flag, "", *FAST)
        if not (run.rc == 2 and flag in last_line(run.stderr) and "Traceback" not in run.stderr):
            failed.append(f"{flag} '': exit {run.rc} {short(last_line(run.stderr), 60)}")
    assert not failed, "; ".join(failed)


@pytest.mark.fault("9")
def test_option_duplicates(tmp_path: Path) -> None:
    """--problems basic,basic --backends manual,manual: one case, run once."""
    run = adbench(
        tmp_path, "compare", "--problems", "basic,basic", "--backends", "manual,manual", *FAST, "--output", "out.csv"
    )
    exit_is(run, 0)
    frame, _ = read_set(tmp_path / "out.csv")
    assert len(frame) == 1, f"{len(frame)} row(s) for one case"


@pytest.mark.fault("12")
def test_problem_flag_hint(tmp_path: Path) -> None:
    """--problem loss: exit 2 suggesting --problems loss (not quoting 'loss:')."""
    run = adbench(tmp_path, "compare", "--problem", "loss")
    exit_is(run, 2)
    message = last_line(run.stderr)
    assert "--problems loss" in message and "'loss:'" not in message, short(message, 130)


@pytest.mark.fault("12")
def test_skip_reason_printed(tmp_path: Path) -> None:
    """A skipped case's reason on the terminal ('skipped: ...: hvp needs a scalar-valued problem')."""
    write(
        tmp_path,
        "vec.py",
        """
        def f(x, xp):
            return xp.sin(x)
    """,
    )
    run = adbench(
        tmp_path,
        "compare",
        "--problem",
        "vec.py:f",
        "--backends",
        "autograd",
        "--operations",
        "hvp",
        "--sizes",
        "4",
        "--rounds",
        "1",
        "--budget",
        "0.002",
        "--output",
        "out.csv",
    )
    exit_is(run, 0)
    # The line is wrapped to the terminal: the entry is its first line and the deeper-indented ones after it.
    lines = run.stderr.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("skipped:")), None)
    entry = (
        []
        if start is None
        else [lines[start], *itertools.takewhile(lambda ln: ln.startswith("    "), lines[start + 1 :])]
    )
    line = " ".join(ln.strip() for ln in entry)
    assert "scalar-valued" in line, short(line, 120) or f"no skip line: {short(run.stderr[-200:])}"


@pytest.mark.fault("extra")
def test_readme_statuses() -> None:
    """README: what ok, wrong, error, timeout, memory, skipped mean; its user guide: exit codes 0/1/2/130/143."""
    from adbench.engine.record import STATUSES

    assert "| 143 |" in (REPO / "docs" / "user-guide.md").read_text(), "docs/user-guide.md lacks exit 143"
    text = (REPO / "README.md").read_text()
    missing = [s for s in STATUSES if not re.search(rf"`{s}`[^\n]*(?:\||:|—|-)", text)]
    assert not missing, f"statuses not explained: {missing}"
