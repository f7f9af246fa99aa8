"""Whether the machine was busy as a run started: others' use of its CPUs, watched, not remembered."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from adbench.engine.noise import drift_by_stretch, noise_summary, others_cpus
from adbench.engine.outcome import RunOutcome

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="no /proc/stat on this system")


@needs_proc
def test_a_busy_loop_in_another_process_is_counted():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)  # the spinner is running by now
        assert others_cpus(0.3) >= 0.6  # one CPU's worth, less what a shared machine takes from it
    finally:
        spinner.kill()
        spinner.wait()


@needs_proc
def test_this_process_own_work_is_not_counted(monkeypatch):
    """The window spent spinning here instead of sleeping: others' use stays what the machine's others did."""
    import time

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    baseline = others_cpus(0.3)
    monkeypatch.setattr("adbench.engine.noise.time.sleep", spin)
    assert others_cpus(0.3) < baseline + 0.5


@pytest.mark.parametrize(("others", "busy"), [(None, False), (0.2, False), (1.6, True)])
def test_others_use_when_the_run_started_makes_it_busy_past_the_cpus_it_leaves_free(others, busy, monkeypatch):
    monkeypatch.setattr("adbench.engine.environment.usable_cpus", lambda: 2)
    noise = noise_summary(RunOutcome(), threads=1, others_start=others)
    assert noise["busy"] is busy
    assert busy == any("other processes used 1.6 of 2 CPUs" in r for r in noise["busy_reasons"])


def _range(stretches: list[float]) -> float:
    return math.exp(max(stretches) - min(stretches)) - 1


def test_a_sustained_slowdown_is_drift():
    """Four full passes at one speed, four 1.5x slower: the machine's speed moved by 50 %."""
    by_pass = {p: [0.0 if p < 4 else math.log(1.5)] * 10 for p in range(8)}
    assert _range(drift_by_stretch(by_pass, per_stretch=10)) == pytest.approx(0.5)


def test_a_burst_in_two_short_adaptive_passes_is_pooled_not_drift():
    """Four full passes of ten cases, then adaptive passes of two: a 1.6x burst in two of those is noise within a
    full pass's worth of visits (it counted as 60 % drift pass by pass)."""
    by_pass = {p: [0.0] * 10 for p in range(4)}
    by_pass.update({p: [math.log(1.6) if p in (9, 10) else 0.0] * 2 for p in range(4, 21)})
    stretches = drift_by_stretch(by_pass, per_stretch=10)
    assert len(stretches) == 4 + 3  # 34 adaptive visits: 10, 10, then 14 (the short last stretch joins)
    assert _range(stretches) == pytest.approx(0.0)
