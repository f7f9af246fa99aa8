"""Adaptive stopping: while the budget lasts, more visits for the stated comparisons that are not resolved yet,
each looked at a few times as its visits grow, and stopped at a stricter level than the verdicts' (a mixin of
the ``Scheduler``, which owns the cases, the passes and the budget)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from adbench.engine.questions import ROLES, SUMMARY_ROLES

if TYPE_CHECKING:
    import pandas as pd

    from adbench.engine.case_state import CaseState
    from adbench.engine.estimates import Analysis, CaseVisits
    from adbench.engine.settings import RunSettings

# The level at which the adaptive loop counts a comparison as won and stops visiting it (a tie stops
# it at 95 %: stopping there cannot make a winner). Each adaptive round is another look at the same
# comparison: stopping at the 95 % line would let an A/A pair be called different whenever its random
# walk first crossed it. In the simulation of tests/test_coverage.py (100 runs each) A/A pairs were
# called different in 15 % of runs at 95 %, 7 % at 99 %, 1 % at 99.9 %, with the same power for real
# gaps of 1.3x. Verdicts are then stated at 95 % on all the visits.
STOP_CONFIDENCE = 0.999
ADAPTIVE_GROWTH = 0.5  # each adaptive round adds this fraction of the visits a comparison has
EXPLORE_GROWTH = 1.0  # a question predicted not to settle in the time left gets, once, a round doubling its visits


class AdaptiveVisits:
    """The ``Scheduler``'s adaptive part."""

    if TYPE_CHECKING:  # what it uses of the Scheduler it is mixed into, declared for the type checker only
        cases: list[CaseState]
        settings: RunSettings
        adaptive_log: list[dict[str, Any]]
        adaptive_looks: int

        def summarize(self, pairs: bool = True, analysis: Analysis | None = None) -> Analysis: ...

        def visits_view(self) -> list[CaseVisits]: ...

        def time_left(self) -> float: ...

        def _pass(self, cases: list[CaseState], phase: str) -> None: ...

    def current_frame(self, analysis: Analysis | None = None) -> pd.DataFrame:
        """The results so far as rows (for the questions the summary asks), indexed by case."""
        import pandas as pd

        self.summarize(pairs=analysis is not None, analysis=analysis)
        rows = []
        for c in self.cases:
            if c.result.status == "ok" and c.result.time_s:
                r = c.result
                rows.append(
                    {
                        "case": c.index,
                        "problem": r.problem,
                        "size": r.size,
                        "operation": r.operation,
                        "backend": r.backend,
                        "mode": r.mode,
                        "dtype": r.dtype,
                        "device": r.device,
                        "chunk_size": r.chunk_size,
                        "replicate": r.replicate,
                        "host": r.host,
                        "status": r.status,
                        "time_s": r.time_s,
                    }
                )
        columns = [
            "case",
            "problem",
            "size",
            "operation",
            "backend",
            "mode",
            "dtype",
            "device",
            "chunk_size",
            "replicate",
            "host",
            "status",
            "time_s",
        ]
        return pd.DataFrame(rows, columns=columns).set_index("case")

    def open_questions(self) -> list[dict[str, Any]]:
        """The stated comparisons that are not resolved, each with the visits it would need and their cost."""
        from adbench.engine.estimates import CONFIDENCE, analyse, settled, visits_to_resolve
        from adbench.engine.questions import questions

        analysis = analyse(self.visits_view(), self.settings.statistic, pairs=True)
        frame = self.current_frame(analysis)
        if frame.empty:
            return []
        asked = questions(frame)
        out = []
        for q in asked:
            if q.role == "table" and not self.settings.detail_questions:
                continue
            e = analysis.pair(int(q.a), int(q.b))
            if e is None:
                continue
            if settled(e, STOP_CONFIDENCE, CONFIDENCE):
                continue
            needed = visits_to_resolve(e, STOP_CONFIDENCE, CONFIDENCE)
            a, b = self.cases[int(q.a)], self.cases[int(q.b)]
            per_round = (a.visit_cost_s(self.settings) + b.visit_cost_s(self.settings)) * self.settings.workers
            out.append(
                {
                    "question": q,
                    "cases": (a, b),
                    "visits": needed,
                    "matched": e.n,
                    "seconds": needed * per_round / self.settings.workers,
                    "round_s": per_round,
                }
            )
        return out

    def _adaptive(self) -> None:
        """Visits for the stated comparisons still open, while the budget lasts.

        Each round (a look) takes the open comparisons that their predicted visits would resolve
        within the time left, cheapest first, and visits their cases in as many passes as adds half
        again the visits they have (at least two): the visits grow geometrically between looks, so
        a comparison is looked at a few times, not once per visit (each look is a chance for an
        A/A pair to cross the line by luck; ``STOP_CONFIDENCE`` guards the rest). When none is
        predicted to settle in the time left, each first-screen comparison still open gets one round
        that doubles its visits (its prediction rests on a few visits' standard error), then is
        judged again.
        """
        looks = 0
        explored: set[str] = set()
        while self.time_left() > 0:
            # The summary's questions (which mode, which framework) before the details' (a backend's
            # faster mode, A/A replicates), cheapest first within each: a round fills its time in this
            # order, so what the first screen states is resolved first when the budget is short.
            asked = self.open_questions()
            feasible = sorted(
                (q for q in asked if q["seconds"] <= self.time_left()),
                key=lambda q: (ROLES.index(q["question"].role), q["seconds"]),
            )
            exploring = not feasible
            if exploring:
                # None is predicted to settle in the time left; but a prediction from a few visits is uncertain
                # itself (one slow visit in four can triple the standard error), so each first-screen question
                # still open gets, once, a round that doubles its visits, cheapest first, while the budget lasts.
                feasible = sorted(
                    (q for q in asked if q["question"].role in SUMMARY_ROLES and q["question"].label not in explored),
                    key=lambda q: q["round_s"] * q["matched"],
                )
            if not feasible:
                break
            cases: dict[int, CaseState] = {}
            per_pass, least = 0.0, math.inf
            for q in feasible:
                new = [c for c in q["cases"] if c.index not in cases]
                cost = sum(c.visit_cost_s(self.settings) for c in new) * self.settings.workers
                if cases and (per_pass + cost) * 2 > self.time_left():
                    continue
                for c in new:
                    cases[c.index] = c
                per_pass += cost
                least = min(least, q["matched"])
                if exploring:
                    explored.add(q["question"].label)
                entry = next((e for e in self.adaptive_log if e["question"] == q["question"].label), None)
                if entry is None:
                    entry = {"question": q["question"].label, "looks": 0}
                    self.adaptive_log.append(entry)
                entry["looks"] += 1
            growth = EXPLORE_GROWTH if exploring else ADAPTIVE_GROWTH
            passes = max(2, math.ceil(growth * least / self.settings.workers))
            passes = min(passes, max(1, int(self.time_left() / max(per_pass, 1e-9))))
            chosen = sorted(cases.values(), key=lambda c: c.index)
            for _ in range(passes):
                if self.time_left() <= 0:
                    break
                self._pass(chosen, "adaptive visits")
            looks += 1
        self.adaptive_looks = looks
