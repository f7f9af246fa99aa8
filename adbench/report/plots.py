"""The report's figures, drawn with matplotlib (no pyplot, no global state) and returned as inline SVG.

Colours, labels and order come from each backend's own metadata (``adbench/backends/``); numbers on
the axes are worded by ``adbench.formatting``. Only cases that passed are connected by lines and
fitted; ``wrong`` ones are drawn as hollow red rings, never joined to a line; failed ones as × at the
top edge.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

# Figures are made with matplotlib.figure.Figure, never pyplot: no GUI backend is chosen (it runs
# headless on servers and in CI) and a caller's own pyplot backend and state are left alone.
import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from numpy.typing import ArrayLike

from adbench import formatting as fmt
from adbench.backends.modes import mode_style
from adbench.engine.estimates import Comparisons
from adbench.engine.record import NOT_RUN
from adbench.engine.timing import NOISY_IQR_RATIO
from adbench.report import analysis
from adbench.report.analysis import HVP_BAND, ProblemInfo, integer, operation_title
from adbench.report.data import Series, backend_style, main_rows, ok_rows, ordered_series, timed_rows

FAILED_MARK = "x"
FAILED = NOT_RUN  # drawn as a cross: no time
WRONG_COLOUR = "#b00020"
# The cheap-gradient principle: a gradient costs a small constant (3-5) evaluations of f.
COST_BANDS = {
    "jacobian": ((3.0, 5.0), "cheap-gradient band (3–5×)"),
    "jvp": ((2.0, 4.0), "one pass: 2–4× f"),
    "vjp": ((2.0, 4.0), "one pass: 2–4× f"),
}
BAND_COLOUR = "#009E73"
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


def colour(backend: str) -> str:
    """The backend's own colour (``adbench/backends/``), or a stable fallback for one unknown here."""
    return backend_style(backend).colour


def style(series: Series) -> dict:
    s = mode_style(series.mode)  # line style AND marker (adbench.backends.modes): modes read apart in greyscale
    s["color"] = series.style.colour
    if series.chunk is not None:
        s["linestyle"] = (0, (3, 1, 1, 1, 1, 1))
    if series.backend == "manual":
        s["linewidth"] = 2.6  # the floor: the heaviest line, drawn under the others
        s["zorder"] = 1.5
    else:
        s["zorder"] = 2.5
    return s


def legend_handle(series: Series, label: str | None = None) -> Line2D:
    st = style(series)
    return Line2D(
        [],
        [],
        color=st["color"],
        linestyle=st["linestyle"],
        marker=st["marker"],
        linewidth=st.get("linewidth", 1.8),
        label=label or series.label,
    )


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, no metadata, scalable."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"adbench-{label}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    # Namespaces are implied for SVG inside HTML; dropping them leaves no URL in the page at all.
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    # The page's CSS sizes the figure (width 100%); the viewBox keeps its aspect ratio.
    svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)
    safe = label.replace('"', "'").replace("&", "and").replace("<", "").replace(">", "")
    return svg.replace("<svg", f'<svg class="figure" role="img" aria-label="{safe}"', 1)


def _new(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _log_locator(limits: tuple[float, float]) -> ticker.Locator:
    """Decades; 1-2-5 steps too when the data span under two decades (else one lonely tick)."""
    lo, hi = sorted(limits)
    narrow = lo > 0 and hi / lo < 100
    return ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12)


