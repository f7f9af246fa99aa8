"""The versioned results format: a tidy CSV (one row per case) and a JSON sidecar with environment and raw samples.

The two files of a set belong together provably: both carry the run's id, and the sidecar
records the SHA-256 and row count of the CSV it was written with. A CSV that was truncated,
edited or paired with another run's sidecar is reported as damaged, never read as numbers.
Beside it: ``result_format`` (the format's name, versions and errors), ``frames`` (the schema as a typed
DataFrame, and older versions migrated) and ``reanalysis`` (statistics derived again from kept visits).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from adbench.engine.frames import migrate, rows_to_frame, typed
from adbench.engine.protocol import finite
from adbench.engine.reanalysis import analyse_records, records_of
from adbench.engine.record import COLUMNS, STATUSES, CaseResult
from adbench.engine.result_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    KEY_COLUMNS,
    READABLE_VERSIONS,
    VISIT_VERSIONS,
    DamagedResultsError,
    ResultsFormatError,
)
from adbench.engine.signals import signals_deferred

if TYPE_CHECKING:
    from adbench.engine.estimates import Comparisons


def new_run_id() -> str:
    return uuid.uuid4().hex


# -- writing ---------------------------------------------------------------------------------------
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


def csv_text(rows: Iterable[dict[str, Any] | CaseResult]) -> str:
    return rows_to_frame(rows).to_csv(index=False)


def sidecar_path(csv_path: Path) -> Path:
    return Path(csv_path).with_suffix(".json")


def check_output_path(path: Path) -> Path:
    """A usable CSV path for a new result set, or a ValueError saying why not (before anything runs)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(
            f"--output must name a .csv file (its JSON sidecar goes beside it, as .json), not {str(path)!r}"
        )
    if path.is_dir():
        raise ValueError(f"--output {str(path)!r} is a directory; name a .csv file in it")
    if sidecar_path(path).is_dir():
        raise ValueError(f"--output {str(path)!r}: its sidecar's path {str(sidecar_path(path))!r} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cannot write results to {str(path)!r}: {exc.strerror or exc}") from None
    for existing in (path, sidecar_path(path)):
        if existing.exists() and not os.access(existing, os.W_OK):
            raise ValueError(f"cannot write results to {str(existing)!r}: it is read-only")
    return path


def reserve_default_path(directory: Path = Path("results"), prefix: str = "compare") -> Path:
    """``results/compare-<UTC time>.csv``, created exclusively: a run started in the same second
    gets ``-2``, ``-3``..., never another run's files."""
    directory = Path(directory)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    check_output_path(directory / f"{prefix}-{stamp}.csv")
    for i in range(1, 10_000):
        path = directory / (f"{prefix}-{stamp}.csv" if i == 1 else f"{prefix}-{stamp}-{i}.csv")
        if sidecar_path(path).exists():  # a sidecar without its CSV: never pair with it
            continue
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if sidecar_path(path).exists():  # appeared meanwhile: give the name back
            path.unlink(missing_ok=True)
            continue
        return path
    raise ValueError(f"no free result-set name for {stamp} in {directory}")


class ResultWriter:
    """Writes one run's set, atomically and in a crash-safe order, each time it changes.

    The sidecar goes first and records the SHA-256 of the CSV that follows it and of the CSV
    before it, so a reader can tell a set interrupted between the two renames (consistent, one
    case behind) from a damaged one.
    """

    def __init__(self, csv_path: Path, run_id: str, environment: dict[str, Any], settings: dict[str, Any]) -> None:
        self.csv_path, self.json_path = Path(csv_path), sidecar_path(Path(csv_path))
        self.run_id, self.environment, self.settings = run_id, environment, settings
        self.noise: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}  # further sidecar keys (a re-analysis names its source)
        self._previous: dict[str, str | int | None] = {"csv_sha256": None, "n_cases": 0}

    def write(self, results: list[CaseResult]) -> None:
        for r in results:
            r.run_id = self.run_id
        text = csv_text(results)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        sidecar = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "run_id": self.run_id,
            "environment": self.environment,
            "settings": self.settings,
            "noise": self.noise,
            "columns": COLUMNS,
            "csv_sha256": digest,
            "n_cases": len(results),
            "previous": self._previous,
            **self.extra,
            "cases": [r.sidecar() for r in results],
        }
        # NaN and infinities are not JSON: they are written as null, never as invalid JSON.
        payload = json.dumps(finite(sidecar), indent=1, default=_json_default, allow_nan=False)
        with signals_deferred():
            _atomic_write(self.json_path, payload)
            _atomic_write(self.csv_path, text)
            # Inside: an interrupt held during the renames must not leave the next sidecar's
            # "previous" naming a CSV that was replaced.
            self._previous = {"csv_sha256": digest, "n_cases": len(results)}


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return str(value)


