"""The report's figures, drawn with matplotlib (no pyplot, no global state) and returned as inline SVG."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence

# Figures are made with matplotlib.figure.Figure, never pyplot: no GUI backend is chosen (it runs
# headless on servers and in CI) and a caller's own pyplot backend and state are left alone.
import matplotlib
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from adbench.report.analysis import ProblemInfo, fmt_int, fmt_time, fr_ratios, times
from adbench.report.data import Series, ok_rows, ordered_series

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
# Yellow (#F0E442) is left out: it vanishes on white.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"]
BACKEND_COLOURS = {
    "jax": "#0072B2", "jax-eager": "#56B4E9", "torch": "#D55E00",
    "torch-autograd": "#E69F00", "autograd": "#009E73", "finite-diff": "#777777", "manual": "#000000",
}
# Modes differ in line style AND marker, so they read apart without colour (and in greyscale).
MODE_STYLE = {
    "reverse": {"linestyle": "-", "marker": "o"},
    "forward": {"linestyle": (0, (5, 2.5)), "marker": "s"},
    "central": {"linestyle": (0, (1, 1.6)), "marker": "v"},
    "manual": {"linestyle": "-", "marker": "D"},
}
FAILED_MARK = "x"
CHEAP_GRADIENT_BAND = (3.0, 5.0)

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


def colour(backend: str, _extra: dict[str, str] = {}) -> str:  # noqa: B006 (deliberate memo)
    """A fixed colour per known backend; unknown ones take the palette in order of appearance."""
    if backend in BACKEND_COLOURS:
        return BACKEND_COLOURS[backend]
    if backend not in _extra:
        _extra[backend] = OKABE_ITO[len(_extra) % len(OKABE_ITO)]
    return _extra[backend]


def style(series: Series) -> dict:
    s = dict(MODE_STYLE.get(series.mode, {"linestyle": "-.", "marker": "^"}))
    s["color"] = colour(series.backend)
    if series.backend == "manual":
        s["linewidth"] = 2.6  # the floor: the heaviest line, drawn under the others
        s["zorder"] = 1.5
    else:
        s["zorder"] = 2.5
    return s


def legend_handle(series: Series) -> Line2D:
    st = style(series)
    return Line2D([], [], color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                  linewidth=st.get("linewidth", 1.8), label=series.label)


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, no metadata, scalable."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"adbench-{label}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    # Namespaces are implied for SVG inside HTML; dropping them leaves no URL in the page at all.
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    # The page's CSS sizes the figure (width 100%); the viewBox keeps its aspect ratio.
    svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)
    safe = label.replace('"', "'").replace("&", "and").replace("<", "").replace(">", "")
    return svg.replace("<svg", f'<svg class="figure" role="img" aria-label="{safe}"', 1)


def _new(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _time_axis(ax, axis: str = "y") -> None:
    """Log axis ticked in time units (10 µs, 1 ms), not in exponents of seconds."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target.set_major_locator(_log_locator(ax.get_ylim() if axis == "y" else ax.get_xlim()))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt_time(v)))
    # No minor ticks: unlabelled, they add clutter, and each tick costs time to lay out.
    target.set_minor_locator(ticker.NullLocator())


def _log_locator(limits: tuple[float, float]) -> ticker.Locator:
    """Decades; 1-2-5 steps too when the data span under two decades (else one lonely tick)."""
    lo, hi = sorted(limits)
    narrow = lo > 0 and hi / lo < 100
    return ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12)


def _ratio_axis(ax) -> None:
    """Log y axis of ratios, ticked 1×, 10×, 100×."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(_log_locator(ax.get_ylim()))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.yaxis.set_minor_locator(ticker.NullLocator())


def _size_axis(ax, sizes: Sequence[int]) -> None:
    """Log axis ticked at the measured sizes only, labelled 10 000 rather than 1e4."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.FixedLocator(list(sizes)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt_int(v)))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("input size n (log scale)")
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        pad = (hi / lo) ** 0.06
        ax.set_xlim(lo / pad, hi * pad)


