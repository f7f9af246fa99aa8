"""``adbench report``: a self-contained HTML site (plots, tables, analysis) built from saved result sets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# matplotlib, Jinja2 and the site builder are imported in build_report, not here: `adbench list`
# and `adbench compare` import the CLI, which imports this module, and must not pay for them.

DEFAULT_RESULTS = Path("results")
DEFAULT_OUTPUT = Path("results/site")
DEFAULT_ASV_HTML = Path("results/asv-html")
DEFAULT_TITLE = "adbench: automatic differentiation benchmarks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` subcommand's options."""
    parser.add_argument(
        "--results", nargs="+", type=Path, default=[DEFAULT_RESULTS], metavar="PATH",
        help="result-set CSVs, or folders searched for them (default: results/)",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
        help="folder to write the site into; rebuilt on each run (default: results/site)",
    )
    parser.add_argument(
        "--asv-html", type=Path, default=DEFAULT_ASV_HTML, metavar="DIR",
        help="`asv publish` output to link to when its index.html exists (default: results/asv-html)",
    )
    parser.add_argument("--title", default=DEFAULT_TITLE, help="the pages' title")


def build_report(
    sources: Sequence[str | Path] | str | Path,
    output: str | Path = DEFAULT_OUTPUT,
    asv_html: str | Path | None = None,
    title: str = DEFAULT_TITLE,
) -> Path:
    """Build the site from the result sets under ``sources``; returns the path of its index.html.

    A set that cannot be read (damaged, of an unreadable version) is listed on the index with its
    reason and the others are built. Raises ``adbench.report.data.NoResultsError`` (a
    FileNotFoundError) when no set can be shown; its message names each file and why.
    """
    from adbench.report.site import build_site

    if isinstance(sources, (str, Path)):
        sources = [sources]
    return build_site(list(sources), Path(output), Path(asv_html) if asv_html else None, title=title)


def run(args: argparse.Namespace) -> int:
    """Run ``adbench report``: build, print the index's path; 1 with a message when no set can be shown."""
    from adbench.report.data import NoResultsError
    from adbench.report.site import OutputNotOursError
    from adbench.engine.results import ResultsFormatError

    try:
        index = build_report(args.results, args.output, args.asv_html, title=getattr(args, "title", DEFAULT_TITLE))
    except (NoResultsError, OutputNotOursError, ResultsFormatError) as exc:
        print(f"adbench report: error: {exc}", file=sys.stderr)
        return 1
    print(index)
    return 0


__all__ = ["add_arguments", "build_report", "run"]
