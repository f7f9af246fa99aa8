"""The report's figures of several panels: sets against a reference set, second order, chunked Jacobians.

Each other set's time over the reference's; HVP over the gradient and the Hessian against n; chunked
Jacobians' time against their measured peak memory, a panel per size.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from adbench.engine.estimates import Comparisons
from adbench.report import analysis
from adbench.report.analysis import HVP_BAND, ProblemInfo
from adbench.report.data import Series, main_rows, ordered_series, timed_rows
from adbench.report.figure import (
    BAND_COLOUR,
    WRONG_COLOUR,
    band_handle,
    bytes_axis,
    legend,
    legend_handle,
    limit_handle,
    new_figure,
    ratio_axis,
    size_axis,
    sizes_of,
    style,
    time_axis,
    to_svg,
    wrong_handle,
)
from adbench.report.marks import draw_series, errorbars, mark_failures, wrong_rings
from adbench.report.words import integer


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
    fig = new_figure(5.6 * len(panels), 4.6)
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
        ratio_axis(ax)
        size_axis(ax, sorted({int(n) for _, curves_ in panels for _, r in curves_ for n in r.index}))
        ax.set_title(label, loc="left", fontsize=10)
    axes[0].set_ylabel(f"{ylabel}\nabove 1×: slower")
    legend(fig, [legend_handle(s) for s in sorted(series_seen, key=lambda s: s.sort_key)], ncols=2 * len(panels))
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
    fig = new_figure(5.8 * panels, 5.0)
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
            errorbars(ax, x, table["ratio"], table["low"], table["high"], st["color"])
            values += [
                v for v in list(table["ratio"]) + list(table["high"]) + list(table["low"]) if v > 0 and math.isfinite(v)
            ]
            handles.append(legend_handle(s))
        ax.set_ylim(min(values) / 1.3, max(values) * 1.3)
        ratio_axis(ax)
        size_axis(ax, sorted({int(n) for table in ratios.values() for n in table.index}))
        ax.set_ylabel("HVP time / the gradient's time (log scale)")
        ax.set_title("HVP in gradients, by composition", loc="left")
        handles.append(band_handle(f"a small constant: {HVP_BAND[0]:g}–{HVP_BAND[1]:g}× the gradient"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, fontsize=8)
    if has_hessian:
        ax = axes.pop(0)
        fits = {e["series"]: e["fit"] for e in analysis.exponents(frame, info, "hessian")}
        series_list = ordered_series(hessian)
        for s in series_list:
            draw_series(ax, hessian, s)
        time_axis(ax)
        size_axis(ax, sizes_of(hessian))
        mark_failures(ax, hessian, series_list)
        ax.set_ylabel("time per Hessian ")
        ax.set_title("Hessian vs n, by composition", loc="left")
        handles = [
            legend_handle(s, f"{s.label}: n^{fits[s]:.2f}" if s in fits else f"{s.label}: one size")
            for s in series_list
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1, fontsize=8)
    return to_svg(fig, f"{info.name} second order"), panels


def _chunk_panels(frame: pd.DataFrame, sizes: list[int]) -> list[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """Per size with a measured point: (n, the timed cases with a peak memory, the cases without one)."""
    rows = analysis.chunk_rows(frame)
    panels = []
    for n in sizes:
        every = rows[rows["size"] == n]
        at = timed_rows(every)
        at = at[at["peak_memory_bytes"].astype("Float64").fillna(0) > 0]
        missing = every[~every.index.isin(at.index)]
        if len(at):
            panels.append((n, at, missing))
    return panels


def _chunk_line(ax: Axes, group: pd.DataFrame, plain: Series) -> bool:
    """One backend × mode's chunk sizes, unchunked last, as a line of labelled points. True when one is wrong."""
    group = group.assign(_order=group["chunk_size"].astype("Float64").fillna(math.inf)).sort_values("_order")
    st = style(plain)
    mem = group["peak_memory_bytes"].astype(float)
    ok = group["status"] == "ok"
    times = group.loc[ok, "time_s"]
    ax.plot(mem[ok], times, linestyle=st["linestyle"], marker=st["marker"], color=st["color"], linewidth=1.6)
    errorbars(ax, mem[ok], times, group.loc[ok, "ci_low_s"], group.loc[ok, "ci_high_s"], st["color"])
    if (~ok).any():
        wrong_rings(ax, mem[~ok], group.loc[~ok, "time_s"], zorder=2)
    for m_, t_, c_ in zip(mem, group["time_s"], group["chunk_size"]):
        ax.annotate(
            "all" if pd.isna(c_) else integer(c_),
            (m_, t_),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=8,
            color=st["color"],
        )
    return bool((~ok).any())


def _not_drawn_note(ax: Axes, missing: pd.DataFrame) -> None:
    """What has no point in a panel, and why: an unchunked Jacobian over the memory limit is the story."""
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


def chunk_tradeoff(
    frame: pd.DataFrame, info: ProblemInfo, sizes: list[int], limit: float | None = None
) -> tuple[str, int] | None:
    """Time against measured peak memory of chunked Jacobians: a point per chunk size (unchunked
    included), a line per backend × mode, a panel per size."""
    panels = _chunk_panels(frame, sizes)
    if not panels:
        return None
    fig = new_figure(5.6 * len(panels), 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    seen: dict[tuple[str, str], Series] = {}
    wrong = False
    for ax, (n, at, missing) in zip(axes, panels):
        ax.set_xscale("log")
        ax.set_yscale("log")
        for (backend, mode), group in at.groupby(["backend", "mode"], sort=False):
            plain = seen.setdefault((str(backend), str(mode)), Series(str(backend), str(mode)))
            wrong |= _chunk_line(ax, group, plain)
        if limit:
            ax.axvline(limit, color=WRONG_COLOUR, linestyle=(0, (4, 2)), linewidth=1.2)
            lo, hi = ax.get_xlim()  # after the line: it may have widened them
            ax.set_xlim(min(lo, limit / 3), max(hi, limit * 1.5))
        else:
            lo, hi = ax.get_xlim()
            ax.set_xlim(lo / 1.5, hi * 2)
        bytes_axis(ax, "x")
        time_axis(ax)
        if len(missing):
            _not_drawn_note(ax, missing)
        ax.set_xlabel("measured peak memory (log scale)")
        ax.set_title(f"n = {integer(n)}", loc="left")
    axes[0].set_ylabel("time per Jacobian ")
    handles: list[Artist] = [legend_handle(s) for s in sorted(seen.values(), key=lambda s: s.sort_key)]
    handles += ([limit_handle(limit)] if limit else []) + ([wrong_handle()] if wrong else [])
    # One panel is 5.6 in wide: three long labels a row ("memory limit (8 GiB)") run off its edges.
    legend(fig, handles, ncols=2 if len(panels) == 1 else 3)
    return to_svg(fig, f"{info.name} chunks"), len(panels)
