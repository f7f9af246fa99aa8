"""Which comparisons a run states: the pairs of cases its summary and table give verdicts on. The adaptive
loop spends the time budget resolving these; the table and the summary word the same ones.

Rows are result rows (a DataFrame of the record's columns, ``time_s`` the headline) of cases that
passed; each question names two of them by their index labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rows come in as frames; this module needs no pandas of its own
    import pandas as pd

# A question's role, in the order the adaptive loop attends to them.
ROLES = ("modes", "backends", "table", "replicates")
SUMMARY_ROLES = ("modes", "backends")  # the first screen's (adbench.glance); "table" is --details'
HAND_WRITTEN = "manual"  # the baseline the first screen's "× hand" divides by (adbench.glance)


@dataclass(frozen=True)
class Question:
    """Two cases the results compare: ``a`` the faster by the current estimates."""

    a: Any
    b: Any
    role: str  # modes, backends (a summary line's), table (a backend's faster mode), replicates (A/A)
    label: str  # what it asks, for the plan's report: "loss jacobian: modes"

    @property
    def pair(self) -> frozenset:
        return frozenset((self.a, self.b))


def _is_baseline(backend: str) -> bool:
    from adbench.backends import get_backend

    try:
        return get_backend(backend).baseline
    except (ValueError, KeyError):
        return False


def fastest_pair(rows: pd.DataFrame, key: str) -> tuple[Any, Any | None]:
    """The index of the fastest row and of the fastest whose ``key`` (mode, backend) differs."""
    import numpy as np

    # Plain arrays, not a sorted frame: the adaptive loop asks this of every group at each of its looks.
    order = np.argsort(rows["time_s"].to_numpy(), kind="stable")
    keys = rows[key].to_numpy()
    first = order[0]
    other = next((i for i in order[1:] if keys[i] != keys[first]), None)
    return rows.index[first], (rows.index[other] if other is not None else None)


def ad_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of AD frameworks (not the hand-written or differenced baselines), first replicates only."""
    baseline = rows["backend"].map(_is_baseline).astype(bool)
    first = rows["replicate"].fillna(0).astype(int) == 0 if "replicate" in rows else True
    return rows[~baseline & first]


def questions(frame: pd.DataFrame) -> list[Question]:
    """Every comparison the summary and the table state, for the rows that passed (``status`` ok)."""
    ok = frame[(frame["status"] == "ok") & (frame["time_s"] > 0)]
    out: list[Question] = []
    # The first screen answers each problem's operation at every size asked for (adbench.glance): so do these.
    sizes = ok.groupby(["problem", "operation"], sort=False)["size"].nunique()
    ad = ad_rows(ok)
    for (problem, operation, size), at in ad.groupby(["problem", "operation", "size"], sort=False):
        where = f"{problem} {operation}" + (f" n={size}" if sizes[(problem, operation)] > 1 else "")
        if at["mode"].nunique() >= 2:
            a, b = fastest_pair(at, "mode")
            out.append(Question(a, b, "modes", f"{where}: modes"))
        a, b = fastest_pair(at, "backend")
        if b is not None:
            out.append(Question(a, b, "backends", f"{where}: backends"))
    keys = ["problem", "size", "operation", "backend", "chunk_size"]
    for (problem, size, operation, backend, _), group in ad.groupby(keys, sort=False, dropna=False):
        if group["mode"].nunique() >= 2:
            a, b = fastest_pair(group, "mode")
            out.append(Question(a, b, "table", f"{problem} n={size} {operation} {backend}: modes"))
    if "replicate" in ok:
        from adbench.engine.record import SPEC_KEYS

        same = [k for k in SPEC_KEYS if k != "replicate"]  # a case's copies differ only in it
        twins = ok.assign(_key=[tuple(r) for r in ok[same].astype(str).itertuples(index=False)])
        for _, group in twins.groupby("_key", sort=False):
            if len(group) < 2:
                continue
            first = group.index[group["replicate"].fillna(0).astype(int) == 0]
            for other in group.index:
                if len(first) and other != first[0]:
                    out.append(Question(first[0], other, "replicates", f"{group['problem'].iloc[0]} replicate"))
    seen: set[frozenset] = set()
    unique = []
    for q in sorted(out, key=lambda q: ROLES.index(q.role)):
        if q.pair not in seen:
            seen.add(q.pair)
            unique.append(q)
    return unique


__all__ = ["HAND_WRITTEN", "ROLES", "SUMMARY_ROLES", "Question", "ad_rows", "fastest_pair", "questions"]
