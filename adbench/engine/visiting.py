"""Passes and visits: each case visited in every worker set, group by group, the frameworks in turns whose order
alternates from pass to pass; a case built again where its worker does not hold it, and what a worker holds kept
within its bounds (cases and memory)."""

from __future__ import annotations

from collections import OrderedDict

from adbench.engine import memory, protocol
from adbench.engine.case_state import CaseState
from adbench.engine.dispatch import NotSent, WorkerDispatch
from adbench.engine.protocol import WorkerDied
from adbench.engine.signals import signals_deferred
from adbench.engine.workers import Worker, WorkerKey


class Visiting(WorkerDispatch):
    """The visiting part of the ``Scheduler``."""

    # -- builds in other workers -----------------------------------------------------------------------
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
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            self._charge("other builds", t0)
        if isinstance(answer, protocol.Built):
            self._take_build(c, key, answer)
            return True
        if isinstance(answer, protocol.Message):
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

    # -- passes ----------------------------------------------------------------------------------------
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

    # -- one visit -------------------------------------------------------------------------------------
    def _visit(self, c: CaseState, key: WorkerKey, p: int, phase: str) -> None:
        """Visit ``c`` in the worker at ``key`` (built there first where it is not held); a worker gone before
        the visit reached it is replaced and the case built there again, once."""
        t0 = self.clock()
        try:
            for _attempt in range(2):
                if c.index not in self.held.get(key, {}) and not self._build_again(c, key):
                    return
                self.held[key].move_to_end(c.index)
                at = self.elapsed()
                t_visit = self.clock()
                try:
                    # An adaptive visit is for a stated comparison of the operation's times: f's samples
                    # (time/f) are the minimum visits' to give, and would cost it a quarter of its time.
                    request = c.visit_request(self.settings, with_f=phase != "adaptive visits")
                    answer = self._request(c, key, request, compiles=False)
                finally:
                    self._charge(phase, t_visit)
                if answer is NotSent.WORKER_GONE:
                    continue  # a fresh worker builds the case again, once
                if isinstance(answer, protocol.Sampled):
                    self._take_visit(c, key, p, at, phase, answer)
                elif answer is not None:
                    self._end(c, "error", f"worker answered a visit with a {answer.type!r} message")
                return
            self._end(c, "error", "its worker died twice before a visit reached it")
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            # A visit an interrupt cut short leaves a built case with nothing to say: it stays out
            # of the results (an "ok" row without a time) unless an earlier visit or its end put it in.
            self._report(c, publish=bool(c.result.raw_visits) or not c.active)

    def _take_visit(
        self, c: CaseState, key: WorkerKey, p: int, at: float, phase: str, answer: protocol.Sampled
    ) -> None:
        """A visit's samples into ``c``'s record (made ``at`` seconds into the run, in pass ``p``)."""
        with signals_deferred():
            c.result.add_visit(key[2], p, at, answer.samples, answer.f_samples, c.number, c.f_number)
            if phase == "adaptive visits":
                c.extra_visits += 1
        self._bound(key, keep=c.index)
