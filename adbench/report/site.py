"""Builds the site: analyses and figures per result set, rendered through the Jinja2 templates into a folder."""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from adbench.report import analysis, plots
from adbench.report.analysis import Headline, ProblemInfo, fmt_factor, fmt_int, fmt_time
from adbench.report.data import ResultSet, load_sets, ok_rows

MARKER = ".adbench-report"  # marks a folder as ours, so a rebuild may clear what it made before
# The problems whose forward-vs-reverse contrast is the suite's lesson, in the order to show them.
LESSON_PROBLEMS = ("loss", "tall")


class OutputNotOursError(FileExistsError):
    """The output folder holds other files; the report will not write over them."""


@dataclass
class ProblemView:
    info: ProblemInfo
    slug: str
    frame: pd.DataFrame
    headline: Headline
    figures: dict[str, str] = field(default_factory=dict)
    exponents: list[dict] = field(default_factory=list)
    crossovers: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = self.frame["status"].value_counts().to_dict()
        counts["noisy"] = int((self.frame["noisy"] & (self.frame["status"] == "ok")).sum())
        return counts

    @property
    def backends(self) -> list[str]:
        return list(dict.fromkeys(s.backend for s in sorted(set(self.frame["series"]), key=lambda s: s.sort_key)))

    def rows(self) -> list[dict[str, Any]]:
        """The table: every case, failed ones included, sorted by size then series."""
        out = []
        frame = self.frame.assign(_key=[s.sort_key for s in self.frame["series"]])
        for _, r in frame.sort_values(["size", "_key"]).iterrows():
            ok = r["status"] == "ok"
            iqr_pct = r["iqr_s"] / r["median_s"] * 100 if ok and r["median_s"] > 0 and pd.notna(r["iqr_s"]) else None
            out.append({
                "size": int(r["size"]) if pd.notna(r["size"]) else None,
                "series": r["series"], "status": r["status"], "noisy": bool(r["noisy"]) and ok,
                "median": r["median_s"] if ok else None, "iqr_pct": iqr_pct,
                "min": r["min_s"] if ok else None, "first": r["first_call_s"] if ok else None,
                "f_median": r["f_median_s"] if ok else None, "j_over_f": r["j_over_f"] if ok else None,
                "samples": int(r["samples"]) if ok and pd.notna(r["samples"]) else None,
                "number": int(r["number"]) if ok and pd.notna(r.get("number")) else None,
                "rel_error": r["rel_error"] if pd.notna(r["rel_error"]) else None,
                "error": r["error"] if r["error"] else "",
            })
        return out


@dataclass
class SetView:
    result: ResultSet
    problems: list[ProblemView]
    lesson: str | None = None

    @property
    def slug(self) -> str:
        return self.result.slug

    def problem(self, name: str) -> ProblemView | None:
        return next((p for p in self.problems if p.info.name == name), None)


