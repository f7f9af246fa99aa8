"""The Headline record: which mode wins and which framework is fastest, its words, and whether data can say so.

Built by ``analysis.headline``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from adbench import formatting as fmt
from adbench.report.words import operation_title


@dataclass
class Headline:
    """One operation of one problem: which mode wins, which framework is fastest, and whether the
    data can say so. Only cases that passed (status ok) of the AD frameworks are ranked."""

    problem: str
    operation: str
    intervals: bool = True
    size: int | None = None
    m: int | None = None
    best: dict[str, pd.Series] = field(default_factory=dict)  # mode -> fastest row of that mode
    modes: tuple[pd.Series, pd.Series] | None = None  # the fastest row, the fastest of another mode
    mode_verdict: fmt.Verdict | None = None
    fastest: pd.Series | None = None
    runner_up: pd.Series | None = None
    framework_verdict: fmt.Verdict | None = None
    floor: float | None = None  # the hand-written baseline's time at the headline size
    mode_text: str = ""
    framework_text: str = ""
    theory_text: str = ""

    @property
    def title(self) -> str:
        return operation_title(self.operation)

    @property
    def winner(self) -> str | None:
        """The winning mode's name, "tie", or None (one mode, or not resolved)."""
        v = self.mode_verdict
        if v is None or self.modes is None:
            return None
        if v.winner == "tie":
            return "tie"
        return str(self.modes[0 if v.winner == "a" else 1]["mode"]) if v.resolved else None

    @property
    def state(self) -> str:
        """For the page's styling: resolved, tie, unresolved, no-intervals or single."""
        v = self.mode_verdict
        if self.modes is None or v is None:  # the two are set together
            return "single"
        if not self.intervals:
            return "no-intervals"
        if v.winner is None:
            return "unresolved"
        return "tie" if v.winner == "tie" else "resolved"

    @property
    def fastest_named(self) -> pd.Series | None:
        """The fastest case, only where its lead over the next framework is resolved (or it ran alone)."""
        if self.fastest is None:
            return None
        if self.runner_up is None:
            return self.fastest
        v = self.framework_verdict
        return self.fastest if v is not None and v.winner == "a" else None

    @property
    def framework_lead(self) -> str:
        """The fastest framework against the next, without naming the fastest again (for tables)."""
        v, second = self.framework_verdict, self.runner_up
        if self.fastest is None:
            return ""
        if second is None:
            return fmt.lead_words(None, None)
        return fmt.lead_words(v, second["series"].label, second["time_s"], self.intervals)

    @property
    def fastest_label(self) -> str | None:
        """The fastest case's backend × mode, where it may be named (see ``fastest_named``)."""
        named = self.fastest_named
        return named["series"].label if named is not None else None

    @property
    def fastest_time(self) -> float | None:
        return float(self.fastest["time_s"]) if self.fastest is not None else None

    @property
    def fastest_interval(self) -> str:
        interval = fmt.row_interval(self.fastest) if self.fastest is not None else None
        return fmt.interval(*interval) if interval else ""

    @property
    def factor(self) -> float:
        return self.mode_verdict.factor if self.mode_verdict else float("nan")

    @property
    def floor_factor(self) -> float | None:
        """How far the fastest AD case is above the hand-written baseline at the headline size."""
        if self.floor and self.fastest is not None:
            return float(self.fastest["time_s"]) / self.floor
        return None

    @property
    def text(self) -> str:
        return "; ".join(t for t in (self.mode_text, self.framework_text) if t)


def short_headline(h: Headline) -> str:
    """A panel title's worth: "reverse 6.02× faster [5.9×, 6.1×]" (the size is on the axis)."""
    v, modes = h.mode_verdict, h.modes
    if h.state in ("resolved", "tie", "unresolved") and v is not None and modes is not None:
        return fmt.verdict_words(v, str(modes[0]["mode"]), str(modes[1]["mode"]), subject="modes")
    return {"no-intervals": fmt.NO_INTERVALS_SHORT, "single": "one mode only"}[h.state]
