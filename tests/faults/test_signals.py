"""Fault probes, issue 8 items 6 and 12: SIGINT, SIGTERM and SIGKILL at any moment keep what a run finished."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from faultkit import (
    FAST,
    cases,
    csv_rows,
    exit_is,
    finish,
    kill_all,
    kill_group,
    last_line,
    no_traceback,
    python,
    read_set,
    short,
    start,
    wait_dead,
    worker_pids,
    workers_of,
    write,
)

SLOW = """
    import time

    def f(x, xp):
        if x.shape[0] >= 3:  # n = 2 finishes; n = 3 burns a core for a minute
            end = time.monotonic() + 60
            while time.monotonic() < end:
                pass
        return xp.sum(xp.sin(x))
"""


@pytest.mark.fault("6")
@pytest.mark.parametrize(
    "signum, code, group",
    [
        pytest.param(signal.SIGINT, 130, True, id="sigint"),  # as a terminal's Ctrl-C: the whole foreground group
        pytest.param(signal.SIGTERM, 143, False, id="sigterm"),
        pytest.param(signal.SIGKILL, -signal.SIGKILL, False, id="sigkill"),
    ],
)
def test_signal_mid_case(tmp_path: Path, signum: int, code: int, group: bool) -> None:
    """A signal to the parent mid-case: exit 130 (Ctrl-C to the group) / 143 (SIGTERM) with the summary; the
    finished case kept, no worker left (SIGKILL: its worker dies within 3 s; the set on disk stays readable)."""
    tmp = tmp_path
    write(tmp, "slow.py", SLOW)
    csv = tmp / "out.csv"
    t0 = time.monotonic()
    proc = start(
        tmp,
        "compare",
        "--problem",
        "slow.py:f",
        "--backends",
        "finite-diff",
        "--sizes",
        "2,3",
        *FAST,
        "--output",
        "out.csv",
    )
    workers: list[int] = []
    left: list[int] = []
    try:
        while time.monotonic() - t0 < 60 and proc.poll() is None and csv_rows(csv) < 1:
            time.sleep(0.05)
        time.sleep(0.3)  # into the slow case
        workers = worker_pids(proc.pid)
        assert workers, "no worker found running the slow case"
        if group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        run = finish(proc, t0, timeout=30)
        exit_is(run, code)
        left = wait_dead(workers, 3.0)
        assert not left, f"worker(s) {left} still running"
        try:
            frame, _ = read_set(csv)
        except Exception as exc:  # noqa: BLE001 (an unreadable set, however it fails, is the finding)
            pytest.fail(f"set unreadable: {short(str(exc), 80)}")
        kept = cases(frame, size=2)
        assert len(kept) == 1 and kept["status"].iloc[0] == "ok", f"n=2 not kept ok ({len(frame)} rows)"
        if code in (130, 143):
            said = "terminated" if code == 143 else "interrupted"
            assert said in run.stderr and "cases:" in run.stderr, f"no summary; stderr: {short(run.stderr[-200:])}"
            no_traceback(run)
    finally:
        kill_group(proc.pid)
        kill_all(left or workers)


@pytest.mark.fault("6")
def test_interrupt_anywhere(tmp_path: Path) -> None:
    """SIGINT/SIGTERM at 0.5 ... 2.1 s into a 2-round run: exit 130/143 (0 if done), every kept case complete
    and the terminal's count equal to the set's, no worker left."""
    tmp = tmp_path
    seen, failed = [], []
    for trial, delay in enumerate((0.5, 0.9, 1.3, 1.7, 2.1)):
        signum = signal.SIGINT if trial % 2 == 0 else signal.SIGTERM
        for attempt in range(2):
            csv = tmp / f"out{trial}-{attempt}.csv"
            t0 = time.monotonic()
            proc = start(
                tmp,
                "compare",
                "--problems",
                "tall,loss",
                "--sizes",
                "10,20,30,40,50,60",
                "--backends",
                "manual,finite-diff,autograd",
                "--rounds",
                "2",
                "--budget",
                "0.04",
                "--operations",
                "jacobian",
                "--output",
                csv.name,
            )
            time.sleep(delay)
            try:
                os.killpg(proc.pid, signum) if signum == signal.SIGINT else os.kill(proc.pid, signum)
            except OSError:
                pass
            run = finish(proc, t0, timeout=60)
            # A known, rare race (reported, not fixed: about 1 in 8 Ctrl-Cs at 0.5 s with both cores busy): the
            # process dies by the signal itself, before it wrote a word or a file. Once more, then it counts.
            if attempt == 0 and run.rc == -signum and not run.stderr.strip() and not csv.exists():
                kill_all(workers_of(proc.pid))
                seen.append(f"{signal.Signals(signum).name} at {delay:g} s: killed by it before a word, again")
                continue
            break
        left = wait_dead(workers_of(proc.pid), 3.0)
        kill_all(left)
        problems = []
        if run.rc not in (0, 130, 143) or "Traceback" in run.stderr:
            problems.append(f"exit {run.rc} {short(last_line(run.stderr), 60)}")
        if left:
            problems.append(f"workers {left} left")
        try:
            frame, _ = read_set(csv)
            said = re.search(r"(\d+) cases:", run.stderr)
            if said is not None and int(said.group(1)) != len(frame):
                problems.append(f"terminal says {said.group(1)} cases, the set holds {len(frame)}")
            empty = frame[(frame["status"] == "ok") & frame["time_s"].isna()]
            if len(empty):
                problems.append(f"{len(empty)} ok rows without a time")
        except Exception as exc:  # noqa: BLE001 (an unreadable set, however it fails, is judged below)
            # Ctrl-C or SIGTERM before the set existed (a slow start on a loaded machine) keeps nothing, rightly.
            if csv.exists() or run.rc not in (130, 143):
                problems.append(f"set: {short(str(exc), 60)}")
            frame = []
        seen.append(f"{signal.Signals(signum).name} at {delay:g} s: exit {run.rc}, {len(frame)} kept")
        if problems:
            failed.append(seen[-1] + " — " + "; ".join(problems))
    print("; ".join(seen))
    assert not failed, "; ".join(failed)


@pytest.mark.fault("6")
def test_interrupt_fuzz(tmp_path: Path) -> None:
    """run_grid interrupted (SIGINT) at random moments, 12 times: returns with interrupted set, no worker left,
    no interrupt escapes."""
    run = python(
        tmp_path,
        """
        import os, random, signal, threading, time
        from adbench.engine.cases import CaseSpec
        from adbench.engine.runner import run_grid
        from adbench.engine.settings import RunSettings

        def children():
            me = str(os.getpid())
            out = []
            for p in os.listdir("/proc"):
                try:
                    if p.isdigit() and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == me:
                        out.append(p)
                except OSError:
                    pass
            return out

        specs = [CaseSpec("loss", n, b, m) for n in (10, 20, 30) for b, m in
                 (("manual", "manual"), ("finite-diff", "central"), ("autograd", "reverse"))]
        rng = random.Random(8)
        bad = []
        for trial in range(12):
            delay = rng.uniform(0.0, 1.5)
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
            timer.start()
            out = None
            try:
                out = run_grid(specs, RunSettings(min_visits=2, visit_s=0.004, time_budget_s=1.0))
            except KeyboardInterrupt:
                pass
            try:  # the run may have finished before the interrupt: it then lands here, harmlessly
                timer.cancel()
                timer.join()
                time.sleep(0.01)
            except KeyboardInterrupt:
                pass
            if out is None:
                bad.append(f"trial {trial} ({delay:.2f} s): KeyboardInterrupt escaped run_grid")
                continue
            kept = {id(r) for r in out.results}
            lost = [r for r in out.results if r.status == "ok" and r.raw_visits and r.time_s is None]
            if lost:
                bad.append(f"trial {trial}: {len(lost)} unsummarised")
            left = children()
            if left:
                bad.append(f"trial {trial} ({delay:.2f} s): children {left} left")
            print("TRIAL", trial, round(delay, 2), out.interrupted, len(out.results))
        print("BAD" if bad else "GOOD", "; ".join(bad))
    """,
        timeout=150,
    )
    trials = [ln for ln in run.stdout.splitlines() if ln.startswith("TRIAL")]
    interrupted = sum(1 for ln in trials if ln.split()[3] != "None")
    verdict = last_line(run.stdout)
    # Both the last line and stderr's tail: a script that died between trials prints a TRIAL line last, and
    # only stderr says why (seen once, under CI's load: the run ended after trial 5).
    assert verdict.startswith("GOOD") and len(trials) == 12, short(f"{verdict} | stderr: {run.stderr[-600:]}", 800)
    print(f"{len(trials)} runs, {interrupted} interrupted at random points: all workers reaped, no interrupt escaped")


@pytest.mark.fault("12")
@pytest.mark.slow  # eight or more starts for one check, and what it exercises depends on how fast Python starts
def test_early_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C at 20 ms ... 0.5 s: exit 130 without a traceback once adbench's code runs."""
    tmp = tmp_path
    outside, failed = [], []
    for delay in (*(0.02 + 0.004 * i for i in range(12)), 0.1, 0.2, 0.5):
        proc = start(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except OSError:
            pass
        run = finish(proc, time.monotonic(), timeout=30)
        frames = re.findall(r'File "([^"]*)", line \d+', run.stderr)
        in_runpy = (
            frames and all(f.startswith("<frozen ") for f in frames) and last_line(run.stderr) == "KeyboardInterrupt"
        )
        if "init_import_site" in run.stderr or in_runpy:
            # Inside Python's own start-up (site-packages' .pth files, or runpy still finding the package:
            # every frame frozen), before any adbench code: out of adbench's reach, and said so.
            outside.append(f"{delay * 1000:.0f}")
            continue
        # -SIGINT: killed before Python installed its handler, which a shell also shows as 130.
        ok = run.rc in (130, -signal.SIGINT) and "Traceback" not in run.stderr
        where = re.findall(r'File "([^"]*adbench[^"]*)", line (\d+)', run.stderr)
        if not ok:
            failed.append(
                f"{delay * 1000:.0f} ms: exit {run.rc}, traceback in {where[-1] if where else '?'}"
                f" ({short(last_line(run.stderr), 60)})"
            )
    if outside:
        print(f"at {', '.join(outside)} ms Python itself was still starting (site import, runpy): not adbench's")
    assert not failed, "; ".join(failed)
