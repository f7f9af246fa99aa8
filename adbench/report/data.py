"""Saved result sets as the report sees them: found, read through ``adbench.engine.results`` (one schema, one
reader), labelled; a set that cannot be read is kept as a named reason instead (never re-timed)."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from adbench.backends import BASELINE_MODES, OPERATIONS, get_backend
from adbench.backends.modes import mode_rank
from adbench.engine.record import SPEC_KEYS, TIMED
from adbench.engine.results import (
    DamagedResultsError,
    ResultsFormatError,
    find_result_sets,
    read_results,
    rows_to_frame,
    sidecar_path,
)
from adbench.report.result_set import ResultSet

# A backend this adbench does not know (a set from another machine or version) gets a colour
# from Paul Tol's muted palette, none of which a registered backend uses, chosen by a hash of its
# name: the same colour on every page and every build.
FALLBACK_COLOURS = ("#882255", "#44AA99", "#999933", "#AA4499", "#332288", "#117733", "#661100", "#6699CC")
FALLBACK_ORDER = 50  # after the registered frameworks, before the baselines


NOT_APPLICABLE = "n/a"
# A skip that says the case could have run but this run did not (a setting, an install): not "by design".
NOT_RUN_HERE = ("(--memory-limit)", "backend unavailable:")


def shown_status(status: str, reason: Any) -> str:
    """The status as the pages show it: a case skipped by design (a baseline without that derivative,
    an operation or mode a backend lacks, asv's n/a) is "n/a", neutral, never a failure; a case
    skipped by this run's limits or install stays "skipped"; every other status is itself."""
    if status != "skipped":
        return status
    text = reason if isinstance(reason, str) else ""
    return "skipped" if any(k in text for k in NOT_RUN_HERE) else NOT_APPLICABLE


class NoResultsError(FileNotFoundError):
    """No adbench result set could be shown from where the report was told to look."""


@dataclass(frozen=True)
class BackendStyle:
    """How a backend is shown: read from the backend itself (``adbench/backends/``), or a stable fallback."""

    name: str
    label: str
    colour: str
    order: int
    baseline: bool
    known: bool


@functools.cache
def backend_style(name: str) -> BackendStyle:
    try:
        b = get_backend(name)
    except (ValueError, KeyError, TypeError):
        digest = hashlib.sha256(str(name).encode("utf-8")).digest()
        return BackendStyle(
            str(name), str(name), FALLBACK_COLOURS[digest[0] % len(FALLBACK_COLOURS)], FALLBACK_ORDER, False, False
        )
    return BackendStyle(b.name, b.display_label, b.colour, b.order, b.baseline, True)


def is_baseline(backend: str, mode: str) -> bool:
    return backend_style(backend).baseline or mode in BASELINE_MODES


@dataclass(frozen=True)
class Series:
    """One line on a plot: a backend in one mode (and dtype, when a set mixes them; and chunk size)."""

    backend: str
    mode: str
    dtype: str | None = None
    chunk: int | None = None

    @property
    def style(self) -> BackendStyle:
        return backend_style(self.backend)

    @property
    def baseline(self) -> bool:
        return is_baseline(self.backend, self.mode)

    @property
    def label(self) -> str:
        text = self.style.label if self.baseline else f"{self.style.label} {self.mode}"
        if self.chunk is not None:
            text += f", chunks of {self.chunk}"
        return f"{text} {self.dtype}" if self.dtype else text

    @property
    def short(self) -> str:
        """backend and mode by name, as the tables and the CLI spell them."""
        text = self.backend if self.baseline else f"{self.backend} {self.mode}"
        return text + (f" chunk={self.chunk}" if self.chunk is not None else "")

    @property
    def sort_key(self) -> tuple:
        return (self.style.order, self.backend, mode_rank(self.mode), self.mode, self.dtype or "", self.chunk or 0)


@dataclass(frozen=True)
class Unreadable:
    """A file the report found but cannot show, and why, in words fit for a published page."""

    name: str
    reason: str
    kind: str  # "damaged", "unreadable" or "empty"


@dataclass
class Loaded:
    sets: list[ResultSet]
    unreadable: list[Unreadable]
    left_out: int = 0  # shipped reference sets found but not asked for (--reference)


def prepare(frame: pd.DataFrame, environment: dict[str, Any] | None = None) -> pd.DataFrame:
    """A typed frame (``adbench.engine.results``' schema) made ready to draw; no column is re-typed here.

    Version 1 sets and asv's files have no operation or device column: theirs is the Jacobian,
    on the environment's device. A case marked ok without a usable time cannot be drawn: it is
    shown as an error, visibly, rather than dropped.
    """
    frame = frame.copy()
    frame["operation"] = frame["operation"].where(frame["operation"].notna(), "jacobian")
    device = (environment or {}).get("device") or "cpu"
    frame["device"] = frame["device"].where(frame["device"].notna(), device)
    frame["status"] = frame["status"].where(frame["status"].notna(), "ok")
    frame["noisy"] = frame["noisy"].fillna(False)
    # asv's results have a median and no headline of their own: theirs is the median.
    frame["time_s"] = frame["time_s"].where(frame["time_s"].notna(), frame["median_s"])
    frame["replicate"] = frame["replicate"].fillna(0)
    bad = (frame["status"] == "ok") & ~(frame["time_s"] > 0)
    frame.loc[bad, "error"] = frame.loc[bad, "error"].where(frame.loc[bad, "error"].notna(), "no timing recorded")
    frame.loc[bad, "status"] = "error"
    frame["shown"] = [shown_status(st, e) for st, e in zip(frame["status"], frame["error"])]
    mixed_dtypes = frame["dtype"].dropna().nunique() > 1
    frame["series"] = pd.Series(
        [
            Series(str(b), str(m), str(d) if mixed_dtypes and d is not None else None, int(c) if pd.notna(c) else None)
            for b, m, d, c in zip(frame["backend"], frame["mode"], frame["dtype"], frame["chunk_size"])
        ],
        index=frame.index,
        dtype=object,
    )
    # A re-run of the same case in one set: the last one written is the one that counts.
    key = frame[list(SPEC_KEYS)].astype(str)
    return frame[~key.duplicated(keep="last")].reset_index(drop=True)


def _slug(stem: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "results"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def discover(
    sources: Iterable[str | Path], exclude: Iterable[str | Path] = ()
) -> tuple[list[Path], list[Unreadable], int]:
    """Result-set CSVs (and asv result JSONs) from folders, searched recursively, and named files;
    what could not be found; and how many were left out for lying under an ``exclude`` folder
    (the shipped reference sets) that the searched folder is not itself inside."""
    from adbench.report.asv import find_asv_results

    excluded = [Path(e).resolve() for e in exclude]
    found: dict[Path, None] = {}
    missing = []
    left_out: set[Path] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            root = path.resolve()
            skip = [e for e in excluded if not _under(root, e)]
            for item in [*find_result_sets(path), *find_asv_results(path)]:
                item = item.resolve()
                if any(_under(item, e) for e in skip):
                    left_out.add(item)
                else:
                    found.setdefault(item, None)
        elif path.is_file():
            if path.suffix == ".json" and path.with_suffix(".csv").is_file():
                path = path.with_suffix(".csv")  # a result set's sidecar named instead of its CSV
            found.setdefault(path.resolve(), None)
        else:
            missing.append(Unreadable(path.name or str(path), f"no such file or directory: {path}", "unreadable"))
    return list(found), missing, len(left_out - set(found))


def _unique_content(paths: list[Path]) -> tuple[list[Path], list[Unreadable]]:
    """Drop byte-identical copies (a ``latest.csv`` and ``.json`` beside the run they copy), keeping the dated name."""
    seen: dict[str, Path] = {}
    failed = []
    for path in sorted(paths, key=lambda p: p.stem.startswith("latest")):
        try:
            digest = hashlib.sha1(path.read_bytes())
            sidecar = sidecar_path(path)
            if path.suffix == ".csv" and sidecar.is_file():
                digest.update(sidecar.read_bytes())
            seen.setdefault(digest.hexdigest(), path)
        except OSError as exc:
            failed.append(Unreadable(path.name, f"cannot read: {exc.strerror or exc}", "unreadable"))
    kept = set(seen.values())
    return [p for p in paths if p in kept], failed


def _published(reason: str, path: Path) -> str:
    """An error message with the set's folder taken out: the pages get published, the paths are private."""
    for p in (path, sidecar_path(path)):
        reason = reason.replace(str(p), p.name)
    return reason.replace(str(path.parent) + os.sep, "")


def _read(path: Path) -> tuple[list[tuple[str, pd.DataFrame, dict[str, Any]]], Unreadable | None]:
    """(stem, frame, meta) for each set in one file (an asv file may hold one per device), or why not."""
    from adbench.report.asv import read_asv_result

    try:
        if path.suffix == ".json":
            read = read_asv_result(path)
            if read is None:
                return [], None  # an asv run of other benchmarks: nothing to draw, nothing wrong
            rows, meta = read
            frame = rows_to_frame(rows)
            env = meta["environment"]
            stem = f"asv-{env.get('hostname') or path.parent.name}-{(env.get('git_commit') or path.stem)[:8]}"
            devices = list(dict.fromkeys(frame["device"].dropna())) or ["cpu"]
            if len(devices) == 1:
                return [(stem, frame, {**meta, "environment": {**env, "device": devices[0]}})], None
            # asv runs every device in one file; the report keeps CPU and GPU sets apart.
            return [
                (f"{stem}-{d}", frame[frame["device"] == d], {**meta, "environment": {**env, "device": d}})
                for d in devices
            ], None
        frame, meta = read_results(path)
        hosts = list(dict.fromkeys(frame["host"].dropna()))
        if len(hosts) <= 1:
            return [(path.stem, frame, meta)], None
        # A cluster run or a merged set: each host's cases are a set of their own, never ranked together
        # (a group lost with its worker is on no host: its errors stay with the first host's set).
        env, per_host = meta.get("environment") or {}, meta.get("hosts") or {}
        return [
            (
                f"{path.stem}-{host}",
                frame[(frame["host"] == host) | (frame["host"].isna() & (i == 0))],
                {**meta, "environment": {**env, **per_host.get(host, {}), "host": host, "hostname": host}},
            )
            for i, host in enumerate(hosts)
        ], None
    except DamagedResultsError as exc:
        return [], Unreadable(path.name, _published(str(exc), path), "damaged")
    except ResultsFormatError as exc:
        return [], Unreadable(path.name, _published(str(exc), path), "unreadable")
    except Exception as exc:  # noqa: BLE001 (one unreadable file must never abort the whole report)
        return [], Unreadable(path.name, _published(f"cannot read: {type(exc).__name__}: {exc}", path), "unreadable")


def read_sets(sources: Sequence[str | Path], exclude: Iterable[str | Path] = ()) -> Loaded:
    """Every result set under ``sources`` (none under ``exclude``, see ``discover``), oldest first (by
    the run's own timestamp), and every file that could not be shown with its reason. Raises
    NoResultsError only when nothing is found at all."""
    paths, unreadable, left_out = discover(sources, exclude)
    paths, failed = _unique_content(paths)
    unreadable += failed
    if not paths and not unreadable:
        raise NoResultsError(no_sets_message(sources, [], left_out))
    sets: list[ResultSet] = []
    taken: set[str] = set()
    for path in paths:
        read, problem = _read(path)
        if problem is not None:
            unreadable.append(problem)
        for stem, frame, meta in read:
            if frame.empty:
                unreadable.append(
                    Unreadable(path.name, "holds no cases (a run stopped before its first case)", "empty")
                )
                continue
            sets.append(ResultSet(_slug(stem, taken), path, prepare(frame, meta.get("environment")), meta))
    epoch = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    sets.sort(key=lambda s: (s.timestamp or epoch, s.path.stat().st_mtime))
    return Loaded(sets, sorted(unreadable, key=lambda u: u.name), left_out)


def load_sets(sources: Sequence[str | Path]) -> list[ResultSet]:
    """The readable sets under ``sources``; NoResultsError, naming what went wrong, when there is none."""
    loaded = read_sets(sources)
    if not loaded.sets:
        raise NoResultsError(no_sets_message(sources, loaded.unreadable))
    return loaded.sets


MAKE_A_RUN = "make one with `python -m adbench compare` (about a minute; `--quick`: about 15 s), or pass --results PATH"


def no_sets_message(sources: Sequence[str | Path], unreadable: list[Unreadable], left_out: int = 0) -> str:
    shown = ", ".join(str(s) for s in sources) or "(none given)"
    if not unreadable:
        shipped = (
            f"; the {left_out} reference set{'s' if left_out != 1 else ''} shipped with adbench "
            "are shown only with --reference"
            if left_out
            else ""
        )
        return f"no result sets of your own (a CSV with its JSON sidecar) in {shown}{shipped}; {MAKE_A_RUN}"
    reasons = "; ".join(f"{u.name}: {u.kind}: {u.reason}" for u in unreadable)
    return f"no result set in {shown} could be read ({reasons})"


def ordered_series(frame: pd.DataFrame) -> list[Series]:
    return sorted(set(frame["series"]), key=lambda s: s.sort_key)


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases that ran and passed the correctness gate: the only ones ever ranked or fitted."""
    return frame[(frame["status"] == "ok") & (frame["time_s"] > 0)]


def timed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases with a time, ``wrong`` ones included: drawn, but never ranked."""
    return frame[frame["status"].isin(TIMED) & (frame["time_s"] > 0)]


def operations(frame: pd.DataFrame) -> list[str]:
    """The operations present, in the registry's order (unknown ones after)."""
    present = list(dict.fromkeys(frame["operation"]))
    return sorted(present, key=lambda o: (OPERATIONS.index(o) if o in OPERATIONS else len(OPERATIONS), o))


def main_rows(frame: pd.DataFrame, operation: str) -> pd.DataFrame:
    """One operation's rows for its plots and headline: unchunked ones where there are any
    (the chunked variants have their own trade-off panel), else all."""
    rows = frame[frame["operation"] == operation]
    plain = rows[rows["chunk_size"].isna()]
    return plain if len(plain) else rows


__all__ = [
    "BackendStyle",
    "Loaded",
    "NoResultsError",
    "ResultSet",
    "ResultsFormatError",
    "Series",
    "Unreadable",
    "backend_style",
    "discover",
    "load_sets",
    "ok_rows",
    "ordered_series",
    "read_sets",
]
