"""Builds the site: every result set's views and figures, rendered through the Jinja2 templates into a folder."""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from adbench import formatting as fmt
from adbench.engine.record import STATUS_MEANING, STATUSES
from adbench.engine.timing import CONFIDENCE, NOISY_IQR_RATIO
from adbench.report import analysis, plots
from adbench.report.comparison import compare_sets
from adbench.report.data import (
    NOT_APPLICABLE,
    Loaded,
    NoResultsError,
    ResultSet,
    Unreadable,
    no_sets_message,
    read_sets,
)
from adbench.report.environment import environment_rows, methodology, noise_lines
from adbench.report.grid import scale_legend
from adbench.report.views import ProblemView, SetView, problem_slugs, problem_view, set_view
from adbench.report.words import operation_title

MAX_WORKERS = 8
MIN_TASKS_PER_WORKER = 3  # fewer problem pages than this per worker: not worth a process
MARKER = ".adbench-report"  # marks a folder as ours, so a rebuild may clear what it made before
FAILED_STATUSES = [s for s in STATUSES if s != "ok"] + [NOT_APPLICABLE]  # n/a last: neutral, not a failure
SHOWN_MEANING = {
    **STATUS_MEANING,
    "skipped": "not run here: the framework is not installed, or the memory estimate is over --memory-limit",
    NOT_APPLICABLE: "not applicable, by design: a baseline without that "
    "derivative (no hand-written Hessian), or an operation or mode the backend does not offer",
}


class OutputNotOursError(FileExistsError):
    """The output folder holds other files; the report will not write over them."""


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


def _drawn_problem(result: ResultSet, name: str, slug: str) -> ProblemView:
    with plots.context():  # in a worker process: the figures' style, as in the parent
        return problem_view(result, name, slug)


def _all_problem_views(results: list[ResultSet]) -> list[list[ProblemView] | Exception]:
    """Every set's problem pages, drawn in worker processes on the CPUs this process may use when there are
    enough of them to pay for it (the figures are independent: drawing is most of a build's time); in this
    process where fork is not available or the pool cannot start. A set whose page failed: its exception."""
    tasks = [
        (i, r, name, slug) for i, r in enumerate(results) for name, slug in zip(r.problems, problem_slugs(r.problems))
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
                done.append(problem_view(r, name, slug))
            except Exception as exc:  # noqa: BLE001 (kept for its set: the other sets are drawn)
                done.append(exc)
    for (i, *_), drawn in zip(tasks, done):
        slot = out[i]
        if isinstance(slot, list):
            out[i] = drawn if isinstance(drawn, Exception) else [*slot, drawn]
    return out


def _drawn_sets(loaded: Loaded) -> tuple[list[SetView], list[Unreadable]]:
    """Each readable set's view; a set that could not be drawn joins the unreadable ones, with its reason."""
    unreadable = list(loaded.unreadable)
    views = []
    for result, problems in zip(loaded.sets, _all_problem_views(loaded.sets)):
        try:
            if isinstance(problems, Exception):
                raise problems
            views.append(set_view(result, problems))
        except Exception as exc:  # noqa: BLE001 (one set's odd data must not take the others down)
            unreadable.append(
                Unreadable(result.path.name, f"could not be drawn: {type(exc).__name__}: {exc}", "unreadable")
            )
    return views, unreadable


def _page_context(title: str, views: list[SetView], primary: SetView, unreadable: list[Unreadable]) -> dict[str, Any]:
    """What every page's template reads besides its own view."""
    return {
        "title": title,
        "views": views,
        "primary": primary,
        "environment_rows": environment_rows,
        "adbench_version": _version(),
        "methodology": methodology,
        "unreadable": sorted(unreadable, key=lambda u: u.name),
        "status_meaning": SHOWN_MEANING,
        "grid_scale": scale_legend(),
        "failed_statuses": FAILED_STATUSES,
        "noisy_ratio": NOISY_IQR_RATIO,
        "tie": fmt.TIE,
        "confidence": CONFIDENCE,
        "hvp_band": analysis.HVP_BAND,
        "noise_lines": noise_lines,
    }


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
    with plots.context():
        views, unreadable = _drawn_sets(read_sets(sources, exclude))
        if not views:
            raise NoResultsError(no_sets_message(sources, unreadable))
        # The front page speaks for the newest `adbench compare` run (asv's runs, if that is all
        # there is): compare's sets carry failures and settings that asv's files do not.
        primary = next((v for v in reversed(views) if not v.result.from_asv), views[-1])
        comparison = compare_sets(views, primary) if len(views) > 1 else None

    _prepare_output(output)
    _copy_static(output)
    env = _environment()
    common = _page_context(title, views, primary, unreadable)
    common.update(has_compare=comparison is not None, asv=_asv_link(asv_html, output))

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
