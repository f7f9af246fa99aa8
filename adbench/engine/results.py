"""The versioned results format: a tidy CSV (one row per case) and a JSON sidecar with environment and raw samples.

The two files of a set belong together provably: both carry the run's id, and the sidecar
records the SHA-256 and row count of the CSV it was written with. A CSV that was truncated,
edited or paired with another run's sidecar is reported as damaged, never read as numbers.
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
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from adbench.engine.record import COLUMNS, SCHEMA, SPEC_KEYS, STATUSES, CaseResult
from adbench.engine.signals import signals_deferred

if TYPE_CHECKING:
    from adbench.backends import Dtype, ModeName, Operation
    from adbench.engine.estimates import Comparisons

FORMAT_NAME = "adbench-results"
# 2: run_id, operation, intervals, correctness and memory columns. 3: visits instead of rounds (the
# sidecar keeps every visit, the run's variance components and its paired comparisons), the headline
# time_s with its log standard error, replicates, the compile-timeout status. 4: the host column (a
# cluster run or a merged set holds several hosts) and the sidecar's ``hosts``, each host's environment.
# 5: first_call_cache (JAX keeps its compilations between runs: a first call says if it compiled or loaded).
FORMAT_VERSION = 5
READABLE_VERSIONS = (1, 2, 3, 4, 5)
VISIT_VERSIONS = (3, 4, 5)  # the versions whose sidecar keeps every visit
# The columns every readable version has.
KEY_COLUMNS = ("problem", "size", "backend", "mode", "status", "median_s")


class ResultsFormatError(ValueError):
    """A file that is not an adbench result set of a version this adbench can read."""


class DamagedResultsError(ResultsFormatError):
    """An adbench result set whose files are truncated, edited or do not belong together."""


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


def rows_to_frame(rows: Iterable[dict[str, Any] | CaseResult]) -> pd.DataFrame:
    """Rows (records or dicts) as a DataFrame with the schema's columns and types."""
    rows = [r.row() if isinstance(r, CaseResult) else r for r in rows]
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    return typed(frame)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present and of the schema's type (the one coercion, for writer and reader)."""
    frame = frame.copy()
    for col, dtype in SCHEMA.items():
        if col not in frame:
            frame[col] = pd.NA
        values = frame[col]
        if dtype in ("Int64", "float64"):
            values = pd.to_numeric(values.map(_none_if_nan), errors="raise")
            frame[col] = (
                values.astype("Float64").round().astype("Int64") if dtype == "Int64" else values.astype("float64")
            )
        elif dtype == "boolean":
            frame[col] = values.map(_boolean).astype("boolean")
        else:
            frame[col] = values.map(lambda v: None if _missing(v) else str(v)).astype(object)
    return frame[COLUMNS + [c for c in frame.columns if c not in SCHEMA]]


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _none_if_nan(v: Any) -> Any:
    return None if _missing(v) or v == "" else v


def _boolean(v: Any) -> Any:
    if _missing(v) or v == "":
        return pd.NA
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0"):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def migrate(frame: pd.DataFrame, version: int | None) -> pd.DataFrame:
    """A typed frame of an older set, in this version's terms (explicitly, column by column).

    Before version 3 a case was measured in rounds (fresh processes) and its headline was the median
    of all samples, with an interval of that median: ``time_s`` is that median (and ``f_time_s`` f's),
    ``workers`` and ``visits`` the rounds, ``replicate`` 0. Such a set has no standard errors and no
    paired comparisons: its verdicts keep the rule of its time, the far ends of two intervals.
    Before version 4 a set was one machine's and its rows name no host: ``host`` stays empty there
    (in the rows and the sidecar's cases alike, so the two still name a case the same way), and the
    set's host is its environment's.
    Before version 5 every run compiled in a cache folder of its own, so every first call was compiled then
    (cold); ``first_call_cache`` says so where a set's first call went through a cache a version 5 run
    labels (JAX's): ``cold`` for JAX's rows with a first call, empty elsewhere, as a version 5 set has it.
    """
    if version is not None and version < 5 and "framework" in frame:
        frame = frame.copy()
        jax_first = (frame["framework"] == "jax") & frame["first_call_s"].notna()
        frame["first_call_cache"] = frame["first_call_cache"].where(~jax_first, "cold")
    if version is None or version >= 3:
        return frame
    frame = frame.copy()
    frame["time_s"] = frame["time_s"].where(frame["time_s"].notna(), frame["median_s"])
    frame["f_time_s"] = frame["f_time_s"].where(frame["f_time_s"].notna(), frame["f_median_s"])
    if "rounds" in frame:
        rounds = (
            pd.to_numeric(frame["rounds"].map(_none_if_nan), errors="coerce").astype("Float64").round().astype("Int64")
        )
        frame["workers"] = frame["workers"].where(frame["workers"].notna(), rounds)
        frame["visits"] = frame["visits"].where(frame["visits"].notna(), rounds)
    frame["replicate"] = frame["replicate"].fillna(0)
    return frame


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
        payload = json.dumps(_finite(sidecar), indent=1, default=_json_default, allow_nan=False)
        with signals_deferred():
            _atomic_write(self.json_path, payload)
            _atomic_write(self.csv_path, text)
            # Inside: an interrupt held during the renames must not leave the next sidecar's
            # "previous" naming a CSV that was replaced.
            self._previous = {"csv_sha256": digest, "n_cases": len(results)}


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinities) in it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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


