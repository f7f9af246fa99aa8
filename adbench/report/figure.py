"""The report's figure kit: a new matplotlib Figure (never pyplot), inline SVG, unit log axes, styles, legends."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence

# Figures are made with matplotlib.figure.Figure, never pyplot: no GUI backend is chosen (it runs
# headless on servers and in CI) and a caller's own pyplot backend and state are left alone.
import matplotlib
import pandas as pd
from matplotlib import ticker
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from adbench import formatting as fmt
from adbench.backends.modes import mode_style
from adbench.engine.timing import NOISY_IQR_RATIO
from adbench.report.data import Series, backend_style
from adbench.report.words import integer

FAILED_MARK = "x"
WRONG_COLOUR = "#b00020"
BAND_COLOUR = "#009E73"


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


def new_figure(width: float, height: float) -> Figure:
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


def time_axis(ax: Axes, axis: str = "y") -> None:
    _unit_axis(ax, fmt.seconds, axis)


def bytes_axis(ax: Axes, axis: str = "y") -> None:
    """Log axis ticked at 1, 10 and 100 of KiB, MiB and GiB (decades of bytes would read 9.54 MiB)."""
    _unit_axis(ax, fmt.bytes_, axis)
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    steps = (1, 2, 5, 10, 20, 50, 100, 200, 500) if lo > 0 and hi / lo < 100 else (1, 10, 100)
    ticks = [u * k for u in (1, 2**10, 2**20, 2**30, 2**40) for k in steps if lo <= u * k <= hi]
    if len(ticks) >= 2:
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(ticker.FixedLocator(ticks))


def ratio_axis(ax: Axes, axis: str = "y") -> None:
    _unit_axis(ax, fmt.factor, axis)  # 100,000×, not 1e+05×


def sizes_of(rows: pd.DataFrame) -> list[int]:
    return sorted({int(n) for n in rows["size"].dropna()})


def size_axis(ax: Axes, sizes: Sequence[int]) -> None:
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


def legend(fig: Figure, handles: Sequence[Artist], ncols: int = 2, loc: str = "outside lower center") -> None:
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


def limit_handle(limit: float) -> Line2D:
    """The memory limit's dashed line in a legend."""
    return Line2D([], [], color=WRONG_COLOUR, linestyle=(0, (4, 2)), label=f"memory limit ({fmt.bytes_(limit)})")
