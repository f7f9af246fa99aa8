"""``python tools/faults.py``: its printed report sees every probe (it runs pytest in its own process,
whatever pyproject's addopts distribute)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_runner_lists_every_probe():
    out = subprocess.run(
        [sys.executable, "tools/faults.py", "--list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-1000:]
    probes = [line for line in out.stdout.splitlines() if line.split()[-1:] in (["quick"], ["slow"])]
    collected = len([p for p in (ROOT / "tests" / "faults").glob("test_*.py") if p.name != "test_runner.py"])
    assert len(probes) >= 40 and collected >= 8, f"{len(probes)} probes listed:\n{out.stdout[-800:]}"


def test_the_runner_runs_a_probe_and_reports_it():
    out = subprocess.run(
        [sys.executable, "tools/faults.py", "--only", "backend-unavailable"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-1000:]
    assert "1 probes: 1 pass, 0 fail" in out.stdout, out.stdout[-800:]
