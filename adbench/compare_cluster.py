"""A comparison's grid on a Dask cluster (``adbench.cluster``): each group's records join the set as it arrives,
and the groups' budgets are summed into one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adbench.cluster import ClusterSession
    from adbench.engine.cases import CaseSpec
    from adbench.engine.record import CaseResult
    from adbench.engine.results import ResultWriter
    from adbench.engine.runner import RunOutcome
    from adbench.engine.settings import RunSettings


def run_on_cluster(
    specs: list[CaseSpec],
    settings: RunSettings,
    session: ClusterSession,
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
    from adbench.engine.run_state import budget_record

    phases: dict[str, float] = {}
    for b in budgets:
        for k, v in (b.get("phases_s") or {}).items():
            phases[k] = round(phases.get(k, 0.0) + (v or 0.0), 2)

    def total(key: str) -> int:
        return sum(b.get(key, 0) for b in budgets)

    record = budget_record(
        settings,
        spent_s=sum(b.get("spent_s", 0) for b in budgets),
        passes=total("passes"),
        visits=total("visits"),
        adaptive_visits=total("adaptive_visits"),
        adaptive_looks=total("adaptive_looks"),
        phases_s=phases,
        adaptive=[e for b in budgets for e in b.get("adaptive") or []],
    )
    return {**record, "cluster": dict(cluster)}


__all__ = ["cluster_budget", "run_on_cluster"]