def slugify(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "problem"


def _problem_view(result: ResultSet, name: str, taken: set[str]) -> ProblemView:
    frame = result.problem_frame(name)
    info = analysis.problem_info(name, frame)
    slug = slugify(name)
    while slug in taken:
        slug += "-"
    taken.add(slug)
    view = ProblemView(info, slug, frame, analysis.headline(frame, info))
    view.exponents = analysis.exponents(frame, info)
    view.crossovers = [] if info.fixed_size else analysis.crossovers(frame)
    if ok_rows(frame).empty:
        return view  # nothing succeeded: no plots, and the page's table says why
    figures = {
        "time": plots.time_vs_size(frame, info),
        "ratio": plots.ratio_vs_size(frame, info),
        "j_over_f": plots.j_over_f(frame, info),
        "first_call": plots.first_call(frame, info),
    }
    view.figures = {k: v for k, v in figures.items() if v}
    return view


def _lesson_figure(view: SetView) -> str | None:
    """The index's first plot: the problems where the modes differ most, forward vs reverse."""
    candidates = [p for p in view.problems if not p.info.fixed_size and p.headline.winner]
    chosen = [view.problem(n) for n in LESSON_PROBLEMS if view.problem(n) in candidates]
    if not chosen:
        chosen = sorted(candidates, key=lambda p: -p.headline.factor)[:2]
    if not chosen:
        return None
    panels = [(p.frame, p.info, _short_headline(p.headline)) for p in chosen]
    return plots.lesson(panels)


def _short_headline(h: Headline) -> str:
    """A panel title's worth: "reverse wins by 6 900×" (the size is on the axis)."""
    if h.winner in ("forward", "reverse"):
        return f"{h.winner} wins by {fmt_factor(h.factor)}"
    return "modes within 10%" if h.winner == "tie" else "one mode only"


def _environment_rows(result: ResultSet) -> list[tuple[str, str]]:
    env, settings = result.environment, result.settings
    frameworks = env.get("frameworks") or {}
    commit = env.get("git_commit")
    cpus = env.get("cpu_count")
    usable = env.get("usable_cpus")
    rows = [
        ("date", result.date),
        ("host", env.get("hostname") or "?"),
        ("CPU", f"{env.get('cpu_model') or '?'}" + (f" ({cpus} CPUs" + (f", {usable} usable)" if usable else ")")
                                                   if cpus else "")),
        ("device", env.get("device") or "cpu"),
        ("threads per framework", result.threads),
        ("frameworks", ", ".join(f"{k} {v}" for k, v in frameworks.items()) or "?"),
        ("Python", f"{env.get('python_implementation', '')} {env.get('python', '?')}".strip()),
        ("platform", env.get("platform") or "?"),
        ("adbench", ", ".join(filter(None, [env.get("adbench_version"), f"commit {commit[:10]}" if commit else None]))
         or "?"),
        ("settings", ", ".join(f"{k} = {v}" for k, v in settings.items()) or "—"),
        ("file", result.path.name),  # not the full path: the pages get published
    ]
    return rows


def _asv_link(asv_html: Path | None, output: Path) -> str | None:
    """asv's index.html relative to the site root, when ``asv publish`` has written one."""
    if asv_html is None:
        return None
    index = Path(asv_html) / "index.html"
    if not index.is_file():
        return None
    return Path(os.path.relpath(index.resolve(), output.resolve())).as_posix()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("adbench.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the build, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def percent(x: Any) -> str:
        if x is None or not math.isfinite(x):
            return "—"
        return f"{x:.0f}%" if x >= 10 else f"{x:.2g}%"

    def number(x: Any, fmt: str = ".3g") -> str:
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "—"
        return format(x, fmt)

    def sort_value(x: Any) -> str:
        # Tables sort on this attribute: numbers as numbers, blanks last.
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return ""
        return repr(float(x)) if isinstance(x, (int, float)) else str(x)

    env.filters.update(percent=percent, time=fmt_time, int=fmt_int, factor=fmt_factor, number=number, sv=sort_value,
                       svg=lambda s: Markup(s) if s else "")
    return env


def _prepare_output(output: Path) -> None:
    if output.exists() and any(output.iterdir()) and not (output / MARKER).exists():
        raise OutputNotOursError(
            f"{output} exists and was not made by `adbench report`; choose an empty or new folder with --output"
        )
    for owned in ("sets", "static"):
        shutil.rmtree(output / owned, ignore_errors=True)
    for page in ("index.html", "compare.html"):
        (output / page).unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    (output / MARKER).write_text("made by `python -m adbench report`; the folder is rebuilt on each run\n")


def _copy_static(output: Path) -> None:
    target = output / "static"
    target.mkdir(parents=True, exist_ok=True)
    for item in resources.files("adbench.report").joinpath("static").iterdir():
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())


def build_site(sources: Sequence[str | Path], output: Path, asv_html: Path | None = None,
               title: str = "adbench: automatic differentiation benchmarks") -> Path:
    """Read every result set under ``sources``, write the site to ``output``; the index's path."""
    output = Path(output)
    sets = load_sets(sources)
    with plots.context():
        views = []
        for result in sets:
            taken: set[str] = set()
            view = SetView(result, [_problem_view(result, name, taken) for name in result.problems])
            view.lesson = _lesson_figure(view)
            views.append(view)
        # The front page speaks for the newest `adbench compare` run (asv's runs, if that is all
        # there is): compare's sets carry failures and settings that asv's files do not.
        primary = next((v for v in reversed(views) if not v.result.from_asv), views[-1])
        comparison = _comparison(views, primary) if len(views) > 1 else None

    _prepare_output(output)
    _copy_static(output)
    env = _environment()
    common = {
        "title": title, "views": views, "primary": primary, "has_compare": comparison is not None,
        "asv": _asv_link(asv_html, output), "environment_rows": _environment_rows,
        "adbench_version": _version(), "methodology": _methodology,
    }

    def write(path: Path, template: str, root: str, **extra: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        html = env.get_template(template).render(**common, root=root, **extra)
        path.write_text(html, encoding="utf-8")

    write(output / "index.html", "overview.html", "", view=primary, is_front=True)
    for view in views:
        base = output / "sets" / view.slug
        write(base / "index.html", "overview.html", "../../", view=view, is_front=False)
        for problem in view.problems:
            write(base / f"{problem.slug}.html", "problem.html", "../../", view=view, problem=problem)
    if comparison is not None:
        write(output / "compare.html", "compare.html", "", view=primary, comparison=comparison)
    return output / "index.html"


def _version() -> str:
    try:
        from adbench import __version__
    except Exception:  # noqa: BLE001 (a version string is not worth failing a build)
        return "?"
    return __version__


def _methodology(result: ResultSet) -> dict[str, Any]:
    settings = result.settings
    samples = ok_rows(result.frame)["samples"].dropna()
    return {
        "statistic": settings.get("statistic", "median"),
        "budget": settings.get("budget_s"),
        "timeout": settings.get("timeout_s"),
        "memory_limit": settings.get("memory_limit_bytes"),
        "samples": (int(samples.min()), int(samples.max())) if len(samples) else None,
        "threads": result.threads,
    }


@dataclass
class Comparison:
    reference: SetView
    others: list[SetView]
    env_keys: list[str]
    env: dict[str, list[str]]
    problems: list[dict[str, Any]]


def _comparison(views: list[SetView], reference: SetView) -> Comparison:
    """Every set against the reference (the newest): environments side by side, ratios per problem."""
    others = [v for v in views if v is not reference]
    ordered = [reference, *others]
    env_rows = [dict(_environment_rows(v.result)) for v in ordered]
    keys = [k for k, _ in _environment_rows(reference.result)]
    env = {k: [rows.get(k, "—") for rows in env_rows] for k in keys}
    names = list(dict.fromkeys(n for v in ordered for n in v.result.problems))
    problems = []
    for name in names:
        present = [(v, v.problem(name)) for v in ordered]
        frames = [p.frame if p is not None else None for _, p in present]
        info = next(p.info for _, p in present if p is not None)
        figure, panels = None, 0
        if frames[0] is not None and any(f is not None for f in frames[1:]):
            pairs = [(f, v.slug) for (v, _), f in zip(present, frames) if f is not None]
            drawn = plots.set_ratio([f for f, _ in pairs], [s for _, s in pairs], info)
            if drawn:
                figure, panels = drawn
        problems.append({"info": info, "slug": slugify(name), "present": present, "figure": figure,
                         "panels": panels, "table": _comparison_table(present)})
    return Comparison(reference, others, keys, env, problems)


def _comparison_table(present: list[tuple[SetView, ProblemView | None]]) -> list[dict[str, Any]]:
    """One row per (size, series) with each set's median and its ratio to the reference set's."""
    cells: dict[tuple, list[Any]] = {}
    for i, (_, p) in enumerate(present):
        if p is None:
            continue
        for _, r in p.frame.iterrows():
            key = (int(r["size"]) if pd.notna(r["size"]) else -1, r["series"])
            entry = cells.setdefault(key, [None] * len(present))
            entry[i] = (r["status"], r["median_s"] if r["status"] == "ok" else None, bool(r["noisy"]))
    rows = []
    for (size, series), entries in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1].sort_key)):
        if sum(e is not None for e in entries) < 2:
            continue  # in one set only: nothing to compare (its own set's page shows it)
        ref = entries[0][1] if entries[0] else None
        rows.append({
            "size": size, "series": series,
            "cells": [
                None if e is None else {
                    "status": e[0], "median": e[1], "noisy": e[2],
                    "ratio": (e[1] / ref) if (e[1] and ref and i) else None,
                }
                for i, e in enumerate(entries)
            ],
        })
    return rows