def _unit_axis(ax: Axes, formatter: Callable[[float], str], axis: str = "y") -> None:
    """Log axis ticked in the quantity's own units (10 µs, 1 ms; 1 MiB; 10×), not in exponents."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(_log_locator(ax.get_ylim() if axis == "y" else ax.get_xlim()))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: formatter(float(v))))
    # No minor ticks: unlabelled, they add clutter, and each tick costs time to lay out.
    target.set_minor_locator(ticker.NullLocator())


def _time_axis(ax: Axes, axis: str = "y") -> None:
    _unit_axis(ax, fmt.seconds, axis)


def _bytes_axis(ax: Axes, axis: str = "y") -> None:
    """Log axis ticked at 1, 10 and 100 of KiB, MiB and GiB (decades of bytes would read 9.54 MiB)."""
    _unit_axis(ax, fmt.bytes_, axis)
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    steps = (1, 2, 5, 10, 20, 50, 100, 200, 500) if lo > 0 and hi / lo < 100 else (1, 10, 100)
    ticks = [u * k for u in (1, 2**10, 2**20, 2**30, 2**40) for k in steps if lo <= u * k <= hi]
    if len(ticks) >= 2:
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(ticker.FixedLocator(ticks))


def _ratio_axis(ax: Axes, axis: str = "y") -> None:
    _unit_axis(ax, fmt.factor, axis)  # 100,000×, not 1e+05×


def sizes_of(rows: pd.DataFrame) -> list[int]:
    return sorted({int(n) for n in rows["size"].dropna()})


def _size_axis(ax: Axes, sizes: Sequence[int]) -> None:
    """Log axis ticked at the measured sizes only, labelled 10 000 rather than 1e4."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.FixedLocator(list(sizes)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: integer(round(v))))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("input size n (log scale)")
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        pad = (hi / lo) ** 0.06
        ax.set_xlim(lo / pad, hi * pad)
    elif sizes:
        ax.set_xlim(sizes[0] / 2, sizes[0] * 2)


def _mark_failures(ax: Axes, frame: pd.DataFrame, series_list: list[Series]) -> bool:
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


def _legend(fig: Figure, handles: list, ncols: int = 2, loc: str = "outside lower center") -> None:
    if handles:
        fig.legend(handles=handles, loc=loc, ncols=min(ncols, len(handles)), handlelength=3.2, columnspacing=1.4)


def failed_handle() -> Line2D:
    return Line2D(
        [],
        [],
        color="#444444",
        marker=FAILED_MARK,
        linestyle="none",
        markersize=7,
        markeredgewidth=2,
        label="failed or not run (error / timeout / memory / skipped)",
    )


def noisy_handle() -> Line2D:
    return Line2D(
        [],
        [],
        color="#444444",
        marker="o",
        markerfacecolor="white",
        linestyle="none",
        label=f"noisy (IQR ≥ {NOISY_IQR_RATIO:.0%} of median); bars: 95% interval",
    )


def wrong_handle() -> Line2D:
    return Line2D(
        [],
        [],
        color=WRONG_COLOUR,
        marker="o",
        markerfacecolor="none",
        markersize=9,
        markeredgewidth=1.8,
        linestyle="none",
        label="wrong result: shown, never ranked",
    )


def band_handle(text: str, colour_: str = BAND_COLOUR) -> Patch:
    return Patch(color=colour_, alpha=0.18, label=text)


