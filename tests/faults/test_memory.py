"""Fault probes, issue 8 item 5: the memory guard skips what its estimate rules out and stops what outgrows it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faultkit import (
    FAST,
    PROBE_TIMEOUT_S,
    adbench,
    cases,
    descendants,
    exit_is,
    finish,
    read_set,
    short,
    start,
    statuses,
    vm_hwm,
    write,
)

pytestmark = pytest.mark.fault("5")


def test_memory_estimate_user(tmp_path: Path) -> None:
    """Torch forward of sum(tanh(outer(x, x))) at n=1000 (took > 8 GB) skipped at --memory-limit 4 with an
    estimate >= 4 GiB."""
    tmp = tmp_path
    write(
        tmp,
        "outer.py",
        """
        def f(x, xp):
            return xp.sum(xp.tanh(xp.outer(x, x)))
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "outer.py:f",
        "--backends",
        "torch",
        "--modes",
        "forward",
        "--sizes",
        "1000",
        "--memory-limit",
        "4",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 0)
    frame, _ = read_set(tmp / "out.csv")
    assert len(frame) == 1, f"{len(frame)} rows, expected one"
    row = frame.iloc[0]
    est = row["memory_estimate_bytes"]
    assert row["status"] == "skipped" and "estimated" in str(row["error"]), (
        f"not skipped for its estimate: {row['status']}: {short(row['error'], 80)}"
    )
    assert est is not None and est >= 4 * 2**30, f"estimate {est / 2**30:.1f} GiB, expected >= 4 GiB"
    assert "estimated peak memory" in run.stderr, "terminal lacks the reason"
    print(f"estimate {est / 2**30:.1f} GiB")


def test_memory_parent_probe(tmp_path: Path) -> None:
    """n=2e8 over --memory-limit 1: skipped with its estimate in < 20 s; no process reaches 1 GiB."""
    tmp = tmp_path
    write(
        tmp,
        "sumsin.py",
        """
        def f(x, xp):
            return xp.sum(xp.sin(x))
    """,
    )
    proc = start(
        tmp,
        "compare",
        "--problem",
        "sumsin.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "200000000",
        "--memory-limit",
        "1",
        *FAST,
        "--output",
        "out.csv",
    )
    t0 = time.monotonic()
    peak = {"parent": 0, "worker": 0}
    while proc.poll() is None and time.monotonic() - t0 < PROBE_TIMEOUT_S:
        peak["parent"] = max(peak["parent"], vm_hwm(proc.pid))
        for child in descendants(proc.pid):
            peak["worker"] = max(peak["worker"], vm_hwm(child))
        time.sleep(0.05)
    run = finish(proc, t0)
    exit_is(run, 0)
    frame, _ = read_set(tmp / "out.csv")
    ok = len(frame) == 1 and frame["status"].iloc[0] == "skipped" and "estimated" in str(frame["error"].iloc[0])
    assert ok, f"not skipped for its estimate: {statuses(frame)}"
    assert run.wall_s < 20, f"took {run.wall_s:.1f} s"
    peaks = f"peak RSS parent {peak['parent'] / 2**20:.0f} MiB, worker {peak['worker'] / 2**20:.0f} MiB"
    assert max(peak.values()) < 2**30, peaks
    print(f"{run.wall_s:.1f} s, {peaks}")


def test_memory_watchdog(tmp_path: Path) -> None:
    """6 GB allocation past --memory-limit 1: worker killed, status memory with the reason, next case ok, exit 1."""
    tmp = tmp_path
    write(
        tmp,
        "alloc.py",
        """
        import numpy as np

        _held = []

        def f(x, xp):
            if x.shape[0] >= 1000:  # only the timed input: the estimate's small probes stay small
                for _ in range(120):  # 120 x 50 MB, touched: 6 GB unless stopped
                    _held.append(np.ones(6_250_000))
            return xp.sum(xp.sin(x))
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "alloc.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "1000,10",
        "--memory-limit",
        "1",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=1000), cases(frame, size=10)
    assert len(big) == 1 and big["status"].iloc[0] == "memory" and "--memory-limit" in str(big["error"].iloc[0]), (
        f"n=1000 not stopped for memory: {statuses(big) or 'no n=1000 row'} "
        f"{short(big['error'].iloc[0], 70) if len(big) else ''}"
    )
    assert len(small) == 1 and small["status"].iloc[0] == "ok", (
        f"n=10 (the run goes on): {statuses(small) or 'missing'}"
    )
    assert "memory: " in run.stderr, "terminal silent about the memory stop"
