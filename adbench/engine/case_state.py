"""The scheduler's view of a case: where it lives, what its build measured of its speed, and how long its
visits are (their samples and warm-up calls, sized from that speed)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from adbench.engine import protocol
from adbench.engine.cases import CaseSpec
from adbench.engine.record import CaseResult
from adbench.engine.settings import RunSettings

LONG_CALL_S = 0.05  # a call this long needs no warm-up call first: a cold start costs it ~1 ms, under 2 %
MAX_SAMPLES_PER_VISIT = 8
VISIT_OVERHEAD_S = 3e-4  # a request's round trip, for the plan's estimates


@dataclass
class CaseState:
    """One case as the scheduler keeps it: its record, its worker and group, and its speed from its build."""

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

    def visit_request(self, settings: RunSettings, with_f: bool = True) -> protocol.Visit:
        """A visit sized from the build's speed; ``with_f`` False: the operation alone (an adaptive visit, made
        for a stated comparison of the operation's times: f's time is the minimum visits' to give)."""
        sample_s = max(self.per_call_s * self.number, 1e-9)
        f_sample_s = max(self.f_per_call_s * self.f_number, 1e-9)
        samples = int(min(MAX_SAMPLES_PER_VISIT, max(_least_samples(sample_s), round(settings.visit_s / sample_s))))
        # f needs less: it only gives time/f, and two samples a visit (one preempted) still leave a fair minimum.
        f_samples = int(
            min(MAX_SAMPLES_PER_VISIT, max(min(2, _least_samples(f_sample_s)), round(settings.f_visit_s / f_sample_s)))
        )
        # No f to time (a nested case: f is what differentiates), or none asked for.
        if not self.f_per_call_s or not with_f:
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

    def visit_cost_s(self, settings: RunSettings, with_f: bool = True) -> float:
        """Seconds a visit is expected to take (``visit_request``'s calls and its round trip)."""
        v = self.visit_request(settings, with_f)
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
