"""Runs a grid of cases in rounds: a fresh worker process per framework per round, frameworks interleaved,
a time limit and a memory watchdog per case, results kept as they come."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adbench import memory
from adbench.backends import get_backend
from adbench.cases import CaseSpec
from adbench.errors import Terminated
from adbench.problems import get_problem
from adbench.record import CaseResult
from adbench.threads import cpus_for, worker_environment

ResultCallback = Callable[[CaseResult], None]
WATCHDOG_POLL_S = 0.05  # how often a running worker's resident memory is read
# A round whose median is this far from another round's counts as disagreeing; when a fifth of
# the cases disagree so, the run says the machine was busy.
ROUND_DISAGREEMENT = 1.25
BUSY_SHARE = 0.2


@dataclass
class RunSettings:
    threads: int = 1
    budget_s: float = 0.1  # sampling seconds per case, shared by its rounds
    rounds: int = 2
    timeout_s: float = 60.0
    memory_limit_bytes: int | None = None
    worker_start_timeout_s: float = 120.0
    device: str = "cpu"
    # The CPUs workers are pinned to: the first `threads` of this process's mask, taken when the
    # settings are made (the parent then moves its own bookkeeping to the others).
    cpus: frozenset[int] = frozenset()
    compile_cache: str | None = None  # set by run_grid: one private folder per run

    def __post_init__(self) -> None:
        if not self.cpus:
            self.cpus = frozenset(cpus_for(self.threads))


class WorkerDied(RuntimeError):
    pass


class MemoryExceeded(RuntimeError):
    pass


def _preexec(cpus: set[int]) -> Callable[[], None]:
    def setup() -> None:
        # In the child, before Python starts: the CPUs every library will size its pools from,
        # and death with the parent (a killed `adbench compare` leaves no worker burning a core).
        if cpus:
            os.sched_setaffinity(0, cpus)
        memory.die_with_parent()

    return setup


class Worker:
    """One framework's worker process and the pipe its answers come back on."""

    def __init__(self, backends: list[str], settings: RunSettings) -> None:
        self.settings = settings
        read_fd, write_fd = os.pipe()
        self.stderr = tempfile.TemporaryFile(mode="w+")
        env = worker_environment(settings.threads, device=settings.device, compile_cache=settings.compile_cache)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adbench.worker", str(write_fd), str(settings.threads), ",".join(backends),
             str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env=env,
            pass_fds=(write_fd,),
            text=True,
            preexec_fn=_preexec(set(settings.cpus)),
        )
        os.close(write_fd)
        self.fd = read_fd
        os.set_blocking(self.fd, False)
        self.buffer = b""
        self.hello: dict[str, Any] | None = None

    def wait_ready(self) -> dict[str, Any] | None:
        """The worker's hello (versions, unavailable backends), or None if it did not start in time."""
        try:
            self.hello = self.receive(self.settings.worker_start_timeout_s, watch_memory=False)
        except BaseException:
            self.close()
            raise
        return self.hello

    def receive(self, timeout_s: float, watch_memory: bool = True) -> dict[str, Any] | None:
        """The next answer, or ``None`` after ``timeout_s``.

        Reads the raw pipe without blocking, so a partial line never suspends the time limit.
        Raises WorkerDied when the process ends, MemoryExceeded (after killing it) when its
        resident memory passes the limit.
        """
        deadline = time.monotonic() + timeout_s
        limit = self.settings.memory_limit_bytes if watch_memory else None
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], min(left, WATCHDOG_POLL_S) if limit else left)
            if ready:
                try:
                    chunk = os.read(self.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    code = self.proc.wait()
                    raise WorkerDied(f"worker process died ({_exit_words(code)}){self.stderr_tail()}")
                self.buffer += chunk
            elif limit:
                rss = memory.rss_bytes(self.proc.pid)
                if rss is not None and rss > limit:
                    self.proc.kill()
                    self.proc.wait()
                    raise MemoryExceeded(
                        f"killed at {rss / 2**30:.2f} GiB resident, over the limit "
                        f"{limit / 2**30:.2f} GiB (--memory-limit)")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def stderr_tail(self, chars: int = 400) -> str:
        """What the worker said last; for a crash, Python's fatal error and the innermost frames."""
        self.stderr.seek(0)
        text = self.stderr.read().strip()
        if "Fatal Python error" in text:
            lines = text[text.index("Fatal Python error"):].splitlines()
            # faulthandler lists the crashing thread's frames innermost first, after its header.
            current = next((i for i, line in enumerate(lines) if line.startswith(("Current thread", "Thread"))
                            and "most recent call first" in line and i + 1 < len(lines)
                            and "threading.py" not in lines[i + 1]), None)
            frames = [line.strip() for line in lines[current + 1: current + 4]] if current is not None else []
            return ": " + "; ".join([lines[0].strip(), *frames])
        return f": ...{text[-chars:]}" if text else ""

    def send(self, request: dict[str, Any]) -> None:
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:  # the worker died between two cases
            code = self.proc.wait()
            raise WorkerDied(f"worker process died ({_exit_words(code)}){self.stderr_tail()}") from exc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for closer in (lambda: os.close(self.fd), self.stderr.close, self.proc.stdin.close):
            try:
                closer()
            except OSError:
                pass


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class RunOutcome:
    results: list[CaseResult] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # per framework: CUDA build, devices
    unavailable: dict[str, str] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that stopped the run
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]


