"""The scheduler's side of its workers: starting them (and replacing the dead), pinning, retiring and closing
them, and one request's round trip, held to the compile or the steady-state limit. What a request can come to
is said by what it returns: an answer, ``CaseEnded`` (the case is over, and why) or ``NotSent``."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from adbench.engine import protocol
from adbench.engine.case_state import CaseState
from adbench.engine.protocol import WorkerDied
from adbench.engine.record import Status
from adbench.engine.run_state import RunState
from adbench.engine.signals import signals_deferred
from adbench.engine.workers import MemoryExceeded, Worker, WorkerHandle, WorkerKey

CHECKPOINT_S = 1.0  # a worker busy this long (a compile) gives the parent time to save the results


@dataclass(frozen=True)
class CaseEnded:
    """A request ended its case: the status, the reason, and whether the worker must go."""

    status: Status
    reason: str
    traceback: str | None = None
    retire: bool = True


class NotSent(enum.Enum):
    """Why a request was not sent, its case not ended by it."""

    CASE_OVER = "case over"  # ended already: the fresh worker's hello said its backend is unavailable
    WORKER_GONE = "worker gone"  # a visit's worker died before it: a fresh one builds the case again, once


@dataclass
class Waiting:
    """A request sent and not answered yet: its case and worker, and the limit its answer is held to."""

    c: CaseState
    key: WorkerKey
    worker: WorkerHandle
    compiling: bool  # still within its first call: the compile limit holds
    limit: float
    deadline: float
    since: float


class WorkerDispatch(RunState):
    """Workers and requests, for the ``Scheduler``."""

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
            ready = self._ready(key)
            if isinstance(ready, CaseEnded):
                self._fail_worker(key, ready.status, ready.reason)
        self._charge("starting workers", t0)

    def _ready(self, key: WorkerKey) -> WorkerHandle | CaseEnded:
        """The started worker at ``key`` once its hello came; else (the worker then forgotten) how the case at
        hand ends."""
        worker = self.workers.get(key)
        if worker is None:  # none was started there (or it already failed): no hello will come
            return CaseEnded("error", "its worker process was not started", retire=False)
        try:
            hello = worker.wait_ready()
            reason = f"worker did not start within {self.settings.worker_start_timeout_s:g} s"
        except WorkerDied as exc:
            hello, reason = None, str(exc)
        if hello is None:
            self.workers[key] = None
            return CaseEnded("error", reason, retire=False)
        self._greeted(key, hello)
        return worker

    def _greeted(self, key: WorkerKey, hello: protocol.Ready) -> None:
        """What a worker's hello says: the frameworks' versions and builds, and the backends it lacks (their
        cases skipped)."""
        self.outcome.versions.update(hello.versions)
        self.outcome.builds.update(hello.builds or {})
        for c in self.cases:
            if c.worker == key[:2] and hello.versions.get(c.framework):
                c.result.framework_version = hello.versions[c.framework]
        self.outcome.unavailable.update(hello.unavailable)
        for c in self.cases:
            if c.worker == key[:2] and c.spec.backend in hello.unavailable and c.active:
                self._end(c, "skipped", f"backend unavailable: {hello.unavailable[c.spec.backend]}")

    def _fail_worker(self, key: WorkerKey, status: Status, reason: str) -> None:
        for c in self.cases:
            if c.worker == key[:2] and c.active:
                self._end(c, status, reason)

    def _live(self, key: WorkerKey) -> WorkerHandle | CaseEnded:
        """The worker at ``key``, started afresh if it was replaced or died after its last answer."""
        worker = self.workers.get(key)
        if worker is not None and not worker.alive:
            self._retire(key)  # it died after its last answer (a stray thread, an outside kill)
            worker = None
        if worker is not None:
            return worker
        t0 = self.clock()
        try:
            with signals_deferred():
                self._new_worker(key)
        except OSError as exc:
            return CaseEnded("error", f"cannot start a worker process: {exc}", retire=False)
        try:
            return self._ready(key)
        finally:
            self._charge("starting workers", t0)

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
    ) -> Waiting | CaseEnded | NotSent:
        """Send ``message`` about case ``c`` to the worker at ``key``, pinned to ``cpus`` (the timed CPUs by
        default): the request waiting for its answer, how the case ended, or why nothing was sent."""
        cpus = cpus or self.settings.cpus
        worker = self._live(key)
        if isinstance(worker, CaseEnded):
            return worker
        if not c.active:  # the fresh worker's hello said its backend is unavailable: skipped already
            return NotSent.CASE_OVER
        self._place(key, cpus)
        try:
            worker.send(message)
        except WorkerDied:  # gone before the request reached it: a fresh worker, once
            self._retire(key)
            if isinstance(message, protocol.Visit):
                return NotSent.WORKER_GONE
            resent = self._send_again(key, message, cpus)
            if isinstance(resent, CaseEnded):
                return resent
            worker = resent
        limit = self.settings.compile_timeout_s if compiles else self.settings.timeout_s
        return Waiting(c, key, worker, compiles, limit, self.clock() + limit, self.clock())

    def _send_again(self, key: WorkerKey, message: protocol.Message, cpus: frozenset[int]) -> WorkerHandle | CaseEnded:
        """``message`` sent to a fresh worker at ``key`` (the last one died before it reached it): that worker,
        or how the case ended."""
        worker = self._live(key)
        if isinstance(worker, CaseEnded):
            return worker
        self._place(key, cpus)
        try:
            worker.send(message)
        except WorkerDied as exc:
            return CaseEnded("error", str(exc))
        return worker

    def _answer(self, w: Waiting, wait_s: float) -> protocol.Message | CaseEnded | None:
        """The answer to ``w``'s request if it comes within ``wait_s``, how the case ended, or None while its
        limit lasts (a ``Progress`` switches the limit from the compile limit to the steady one)."""
        c = w.c
        while True:
            try:
                answer = w.worker.receive(max(0.0, min(wait_s, w.deadline - self.clock())))
            except MemoryExceeded as exc:
                return CaseEnded("memory", str(exc))
            except WorkerDied as exc:
                return CaseEnded("error", str(exc))
            if answer is None and self.clock() < w.deadline:
                return None
            if answer is None:
                return _over_limit(w)
            about = answer.case if isinstance(answer, protocol.CaseMessage) else c.index  # a hello has no case
            if about != c.index:
                return CaseEnded("error", f"worker answered about case {about}, not {c.index}")
            if isinstance(answer, protocol.Progress):
                w.compiling, w.limit = False, self.settings.timeout_s
                w.deadline = self.clock() + w.limit
                continue
            if isinstance(answer, protocol.Ready):
                return CaseEnded("error", "worker sent a second hello instead of an answer")
            return answer

    def _ask(
        self, c: CaseState, key: WorkerKey, message: protocol.Message, compiles: bool
    ) -> protocol.Message | CaseEnded | NotSent:
        """Send ``message`` about case ``c`` to the worker at ``key`` and wait for its answer (the caller saves
        what is new while it waits); or how the case ended, or why nothing was sent."""
        waiting = self._send(c, key, message, compiles)
        if not isinstance(waiting, Waiting):
            return waiting
        while (answer := self._answer(waiting, CHECKPOINT_S)) is None:
            self._checkpoint()
        return answer

    def _request(
        self, c: CaseState, key: WorkerKey, message: protocol.Message, compiles: bool
    ) -> protocol.Message | Literal[NotSent.WORKER_GONE] | None:
        """``_ask``, with the case ended (and its worker retired where it must go) on failure: None then, and
        None when the case was over already."""
        answer = self._ask(c, key, message, compiles)
        if isinstance(answer, CaseEnded):
            self._ended(c, key, answer)
            return None
        if answer is NotSent.CASE_OVER:
            return None
        if answer is NotSent.WORKER_GONE:
            return answer
        return self._unless_failed(c, key, answer)

    def _ended(self, c: CaseState, key: WorkerKey, ended: CaseEnded) -> None:
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


def _over_limit(w: Waiting) -> CaseEnded:
    """How a request that outlived its limit ends its case: past its first call's compile limit, or the steady
    one."""
    if w.compiling:
        return CaseEnded(
            "compile-timeout",
            f"its first call (trace, compile, run) did not finish within "
            f"the compile limit of {w.limit:g} s (--compile-timeout)",
        )
    return CaseEnded("timeout", f"no result within the case time limit of {w.limit:g} s (--timeout)")
