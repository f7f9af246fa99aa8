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
    from adbench.engine.questions import Question
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

        def visits_view(self) -> list[CaseVisits]: ...

        def time_left(self) -> float: ...

        def _pass(self, cases: list[CaseState], phase: str) -> None: ...

    def current_frame(self, analysis: Analysis) -> pd.DataFrame:
        """The cases that passed, as rows with their current times (for the questions the output states),
        indexed by case: only what the questions read, straight from ``analysis`` (a look must be cheap: the
        loop makes several; the records are summarized once, at the end)."""
        import pandas as pd

        from adbench.engine.record import SPEC_KEYS

        rows = []
        for c in self.cases:
            time = analysis.times.get(c.index)
            if c.result.status == "ok" and time is not None and time.value > 0:
                rows.append((c.index, *(getattr(c.result, k) for k in SPEC_KEYS)))
        frame = pd.DataFrame(rows, columns=["case", *SPEC_KEYS])
        frame["status"] = "ok"
        frame["time_s"] = [analysis.times[i].value for i in frame["case"]]
        return frame.set_index("case")

    def pursued(self, q: Question) -> bool:
        """Whether the run states ``q`` (and spends visits on it): a detail table's only when it prints them."""
        return q.role != "table" or self.settings.detail_questions

    def stated_cases(self) -> set[int]:
        """The cases the run states a comparison on (what ``pursued`` questions name, by their current times) and
        the hand-written floor the first screen divides by (× hand)."""
        from adbench.engine.estimates import analyse
        from adbench.engine.questions import HAND_WRITTEN, questions

        frame = self.current_frame(analyse(self.visits_view(), self.settings.statistic, pairs=False))
        named = {int(i) for q in questions(frame) if self.pursued(q) for i in (q.a, q.b)}
        return named | {c.index for c in self.cases if c.spec.backend == HAND_WRITTEN}

    def open_questions(self) -> list[dict[str, Any]]:
        """The stated comparisons that are not resolved, each with the visits it would need and their cost."""
        from adbench.engine.estimates import CONFIDENCE, analyse, settled, visits_to_resolve
        from adbench.engine.questions import questions

        analysis = analyse(self.visits_view(), self.settings.statistic, pairs=True)
        frame = self.current_frame(analysis)
        if frame.empty:
            return []
        asked = [q for q in questions(frame) if self.pursued(q)]
        out = []
        for q in asked:
            e = analysis.pair(int(q.a), int(q.b))
            if e is None:
                continue
            if settled(e, STOP_CONFIDENCE, CONFIDENCE):
                continue
            needed = visits_to_resolve(e, STOP_CONFIDENCE, CONFIDENCE)
            a, b = self.cases[int(q.a)], self.cases[int(q.b)]
            per_round = sum(c.visit_cost_s(self.settings, with_f=False) for c in (a, b)) * self.settings.workers
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
                cost = sum(c.visit_cost_s(self.settings, with_f=False) for c in new) * self.settings.workers
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
