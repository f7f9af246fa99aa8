"""One-size charts as HTML: a row per series, its value placed on a shared log axis computed here.

A problem measured at one size (the default grid's) and the first-call chart have one value per
series: a dot on a log axis, with its interval. Drawn as an HTML table by the page (``_macros.html``,
``dot_chart``) rather than as a matplotlib figure, they are crisp at any zoom, never overlap their
labels (the table lays them out), and cost nothing to build (a matplotlib figure costs about 0.2 s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adbench import formatting as fmt
from adbench.backends.modes import mode_style
from adbench.engine.record import TIMED
from adbench.engine.timing import NOISY_IQR_RATIO
from adbench.report.analysis import ProblemInfo
from adbench.report.data import NOT_APPLICABLE, Series, main_rows, ok_rows
from adbench.report.words import integer, operation_title

# matplotlib's marker of each mode (adbench.backends.modes) as a glyph: filled, and hollow (noisy, first call).
GLYPHS = {
    "s": ("■", "□"),
    "o": ("●", "○"),
    "^": ("▲", "△"),
    "v": ("▼", "▽"),
    "<": ("◀", "◁"),
    ">": ("▶", "▷"),
    "h": ("⬢", "⬡"),
    "D": ("◆", "◇"),
    "P": ("✚", "✚"),
}
PAD = 0.06  # of the axis's log span, each side: no dot sits on the frame
# The narrowest track the stylesheet lays out (two charts a row in a 1000 px window), and a tick label's
# width (0.75rem of a 15 px root: about 6.5 px a character): ticks are thinned to fit it.
TRACK_PX, LABEL_PX_PER_CHAR, LABEL_GAP_PX = 200, 6.5, 10


@dataclass
class Point:
    x: float  # position along the track, 0-100 (%)
    glyph: str
    colour: str
    ring: bool = False  # a wrong result: a red ring around it
    noisy: bool = False  # drawn hollow: its IQR is a large part of its median


@dataclass
class DotRow:
    label: str
    status: str  # as shown: ok, wrong, error, ..., skipped, n/a
    text: str  # the value (or the status) as printed at the row's end
    points: list[Point] = field(default_factory=list)
    interval: tuple[float, float] | None = None  # the 95% interval along the track (%)
    segment: tuple[float, float, str] | None = None  # a line joining two points: from, to, colour
    note: str = ""


@dataclass
class DotChart:
    title: str
    label: str  # the chart's accessible name
    xlabel: str
    rows: list[DotRow]
    ticks: list[tuple[float, str]]
    band: tuple[float, float, str] | None = None
    legend: list[tuple[str, str]] = field(default_factory=list)  # (glyph, words)


class LogAxis:
    """Values to positions (%) on a log axis padded around its data, with ticks in the quantity's unit."""

    def __init__(self, values: list[float], formatter: Callable[[float], str], binary: bool = False) -> None:
        values = [v for v in values if v is not None and math.isfinite(v) and v > 0] or [1.0]
        lo, hi = math.log10(min(values)), math.log10(max(values))
        if hi - lo < 0.3:  # a single value or a narrow spread: a span of about a factor of 2 around it
            mid = (lo + hi) / 2
            lo, hi = mid - 0.15, mid + 0.15
        span = hi - lo
        self.lo, self.hi = lo - PAD * span, hi + PAD * span
        self.formatter = formatter
        self.binary = binary  # bytes: ticks at 1, 10, 100 of KiB, MiB, GiB (decades of bytes read 9.54 MiB)

    def __call__(self, value: float) -> float:
        return 100 * (math.log10(value) - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[tuple[float, str]]:
        """Decades; 1-2-5 steps when the axis spans under two decades; the formatter's words."""
        # Candidates with a priority (decades first; 2 and 5 between them), kept where their labels fit beside
        # those already kept on the narrowest track the page lays out: a label never runs over another.
        candidates: list[tuple[float, int]]  # (value, priority)
        if self.binary:
            candidates = [
                (u * k, 0 if k == 1 else 1 if k in (10, 100) else 2)
                for u in (1, 2**10, 2**20, 2**30, 2**40)
                for k in (1, 2, 5, 10, 20, 50, 100, 200, 500)
            ]
        else:
            candidates = [
                (k * 10.0**d, priority)
                for d in range(math.floor(self.lo), math.ceil(self.hi) + 1)
                for k, priority in ((1, 0), (5, 1), (2, 2))
            ]
        kept: list[tuple[float, float, str]] = []  # (position, half width, label), in %
        for value, _ in sorted(candidates, key=lambda c: c[1]):
            x = self(value)
            if not 0 <= x <= 100:
                continue
            label = self.formatter(value)
            half = 50 * (len(label) * LABEL_PX_PER_CHAR + LABEL_GAP_PX) / TRACK_PX
            if all(abs(x - y) >= half + h for y, h, _ in kept):
                kept.append((x, half, label))
        return [(round(x, 2), label) for x, _, label in sorted(kept)]


def _glyph(series: Series, hollow: bool = False) -> str:
    filled, empty = GLYPHS.get(mode_style(series.mode)["marker"], GLYPHS["o"])
    return empty if hollow else filled


def _finite(x: Any) -> float | None:
    """A frame's cell (a number, NaN, None or text) as a positive finite float, else None."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def value_chart(
    frame: pd.DataFrame,
    info: ProblemInfo,
    operation: str,
    column: str,
    title: str,
    xlabel: str,
    formatter: Callable[[float], str],
    label: str,
    band: tuple[tuple[float, float], str] | None = None,
    bounds: tuple[str, str] | None = None,
    hollow_noisy: bool = True,
    binary: bool = False,
) -> DotChart | None:
    """One value per series (time, time/f, memory) at the problem's one size, with its interval where
    the set has one. Cases that failed or are n/a keep their row, with their status in words."""
    entries = _entries(main_rows(frame, operation), column, bounds)
    values = [x for _, _, v, lo, hi in entries for x in (v, lo, hi) if x]
    if not values:
        return None
    axis = LogAxis(values + (list(band[0]) if band else []), formatter, binary)
    out = [_value_row(s, r, v, lo, hi, axis, formatter, hollow_noisy) for s, r, v, lo, hi in entries]
    legend = []
    if any(p.noisy for row in out for p in row.points):
        legend.append(("○", f"noisy (IQR ≥ {NOISY_IQR_RATIO:.0%} of the median)"))
    if bounds:
        legend.append(("├┤", "95% interval"))
    if any(p.ring for row in out for p in row.points):
        legend.append(("◯", "wrong result: shown, never ranked"))
    chart_band = (axis(band[0][0]), axis(band[0][1]), band[1]) if band else None
    n = f" (n = {integer(info.sizes[0])})" if info.sizes else ""
    return DotChart(title + n, label, xlabel, out, axis.ticks(), chart_band, legend)


Entry = tuple[Series, pd.Series, float | None, float | None, float | None]


def _entries(rows: pd.DataFrame, column: str, bounds: tuple[str, str] | None) -> list[Entry]:
    """Each series' first row, in the series' order: (series, row, value, interval low, interval high)."""
    first: dict[Series, int] = {}
    for i, s in enumerate(rows["series"]):
        first.setdefault(s, i)
    entries = []
    for s in sorted(first, key=lambda s: s.sort_key):
        r = rows.iloc[first[s]]
        v = _finite(r[column]) if r["status"] in TIMED else None
        lo = hi = None
        if v is not None and bounds and r["status"] == "ok":
            lo, hi = _finite(r[bounds[0]]), _finite(r[bounds[1]])
        entries.append((s, r, v, lo, hi))
    return entries


def _value_row(
    s: Series,
    r: pd.Series,
    v: float | None,
    lo: float | None,
    hi: float | None,
    axis: LogAxis,
    formatter: Callable[[float], str],
    hollow_noisy: bool,
) -> DotRow:
    """A series' row: its dot (hollow when noisy, ringed when wrong) and interval, or its status in words."""
    shown = str(r["shown"])
    if v is None and r["status"] in TIMED:  # ran, with no value to place (a log axis has no zero)
        return DotRow(s.label, "none", "—", note="no value recorded")
    if v is None:
        words = "not applicable" if shown == NOT_APPLICABLE else shown
        return DotRow(s.label, shown, words, note=str(r["error"]) if isinstance(r["error"], str) else "")
    noisy = bool(r["noisy"]) and hollow_noisy and r["status"] == "ok"
    point = Point(axis(v), _glyph(s, noisy), s.style.colour, r["status"] == "wrong", noisy)
    row = DotRow(s.label, shown, formatter(v), [point])
    if lo and hi:
        row.interval = (axis(lo), axis(hi))
    return row


def time_chart(frame: pd.DataFrame, info: ProblemInfo, operation: str) -> DotChart | None:
    title = operation_title(operation)
    return value_chart(
        frame,
        info,
        operation,
        "time_s",
        f"Time per {title}",
        f"time per {title} (log scale)",
        fmt.seconds,
        f"{info.name} {operation} time",
        bounds=("ci_low_s", "ci_high_s"),
    )


def cost_chart(
    frame: pd.DataFrame, info: ProblemInfo, operation: str, band: tuple[tuple[float, float], str] | None
) -> DotChart | None:
    title = operation_title(operation)
    return value_chart(
        frame,
        info,
        operation,
        "j_over_f",
        f"time({title}) / time(f)",
        f"time({title}) / time(f) (log scale)",
        fmt.factor,
        f"{info.name} {operation} over f",
        band=band,
        bounds=("j_over_f_ci_low", "j_over_f_ci_high"),
    )


def memory_chart(frame: pd.DataFrame, info: ProblemInfo, operation: str) -> DotChart | None:
    rows = main_rows(frame, operation)
    rows = rows.assign(peak_memory_bytes=rows["peak_memory_bytes"].astype("Float64").astype(float))
    if not (rows.loc[rows["status"].isin(TIMED), "peak_memory_bytes"].fillna(0) > 0).any():
        return None
    return value_chart(
        rows,
        info,
        operation,
        "peak_memory_bytes",
        f"Peak memory per {operation_title(operation)}",
        "peak memory above the level before the case (log scale)",
        fmt.bytes_,
        f"{info.name} {operation} memory",
        hollow_noisy=False,
        binary=True,
    )


def hvp_chart(ratios: dict[Series, pd.DataFrame], info: ProblemInfo, band: tuple[float, float]) -> DotChart | None:
    """HVP time over the same backend's gradient at the problem's one size, by composition, with the band."""
    entries = [(s, t.iloc[-1]) for s, t in ratios.items() if len(t)]
    if not entries:
        return None
    axis = LogAxis([v for _, r in entries for v in (r["ratio"], r["low"], r["high"])] + list(band), fmt.factor)
    rows = []
    for s, r in entries:
        row = DotRow(s.label, "ok", fmt.factor(r["ratio"]), [Point(axis(r["ratio"]), _glyph(s), s.style.colour)])
        if _finite(r["low"]) and _finite(r["high"]):
            row.interval = (axis(r["low"]), axis(r["high"]))
        rows.append(row)
    n = f" (n = {integer(info.sizes[0])})" if info.sizes else ""
    return DotChart(
        f"HVP in gradients, by composition{n}",
        f"{info.name} second order",
        "HVP time / the gradient's time (log scale)",
        rows,
        axis.ticks(),
        (axis(band[0]), axis(band[1]), f"a small constant: {band[0]:g}–{band[1]:g}× the gradient"),
        [("├┤", "95% interval")],
    )


def first_call_chart(frame: pd.DataFrame, info: ProblemInfo, operation: str) -> DotChart | None:
    """First call (trace + compile + run) against steady state, per series, at its largest size."""
    ok = ok_rows(main_rows(frame, operation))
    ok = ok[ok["first_call_s"] > 0]
    if ok.empty:
        return None
    last: dict[Series, int] = {}  # each series' row at its largest size
    for i, s in enumerate(ok.sort_values("size", kind="stable")["series"]):
        last[s] = i
    ordered = ok.sort_values("size", kind="stable")
    picked = [(s, ordered.iloc[last[s]]) for s in sorted(last, key=lambda s: s.sort_key)]
    axis = LogAxis([float(r[c]) for _, r in picked for c in ("time_s", "first_call_s")], fmt.seconds)
    rows = []
    for s, r in picked:
        steady, first = float(r["time_s"]), float(r["first_call_s"])
        label = s.label if info.fixed_size else f"{s.label} (n = {integer(r['size'])})"
        c = s.style.colour
        rows.append(
            DotRow(
                label,
                "ok",
                f"{fmt.seconds(first)} · {fmt.factor(first / steady)}",
                [Point(axis(steady), "●", c), Point(axis(first), "○", c)],
                segment=(axis(min(steady, first)), axis(max(steady, first)), c),
            )
        )
    return DotChart(
        "First call vs steady state",
        f"{info.name} {operation} first call",
        "time per call (log scale)",
        rows,
        axis.ticks(),
        None,
        [("●", "steady state"), ("○", "first call (trace + compile + run); at the end: it and its ratio")],
    )
