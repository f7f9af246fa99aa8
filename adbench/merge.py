"""``adbench merge``: result sets of the same run settings (shards, or one grid on several hosts) joined into one."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine loads when sets are merged, not with the CLI
    import pandas as pd

    from adbench.engine.record import CaseResult

# Settings that may differ between the sets of one sweep: which slice, where and how it was started.
PER_SET_SETTINGS = ("command", "shard", "cluster", "grid")


class MergeError(ValueError):
    """Sets that cannot be joined, with the reason."""


@dataclass
class Merged:
    path: Path
    cases: int
    hosts: int


def merge(sources: Sequence[Path | str], output: Path | str) -> Merged:
    """One set from ``sources``: their cases side by side, each keeping its host, and the statistics derived
    again from the visits, each host's cases analysed together as one run's would be.

    Refuses (``MergeError``) fewer than two sets, a set that cannot be read or keeps no visits (format 1
    and 2), sets whose settings differ (beyond ``PER_SET_SETTINGS``) or that were analysed with another
    interval method, and a case measured on one host in two sets (a shard run twice)."""
    from adbench.engine.estimates import STATISTICS
    from adbench.engine.reanalysis import analyse_records
    from adbench.engine.results import ResultWriter, new_run_id

    paths, target = [Path(s) for s in sources], Path(output)
    _check_paths(paths, target)
    read = [_read(source) for source in paths]
    _check_one_sweep(read)
    records, hosts, origins = _joined(read)
    first_source, _, first = read[0]
    statistic = (first.get("settings") or {}).get("statistic_name") or "min"
    if statistic not in STATISTICS:
        raise MergeError(f"{first_source}: unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
    analysis = analyse_records(records, statistic)
    merged_settings = {
        **(first.get("settings") or {}),
        "shard": None,
        "command": "adbench merge " + " ".join(s.name for s in paths),
    }
    writer = ResultWriter(target, new_run_id(), first.get("environment") or {}, merged_settings)
    writer.extra = {
        "variance": analysis.variance(),
        "comparisons": analysis.comparisons(),
        "hosts": hosts,
        "merged": origins,
        "merged_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    writer.write(records)
    return Merged(target, len(records), len({r.host for r in records if r.host}))


Read = tuple[Path, "pd.DataFrame", dict[str, Any]]  # a set as read: its path, its rows and its sidecar


def _check_paths(paths: list[Path], target: Path) -> None:
    """Two sets or more, and a target that is none of them and can be written."""
    from adbench.engine.results import check_output_path

    if len(paths) < 2:
        raise MergeError(f"merge needs two or more sets, got {len(paths)}")
    if any(target.resolve() == s.resolve() for s in paths):
        raise MergeError(f"{target}: write the merged set beside its sources, not over one")
    try:
        check_output_path(target)
    except ValueError as exc:
        raise MergeError(str(exc)) from None


def _read(source: Path) -> Read:
    """A set that keeps its visits, read."""
    from adbench.engine.result_format import VISIT_VERSIONS, ResultsFormatError
    from adbench.engine.results import read_results

    try:
        frame, meta = read_results(source)
    except (ResultsFormatError, OSError) as exc:
        raise MergeError(f"cannot read {source}: {exc}") from None
    if meta.get("format_version") not in VISIT_VERSIONS:
        raise MergeError(
            f"{source}: a version {meta.get('format_version')} set keeps no visits to analyse "
            f"again; only version {' and '.join(map(str, VISIT_VERSIONS))} sets merge"
        )
    return source, frame, meta


def _check_one_sweep(read: list[Read]) -> None:
    """The sets share their settings (but ``PER_SET_SETTINGS``) and, where they are shards, their grid."""
    first_source, _, first = read[0]
    settings = _comparable(first)
    for source, _, meta in read[1:]:
        other = _comparable(meta)
        differ = sorted(k for k in set(settings) | set(other) if settings.get(k) != other.get(k))
        if differ:
            k = differ[0]
            raise MergeError(
                f"{source} was run with other settings than {first_source}: {k} is "
                f"{other.get(k)!r} there, {settings.get(k)!r} here"
                + (f" (and {len(differ) - 1} more: {', '.join(differ[1:])})" if len(differ) > 1 else "")
                + "; only sets of the same settings merge"
            )
    grids = {meta["settings"]["grid"]: source for source, _, meta in read if (meta.get("settings") or {}).get("grid")}
    if len(grids) > 1:
        (a, sa), (b, sb) = list(grids.items())[:2]
        raise MergeError(
            f"{sa} and {sb} are shards of different grids (digests {a} and {b}): run every shard with "
            "the same command, changing only --shard"
        )


def _joined(read: list[Read]) -> tuple[list[CaseResult], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The sets' records side by side, each with its host (no case twice on one host), every host's
    environment, and where each set came from."""
    from adbench.engine.reanalysis import records_of
    from adbench.engine.record import case_key

    records: list[CaseResult] = []
    hosts: dict[str, dict[str, Any]] = {}
    seen: dict[tuple, Path] = {}
    origins: list[dict[str, Any]] = []
    for source, frame, meta in read:
        env = meta.get("environment") or {}
        own_host = env.get("host") or env.get("hostname")
        for r in records_of(frame, meta, source):
            if r.host is None and r.status != "error":
                r.host = own_host  # a version 3 set is one machine's: its environment's
            key = case_key(r)
            if key in seen and r.host is not None:
                raise MergeError(
                    f"{source} and {seen[key]} both hold {r.problem} n={r.size} {r.operation} "
                    f"{r.backend}/{r.mode} on host {r.host}: a shard run twice? Merge one of them"
                )
            seen[key] = source
            records.append(r)
        hosts.update(meta.get("hosts") or ({own_host: env} if own_host else {}))
        origins.append(
            {
                "from": source.name,
                "run_id": meta.get("run_id"),
                "csv_sha256": meta.get("csv_sha256"),
                "shard": (meta.get("settings") or {}).get("shard"),
                "n_cases": len(frame),
            }
        )
    return records, hosts, origins


def _comparable(meta: dict[str, Any]) -> dict[str, Any]:
    """The settings two sets must share to be one sweep's."""
    settings = {k: v for k, v in (meta.get("settings") or {}).items() if k not in PER_SET_SETTINGS}
    settings["format_version"] = meta.get("format_version")
    return settings


__all__ = ["MergeError", "Merged", "PER_SET_SETTINGS", "merge"]
