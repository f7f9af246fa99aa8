"""Result sets side by side: their environments, each set's answers, and each case's time over a reference's.

One device's sets are compared with its newest; each GPU set once with the newest CPU set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adbench import formatting as fmt
from adbench.report import panels
from adbench.report.data import main_rows
from adbench.report.environment import environment_rows
from adbench.report.views import SetView, slugify, to_value

DEVICE_ORDER = ("cpu", "cuda")


@dataclass
class Pairing:
    """A reference set and the sets compared with it: one device's sets, or a GPU set against a CPU one."""

    slug: str
    title: str
    note: str
    reference: SetView
    others: list[SetView]
    names: tuple[
        str, str
    ]  # how a verdict names (another set, the reference): ("this set", "reference"), ("cuda", "cpu")
    sections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sets(self) -> list[SetView]:
        return [self.reference, *self.others]


@dataclass
class Comparison:
    views: list[SetView]  # newest first
    env_keys: list[str]
    env: dict[str, list[str]]
    headlines: list[dict[str, Any]]
    pairings: list[Pairing]


def _device_key(device: str) -> tuple:
    return (DEVICE_ORDER.index(device) if device in DEVICE_ORDER else len(DEVICE_ORDER), device)


def compare_sets(views: list[SetView], primary: SetView) -> Comparison:
    """Environments side by side, each set's answers, and ratios: each device's sets against its newest,
    and each GPU set against the newest CPU set (CPU and GPU sets are never mixed otherwise)."""
    newest_first = list(reversed(views))
    ordered = [primary] + [v for v in newest_first if v is not primary]
    env_rows = [dict(environment_rows(v.result)) for v in ordered]
    keys = list(dict.fromkeys(k for rows in env_rows for k in rows))
    canonical = max((list(rows) for rows in env_rows), key=len)  # the fullest set's order (GPUs after device)
    keys.sort(key=lambda k: canonical.index(k) if k in canonical else len(canonical))
    env = {k: [rows.get(k, "—") for rows in env_rows] for k in keys}
    by_device: dict[str, list[SetView]] = {}
    for v in ordered:
        by_device.setdefault(v.result.device, []).append(v)
    pairings = []
    for device in sorted(by_device, key=_device_key):
        group = by_device[device]
        if len(group) >= 2:
            ref = next((v for v in group if not v.result.from_asv), group[0])
            pairings.append(
                Pairing(
                    f"same-{slugify(device)}",
                    f"{device.upper()} sets against {ref.slug}",
                    f"Each {device} set's time over the reference's ({ref.result.short_label}) for the same case; "
                    "under 1× is faster than the reference.",
                    ref,
                    [v for v in group if v is not ref],
                    ("this set", "reference"),
                )
            )
    cpu = by_device.get("cpu")
    if cpu:
        ref = next((v for v in cpu if not v.result.from_asv), cpu[0])
        for device in sorted(by_device, key=_device_key):
            if device == "cpu":
                continue
            other = by_device[device][0]
            pairings.append(
                Pairing(
                    f"{slugify(device)}-vs-cpu",
                    f"{device.upper()} against CPU: {other.slug} over {ref.slug}",
                    f"Each case's time on {other.result.device_label} ({other.result.short_label}) over its time "
                    f"on the CPU ({ref.result.short_label}): under 1× the GPU is faster. Different machines and runs: "
                    "only the intervals say whether a difference is real.",
                    ref,
                    [other],
                    (device, "cpu"),
                )
            )
    for pairing in pairings:
        pairing.sections = _pairing_sections(pairing)
    headlines = []
    for name in dict.fromkeys(n for v in ordered for n in v.result.problems):
        ops = list(dict.fromkeys(o.operation for v in ordered if (pv := v.problem(name)) for o in pv.operations))
        for op in ops:
            cells = []
            for v in ordered:
                p = v.problem(name)
                cells.append(p.operation(op) if p else None)
            headlines.append({"problem": name, "slug": slugify(name), "operation": op, "cells": cells})
    return Comparison(ordered, keys, env, headlines, pairings)


def _pairing_sections(pairing: Pairing) -> list[dict[str, Any]]:
    sections = []
    names = list(dict.fromkeys(n for v in pairing.sets for n in v.result.problems))
    for name in names:
        present = [(v, v.problem(name)) for v in pairing.sets]
        if present[0][1] is None or all(p is None for _, p in present[1:]):
            continue
        info = present[0][1].info
        ops = [o.operation for o in present[0][1].operations]
        for op in ops:
            frames = [(v, p.frame) for v, p in present if p is not None and p.operation(op) is not None]
            if len(frames) < 2:
                continue
            table = _pairing_table(pairing, [(v, p.frame if p is not None else None) for v, p in present], op)
            if not table:
                continue
            drawn = panels.set_ratio(
                [f for _, f in frames],
                [v.slug for v, _ in frames],
                info,
                op,
                ylabel=f"time / time on {pairing.reference.slug}",
            )
            figure, panel_count = drawn if drawn else (None, 0)
            sections.append(
                {
                    "info": info,
                    "operation": op,
                    "anchor": f"{pairing.slug}-{slugify(name)}-{op}",
                    "figure": figure,
                    "panels": panel_count,
                    "table": table,
                }
            )
    return sections


def _pairing_table(
    pairing: Pairing, present: list[tuple[SetView, pd.DataFrame | None]], operation: str
) -> list[dict[str, Any]]:
    """One row per (size, series) with each set's median and its ratio to the reference's, and
    whether the intervals separate them."""
    cells: dict[tuple, list[Any]] = {}
    for i, (_, frame) in enumerate(present):
        if frame is None:
            continue
        for _, r in main_rows(frame, operation).iterrows():
            key = (int(r["size"]) if pd.notna(r["size"]) else -1, r["series"])
            cells.setdefault(key, [None] * len(present))[i] = r
    rows = []
    a_name, b_name = pairing.names
    for (size, series), entries in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1].sort_key)):
        if entries[0] is None or sum(e is not None for e in entries) < 2:
            continue  # not in the reference, or in one set only: its own set's page shows it
        ref = entries[0]
        ref_ok = ref["status"] == "ok"
        out: list[dict[str, Any] | None] = []
        for i, e in enumerate(entries):
            if e is None:
                out.append(None)
                continue
            cell = {
                "status": e["shown"],
                "median": to_value(e["time_s"]) if e["status"] in ("ok", "wrong") else None,
                "noisy": bool(e["noisy"]),
                "ratio": None,
                "state": "",
                "words": "",
            }
            if i and e["status"] == "ok" and ref_ok:
                cell["ratio"] = float(e["time_s"]) / float(ref["time_s"])
                v = fmt.compare_rows(e, ref)
                states = {"a": "faster", "b": "slower", "tie": "tie"}
                cell["state"] = states.get(v.winner, "unresolved") if v.winner is not None else "unresolved"
                cell["words"] = fmt.verdict_words(v, a_name, b_name)
            out.append(cell)
        rows.append({"size": size, "series": series, "cells": out})
    return rows
