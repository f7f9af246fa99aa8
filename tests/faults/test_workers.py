"""Fault probes beyond issue 8's items: a worker that dies, hangs, floods or garbles its pipe costs one case."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faultkit import (
    FAST,
    PROBE_TIMEOUT_S,
    adbench,
    cases,
    environ,
    exit_is,
    finish,
    no_traceback,
    python,
    read_set,
    short,
    start,
    statuses,
    vm_hwm,
    write,
)

pytestmark = pytest.mark.fault("extra")


def test_partial_line_timeout(tmp_path: Path) -> None:
    """Half a line on the answer pipe, then a hang: a timeout at the 3 s limit, the run goes on."""
    tmp = tmp_path
    write(
        tmp,
        "partial.py",
        """
        import os, sys, time

        def f(x, xp):
            if x.shape[0] >= 300:  # half an answer on the worker's pipe, then silence
                os.write(int(sys.argv[1]), b'{"type": "res')
                time.sleep(60)
            return xp.sum(xp.sin(x))
    """,
    )
    # f's first call writes it, so the limit is the first call's (--compile-timeout).
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "partial.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "300,10",
        "--timeout",
        "3",
        "--compile-timeout",
        "3",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    assert (
        len(big) == 1
        and big["status"].iloc[0] in ("timeout", "compile-timeout")
        and "limit of 3 s" in str(big["error"].iloc[0])
    ), f"n=300 not timed out at the 3 s limit: {statuses(big) or 'missing'} {big['error'].tolist()}"
    assert big["wall_s"].iloc[0] < 10, f"n=300 timed out after {big['wall_s'].iloc[0]:.1f} s"
    assert len(small) == 1 and small["status"].iloc[0] == "ok", f"n=10: {statuses(small) or 'missing'}"


def test_garbage_answer(tmp_path: Path) -> None:
    """An unreadable line on the answer pipe: that case an error naming it, the run goes on."""
    tmp = tmp_path
    write(
        tmp,
        "garbage.py",
        """
        import os, sys

        def f(x, xp):
            if x.shape[0] >= 300:
                os.write(int(sys.argv[1]), b'this is not json\\n')
            return xp.sum(xp.sin(x))
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "garbage.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "300,10",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    no_traceback(run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    assert len(big) == 1 and big["status"].iloc[0] == "error" and "answer" in str(big["error"].iloc[0]), (
        f"n=300: {statuses(big) or 'missing'} {short(big['error'].iloc[0], 70) if len(big) else ''}"
    )
    assert len(small) == 1 and small["status"].iloc[0] == "ok", f"n=10: {statuses(small) or 'missing'}"


def test_answer_flood(tmp_path: Path) -> None:
    """320 MB on the answer pipe without a newline: refused at 256 MiB (parent bounded), the run goes on."""
    tmp = tmp_path
    write(
        tmp,
        "flood.py",
        """
        import os, sys, time

        def f(x, xp):
            if x.shape[0] >= 300:  # 320 MB on the answer pipe without a newline
                block = b"x" * (1 << 20)
                for _ in range(320):
                    os.write(int(sys.argv[1]), block)
                time.sleep(60)
            return xp.sum(xp.sin(x))
    """,
    )
    proc = start(
        tmp,
        "compare",
        "--problem",
        "flood.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "300,10",
        *FAST,
        "--output",
        "out.csv",
    )
    t0, peak = time.monotonic(), 0
    while proc.poll() is None and time.monotonic() - t0 < PROBE_TIMEOUT_S:
        peak = max(peak, vm_hwm(proc.pid))
        time.sleep(0.05)
    run = finish(proc, t0)
    exit_is(run, 1)
    no_traceback(run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    assert (
        len(big) == 1 and big["status"].iloc[0] == "error" and "without ending a line" in str(big["error"].iloc[0])
    ), f"n=300: {statuses(big) or 'missing'} {short(big['error'].iloc[0], 60) if len(big) else ''}"
    assert len(small) == 1 and small["status"].iloc[0] == "ok", f"n=10: {statuses(small) or 'missing'}"
    bounded = f"parent peak {peak / 2**20:.0f} MiB, {run.wall_s:.1f} s"
    assert peak < 700 * 2**20 and run.wall_s < 30, f"not bounded (700 MiB, 30 s): {bounded}"
    print(bounded)


def test_blas_threads_pinned(tmp_path: Path) -> None:
    """--threads 1: every thread of each worker (BLAS helpers, XLA's pools) on the worker's one CPU."""
    tmp = tmp_path
    write(
        tmp,
        "pinned.py",
        """
        import os

        def f(x, xp):
            # The parent's NumPy trial calls f too, before any worker starts: only a worker is pinned.
            if b"adbench.engine.worker" not in open("/proc/self/cmdline", "rb").read():
                return xp.sum(xp.sin(x))
            mine = os.sched_getaffinity(0)
            others = {}
            for tid in os.listdir("/proc/self/task"):
                try:
                    mask = os.sched_getaffinity(int(tid))
                except OSError:
                    continue
                if mask != mine:
                    others[tid] = sorted(mask)
            if len(mine) != 1 or others:
                raise RuntimeError(f"worker on {sorted(mine)}; threads elsewhere: {others}")
            return xp.sum(xp.sin(x))
    """,
    )
    # JAX starts XLA's thread pools when it loads: pinned after that, they would keep the old mask.
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "pinned.py:f",
        "--backends",
        "finite-diff,autograd,jax",
        "--modes",
        "reverse",
        "--threads",
        "1",
        "--sizes",
        "10",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 0)
    frame, _ = read_set(tmp / "out.csv")
    assert len(frame) == 3 and (frame["status"] == "ok").all(), (
        f"{statuses(frame)}: {short(' | '.join(frame['error'].dropna()), 200)}"
    )


