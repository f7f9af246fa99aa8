"""What a run keeps while it runs (the base of the ``Scheduler``): its cases and groups, its workers and what
each holds, the clock and where the time went, and how a case enters the results or ends."""

from __future__ import annotations

import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from adbench.backends import get_backend
from adbench.engine.case_state import CaseState
from adbench.engine.cases import CaseSpec
from adbench.engine.grouping import group_key, second_process
from adbench.engine.outcome import RunOutcome, new_result
from adbench.engine.record import CaseResult, Status
from adbench.engine.settings import RunSettings
from adbench.engine.signals import signals_deferred
from adbench.engine.workers import WorkerHandle, WorkerKey, WorkerPool

StartWorker = Callable[[WorkerKey, list[str]], WorkerHandle]
ResultCallback = Callable[[CaseResult], None]
# The phases a run's time is charged to (``spent``, the sidecar's budget), in the order they come.
PHASES = ("starting workers", "first builds", "other builds", "visits", "adaptive visits")


class RunState:
    """A run's cases, workers and clock, and the bookkeeping every part of the ``Scheduler`` shares."""

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
        self.cases = _case_states(specs, settings)
        self.groups: list[list[CaseState]] = list(_by_group(self.cases).values())
        self.worker_keys = list(dict.fromkeys(c.worker for c in self.cases))
        self.backends = {k: sorted({c.spec.backend for c in self.cases if c.worker == k}) for k in self.worker_keys}
        self.workers: dict[WorkerKey, WorkerHandle | None] = {}  # every live worker is here, for an interrupt
        self.held: dict[WorkerKey, OrderedDict[int, int]] = {}  # what each worker holds: case -> bytes
        self.placed: dict[WorkerKey, frozenset[int]] = {}  # the CPUs each live worker is pinned to now
        self.cache: tempfile.TemporaryDirectory | None = None
        self.started_at = 0.0
        self.passes = 0
        self.spent: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.adaptive_log: list[dict[str, Any]] = []
        self.adaptive_looks = 0

    # -- time --------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def time_left(self) -> float:
        return self.settings.time_budget_s - self.elapsed()

    def _charge(self, phase: str, since: float) -> None:
        self.spent[phase] = self.spent.get(phase, 0.0) + self.clock() - since

    # -- the results -----------------------------------------------------------------------------------
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

    def budget_words(self) -> dict[str, Any]:
        """The plan and where the time went, for the sidecar and the summary."""
        visits = sum(len(c.result.raw_visits) for c in self.cases)
        extra = sum(c.extra_visits for c in self.cases)
        return budget_record(
            self.settings,
            spent_s=self.elapsed(),
            passes=self.passes,
            visits=visits,
            adaptive_visits=extra,
            adaptive_looks=self.adaptive_looks,
            phases_s=self.spent,
            adaptive=self.adaptive_log,
        )


def budget_record(
    settings: RunSettings,
    *,
    spent_s: float,
    passes: int,
    visits: int,
    adaptive_visits: int,
    adaptive_looks: int,
    phases_s: dict[str, float],
    adaptive: list[dict[str, Any]],
) -> dict[str, Any]:
    """The sidecar's ``budget``: the plan from the settings and where the time went (one run's, or a
    cluster's groups' summed by ``adbench.compare_cluster.cluster_budget``): its keys written here only."""
    return {
        "time_budget_s": settings.time_budget_s,
        "spent_s": round(spent_s, 2),
        "workers": settings.workers,
        "min_visits": settings.min_visits,
        "visit_s": settings.visit_s,
        "passes": passes,
        "visits": visits,
        "adaptive_visits": adaptive_visits,
        "adaptive_looks": adaptive_looks,
        "phases_s": {k: round(v, 2) for k, v in phases_s.items()},
        "adaptive": adaptive,
    }


def _case_states(specs: list[CaseSpec], settings: RunSettings) -> list[CaseState]:
    """Every spec as the scheduler sees it, with the worker process that holds it (a compiling framework's
    cases shared between two, where builds can overlap)."""
    second = second_process(specs) if len(settings.build_slots) > 1 else set()
    cases = []
    for i, spec in enumerate(specs):
        framework = get_backend(spec.backend).framework
        process = f"{framework}#2" if i in second else framework
        result = new_result(spec, settings.threads)
        cases.append(CaseState(i, spec, result, framework, (process, spec.replicate), group_key(spec)))
    return cases


def _by_group(cases: list[CaseState]) -> dict[tuple, list[CaseState]]:
    """The cases of each group, the groups in the order of their first case."""
    groups: dict[tuple, list[CaseState]] = {}
    for c in cases:
        groups.setdefault(c.group, []).append(c)
    return groups