def _mark_failures(ax, frame: pd.DataFrame, series_list: list[Series]) -> bool:
    """An × on the top edge at each size where a series failed, in its colour; not hidden."""
    failed = frame[(frame["status"] != "ok") & frame["series"].isin(series_list)]
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
            ax.plot(list(sizes), [y] * len(sizes), FAILED_MARK, color=colour(s.backend), transform=trans,
                    markersize=7, markeredgewidth=2, clip_on=False, zorder=4)
            drawn = True
    return drawn


def _legend(fig: Figure, series_list: list[Series], extra: list | None = None, ncols: int = 4) -> None:
    handles = [legend_handle(s) for s in series_list] + (extra or [])
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(ncols, len(handles)),
                   handlelength=3.2, columnspacing=1.4)


def failed_handle() -> Line2D:
    return Line2D([], [], color="#444444", marker=FAILED_MARK, linestyle="none", markersize=7,
                  markeredgewidth=2, label="failed (error / timeout / skipped)")


def noisy_handle() -> Line2D:
    return Line2D([], [], color="#444444", marker="o", markerfacecolor="white", linestyle="none",
                  label="noisy (IQR ≥ 10% of median)")


def band_handle() -> Patch:
    return Patch(color="#009E73", alpha=0.18, label="cheap-gradient band (3–5×)")


def _draw_series(ax, frame: pd.DataFrame, series: Series, column: str = "median_s") -> None:
    ok = ok_rows(frame)
    ok = ok[(ok["series"] == series) & (ok[column] > 0)].sort_values("size")
    if ok.empty:
        return
    st = style(series)
    ax.plot(ok["size"].astype(float), ok[column], linestyle=st["linestyle"], color=st["color"],
            linewidth=st.get("linewidth", 1.8), zorder=st["zorder"])
    for noisy, part in ok.groupby("noisy"):
        ax.plot(part["size"].astype(float), part[column], linestyle="none", marker=st["marker"],
                color=st["color"], markerfacecolor="white" if noisy else st["color"],
                markeredgewidth=1.4, zorder=st["zorder"] + 0.1)


def _dot_plot(frame: pd.DataFrame, info: ProblemInfo, column: str, title: str, xlabel: str,
              time_axis: bool = True, band: tuple[float, float] | None = None) -> str:
    """One size only (e.g. ``basic``): a dot per series instead of lines over n."""
    series_list = ordered_series(frame)
    fig = _new(6.4, 0.6 + 0.32 * max(3, len(series_list)))
    ax = fig.add_subplot()
    labels = []
    for y, s in enumerate(series_list):
        row = frame[frame["series"] == s].iloc[0]
        labels.append(s.label)
        value = row[column] if row["status"] == "ok" else None
        st = style(s)
        if value is not None and value > 0:
            ax.plot([value], [y], marker=st["marker"], color=st["color"], linestyle="none",
                    markerfacecolor="white" if row["noisy"] else st["color"], markersize=8)
        else:
            ax.text(0.01, y, f"  {row['status']}", transform=blended_transform_factory(ax.transAxes, ax.transData),
                    va="center", color="#b00020", fontsize=9)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    if time_axis:
        _time_axis(ax, "x")
    else:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(_log_locator(ax.get_xlim()))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    if band:
        ax.axvspan(*band, color="#009E73", alpha=0.18, zorder=0, linewidth=0)
        fig.legend(handles=[band_handle()], loc="outside lower center")
    ax.set_xlabel(xlabel)
    ax.set_title(f"{title} (n = {fmt_int(info.sizes[0])})" if info.sizes else title, loc="left")
    ax.grid(axis="y", visible=False)
    return to_svg(fig, f"{info.name}-{column}-{title}")


def time_vs_size(frame: pd.DataFrame, info: ProblemInfo) -> str:
    """Log-log time per Jacobian vs n, a line per backend x mode, the NumPy floor in black."""
    if info.fixed_size:
        return _dot_plot(frame, info, "median_s", "Time per Jacobian", "time per Jacobian (median, log scale)")
    series_list = ordered_series(frame)
    fig = _new(6.4, 5.0)
    ax = fig.add_subplot()
    for s in series_list:
        _draw_series(ax, frame, s)
    _time_axis(ax)
    _size_axis(ax, info.sizes)
    ax.set_ylabel("time per Jacobian (median)")
    ax.set_title("Time per Jacobian vs input size", loc="left")
    failed = _mark_failures(ax, frame, series_list)
    extra = [noisy_handle()] + ([failed_handle()] if failed else [])
    _legend(fig, series_list, extra, ncols=3)
    return to_svg(fig, f"{info.name} time vs size")


