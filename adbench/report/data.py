"""Saved result sets as the report sees them: found, read, cleaned and labelled (never re-timed)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adbench.results import COLUMNS, ResultsFormatError, find_result_sets, read_results

NUMERIC = [
    "size", "n_inputs", "n_outputs", "threads", "first_call_s", "median_s", "iqr_s", "min_s",
    "max_s", "mean_s", "samples", "number", "f_first_call_s", "f_median_s", "f_iqr_s", "f_min_s",
    "j_over_f", "rel_error", "memory_estimate_bytes", "build_s", "wall_s",
]
AD_MODES = ("forward", "reverse")
# Display order: the frameworks, then the NumPy baselines; unknown backends go between.
BACKEND_ORDER = ("jax", "jax-eager", "torch", "torch-autograd", "autograd")
BASELINES = ("finite-diff", "manual")
MODE_ORDER = ("reverse", "forward", "central", "manual")


class NoResultsError(FileNotFoundError):
    """No adbench result set was found where the report was told to look."""


@dataclass(frozen=True)
class Series:
    """One line on a plot: a backend in one mode (and dtype, when a set mixes dtypes)."""

    backend: str
    mode: str
    dtype: str | None = None

    @property
    def label(self) -> str:
        text = self.backend if self.mode in ("manual", "central") else f"{self.backend} {self.mode}"
        if self.backend == "manual":
            text = "manual (NumPy floor)"
        elif self.backend == "finite-diff":
            text = "finite differences"
        return f"{text} {self.dtype}" if self.dtype else text

    @property
    def sort_key(self) -> tuple:
        b = self.backend
        group = 2 if b in BASELINES else (0 if b in BACKEND_ORDER else 1)
        rank = (BACKEND_ORDER + BASELINES).index(b) if b in BACKEND_ORDER + BASELINES else 0
        mode = MODE_ORDER.index(self.mode) if self.mode in MODE_ORDER else len(MODE_ORDER)
        return (group, rank, b, mode, self.mode, self.dtype or "")


@dataclass
class ResultSet:
    """One saved run: its rows (cleaned) and the sidecar's environment and settings."""

    slug: str
    path: Path
    frame: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, Any]:
        return self.meta.get("environment") or {}

    @property
    def settings(self) -> dict[str, Any]:
        return self.meta.get("settings") or {}

    @property
    def timestamp(self) -> _dt.datetime | None:
        text = self.environment.get("timestamp")
        try:
            return _dt.datetime.fromisoformat(str(text)) if text else None
        except ValueError:
            return None

    @property
    def date(self) -> str:
        ts = self.timestamp
        return ts.strftime("%Y-%m-%d %H:%M UTC") if ts else "date unknown"

    @property
    def threads(self) -> str:
        values = sorted({int(t) for t in self.frame["threads"].dropna()})
        if not values and self.environment.get("threads") is not None:
            values = [int(self.environment["threads"])]
        return ", ".join(map(str, values)) or "?"

    @property
    def machine(self) -> str:
        env = self.environment
        device = env.get("device") or "cpu"
        return f"{env.get('hostname') or 'unknown host'} · {env.get('cpu_model') or 'unknown CPU'} · {device}"

    @property
    def from_asv(self) -> bool:
        return self.settings.get("source") == "asv"

    @property
    def label(self) -> str:
        """What a person picks a set by: where, on how many threads, and when."""
        text = f"{self.machine} · {self.threads} thread(s) · {self.date}"
        if self.from_asv:
            commit = self.environment.get("git_commit") or "?"
            return f"asv run, commit {commit[:8]} · {text}"
        return text

    @property
    def problems(self) -> list[str]:
        # Registration order would need the registry; order of first appearance matches the run.
        return list(dict.fromkeys(self.frame["problem"]))

    def problem_frame(self, problem: str) -> pd.DataFrame:
        return self.frame[self.frame["problem"] == problem]


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in COLUMNS:  # an older or hand-made file may lack some; asv's results lack several
        if col not in frame:
            frame[col] = None
    for col in NUMERIC:
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    # Plain objects: an all-empty column reads as float, and pandas >= 3 would infer "str" dtypes.
    for col in ("problem", "backend", "mode", "dtype", "error"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    frame["status"] = frame["status"].fillna("ok").astype(str).str.lower()
    # pandas reads True/False as bool, but as object when some rows are empty (cases that did not run).
    noisy = frame["noisy"] if "noisy" in frame else pd.Series(False, index=frame.index)
    frame["noisy"] = noisy.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).astype(bool)
    # A case that says ok but has no usable time cannot be drawn; treat it as an error, visibly.
    bad = (frame["status"] == "ok") & ~(frame["median_s"] > 0)
    frame.loc[bad, "status"] = "error"
    frame.loc[bad & frame["error"].isna(), "error"] = "no timing recorded"
    if "j_over_f" in frame:
        missing = frame["j_over_f"].isna() & (frame["f_median_s"] > 0)
        frame.loc[missing, "j_over_f"] = frame["median_s"] / frame["f_median_s"]
    frame["size"] = frame["size"].astype("Int64")
    mixed_dtypes = frame["dtype"].dropna().nunique() > 1
    frame["series"] = [
        Series(str(b), str(m), str(d) if mixed_dtypes else None)
        for b, m, d in zip(frame["backend"], frame["mode"], frame["dtype"])
    ]
    # A re-run of the same case in one set: the last one written is the one that counts.
    key = ["problem", "size", "backend", "mode", "dtype"]
    return frame.drop_duplicates(subset=key, keep="last").reset_index(drop=True)


