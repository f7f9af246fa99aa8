"""Was the machine visibly busy during a run? Others' load when it started, and how far its speed drifted."""

from __future__ import annotations

import os
import statistics
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adbench.engine.outcome import RunOutcome


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


OTHERS_WINDOW_S = 0.1  # how long others' use of the CPUs is watched as a run starts


def _cpu_ticks(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of ``cpus`` since boot, from /proc/stat (steal counts as busy: others had it)."""
    busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                continue
            ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy, total


def others_cpus(window_s: float = OTHERS_WINDOW_S) -> float | None:
    """How many of this process's CPUs other processes kept busy over the next ``window_s`` seconds (its own use
    taken out), from /proc/stat; None where there is none. Unlike the load average, a minute's memory, it does
    not count a run of one's own that has just ended."""
    from adbench.engine.threads import usable_mask

    cpus = usable_mask()
    try:
        busy0, total0 = _cpu_ticks(cpus)
        own0 = os.times()
        time.sleep(window_s)
        busy1, total1 = _cpu_ticks(cpus)
        own1 = os.times()
    except (OSError, ValueError):
        return None
    if not cpus or total1 <= total0:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    seconds = (total1 - total0) / hz / len(cpus)  # the window, as the CPUs counted it
    own = own1.user + own1.system - own0.user - own0.system
    return round(max(0.0, ((busy1 - busy0) / hz - own) / seconds), 2)


def drift_by_stretch(by_pass: dict[int, list[float]], per_stretch: int) -> list[float]:
    """The median of each stretch of consecutive passes' deviations holding at least ``per_stretch`` (a full pass's
    worth; a short last stretch joins the one before). An adaptive pass visits a few cases in a fraction of a
    second: a burst there is noise that pairing in time absorbs, not the machine's speed moving."""
    stretches: list[list[float]] = []
    current: list[float] = []
    for _, deviations in sorted(by_pass.items()):
        current += deviations
        if len(current) >= max(per_stretch, 3):
            stretches.append(current)
            current = []
    if current and stretches:
        stretches[-1] += current
    elif len(current) >= 3:
        stretches.append(current)
    return [statistics.median(v) for v in stretches]


# The machine is called busy when its speed drifted this much during the run (the median case's
# visits, between stretches of a full pass's worth: drift_by_stretch), or when others used the CPUs as
# the run started.
DRIFT_BUSY = 1.25


def noise_summary(outcome: RunOutcome, threads: int, others_start: float | None) -> dict[str, Any]:
    """Was the machine visibly busy? Others' use of its CPUs when the run started, and how far its speed drifted."""
    from adbench.engine.environment import usable_cpus

    cpus = usable_cpus()
    reasons = []
    # Before the first worker starts, all the CPU use is other processes': more than the CPUs the run
    # leaves free means someone shares the ones it times on.
    if others_start is not None and others_start > max(cpus - threads, 0) + 0.5:
        reasons.append(f"other processes used {others_start:g} of {cpus} CPUs when the run started")
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
