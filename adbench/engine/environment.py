"""What a result set records about where it ran: frameworks, CPU, threads, Python, commit, time."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity), which is what thread pools see."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def host_name() -> str:
    """The name a case's host is recorded under: $ADBENCH_HOST (a container's hostname is random), else the hostname."""
    return os.environ.get("ADBENCH_HOST") or platform.node() or "unknown"


def git_commit(path: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path or Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def git_dirty(path: Path | None = None) -> bool | None:
    """Whether tracked files differ from the commit (a run from an edited tree is not that commit's)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path or Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


def visible_gpus() -> list[dict[str, str]]:
    """NVIDIA GPUs this machine shows (nvidia-smi), without importing a framework: name, driver, memory."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus


def environment(
    framework_versions: dict[str, str | None],
    threads: int,
    device: str = "cpu",
    framework_builds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The environment block of a result set's JSON sidecar.

    ``framework_versions`` and ``framework_builds`` are filled in by the workers as they start.
    """
    import numpy

    from adbench import __version__

    return {
        "adbench_version": __version__,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "hostname": platform.node(),
        "host": host_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "threads": threads,
        "numpy": numpy.__version__,
        "frameworks": framework_versions,
        "framework_builds": framework_builds if framework_builds is not None else {},
        "device": device,
        "gpus": visible_gpus() if device == "cuda" else [],
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
