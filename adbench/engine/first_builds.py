"""Pass 0: every case's first build (the run's first calls, peak memory, correctness check), group by group,
overlapping in different workers where there are CPUs for more than one build, each group's first visits as
soon as it is built and no build runs."""

from __future__ import annotations

from adbench.backends import get_backend
from adbench.engine import protocol
from adbench.engine.case_state import CaseState
from adbench.engine.dispatch import CHECKPOINT_S, CaseEnded, NotSent, Waiting
from adbench.engine.signals import signals_deferred
from adbench.engine.visiting import Visiting
from adbench.engine.workers import WorkerKey
from adbench.problems import get_problem

BUILD_POLL_S = 0.01  # while builds overlap, how long each is waited for in turn
Flying = dict[WorkerKey, tuple[Waiting, frozenset[int]]]  # the builds running: their requests and build slots


class FirstBuilds(Visiting):
    """The first pass of the ``Scheduler``."""

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

    # -- one build at a time ---------------------------------------------------------------------------
    def _first_build(self, c: CaseState) -> None:
        t0 = self.clock()
        key = (*c.worker, 0)
        try:
            self._take_first_build(c, key, self._request(c, key, self._first_build_request(c), compiles=True))
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0
            self._charge("first builds", t0)
        if c.built:
            self._report(c, publish=False)  # it enters the results with its first visit

    def _first_build_request(self, c: CaseState) -> protocol.Build:
        return protocol.Build(c.index, c.spec.as_dict(), True, memory_limit_bytes=self.settings.memory_limit_bytes)

    def _take_first_build(self, c: CaseState, key: WorkerKey, answer: protocol.Message | NotSent | None) -> None:
        with signals_deferred():
            if isinstance(answer, protocol.Skipped):
                c.result.memory_estimate_bytes = answer.memory_estimate_bytes
                self._end(c, "skipped", answer.reason)
            elif isinstance(answer, protocol.Built):
                self._take_build(c, key, answer)
                c.result.built({k: getattr(answer, k) for k in answer.__dataclass_fields__})
                c.built = True
            elif isinstance(answer, protocol.Message):
                self._end(c, "error", f"worker answered a build with a {answer.type!r} message")

    # -- builds that overlap ---------------------------------------------------------------------------
    def _build_together(self) -> int:
        """Every case's first build, in its framework's first worker, builds in different workers at once:
        each worker pinned, while it builds, to a build slot no other build uses, and no visit while any build
        runs, so a first call has its CPUs to itself as it would alone. Within a worker the cases come in the
        grid's order; a free slot goes to the worker with the most build time left (its builds so far predict
        the rest). Once the earliest group not visited yet is built, the built groups have their first visits
        as soon as the running builds are done (what was measured is kept, whatever a later case does); until
        then a free slot starts only builds predicted to end before those (backfilling: no CPU idles through
        the wait, predicted to be no longer). Returns how many groups, in order, had their first visits."""
        t0, before = self.clock(), {k: self.spent[k] for k in ("starting workers", "visits")}
        queues: dict[WorkerKey, list[CaseState]] = {}
        for group in self.groups:
            for worker in self._order(0):
                queues.setdefault((*worker, 0), []).extend(c for c in group if c.worker == worker)
        took: dict[WorkerKey, list[float]] = {}  # seconds of each build so far, per worker
        flying: Flying = {}
        quiet_since = self.clock()  # the parent shares a build slot's CPU: it saves only after a quiet second
        visited = 0
        try:
            while True:
                visited = self._visit_built_groups(visited, flying)
                hold = visited < len(self.groups) and self._group_built(self.groups[visited])
                # Held for first visits: only builds predicted to end before the running ones (backfilling).
                fits = _drain_s(took, flying, self.clock()) if hold else None
                for slot in self.build_slots:
                    self._fill_slot(slot, queues, took, flying, fits)
                if not flying:
                    break
                if self._land_builds(took, flying):
                    quiet_since = self.clock()
                elif self.clock() - quiet_since >= CHECKPOINT_S:
                    self._checkpoint()
        finally:
            self.spent["first builds"] += self.clock() - t0 - sum(self.spent[k] - v for k, v in before.items())
        return visited

    def _fill_slot(
        self,
        slot: frozenset[int],
        queues: dict[WorkerKey, list[CaseState]],
        took: dict[WorkerKey, list[float]],
        flying: Flying,
        fits: float | None = None,
    ) -> None:
        """Start builds on the free build ``slot`` until one runs there or none is left to start (of those
        predicted to take under ``fits`` seconds, when given)."""
        while slot not in {s for _, s in flying.values()}:
            key = _most_work_left(queues, took, flying, fits)
            if key is None:
                break
            c = queues[key].pop(0)
            if c.active and not c.built:
                self._start_build(c, key, slot, flying)

    def _land_builds(self, took: dict[WorkerKey, list[float]], flying: Flying) -> bool:
        """Each running build waited for in turn (a moment each while others run): those that answered or ended
        taken, and how long each took noted; whether any did."""
        arrived = False
        for key, (waiting, _) in list(flying.items()):
            # A lone build is waited for long (nothing else could start); once one has landed this round its
            # slot is free, so the others are only polled and the caller refills the slot at once.
            alone = len(flying) == 1 and not arrived
            answer = self._answer(waiting, CHECKPOINT_S if alone else BUILD_POLL_S)
            if answer is not None:
                del flying[key]
                arrived = True
                took.setdefault(key, []).append(self.clock() - waiting.since)
                self._built_together(waiting, answer)
        return arrived

    @staticmethod
    def _group_built(group: list[CaseState]) -> bool:
        return all(c.built or not c.active for c in group)

    def _visit_built_groups(self, visited: int, flying: Flying) -> int:
        """With no build running, the first visits of the groups, in order, whose builds are all done; how many
        groups have had theirs."""
        while not flying and visited < len(self.groups) and self._group_built(self.groups[visited]):
            group = self.groups[visited]
            self._visit_group(group, {c.index for c in group if c.active and c.built}, 0, "visits")
            visited += 1
        return visited

    def _start_build(self, c: CaseState, key: WorkerKey, slot: frozenset[int], flying: Flying) -> None:
        t0 = self.clock()
        sent = self._send(c, key, self._first_build_request(c), True, slot)
        if isinstance(sent, Waiting):
            flying[key] = (sent, slot)
            return
        if isinstance(sent, CaseEnded):
            self._ended(c, key, sent)
        c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - t0

    def _built_together(self, waiting: Waiting, answer: protocol.Message | CaseEnded) -> None:
        c, key = waiting.c, waiting.key
        try:
            if isinstance(answer, CaseEnded):
                self._ended(c, key, answer)
            else:
                self._take_first_build(c, key, self._unless_failed(c, key, answer))
        finally:
            c.result.wall_s = (c.result.wall_s or 0.0) + self.clock() - waiting.since
        if c.built:
            self._report(c, publish=False)  # it enters the results with its first visit


