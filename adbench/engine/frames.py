"""The schema as a DataFrame: rows typed by the record's schema (the one coercion, for writer and reader), and
an older version's frame migrated to this version's terms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from adbench.engine.record import COLUMNS, SCHEMA, CaseResult, is_missing


def rows_to_frame(rows: Iterable[dict[str, Any] | CaseResult]) -> pd.DataFrame:
    """Rows (records or dicts) as a DataFrame with the schema's columns and types."""
    rows = [r.row() if isinstance(r, CaseResult) else r for r in rows]
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    return typed(frame)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Every schema column present and of the schema's type (the one coercion, for writer and reader)."""
    frame = frame.copy()
    for col, dtype in SCHEMA.items():
        if col not in frame:
            frame[col] = pd.NA
        values = frame[col]
        if dtype in ("Int64", "float64"):
            values = pd.to_numeric(values.map(none_if_missing), errors="raise")
            frame[col] = (
                values.astype("Float64").round().astype("Int64") if dtype == "Int64" else values.astype("float64")
            )
        elif dtype == "boolean":
            frame[col] = values.map(_boolean).astype("boolean")
        else:
            frame[col] = values.map(lambda v: None if is_missing(v) else str(v)).astype(object)
    return frame[COLUMNS + [c for c in frame.columns if c not in SCHEMA]]


def none_if_missing(v: Any) -> Any:
    """None for a missing value or an empty string (a CSV's empty field), else the value."""
    return None if is_missing(v) or v == "" else v


def _boolean(v: Any) -> Any:
    if is_missing(v) or v == "":
        return pd.NA
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0"):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def migrate(frame: pd.DataFrame, version: int | None) -> pd.DataFrame:
    """A typed frame of an older set, in this version's terms (explicitly, column by column).

    Before version 3 a case was measured in rounds (fresh processes) and its headline was the median
    of all samples, with an interval of that median: ``time_s`` is that median (and ``f_time_s`` f's),
    ``workers`` and ``visits`` the rounds, ``replicate`` 0. Such a set has no standard errors and no
    paired comparisons: its verdicts keep the rule of its time, the far ends of two intervals.
    Before version 4 a set was one machine's and its rows name no host: ``host`` stays empty there
    (in the rows and the sidecar's cases alike, so the two still name a case the same way), and the
    set's host is its environment's.
    Before version 5 every run compiled in a cache folder of its own, so every first call was compiled then
    (cold); ``first_call_cache`` says so where a set's first call went through a cache a version 5 run
    labels (JAX's): ``cold`` for JAX's rows with a first call, empty elsewhere, as a version 5 set has it.
    """
    if version is not None and version < 5 and "framework" in frame:
        frame = frame.copy()
        jax_first = (frame["framework"] == "jax") & frame["first_call_s"].notna()
        frame["first_call_cache"] = frame["first_call_cache"].where(~jax_first, "cold")
    if version is None or version >= 3:
        return frame
    frame = frame.copy()
    frame["time_s"] = frame["time_s"].where(frame["time_s"].notna(), frame["median_s"])
    frame["f_time_s"] = frame["f_time_s"].where(frame["f_time_s"].notna(), frame["f_median_s"])
    if "rounds" in frame:
        rounds = pd.to_numeric(frame["rounds"].map(none_if_missing), errors="coerce")
        rounds = rounds.astype("Float64").round().astype("Int64")
        frame["workers"] = frame["workers"].where(frame["workers"].notna(), rounds)
        frame["visits"] = frame["visits"].where(frame["visits"].notna(), rounds)
    frame["replicate"] = frame["replicate"].fillna(0)
    return frame
