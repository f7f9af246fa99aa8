"""Runs a grid of cases. One ``Scheduler`` owns the workers, the passes, what is done and what is left, and
the time budget: every case is built once per worker process and kept there, then visited many times,
briefly, in passes that interleave the groups and frameworks; what budget is left goes to the
comparisons the results state but cannot yet resolve.

The ``Scheduler`` is built in layers, a module each: ``run_state`` (its cases, workers, clock and results),
``dispatch`` (starting workers and one request's round trip), ``visiting`` (passes and visits),
``first_builds`` (pass 0), ``adaptive`` (the visits after the minimum); the worker processes are
``workers``', the settings ``settings``', the noise diagnosis ``noise``'.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from adbench.engine.adaptive import AdaptiveVisits
from adbench.engine.cases import CaseSpec
from adbench.engine.first_builds import FirstBuilds
from adbench.engine.noise import _load_average, noise_summary, others_cpus
from adbench.engine.outcome import RunOutcome
from adbench.engine.run_state import ResultCallback
from adbench.engine.settings import RunSettings
from adbench.engine.signals import signals_deferred
from adbench.engine.workers import _pin_parent
from adbench.errors import Terminated

if TYPE_CHECKING:
    from adbench.engine.case_state import CaseState
    from adbench.engine.estimates import Analysis, CaseVisits


class Scheduler(FirstBuilds, AdaptiveVisits):
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

    def run(self) -> RunOutcome:
        """Every case built, visited at least ``min_visits`` times, then the budget spent where it helps."""
        outcome = self.outcome
        outcome.noise["load_average_start"] = _load_average()
        # A simulated run (its own start_worker) has no machine of its own to watch.
        outcome.noise["others_cpus_start"] = others_cpus() if self._start_worker is None else None
        self.started_at = self.clock()
        restore: set[int] | None = None
        try:
            restore = _pin_parent(self.settings.cpus)
            self.cache = tempfile.TemporaryDirectory(prefix="adbench-compile-cache-")
            self._skip_unsupported()
            self._start_all()
            self._first_pass()
            self._minimum_visits()
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
                    self._wind_up(restore)
            except KeyboardInterrupt as exc:
                outcome.interrupted = outcome.interrupted or _signal_of(exc)
        return outcome

    def _minimum_visits(self) -> None:
        """Every case visited ``least_visits`` times; in a run that prints the first screen alone, a case it
        states nothing on only ``unstated_min_visits`` times (``RunSettings``), which every case gets first, so
        that the questions are asked of times from as many visits."""
        settings = self.settings
        floor = settings.unstated_floor

        def visit_until(least: Callable[[CaseState], int]) -> None:
            while short := [c for c in self._pending() if len(c.result.raw_visits) < least(c)]:
                self._pass(short, "visits")

        if not floor:
            visit_until(lambda c: c.least_visits(settings))
            return
        visit_until(lambda c: min(floor, c.least_visits(settings)))
        stated = self.stated_cases()
        visit_until(lambda c: c.least_visits(settings) if c.index in stated else min(floor, c.least_visits(settings)))

    def _wind_up(self, restore: set[int] | None) -> None:
        """The run's end, however it came: workers reaped, the parent's CPUs given back, every case that had
        something to say in the results, summarized, and the machine's noise noted."""
        outcome = self.outcome
        self._close_all()
        if self.cache is not None:
            self.cache.cleanup()
        if restore:
            os.sched_setaffinity(0, restore)
        for c in self.cases:  # an interrupt between an answer and its report loses nothing
            c.touched = c.touched or not c.active and c.result.status != "ok" or bool(c.result.raw_visits)
        self._publish()
        self.summarize()
        outcome.noise.update(noise_summary(outcome, self.settings.threads, outcome.noise["others_cpus_start"]))
        outcome.noise["load_average_end"] = _load_average()

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
