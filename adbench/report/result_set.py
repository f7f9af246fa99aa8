"""One saved run as the report holds it: its rows, its sidecar's environment and settings, and its labels."""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adbench.engine.estimates import Comparisons
from adbench.engine.results import comparisons_of

# Columns no page shows nor any verdict reads: left out of the per-problem frames (``problem_frame``).
UNSHOWN = frozenset(
    {
        "run_id",
        "seed",
        "host_cpu",
        "host_gpu",
        "framework_version",
        "max_s",
        "mean_s",
        "visit_sd",
        "f_first_call_s",
        "f_median_s",
        "f_ci_low_s",
        "f_ci_high_s",
        "f_iqr_s",
        "f_min_s",
        "memory_estimate_bytes",
        "build_s",
        "wall_s",
        "rounds",
        "round_spread",
    }
)


@dataclass
class ResultSet:
    """One saved run: its rows (typed by the results schema) and the sidecar's environment and settings."""

    slug: str
    path: Path
    frame: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, Any]:
        return self.meta.get("environment") or {}

    @property
    def settings(self) -> dict[str, Any]:
        return self.meta.get("settings") or {}

    @property
    def noise(self) -> dict[str, Any]:
        return self.meta.get("noise") or {}

    @property
    def busy(self) -> bool:
        return bool(self.noise.get("busy"))

    @property
    def format_version(self) -> int | None:
        version = self.meta.get("format_version")
        return version if isinstance(version, int) else None

    @property
    def has_intervals(self) -> bool:
        """Whether any timed case carries a 95% interval (version 1 sets and asv's files do not)."""
        timed = self.frame[self.frame["time_s"].notna()]
        return bool(timed["ci_low_s"].notna().any())

    @functools.cached_property
    def comparisons(self) -> Comparisons | None:
        """The set's paired comparisons (version 3 sets), by case key; None for older sets and asv's."""
        return comparisons_of(self.meta) if self.meta else None

    @property
    def timestamp(self) -> _dt.datetime | None:
        text = self.environment.get("timestamp")
        try:
            ts = _dt.datetime.fromisoformat(str(text)) if text else None
        except ValueError:
            return None
        return ts.replace(tzinfo=_dt.timezone.utc) if ts is not None and ts.tzinfo is None else ts

    @property
    def date(self) -> str:
        ts = self.timestamp
        return ts.strftime("%Y-%m-%d %H:%M UTC") if ts else "date unknown"

    @property
    def threads(self) -> str:
        values = sorted({int(t) for t in self.frame["threads"].dropna()})
        if not values and self.environment.get("threads") is not None:
            values = [int(self.environment["threads"])]
        return ", ".join(map(str, values)) or "?"

    @property
    def device(self) -> str:
        """cpu or cuda: the environment's, else the rows' (one device per set; asv files are split)."""
        devices = list(dict.fromkeys(self.frame["device"].dropna()))
        return str(self.environment.get("device") or (devices[0] if devices else "cpu"))

    @property
    def gpus(self) -> list[str]:
        return [str(g.get("name")) for g in self.environment.get("gpus") or [] if isinstance(g, dict) and g.get("name")]

    @property
    def device_label(self) -> str:
        """``cpu``, or ``cuda (NVIDIA H200)``."""
        return f"{self.device} ({', '.join(dict.fromkeys(self.gpus))})" if self.gpus else self.device

    # The labels from here on are one-line properties alike in shape (the repeated-block scan pairs them):
    # each states a different fact, and the templates read each by name; a table of getters would hide that.
    @property
    def host(self) -> str:
        """The host's name as the run recorded it."""
        return str(self.environment.get("hostname") or "unknown host")

    @property
    def machine(self) -> str:
        """Host, CPU model and device in one line."""
        return f"{self.host} · {self.environment.get('cpu_model') or 'unknown CPU'} · {self.device_label}"

    @property
    def from_asv(self) -> bool:
        """Read from asv's own result file, not written by `adbench compare`."""
        return self.settings.get("source") == "asv"

    @property
    def command(self) -> str:
        """The command line that made the set, as the run recorded it: a `--quick` run and a user
        function's run read apart by it. asv's runs: "asv run, commit …"."""
        if self.from_asv:
            return f"asv run, commit {(self.environment.get('git_commit') or '?')[:8]}"
        return str(self.settings.get("command") or "command not recorded")

    @property
    def label(self) -> str:
        """What a person picks a set by: the command, where, on which device and how many threads, and when."""
        return f"{self.command} · {self.machine} · {self.threads} thread(s) · {self.date}"

    @property
    def short_label(self) -> str:
        """The label without the CPU model and threads: for a column's header."""
        return f"{self.command} · {self.host} · {self.device} · {self.date}"

    @property
    def problems(self) -> list[str]:
        # Registration order would need the registry; order of first appearance matches the run.
        return list(dict.fromkeys(self.frame["problem"]))

    def problem_frame(self, problem: str) -> pd.DataFrame:
        """One problem's rows, without the columns no page shows nor any verdict reads (``UNSHOWN``): the
        pages filter these frames a few thousand times, and each filter copies every column."""
        return self.frame.loc[self.frame["problem"] == problem, [c for c in self.frame.columns if c not in UNSHOWN]]