def _slug(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "results"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def discover(sources: Iterable[str | Path]) -> list[Path]:
    """Result-set CSVs (and asv result JSONs) from directories, searched recursively, and CSV paths."""
    from adbench.report.asv import find_asv_results

    found: dict[Path, None] = {}
    for source in sources:
        path = Path(source)
        if path.is_dir():
            for csv in find_result_sets(path):
                found.setdefault(csv.resolve(), None)
            for result in find_asv_results(path):
                found.setdefault(result.resolve(), None)
        elif path.is_file():
            if path.suffix == ".json" and path.with_suffix(".csv").is_file():
                path = path.with_suffix(".csv")  # a result set's sidecar named instead of its CSV
            found.setdefault(path.resolve(), None)
        else:
            raise NoResultsError(f"no such file or directory: {path}")
    return list(found)


def _unique_content(paths: list[Path]) -> list[Path]:
    """Drop byte-identical copies (a ``latest.csv`` beside the run it copies), keeping the dated name."""
    seen: dict[str, Path] = {}
    for path in sorted(paths, key=lambda p: p.stem.startswith("latest")):
        seen.setdefault(hashlib.sha1(path.read_bytes()).hexdigest(), path)
    kept = set(seen.values())
    return [p for p in paths if p in kept]


def load_sets(sources: Sequence[str | Path]) -> list[ResultSet]:
    """Every result set under ``sources``, oldest first (by the run's own timestamp)."""
    paths = _unique_content(discover(sources))
    if not paths:
        shown = ", ".join(str(s) for s in sources) or "(none given)"
        raise NoResultsError(
            f"no adbench result sets (a CSV with its JSON sidecar) in {shown}; "
            "run `python -m adbench compare` first, or pass --results PATH"
        )
    from adbench.report.asv import read_asv_result

    sets, taken = [], set()
    for path in paths:
        if path.suffix == ".json":
            read = read_asv_result(path)
            if read is None:
                continue  # an asv run without Jacobian times: nothing to draw
            frame, meta = read
            env = meta["environment"]
            stem = f"asv-{env.get('hostname') or path.parent.name}-{(env.get('git_commit') or path.stem)[:8]}"
        else:
            frame, meta = read_results(path)
            stem = path.stem
        if frame.empty:
            continue
        sets.append(ResultSet(_slug(stem, taken), path, _clean(frame), meta))
    if not sets:
        raise NoResultsError(
            "the result files found hold no timings (" + ", ".join(map(str, paths)) + "); "
            "run `python -m adbench compare` first, or pass --results PATH"
        )
    epoch = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)

    def when(s: ResultSet) -> _dt.datetime:
        ts = s.timestamp
        if ts is not None and ts.tzinfo is None:
            ts = ts.replace(tzinfo=_dt.timezone.utc)
        return ts or epoch

    return sorted(sets, key=lambda s: (when(s), s.path.stat().st_mtime))


def ordered_series(frame: pd.DataFrame) -> list[Series]:
    return sorted(set(frame["series"]), key=lambda s: s.sort_key)


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["status"] == "ok") & (frame["median_s"] > 0)]


def geometric_mean(values: Iterable[float]) -> float:
    arr = np.asarray([v for v in values if v and v > 0], dtype=float)
    return float(np.exp(np.log(arr).mean())) if arr.size else float("nan")


__all__ = [
    "AD_MODES", "NoResultsError", "ResultSet", "ResultsFormatError", "Series",
    "discover", "load_sets", "ok_rows", "ordered_series",
]
