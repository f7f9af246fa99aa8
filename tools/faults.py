#!/usr/bin/env python
"""Fault injection for ``adbench``: one probe per hole that issue 8 found, and a few more.

    python tools/faults.py                 # every probe (about a minute on a 2-core machine)
    python tools/faults.py --quick         # the selection CI runs through tests/test_faults.py
    python tools/faults.py --only sigterm memory-watchdog
    python tools/faults.py --list

Each probe sets up a temporary folder, runs ``python -m adbench ...`` (or the API, or a short
script) in a subprocess as a new user would, and returns what it expected, what it observed and
whether that passed. The table ends the output; the exit status is 1 when a probe fails.

A probe whose fix lies outside the runner, worker and results modules (``cli.py``, ``__main__.py``,
the README) names that change in ``pending``: it shows as ``XFAIL`` while it fails, ``PASS``
once the change lands, and does not fail the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Every probe's run: one visit per case, tiny visits, Jacobians only.
FAST = ["--rounds", "1", "--budget", "0.002", "--operations", "jacobian"]
PROBE_TIMEOUT_S = 180  # no single subprocess may hang the harness


# -- the registry -------------------------------------------------------------------------------------------
@dataclass
class Probe:
    name: str
    item: str  # the item number, or "extra"
    func: Callable[[Path], tuple[str, str, bool]]
    quick: bool  # part of the CI selection (tests/test_faults.py)
    pending: str | None = None  # the fix belongs to a file owned elsewhere: an expected failure until it lands


@dataclass
class Outcome:
    probe: Probe
    expected: str
    observed: str
    passed: bool
    wall_s: float

    @property
    def verdict(self) -> str:
        if self.passed:
            return "PASS"
        return "XFAIL" if self.probe.pending else "FAIL"


PROBES: dict[str, Probe] = {}


def probe(item: str, quick: bool = True, pending: str | None = None):
    def register(func: Callable[[Path], tuple[str, str, bool]]):
        name = func.__name__.removeprefix("probe_").replace("_", "-")
        PROBES[name] = Probe(name, item, func, quick, pending)
        return func

    return register


def run_probe(name: str) -> Outcome:
    p = PROBES[name]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"adbench-fault-{name}-") as tmp:
        try:
            expected, observed, passed = p.func(Path(tmp))
        except Exception as exc:  # the probe itself broke: that is a failure, said plainly
            expected, observed, passed = "(probe ran)", f"probe crashed: {type(exc).__name__}: {exc}", False
        finally:
            _chmod_back(Path(tmp))
    return Outcome(p, expected, observed, passed, time.monotonic() - t0)


def _chmod_back(tmp: Path) -> None:
    for path in [tmp, *tmp.rglob("*")]:
        try:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        except OSError:
            pass


# -- helpers ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    wall_s: float
    pid: int = 0


def environ(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    env = dict(os.environ)
    paths = [*map(str, extra_path), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.pop("PYTHONWARNINGS", None)
    return env


def start(cwd: Path, *args: str, env: dict[str, str] | None = None, wrap: Sequence[str] = (),
          module: str = "adbench") -> subprocess.Popen:
    """``python -m adbench ARGS`` in ``cwd``, in its own session (so a stuck one is killed whole)."""
    return subprocess.Popen([*wrap, sys.executable, "-m", module, *args], cwd=cwd, env=env or environ(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)


def finish(proc: subprocess.Popen, t0: float, timeout: float = PROBE_TIMEOUT_S) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        err += f"\n[faults: killed after {timeout:g} s]"
    return Run(proc.returncode, out, err, time.monotonic() - t0, proc.pid)


def adbench(cwd: Path, *args: str, timeout: float = PROBE_TIMEOUT_S, env: dict[str, str] | None = None,
            wrap: Sequence[str] = ()) -> Run:
    t0 = time.monotonic()
    return finish(start(cwd, *args, env=env, wrap=wrap), t0, timeout)


def python(cwd: Path, code: str, timeout: float = PROBE_TIMEOUT_S, env: dict[str, str] | None = None) -> Run:
    """A short script in a fresh interpreter (the API, or the runner driven directly)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env or environ(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            start_new_session=True)
    return finish(proc, t0, timeout)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def read_set(csv: Path):
    from adbench.engine.results import read_results

    return read_results(csv)


def short(text: str, chars: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class Checks:
    """What a probe checked: each check a label, whether it held, and what was seen."""

    def __init__(self) -> None:
        self.items: list[tuple[bool, str]] = []

    def __call__(self, ok: bool, seen: str) -> bool:
        self.items.append((bool(ok), seen))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return all(ok for ok, _ in self.items)

    def observed(self) -> str:
        failed = [seen for ok, seen in self.items if not ok]
        shown = failed or [seen for _, seen in self.items]
        return ("NOT: " if failed else "") + "; ".join(shown)


def no_traceback(c: Checks, run: Run) -> None:
    c("Traceback" not in run.stderr, "no traceback" if "Traceback" not in run.stderr
      else f"traceback: {short(last_line(run.stderr))}")


def exit_is(c: Checks, run: Run, code: int) -> bool:
    return c(run.rc == code, f"exit {run.rc}" + ("" if run.rc == code else f" ({short(last_line(run.stderr), 160)})"))


# /proc scans: the run's workers, alive or not.
def _stat(pid: int) -> tuple[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])  # state, ppid


def worker_pids(parent: int) -> list[int]:
    """Live ``adbench.engine.worker`` processes whose parent is ``parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is None or st[1] != parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"adbench.engine.worker" in cmdline:
            pids.append(int(entry.name))
    return pids


def workers_of(run: int) -> list[int]:
    """Live ``adbench.engine.worker`` processes started by the run ``run``, wherever they were re-parented
    (a worker's last argument is its parent's pid)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a for a in args if a]
        if b"adbench.engine.worker" in args and args[-1] == str(run).encode() and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_dead(pids: Iterable[int], within_s: float) -> list[int]:
    """The pids still alive after ``within_s`` seconds."""
    pids = list(pids)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def csv_rows(csv: Path) -> int:
    try:
        return max(0, len(csv.read_text().strip().splitlines()) - 1)
    except OSError:
        return 0


def vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid:
                children.append(int(entry.name))
    return children


def cases(frame, **where):
    for key, value in where.items():
        frame = frame[frame[key] == value]
    return frame


