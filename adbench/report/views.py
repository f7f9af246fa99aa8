"""What each page shows, read off one result set: a view per set, per problem and per operation.

Headlines, figures, the table's rows and the front page's grid, for the templates to render.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd

from adbench.report import analysis, dots, panels, plots
from adbench.report.analysis import ProblemInfo
from adbench.report.data import main_rows, ok_rows, operations, ordered_series
from adbench.report.grid import Grid, build_grid
from adbench.report.headline import Headline, short_headline
from adbench.report.result_set import ResultSet
from adbench.report.words import operation_title

# The problems whose forward-vs-reverse contrast is the suite's lesson, in the order to show them.
LESSON_PROBLEMS = ("loss", "tall")


def to_value(x: Any) -> Any:
    """A cell's value for the templates: a plain Python number or string, None for missing."""
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        x = x.item()
    return x


@dataclass
class OperationView:
    operation: str
    headline: Headline
    counts: dict[str, int]
    figures: dict[str, str] = field(default_factory=dict)
    exponents: list[dict] = field(default_factory=list)
    crossovers: list[dict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return operation_title(self.operation)

    @property
    def anchor(self) -> str:
        return f"op-{slugify(self.operation)}"


@dataclass
class ProblemView:
    info: ProblemInfo
    slug: str
    frame: pd.DataFrame
    operations: list[OperationView] = field(default_factory=list)
    second_order: tuple[str | dots.DotChart, int] | None = None  # the figure (dots at one size), its panels
    hessian_exponents: list[dict] = field(default_factory=list)
    hvp_table: list[dict] = field(default_factory=list)
    chunk_figure: tuple[str, int] | None = None
    chunk_sizes: list[int] = field(default_factory=list)

    @property
    def headline(self) -> Headline:
        """The Jacobian's headline where there is one (the suite's first question), else the first operation's."""
        return (self.operation("jacobian") or self.operations[0]).headline

    def operation(self, name: str) -> OperationView | None:
        return next((o for o in self.operations if o.operation == name), None)

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(self.frame)

    @property
    def backends(self) -> list[str]:
        return list(dict.fromkeys(s.backend for s in ordered_series(self.frame)))

    def rows(self) -> list[dict[str, Any]]:
        """The table: every case, failed ones included, by operation, size and series."""
        return case_rows(self.frame)

    def chunk_table(self) -> list[dict[str, Any]]:
        rows = analysis.chunk_rows(self.frame)
        return case_rows(rows[rows["size"].isin(self.chunk_sizes)])


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = {str(k): int(v) for k, v in frame["shown"].value_counts().items()}
    counts["noisy"] = int((frame["noisy"].astype(bool) & (frame["status"] == "ok")).sum())
    return counts


def case_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    order = {op: i for i, op in enumerate(operations(frame))}
    frame = frame.assign(_key=[s.sort_key for s in frame["series"]], _op=frame["operation"].map(order))
    out = []
    for _, r in frame.sort_values(["_op", "size", "_key"]).iterrows():
        timed = r["status"] in ("ok", "wrong")
        median = to_value(r["time_s"]) if timed else None
        iqr = to_value(r["iqr_s"])
        out.append(
            {
                "operation": r["operation"],
                "size": to_value(r["size"]),
                "series": r["series"],
                "status": r["shown"],
                "noisy": bool(r["noisy"]) and timed,
                "median": median,
                "ci_low": to_value(r["ci_low_s"]) if timed else None,
                "ci_high": to_value(r["ci_high_s"]) if timed else None,
                "iqr_pct": iqr / median * 100 if median and iqr is not None else None,
                "min": to_value(r["min_s"]) if timed else None,
                "first": to_value(r["first_call_s"]) if timed else None,
                "f_median": to_value(r["f_time_s"]) if timed else None,
                "j_over_f": to_value(r["j_over_f"]) if timed else None,
                "samples": to_value(r["samples"]) if timed else None,
                "visits": to_value(r["visits"]),
                "workers": to_value(r["workers"]),
                "number": to_value(r["number"]) if timed else None,
                "peak_memory": to_value(r["peak_memory_bytes"]),
                "rel_error": to_value(r["rel_error"]),
                "tolerance": to_value(r["tolerance"]),
                "error": r["error"] if isinstance(r["error"], str) else "",
            }
        )
    return out


@dataclass
class SetView:
    result: ResultSet
    problems: list[ProblemView]
    lesson: str | None = None
    grid: Grid | None = None

    @property
    def slug(self) -> str:
        return self.result.slug

    def problem(self, name: str) -> ProblemView | None:
        return next((p for p in self.problems if p.info.name == name), None)

    def headlines(self) -> list[tuple[ProblemView, OperationView]]:
        return [(p, o) for p in self.problems for o in p.operations]


def slugify(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "problem"


def _operation_view(
    frame: pd.DataFrame, info: ProblemInfo, operation: str, result: ResultSet, second_order_shown: bool
) -> OperationView:
    rows = frame[frame["operation"] == operation]
    view = OperationView(
        operation,
        analysis.headline(frame, info, operation, result.has_intervals, result.comparisons),
        status_counts(rows),
    )
    view.exponents = analysis.exponents(frame, info, operation)
    if operation == "jacobian" and not info.fixed_size:
        view.crossovers = analysis.crossovers(frame, result.comparisons)
    if ok_rows(main_rows(frame, operation)).empty and not (rows["status"] == "wrong").any():
        return view  # nothing passed: no plots, and the table says why
    limit = analysis.memory_limit_bytes(result.settings)
    # The Hessian by composition is drawn once, in the second-order panel, when there is one.
    time_shown = not (operation == "hessian" and second_order_shown)
    if info.fixed_size:  # one value per series: HTML dot charts (dots.py), no matplotlib figure
        band = plots.cost_band(info, operation)
        figures: dict[str, Any] = {
            "time": dots.time_chart(frame, info, operation) if time_shown else None,
            "cost": dots.cost_chart(frame, info, operation, band),
            "memory": dots.memory_chart(frame, info, operation),
        }
    else:
        figures = {
            "time": plots.time_vs_size(frame, info, operation) if time_shown else None,
            "ratio": plots.ratio_vs_size(frame, info, result.comparisons) if operation == "jacobian" else None,
            "cost": plots.cost_over_f(frame, info, operation),
            "memory": plots.memory_vs_size(frame, info, operation, limit),
        }
    figures["first_call"] = dots.first_call_chart(frame, info, operation)
    view.figures = {k: v for k, v in figures.items() if v}
    return view


def problem_slugs(names: Sequence[str]) -> list[str]:
    """A page name per problem, unique within its set."""
    taken: set[str] = set()
    out = []
    for name in names:
        slug = slugify(name)
        while slug in taken:
            slug += "-"
        taken.add(slug)
        out.append(slug)
    return out


def problem_view(result: ResultSet, name: str, slug: str) -> ProblemView:
    frame = result.problem_frame(name)
    info = analysis.problem_info(name, frame)
    view = ProblemView(info, slug, frame)
    if analysis.has_second_order(frame, info):
        if info.fixed_size:  # one size: the HVP's ratio as dots; the Hessian stays in its own section
            chart = dots.hvp_chart(analysis.hvp_over_gradient(frame, result.comparisons), info, analysis.HVP_BAND)
            view.second_order = (chart, 1) if chart else None
        else:
            view.second_order = panels.second_order(frame, info, result.comparisons)
        view.hessian_exponents = analysis.exponents(frame, info, "hessian")
        view.hvp_table = [
            {"series": s, "size": int(cast(int, n)), **{k: to_value(v) for k, v in r.items()}}  # n: the index, sizes
            for s, table in analysis.hvp_over_gradient(frame, result.comparisons).items()
            for n, r in table.iterrows()
        ]
    view.operations = [
        _operation_view(frame, info, op, result, view.second_order is not None and not info.fixed_size)
        for op in operations(frame)
    ]
    view.chunk_sizes = analysis.chunk_sizes(frame)
    if view.chunk_sizes:
        view.chunk_figure = panels.chunk_tradeoff(
            frame, info, view.chunk_sizes, analysis.memory_limit_bytes(result.settings)
        )
    return view


def _compared_jacobian(p: ProblemView) -> Headline | None:
    """A problem's Jacobian headline where its modes were compared, else None."""
    op = p.operation("jacobian")
    return op.headline if op is not None and op.headline.modes is not None else None


def _lesson_figure(view: SetView) -> str | None:
    """The index's first plot: the problems where the modes differ most, forward vs reverse Jacobians."""
    candidates = {
        p.info.name: (p, h) for p in view.problems if not p.info.fixed_size and (h := _compared_jacobian(p)) is not None
    }
    chosen = [candidates[n] for n in LESSON_PROBLEMS if n in candidates]
    if not chosen:
        chosen = sorted(candidates.values(), key=lambda ph: -ph[1].factor)[:2]
    if not chosen:
        return None
    panels = [(p.frame, p.info, short_headline(h)) for p, h in chosen]
    return plots.lesson(panels)


def set_view(result: ResultSet, problems: list[ProblemView] | None = None) -> SetView:
    if problems is None:
        problems = [problem_view(result, n, s) for n, s in zip(result.problems, problem_slugs(result.problems))]
    view = SetView(result, problems)
    view.lesson = _lesson_figure(view)
    view.grid = build_grid(view, f"sets/{view.slug}/")
    return view
