"""Runs a grid of cases. One ``Scheduler`` owns the workers, the passes, what is done and what is left, and
the time budget: every case is built once per worker process and kept there, then visited many times,
briefly, in passes that interleave the groups and frameworks; what budget is left goes to the
comparisons the results state but cannot yet resolve. The worker processes are ``adbench.engine.workers``',
the settings ``adbench.engine.settings``', the adaptive visits ``adbench.engine.adaptive``' and the noise
diagnosis ``adbench.engine.noise``'.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adbench.backends import get_backend
from adbench.engine import memory, protocol
from adbench.engine.adaptive import ADAPTIVE_GROWTH, STOP_CONFIDENCE, AdaptiveVisits  # noqa: F401 (re-exported)
from adbench.engine.cases import CaseSpec
from adbench.engine.environment import cpu_model, host_name, visible_gpus
from adbench.engine.noise import DRIFT_BUSY, _load_average, noise_summary  # noqa: F401 (re-exported)
from adbench.engine.protocol import WorkerDied
from adbench.engine.record import CaseResult, Status
from adbench.engine.settings import RunSettings
from adbench.engine.signals import signals_deferred
from adbench.engine.workers import (  # noqa: F401 (re-exported: the runner's names before the split)
    WATCHDOG_POLL_S,
    MemoryExceeded,
    Worker,
    WorkerHandle,
    WorkerKey,
    WorkerPool,
    _pin_parent,
)
from adbench.errors import Terminated
from adbench.problems import get_problem

if TYPE_CHECKING:
    from adbench.engine.estimates import Analysis, CaseVisits

CHECKPOINT_S = 1.0  # a worker busy this long (a compile) gives the parent time to save the results


# -- the outcome -------------------------------------------------------------------------------------------
@dataclass
class RunOutcome:
    results: list[CaseResult] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # per framework: CUDA build, devices
    unavailable: dict[str, str] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that stopped the run
    noise: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)  # the plan and where the time went
    analysis: Any = None  # adbench.engine.estimates.Analysis of every case that had visits
    # The sidecar's comparisons and variance, by position in ``results``.
    comparisons: list[list] = field(default_factory=list)
    variance: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]


def new_result(spec: CaseSpec, threads: int) -> CaseResult:
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    return CaseResult(
        problem=spec.problem,
        preset=problem.presets.get(spec.size),
        size=spec.size,
        n_inputs=spec.size,
        n_outputs=problem.known_n_outputs(spec.size),
        operation=spec.operation,
        backend=spec.backend,
        framework=backend.framework,
        mode=spec.mode,
        dtype=spec.dtype,
        device=spec.device,
        chunk_size=spec.chunk_size,
        replicate=spec.replicate,
        threads=threads,
        seed=spec.seed,
        host=host_name(),
        host_cpu=_cpu(),
        host_gpu=_gpus() if spec.device == "cuda" else None,
        status="ok",
    )


@functools.cache
def _cpu() -> str:
    return cpu_model()


@functools.cache
def _gpus() -> str | None:
    return ", ".join(g["name"] for g in visible_gpus()) or None


def split_by_operation(specs: list[CaseSpec]) -> dict[tuple[str, str], str]:
    """The worker processes of a compiling framework (``Backend.compiles``) with cases of two operations or more:
    its builds are the run's longest, so its operations are shared between two processes whose builds overlap,
    the most cases first to whichever has fewer. (framework, operation) -> the second process's name, for the
    operations it holds. An operation stays whole in one process (its warm-up is paid once), and so does every
    group, so every comparison is between visits made as before."""
    counts: dict[str, dict[str, int]] = {}
    compiling = set()
    for spec in specs:
        backend = get_backend(spec.backend)
        ops = counts.setdefault(backend.framework, {})
        ops[spec.operation] = ops.get(spec.operation, 0) + 1
        if backend.compiles:
            compiling.add(backend.framework)
    out = {}
    for framework in sorted(compiling):
        ops = counts[framework]
        if len(ops) < 2:
            continue
        first = second = 0
        for operation in sorted(ops, key=lambda o: -ops[o]):
            if first <= second:
                first += ops[operation]
            else:
                second += ops[operation]
                out[(framework, operation)] = f"{framework}#2"
    return out


def group_key(spec: CaseSpec) -> tuple:
    """Cases that answer one question together (same problem, size, operation, dtype, chunk, device):
    visited back to back, compared pairwise."""
    return (spec.problem, spec.size, spec.operation, spec.dtype, spec.chunk_size, spec.device)


# -- the scheduler's view of a case -------------------------------------------------------------------------
LONG_CALL_S = 0.05  # a call this long needs no warm-up call first: a cold start costs it ~1 ms, under 2 %
MAX_SAMPLES_PER_VISIT = 8
VISIT_OVERHEAD_S = 3e-4  # a request's round trip, for the plan's estimates


@dataclass
class CaseState:
    index: int
    spec: CaseSpec
    result: CaseResult
    framework: str
    worker: tuple[str, int]  # (framework, replicate): the cases that share one process per worker set
    group: tuple
    active: bool = True  # still to be visited (not skipped, failed or wrong-and-done)
    built: bool = False  # its first build is done
    number: int = 1
    f_number: int = 1
    per_call_s: float = 0.0
    f_per_call_s: float = 0.0
    estimate_bytes: int = 0
    touched: bool = False  # has something to say (enters the results)
    extra_visits: int = 0

    def visit_request(self, settings: RunSettings) -> protocol.Visit:
        sample_s = max(self.per_call_s * self.number, 1e-9)
        f_sample_s = max(self.f_per_call_s * self.f_number, 1e-9)
        samples = int(min(MAX_SAMPLES_PER_VISIT, max(_least_samples(sample_s), round(settings.visit_s / sample_s))))
        # f needs less: it only gives time/f, and two samples a visit (one preempted) still leave a fair minimum.
        f_samples = int(
            min(MAX_SAMPLES_PER_VISIT, max(min(2, _least_samples(f_sample_s)), round(settings.f_visit_s / f_sample_s)))
        )
        if not self.f_per_call_s:  # no f to time (a nested case: f is what differentiates)
            f_samples = 0
        warm = (
            0 if self.per_call_s >= LONG_CALL_S else max(1, math.ceil(settings.warm_up_s / max(self.per_call_s, 1e-9)))
        )
        f_warm = (
            0
            if not f_samples or self.f_per_call_s >= LONG_CALL_S
            else max(1, math.ceil(settings.warm_up_s / 2 / max(self.f_per_call_s, 1e-9)))
        )
        return protocol.Visit(self.index, samples, f_samples, min(warm, 100_000), min(f_warm, 100_000))

    def least_visits(self, settings: RunSettings) -> int:
        """The visits this case gets before the adaptive part (``min_visits``, fewer for a slow case)."""
        if not settings.slow_case_s:
            return settings.min_visits
        return min(settings.min_visits, max(2, math.ceil(settings.slow_case_s / self.visit_cost_s(settings))))

    def visit_cost_s(self, settings: RunSettings) -> float:
        v = self.visit_request(settings)
        return (
            VISIT_OVERHEAD_S
            + (v.warm_calls + v.samples * self.number) * self.per_call_s
            + (v.f_warm_calls + v.f_samples * self.f_number) * self.f_per_call_s
        )


def _least_samples(sample_s: float) -> int:
    """Samples a visit takes at least: three while they are short, so that one sample a neighbour
    preempted (several times slower) cannot move the visit's median; fewer for long ones, which a
    millisecond's preemption barely moves."""
    return 3 if sample_s <= 0.01 else 2 if sample_s <= 0.05 else 1