def statuses(frame) -> str:
    return ", ".join(f"{r.problem} n={r.size} {r.backend}/{r.mode}: {r.status}" for r in frame.itertuples())


# -- 1. JAX errors keep their message --------------------------------------------------------------------------
@probe("1")
def probe_jax_error_message(tmp: Path):
    write(tmp, "natural.py", """
        def f(x, xp):
            return xp.sum(xp.sin(x)) if float(x[0]) > 0 else xp.sum(x)
    """)
    run = adbench(tmp, "compare", "--problem", "natural.py:f", "--backends", "jax,jax-eager,torch", "--sizes", "10",
                  *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    frame, meta = read_set(tmp / "out.csv")
    jax = frame[frame["backend"].isin(["jax", "jax-eager"])]
    errors = set(jax["error"].dropna())
    good = len(jax) == 4 and (jax["status"] == "error").all() and all(
        e.startswith("jax.ConcretizationTypeError: ") and "For simplicity" not in e for e in errors)
    c(good, f"CSV: {short(next(iter(errors), 'no error'), 90)!r}" if good else f"CSV errors: {sorted(errors)}")
    c("ConcretizationTypeError: Abstract tracer" in run.stderr and "For simplicity" not in run.stderr,
      "terminal names it" if "ConcretizationTypeError: Abstract tracer" in run.stderr else
      f"terminal: {short(run.stderr[-300:])}")
    tracebacks = [case.get("traceback") or "" for case in meta["cases"] if case["backend"] in ("jax", "jax-eager")]
    whole = len(tracebacks) == 4 and all("Traceback (most recent call last)" in t and "ConcretizationTypeError" in t
                                         for t in tracebacks)
    c(whole, "whole traceback in the JSON" if whole else "traceback missing from the JSON sidecar")
    c(len(frame[frame["backend"] == "torch"]) == 2, "torch rows present (the run went on)")
    return ("exit 1; jax rows error 'jax.ConcretizationTypeError: <message>' in CSV and terminal; whole "
            "traceback in the JSON", c.observed(), c.passed)


# -- 2. concurrent runs never share a set --------------------------------------------------------------------------
@probe("2")
def probe_concurrent_default_path(tmp: Path):
    from adbench.engine.results import DamagedResultsError, reserve_default_path

    c = Checks()
    args = ("compare", "--problems", "basic", "--backends", "manual,finite-diff", *FAST)
    t0 = time.monotonic()
    procs = [start(tmp, *args), start(tmp, *args)]
    runs = [finish(p, t0) for p in procs]
    c(all(r.rc == 0 for r in runs), f"exits {[r.rc for r in runs]}")
    csvs = sorted((tmp / "results").glob("compare-*.csv"))
    c(len(csvs) == 2, f"{len(csvs)} sets: {', '.join(p.name for p in csvs)}")
    ids, medians = [], []
    for csv in csvs:
        frame, meta = read_set(csv)  # raises DamagedResultsError if its two files disagree
        ids.append(meta["run_id"])
        c(len(frame) == 2 and set(frame["run_id"]) == {meta["run_id"]},
          f"{csv.name}: {len(frame)} rows of run {meta['run_id'][:8]}")
    c(len(set(ids)) == len(ids), "distinct run ids")
    # The same second, in one process: three reservations, three names.
    names = [reserve_default_path(tmp / "same-second") for _ in range(3)]
    c(len(set(names)) == 3, f"same-second names: {', '.join(p.name for p in names)}")
    # A CSV beside another run's sidecar is refused, not read.
    if len(csvs) == 2:
        mixed = tmp / "mixed"
        mixed.mkdir()
        shutil.copy(csvs[0], mixed / "a.csv")
        shutil.copy(csvs[1].with_suffix(".json"), mixed / "a.json")
        try:
            read_set(mixed / "a.csv")
            c(False, "a CSV with another run's sidecar was read")
        except DamagedResultsError as exc:
            c(True, f"mixed pair refused ({short(str(exc).split(': ', 1)[-1], 60)})")
    return ("two simultaneous runs: exit 0 each, two complete sets with distinct run ids; a mixed pair refused",
            c.observed(), c.passed)


# -- 3. --output with the sidecar's suffix ---------------------------------------------------------------------------
@probe("3")
def probe_output_json(tmp: Path):
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST, "--output", "t/run.json")
    c = Checks()
    exit_is(c, run, 2)
    c("t/run.json" in run.stderr and ".csv" in run.stderr, short(last_line(run.stderr), 120))
    c(not (tmp / "t" / "run.json").exists(), "nothing written")
    no_traceback(c, run)
    return "exit 2 naming the path and asking for a .csv; nothing written", c.observed(), c.passed


# -- 4. damaged result sets --------------------------------------------------------------------------------------
def _synthetic_set(folder: Path, name: str, rows: int = 3) -> Path:
    from adbench.engine.record import CaseResult
    from adbench.engine.results import write_results

    results = []
    for i in range(rows):
        r = CaseResult(problem="loss", size=10 ** (i + 1), n_inputs=10 ** (i + 1), n_outputs=1, operation="jacobian",
                       backend="manual", framework="numpy", mode="manual", dtype="float32", device="cpu", threads=1,
                       seed=0, status="ok")
        r.built({"first_call_s": 1e-4, "number": 10, "rel_error": 5.05e-08, "tolerance": 1e-3, "reference": "exact"})
        for p in range(3):
            r.add_visit(0, p, 0.1 * p, [1e-5 * (i + 1)] * 3, [1e-6] * 2, 10, 100)
        r.summarize()
        r.wall_s = 0.123456
        results.append(r)
    csv, _ = write_results(folder / f"{name}.csv", results, {"timestamp": "2026-01-01T00:00:00Z"}, {})
    return csv