def ratio_vs_size(frame: pd.DataFrame, info: ProblemInfo) -> str | None:
    """Measured forward/reverse time per backend beside the theory's n/m."""
    ratios = fr_ratios(frame)
    if not ratios:
        return None
    fig = _new(6.4, 4.6)
    ax = fig.add_subplot()
    handles = []
    for backend, r in ratios.items():
        c = colour(backend)
        ax.plot(r.index.astype(float), r.values, "-o", color=c, markersize=5)
        handles.append(Line2D([], [], color=c, marker="o", label=f"{backend} (measured)"))
    sizes = info.sizes
    theory = [n / info.m(n) for n in sizes]
    ax.plot(sizes, theory, color="#000000", linestyle=(0, (2, 2)), linewidth=2.2, zorder=1,
            marker="_", markersize=14, markeredgewidth=2.2)
    handles.append(Line2D([], [], color="#000000", linestyle=(0, (2, 2)), linewidth=2.2,
                          label="theory: n JVPs / m VJPs = n/m"))
    ax.axhline(1.0, color="#555555", linewidth=1.0, zorder=1)
    _ratio_axis(ax)
    values = [v for r in ratios.values() for v in r.values] + theory + [1.0]
    lo, hi = min(values), max(values)
    ax.set_ylim(lo / 3, hi * 3)
    if info.fixed_size:
        ax.set_xscale("log")
        ax.set_xticks(sizes, [fmt_int(n) for n in sizes])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        ax.set_xlabel("input size n")
    else:
        _size_axis(ax, sizes)
    # Which side means what is said in the label: text inside the axes would cover data.
    ax.set_ylabel("forward time / reverse time (log scale)\nabove 1×: reverse faster")
    ax.set_title("Forward / reverse: measured vs theory", loc="left")
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    return to_svg(fig, f"{info.name} forward over reverse")


def j_over_f(frame: pd.DataFrame, info: ProblemInfo) -> str | None:
    """time(J) / time(f), ADBench's headline ratio, with the cheap-gradient band."""
    ok = ok_rows(frame)
    if not (ok["j_over_f"] > 0).any():
        return None
    band = band_handle()
    if info.fixed_size:
        return _dot_plot(frame, info, "j_over_f", "time(J) / time(f)", "time(J) / time(f) (log scale)",
                         time_axis=False, band=CHEAP_GRADIENT_BAND)
    series_list = [s for s in ordered_series(frame) if ((ok["series"] == s) & (ok["j_over_f"] > 0)).any()]
    fig = _new(6.4, 5.0)
    ax = fig.add_subplot()
    ax.axhspan(*CHEAP_GRADIENT_BAND, color="#009E73", alpha=0.18, zorder=0, linewidth=0)
    for s in series_list:
        _draw_series(ax, frame, s, "j_over_f")
    _ratio_axis(ax)
    _size_axis(ax, info.sizes)
    ax.set_ylabel("time(J) / time(f) (log scale)")
    ax.set_title("Cost of the Jacobian in evaluations of f", loc="left")
    _legend(fig, series_list, [band], ncols=3)
    return to_svg(fig, f"{info.name} J over f")


