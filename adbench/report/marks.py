"""How a series is drawn on an axes: lines with 95% intervals, hollow noisy points, wrong rings, failure crosses.

Cases that passed are joined by a line; wrong ones are red rings never joined; failed ones crosses on the top
edge; at one size, a dot per series.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory
from numpy.typing import ArrayLike

from adbench.engine.record import NOT_RUN
from adbench.report.analysis import ProblemInfo
from adbench.report.data import Series, ordered_series, timed_rows
from adbench.report.figure import (
    BAND_COLOUR,
    FAILED_MARK,
    WRONG_COLOUR,
    band_handle,
    legend,
    new_figure,
    style,
    time_axis,
    to_svg,
    wrong_handle,
)
from adbench.report.words import integer

FAILED = NOT_RUN  # drawn as a cross: no time


def mark_failures(ax: Axes, frame: pd.DataFrame, series_list: list[Series]) -> bool:
    """An × on the top edge at each size where a series failed, in its colour; not hidden."""
    # Not a case that is n/a by design (a baseline without that derivative): nothing failed there.
    failed = frame[frame["shown"].isin(FAILED) & frame["series"].isin(series_list)]
    if failed.empty:
        return False
    # Free the top strip of the axes for the marks, so they never sit on a data point.
    lo, hi = ax.get_ylim()
    if ax.get_yscale() == "log":
        span = math.log10(hi / lo)
        ax.set_ylim(lo, 10 ** (math.log10(lo) + span / 0.84))
    else:
        ax.set_ylim(lo, lo + (hi - lo) / 0.84)
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    drawn = False
    for i, s in enumerate(series_list):
        sizes = failed.loc[failed["series"] == s, "size"].dropna()
        if len(sizes):
            # Stagger rows so several failures at one size stay visible.
            y = 0.985 - 0.035 * (i % 4)
            ax.plot(
                list(sizes.astype(float)),
                [y] * len(sizes),
                FAILED_MARK,
                color=s.style.colour,
                transform=trans,
                markersize=7,
                markeredgewidth=2,
                clip_on=False,
                zorder=4,
            )
            drawn = True
    return drawn


def errorbars(
    ax: Axes, x: ArrayLike, y: ArrayLike, lo: ArrayLike, hi: ArrayLike, colour_: str, horizontal: bool = False
) -> None:
    """The 95% interval of each point, where it has one."""
    x, y, lo, hi = (np.asarray(v, dtype=float) for v in (x, y, lo, hi))
    keep = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi > 0)
    if not keep.any():
        return
    err = np.vstack([np.maximum(y[keep] - lo[keep], 0), np.maximum(hi[keep] - y[keep], 0)])
    if horizontal:
        ax.errorbar(y[keep], x[keep], xerr=err, fmt="none", ecolor=colour_, elinewidth=1.1, capsize=2.5, zorder=2)
    else:
        ax.errorbar(x[keep], y[keep], yerr=err, fmt="none", ecolor=colour_, elinewidth=1.1, capsize=2.5, zorder=2)


def interval_columns(column: str) -> tuple[str | None, str | None]:
    return {"time_s": ("ci_low_s", "ci_high_s"), "j_over_f": ("j_over_f_ci_low", "j_over_f_ci_high")}.get(
        column, (None, None)
    )


def wrong_rings(ax: Axes, x: ArrayLike, y: ArrayLike, size: float = 9, zorder: float = 4) -> None:
    """Wrong results: a hollow red ring each, never joined to a line (shown, never ranked)."""
    ax.plot(
        x,
        y,
        linestyle="none",
        marker="o",
        markersize=size,
        markerfacecolor="none",
        markeredgecolor=WRONG_COLOUR,
        markeredgewidth=1.8,
        zorder=zorder,
    )


def _passed_line(ax: Axes, ok: pd.DataFrame, st: dict, column: str, label: str | None, hollow_noisy: bool) -> None:
    """The cases that passed: joined by a line, with their intervals as bars and noisy points hollow."""
    x = ok["size"].astype(float)
    ax.plot(
        x,
        ok[column],
        linestyle=st["linestyle"],
        color=st["color"],
        label=label,
        linewidth=st.get("linewidth", 1.8),
        zorder=st["zorder"],
    )
    lo, hi = interval_columns(column)
    if lo and hi:
        errorbars(ax, x, ok[column], ok[lo], ok[hi], st["color"])
    for noisy, part in ok.groupby(ok["noisy"].astype(bool) & hollow_noisy):
        ax.plot(
            part["size"].astype(float),
            part[column],
            linestyle="none",
            marker=st["marker"],
            color=st["color"],
            markerfacecolor="white" if noisy else st["color"],
            markeredgewidth=1.4,
            zorder=st["zorder"] + 0.1,
        )


def draw_series(
    ax: Axes,
    frame: pd.DataFrame,
    series: Series,
    column: str = "time_s",
    label: str | None = None,
    hollow_noisy: bool = True,
) -> bool:
    """A series: the cases that passed joined by a line (noisy ones hollow, 95% intervals as bars);
    its wrong cases as hollow red rings, not joined. True when anything was drawn."""
    st = style(series)
    rows = timed_rows(frame)
    rows = rows[(rows["series"] == series) & (rows[column] > 0)].sort_values("size")
    ok, wrong = rows[rows["status"] == "ok"], rows[rows["status"] == "wrong"]
    if len(ok):
        _passed_line(ax, ok, st, column, label, hollow_noisy)
    if len(wrong):
        x = wrong["size"].astype(float)
        wrong_rings(ax, x, wrong[column])
        ax.plot(x, wrong[column], linestyle="none", marker=st["marker"], markersize=4, color=st["color"], zorder=4.1)
    return bool(len(rows))


def _dot(ax: Axes, y: int, row: pd.Series, s: Series, column: str, hollow_noisy: bool) -> bool:
    """One series' dot at row ``y`` (its interval as a bar, a red ring when wrong), or its status in words.
    True when the dot is a wrong result."""
    value = row[column] if row["status"] in ("ok", "wrong") else None
    st = style(s)
    if value is None or not pd.notna(value) or not value > 0:
        ax.text(
            0.01,
            y,
            f"  {row['status']}",
            transform=blended_transform_factory(ax.transAxes, ax.transData),
            va="center",
            color=WRONG_COLOUR,
            fontsize=9,
        )
        return False
    wrong = row["status"] == "wrong"
    lo_col, hi_col = interval_columns(column)
    if wrong:
        wrong_rings(ax, [value], [y], size=10, zorder=2)  # under the dot
    elif lo_col and hi_col:
        errorbars(ax, [y], [value], [row[lo_col]], [row[hi_col]], st["color"], horizontal=True)
    hollow = bool(row["noisy"]) and hollow_noisy
    ax.plot(
        [value],
        [y],
        marker=st["marker"],
        color=st["color"],
        linestyle="none",
        markerfacecolor="white" if hollow else st["color"],
        markersize=7,
    )
    return bool(wrong)


def dot_plot(
    frame: pd.DataFrame,
    info: ProblemInfo,
    column: str,
    title: str,
    xlabel: str,
    axis: Callable[[Axes, str], None] = time_axis,
    band: tuple[tuple[float, float], str] | None = None,
    hollow_noisy: bool = True,
) -> str:
    """One size only (e.g. ``basic``): a dot per series (with its interval) instead of lines over n."""
    series_list = ordered_series(frame)
    fig = new_figure(6.4, 0.9 + 0.3 * max(3, len(series_list)))
    ax = fig.add_subplot()
    wrong_seen = False
    for y, s in enumerate(series_list):
        wrong_seen |= _dot(ax, y, frame[frame["series"] == s].iloc[0], s, column, hollow_noisy)
    ax.set_yticks(range(len(series_list)), [s.label for s in series_list])
    ax.set_ylim(len(series_list) - 0.5, -0.5)
    handles: list[Artist] = [wrong_handle()] if wrong_seen else []
    if band:  # before the axis is ticked: the band can widen its span past where 1-2-5 steps fit
        ax.axvspan(*band[0], color=BAND_COLOUR, alpha=0.18, zorder=0, linewidth=0)
        handles.append(band_handle(band[1]))
    axis(ax, "x")
    legend(fig, handles, ncols=2)
    ax.set_xlabel(xlabel)
    ax.set_title(f"{title} (n = {integer(info.sizes[0])})" if info.sizes else title, loc="left")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, f"{info.name}-{column}-{title}")