def records_of(frame: pd.DataFrame, meta: dict[str, Any], source: Path | str = "the set") -> list[CaseResult]:
    """A version 3 or 4 set's rows as records again, each with the visits and traceback its sidecar kept."""
    results = []
    for row, kept in zip(frame.to_dict("records"), meta.get("cases") or []):
        values = {k: _none_if_nan(row[k]) for k in COLUMNS}
        values = {k: v.item() if hasattr(v, "item") else v for k, v in values.items()}
        if any(values[k] != kept.get(k) for k in (*SPEC_KEYS, "status") if k in kept):
            raise DamagedResultsError(f"{source}: its rows and its sidecar's cases are not in the same order")
        result = CaseResult(**values)
        result.raw_visits, result.traceback = kept.get("visits") or [], kept.get("traceback")
        result.components = kept.get("variance") or {}
        results.append(result)
    return results


def analyse_records(results: list[CaseResult], statistic: str) -> HostAnalyses:
    """Every record's estimates derived again from its visits, each host's cases analysed on their own
    (a host's noise is its own: its variances are moderated among its cases, never another machine's);
    the analyses' paired comparisons name the records by position. Returns an ``Analysis``-like
    object with ``comparisons()`` and ``variance()``."""
    from adbench.engine.cases import CaseSpec
    from adbench.engine.estimates import STATISTICS, CaseVisits, analyse, per_case
    from adbench.engine.runner import group_key

    by_host: dict[Any, list[int]] = {}
    for i, r in enumerate(results):
        by_host.setdefault(r.host, []).append(i)
    analyses = []
    for host, members in by_host.items():
        views = []
        for i in members:
            r = results[i]
            # A stored row's names as written (a set from elsewhere may hold modes this adbench does not know).
            spec = CaseSpec(
                r.problem,
                int(r.size),
                r.backend,
                cast("ModeName", r.mode),
                cast("Dtype", r.dtype),
                int(r.seed or 0),
                cast("Operation", r.operation),
                None if r.chunk_size is None else int(r.chunk_size),
                r.device,
                int(r.replicate or 0),
            )
            views.append(
                CaseVisits(
                    group_key(spec), (r.framework, int(r.replicate or 0)), r.raw_visits, r.status in ("ok", "wrong")
                )
            )
        analysis = analyse(views, statistic)
        for j, i in enumerate(members):
            r = results[i]
            if r.raw_visits:
                r.summarize(
                    analysis.times.get(j), analysis.f_times.get(j), analysis.over_f.get(j), STATISTICS[statistic]
                )
                r.components = per_case(r.raw_visits, statistic)
        analyses.append((host, members, analysis))
    return HostAnalyses(analyses)


class HostAnalyses:
    """The analyses of a set's hosts, answering as one: comparisons by position in the whole set."""

    def __init__(self, analyses: list[tuple[Any, list[int], Any]]) -> None:
        self.analyses = analyses

    def comparisons(self) -> list[list]:
        return [
            [members[a], members[b], *rest]
            for _, members, analysis in self.analyses
            for a, b, *rest in analysis.comparisons()
        ]

    def variance(self) -> dict[str, Any]:
        if len(self.analyses) == 1:
            return self.analyses[0][2].variance()
        return {"by_host": {str(host): analysis.variance() for host, _, analysis in self.analyses}}


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