def new_result(spec: CaseSpec, threads: int) -> CaseResult:
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    return CaseResult(
        problem=spec.problem, preset=problem.presets.get(spec.size), size=spec.size, n_inputs=spec.size,
        n_outputs=problem.known_n_outputs(spec.size), operation=spec.operation, backend=spec.backend,
        framework=backend.framework, mode=spec.mode, dtype=spec.dtype, device=spec.device,
        chunk_size=spec.chunk_size, threads=threads, seed=spec.seed, status="ok",
    )


def _framework_order(specs: list[CaseSpec]) -> list[str]:
    return list(dict.fromkeys(get_backend(s.backend).framework for s in specs))


def _groups(specs: list[CaseSpec]) -> list[list[CaseSpec]]:
    """Cases that answer one question together (same problem, size, operation, dtype, chunk, device)."""
    groups: dict[tuple, list[CaseSpec]] = {}
    for s in specs:
        groups.setdefault((s.problem, s.size, s.operation, s.dtype, s.chunk_size, s.device), []).append(s)
    return list(groups.values())


def run_grid(
    specs: list[CaseSpec],
    settings: RunSettings,
    on_result: ResultCallback | None = None,
    outcome: RunOutcome | None = None,
    on_round_end: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Run every case in ``settings.rounds`` rounds; each case-round goes to ``on_result`` at once.

    In each round every framework gets a fresh worker process; the workers live side by side
    (idle but one) and the frameworks take turns case group by case group, in an order reversed
    every other round, so slow drift of the machine hits them alike. A case that raises is an
    ``error``, one that outlives ``timeout_s`` a ``timeout``, one whose worker passes the memory
    limit ``memory``; each is recorded once and not retried, and a fresh worker takes the
    framework's remaining cases. Ctrl-C or SIGTERM stops the run and returns what finished.
    """
    outcome = outcome or RunOutcome()
    by_spec = {spec: new_result(spec, settings.threads) for spec in specs}
    # A case enters the results when it first has something to say, in the grid's order: a case
    # never reached (an interrupted run) is absent rather than an empty "ok".
    position = {spec: i for i, spec in enumerate(specs)}
    touched: set[CaseSpec] = set()
    user_callback = on_result

    def report(result: CaseResult, spec: CaseSpec) -> None:
        if spec not in touched:
            touched.add(spec)
            outcome.results[:] = [by_spec[s] for s in sorted(touched, key=position.get)]
        if user_callback:
            user_callback(result)

    done: set[CaseSpec] = set()  # skipped or failed: no further rounds
    outcome.noise["load_average_start"] = _load_average()
    restore = _pin_parent(settings.cpus)
    cache = tempfile.TemporaryDirectory(prefix="adbench-compile-cache-")
    settings.compile_cache = cache.name
    for spec in specs:  # what can be known without evaluating f needs no worker
        reason = get_backend(spec.backend).supports(get_problem(spec.problem), spec.operation, spec.mode, None,
                                                    spec.chunk_size, spec.device)
        if reason is not None:
            by_spec[spec].fail("skipped", reason)
            done.add(spec)
            report(by_spec[spec], spec)
    started = {spec: 0.0 for spec in specs}
    per_round = settings.budget_s / settings.rounds
    frameworks = _framework_order(specs)
    try:
        for round_index in range(settings.rounds):
            order = frameworks if round_index % 2 == 0 else frameworks[::-1]
            pending = [s for s in specs if s not in done]
            if not pending:
                break
            workers = _start_workers(pending, order, settings, outcome, by_spec, done, report)
            try:
                for group in _groups(pending):
                    for framework in order:
                        for spec in group:
                            if spec in done or get_backend(spec.backend).framework != framework:
                                continue
                            t0 = time.perf_counter()
                            _run_one(spec, round_index, per_round, settings, workers, outcome, by_spec[spec], done)
                            started[spec] += time.perf_counter() - t0
                            by_spec[spec].wall_s = started[spec]
                            report(by_spec[spec], spec)
            finally:
                for w in workers.values():
                    if w is not None:
                        w.close()
            for result in outcome.results:
                result.summarize()
            if on_round_end:
                on_round_end(round_index)
    except KeyboardInterrupt as exc:
        outcome.interrupted = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
    finally:
        cache.cleanup()
        if restore:
            os.sched_setaffinity(0, restore)
        for result in outcome.results:
            result.summarize()
        outcome.noise.update(noise_summary(outcome.results, settings.threads, outcome.noise["load_average_start"]))
        outcome.noise["load_average_end"] = _load_average()
    return outcome


def _start_workers(pending, order, settings, outcome, by_spec, done, report) -> dict[str, Worker | None]:
    """A worker per framework with pending cases, started together (nothing is timed meanwhile)."""
    backends_of: dict[str, set[str]] = {}
    for s in pending:
        backends_of.setdefault(get_backend(s.backend).framework, set()).add(s.backend)
    workers: dict[str, Worker | None] = {}
    for framework in order:
        if framework in backends_of:
            try:
                workers[framework] = Worker(sorted(backends_of[framework]), settings)
            except OSError as exc:
                workers[framework] = None
                _fail_all(pending, framework, "error", f"cannot start a worker: {exc}", by_spec, done, on_result)
    for framework, worker in list(workers.items()):
        if worker is None:
            continue
        try:
            hello = worker.wait_ready()
        except WorkerDied as exc:
            hello, reason = None, str(exc)
        else:
            reason = "worker did not start in time"
        if hello is None:
            workers[framework] = None
            _fail_all(pending, framework, "error", reason, by_spec, done, on_result)
            continue
        outcome.versions.update(hello["versions"])
        outcome.builds.update(hello.get("builds", {}))
        outcome.unavailable.update(hello["unavailable"])
        for s in pending:
            if s.backend in hello["unavailable"] and s not in done:
                by_spec[s].fail("skipped", f"backend unavailable: {hello['unavailable'][s.backend]}")
                done.add(s)
                if on_result:
                    on_result(by_spec[s], s)
    return workers


def _fail_all(pending, framework, status, reason, by_spec, done, on_result) -> None:
    for s in pending:
        if get_backend(s.backend).framework == framework and s not in done:
            by_spec[s].fail(status, reason)
            done.add(s)
            if on_result:
                on_result(by_spec[s], s)


def _run_one(spec: CaseSpec, round_index: int, budget_s: float, settings: RunSettings,
             workers: dict[str, Worker | None], outcome: RunOutcome, result: CaseResult, done: set) -> None:
    framework = get_backend(spec.backend).framework
    worker = workers.get(framework)
    if worker is None:  # replaced after a failure: a fresh one for the rest of the round
        worker = Worker(sorted({spec.backend}), settings)
        try:
            if worker.wait_ready() is None:
                result.fail("error", "worker did not start in time")
                done.add(spec)
                worker.close()
                return
        except WorkerDied as exc:
            result.fail("error", str(exc))
            done.add(spec)
            return
        workers[framework] = worker
    first = round_index == 0
    request = {"spec": spec.as_dict(), "budget_s": budget_s, "first": first,
               "memory_limit_bytes": settings.memory_limit_bytes}
    try:
        worker.send(request)
        answer = worker.receive(settings.timeout_s)
    except (WorkerDied, MemoryExceeded) as exc:
        result.fail("memory" if isinstance(exc, MemoryExceeded) else "error", str(exc))
        done.add(spec)
        worker.close()
        workers[framework] = None
        return
    if answer is None:
        result.fail("timeout", f"no result within the case time limit of {settings.timeout_s:g} s (--timeout)")
        done.add(spec)
        worker.close()
        workers[framework] = None
    elif answer["type"] == "error":
        result.fail("error", answer["error"], answer.get("traceback"))
        done.add(spec)
    elif answer["answer"].get("status") == "skipped":
        result.fail("skipped", answer["answer"]["error"])
        result.memory_estimate_bytes = answer["answer"].get("memory_estimate_bytes")
        done.add(spec)
    else:
        result.add_round(answer["answer"])


def _pin_parent(worker_cpus: frozenset[int]) -> set[int] | None:
    """Move the parent's bookkeeping off the CPUs its workers are timed on, where there are others;
    the mask to restore afterwards (None when nothing changed)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    mine = os.sched_getaffinity(0)
    rest = mine - worker_cpus
    if not rest or rest == mine:
        return None
    os.sched_setaffinity(0, rest)
    return mine


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def noise_summary(results: list[CaseResult], threads: int, load_start: float | None) -> dict[str, Any]:
    """Was the machine visibly busy? Others' load when the run started, and rounds that disagree."""
    spreads = [r.round_spread for r in results if r.status in ("ok", "wrong") and r.round_spread]
    disagree = sum(s >= ROUND_DISAGREEMENT for s in spreads)
    share = disagree / len(spreads) if spreads else None
    from adbench.environment import usable_cpus

    cpus = usable_cpus()
    reasons = []
    # Before the first worker starts, all the load is other processes': more than the CPUs the
    # run leaves free means someone shares the ones it times on.
    if load_start is not None and load_start > max(cpus - threads, 0) + 0.5:
        reasons.append(f"load average {load_start:g} on {cpus} CPUs when the run started")
    if share is not None and share >= BUSY_SHARE:
        reasons.append(f"{disagree} of {len(spreads)} cases' rounds differ by {ROUND_DISAGREEMENT - 1:.0%} or more")
    return {
        "busy": bool(reasons), "busy_reasons": reasons,
        "rounds_disagreeing": disagree, "cases_with_rounds": len(spreads),
        "round_disagreement_threshold": ROUND_DISAGREEMENT,
    }