class _CaseEnded(Exception):
    """A request ended its case: the status, the reason, and whether the worker must go."""

    def __init__(self, status: Status, reason: str, traceback: str | None = None, retire: bool = True) -> None:
        super().__init__(reason)
        self.status, self.reason, self.traceback, self.retire = status, reason, traceback, retire


StartWorker = Callable[[WorkerKey, list[str]], WorkerHandle]
ResultCallback = Callable[[CaseResult], None]


class Scheduler(AdaptiveVisits):
    """Owns a run: its workers (W sets of one process per framework), its cases and their visits, the
    passes, and the time budget.

    First every case is built in its framework's first worker (the run's first build: first calls,
    peak memory, the correctness check; another case has warmed the framework before); then the
    cases are visited in passes until each has ``min_visits``: a pass goes group by group (same
    problem, size and operation), every worker set, the frameworks in turns whose order alternates
    from pass to pass, so two cases one comparison pairs are visited within milliseconds of each
    other and each case's visits are spread over the run. A case is built in another worker set
    (from the run's compilation cache) before its first visit there, and built again when its
    worker forgot it or was replaced. Then, while the budget lasts, adaptive passes visit only the
    cases of the comparisons the results state that are not resolved yet but could be (predicted
    from their current estimate and standard error), until they are.

    A case that raises is an ``error``, one whose first call outlives ``compile_timeout_s`` a
    ``compile-timeout``, one whose visit outlives ``timeout_s`` a ``timeout``, one whose worker
    passes the memory limit ``memory``; each is recorded once and not retried, and a fresh worker
    takes over. Ctrl-C or SIGTERM stops the run and returns what finished: every worker is killed
    and reaped, and every case that had something to say is in ``outcome.results``.
    """

    def __init__(
        self,
        specs: list[CaseSpec],
        settings: RunSettings,
        *,
        on_result: ResultCallback | None = None,
        on_pass: Callable[[int], None] | None = None,
        outcome: RunOutcome | None = None,
        clock: Callable[[], float] = time.monotonic,
        start_worker: StartWorker | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool  # where workers come from and go back to, when they outlive the run
        self._finished = False
        self.outcome = outcome or RunOutcome()
        self.on_result, self.on_pass = on_result, on_pass
        # Called while a worker is busy past CHECKPOINT_S with something new in the results since the
        # last call (the caller saves them: a long compile next must not keep a finished case off disk).
        self.on_checkpoint: Callable[[], None] | None = None
        self._unsaved = False
        self.clock = clock
        self._start_worker = start_worker
        self.build_slots = settings.build_slots
        processes = split_by_operation(specs) if len(self.build_slots) > 1 else {}
        self.cases: list[CaseState] = []
        for i, spec in enumerate(specs):
            backend = get_backend(spec.backend)
            process = processes.get((backend.framework, spec.operation), backend.framework)
            self.cases.append(
                CaseState(
                    i,
                    spec,
                    new_result(spec, settings.threads),
                    backend.framework,
                    (process, spec.replicate),
                    group_key(spec),
                )
            )
        self.groups: list[list[CaseState]] = []
        by_group: dict[tuple, list[CaseState]] = {}
        for c in self.cases:
            by_group.setdefault(c.group, []).append(c)
        self.groups = list(by_group.values())
        self.worker_keys = list(dict.fromkeys(c.worker for c in self.cases))
        self.backends = {k: sorted({c.spec.backend for c in self.cases if c.worker == k}) for k in self.worker_keys}
        self.workers: dict[WorkerKey, WorkerHandle | None] = {}  # every live worker is here, for an interrupt
        self.held: dict[WorkerKey, OrderedDict[int, int]] = {}  # what each worker holds: case -> bytes
        self.cache: tempfile.TemporaryDirectory | None = None
        self.started_at = 0.0
        self.passes = 0
        self.spent: dict[str, float] = {
            "starting workers": 0.0,
            "first builds": 0.0,
            "other builds": 0.0,
            "visits": 0.0,
            "adaptive visits": 0.0,
        }
        self.adaptive_log: list[dict[str, Any]] = []
        self.adaptive_looks = 0
        self.placed: dict[WorkerKey, frozenset[int]] = {}  # the CPUs each live worker is pinned to now

    # -- time --------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def time_left(self) -> float:
        return self.settings.time_budget_s - self.elapsed()

    def _charge(self, phase: str, since: float) -> None:
        self.spent[phase] = self.spent.get(phase, 0.0) + self.clock() - since

    # -- the run ---------------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Every case built, visited at least ``min_visits`` times, then the budget spent where it helps."""
        outcome = self.outcome
        outcome.noise["load_average_start"] = _load_average()
        self.started_at = self.clock()
        restore: set[int] | None = None
        try:
            restore = _pin_parent(self.settings.cpus)
            self.cache = tempfile.TemporaryDirectory(prefix="adbench-compile-cache-")
            self._skip_unsupported()
            self._start_all()
            self._first_pass()
            while True:
                short = [c for c in self._pending() if len(c.result.raw_visits) < c.least_visits(self.settings)]
                if not short:
                    break
                self._pass(short, "visits")
            if self.settings.adaptive:
                self._adaptive()
            self._finished = True
        except KeyboardInterrupt as exc:
            outcome.interrupted = _signal_of(exc)
        finally:
            # The run is over either way: an interrupt now waits until every worker is reaped and
            # every case that had something to say is in the results, summarized, then ends the run
            # the same way as one that arrived earlier.
            try:
                with signals_deferred():
                    self._close_all()
                    if self.cache is not None:
                        self.cache.cleanup()
                    if restore:
                        os.sched_setaffinity(0, restore)
                    for c in self.cases:  # an interrupt between an answer and its report loses nothing
                        c.touched = c.touched or not c.active and c.result.status != "ok" or bool(c.result.raw_visits)
                    self._publish()
                    self.summarize()
                    outcome.noise.update(
                        noise_summary(outcome, self.settings.threads, outcome.noise["load_average_start"])
                    )
                    outcome.noise["load_average_end"] = _load_average()
            except KeyboardInterrupt as exc:
                outcome.interrupted = outcome.interrupted or _signal_of(exc)
        return outcome

    def _pending(self) -> list[CaseState]:
        return [c for c in self.cases if c.active and c.built]

    def _publish(self) -> None:
        # A case enters the results when it first has something to say, in the grid's order: a case
        # never reached (an interrupted run) is absent rather than an empty "ok".
        self.outcome.results[:] = [c.result for c in self.cases if c.touched]
        self._unsaved = True

    def _checkpoint(self) -> None:
        if self._unsaved and self.on_checkpoint is not None:
            self._unsaved = False
            self.on_checkpoint()

    def _report(self, c: CaseState, publish: bool = True) -> None:
        """Tell the caller about ``c``; ``publish``: it has something to say (a visit, or its end) and
        enters the results."""
        if publish:
            with signals_deferred():
                if not c.touched:
                    c.touched = True
                    self._publish()
        if self.on_result:
            self.on_result(c.result)

    def _end(self, c: CaseState, status: Status, reason: str, traceback: str | None = None) -> None:
        with signals_deferred():
            c.result.fail(status, reason, traceback)
            c.active = False
        self._report(c)

    def summarize(self, pairs: bool = True, analysis: Analysis | None = None) -> Analysis:
        """Every case's statistics and the run's estimates, comparisons and variance components (from
        ``analysis`` when the caller has just made it); the analysis."""
        from adbench.engine.estimates import STATISTICS, analyse, per_case

        analysis = analysis or analyse(self.visits_view(), self.settings.statistic, pairs=pairs)
        stat = STATISTICS[self.settings.statistic]
        for c in self.cases:
            c.result.summarize(
                analysis.times.get(c.index), analysis.f_times.get(c.index), analysis.over_f.get(c.index), stat
            )
            if pairs and c.result.raw_visits:
                c.result.components = per_case(c.result.raw_visits, self.settings.statistic)
        self.outcome.analysis = analysis
        if pairs:
            position = {c.index: i for i, c in enumerate(x for x in self.cases if x.touched)}
            self.outcome.comparisons = [
                [position[a], position[b], *rest]
                for a, b, *rest in analysis.comparisons()
                if a in position and b in position
            ]
            self.outcome.variance = analysis.variance()
        self.outcome.budget = self.budget_words()
        return analysis

    def visits_view(self) -> list[CaseVisits]:
        from adbench.engine.estimates import CaseVisits

        return [
            CaseVisits(c.group, c.worker, c.result.raw_visits, c.result.status in ("ok", "wrong")) for c in self.cases
        ]

    # -- workers ---------------------------------------------------------------------------------------
    def _new_worker(self, key: WorkerKey, cpus: frozenset[int] | None = None) -> WorkerHandle:
        """A worker for ``key``, started on ``cpus`` (the timed ones by default) and entered in ``workers``."""
        cpus = cpus or self.settings.cpus
        if self._start_worker is not None:
            worker = self._start_worker(key, self.backends[key[:2]])
        elif self.pool is not None:
            worker = self.pool.take(key, self.backends[key[:2]], self.settings, cpus)
        else:
            worker = Worker(self.backends[key[:2]], self.settings, self.cache.name if self.cache else None, cpus)
        self.workers[key] = worker
        self.held[key] = OrderedDict()
        self.placed.pop(key, None)  # a pooled worker may be anywhere: pinned again on its first request
        self._place(key, cpus)
        return worker

    def _place(self, key: WorkerKey, cpus: frozenset[int]) -> None:
        """Pin the worker at ``key`` to ``cpus`` unless it is there already."""
        worker = self.workers.get(key)
        if worker is not None and self.placed.get(key) != cpus:
            worker.move_to(cpus)
            self.placed[key] = cpus

    def _keys(self) -> list[WorkerKey]:
        return [(*k, w) for w in range(self.settings.workers) for k in self.worker_keys]

    def _start_all(self) -> None:
        """Every worker process of the run, started together (nothing is timed meanwhile), each entered
        in ``workers`` as soon as it exists; a framework whose workers cannot start fails its cases."""
        t0 = self.clock()
        needed = {c.worker for c in self.cases if c.active}
        started: list[WorkerKey] = []
        for key in self._keys():
            if key[:2] not in needed:
                continue
            try:
                with signals_deferred():  # their imports spread over the build CPUs; visits pin them back
                    self._new_worker(key, self.build_slots[len(started) % len(self.build_slots)])
                started.append(key)
            except OSError as exc:
                self._fail_worker(key, "error", f"cannot start a worker process: {exc}")
        for key in started:
            try:
                self._ready(key, fail_all=True)
            except _Nothing:
                pass
        self._charge("starting workers", t0)

    def _ready(self, key: WorkerKey, fail_all: bool) -> WorkerHandle:
        """Wait for a started worker's hello; if it never came, fail the cases it concerns (all of them with
        ``fail_all``, raising _Nothing; else the case at hand, raising _CaseEnded)."""
        worker = self.workers.get(key)
        if worker is None:  # none was started there (or it already failed): no hello will come
            reason = "its worker process was not started"
            raise _CaseEnded("error", reason, retire=False) if not fail_all else _Nothing()
        try:
            hello = worker.wait_ready()
            reason = f"worker did not start within {self.settings.worker_start_timeout_s:g} s"
        except WorkerDied as exc:
            hello, reason = None, str(exc)
        if hello is None:
            self.workers[key] = None
            if fail_all:
                self._fail_worker(key, "error", reason)
            raise _CaseEnded("error", reason, retire=False) if not fail_all else _Nothing()
        self.outcome.versions.update(hello.versions)
        self.outcome.builds.update(hello.builds or {})
        for c in self.cases:
            if c.worker == key[:2] and hello.versions.get(c.framework):
                c.result.framework_version = hello.versions[c.framework]
        self.outcome.unavailable.update(hello.unavailable)
        for c in self.cases:
            if c.worker == key[:2] and c.spec.backend in hello.unavailable and c.active:
                self._end(c, "skipped", f"backend unavailable: {hello.unavailable[c.spec.backend]}")
        return worker

    def _fail_worker(self, key: WorkerKey, status: Status, reason: str) -> None:
        for c in self.cases:
            if c.worker == key[:2] and c.active:
                self._end(c, status, reason)

    def _live(self, key: WorkerKey) -> WorkerHandle:
        """The worker at ``key``, started afresh if it was replaced or died after its last answer."""
        worker = self.workers.get(key)
        if worker is not None and not worker.alive:
            self._retire(key)  # it died after its last answer (a stray thread, an outside kill)
            worker = None
        if worker is None:
            t0 = self.clock()
            try:
                with signals_deferred():
                    self._new_worker(key)
            except OSError as exc:
                raise _CaseEnded("error", f"cannot start a worker process: {exc}", retire=False) from None
            try:
                worker = self._ready(key, fail_all=False)
            finally:
                self._charge("starting workers", t0)
        return worker

    def _retire(self, key: WorkerKey) -> None:
        with signals_deferred():
            worker = self.workers.get(key)
            if worker is not None:
                worker.close()
            self.workers[key] = None
            self.held[key] = OrderedDict()

    def _close_all(self) -> None:
        """Kill and reap every worker (a run with a pool that ended normally gives its well ones back,
        each told to forget the cases it holds); an interrupt arriving meanwhile waits until all are closed."""
        with signals_deferred():
            for key in list(self.workers):
                worker = self.workers.get(key)
                if self.pool is not None and self._finished and isinstance(worker, Worker) and worker.alive:
                    try:
                        for case in self.held.get(key, {}):
                            worker.send(protocol.Forget(case))
                    except WorkerDied:
                        self._retire(key)
                        continue
                    self.pool.give(key, self.backends[key[:2]], self.settings, worker)
                    self.workers[key] = None
                    self.held[key] = OrderedDict()
                    continue
                self._retire(key)

    # -- requests --------------------------------------------------------------------------------------
    def _send(
        self,
        c: CaseState,
        key: WorkerKey,
        message: protocol.Message,
        compiles: bool,
        cpus: frozenset[int] | None = None,
    ) -> _Waiting:
        """Send ``message`` about case ``c`` to the worker at ``key``, pinned to ``cpus`` (the timed CPUs by
        default); the request waiting for its answer. Raises _CaseEnded when the case is over."""
        cpus = cpus or self.settings.cpus
        worker = self._live(key)
        if not c.active:  # the fresh worker's hello said its backend is unavailable: skipped already
            raise _Nothing()
        self._place(key, cpus)
        try:
            worker.send(message)
        except WorkerDied:  # gone before the request reached it: a fresh worker, once
            self._retire(key)
            if isinstance(message, protocol.Visit):
                raise _Rebuild() from None
            worker = self._live(key)
            self._place(key, cpus)
            try:
                worker.send(message)
            except WorkerDied as exc:
                raise _CaseEnded("error", str(exc)) from None
        limit = self.settings.compile_timeout_s if compiles else self.settings.timeout_s
        return _Waiting(c, key, worker, compiles, limit, self.clock() + limit, self.clock())

    def _answer(self, w: _Waiting, wait_s: float) -> protocol.Message | None:
        """The answer to ``w``'s request if it comes within ``wait_s``, else None (a ``Progress`` switches the
        limit from the compile limit to the steady one). Raises _CaseEnded when the case is over."""
        c = w.c
        while True:
            try:
                answer = w.worker.receive(max(0.0, min(wait_s, w.deadline - self.clock())))
            except MemoryExceeded as exc:
                raise _CaseEnded("memory", str(exc)) from None
            except WorkerDied as exc:
                raise _CaseEnded("error", str(exc)) from None
            if answer is None and self.clock() < w.deadline:
                return None
            if answer is None:
                if w.compiling:
                    raise _CaseEnded(
                        "compile-timeout",
                        f"its first call (trace, compile, run) did not finish within "
                        f"the compile limit of {w.limit:g} s (--compile-timeout)",
                    )
                raise _CaseEnded("timeout", f"no result within the case time limit of {w.limit:g} s (--timeout)")
            about = getattr(answer, "case", c.index)  # Ready has no case
            if about != c.index:
                raise _CaseEnded("error", f"worker answered about case {about}, not {c.index}")
            if isinstance(answer, protocol.Progress):
                w.compiling, w.limit = False, self.settings.timeout_s
                w.deadline = self.clock() + w.limit
                continue
            if isinstance(answer, protocol.Ready):
                raise _CaseEnded("error", "worker sent a second hello instead of an answer")
            return answer

    def _ask(self, c: CaseState, key: WorkerKey, message: protocol.Message, compiles: bool) -> protocol.Message:
        """Send ``message`` about case ``c`` to the worker at ``key`` and wait for its answer (the caller saves
        what is new while it waits). Raises _CaseEnded when the case is over."""
        waiting = self._send(c, key, message, compiles)
        while (answer := self._answer(waiting, CHECKPOINT_S)) is None:
            self._checkpoint()
        return answer

    def _request(
        self, c: CaseState, key: WorkerKey, message: protocol.Message, compiles: bool
    ) -> protocol.Message | None:
        """``_ask``, with the case ended (and its worker retired where it must go) on failure: None then."""
        try:
            answer = self._ask(c, key, message, compiles)
        except _CaseEnded as ended:
            self._ended(c, key, ended)
            return None
        return self._unless_failed(c, key, answer)

    def _ended(self, c: CaseState, key: WorkerKey, ended: _CaseEnded) -> None:
        if ended.retire:
            self._retire(key)
        self._end(c, ended.status, ended.reason, ended.traceback)

    def _unless_failed(self, c: CaseState, key: WorkerKey, answer: protocol.Message) -> protocol.Message | None:
        """``answer``, or None after ending ``c`` when it says the case raised."""
        if isinstance(answer, protocol.Failed):
            # A case that raised may leave its framework broken for the rest of the process (a CUDA
            # error is sticky: every later call in that process fails): the next case gets a fresh worker.
            self._retire(key)
            self._end(c, "error", answer.error, answer.traceback)
            return None
        return answer

    # -- building ------------------------------------------------------------------------------------
    def _skip_unsupported(self) -> None:
        for c in self.cases:  # what can be known without evaluating f needs no worker
            reason = get_backend(c.spec.backend).supports(
                get_problem(c.spec.problem), c.spec.operation, c.spec.mode, None, c.spec.chunk_size, c.spec.device
            )
            if reason is not None:
                self._end(c, "skipped", reason)

    def _first_pass(self) -> None:
        """Pass 0: group by group, every case's first build, then the group's first visits (so a slow
        or hanging case delays only the cases after it, and what was measured is kept). Where there are
        CPUs for more than one build at a time, builds overlap (``_build_together``), and each group has its
        first visits as soon as it is built and no build is running."""
        first = self._build_together() if len(self.build_slots) > 1 else 0
        for group in self.groups[first:]:
            for worker in self._order(0):
                for c in (x for x in group if x.worker == worker and x.active and not x.built):
                    self._first_build(c)
            self._visit_group(group, {c.index for c in group if c.active and c.built}, 0, "visits")
        self._end_pass(0)

    def _first_build(self, c: CaseState) -> None:
        t0 = self.clock()
        key = (*c.worker, 0)
        try:
            self._take_first_build(c, key, self._request(c, key, self._first_build_request(c), compiles=True))
        except _Nothing:
            pass
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            self._charge("first builds", t0)
        if c.built:
            self._report(c, publish=False)  # it enters the results with its first visit

    def _first_build_request(self, c: CaseState) -> protocol.Build:
        return protocol.Build(c.index, c.spec.as_dict(), True, memory_limit_bytes=self.settings.memory_limit_bytes)

    def _take_first_build(self, c: CaseState, key: WorkerKey, answer: protocol.Message | None) -> None:
        with signals_deferred():
            if isinstance(answer, protocol.Skipped):
                c.result.memory_estimate_bytes = answer.memory_estimate_bytes
                self._end(c, "skipped", answer.reason)
            elif isinstance(answer, protocol.Built):
                self._take_build(c, key, answer)
                c.result.built({k: getattr(answer, k) for k in answer.__dataclass_fields__})
                c.built = True
            elif answer is not None:
                self._end(c, "error", f"worker answered a build with a {answer.type!r} message")

    def _build_together(self) -> int:
        """Every case's first build, in its framework's first worker, builds in different workers at once:
        each worker pinned, while it builds, to a build slot no other build uses, and no visit while any build
        runs, so a first call has its CPUs to itself as it would alone. Within a worker the cases come in the
        grid's order; a free slot goes to the worker with the most build time left (its builds so far predict
        the rest). Once the earliest group not visited yet is built, no build starts until the running ones
        are done and the built groups have had their first visits (what was measured is kept, whatever a
        later case does). Returns how many groups, in order, had their first visits."""
        t0, before = self.clock(), {k: self.spent[k] for k in ("starting workers", "visits")}
        queues: dict[WorkerKey, list[CaseState]] = {}
        for group in self.groups:
            for worker in self._order(0):
                queues.setdefault((*worker, 0), []).extend(c for c in group if c.worker == worker)
        took: dict[WorkerKey, list[float]] = {}  # seconds of each build so far, per worker
        flying: dict[WorkerKey, tuple[_Waiting, frozenset[int]]] = {}
        quiet_since = self.clock()  # the parent shares a build slot's CPU: it saves only after a quiet second
        visited = 0
        try:
            while True:
                visited = self._visit_built_groups(visited, flying)
                hold = visited < len(self.groups) and self._group_built(self.groups[visited])
                for slot in self.build_slots if not hold else ():
                    while slot not in {s for _, s in flying.values()}:
                        key = _most_work_left(queues, took, flying)
                        if key is None:
                            break
                        c = queues[key].pop(0)
                        if c.active and not c.built:
                            self._start_build(c, key, slot, flying)
                if not flying:
                    break
                arrived = False
                for key, (waiting, _) in list(flying.items()):
                    answer: protocol.Message | _CaseEnded | None
                    try:
                        answer = self._answer(waiting, CHECKPOINT_S if len(flying) == 1 else BUILD_POLL_S)
                    except _CaseEnded as ended:
                        answer, arrived = ended, True
                    if answer is not None:
                        del flying[key]
                        arrived = True
                        took.setdefault(key, []).append(self.clock() - waiting.since)
                        self._built_together(waiting, answer)
                if arrived:
                    quiet_since = self.clock()
                elif self.clock() - quiet_since >= CHECKPOINT_S:
                    self._checkpoint()
        finally:
            self.spent["first builds"] += self.clock() - t0 - sum(self.spent[k] - v for k, v in before.items())
        return visited

    @staticmethod
    def _group_built(group: list[CaseState]) -> bool:
        return all(c.built or not c.active for c in group)

    def _visit_built_groups(self, visited: int, flying: dict) -> int:
        """With no build running, the first visits of the groups, in order, whose builds are all done; how many
        groups have had theirs."""
        while not flying and visited < len(self.groups) and self._group_built(self.groups[visited]):
            group = self.groups[visited]
            self._visit_group(group, {c.index for c in group if c.active and c.built}, 0, "visits")
            visited += 1
        return visited

    def _start_build(
        self,
        c: CaseState,
        key: WorkerKey,
        slot: frozenset[int],
        flying: dict[WorkerKey, tuple[_Waiting, frozenset[int]]],
    ) -> None:
        t0 = self.clock()
        try:
            flying[key] = (self._send(c, key, self._first_build_request(c), True, slot), slot)
        except _CaseEnded as ended:
            self._ended(c, key, ended)
        except _Nothing:
            pass
        if key not in flying:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0

    def _built_together(self, waiting: _Waiting, answer: protocol.Message | _CaseEnded) -> None:
        c, key = waiting.c, waiting.key
        try:
            if isinstance(answer, _CaseEnded):
                self._ended(c, key, answer)
            else:
                self._take_first_build(c, key, self._unless_failed(c, key, answer))
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - waiting.since
        if c.built:
            self._report(c, publish=False)  # it enters the results with its first visit

    def _take_build(self, c: CaseState, key: WorkerKey, answer: protocol.Built) -> None:
        c.number, c.f_number = answer.number, answer.f_number
        if not c.per_call_s:
            c.per_call_s, c.f_per_call_s = answer.per_call_s, answer.f_per_call_s
        c.estimate_bytes = answer.memory_estimate_bytes or c.estimate_bytes or 0
        self.held.setdefault(key, OrderedDict())[c.index] = c.estimate_bytes
        self._bound(key, keep=c.index)

    def _build_again(self, c: CaseState, key: WorkerKey) -> bool:
        """Build ``c`` in the worker at ``key`` (another worker set, or after it was forgotten); whether it is held."""
        t0 = self.clock()
        message = protocol.Build(
            c.index, c.spec.as_dict(), False, c.number, c.f_number, self.settings.memory_limit_bytes
        )
        try:
            answer = self._request(c, key, message, compiles=True)
        except _Nothing:
            return False
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            self._charge("other builds", t0)
        if isinstance(answer, protocol.Built):
            self._take_build(c, key, answer)
            return True
        if answer is not None:
            self._end(c, "error", f"worker answered a build with a {answer.type!r} message")
        return False

    def _bound(self, key: WorkerKey, keep: int) -> None:
        """Forget the least recently visited cases past the worker's count bound, and one more each
        time its resident memory is past a quarter of the memory limit (what a held case keeps is
        far below its estimated peak, so the estimates would evict too much)."""
        held = self.held[key]
        worker = self.workers.get(key)
        limit = self.settings.keep_bytes
        rss = memory.rss_bytes(worker.pid) if limit and isinstance(worker, Worker) else None
        over = 1 if limit and rss is not None and rss > limit and len(held) > 1 else 0
        while len(held) > self.settings.max_kept or over:
            over = 0
            oldest = next((i for i in held if i != keep), None)
            if oldest is None:
                break
            del held[oldest]
            worker = self.workers.get(key)
            if worker is not None:
                try:
                    worker.send(protocol.Forget(oldest))
                except WorkerDied:
                    self._retire(key)
                    return

    # -- visiting ------------------------------------------------------------------------------------
    def _order(self, pass_index: int) -> list[tuple[str, int]]:
        """The frameworks' (and replicates') turn order, reversed every other pass."""
        return self.worker_keys if pass_index % 2 == 0 else self.worker_keys[::-1]

    def _pass(self, cases: list[CaseState], phase: str) -> None:
        """One pass: each of ``cases`` visited once in every worker set, group by group."""
        p = self.passes
        wanted = {c.index for c in cases}
        for group in self.groups:
            self._visit_group(group, wanted, p, phase)
        self._end_pass(p)

    def _visit_group(self, group: list[CaseState], wanted: set[int], p: int, phase: str) -> None:
        """A group's ``wanted`` cases visited back to back in every worker set, the frameworks in the
        pass's turn order, each framework's cases in an order reversed every other pass."""
        members = [c for c in group if c.index in wanted]
        if not members:
            return
        sets = list(range(self.settings.workers))
        sets = sets[p % len(sets) :] + sets[: p % len(sets)]
        for w in sets:
            for worker in self._order(p):
                mine = [c for c in members if c.worker == worker]
                for c in mine if p % 2 == 0 else mine[::-1]:
                    if c.active:
                        self._visit(c, (*worker, w), p, phase)

    def _end_pass(self, p: int) -> None:
        self.passes = p + 1
        self._unsaved = False
        if self.on_pass:
            self.on_pass(p)

    def _visit(self, c: CaseState, key: WorkerKey, p: int, phase: str) -> None:
        t0 = self.clock()
        try:
            for _attempt in range(2):
                if c.index not in self.held.get(key, {}) and not self._build_again(c, key):
                    return
                self.held[key].move_to_end(c.index)
                at = self.elapsed()
                t_visit = self.clock()
                try:
                    answer = self._request(c, key, c.visit_request(self.settings), compiles=False)
                except _Rebuild:
                    continue  # the worker was gone: a fresh one builds the case again, once
                except _Nothing:
                    return
                finally:
                    self._charge(phase, t_visit)
                if isinstance(answer, protocol.Sampled):
                    with signals_deferred():
                        c.result.add_visit(key[2], p, at, answer.samples, answer.f_samples, c.number, c.f_number)
                        if phase == "adaptive visits":
                            c.extra_visits += 1
                    self._bound(key, keep=c.index)
                elif answer is not None:
                    self._end(c, "error", f"worker answered a visit with a {answer.type!r} message")
                return
            self._end(c, "error", "its worker died twice before a visit reached it")
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            # A visit an interrupt cut short leaves a built case with nothing to say: it stays out
            # of the results (an "ok" row without a time) unless an earlier visit or its end put it in.
            self._report(c, publish=bool(c.result.raw_visits) or not c.active)

    def budget_words(self) -> dict[str, Any]:
        """The plan and where the time went, for the sidecar and the summary."""
        visits = sum(len(c.result.raw_visits) for c in self.cases)
        extra = sum(c.extra_visits for c in self.cases)
        return {
            "time_budget_s": self.settings.time_budget_s,
            "spent_s": round(self.elapsed(), 2),
            "workers": self.settings.workers,
            "min_visits": self.settings.min_visits,
            "visit_s": self.settings.visit_s,
            "passes": self.passes,
            "visits": visits,
            "adaptive_visits": extra,
            "adaptive_looks": self.adaptive_looks,
            "phases_s": {k: round(v, 2) for k, v in self.spent.items()},
            "adaptive": self.adaptive_log,
        }


BUILD_POLL_S = 0.01  # while builds overlap, how long each is waited for in turn


def _most_work_left(
    queues: dict[WorkerKey, list[CaseState]], took: dict[WorkerKey, list[float]], busy: dict[WorkerKey, Any]
) -> WorkerKey | None:
    """Of the idle workers with cases to build, the one with the most build time left (its own builds so far
    predict its next ones; the others' mean before it has any), first in order on a tie."""
    every = [t for ts in took.values() for t in ts]
    prior = sum(every) / len(every) if every else 1.0
    best, most = None, -1.0
    for key, queue in queues.items():
        left = [c for c in queue if c.active and not c.built]
        if key in busy or not left:
            continue
        mine = took.get(key)
        work = len(left) * (sum(mine) / len(mine) if mine else prior)
        if work > most:
            best, most = key, work
    return best


@dataclass
class _Waiting:
    """A request sent and not answered yet: its case and worker, and the limit its answer is held to."""

    c: CaseState
    key: WorkerKey
    worker: WorkerHandle
    compiling: bool  # still within its first call: the compile limit holds
    limit: float
    deadline: float
    since: float


class _Rebuild(Exception):
    """The worker was gone before a visit reached it: build the case in a fresh one and try again."""


class _Nothing(Exception):
    """A worker failed to start and its cases were failed already."""


def run_grid(
    specs: list[CaseSpec],
    settings: RunSettings,
    on_result: ResultCallback | None = None,
    outcome: RunOutcome | None = None,
    on_pass: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Run ``specs`` with a ``Scheduler`` (the one-call form, for scripts)."""
    return Scheduler(specs, settings, on_result=on_result, outcome=outcome, on_pass=on_pass).run()


def _signal_of(exc: KeyboardInterrupt) -> int:
    return signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