def write_results(
    csv_path: Path,
    rows: list[dict[str, Any] | CaseResult],
    environment: dict[str, Any],
    settings: dict[str, Any],
    run_id: str | None = None,
) -> tuple[Path, Path]:
    """Write ``name.csv`` and its sidecar ``name.json`` in one go; returns both paths."""
    results = [r if isinstance(r, CaseResult) else _from_dict(r) for r in rows]
    writer = ResultWriter(csv_path, run_id or new_run_id(), environment, settings)
    writer.write(results)
    return writer.csv_path, writer.json_path


def _from_dict(row: dict[str, Any]) -> CaseResult:
    result = CaseResult()
    for key, value in row.items():
        if hasattr(result, key):
            setattr(result, key, value)
    return result


# -- reading ---------------------------------------------------------------------------------------
def read_sidecar(json_path: Path) -> dict[str, Any]:
    """The sidecar, validated: ours, and of a version this adbench reads."""
    try:
        meta = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{json_path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DamagedResultsError(
            f"{json_path}: not valid JSON ({exc.msg} at line {exc.lineno}): truncated or edited"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ResultsFormatError(f"{json_path}: not an adbench results sidecar (format={found!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ResultsFormatError(f"{json_path}: format_version must be an integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise ResultsFormatError(
            f"{json_path}: format_version {version} is newer than this adbench reads "
            f"({FORMAT_VERSION}); upgrade adbench"
        )
    if version not in READABLE_VERSIONS:
        raise ResultsFormatError(
            f"{json_path}: format_version {version} is not one this adbench reads "
            f"({', '.join(map(str, READABLE_VERSIONS))})"
        )
    for key, kinds in _SIDECAR_TYPES.items():
        if meta.get(key) is not None and (not isinstance(meta[key], kinds) or isinstance(meta[key], bool)):
            raise DamagedResultsError(
                f"{json_path}: {key!r} is a {type(meta[key]).__name__}, not a "
                f"{' or '.join(k.__name__ for k in kinds)}: edited or damaged"
            )
    previous = meta.get("previous") or {}
    if not isinstance(previous.get("csv_sha256"), (str, type(None))) or not isinstance(previous.get("n_cases", 0), int):
        raise DamagedResultsError(f"{json_path}: 'previous' is not a checksum and a case count: edited or damaged")
    if any(not isinstance(case, dict) for case in meta.get("cases") or []):
        raise DamagedResultsError(f"{json_path}: 'cases' holds something other than case records: edited or damaged")
    n = len(meta.get("cases") or [])
    for row in meta.get("comparisons") or []:
        if not (
            isinstance(row, list)
            and len(row) == 6
            and all(isinstance(i, int) and 0 <= i < n for i in row[:2])
            and all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in row[2:])
        ):
            raise DamagedResultsError(
                f"{json_path}: 'comparisons' holds {str(row)[:60]!r}, not a comparison of two "
                "of its cases: edited or damaged"
            )
    return meta


# What each sidecar field must be, where present.
_SIDECAR_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,),
    "csv_sha256": (str,),
    "n_cases": (int,),
    "cases": (list,),
    "previous": (dict,),
    "environment": (dict,),
    "settings": (dict,),
    "noise": (dict,),
    "columns": (list,),
    "comparisons": (list,),
    "variance": (dict,),
    "budget": (dict,),
    "hosts": (dict,),
    "merged": (list,),
}


def _strict_rows(text: str, where: Path) -> None:
    """Every line has the header's number of fields: a half-written row is damage, not data."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DamagedResultsError(f"{where}: empty file") from None
    except csv.Error as exc:
        raise DamagedResultsError(f"{where}: not a CSV ({exc})") from None
    try:
        for fields_ in reader:
            if len(fields_) != len(header):
                raise DamagedResultsError(
                    f"{where}: line {reader.line_num} has {len(fields_)} fields, the "
                    f"header {len(header)}: the file is truncated or damaged"
                )
    except csv.Error as exc:
        raise DamagedResultsError(
            f"{where}: line {reader.line_num} cannot be parsed ({exc}): truncated or damaged"
        ) from None
    if not text.endswith("\n"):
        # Every set adbench writes ends with a newline: a last line without one was cut short,
        # perhaps inside its last number, where counting fields cannot see it.
        raise DamagedResultsError(f"{where}: the last line ends without a newline: the file is truncated")


def read_results(csv_path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A result set: the CSV as a typed DataFrame and the sidecar's metadata.

    Raises ResultsFormatError for a file that is not ours or too new, DamagedResultsError for
    one of ours that is truncated, edited or paired with another run's sidecar.
    """
    csv_path = Path(csv_path)
    json_path = sidecar_path(csv_path)
    meta = read_sidecar(json_path) if json_path.exists() else {}
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{csv_path}: cannot read: {exc}") from None
    _strict_rows(text, csv_path)
    n_cases = len(meta.get("cases") or [])
    if meta.get("csv_sha256"):
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        previous = meta.get("previous") or {}
        if digest == previous.get("csv_sha256"):
            n_cases = previous.get("n_cases", 0)  # interrupted between the two files: one step behind
            meta = {**meta, "cases": (meta.get("cases") or [])[:n_cases]}
        elif digest != meta["csv_sha256"]:
            raise DamagedResultsError(
                f"{csv_path}: its contents do not match the checksum its sidecar "
                f"{json_path.name} recorded: truncated, edited, or another run's file"
            )
        else:
            n_cases = meta.get("n_cases", n_cases)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, ValueError) as exc:
        raise DamagedResultsError(f"{csv_path}: cannot parse: {exc}") from None
    missing = [c for c in KEY_COLUMNS if c not in frame]
    if missing:
        raise ResultsFormatError(f"{csv_path}: missing column(s) {', '.join(missing)}")
    try:
        frame = typed(frame)
    except (ValueError, TypeError) as exc:
        raise DamagedResultsError(f"{csv_path}: a value does not fit its column: {exc}") from None
    if meta and len(frame) != n_cases:
        raise DamagedResultsError(
            f"{csv_path}: {len(frame)} rows, but its sidecar {json_path.name} records "
            f"{n_cases} cases: truncated or from another run"
        )
    if meta.get("run_id") and frame["run_id"].notna().any():
        ids = set(frame["run_id"].dropna())
        if ids != {meta["run_id"]}:
            raise DamagedResultsError(
                f"{csv_path}: rows from run(s) {', '.join(sorted(ids))}, but its sidecar "
                f"is run {meta['run_id']}: the two files do not belong together"
            )
    unknown = set(frame["status"].dropna()) - set(STATUSES)
    if unknown:
        raise DamagedResultsError(f"{csv_path}: unknown status {sorted(unknown)[0]!r}; valid: {', '.join(STATUSES)}")
    version = meta.get("format_version") if meta else (3 if "time_s" in frame and frame["time_s"].notna().any() else 2)
    return migrate(frame, version), meta


