"""Builds the site: analyses and figures per result set, rendered through the Jinja2 templates into a folder."""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jinja2
import pandas as pd
from markupsafe import Markup

from adbench import formatting as fmt
from adbench.engine.record import STATUS_MEANING, STATUSES
from adbench.engine.timing import CONFIDENCE, NOISY_IQR_RATIO
from adbench.report import analysis, dots, panels, plots
from adbench.report.analysis import Headline, ProblemInfo, operation_title
from adbench.report.data import (
    NOT_APPLICABLE,
    NoResultsError,
    ResultSet,
    Unreadable,
    main_rows,
    no_sets_message,
    ok_rows,
    operations,
    ordered_series,
    read_sets,
)
from adbench.report.grid import Grid, build_grid, scale_legend

MAX_WORKERS = 8
MIN_TASKS_PER_WORKER = 3  # fewer problem pages than this per worker: not worth a process
MARKER = ".adbench-report"  # marks a folder as ours, so a rebuild may clear what it made before
# The problems whose forward-vs-reverse contrast is the suite's lesson, in the order to show them.
LESSON_PROBLEMS = ("loss", "tall")
DEVICE_ORDER = ("cpu", "cuda")
FAILED_STATUSES = [s for s in STATUSES if s != "ok"] + [NOT_APPLICABLE]  # n/a last: neutral, not a failure
SHOWN_MEANING = {
    **STATUS_MEANING,
    "skipped": "not run here: the framework is not installed, or the memory estimate is over --memory-limit",
    NOT_APPLICABLE: "not applicable, by design: a baseline without that "
    "derivative (no hand-written Hessian), or an operation or mode the backend does not offer",
}


class OutputNotOursError(FileExistsError):
    """The output folder holds other files; the report will not write over them."""


def _value(x: Any) -> Any:
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
        return _counts(self.frame)

    @property
    def backends(self) -> list[str]:
        return list(dict.fromkeys(s.backend for s in ordered_series(self.frame)))

    def rows(self) -> list[dict[str, Any]]:
        """The table: every case, failed ones included, by operation, size and series."""
        return _case_rows(self.frame)

    def chunk_table(self) -> list[dict[str, Any]]:
        rows = analysis.chunk_rows(self.frame)
        return _case_rows(rows[rows["size"].isin(self.chunk_sizes)])


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = {str(k): int(v) for k, v in frame["shown"].value_counts().items()}
    counts["noisy"] = int((frame["noisy"].astype(bool) & (frame["status"] == "ok")).sum())
    return counts


