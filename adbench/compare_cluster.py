"""A comparison's grid on a Dask cluster (``adbench.cluster``): each group's records join the set as it arrives,
and the groups' budgets are summed into one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adbench.engine.cases import CaseSpec
    from adbench.engine.record import CaseResult
    from adbench.engine.results import ResultWriter
    from adbench.engine.runner import RunOutcome
    from adbench.engine.settings import RunSettings


def run_on_cluster(
    specs: list[CaseSpec],
    settings: RunSettings,
    session: Any,
    outcome: RunOutcome,
    writer: ResultWriter,
    on_result: Callable[[CaseResult], None] | None,
) -> None:
    """The grid's groups on the cluster; each group's records join the set as it arrives, and the set's
    statistics are derived again per host (``adbench.engine.results.analyse_records``) and saved."""
    from adbench.cluster import run_groups
    from adbench.engine.results import analyse_records

    hosts: dict[str, dict[str, Any]] = {}
    budgets: list[dict[str, Any]] = []
    cluster_words: dict[str, Any] = {"address": session.address}

    def arrived(group: Any) -> None:
        outcome.results.extend(group.results)
        outcome.versions.update({k: v for k, v in group.versions.items() if v})
        outcome.builds.update(group.builds)
        if group.host:
            hosts[group.host] = group.environment
        if group.budget:
            budgets.append(group.budget)
        for r in group.results:
            if on_result:
                on_result(r)
        save()

    def save() -> None:
        analysis = analyse_records(outcome.results, settings.statistic)
        outcome.comparisons, outcome.variance = analysis.comparisons(), analysis.variance()
        outcome.budget = cluster_budget(budgets, settings, cluster_words)
        writer.extra = {
            "budget": outcome.budget,
            "variance": outcome.variance,
            "comparisons": outcome.comparisons,
            "hosts": hosts,
        }
        writer.write(outcome.results)

    try:
        cluster_words.update(run_groups(specs, settings, session, arrived))
        cluster_words["hosts"] = sorted(hosts)  # by the names the rows carry, not the workers' addresses
    except KeyboardInterrupt:
        import signal

        outcome.interrupted = signal.SIGINT
    finally:
        save()  # the last word: every group that came back, analysed together


def cluster_budget(budgets: list[dict[str, Any]], settings: RunSettings, cluster: dict[str, Any]) -> dict[str, Any]:
    """The groups' budgets as one: their seconds and visits summed (seconds of the hosts, not of the clock)."""
    phases: dict[str, float] = {}
    for b in budgets:
        for k, v in (b.get("phases_s") or {}).items():
            phases[k] = round(phases.get(k, 0.0) + (v or 0.0), 2)
    adaptive = [e for b in budgets for e in b.get("adaptive") or []]
    return {
        "time_budget_s": settings.time_budget_s,
        "spent_s": round(sum(b.get("spent_s", 0) for b in budgets), 2),
        "workers": settings.workers,
        "min_visits": settings.min_visits,
        "visit_s": settings.visit_s,
        "passes": sum(b.get("passes", 0) for b in budgets),
        "visits": sum(b.get("visits", 0) for b in budgets),
        "adaptive_visits": sum(b.get("adaptive_visits", 0) for b in budgets),
        "phases_s": phases,
        "adaptive": adaptive,
        "cluster": dict(cluster),
    }


__all__ = ["cluster_budget", "run_on_cluster"]