def _errorbars(
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


def _bounds(column: str) -> tuple[str | None, str | None]:
    return {"time_s": ("ci_low_s", "ci_high_s"), "j_over_f": ("j_over_f_ci_low", "j_over_f_ci_high")}.get(
        column, (None, None)
    )


def _draw_series(
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
    x = ok["size"].astype(float)
    if len(ok):
        ax.plot(
            x,
            ok[column],
            linestyle=st["linestyle"],
            color=st["color"],
            label=label,
            linewidth=st.get("linewidth", 1.8),
            zorder=st["zorder"],
        )
        lo, hi = _bounds(column)
        if lo:
            _errorbars(ax, x, ok[column], ok[lo], ok[hi], st["color"])
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
    if len(wrong):
        ax.plot(
            wrong["size"].astype(float),
            wrong[column],
            linestyle="none",
            marker="o",
            markersize=9,
            markerfacecolor="none",
            markeredgecolor=WRONG_COLOUR,
            markeredgewidth=1.8,
            zorder=4,
        )
        ax.plot(
            wrong["size"].astype(float),
            wrong[column],
            linestyle="none",
            marker=st["marker"],
            markersize=4,
            color=st["color"],
            zorder=4.1,
        )
    return bool(len(rows))


def _dot_plot(
    frame: pd.DataFrame,
    info: ProblemInfo,
    column: str,
    title: str,
    xlabel: str,
    axis: Callable[[Axes, str], None] = _time_axis,
    band: tuple[tuple[float, float], str] | None = None,
    hollow_noisy: bool = True,
) -> str:
    """One size only (e.g. ``basic``): a dot per series (with its interval) instead of lines over n."""
    series_list = ordered_series(frame)
    fig = _new(6.4, 0.9 + 0.3 * max(3, len(series_list)))
    ax = fig.add_subplot()
    labels = []
    wrong_seen = False
    lo_col, hi_col = _bounds(column)
    for y, s in enumerate(series_list):
        row = frame[frame["series"] == s].iloc[0]
        labels.append(s.label)
        value = row[column] if row["status"] in ("ok", "wrong") else None
        st = style(s)
        if value is not None and pd.notna(value) and value > 0:
            if row["status"] == "wrong":
                wrong_seen = True
                ax.plot(
                    [value],
                    [y],
                    marker="o",
                    markersize=10,
                    markerfacecolor="none",
                    linestyle="none",
                    markeredgecolor=WRONG_COLOUR,
                    markeredgewidth=1.8,
                )
            elif lo_col:
                _errorbars(ax, [y], [value], [row[lo_col]], [row[hi_col]], st["color"], horizontal=True)
            ax.plot(
                [value],
                [y],
                marker=st["marker"],
                color=st["color"],
                linestyle="none",
                markerfacecolor="white" if bool(row["noisy"]) and hollow_noisy else st["color"],
                markersize=7,
            )
        else:
            ax.text(
                0.01,
                y,
                f"  {row['status']}",
                transform=blended_transform_factory(ax.transAxes, ax.transData),
                va="center",
                color=WRONG_COLOUR,
                fontsize=9,
            )
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    handles: list[Artist] = [wrong_handle()] if wrong_seen else []
    if band:  # before the axis is ticked: the band can widen its span past where 1-2-5 steps fit
        ax.axvspan(*band[0], color=BAND_COLOUR, alpha=0.18, zorder=0, linewidth=0)
        handles.append(band_handle(band[1]))
    axis(ax, "x")
    _legend(fig, handles, ncols=2)
    ax.set_xlabel(xlabel)
    ax.set_title(f"{title} (n = {integer(info.sizes[0])})" if info.sizes else title, loc="left")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, f"{info.name}-{column}-{title}")


def time_vs_size(frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian") -> str:
    """Log-log time per call vs n, a line per backend × mode with 95% intervals, the NumPy floor in black."""
    title = operation_title(operation)
    rows = main_rows(frame, operation)
    if info.fixed_size:
        return _dot_plot(rows, info, "time_s", f"Time per {title}", f"time per {title} (log scale)")
    series_list = ordered_series(rows)
    fits = {e["series"]: e["fit"] for e in analysis.exponents(frame, info, operation)} if operation == "hessian" else {}
    fig = _new(6.4, 5.0)
    ax = fig.add_subplot()
    for s in series_list:
        _draw_series(ax, rows, s)
    _time_axis(ax)
    _size_axis(ax, sizes_of(rows))
    ax.set_ylabel(f"time per {title} ")
    ax.set_title(f"Time per {title} vs n" + (" by composition" if operation == "hessian" else ""), loc="left")
    failed = _mark_failures(ax, rows, series_list)
    handles = [legend_handle(s, f"{s.label} (n^{fits[s]:.2f})" if s in fits else None) for s in series_list]
    handles += [noisy_handle()]
    handles += [wrong_handle()] if (rows["status"] == "wrong").any() else []
    handles += [failed_handle()] if failed else []
    _legend(fig, handles)
    return to_svg(fig, f"{info.name} {operation} time vs size")


def ratio_vs_size(frame: pd.DataFrame, info: ProblemInfo, comparisons: Comparisons | None = None) -> str | None:
    """Measured forward/reverse Jacobian time per backend (with intervals) beside the theory's n/m."""
    ratios = analysis.fr_ratios(frame, comparisons)
    if not ratios:
        return None
    fig = _new(6.4, 4.6)
    ax = fig.add_subplot()
    handles = []
    for backend, table in ratios.items():
        c = colour(backend)
        x = table.index.astype(float)
        ax.plot(x, table["ratio"], "-o", color=c, markersize=5)
        _errorbars(ax, x, table["ratio"], table["low"], table["high"], c)
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
    _ratio_axis(ax)
    _size_axis(ax, sizes)
    # Which side means what is said in the label: text inside the axes would cover data.
    ax.set_ylabel("forward time / reverse time (log scale)\nabove 1×: reverse faster")
    ax.set_title("Forward / reverse: measured vs theory", loc="left")
    _legend(fig, handles, ncols=2)
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
        return _dot_plot(
            rows,
            info,
            "j_over_f",
            f"time({title}) / time(f)",
            f"time({title}) / time(f) (log scale)",
            axis=_ratio_axis,
            band=band,
        )
    series_list = [s for s in ordered_series(rows) if ((timed["series"] == s) & (timed["j_over_f"] > 0)).any()]
    fig = _new(6.4, 5.0)
    ax = fig.add_subplot()
    if band:
        ax.axhspan(*band[0], color=BAND_COLOUR, alpha=0.18, zorder=0, linewidth=0)
    for s in series_list:
        _draw_series(ax, rows, s, "j_over_f")
    _ratio_axis(ax)
    _size_axis(ax, sizes_of(rows))
    ax.set_ylabel(f"time({title}) / time(f) (log scale)")
    ax.set_title(f"Cost of the {title} in evaluations of f", loc="left")
    handles = [legend_handle(s) for s in series_list] + ([band_handle(band[1])] if band else [])
    handles += [wrong_handle()] if (timed["status"] == "wrong").any() else []
    _legend(fig, handles)
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
        return _dot_plot(
            rows,
            info,
            "peak_memory_bytes",
            f"Peak memory per {title}",
            "peak memory above the level before the case (log scale)",
            axis=_bytes_axis,
            hollow_noisy=False,
        )
    series_list = [s for s in ordered_series(rows) if (measured["series"] == s).any()]
    fig = _new(6.4, 5.0)
    ax = fig.add_subplot()
    for s in series_list:
        _draw_series(ax, rows, s, "peak_memory_bytes", hollow_noisy=False)
    handles = [legend_handle(s) for s in series_list]
    ax.set_yscale("log")
    if limit:
        ax.axhline(limit, color=WRONG_COLOUR, linestyle=(0, (4, 2)), linewidth=1.2)
        handles.append(
            Line2D([], [], color=WRONG_COLOUR, linestyle=(0, (4, 2)), label=f"memory limit ({fmt.bytes_(limit)})")
        )
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, limit / 2), max(hi, limit * 1.5))
    _bytes_axis(ax)
    _size_axis(ax, sizes_of(rows))
    failed = _mark_failures(ax, rows[rows["status"] != "skipped"], series_list)
    handles += [wrong_handle()] if (measured["status"] == "wrong").any() else []
    handles += [failed_handle()] if failed else []
    ax.set_ylabel("peak memory above the level before (log scale)")
    ax.set_title(f"Measured peak memory per {title} vs n", loc="left")
    _legend(fig, handles)
    return to_svg(fig, f"{info.name} {operation} memory")


