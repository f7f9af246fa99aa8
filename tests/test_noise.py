"""Whether the machine was busy as a run started: others' use of its CPUs, watched, not remembered."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from adbench.engine.noise import noise_summary, others_cpus
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