def comparisons_of(meta: dict[str, Any]) -> Comparisons | None:
    """A set's paired comparisons (``adbench.engine.estimates.Comparisons``), or None for a set without them."""
    from adbench.engine.estimates import Comparisons

    rows, cases = meta.get("comparisons"), meta.get("cases")
    if not rows or not cases:
        return None
    return Comparisons.from_cases(cases, rows)


def reanalyse(source: Path, target: Path, statistic: str | None = None) -> Path:
    """A copy of a set with its statistics recomputed from its visits by this adbench.

    Times, intervals, standard errors, paired comparisons and variance components are derived
    again from the samples every visit kept in the sidecar (statistics improved since the run, or
    another per-visit ``statistic``: median, min, q25); nothing is timed, and status, errors,
    checks and memory are the run's. The copy keeps the run's id and environment, states the
    interval method it now uses, and its sidecar's ``reanalysed`` names the source set and its checksum.
    """
    from adbench import __version__
    from adbench.engine.environment import git_commit
    from adbench.engine.estimates import STATISTIC_WORDS, STATISTICS
    from adbench.engine.timing import INTERVAL_METHOD

    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise ValueError(f"{target}: write the re-analysis beside its source, not over it")
    frame, meta = read_results(source)
    if meta.get("format_version") not in VISIT_VERSIONS:
        raise ResultsFormatError(
            f"{source}: a version {meta.get('format_version')} set keeps no visits; only "
            f"version {' and '.join(map(str, VISIT_VERSIONS))} sets can be re-analysed"
        )
    settings = dict(meta.get("settings") or {})
    statistic = statistic or settings.get("statistic_name") or "median"
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
    results = records_of(frame, meta, source)
    analysis = analyse_records(results, statistic)
    writer = ResultWriter(
        target,
        meta["run_id"],
        meta["environment"],
        {
            **settings,
            "interval": INTERVAL_METHOD,
            "statistic_name": statistic,
            "statistic": f"per visit {STATISTIC_WORDS[statistic]}",
        },
    )
    writer.noise = meta.get("noise") or {}
    writer.extra = {
        "budget": meta.get("budget") or {},
        "variance": analysis.variance(),
        "comparisons": analysis.comparisons(),
        **({"hosts": meta["hosts"]} if meta.get("hosts") else {}),
        "reanalysed": {
            "from": source.name,
            "csv_sha256": meta.get("csv_sha256"),
            "interval_before": settings.get("interval"),
            "statistic_before": settings.get("statistic_name"),
            "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "adbench_version": __version__,
            "git_commit": git_commit(),
        },
    }
    writer.write(results)
    return target


def find_result_sets(directory: Path) -> list[Path]:
    """Every result-set CSV (one with an adbench JSON sidecar) under ``directory``, oldest first.

    A sidecar that names our format but cannot be read is still listed, so the report can show
    the set as damaged instead of silently leaving it out.
    """
    found = []
    for csv_file in sorted(Path(directory).rglob("*.csv")):
        sidecar = sidecar_path(csv_file)
        try:
            if not sidecar.is_file():
                continue
            with open(sidecar, "rb") as fh:
                head = fh.read(4096).decode("utf-8", errors="replace")
        except OSError:
            continue
        if f'"{FORMAT_NAME}"' in head:
            found.append(csv_file)
    return sorted(found, key=_mtime)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile: the reader will say so
        return 0.0