SITE_DIE = """
    import os
    if b"adbench.engine.worker" in open("/proc/self/cmdline", "rb").read():
        os._exit(3)
"""
SITE_HANG = """
    import os, time
    if b"adbench.engine.worker" in open("/proc/self/cmdline", "rb").read():
        time.sleep(120)
"""
SITE_NO_TORCH = """
    import sys
    sys.modules["torch"] = None  # `import torch` raises ImportError here
"""


def test_worker_dies_at_start(tmp_path: Path) -> None:
    """A worker that exits (3) before its hello: its cases error 'worker process died (exit code 3)', exit 1."""
    tmp = tmp_path
    site = tmp / "site"
    write(site, "sitecustomize.py", SITE_DIE)
    run = adbench(
        tmp,
        "compare",
        "--problems",
        "basic",
        "--backends",
        "manual,finite-diff",
        *FAST,
        "--output",
        "out.csv",
        env=environ([site]),
    )
    exit_is(run, 1)
    no_traceback(run)
    frame, _ = read_set(tmp / "out.csv")
    good = len(frame) == 2 and (frame["status"] == "error").all() and frame["error"].str.contains("exit code 3").all()
    assert good, f"not two 'exit code 3' errors: {statuses(frame)} {frame['error'].tolist()}"


def test_hello_never_comes(tmp_path: Path) -> None:
    """A worker whose hello never comes: error after the start limit (3 s here), worker killed."""
    site = tmp_path / "site"
    write(site, "sitecustomize.py", SITE_HANG)
    run = python(
        tmp_path,
        """
        import os
        from adbench.engine.cases import CaseSpec
        from adbench.engine.runner import Scheduler
        from adbench.engine.settings import RunSettings
        specs = [CaseSpec("basic", 2, "manual", "manual")]
        out = Scheduler(specs, RunSettings(min_visits=1, visit_s=0.002, worker_start_timeout_s=3)).run()
        print("STATUS", out.results[0].status, "|", out.results[0].error)
        kids = [p for p in os.listdir("/proc") if p.isdigit() and
                open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
        print("CHILDREN", len(kids))
    """,
        env=environ([site]),
        timeout=60,
    )
    status = next((ln for ln in run.stdout.splitlines() if ln.startswith("STATUS")), "")
    assert "error" in status and "start" in status, short(status, 100) or short(run.stderr[-200:])
    assert "CHILDREN 0" in run.stdout, "a worker was left"
    assert run.wall_s < 20, f"took {run.wall_s:.1f} s"


def test_backend_unavailable(tmp_path: Path) -> None:
    """A framework that fails to import in the worker: its cases skipped with the import error."""
    tmp = tmp_path
    site = tmp / "site"
    write(site, "sitecustomize.py", SITE_NO_TORCH)
    run = adbench(
        tmp,
        "compare",
        "--problems",
        "basic",
        "--backends",
        "manual,torch",
        *FAST,
        "--output",
        "out.csv",
        env=environ([site]),
    )
    exit_is(run, 0)
    no_traceback(run)
    frame, _ = read_set(tmp / "out.csv")
    torch = cases(frame, backend="torch")
    good = len(torch) == 2 and (torch["status"] == "skipped").all() and torch["error"].str.contains("unavailable").all()
    assert good, f"torch not skipped as unavailable: {statuses(frame)}"
    assert len(cases(frame, backend="manual", status="ok")) == 1, f"manual not ok: {statuses(frame)}"


def test_chatty_crash(tmp_path: Path) -> None:
    """A case that floods stdout and stderr (45 MB, not UTF-8) and aborts: a short error naming SIGABRT; the run
    goes on."""
    tmp = tmp_path
    write(
        tmp,
        "chatty.py",
        """
        import os, sys

        def f(x, xp):
            if x.shape[0] >= 300:
                sys.stdout.write("chatter " * 200_000)
                sys.stdout.flush()
                chunk = ("\\xff warning " * 10_000 + "\\n").encode("latin-1")
                for _ in range(400):  # ~45 MB of (not UTF-8) stderr
                    os.write(2, chunk)
                os.abort()
            return xp.sum(xp.sin(x))
    """,
    )
    run = adbench(
        tmp,
        "compare",
        "--problem",
        "chatty.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "300,10",
        *FAST,
        "--output",
        "out.csv",
    )
    exit_is(run, 1)
    no_traceback(run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    err = str(big["error"].iloc[0]) if len(big) else ""
    assert "SIGABRT" in err and len(err) < 1000, f"n=300: {short(err, 60)} ({len(err)} chars)"
    assert len(small) == 1 and small["status"].iloc[0] == "ok", f"n=10: {statuses(small) or 'missing'}"
