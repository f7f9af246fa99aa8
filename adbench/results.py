"""The versioned results format: a tidy CSV (one row per case) and a JSON sidecar with environment and raw samples."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

FORMAT_NAME = "adbench-results"
FORMAT_VERSION = 1
STATUSES = ("ok", "error", "timeout", "skipped")

# The CSV's columns, in order. Times are seconds per call; *_s columns of a case that did not
# run are empty. j_over_f is median_s / f_median_s (ADBench's headline ratio).
COLUMNS = [
    "problem", "size", "n_inputs", "n_outputs", "backend", "framework", "mode", "dtype",
    "threads", "seed", "status", "error",
    "first_call_s", "median_s", "iqr_s", "min_s", "max_s", "mean_s", "samples", "number", "noisy",
    "f_first_call_s", "f_median_s", "f_iqr_s", "f_min_s", "j_over_f",
    "rel_error", "memory_estimate_bytes", "build_s", "wall_s",
]
RAW_COLUMNS = ["raw_samples", "raw_f_samples"]  # kept in the JSON sidecar only


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader (or a Ctrl-C) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing, as open() would make them
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rows_to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for col in COLUMNS:
        if col not in frame:
            frame[col] = None
    # Counts stay integers even in a column with empty cells (failed cases).
    for col in ("size", "n_inputs", "n_outputs", "threads", "seed", "samples", "number", "memory_estimate_bytes"):
        frame[col] = pd.to_numeric(frame[col]).astype("Int64")
    return frame[COLUMNS]


def write_results(
    csv_path: Path, rows: list[dict[str, Any]], environment: dict[str, Any], settings: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``name.csv`` and its sidecar ``name.json`` atomically; returns both paths."""
    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    _atomic_write(csv_path, rows_to_frame(rows).to_csv(index=False))
    sidecar = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "environment": environment,
        "settings": settings,
        "columns": COLUMNS,
        "cases": [{k: row.get(k) for k in ("problem", "size", "backend", "mode", "dtype", "threads", "seed",
                                           "status", *RAW_COLUMNS)}
                  for row in rows],
    }
    _atomic_write(json_path, json.dumps(sidecar, indent=1, default=str))
    return csv_path, json_path


class ResultsFormatError(ValueError):
    """A file that is not an adbench result set of a version this adbench can read."""


def read_results(csv_path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A result set: the CSV as a DataFrame and the sidecar's metadata (environment, settings, cases)."""
    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    meta: dict[str, Any] = {}
    if json_path.exists():
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_NAME:
            raise ResultsFormatError(f"{json_path}: not an adbench results sidecar (format={meta.get('format')!r})")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ResultsFormatError(
                f"{json_path}: format_version {meta['format_version']} is newer than this adbench reads "
                f"({FORMAT_VERSION}); upgrade adbench"
            )
    frame = pd.read_csv(csv_path)
    missing = [c for c in ("problem", "size", "backend", "mode", "status", "median_s") if c not in frame]
    if missing:
        raise ResultsFormatError(f"{csv_path}: missing column(s) {', '.join(missing)}")
    return frame, meta


def find_result_sets(directory: Path) -> list[Path]:
    """Every result-set CSV (one with an adbench JSON sidecar) under ``directory``, oldest first."""
    found = []
    for csv in sorted(Path(directory).rglob("*.csv")):
        sidecar = csv.with_suffix(".json")
        if sidecar.exists():
            try:
                if json.loads(sidecar.read_text(encoding="utf-8")).get("format") == FORMAT_NAME:
                    found.append(csv)
            except (OSError, json.JSONDecodeError):
                continue
    return sorted(found, key=lambda p: p.stat().st_mtime)