def _predicted_build_s(key: WorkerKey, took: dict[WorkerKey, list[float]]) -> float:
    """A build's seconds in the worker at ``key``: the mean of its builds so far, else every worker's (1 s first)."""
    mine = took.get(key) or [t for ts in took.values() for t in ts]
    return sum(mine) / len(mine) if mine else 1.0


def _drain_s(took: dict[WorkerKey, list[float]], flying: Flying, now: float) -> float:
    """Seconds until the running builds are predicted to be done: each its worker's mean build less what it has
    run, or, past that mean, as long again as it has run (a build already long is likely to go on)."""
    left = 0.0
    for key, (waiting, _) in flying.items():
        ran = now - waiting.since
        left = max(left, max(_predicted_build_s(key, took) - ran, ran))
    return left


def _most_work_left(
    queues: dict[WorkerKey, list[CaseState]],
    took: dict[WorkerKey, list[float]],
    busy: Flying,
    fits: float | None = None,
) -> WorkerKey | None:
    """Of the idle workers with cases to build (whose builds are predicted to take under ``fits`` seconds,
    when given), the one with the most build time left (its own builds so far predict its next ones; the
    others' mean before it has any), first in order on a tie."""
    best, most = None, -1.0
    for key, queue in queues.items():
        left = [c for c in queue if c.active and not c.built]
        if key in busy or not left:
            continue
        each = _predicted_build_s(key, took)
        if fits is not None and each >= fits:
            continue
        work = len(left) * each
        if work > most:
            best, most = key, work
    return best
