"""``adbench report``: a self-contained HTML site (plots, tables, analysis) built from saved result sets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# matplotlib, Jinja2 and the site builder are imported in build_report, not here: `adbench list`
# and `adbench compare` import the CLI, which imports this module, and must not pay for them.

DEFAULT_RESULTS = Path("results")  # where `adbench compare` saves a run (engine.results.reserve_default_path)
# The reference sets shipped with the repository, under its results/ folder: shown only with --reference,
# so a user's own runs are never mixed with another machine's (one of them a CUDA machine's) by default.
SHIPPED = ("reference", "asv/vm")
DEFAULT_OUTPUT = Path("results/site")
DEFAULT_ASV_HTML = Path("results/asv-html")
DEFAULT_TITLE = "adbench: automatic differentiation benchmarks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` subcommand's options."""
    parser.add_argument(
        "--results",
        nargs="+",
        type=Path,
        default=[DEFAULT_RESULTS],
        metavar="PATH",
        help="result-set CSVs, or folders searched for them (default: results/, your own `adbench compare` "
        "runs; the shipped reference sets under it are left out unless --reference)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also show the reference sets shipped with adbench ("
        + ", ".join(f"results/{s}" for s in SHIPPED)
        + ": other machines, one with a CUDA GPU)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help="folder to write the site into; rebuilt on each run (default: results/site)",
    )
    parser.add_argument(
        "--asv-html",
        type=Path,
        default=DEFAULT_ASV_HTML,
        metavar="DIR",
        help="`asv publish` output to link to when its index.html exists (default: results/asv-html)",
    )
    parser.add_argument("--title", default=DEFAULT_TITLE, help="the pages' title")


def shipped_folders() -> list[Path]:
    """The shipped reference sets' folders: beside the package, in a clone or an editable install."""
    root = Path(__file__).resolve().parents[2] / "results"
    return [root / s for s in SHIPPED]


def build_report(
    sources: Sequence[str | Path] | str | Path,
    output: str | Path = DEFAULT_OUTPUT,
    asv_html: str | Path | None = None,
    title: str = DEFAULT_TITLE,
    reference: bool = False,
) -> Path:
    """Build the site from the result sets under ``sources``; returns the path of its index.html.

    Folders are searched without the shipped reference sets (``SHIPPED``) unless ``reference`` is
    true, which adds them wherever ``sources`` are; a file or a shipped folder named in ``sources``
    is always read. A set that cannot be read (damaged, of an unreadable version) is listed on the
    index with its reason and the others are built. Raises ``adbench.report.data.NoResultsError``
    (a FileNotFoundError) when no set can be shown; its message names each file and why, and the
    command and flag that would give the report something to show.
    """
    from adbench.report.site import build_site

    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = list(sources)
    shipped = shipped_folders()
    if reference:
        present = [f for f in shipped if f.is_dir()]
        if not present:
            from adbench.report.data import NoResultsError

            raise NoResultsError(
                f"--reference: the shipped reference sets are not here ({', '.join(map(str, shipped))}); "
                "they come with a clone of adbench's repository"
            )
        sources += present
    return build_site(
        sources, Path(output), Path(asv_html) if asv_html else None, title=title, exclude=[] if reference else shipped
    )


def run(args: argparse.Namespace) -> int:
    """Run ``adbench report``: build, print the index's path; 1 with a message when no set can be shown."""
    from adbench.engine.results import ResultsFormatError
    from adbench.report.data import NoResultsError
    from adbench.report.site import OutputNotOursError

    try:
        index = build_report(
            args.results,
            args.output,
            args.asv_html,
            title=getattr(args, "title", DEFAULT_TITLE),
            reference=getattr(args, "reference", False),
        )
    except (NoResultsError, OutputNotOursError, ResultsFormatError) as exc:
        print(f"adbench report: error: {exc}", file=sys.stderr)
        return 1
    print(index)
    return 0


__all__ = ["SHIPPED", "add_arguments", "build_report", "run", "shipped_folders"]
