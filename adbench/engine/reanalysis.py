"""Statistics derived again from the visits a set's sidecar kept: its rows as records again, and each host's
cases analysed on their own (for a re-analysis, a merge, or a cluster run's whole set)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from adbench.engine.frames import none_if_missing
from adbench.engine.record import COLUMNS, SPEC_KEYS, CaseResult
from adbench.engine.result_format import DamagedResultsError

if TYPE_CHECKING:
    from adbench.backends import Dtype, ModeName, Operation


def records_of(frame: pd.DataFrame, meta: dict[str, Any], source: Path | str = "the set") -> list[CaseResult]:
    """A version 3 or 4 set's rows as records again, each with the visits and traceback its sidecar kept."""
    results = []
    for row, kept in zip(frame.to_dict("records"), meta.get("cases") or []):
        values = {k: none_if_missing(row[k]) for k in COLUMNS}
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
    from adbench.engine.grouping import group_key

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
