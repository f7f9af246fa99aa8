"""The report's figures of one problem against n, as inline SVG, and the style every report figure is drawn in.

Colours, labels and order come from each backend's own metadata (``adbench/backends/``); numbers on
the axes are worded by ``adbench.formatting``. Only cases that passed are connected by lines and
fitted; ``wrong`` ones are drawn as hollow red rings, never joined to a line; failed ones as × at the
top edge (``marks``).
"""

from __future__ import annotations

import math
import textwrap
from contextlib import AbstractContextManager
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.lines import Line2D

from adbench.engine.estimates import Comparisons
from adbench.report import analysis
from adbench.report.analysis import ProblemInfo
from adbench.report.data import Series, backend_style, main_rows, ordered_series, timed_rows
from adbench.report.figure import (
    BAND_COLOUR,
    WRONG_COLOUR,
    band_handle,
    bytes_axis,
    colour,
    failed_handle,
    legend,
    legend_handle,
    limit_handle,
    new_figure,
    noisy_handle,
    ratio_axis,
    size_axis,
    sizes_of,
    time_axis,
    to_svg,
    wrong_handle,
)
from adbench.report.marks import dot_plot, draw_series, errorbars, mark_failures
from adbench.report.words import operation_title

# The cheap-gradient principle: a gradient costs a small constant (3-5) evaluations of f.
COST_BANDS = {
    "jacobian": ((3.0, 5.0), "cheap-gradient band (3–5×)"),
    "jvp": ((2.0, 4.0), "one pass: 2–4× f"),
    "vjp": ((2.0, 4.0), "one pass: 2–4× f"),
}
LESSON_TITLE_CHARS = 58  # a lesson panel (6.6 in) holds about this many characters of its bold title

RC = {
    "svg.fonttype": "path",  # text as shapes: the page looks the same whatever fonts the reader has
    "svg.hashsalt": "adbench-report",  # stable ids, so rebuilding unchanged results changes no byte
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5.5,
}