def first_call(frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian") -> str | None:
    """First call (trace + compile + run) against steady state, per series, at its largest size."""
    ok = ok_rows(main_rows(frame, operation))
    ok = ok[ok["first_call_s"] > 0]
    if ok.empty:
        return None
    series_list = [s for s in ordered_series(ok)]
    fig = _new(6.4, 1.3 + 0.3 * len(series_list))
    ax = fig.add_subplot()
    labels = []
    for y, s in enumerate(series_list):
        row = ok[ok["series"] == s].sort_values("size").iloc[-1]
        c = s.style.colour
        ax.plot([row["time_s"], row["first_call_s"]], [y, y], color=c, linewidth=1.6, zorder=2)
        ax.plot([row["time_s"]], [y], "o", color=c, markersize=7, zorder=3)
        ax.plot(
            [row["first_call_s"]],
            [y],
            "o",
            color=c,
            markerfacecolor="white",
            markeredgewidth=1.8,
            markersize=7,
            zorder=3,
        )
        ax.annotate(
            fmt.factor(row["first_call_s"] / row["time_s"]),
            (max(row["first_call_s"], row["time_s"]), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="#333333",
        )
        labels.append(f"{s.label}  (n = {integer(row['size'])})" if not info.fixed_size else s.label)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    _time_axis(ax, "x")
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 4)  # room for the ratio labels
    ax.set_xlabel("time per call (log scale)")
    ax.set_title("First call vs steady state", loc="left")
    _legend(
        fig,
        [
            Line2D([], [], color="#444444", marker="o", linestyle="none", label="steady state "),
            Line2D(
                [],
                [],
                color="#444444",
                marker="o",
                markerfacecolor="white",
                markeredgewidth=1.8,
                linestyle="none",
                label="first call (trace + compile + run); label: ratio",
            ),
        ],
        ncols=2,
    )
    return to_svg(fig, f"{info.name} {operation} first call")


def lesson(panels: list[tuple[pd.DataFrame, ProblemInfo, str]]) -> str:
    """The index's first figure: forward vs reverse Jacobians, per framework, for the headline problems."""
    fig = _new(6.6 * len(panels), 4.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    shown: dict[Series, None] = {}
    failed = wrong = False
    for ax, (frame, info, subtitle) in zip(axes, panels):
        rows = main_rows(frame, "jacobian")
        series_list = [s for s in ordered_series(rows) if s.mode in ("forward", "reverse", "manual")]
        for s in series_list:
            if _draw_series(ax, rows, s):
                shown.setdefault(s, None)
        _time_axis(ax)
        _size_axis(ax, sizes_of(rows))
        failed |= _mark_failures(ax, rows, series_list)  # after the scales: it reads the limits
        wrong |= bool((rows["status"] == "wrong").any())
        ax.set_ylabel("time per Jacobian ")
        # Wrapped to the panel's width: a long verdict ran past the axes into the legend on the right.
        ax.set_title(f"{info.name} ({info.shape})\n" + textwrap.fill(subtitle, LESSON_TITLE_CHARS), loc="left")
    series_list = sorted(shown, key=lambda s: s.sort_key)
    handles = [legend_handle(s) for s in series_list] + [noisy_handle()]
    handles += ([wrong_handle()] if wrong else []) + ([failed_handle()] if failed else [])
    if len(panels) == 1:  # one panel (a user's function): the legend below, so the panel keeps the width
        _legend(fig, handles, ncols=2)
    else:
        fig.legend(handles=handles, loc="outside right upper", ncols=1)
    return to_svg(fig, "forward vs reverse, the headline problems")


def set_ratio(
    frames: list[pd.DataFrame],
    labels: list[str],
    info: ProblemInfo,
    operation: str,
    ylabel: str = "time / time on the reference set",
) -> tuple[str, int] | None:
    """Each other set's time over the reference set's, per backend × mode and size: a panel per set.

    Returns the SVG and its number of panels (the page sizes the figure by it).
    """
    if info.fixed_size:
        return None  # one size: the table says it better than a column of dots
    ref = analysis.times(main_rows(frames[0], operation))
    panels = []
    for frame, label in zip(frames[1:], labels[1:]):
        curves = []
        for s, t in analysis.times(main_rows(frame, operation)).items():
            if s in ref:
                r = (t / ref[s]).dropna()
                if len(r):
                    curves.append((s, r))
        if curves:
            panels.append((label, curves))
    if not panels:
        return None
    fig = _new(5.6 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    values = [v for _, curves in panels for _, r in curves for v in r.values] + [1.0]
    series_seen: dict[Series, None] = {}
    for ax, (label, curves) in zip(axes, panels):
        for s, r in curves:
            st = style(s)
            ax.plot(
                r.index.astype(float),
                r.values,
                linestyle=st["linestyle"],
                marker=st["marker"],
                color=st["color"],
                linewidth=st.get("linewidth", 1.8),
            )
            series_seen.setdefault(s, None)
        ax.axhline(1.0, color="#555555", linewidth=1.0)
        ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
        _ratio_axis(ax)
        _size_axis(ax, sorted({int(n) for _, curves_ in panels for _, r in curves_ for n in r.index}))
        ax.set_title(label, loc="left", fontsize=10)
    axes[0].set_ylabel(f"{ylabel}\nabove 1×: slower")
    _legend(fig, [legend_handle(s) for s in sorted(series_seen, key=lambda s: s.sort_key)], ncols=2 * len(panels))
    return to_svg(fig, f"{info.name} {operation} set ratio {' '.join(labels)}"), len(panels)


def second_order(
    frame: pd.DataFrame, info: ProblemInfo, comparisons: Comparisons | None = None
) -> tuple[str, int] | None:
    """The second-order panel of a scalar problem: HVP time over the gradient's (same backend), by
    composition, with the small-constant band; and the Hessian's time against n by composition,
    each labelled with its fitted exponent."""
    ratios = analysis.hvp_over_gradient(frame, comparisons)
    hessian = main_rows(frame, "hessian")
    has_hessian = not timed_rows(hessian).empty
    panels = int(bool(ratios)) + int(has_hessian)
    if not panels:
        return None
    fig = _new(5.8 * panels, 5.0)
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    if ratios:
        ax = axes.pop(0)
        ax.axhspan(*HVP_BAND, color=BAND_COLOUR, alpha=0.18, zorder=0, linewidth=0)
        handles: list[Artist] = []
        values = [HVP_BAND[0] / 1.5, HVP_BAND[1] * 1.5]
        for s, table in ratios.items():
            st = style(s)
            x = table.index.astype(float)
            ax.plot(
                x,
                table["ratio"],
                linestyle=st["linestyle"],
                marker=st["marker"],
                color=st["color"],
                linewidth=st.get("linewidth", 1.8),
                zorder=st["zorder"],
            )
            _errorbars(ax, x, table["ratio"], table["low"], table["high"], st["color"])
            values += [
                v for v in list(table["ratio"]) + list(table["high"]) + list(table["low"]) if v > 0 and math.isfinite(v)
            ]
            handles.append(legend_handle(s))
        ax.set_ylim(min(values) / 1.3, max(values) * 1.3)
        _ratio_axis(ax)
        _size_axis(ax, sorted({int(n) for table in ratios.values() for n in table.index}))
        ax.set_ylabel("HVP time / the gradient's time (log scale)")
        ax.set_title("HVP in gradients, by composition", loc="left")
        handles.append(band_handle(f"a small constant: {HVP_BAND[0]:g}–{HVP_BAND[1]:g}× the gradient"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, fontsize=8)
    if has_hessian:
        ax = axes.pop(0)
        fits = {e["series"]: e["fit"] for e in analysis.exponents(frame, info, "hessian")}
        series_list = ordered_series(hessian)
        for s in series_list:
            _draw_series(ax, hessian, s)
        _time_axis(ax)
        _size_axis(ax, sizes_of(hessian))
        _mark_failures(ax, hessian, series_list)
        ax.set_ylabel("time per Hessian ")
        ax.set_title("Hessian vs n, by composition", loc="left")
        handles = [
            legend_handle(s, f"{s.label}: n^{fits[s]:.2f}" if s in fits else f"{s.label}: one size")
            for s in series_list
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, fontsize=8)
    return to_svg(fig, f"{info.name} second order"), panels


def chunk_tradeoff(
    frame: pd.DataFrame, info: ProblemInfo, sizes: list[int], limit: float | None = None
) -> tuple[str, int] | None:
    """Time against measured peak memory of chunked Jacobians: a point per chunk size (unchunked
    included), a line per backend × mode, a panel per size."""
    rows = analysis.chunk_rows(frame)
    panels = []
    for n in sizes:
        every = rows[rows["size"] == n]
        at = timed_rows(every)
        at = at[at["peak_memory_bytes"].astype("Float64").fillna(0) > 0]
        missing = every[~every.index.isin(at.index)]
        if len(at):
            panels.append((n, at, missing))
    if not panels:
        return None
    fig = _new(5.6 * len(panels), 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    seen: dict[tuple[str, str], Series] = {}
    wrong = False
    for ax, (n, at, missing) in zip(axes, panels):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for (backend, mode), group in at.groupby(["backend", "mode"], sort=False):
            group = group.assign(_order=group["chunk_size"].astype("Float64").fillna(math.inf)).sort_values("_order")
            plain = Series(str(backend), str(mode))
            st = style(plain)
            mem = group["peak_memory_bytes"].astype(float)
            ok = group["status"] == "ok"
            ax.plot(
                mem[ok],
                group.loc[ok, "time_s"],
                linestyle=st["linestyle"],
                marker=st["marker"],
                color=st["color"],
                linewidth=1.6,
            )
            _errorbars(
                ax, mem[ok], group.loc[ok, "time_s"], group.loc[ok, "ci_low_s"], group.loc[ok, "ci_high_s"], st["color"]
            )
            if (~ok).any():
                wrong = True
                ax.plot(
                    mem[~ok],
                    group.loc[~ok, "time_s"],
                    linestyle="none",
                    marker="o",
                    markersize=9,
                    markerfacecolor="none",
                    markeredgecolor=WRONG_COLOUR,
                    markeredgewidth=1.8,
                )
            for m_, t_, c_ in zip(mem, group["time_s"], group["chunk_size"]):
                ax.annotate(
                    "all" if pd.isna(c_) else integer(c_),
                    (m_, t_),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=8,
                    color=st["color"],
                )
            seen.setdefault((str(backend), str(mode)), plain)
        if limit:
            ax.axvline(limit, color=WRONG_COLOUR, linestyle=(0, (4, 2)), linewidth=1.2)
            lo, hi = ax.get_xlim()
            ax.set_xlim(min(lo, limit / 3), max(hi, limit * 1.5))
        else:
            lo, hi = ax.get_xlim()
            ax.set_xlim(lo / 1.5, hi * 2)
        _bytes_axis(ax, "x")
        _time_axis(ax)
        if len(missing):
            # What has no point here, and why: an unchunked Jacobian over the memory limit is the story.
            notes = [
                f"{s.short.replace(' chunk=', ', chunks of ')}{'' if s.chunk else ', unchunked'}: {st}"
                for s, st in sorted(zip(missing["series"], missing["status"]), key=lambda x: x[0].sort_key)
            ]
            ax.text(
                0.98,
                0.02,
                "not drawn:\n" + "\n".join(notes),
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=8,
                color=WRONG_COLOUR,
            )
        ax.set_xlabel("measured peak memory (log scale)")
        ax.set_title(f"n = {integer(n)}", loc="left")
    axes[0].set_ylabel("time per Jacobian ")
    handles = [legend_handle(s) for s in sorted(seen.values(), key=lambda s: s.sort_key)]
    if limit:
        handles.append(
            Line2D([], [], color=WRONG_COLOUR, linestyle=(0, (4, 2)), label=f"memory limit ({fmt.bytes_(limit)})")
        )
    handles += [wrong_handle()] if wrong else []
    # One panel is 5.6 in wide: three long labels a row ("memory limit (8 GiB)") run off its edges.
    _legend(fig, handles, ncols=2 if len(panels) == 1 else 3)
    return to_svg(fig, f"{info.name} chunks"), len(panels)


def context(**rc: Any) -> AbstractContextManager[None]:
    return matplotlib.rc_context({**RC, **rc})
