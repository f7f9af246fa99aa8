"""The front page's overview grid: problem·operation (rows) × backend (columns), each cell coloured by its
time over the fastest AD framework in its row, drawn by the page as an HTML table (crisp, and every cell a link).
The hand-written column stays visible, coloured by the same ratio, but is never starred: it is the floor.

Only cases that passed are coloured and ranked; a ``wrong`` or failed cell is marked in words and never
coloured as a rank; a case that is n/a by design is neutral. Every verdict comes from
``formatting.compare_rows``, as the headlines' do: a cell whose interval does not separate it from the
fastest is marked as a tie with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adbench import formatting as fmt
from adbench.engine.questions import ad_rows
from adbench.engine.record import FAILED
from adbench.report.data import NOT_APPLICABLE, backend_style, main_rows, ok_rows

# Time over the row's fastest, binned: the upper edge of each bin and its colour, a single-hue sequential
# scale (ColorBrewer Blues, 6 classes), read by lightness alone, so safe for every colour-vision deficiency:
# the darker, the nearer the fastest.
SCALE: tuple[tuple[float, str], ...] = (
    (1.25, "#08519c"),
    (2.0, "#3182bd"),
    (5.0, "#6baed6"),
    (20.0, "#9ecae1"),
    (100.0, "#c6dbef"),
    (math.inf, "#eff3ff"),
)
DARK = {"#08519c", "#3182bd"}  # backgrounds that need light text
MODE_SHORT = {
    "forward": "fwd",
    "reverse": "rev",
    "forward-over-reverse": "f/r",
    "reverse-over-reverse": "r/r",
    "reverse-over-forward": "r/f",
    "forward-over-forward": "f/f",
    "central": "",
    "manual": "",
}


def colour_of(ratio: float) -> str:
    """The scale's colour for a time ``ratio`` times the row's fastest (1 or more)."""
    return next(c for edge, c in SCALE if ratio < edge)


def scale_legend() -> list[tuple[str, str, str]]:
    """(colour, text colour, words) per bin, fastest first."""
    out, low = [], 1.0
    for edge, c in SCALE:
        words = f"≥ {fmt.factor(low)}" if math.isinf(edge) else f"{fmt.factor(low)}–{fmt.factor(edge)}"
        out.append((c, "#ffffff" if c in DARK else "#1b1b1b", words))
        low = edge
    return out


@dataclass
class Cell:
    kind: str  # ok, wrong, failed, skipped, n/a, or none (no such case in the set)
    text: str = ""
    detail: str = ""  # the ratio, or the status
    title: str = ""  # hover text: the case and its numbers in words
    colour: str = ""
    ink: str = ""
    ratio: float | None = None
    time: float | None = None
    fastest: bool = False
    tied: bool = False  # its interval does not separate it from the fastest


@dataclass
class GridRow:
    problem: str
    operation: str
    title: str
    href: str
    size: int | None
    mode: str  # the faster mode's short verdict
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Grid:
    columns: list[tuple[str, str]]  # (backend, label)
    rows: list[GridRow]
    intervals: bool

    def __bool__(self) -> bool:
        return bool(self.rows)


def _short_mode(headline: Any) -> str:
    if headline.modes is None:
        return ""
    state = headline.state
    if state == "resolved":
        return f"{headline.winner} {fmt.factor(headline.factor)}"
    return {"tie": "tie", "unresolved": "not resolved", "no-intervals": "no intervals"}.get(state, "")


def _cell(rows: pd.DataFrame) -> Cell:
    """A backend's cell when none of its cases passed: the reason, worst first."""
    shown = set(rows["shown"])
    for kind, statuses in (
        ("wrong", {"wrong"}),
        ("failed", set(FAILED)),
        ("skipped", {"skipped"}),
        (NOT_APPLICABLE, {NOT_APPLICABLE}),
    ):
        hit = shown & statuses
        if hit:
            status = min(hit)
            reason = next((e for e in rows.loc[rows["shown"] == status, "error"] if isinstance(e, str) and e), "")
            words = "not applicable" if kind == NOT_APPLICABLE else status
            return Cell(kind, words, "", f"{status}: {reason}" if reason else status)
    return Cell("none", "—", "", "not run")


def _best_per_backend(passed: pd.DataFrame) -> dict[str, pd.Series]:
    """Each backend's fastest passing case (its fastest mode)."""
    best: dict[str, pd.Series] = {}
    for _, r in passed.iterrows():
        b = str(r["backend"])
        if b not in best or fmt.headline_time(r) < fmt.headline_time(best[b]):
            best[b] = r
    return best


def _fastest_framework(at: pd.DataFrame, best: dict[str, pd.Series]) -> pd.Series | None:
    """The row's ★: the fastest AD framework, by the terminal's own rule (``engine.questions.ad_rows``):
    the hand-written derivative is the floor every framework is measured against, not a contender. A set
    of baselines only ranks them, as the terminal's glance does: they are what there is to rank."""
    frameworks = set(ad_rows(at)["backend"].astype(str))
    ranked = [r for b, r in best.items() if b in frameworks] if frameworks else list(best.values())
    return min(ranked, key=fmt.headline_time) if ranked else None


def _timed_cell(r: pd.Series, fastest: pd.Series, intervals: bool, comparisons: Any) -> Cell:
    """A backend's cell where a case passed: its time, coloured by its ratio to the row's fastest framework."""
    t, t0 = fmt.headline_time(r), fmt.headline_time(fastest)
    ratio = t / t0
    c = colour_of(ratio)
    is_fastest = r is fastest
    tied = False
    if not is_fastest and intervals:
        tied = fmt.compare_rows(r, fastest, comparisons).winner in ("tie", None)
    mode = str(r["mode"])
    words = (
        f"{r['series'].label}: {fmt.seconds(t)}"
        + (f" {fmt.interval(*span)}" if (span := fmt.row_interval(r)) else "")
        + (", the fastest framework" if is_fastest else f", {fmt.factor(ratio)} the fastest framework")
        + (" (not separated from it by the 95% intervals)" if tied else "")
    )
    ink = "#ffffff" if c in DARK else "#1b1b1b"
    return Cell("ok", fmt.seconds(t), MODE_SHORT.get(mode, mode), words, c, ink, ratio, t, is_fastest, tied)


def build_grid(view: Any, href: str) -> Grid:
    """The grid of a set's view (``views.SetView``); ``href`` is the set's folder relative to the page."""
    result = view.result
    intervals = result.has_intervals
    frame = result.frame
    backends = sorted(dict.fromkeys(s.backend for s in frame["series"]), key=lambda b: (backend_style(b).order, b))
    columns = [(b, backend_style(b).label) for b in backends]
    out = []
    for problem in view.problems:
        for o in problem.operations:
            h = o.headline
            rows = main_rows(problem.frame, o.operation)
            size = h.size if h.size is not None else (int(rows["size"].max()) if rows["size"].notna().any() else None)
            at = rows[rows["size"] == size] if size is not None else rows
            row = GridRow(
                problem.info.name, o.operation, o.title, f"{href}{problem.slug}.html#{o.anchor}", size, _short_mode(h)
            )
            best = _best_per_backend(ok_rows(at))
            fastest = _fastest_framework(at, best)
            for b in backends:
                if b in best and fastest is not None:
                    row.cells.append(_timed_cell(best[b], fastest, intervals, result.comparisons))
                else:
                    mine = at[at["backend"] == b]
                    row.cells.append(_cell(mine) if len(mine) else Cell("none", "—", "", "not run in this set"))
            out.append(row)
    return Grid(columns, out, intervals)