def _case_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    order = {op: i for i, op in enumerate(operations(frame))}
    frame = frame.assign(_key=[s.sort_key for s in frame["series"]], _op=frame["operation"].map(order))
    out = []
    for _, r in frame.sort_values(["_op", "size", "_key"]).iterrows():
        timed = r["status"] in ("ok", "wrong")
        median = _value(r["time_s"]) if timed else None
        iqr = _value(r["iqr_s"])
        out.append(
            {
                "operation": r["operation"],
                "size": _value(r["size"]),
                "series": r["series"],
                "status": r["shown"],
                "noisy": bool(r["noisy"]) and timed,
                "median": median,
                "ci_low": _value(r["ci_low_s"]) if timed else None,
                "ci_high": _value(r["ci_high_s"]) if timed else None,
                "iqr_pct": iqr / median * 100 if median and iqr is not None else None,
                "min": _value(r["min_s"]) if timed else None,
                "first": _value(r["first_call_s"]) if timed else None,
                "f_median": _value(r["f_time_s"]) if timed else None,
                "j_over_f": _value(r["j_over_f"]) if timed else None,
                "samples": _value(r["samples"]) if timed else None,
                "visits": _value(r["visits"]),
                "workers": _value(r["workers"]),
                "number": _value(r["number"]) if timed else None,
                "peak_memory": _value(r["peak_memory_bytes"]),
                "rel_error": _value(r["rel_error"]),
                "tolerance": _value(r["tolerance"]),
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
        operation, analysis.headline(frame, info, operation, result.has_intervals, result.comparisons), _counts(rows)
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


def _problem_slugs(names: Sequence[str]) -> list[str]:
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


def _problem_view(result: ResultSet, name: str, slug: str) -> ProblemView:
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
            {"series": s, "size": int(cast(int, n)), **{k: _value(v) for k, v in r.items()}}  # n: the index, sizes
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
    panels = [(p.frame, p.info, analysis.short_headline(h)) for p, h in chosen]
    return plots.lesson(panels)


def _environment_rows(result: ResultSet) -> list[tuple[str, str]]:
    env, settings = result.environment, result.settings
    frameworks = env.get("frameworks") or {}
    commit = env.get("git_commit")
    cpus = env.get("cpu_count")
    usable = env.get("usable_cpus")
    rows = [
        ("date", result.date),
        ("host", result.host),
        (
            "CPU",
            f"{env.get('cpu_model') or '?'}"
            + (f" ({cpus} CPUs" + (f", {usable} usable)" if usable else ")") if cpus else ""),
        ),
        ("device", result.device),
    ]
    gpus = [g for g in env.get("gpus") or [] if isinstance(g, dict)]
    if gpus:
        rows.append(
            (
                "GPUs",
                "; ".join(
                    ", ".join(
                        filter(
                            None,
                            [
                                str(g.get("name") or "?"),
                                f"driver {g['driver']}" if g.get("driver") else None,
                                str(g["memory"]) if g.get("memory") else None,
                            ],
                        )
                    )
                    for g in gpus
                ),
            )
        )
    rows += [
        ("threads per framework", result.threads),
        ("frameworks", ", ".join(f"{k} {v}" for k, v in frameworks.items() if v) or "?"),
    ]
    builds = {k: v for k, v in (env.get("framework_builds") or {}).items() if v}
    if builds:
        rows.append(
            (
                "framework builds",
                "; ".join(
                    f"{k}: " + ", ".join(f"{kk} {_words(vv)}" for kk, vv in v.items())
                    if isinstance(v, dict)
                    else f"{k}: {v}"
                    for k, v in builds.items()
                ),
            )
        )
    noise = result.noise
    rows += [
        ("Python", f"{env.get('python_implementation', '')} {env.get('python', '?')}".strip()),
        ("platform", env.get("platform") or "?"),
        (
            "adbench",
            ", ".join(
                filter(
                    None,
                    [
                        env.get("adbench_version"),
                        f"commit {commit[:10]}" + (" (tree modified)" if env.get("git_dirty") else "")
                        if commit
                        else None,
                    ],
                )
            )
            or "?",
        ),
        (
            "results format",
            f"version {result.format_version}"
            if result.format_version
            else ("asv results" if result.from_asv else "?"),
        ),
        (
            "machine load",
            ("busy: " + "; ".join(noise.get("busy_reasons") or ["(no reason recorded)"]))
            if result.busy
            else ("quiet (no sign of other load)" if "busy" in noise else "not recorded"),
        ),
        ("settings", ", ".join(f"{k} = {_words(v)}" for k, v in settings.items()) or "—"),
        ("file", result.path.name),  # not the full path: the pages get published
    ]
    again = result.meta.get("reanalysed")
    if isinstance(again, dict):
        rows.insert(
            -1,
            (
                "statistics",
                f"re-analysed from the raw samples on {again.get('at') or '?'} by adbench "
                f"{again.get('adbench_version') or '?'} (commit {str(again.get('git_commit'))[:10]}); "
                f"the run's own interval: {again.get('interval_before') or '?'}",
            ),
        )
    return rows


def _words(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)


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

    def dash(text: str) -> str:
        return text or "—"

    def percent(x: Any) -> str:
        if not fmt.is_number(x):
            return "—"
        return f"{x:.0f}%" if x >= 10 else f"{x:.2g}%"

    def number(x: Any, spec: str = ".3g") -> str:
        return format(x, spec) if fmt.is_number(x) else "—"

    def sort_value(x: Any) -> str:
        # Tables sort on this attribute: numbers as numbers, blanks last.
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return ""
        return repr(float(x)) if isinstance(x, (int, float)) else str(x)

    env.filters.update(
        time=lambda x: dash(fmt.seconds(x)),
        int=lambda x: dash(fmt.integer(x)),
        factor=lambda x: dash(fmt.factor(x)),
        ratio=lambda x: dash(fmt.ratio(x)),
        bytes=lambda x: dash(fmt.bytes_(x)),
        interval=lambda lo, hi: fmt.interval(lo, hi),
        finterval=lambda lo, hi: fmt.interval(lo, hi, fmt.factor),
        percent=percent,
        number=number,
        sv=sort_value,
        svg=lambda s: Markup(s) if s else "",
        optitle=operation_title,
        css=lambda s: re.sub(r"[^a-z0-9-]", "", str(s).lower()) or "na",
        pct=lambda x: f"{float(x):.2f}%",
    )
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
    for item in sorted(resources.files("adbench.report").joinpath("static").iterdir(), key=lambda i: i.name):
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())


def _set_view(result: ResultSet, problems: list[ProblemView] | None = None) -> SetView:
    if problems is None:
        problems = [_problem_view(result, n, s) for n, s in zip(result.problems, _problem_slugs(result.problems))]
    view = SetView(result, problems)
    view.lesson = _lesson_figure(view)
    view.grid = build_grid(view, f"sets/{view.slug}/")
    return view


def _drawn_problem(result: ResultSet, name: str, slug: str) -> ProblemView:
    with plots.context():  # in a worker process: the figures' style, as in the parent
        return _problem_view(result, name, slug)


def _all_problem_views(results: list[ResultSet]) -> list[list[ProblemView] | Exception]:
    """Every set's problem pages, drawn in worker processes on the CPUs this process may use when there are
    enough of them to pay for it (the figures are independent: drawing is most of a build's time); in this
    process where fork is not available or the pool cannot start. A set whose page failed: its exception."""
    tasks = [
        (i, r, name, slug) for i, r in enumerate(results) for name, slug in zip(r.problems, _problem_slugs(r.problems))
    ]
    out: list[list[ProblemView] | Exception] = [[] for _ in results]
    workers = min(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        MAX_WORKERS,
        len(tasks) // MIN_TASKS_PER_WORKER,
    )
    done: list[Any] = []
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        # fork: the workers start in milliseconds with everything imported (spawn would import it all again).
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                futures = [pool.submit(_drawn_problem, r, name, slug) for _, r, name, slug in tasks]
                done = [f.exception() or f.result() for f in futures]
        except (OSError, BrokenProcessPool):
            done = []
    if not done:
        for _, r, name, slug in tasks:
            try:
                done.append(_problem_view(r, name, slug))
            except Exception as exc:  # noqa: BLE001 (kept for its set: the other sets are drawn)
                done.append(exc)
    for (i, *_), drawn in zip(tasks, done):
        slot = out[i]
        if isinstance(slot, list):
            out[i] = drawn if isinstance(drawn, Exception) else [*slot, drawn]
    return out


def build_site(
    sources: Sequence[str | Path],
    output: Path,
    asv_html: Path | None = None,
    title: str = "adbench: automatic differentiation benchmarks",
    exclude: Sequence[Path] = (),
) -> Path:
    """Read every result set under ``sources`` (none under ``exclude``: ``data.discover``), write the
    site to ``output``; the index's path.

    A set that cannot be read (damaged, of an unknown version) or drawn is listed on the index
    with its file and the reason, and the others are built. NoResultsError when no set can be shown.
    """
    output = Path(output)
    loaded = read_sets(sources, exclude)
    unreadable = list(loaded.unreadable)
    with plots.context():
        views = []
        for result, problems in zip(loaded.sets, _all_problem_views(loaded.sets)):
            try:
                if isinstance(problems, Exception):
                    raise problems
                views.append(_set_view(result, problems))
            except Exception as exc:  # noqa: BLE001 (one set's odd data must not take the others down)
                unreadable.append(
                    Unreadable(result.path.name, f"could not be drawn: {type(exc).__name__}: {exc}", "unreadable")
                )
        if not views:
            raise NoResultsError(no_sets_message(sources, unreadable))
        # The front page speaks for the newest `adbench compare` run (asv's runs, if that is all
        # there is): compare's sets carry failures and settings that asv's files do not.
        primary = next((v for v in reversed(views) if not v.result.from_asv), views[-1])
        comparison = _comparison(views, primary) if len(views) > 1 else None

    _prepare_output(output)
    _copy_static(output)
    env = _environment()
    common = {
        "title": title,
        "views": views,
        "primary": primary,
        "has_compare": comparison is not None,
        "asv": _asv_link(asv_html, output),
        "environment_rows": _environment_rows,
        "adbench_version": _version(),
        "methodology": _methodology,
        "unreadable": sorted(unreadable, key=lambda u: u.name),
        "status_meaning": SHOWN_MEANING,
        "grid_scale": scale_legend(),
        "failed_statuses": FAILED_STATUSES,
        "noisy_ratio": NOISY_IQR_RATIO,
        "tie": fmt.TIE,
        "confidence": CONFIDENCE,
        "hvp_band": analysis.HVP_BAND,
        "noise_lines": _noise_lines,
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


def _noise_lines(result: ResultSet) -> list[str]:
    return fmt.noise_lines(result.noise)


def _version() -> str:
    try:
        from adbench import __version__
    except Exception:  # noqa: BLE001 (a version string is not worth failing a build)
        return "?"
    return __version__


def _methodology(result: ResultSet) -> dict[str, Any]:
    settings = result.settings
    ok = ok_rows(result.frame)
    samples = ok["samples"].dropna()
    visits = ok["visits"].dropna()
    budget = result.meta.get("budget") or {}
    tolerances = {
        str(d): sorted({float(t) for t in g["tolerance"].dropna()})
        for d, g in result.frame.groupby("dtype")
        if g["tolerance"].notna().any()
    }
    return {
        "statistic": settings.get("statistic", "median"),
        "interval": settings.get("interval"),
        "budget": settings.get("budget_s"),
        "time_budget": budget.get("time_budget_s") or settings.get("time_budget_s"),
        "spent": budget.get("spent_s"),
        "workers": settings.get("workers"),
        "paired": result.comparisons is not None,
        "components": ((result.meta.get("variance") or {}).get("components") or {}),
        "timeout": settings.get("timeout_s"),
        "memory_limit": analysis.memory_limit_bytes(settings),
        "samples": (int(samples.min()), int(samples.max())) if len(samples) else None,
        "visits": (int(visits.min()), int(visits.max())) if len(visits) else None,
        "threads": result.threads,
        "intervals": result.has_intervals,
        "tolerances": tolerances,
        "operations": operations(result.frame),
    }


# -- comparing sets -----------------------------------------------------------------------------------
@dataclass
class Pairing:
    """A reference set and the sets compared with it: one device's sets, or a GPU set against a CPU one."""

    slug: str
    title: str
    note: str
    reference: SetView
    others: list[SetView]
    names: tuple[
        str, str
    ]  # how a verdict names (another set, the reference): ("this set", "reference"), ("cuda", "cpu")
    sections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sets(self) -> list[SetView]:
        return [self.reference, *self.others]


@dataclass
class Comparison:
    views: list[SetView]  # newest first
    env_keys: list[str]
    env: dict[str, list[str]]
    headlines: list[dict[str, Any]]
    pairings: list[Pairing]


def _device_key(device: str) -> tuple:
    return (DEVICE_ORDER.index(device) if device in DEVICE_ORDER else len(DEVICE_ORDER), device)


def _comparison(views: list[SetView], primary: SetView) -> Comparison:
    """Environments side by side, each set's answers, and ratios: each device's sets against its newest,
    and each GPU set against the newest CPU set (CPU and GPU sets are never mixed otherwise)."""
    newest_first = list(reversed(views))
    ordered = [primary] + [v for v in newest_first if v is not primary]
    env_rows = [dict(_environment_rows(v.result)) for v in ordered]
    keys = list(dict.fromkeys(k for rows in env_rows for k in rows))
    canonical = max((list(rows) for rows in env_rows), key=len)  # the fullest set's order (GPUs after device)
    keys.sort(key=lambda k: canonical.index(k) if k in canonical else len(canonical))
    env = {k: [rows.get(k, "—") for rows in env_rows] for k in keys}
    by_device: dict[str, list[SetView]] = {}
    for v in ordered:
        by_device.setdefault(v.result.device, []).append(v)
    pairings = []
    for device in sorted(by_device, key=_device_key):
        group = by_device[device]
        if len(group) >= 2:
            ref = next((v for v in group if not v.result.from_asv), group[0])
            pairings.append(
                Pairing(
                    f"same-{slugify(device)}",
                    f"{device.upper()} sets against {ref.slug}",
                    f"Each {device} set's time over the reference's ({ref.result.short_label}) for the same case; "
                    "under 1× is faster than the reference.",
                    ref,
                    [v for v in group if v is not ref],
                    ("this set", "reference"),
                )
            )
    cpu = by_device.get("cpu")
    if cpu:
        ref = next((v for v in cpu if not v.result.from_asv), cpu[0])
        for device in sorted(by_device, key=_device_key):
            if device == "cpu":
                continue
            other = by_device[device][0]
            pairings.append(
                Pairing(
                    f"{slugify(device)}-vs-cpu",
                    f"{device.upper()} against CPU: {other.slug} over {ref.slug}",
                    f"Each case's time on {other.result.device_label} ({other.result.short_label}) over its time "
                    f"on the CPU ({ref.result.short_label}): under 1× the GPU is faster. Different machines and runs: "
                    "only the intervals say whether a difference is real.",
                    ref,
                    [other],
                    (device, "cpu"),
                )
            )
    for pairing in pairings:
        pairing.sections = _pairing_sections(pairing)
    headlines = []
    for name in dict.fromkeys(n for v in ordered for n in v.result.problems):
        ops = list(dict.fromkeys(o.operation for v in ordered if (pv := v.problem(name)) for o in pv.operations))
        for op in ops:
            cells = []
            for v in ordered:
                p = v.problem(name)
                cells.append(p.operation(op) if p else None)
            headlines.append({"problem": name, "slug": slugify(name), "operation": op, "cells": cells})
    return Comparison(ordered, keys, env, headlines, pairings)


def _pairing_sections(pairing: Pairing) -> list[dict[str, Any]]:
    sections = []
    names = list(dict.fromkeys(n for v in pairing.sets for n in v.result.problems))
    for name in names:
        present = [(v, v.problem(name)) for v in pairing.sets]
        if present[0][1] is None or all(p is None for _, p in present[1:]):
            continue
        info = present[0][1].info
        ops = [o.operation for o in present[0][1].operations]
        for op in ops:
            frames = [(v, p.frame) for v, p in present if p is not None and p.operation(op) is not None]
            if len(frames) < 2:
                continue
            table = _pairing_table(pairing, [(v, p.frame if p is not None else None) for v, p in present], op)
            if not table:
                continue
            drawn = panels.set_ratio(
                [f for _, f in frames],
                [v.slug for v, _ in frames],
                info,
                op,
                ylabel=f"time / time on {pairing.reference.slug}",
            )
            figure, panel_count = drawn if drawn else (None, 0)
            sections.append(
                {
                    "info": info,
                    "operation": op,
                    "anchor": f"{pairing.slug}-{slugify(name)}-{op}",
                    "figure": figure,
                    "panels": panel_count,
                    "table": table,
                }
            )
    return sections


def _pairing_table(
    pairing: Pairing, present: list[tuple[SetView, pd.DataFrame | None]], operation: str
) -> list[dict[str, Any]]:
    """One row per (size, series) with each set's median and its ratio to the reference's, and
    whether the intervals separate them."""
    cells: dict[tuple, list[Any]] = {}
    for i, (_, frame) in enumerate(present):
        if frame is None:
            continue
        for _, r in main_rows(frame, operation).iterrows():
            key = (int(r["size"]) if pd.notna(r["size"]) else -1, r["series"])
            cells.setdefault(key, [None] * len(present))[i] = r
    rows = []
    a_name, b_name = pairing.names
    for (size, series), entries in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1].sort_key)):
        if entries[0] is None or sum(e is not None for e in entries) < 2:
            continue  # not in the reference, or in one set only: its own set's page shows it
        ref = entries[0]
        ref_ok = ref["status"] == "ok"
        out: list[dict[str, Any] | None] = []
        for i, e in enumerate(entries):
            if e is None:
                out.append(None)
                continue
            cell = {
                "status": e["shown"],
                "median": _value(e["time_s"]) if e["status"] in ("ok", "wrong") else None,
                "noisy": bool(e["noisy"]),
                "ratio": None,
                "state": "",
                "words": "",
            }
            if i and e["status"] == "ok" and ref_ok:
                cell["ratio"] = float(e["time_s"]) / float(ref["time_s"])
                v = fmt.compare_rows(e, ref)
                states = {"a": "faster", "b": "slower", "tie": "tie"}
                cell["state"] = states.get(v.winner, "unresolved") if v.winner is not None else "unresolved"
                cell["words"] = fmt.verdict_words(v, a_name, b_name)
            out.append(cell)
        rows.append({"size": size, "series": series, "cells": out})
    return rows