def first_call(frame: pd.DataFrame, info: ProblemInfo) -> str | None:
    """First call (trace + compile + run) against steady state, per series, at its largest size."""
    ok = ok_rows(frame)
    ok = ok[ok["first_call_s"] > 0]
    if ok.empty:
        return None
    series_list = [s for s in ordered_series(frame) if (ok["series"] == s).any()]
    fig = _new(6.4, 1.3 + 0.3 * len(series_list))
    ax = fig.add_subplot()
    labels = []
    for y, s in enumerate(series_list):
        row = ok[ok["series"] == s].sort_values("size").iloc[-1]
        c = colour(s.backend)
        ax.plot([row["median_s"], row["first_call_s"]], [y, y], color=c, linewidth=1.6, zorder=2)
        ax.plot([row["median_s"]], [y], "o", color=c, markersize=7, zorder=3)
        ax.plot([row["first_call_s"]], [y], "o", color=c, markerfacecolor="white", markeredgewidth=1.8,
                markersize=7, zorder=3)
        ratio = row["first_call_s"] / row["median_s"]
        text = f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
        ax.annotate(text, (max(row["first_call_s"], row["median_s"]), y),
                    xytext=(6, 0), textcoords="offset points", va="center", fontsize=8, color="#333333")
        labels.append(f"{s.label}  (n = {fmt_int(row['size'])})" if not info.fixed_size else s.label)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    _time_axis(ax, "x")
    left, right = ax.get_xlim()
    ax.set_xlim(left, right * 4)  # room for the ratio labels
    ax.set_xlabel("time per call (log scale)")
    ax.set_title("First call vs steady state", loc="left")
    fig.legend(handles=[
        Line2D([], [], color="#444444", marker="o", linestyle="none", label="steady state (median)"),
        Line2D([], [], color="#444444", marker="o", markerfacecolor="white", markeredgewidth=1.8,
               linestyle="none", label="first call (trace + compile + run); label: ratio"),
    ], loc="outside lower center", ncols=2)
    return to_svg(fig, f"{info.name} first call")


def lesson(panels: list[tuple[pd.DataFrame, ProblemInfo, str]]) -> str:
    """The index's first figure: forward vs reverse, per framework, for the headline problems."""
    fig = _new(6.6 * len(panels), 4.5)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    shown: dict[Series, None] = {}
    failed = False
    for ax, (frame, info, subtitle) in zip(axes, panels):
        series_list = [s for s in ordered_series(frame) if s.mode in ("forward", "reverse", "manual")]
        for s in series_list:
            if (ok_rows(frame)["series"] == s).any():
                _draw_series(ax, frame, s)
                shown.setdefault(s, None)
        _time_axis(ax)
        _size_axis(ax, info.sizes)
        failed |= _mark_failures(ax, frame, series_list)  # after the scales: it reads the limits
        ax.set_ylabel("time per Jacobian (median)")
        ax.set_title(f"{info.name} ({info.shape}): {subtitle}", loc="left")
    series_list = sorted(shown, key=lambda s: s.sort_key)
    handles = [legend_handle(s) for s in series_list] + [noisy_handle()] + ([failed_handle()] if failed else [])
    fig.legend(handles=handles, loc="outside right upper", ncols=1)
    return to_svg(fig, "forward vs reverse, the headline problems")


def set_ratio(frames: list[pd.DataFrame], labels: list[str], info: ProblemInfo) -> tuple[str, int] | None:
    """Each other set's time over the reference set's, per backend x mode and size: a panel per set.

    Returns the SVG and its number of panels (the page sizes the figure by it).
    """
    if info.fixed_size:
        return None  # one size: the table says it better than a column of dots
    ref = times(frames[0])
    panels = []
    for frame, label in zip(frames[1:], labels[1:]):
        curves = []
        for s, t in times(frame).items():
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
            ax.plot(r.index.astype(float), r.values, linestyle=st["linestyle"], marker=st["marker"],
                    color=st["color"], linewidth=st.get("linewidth", 1.8))
            series_seen.setdefault(s, None)
        ax.axhline(1.0, color="#555555", linewidth=1.0)
        _ratio_axis(ax)
        ax.set_ylim(min(values) / 1.5, max(values) * 1.5)
        _size_axis(ax, info.sizes)
        ax.set_title(label, loc="left", fontsize=10)
    axes[0].set_ylabel("time / time on the reference set\nabove 1×: slower than the reference")
    _legend(fig, sorted(series_seen, key=lambda s: s.sort_key), ncols=3 * len(panels))
    return to_svg(fig, f"{info.name} set ratio"), len(panels)


def context(**rc) -> matplotlib.rc_context:
    return matplotlib.rc_context({**RC, **rc})