def time_vs_size(frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian") -> str:
    """Log-log time per call vs n, a line per backend × mode with 95% intervals, the NumPy floor in black."""
    title = operation_title(operation)
    rows = main_rows(frame, operation)
    if info.fixed_size:
        return dot_plot(rows, info, "time_s", f"Time per {title}", f"time per {title} (log scale)")
    series_list = ordered_series(rows)
    fits = {e["series"]: e["fit"] for e in analysis.exponents(frame, info, operation)} if operation == "hessian" else {}
    fig = new_figure(6.4, 5.0)
    ax = fig.add_subplot()
    for s in series_list:
        draw_series(ax, rows, s)
    time_axis(ax)
    size_axis(ax, sizes_of(rows))
    ax.set_ylabel(f"time per {title} ")
    ax.set_title(f"Time per {title} vs n" + (" by composition" if operation == "hessian" else ""), loc="left")
    failed = mark_failures(ax, rows, series_list)
    handles = [legend_handle(s, f"{s.label} (n^{fits[s]:.2f})" if s in fits else None) for s in series_list]
    handles += [noisy_handle()]
    handles += [wrong_handle()] if (rows["status"] == "wrong").any() else []
    handles += [failed_handle()] if failed else []
    legend(fig, handles)
    return to_svg(fig, f"{info.name} {operation} time vs size")


def ratio_vs_size(frame: pd.DataFrame, info: ProblemInfo, comparisons: Comparisons | None = None) -> str | None:
    """Measured forward/reverse Jacobian time per backend (with intervals) beside the theory's n/m."""
    ratios = analysis.fr_ratios(frame, comparisons)
    if not ratios:
        return None
    fig = new_figure(6.4, 4.6)
    ax = fig.add_subplot()
    handles = []
    for backend, table in ratios.items():
        c = colour(backend)
        x = table.index.astype(float)
        ax.plot(x, table["ratio"], "-o", color=c, markersize=5)
        errorbars(ax, x, table["ratio"], table["low"], table["high"], c)
        handles.append(Line2D([], [], color=c, marker="o", label=f"{backend_style(backend).label} (measured)"))
    sizes = sizes_of(main_rows(frame, "jacobian"))
    theory = [n / info.m(n) for n in sizes]
    ax.plot(
        sizes,
        theory,
        color="#000000",
        linestyle=(0, (2, 2)),
        linewidth=2.2,
        zorder=1,
        marker="_",
        markersize=14,
        markeredgewidth=2.2,
    )
    handles.append(
        Line2D([], [], color="#000000", linestyle=(0, (2, 2)), linewidth=2.2, label="theory: n JVPs / m VJPs = n/m")
    )
    ax.axhline(1.0, color="#555555", linewidth=1.0, zorder=1)
    values = [v for t in ratios.values() for v in t["ratio"]] + theory + [1.0]
    values += [v for t in ratios.values() for v in list(t["low"]) + list(t["high"]) if v > 0 and math.isfinite(v)]
    ax.set_ylim(min(values) / 3, max(values) * 3)
    ratio_axis(ax)
    size_axis(ax, sizes)
    # Which side means what is said in the label: text inside the axes would cover data.
    ax.set_ylabel("forward time / reverse time (log scale)\nabove 1×: reverse faster")
    ax.set_title("Forward / reverse: measured vs theory", loc="left")
    legend(fig, handles, ncols=2)
    return to_svg(fig, f"{info.name} forward over reverse")


def cost_band(info: ProblemInfo, operation: str) -> tuple[tuple[float, float], str] | None:
    """The band theory expects time(operation)/time(f) in: a gradient's (m = 1) 3-5×, one pass's 2-4×."""
    return COST_BANDS.get(operation) if (operation != "jacobian" or info.scalar) else None


def cost_over_f(frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian") -> str | None:
    """time(operation) / time(f), ADBench's headline ratio, with the band theory expects."""
    rows = main_rows(frame, operation)
    timed = timed_rows(rows)
    if not (timed["j_over_f"] > 0).any():
        return None
    title = operation_title(operation)
    band = cost_band(info, operation)
    if info.fixed_size:
        return dot_plot(
            rows,
            info,
            "j_over_f",
            f"time({title}) / time(f)",
            f"time({title}) / time(f) (log scale)",
            axis=ratio_axis,
            band=band,
        )
    series_list = [s for s in ordered_series(rows) if ((timed["series"] == s) & (timed["j_over_f"] > 0)).any()]
    fig = new_figure(6.4, 5.0)
    ax = fig.add_subplot()
    if band:
        ax.axhspan(*band[0], color=BAND_COLOUR, alpha=0.18, zorder=0, linewidth=0)
    for s in series_list:
        draw_series(ax, rows, s, "j_over_f")
    ratio_axis(ax)
    size_axis(ax, sizes_of(rows))
    ax.set_ylabel(f"time({title}) / time(f) (log scale)")
    ax.set_title(f"Cost of the {title} in evaluations of f", loc="left")
    handles = [legend_handle(s) for s in series_list] + ([band_handle(band[1])] if band else [])
    handles += [wrong_handle()] if (timed["status"] == "wrong").any() else []
    legend(fig, handles)
    return to_svg(fig, f"{info.name} {operation} over f")


def memory_vs_size(
    frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian", limit: float | None = None
) -> str | None:
    """Measured peak memory of each case against n, forward against reverse (or composition against composition)."""
    rows = main_rows(frame, operation)
    timed = timed_rows(rows)
    measured = timed[timed["peak_memory_bytes"].astype("Float64").fillna(0) > 0]
    if measured.empty:
        return None
    rows = rows.assign(peak_memory_bytes=rows["peak_memory_bytes"].astype("Float64").astype(float))
    title = operation_title(operation)
    if info.fixed_size:
        return dot_plot(
            rows,
            info,
            "peak_memory_bytes",
            f"Peak memory per {title}",
            "peak memory above the level before the case (log scale)",
            axis=bytes_axis,
            hollow_noisy=False,
        )
    series_list = [s for s in ordered_series(rows) if (measured["series"] == s).any()]
    fig = new_figure(6.4, 5.0)
    ax = fig.add_subplot()
    for s in series_list:
        draw_series(ax, rows, s, "peak_memory_bytes", hollow_noisy=False)
    handles = [legend_handle(s) for s in series_list]
    ax.set_yscale("log")
    if limit:
        ax.axhline(limit, color=WRONG_COLOUR, linestyle=(0, (4, 2)), linewidth=1.2)
        handles.append(limit_handle(limit))
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, limit / 2), max(hi, limit * 1.5))
    bytes_axis(ax)
    size_axis(ax, sizes_of(rows))
    failed = mark_failures(ax, rows[rows["status"] != "skipped"], series_list)
    handles += [wrong_handle()] if (measured["status"] == "wrong").any() else []
    handles += [failed_handle()] if failed else []
    ax.set_ylabel("peak memory above the level before (log scale)")
    ax.set_title(f"Measured peak memory per {title} vs n", loc="left")
    legend(fig, handles)
    return to_svg(fig, f"{info.name} {operation} memory")


def lesson(panels: list[tuple[pd.DataFrame, ProblemInfo, str]]) -> str:
    """The index's first figure: forward vs reverse Jacobians, per framework, for the headline problems."""
    fig = new_figure(6.6 * len(panels), 4.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    shown: dict[Series, None] = {}
    failed = wrong = False
    for ax, (frame, info, subtitle) in zip(axes, panels):
        rows = main_rows(frame, "jacobian")
        series_list = [s for s in ordered_series(rows) if s.mode in ("forward", "reverse", "manual")]
        for s in series_list:
            if draw_series(ax, rows, s):
                shown.setdefault(s, None)
        time_axis(ax)
        size_axis(ax, sizes_of(rows))
        failed |= mark_failures(ax, rows, series_list)  # after the scales: it reads the limits
        wrong |= bool((rows["status"] == "wrong").any())
        ax.set_ylabel("time per Jacobian ")
        # Wrapped to the panel's width: a long verdict ran past the axes into the legend on the right.
        ax.set_title(f"{info.name} ({info.shape})\n" + textwrap.fill(subtitle, LESSON_TITLE_CHARS), loc="left")
    series_list = sorted(shown, key=lambda s: s.sort_key)
    handles = [legend_handle(s) for s in series_list] + [noisy_handle()]
    handles += ([wrong_handle()] if wrong else []) + ([failed_handle()] if failed else [])
    if len(panels) == 1:  # one panel (a user's function): the legend below, so the panel keeps the width
        legend(fig, handles, ncols=2)
    else:
        fig.legend(handles=handles, loc="outside right upper", ncols=1)
    return to_svg(fig, "forward vs reverse, the headline problems")


def context(**rc: Any) -> AbstractContextManager[None]:
    """The report's figure style (``RC``), with ``rc`` over it."""
    return matplotlib.rc_context({**RC, **rc})
