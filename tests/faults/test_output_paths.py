"""Fault probes, issue 8 items 3 and 8: an --output that cannot be written stops the run before any case."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from faultkit import FAST, adbench, chmod_back, exit_is, last_line, no_traceback, short, without_dac_override


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """The probe's folder, writable again afterwards (some probes make parts of it read-only)."""
    yield tmp_path
    chmod_back(tmp_path)


@pytest.mark.fault("3")
def test_output_json(tmp: Path) -> None:
    """--output with the sidecar's suffix: exit 2 naming the path and asking for a .csv; nothing written."""
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST, "--output", "t/run.json")
    exit_is(run, 2)
    assert "t/run.json" in run.stderr and ".csv" in run.stderr, short(last_line(run.stderr), 120)
    assert not (tmp / "t" / "run.json").exists(), "t/run.json was written"
    no_traceback(run)


def _directory(tmp: Path) -> Sequence[str]:
    (tmp / "d.csv").mkdir()
    return ()


def _sidecar_directory(tmp: Path) -> Sequence[str]:
    (tmp / "d.json").mkdir()
    return ()


def _readonly(tmp: Path) -> Sequence[str]:
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return without_dac_override()


def _under_file(tmp: Path) -> Sequence[str]:
    (tmp / "plain").write_text("a file\n")
    return ()


@pytest.mark.fault("8")
@pytest.mark.parametrize(
    "prepare, output, needle",
    [
        pytest.param(_directory, "d.csv", "directory", id="output-directory"),
        pytest.param(_sidecar_directory, "d.csv", "directory", id="output-sidecar-directory"),  # d.json a directory
        pytest.param(_readonly, "ro/x.csv", "permission denied", id="output-readonly"),
        pytest.param(lambda tmp: (), "/proc/x.csv", "cannot write", id="output-proc"),
        pytest.param(_under_file, "plain/x.csv", "cannot write", id="output-under-file"),
    ],
)
def test_bad_output(tmp: Path, prepare: Callable[[Path], Sequence[str]], output: str, needle: str) -> None:
    """An --output that cannot be written (a directory, its sidecar a directory, a read-only folder, /proc,
    under a regular file): exit 2 with the path and the reason, before any case."""
    wrap = prepare(tmp)  # root writes anywhere: run without the capability that allows it
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST, "--output", output, wrap=wrap)
    exit_is(run, 2)
    message = last_line(run.stderr)
    assert output in message and needle.lower() in message.lower(), (
        f"message lacks {output!r} or {needle!r}: {short(message, 120)}"
    )
    assert run.wall_s < 10, f"took {run.wall_s:.1f} s: cases ran before the path was checked"
    no_traceback(run)


@pytest.mark.fault("8")
def test_output_default_readonly(tmp: Path) -> None:
    """No --output, read-only working folder: exit 2 naming results/... and the reason, before any case."""
    work = tmp / "work"
    work.mkdir()
    work.chmod(0o555)
    wrap = without_dac_override()
    run = adbench(work, "compare", "--problems", "basic", "--backends", "manual", *FAST, wrap=wrap)
    exit_is(run, 2)
    message = last_line(run.stderr)
    assert "results" in message and "ermission denied" in message, short(message, 120)
    no_traceback(run)
