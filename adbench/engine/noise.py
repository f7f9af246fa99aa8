"""Was the machine visibly busy during a run? Others' load when it started, and how far its speed drifted."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adbench.engine.outcome import RunOutcome


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


# The machine is called busy when its speed drifted this much during the run (the median case's
# visits, pass by pass), or when others loaded the CPUs as the run started.
DRIFT_BUSY = 1.25


def noise_summary(outcome: RunOutcome, threads: int, load_start: float | None) -> dict[str, Any]:
    """Was the machine visibly busy? Others' load when the run started, and how far its speed drifted."""
    from adbench.engine.environment import usable_cpus

    cpus = usable_cpus()
    reasons = []
    # Before the first worker starts, all the load is other processes': more than the CPUs the
    # run leaves free means someone shares the ones it times on.
    if load_start is not None and load_start > max(cpus - threads, 0) + 0.5:
        reasons.append(f"load average {load_start:g} on {cpus} CPUs when the run started")
    components = (outcome.variance or {}).get("components") or {}
    drift = components.get("drift_range_percent")
    if drift is not None and drift >= 100 * (DRIFT_BUSY - 1):
        reasons.append(f"the machine's speed drifted by {drift:.0f}% during the run")
    return {
        "busy": bool(reasons),
        "busy_reasons": reasons,
        "drift_range_percent": drift,
        "drift_threshold_percent": round(100 * (DRIFT_BUSY - 1)),
    }