@probe("4")
def probe_damaged_sets_read(tmp: Path):
    from adbench.engine.results import DamagedResultsError, ResultsFormatError, ResultWriter, find_result_sets

    c = Checks()
    good = _synthetic_set(tmp, "good")
    frame, _ = read_set(good)
    c(len(frame) == 3 and (frame["rel_error"] == 5.05e-08).all(), "intact set reads exactly")

    def refused(label: str, csv: Path, kind=DamagedResultsError, needle: str | None = None) -> None:
        try:
            read_set(csv)
        except kind as exc:
            named = csv.name in str(exc) or csv.with_suffix(".json").name in str(exc)
            ok = named and (needle is None or needle in str(exc))
            c(ok, f"{label}: refused" if ok else f"{label}: message {short(str(exc), 80)!r}")
        except Exception as exc:
            c(False, f"{label}: {type(exc).__name__}: {short(str(exc), 80)}")
        else:
            c(False, f"{label}: read as data")

    def damaged_copy(name: str, transform: Callable[[str], str], sidecar: bool = True) -> Path:
        csv = tmp / f"{name}.csv"
        csv.write_text(transform(good.read_text()))
        if sidecar:
            shutil.copy(good.with_suffix(".json"), csv.with_suffix(".json"))
        return csv

    text = good.read_text()
    def half_row(t: str) -> str:  # the last row cut in its middle
        start = t.rstrip("\n").rindex("\n") + 1
        return t[: start + (len(t) - start) // 2]

    refused("half-written row", damaged_copy("half", half_row))
    refused("half-written row, no sidecar", damaged_copy("half-alone", half_row, sidecar=False))
    # Cut inside the last row's last number (wall_s): every field is still there.
    c(text.rstrip("\n").endswith("0.123456"), "last field is a number")
    refused("last number cut", damaged_copy("cut", lambda t: t.rstrip("\n")[:-3]))
    refused("last number cut, no sidecar", damaged_copy("cut-alone", lambda t: t.rstrip("\n")[:-3], sidecar=False))
    refused("a row removed", damaged_copy("short", lambda t: "".join(t.splitlines(keepends=True)[:-1])))
    refused("a number edited", damaged_copy("edited", lambda t: t.replace("5.05e-08", "5.1e-08", 1)))
    other = _synthetic_set(tmp / "other", "good", rows=3)
    mixed = tmp / "mixed.csv"
    shutil.copy(other, mixed)
    shutil.copy(good.with_suffix(".json"), mixed.with_suffix(".json"))
    refused("another run's sidecar", mixed)
    for label, version in (("string format_version", "2"), ("null format_version", None)):
        csv = tmp / f"version-{version}.csv"
        shutil.copy(good, csv)
        meta = json.loads(good.with_suffix(".json").read_text())
        meta["format_version"] = version
        csv.with_suffix(".json").write_text(json.dumps(meta))
        refused(label, csv, ResultsFormatError, "format_version")
    broken = tmp / "broken.csv"
    shutil.copy(good, broken)
    broken.with_suffix(".json").write_text(good.with_suffix(".json").read_text()[:500])
    refused("truncated sidecar", broken)
    # Interrupted between the sidecar's rename and the CSV's: consistent, one step behind.
    writer_csv = tmp / "between" / "run.csv"
    writer = ResultWriter(writer_csv, "run-between", {}, {})
    from adbench.engine.record import CaseResult

    rows = [CaseResult(problem="basic", size=2, backend="manual", mode="manual", status="ok") for _ in range(2)]
    writer.write(rows[:1])
    one = writer_csv.read_text()
    writer.write(rows)
    writer_csv.write_text(one)
    try:
        c(len(read_set(writer_csv)[0]) == 1, "stopped between its two files: read one case behind")
    except Exception as exc:
        c(False, f"stopped between its two files: {type(exc).__name__}: {short(str(exc), 60)}")
    listed = {p.name for p in find_result_sets(tmp)}
    c({"half.csv", "broken.csv", "version-2.csv", "mixed.csv"} <= listed,
      "damaged sets still listed for the report" if {"half.csv", "broken.csv"} <= listed
      else f"listed: {sorted(listed)}")
    return ("every damaged or mismatched set refused with its file named (DamagedResultsError; ResultsFormatError "
            "for a bad format_version); intact and between-files sets read", c.observed(), c.passed)


@probe("4")
def probe_report_damaged_set(tmp: Path):
    c = Checks()
    sets = tmp / "sets"
    run = adbench(tmp, "compare", "--problems", "basic,loss", "--sizes", "10", "--backends", "manual", *FAST,
                  "--output", "sets/good.csv")
    if not c(run.rc == 0, f"good set made (exit {run.rc})"):
        return "", c.observed(), False
    text = (sets / "good.csv").read_text()
    (sets / "bad.csv").write_text(text[: len(text) - 40])
    shutil.copy(sets / "good.json", sets / "bad.json")
    (sets / "version.csv").write_text(text)
    meta = json.loads((sets / "good.json").read_text())
    (sets / "version.json").write_text(json.dumps({**meta, "format_version": "2"}))
    (sets / "binary.csv").write_bytes(b"\xff\xfe\x00garbage" + text.encode()[:100])
    shutil.copy(sets / "good.json", sets / "binary.json")
    rep = adbench(tmp, "report", "--results", "sets", "--output", "site")
    exit_is(c, rep, 0)
    no_traceback(c, rep)
    index = tmp / "site" / "index.html"
    html = index.read_text(errors="replace") if index.exists() else ""
    rendered = 'href="sets/good/' in html and (tmp / "site" / "sets" / "good").is_dir()
    c(rendered, "good set rendered" if rendered else ("no index.html" if not html else "good set not rendered"))
    lines = html.splitlines()
    named = [n for n in ("bad.csv", "version.csv", "binary.csv")
             if any(n in ln and re.search(r"damaged|unreadable|cannot|not read", ln, re.I) for ln in lines)]
    c(len(named) == 3, f"shown as damaged, by file name: {', '.join(named) or 'none'}")
    return ("exit 0; good set rendered; bad.csv, version.csv (string format_version), binary.csv named as "
            "damaged in index.html", c.observed(), c.passed)


# -- 5. memory ---------------------------------------------------------------------------------------------------
@probe("5")
def probe_memory_estimate_user(tmp: Path):
    write(tmp, "outer.py", """
        def f(x, xp):
            return xp.sum(xp.tanh(xp.outer(x, x)))
    """)
    run = adbench(tmp, "compare", "--problem", "outer.py:f", "--backends", "torch", "--modes", "forward",
                  "--sizes", "1000", "--memory-limit", "4", *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 0)
    frame, _ = read_set(tmp / "out.csv")
    row = frame.iloc[0] if len(frame) == 1 else None
    est = row["memory_estimate_bytes"] if row is not None else None
    c(row is not None and row["status"] == "skipped" and "estimated" in str(row["error"]),
      f"{row['status']}: {short(row['error'], 80)}" if row is not None else f"{len(frame)} rows")
    c(est is not None and est >= 4 * 2**30, f"estimate {est / 2**30:.1f} GiB" if est is not None else "no estimate")
    c("estimated peak memory" in run.stderr, "terminal gives the estimate" if "estimated peak memory" in run.stderr
      else "terminal lacks the reason")
    return ("torch forward of sum(tanh(outer(x, x))) at n=1000 (took > 8 GB) skipped at --memory-limit 4 with "
            "an estimate >= 4 GiB", c.observed(), c.passed)


@probe("5")
def probe_memory_parent_probe(tmp: Path):
    write(tmp, "sumsin.py", """
        def f(x, xp):
            return xp.sum(xp.sin(x))
    """)
    proc = start(tmp, "compare", "--problem", "sumsin.py:f", "--backends", "finite-diff", "--sizes", "200000000",
                 "--memory-limit", "1", *FAST, "--output", "out.csv")
    t0 = time.monotonic()
    peak = {"parent": 0, "worker": 0}
    while proc.poll() is None and time.monotonic() - t0 < PROBE_TIMEOUT_S:
        peak["parent"] = max(peak["parent"], vm_hwm(proc.pid))
        for child in descendants(proc.pid):
            peak["worker"] = max(peak["worker"], vm_hwm(child))
        time.sleep(0.05)
    run = finish(proc, t0)
    c = Checks()
    exit_is(c, run, 0)
    frame, _ = read_set(tmp / "out.csv")
    ok = len(frame) == 1 and frame["status"].iloc[0] == "skipped" and "estimated" in str(frame["error"].iloc[0])
    c(ok, f"skipped: {short(frame['error'].iloc[0], 70)}" if ok else statuses(frame))
    c(run.wall_s < 20, f"{run.wall_s:.1f} s")
    c(max(peak.values()) < 2**30,
      f"peak RSS parent {peak['parent'] / 2**20:.0f} MiB, worker {peak['worker'] / 2**20:.0f} MiB")
    return "n=2e8 over --memory-limit 1: skipped with its estimate in < 20 s; no process reaches 1 GiB", \
        c.observed(), c.passed


@probe("5")
def probe_memory_watchdog(tmp: Path):
    write(tmp, "alloc.py", """
        import numpy as np

        _held = []

        def f(x, xp):
            if x.shape[0] >= 1000:  # only the timed input: the estimate's small probes stay small
                for _ in range(120):  # 120 x 50 MB, touched: 6 GB unless stopped
                    _held.append(np.ones(6_250_000))
            return xp.sum(xp.sin(x))
    """)
    run = adbench(tmp, "compare", "--problem", "alloc.py:f", "--backends", "finite-diff", "--sizes", "1000,10",
                  "--memory-limit", "1", *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=1000), cases(frame, size=10)
    c(len(big) == 1 and big["status"].iloc[0] == "memory" and "--memory-limit" in str(big["error"].iloc[0]),
      f"n=1000 memory: {short(big['error'].iloc[0], 70)}" if len(big) else "no n=1000 row")
    c(len(small) == 1 and small["status"].iloc[0] == "ok", "n=10 ok (the run went on)" if len(small) and
      small["status"].iloc[0] == "ok" else f"n=10: {statuses(small)}")
    c("memory: " in run.stderr, "terminal names it" if "memory: " in run.stderr else "terminal silent")
    return "6 GB allocation past --memory-limit 1: worker killed, status memory with the reason, next case ok, " \
           "exit 1", \
        c.observed(), c.passed


# -- 6. signals -----------------------------------------------------------------------------------------------
SLOW = """
    import time

    def f(x, xp):
        if x.shape[0] >= 3:  # n = 2 finishes; n = 3 burns a core for a minute
            end = time.monotonic() + 60
            while time.monotonic() < end:
                pass
        return xp.sum(xp.sin(x))
"""


def _signal_probe(tmp: Path, signum: int, code: int, group: bool) -> tuple[str, str, bool]:
    write(tmp, "slow.py", SLOW)
    csv = tmp / "out.csv"
    t0 = time.monotonic()
    proc = start(tmp, "compare", "--problem", "slow.py:f", "--backends", "finite-diff", "--sizes", "2,3", *FAST,
                 "--output", "out.csv")
    c = Checks()
    workers: list[int] = []
    while time.monotonic() - t0 < 60 and proc.poll() is None and csv_rows(csv) < 1:
        time.sleep(0.05)
    time.sleep(0.3)  # into the slow case
    workers = worker_pids(proc.pid)
    c(bool(workers), f"worker(s) {workers} running" if workers else "no worker found")
    if group:
        os.killpg(proc.pid, signum)  # as a terminal's Ctrl-C: the whole foreground group
    else:
        os.kill(proc.pid, signum)
    run = finish(proc, t0, timeout=30)
    exit_is(c, run, code)
    left = wait_dead(workers, 3.0)
    c(not left, "no worker left" if not left else f"worker(s) {left} still running")
    try:
        frame, _ = read_set(csv)
        kept = cases(frame, size=2)
        c(len(kept) == 1 and kept["status"].iloc[0] == "ok", f"n=2 kept ({len(frame)} rows)")
    except Exception as exc:
        c(False, f"set unreadable: {short(str(exc), 80)}")
    if code in (130, 143):
        said = "terminated" if code == 143 else "interrupted"
        c(said in run.stderr and "cases:" in run.stderr, "summary printed" if said in run.stderr
          else f"stderr: {short(run.stderr[-200:])}")
        no_traceback(c, run)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return c.observed(), c.passed


@probe("6")
def probe_sigint(tmp: Path):
    observed, passed = _signal_probe(tmp, signal.SIGINT, 130, group=True)
    return ("Ctrl-C (SIGINT to the group) mid-case: exit 130, finished case kept, summary, no worker left",
            observed, passed)


@probe("6")
def probe_sigterm(tmp: Path):
    observed, passed = _signal_probe(tmp, signal.SIGTERM, 143, group=False)
    return "SIGTERM to the parent mid-case: exit 143, finished case kept, summary, no worker left", observed, passed


@probe("6")
def probe_sigkill(tmp: Path):
    observed, passed = _signal_probe(tmp, signal.SIGKILL, -signal.SIGKILL, group=False)
    return "SIGKILL to the parent mid-case: its worker dies within 3 s; the set on disk stays readable", \
        observed, passed


@probe("6")
def probe_interrupt_anywhere(tmp: Path):
    c = Checks()
    seen = []
    for trial, delay in enumerate((0.5, 0.9, 1.3, 1.7, 2.1)):
        csv = tmp / f"out{trial}.csv"
        t0 = time.monotonic()
        proc = start(tmp, "compare", "--problems", "basic,loss", "--sizes", "10,20,30,40,50,60", "--backends",
                     "manual,finite-diff,autograd", "--rounds", "2", "--budget", "0.04", "--operations", "jacobian",
                     "--output", csv.name)
        time.sleep(delay)
        signum = signal.SIGINT if trial % 2 == 0 else signal.SIGTERM
        try:
            os.killpg(proc.pid, signum) if signum == signal.SIGINT else os.kill(proc.pid, signum)
        except OSError:
            pass
        run = finish(proc, t0, timeout=60)
        left = wait_dead(workers_of(proc.pid), 3.0)
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
        except Exception as exc:
            # Ctrl-C or SIGTERM before the set existed (a slow start on a loaded machine) keeps nothing, rightly.
            if csv.exists() or run.rc not in (130, 143):
                problems.append(f"set: {short(str(exc), 60)}")
            frame = []
        seen.append(f"{signal.Signals(signum).name} at {delay:g} s: exit {run.rc}, {len(frame)} kept")
        c(not problems, seen[-1] + ("" if not problems else " — " + "; ".join(problems)))
    return ("SIGINT/SIGTERM at 0.5 ... 2.1 s into a 2-round run: exit 130/143 (0 if done), every kept case "
            "complete and the terminal's count equal to the set's, no worker left", c.observed(), c.passed)


@probe("6")
def probe_interrupt_fuzz(tmp: Path):
    run = python(tmp, """
        import os, random, signal, threading, time
        from adbench.engine.cases import CaseSpec
        from adbench.engine.runner import RunSettings, run_grid

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
    """, timeout=150)
    c = Checks()
    trials = [ln for ln in run.stdout.splitlines() if ln.startswith("TRIAL")]
    interrupted = sum(1 for ln in trials if ln.split()[3] != "None")
    verdict = last_line(run.stdout)
    c(verdict.startswith("GOOD") and len(trials) == 12,
      f"{len(trials)} runs, {interrupted} interrupted at random points: all workers reaped, no interrupt escaped"
      if verdict.startswith("GOOD") else short(verdict or run.stderr[-300:], 200))
    return "run_grid interrupted (SIGINT) at random moments, 12 times: returns with interrupted set, no worker " \
           "left, no interrupt escapes", c.observed(), c.passed


# -- 7. user functions at the sizes asked ------------------------------------------------------------------------
@probe("7")
def probe_user_sizes(tmp: Path):
    write(tmp, "sized.py", """
        def f(x, xp):
            if x.shape[0] == 20:
                raise ValueError("f is undefined at n = 20")
            return xp.sum(xp.sin(x)) * x[15]  # needs n >= 16
    """)
    run = adbench(tmp, "compare", "--problem", "sized.py:f", "--backends", "finite-diff,autograd", "--modes", "reverse",
                  "--sizes", "16,20,32", *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    frame, _ = read_set(tmp / "out.csv")
    ok = frame[frame["size"].isin([16, 32])]
    c(len(ok) == 4 and (ok["status"] == "ok").all(), "n=16, 32 ok" if len(ok) == 4 and (ok["status"] == "ok").all()
      else statuses(ok))
    bad = cases(frame, size=20)
    good = len(bad) == 2 and (bad["status"] == "error").all() and bad["error"].str.contains("undefined at n = 20").all()
    c(good, f"n=20 error: {short(bad['error'].iloc[0], 60)}" if good else statuses(bad))
    c("undefined at n = 20" in run.stderr, "terminal names it")
    return "f valid for n >= 16 runs at --sizes 16,20,32; its failure at n=20 is that size's error rows; exit 1", \
        c.observed(), c.passed


# -- 8. output paths ------------------------------------------------------------------------------------------------
def _bad_output(tmp: Path, output: str, needle: str, wrap: Sequence[str] = ()) -> tuple[str, bool]:
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST, "--output", output, wrap=wrap)
    c = Checks()
    exit_is(c, run, 2)
    message = last_line(run.stderr)
    c(output in message and needle.lower() in message.lower(), short(message, 120))
    c(run.wall_s < 10, f"{run.wall_s:.1f} s")
    no_traceback(c, run)
    return c.observed(), c.passed


@probe("8")
def probe_output_directory(tmp: Path):
    (tmp / "d.csv").mkdir()
    observed, passed = _bad_output(tmp, "d.csv", "directory")
    return "--output naming a directory: exit 2 with the path and 'directory', before any case", observed, passed


@probe("8")
def probe_output_sidecar_directory(tmp: Path):
    (tmp / "d.json").mkdir()
    observed, passed = _bad_output(tmp, "d.csv", "directory")
    return "--output d.csv where d.json is a directory: exit 2 naming it, before any case", observed, passed


@probe("8")
def probe_output_readonly(tmp: Path):
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    wrap: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: run without the capability that allows it
        if not shutil.which("setpriv"):
            return "exit 2 for a read-only folder", "n/a: running as root without setpriv", True
        wrap = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    observed, passed = _bad_output(tmp, "ro/x.csv", "permission denied", wrap=wrap)
    return "--output in a read-only folder: exit 2 with the path and the reason, before any case", observed, passed


@probe("8")
def probe_output_proc(tmp: Path):
    observed, passed = _bad_output(tmp, "/proc/x.csv", "cannot write")
    return "--output /proc/x.csv: exit 2 with the path and the reason, before any case", observed, passed


@probe("8")
def probe_output_under_file(tmp: Path):
    (tmp / "plain").write_text("a file\n")
    observed, passed = _bad_output(tmp, "plain/x.csv", "cannot write")
    return "--output under a regular file: exit 2 with the path and the reason, before any case", observed, passed


@probe("8")
def probe_output_default_readonly(tmp: Path):
    work = tmp / "work"
    work.mkdir()
    work.chmod(0o555)
    wrap: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            return "exit 2 for a read-only working folder", "n/a: running as root without setpriv", True
        wrap = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    run = adbench(work, "compare", "--problems", "basic", "--backends", "manual", *FAST, wrap=wrap)
    c = Checks()
    exit_is(c, run, 2)
    message = last_line(run.stderr)
    c("results" in message and "ermission denied" in message, short(message, 120))
    no_traceback(c, run)
    return "no --output, read-only working folder: exit 2 naming results/... and the reason, before any case", \
        c.observed(), c.passed


# -- 9. options -----------------------------------------------------------------------------------------------------
def _bad_option(tmp: Path, args: Sequence[str], flag: str, needle: str) -> tuple[str, bool]:
    run = adbench(tmp, "compare", *args, "--problems", "basic", "--backends", "manual", *FAST)
    c = Checks()
    exit_is(c, run, 2)
    message = last_line(run.stderr)
    c(flag in message and needle in message, short(message, 130))
    no_traceback(c, run)
    c(not (tmp / "results").exists(), "no set started")
    return c.observed(), c.passed


@probe("9")
def probe_option_timeout_inf(tmp: Path):
    observed, passed = _bad_option(tmp, ["--timeout", "inf"], "--timeout", "finite")
    return "--timeout inf: exit 2 naming --timeout and its range", observed, passed


@probe("9")
def probe_option_memory_limit_inf(tmp: Path):
    observed, passed = _bad_option(tmp, ["--memory-limit", "inf"], "--memory-limit", "finite")
    return "--memory-limit inf: exit 2 naming --memory-limit and its range", observed, passed


@probe("9")
def probe_option_budget_nan(tmp: Path):
    observed, passed = _bad_option(tmp, ["--budget", "nan"], "--budget", "finite")
    return "--budget nan: exit 2 naming --budget (never NaN in the JSON)", observed, passed


@probe("9")
def probe_option_timeout_nan(tmp: Path):
    observed, passed = _bad_option(tmp, ["--timeout", "nan"], "--timeout", "finite")
    return "--timeout nan: exit 2 naming --timeout", observed, passed


@probe("9")
def probe_option_seed_negative(tmp: Path):
    observed, passed = _bad_option(tmp, ["--seed", "-1"], "--seed", "0 to")
    return "--seed -1: exit 2 naming --seed and its range", observed, passed


@probe("9")
def probe_option_empty_list(tmp: Path):
    c = Checks()
    for flag in ("--problems", "--backends", "--sizes", "--modes"):
        run = adbench(tmp, "compare", flag, "", *FAST)
        c(run.rc == 2 and flag in last_line(run.stderr) and "Traceback" not in run.stderr,
          f"{flag} '': exit {run.rc}" + ("" if run.rc == 2 else f" {short(last_line(run.stderr), 60)}"))
    return "an empty --problems/--backends/--sizes/--modes: exit 2 naming the flag", c.observed(), c.passed


@probe("9")
def probe_option_duplicates(tmp: Path):
    run = adbench(tmp, "compare", "--problems", "basic,basic", "--backends", "manual,manual", *FAST,
                  "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 0)
    frame, _ = read_set(tmp / "out.csv")
    c(len(frame) == 1, f"{len(frame)} row(s)")
    return "--problems basic,basic --backends manual,manual: one case, run once", c.observed(), c.passed


# -- 10. a NaN Jacobian is wrong, never ok ----------------------------------------------------------------------------
@probe("10")
def probe_nan_jacobian(tmp: Path):
    write(tmp, "nan.py", """
        def f(x, xp):
            return xp.sum(x) * float("nan")
    """)
    run = adbench(tmp, "compare", "--problem", "nan.py:f", "--backends", "finite-diff,autograd", "--sizes", "10",
                  *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    frame, _ = read_set(tmp / "out.csv")
    good = len(frame) >= 2 and (frame["status"] == "wrong").all() and frame["error"].str.contains("not finite").all()
    c(good, f"all {len(frame)} wrong: {short(frame['error'].iloc[0], 60)}" if good else statuses(frame))
    ranked = "fastest:" in run.stdout or " faster" in run.stdout.split("Times per call")[0]
    c(not ranked, "never ranked" if not ranked else "ranked in the summary")
    c("wrong: " in run.stderr, "terminal names it" if "wrong: " in run.stderr else "terminal silent")
    return "f * NaN: every case 'wrong' (result not finite), never ranked, exit 1", c.observed(), c.passed


# -- 11. the API checks its inputs ----------------------------------------------------------------------------------
def _api(tmp: Path, call: str, needle: str) -> tuple[str, bool]:
    run = python(tmp, f"""
        import numpy as np, adbench, warnings
        warnings.simplefilter("error")
        try:
            {call}
        except ValueError as exc:
            print("ValueError:", exc)
        except Exception as exc:
            print("WRONG", type(exc).__name__, exc)
        else:
            print("WRONG no error")
    """)
    out = last_line(run.stdout) or last_line(run.stderr)
    return short(out, 130), out.startswith("ValueError:") and needle in out


@probe("11")
def probe_api_constant_shape(tmp: Path):
    observed, passed = _api(tmp, 'adbench.jacobian("loss", np.ones(4), backend="jax", mode="reverse", '
                                 'x_star=np.ones(7))', "'x_star'")
    return "x_star of the wrong shape: a ValueError naming x_star and its shape", observed, passed


@probe("11")
def probe_api_complex_input(tmp: Path):
    observed, passed = _api(tmp, 'adbench.jacobian("loss", np.ones(4) + 1j, backend="manual")', "complex")
    return "complex x: a ValueError (no ComplexWarning cast)", observed, passed


# -- 12. small ones ------------------------------------------------------------------------------------------------
@probe("12")
def probe_skip_reason_printed(tmp: Path):
    write(tmp, "vec.py", """
        def f(x, xp):
            return xp.sin(x)
    """)
    run = adbench(tmp, "compare", "--problem", "vec.py:f", "--backends", "autograd", "--operations", "hvp",
                  "--sizes", "4", "--rounds", "1", "--budget", "0.002", "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 0)
    line = next((ln for ln in run.stderr.splitlines() if ln.strip().startswith("skipped:")), "")
    c("scalar-valued" in line, short(line, 120) or f"no skip line: {short(run.stderr[-200:])}")
    return "a skipped case's reason on the terminal ('skipped: ...: hvp needs a scalar-valued problem')", \
        c.observed(), c.passed


@probe("12", quick=False)
def probe_early_ctrl_c(tmp: Path):
    c = Checks()
    outside = []
    for delay in (*(0.02 + 0.004 * i for i in range(12)), 0.1, 0.2, 0.5):
        proc = start(tmp, "compare", "--problems", "basic", "--backends", "manual", *FAST)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except OSError:
            pass
        run = finish(proc, time.monotonic(), timeout=30)
        if "init_import_site" in run.stderr:
            # Inside Python's own start-up (site-packages' .pth files), before any adbench code:
            # out of adbench's reach, and said so.
            outside.append(f"{delay * 1000:.0f}")
            continue
        # -SIGINT: killed before Python installed its handler, which a shell also shows as 130.
        ok = run.rc in (130, -signal.SIGINT) and "Traceback" not in run.stderr
        where = re.findall(r'File "([^"]*adbench[^"]*)", line (\d+)', run.stderr)
        c(ok, f"{delay * 1000:.0f} ms: exit {run.rc}" + ("" if ok else
                                                        f", traceback in {where[-1] if where else '?'}"))
    if outside:
        c(True, f"at {', '.join(outside)} ms Python itself was still starting (site import): not adbench's")
    return "Ctrl-C at 20 ms ... 0.5 s: exit 130 without a traceback once adbench's code runs", c.observed(), c.passed


@probe("12")
def probe_problem_flag_hint(tmp: Path):
    run = adbench(tmp, "compare", "--problem", "loss")
    c = Checks()
    exit_is(c, run, 2)
    message = last_line(run.stderr)
    c("--problems loss" in message and "'loss:'" not in message, short(message, 130))
    return "--problem loss: exit 2 suggesting --problems loss (not quoting 'loss:')", c.observed(), c.passed


# -- found reading the code, and the runner's review -----------------------------------------------------------------
@probe("extra")
def probe_partial_line_timeout(tmp: Path):
    write(tmp, "partial.py", """
        import os, sys, time

        def f(x, xp):
            if x.shape[0] >= 300:  # half an answer on the worker's pipe, then silence
                os.write(int(sys.argv[1]), b'{"type": "res')
                time.sleep(60)
            return xp.sum(xp.sin(x))
    """)
    # f's first call writes it, so the limit is the first call's (--compile-timeout).
    run = adbench(tmp, "compare", "--problem", "partial.py:f", "--backends", "finite-diff", "--sizes", "300,10",
                  "--timeout", "3", "--compile-timeout", "3", *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    c(len(big) == 1 and big["status"].iloc[0] in ("timeout", "compile-timeout") and "limit of 3 s" in str(big["error"].iloc[0]),
      f"n=300 {big['status'].iloc[0] if len(big) else 'missing'}")
    c(len(big) == 1 and big["wall_s"].iloc[0] < 10, f"after {big['wall_s'].iloc[0]:.1f} s" if len(big) else "")
    c(len(small) == 1 and small["status"].iloc[0] == "ok", "n=10 ok")
    return "half a line on the answer pipe, then a hang: a timeout at the 3 s limit, the run goes on", \
        c.observed(), c.passed


@probe("extra")
def probe_garbage_answer(tmp: Path):
    write(tmp, "garbage.py", """
        import os, sys

        def f(x, xp):
            if x.shape[0] >= 300:
                os.write(int(sys.argv[1]), b'this is not json\\n')
            return xp.sum(xp.sin(x))
    """)
    run = adbench(tmp, "compare", "--problem", "garbage.py:f", "--backends", "finite-diff", "--sizes", "300,10",
                  *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    no_traceback(c, run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    c(len(big) == 1 and big["status"].iloc[0] == "error" and "answer" in str(big["error"].iloc[0]),
      f"n=300: {short(big['error'].iloc[0], 70)}" if len(big) else "n=300 missing")
    c(len(small) == 1 and small["status"].iloc[0] == "ok", "n=10 ok")
    return "an unreadable line on the answer pipe: that case an error naming it, the run goes on", \
        c.observed(), c.passed


@probe("extra")
def probe_answer_flood(tmp: Path):
    write(tmp, "flood.py", """
        import os, sys, time

        def f(x, xp):
            if x.shape[0] >= 300:  # 320 MB on the answer pipe without a newline
                block = b"x" * (1 << 20)
                for _ in range(320):
                    os.write(int(sys.argv[1]), block)
                time.sleep(60)
            return xp.sum(xp.sin(x))
    """)
    proc = start(tmp, "compare", "--problem", "flood.py:f", "--backends", "finite-diff", "--sizes", "300,10",
                 *FAST, "--output", "out.csv")
    t0, peak = time.monotonic(), 0
    while proc.poll() is None and time.monotonic() - t0 < PROBE_TIMEOUT_S:
        peak = max(peak, vm_hwm(proc.pid))
        time.sleep(0.05)
    run = finish(proc, t0)
    c = Checks()
    exit_is(c, run, 1)
    no_traceback(c, run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    c(len(big) == 1 and big["status"].iloc[0] == "error" and "without ending a line" in str(big["error"].iloc[0]),
      f"n=300: {short(big['error'].iloc[0], 60)}" if len(big) else "n=300 missing")
    c(len(small) == 1 and small["status"].iloc[0] == "ok", "n=10 ok")
    c(peak < 700 * 2**20 and run.wall_s < 30, f"parent peak {peak / 2**20:.0f} MiB, {run.wall_s:.1f} s")
    return "320 MB on the answer pipe without a newline: refused at 256 MiB (parent bounded), the run goes on", \
        c.observed(), c.passed


@probe("extra")
def probe_blas_threads_pinned(tmp: Path):
    write(tmp, "pinned.py", """
        import os

        def f(x, xp):
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
    """)
    # JAX starts XLA's thread pools when it loads: pinned after that, they would keep the old mask.
    run = adbench(tmp, "compare", "--problem", "pinned.py:f", "--backends", "finite-diff,autograd,jax", "--modes",
                  "reverse", "--threads", "1", "--sizes", "10", *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 0)
    frame, _ = read_set(tmp / "out.csv")
    c(len(frame) == 3 and (frame["status"] == "ok").all(),
      "every thread of each worker on its one CPU" if (frame["status"] == "ok").all() else
      short(frame["error"].dropna().iloc[0], 120))
    return "--threads 1: every thread of each worker (BLAS helpers, XLA's pools) on the worker's one CPU", \
        c.observed(), c.passed


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


@probe("extra")
def probe_worker_dies_at_start(tmp: Path):
    site = tmp / "site"
    write(site, "sitecustomize.py", SITE_DIE)
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual,finite-diff", *FAST,
                  "--output", "out.csv", env=environ([site]))
    c = Checks()
    exit_is(c, run, 1)
    no_traceback(c, run)
    frame, _ = read_set(tmp / "out.csv")
    good = len(frame) == 2 and (frame["status"] == "error").all() and frame["error"].str.contains("exit code 3").all()
    c(good, f"{len(frame)} error rows: {short(frame['error'].iloc[0], 60)}" if good else statuses(frame))
    return "a worker that exits (3) before its hello: its cases error 'worker process died (exit code 3)', exit 1", \
        c.observed(), c.passed


@probe("extra")
def probe_hello_never_comes(tmp: Path):
    site = tmp / "site"
    write(site, "sitecustomize.py", SITE_HANG)
    run = python(tmp, """
        import os
        from adbench.engine.cases import CaseSpec
        from adbench.engine.runner import RunSettings, Scheduler
        specs = [CaseSpec("basic", 2, "manual", "manual")]
        out = Scheduler(specs, RunSettings(min_visits=1, visit_s=0.002, worker_start_timeout_s=3)).run()
        print("STATUS", out.results[0].status, "|", out.results[0].error)
        kids = [p for p in os.listdir("/proc") if p.isdigit() and
                open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
        print("CHILDREN", len(kids))
    """, env=environ([site]), timeout=60)
    c = Checks()
    status = next((ln for ln in run.stdout.splitlines() if ln.startswith("STATUS")), "")
    c("error" in status and "start" in status, short(status, 100) or short(run.stderr[-200:]))
    c("CHILDREN 0" in run.stdout, "worker reaped" if "CHILDREN 0" in run.stdout else "a worker was left")
    c(run.wall_s < 20, f"{run.wall_s:.1f} s")
    return "a worker whose hello never comes: error after the start limit (3 s here), worker killed", \
        c.observed(), c.passed


@probe("extra")
def probe_backend_unavailable(tmp: Path):
    site = tmp / "site"
    write(site, "sitecustomize.py", SITE_NO_TORCH)
    run = adbench(tmp, "compare", "--problems", "basic", "--backends", "manual,torch", *FAST,
                  "--output", "out.csv", env=environ([site]))
    c = Checks()
    exit_is(c, run, 0)
    no_traceback(c, run)
    frame, _ = read_set(tmp / "out.csv")
    torch = cases(frame, backend="torch")
    good = len(torch) == 2 and (torch["status"] == "skipped").all() and torch["error"].str.contains("unavailable").all()
    c(good, f"torch skipped: {short(torch['error'].iloc[0], 60)}" if good else statuses(frame))
    c(len(cases(frame, backend="manual", status="ok")) == 1, "manual ok")
    return "a framework that fails to import in the worker: its cases skipped with the import error", \
        c.observed(), c.passed


@probe("extra")
def probe_chatty_crash(tmp: Path):
    write(tmp, "chatty.py", """
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
    """)
    run = adbench(tmp, "compare", "--problem", "chatty.py:f", "--backends", "finite-diff", "--sizes", "300,10",
                  *FAST, "--output", "out.csv")
    c = Checks()
    exit_is(c, run, 1)
    no_traceback(c, run)
    frame, _ = read_set(tmp / "out.csv")
    big, small = cases(frame, size=300), cases(frame, size=10)
    err = str(big["error"].iloc[0]) if len(big) else ""
    c("SIGABRT" in err and len(err) < 1000, f"n=300: {short(err, 60)} ({len(err)} chars)")
    c(len(small) == 1 and small["status"].iloc[0] == "ok", "n=10 ok")
    return "a case that floods stdout and stderr (45 MB, not UTF-8) and aborts: a short error naming SIGABRT; " \
           "the run goes on", \
        c.observed(), c.passed


@probe("extra")
def probe_readme_statuses(tmp: Path):
    from adbench.engine.record import STATUSES

    text = (REPO / "README.md").read_text()
    c = Checks()
    c("143" in text, "README names exit 143" if "143" in text else "README lacks exit 143")
    missing = [s for s in STATUSES if not re.search(rf"`{s}`[^\n]*(?:\||:|—|-)", text)]
    c(not missing, "every status explained" if not missing else f"statuses not explained: {missing}")
    return "README: exit codes 0/1/2/130/143 and what ok, wrong, error, timeout, memory, skipped mean", \
        c.observed(), c.passed


# -- the table ---------------------------------------------------------------------------------------------------
def table(outcomes: list[Outcome]) -> str:
    import pandas as pd

    frame = pd.DataFrame([{"item": o.probe.item, "probe": o.probe.name, "expected": o.expected,
                           "observed": o.observed, "s": f"{o.wall_s:.1f}", "result": o.verdict}
                          for o in outcomes])
    return frame.to_markdown(index=False, maxcolwidths=[None, None, 55, 70, None, None])


def selection(quick: bool = False, only: Sequence[str] = ()) -> list[str]:
    unknown = [n for n in only if n not in PROBES]
    if unknown:
        raise SystemExit(f"unknown probe(s) {', '.join(unknown)}; valid: {', '.join(PROBES)}")
    names = list(only) if only else list(PROBES)
    return [n for n in names if PROBES[n].quick or not quick or only]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the probes CI runs (tests/test_faults.py)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these probes")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    args = parser.parse_args(argv)
    if args.list:
        for p in PROBES.values():
            print(f"{p.item:>5}  {p.name:28} {'quick' if p.quick else 'slow '}  {p.pending or ''}")
        return 0
    outcomes = []
    for name in selection(args.quick, args.only):
        outcome = run_probe(name)
        print(f"{outcome.verdict:5} {name} ({outcome.wall_s:.1f} s)", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    print(table(outcomes))
    failed = [o for o in outcomes if o.verdict == "FAIL"]
    pending = [o for o in outcomes if o.verdict == "XFAIL"]
    print(f"\n{len(outcomes)} probes: {sum(o.passed for o in outcomes)} pass, {len(failed)} fail"
          + (f", {len(pending)} expected to fail until a change elsewhere lands: "
             + "; ".join(f"{o.probe.name} ({o.probe.pending})" for o in pending) if pending else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
