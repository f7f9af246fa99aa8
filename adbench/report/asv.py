"""asv's saved results (``asv run`` under results/asv) read as result sets, shown beside compare's."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

# The suite's benchmarks (benchmarks/ad.py), found by method name so a renamed class still reads.
JACOBIAN, FUNCTION, FIRST_CALL = "time_jacobian", "time_function", "track_first_call"


def find_asv_results(directory: Path) -> list[Path]:
    """asv result files under ``directory``: every JSON beside a ``machine.json``."""
    found = []
    for machine in sorted(Path(directory).rglob("machine.json")):
        found += [p for p in sorted(machine.parent.glob("*.json")) if p.name != "machine.json"]
    return found


def _variants() -> dict[str, tuple[str, str]]:
    """asv's backend label -> (backend, mode), spelled as benchmarks/_common.variant_label does."""
    from adbench.backends import backend_names, get_backend

    return {(b if m == b else f"{b}-{m}"): (b, m) for b in backend_names() for m in get_backend(b).modes}


def _unquote(label: str) -> str:
    # asv keeps each parameter as its repr: "'loss-100'".
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] and label[0] in "'\"" else label


def _grid(entry: list, columns: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """One benchmark's results by (case label, backend label): value and, where kept, quartiles."""
    record = dict(zip(columns, entry))
    params = record.get("params") or []
    if len(params) != 2:
        return {}
    cases, variants = [_unquote(p) for p in params[0]], [_unquote(p) for p in params[1]]
    values = record.get("result")
    if values is None:  # the whole benchmark failed
        values = [None] * (len(cases) * len(variants))
    q25, q75 = record.get("stats_q_25") or [], record.get("stats_q_75") or []
    out = {}
    for i, value in enumerate(values):
        case, variant = cases[i // len(variants)], variants[i % len(variants)]
        iqr = None
        if i < len(q25) and i < len(q75) and q25[i] is not None and q75[i] is not None:
            iqr = q75[i] - q25[i]
        out[(case, variant)] = {"value": value, "iqr": iqr}
    return out


def _n_outputs(problem: str, n: int) -> int | None:
    from adbench.problems import list_problems

    for p in list_problems():
        if p.name == problem:
            return p.n_outputs(n)
    return None


def read_asv_result(path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A result file as the rows and sidecar of a result set, or None when it has no Jacobian times."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    results, columns = data.get("results"), data.get("result_columns")
    if not isinstance(results, dict) or not columns:
        return None
    by_method: dict[str, dict] = {}
    started = []
    for name, entry in results.items():
        method = name.rsplit(".", 1)[-1]
        if method in (JACOBIAN, FUNCTION, FIRST_CALL) and isinstance(entry, list):
            by_method[method] = _grid(entry, columns)
            record = dict(zip(columns, entry))
            if record.get("started_at"):
                started.append(record["started_at"])
    jac = by_method.get(JACOBIAN, {})
    if not any(isinstance(c["value"], (int, float)) and math.isfinite(c["value"]) for c in jac.values()):
        return None  # nothing to show: a run of other benchmarks, or one where every case failed
    variants = _variants()
    fun, first = by_method.get(FUNCTION, {}), by_method.get(FIRST_CALL, {})
    threads = _threads(results, columns)
    rows = []
    for (case, variant), cell in jac.items():
        problem, _, size = case.rpartition("-")
        if not size.isdigit() or variant not in variants:
            continue
        backend, mode = variants[variant]
        n, value = int(size), cell["value"]
        row = {"problem": problem, "size": n, "n_inputs": n, "n_outputs": _n_outputs(problem, n),
               "backend": backend, "framework": None, "mode": mode, "threads": threads}
        if value is None:
            row.update(status="error", error="asv recorded a failure (see asv's own pages or log)")
        elif isinstance(value, float) and math.isnan(value):
            row.update(status="skipped", error="asv skipped the case (n/a): not supported or not installed here")
        else:
            f = (fun.get((case, variant)) or {}).get("value")
            f = f if isinstance(f, (int, float)) and math.isfinite(f) and f > 0 else None
            fc = (first.get((case, variant)) or {}).get("value")
            iqr = cell["iqr"]
            row.update(status="ok", median_s=value, iqr_s=iqr, f_median_s=f,
                       first_call_s=fc if isinstance(fc, (int, float)) and math.isfinite(fc) else None,
                       j_over_f=value / f if f else None,
                       noisy=bool(iqr is not None and value > 0 and iqr / value >= 0.10))
        rows.append(row)
    if not rows:
        return None
    params = data.get("params") or {}
    when = max(started) if started else data.get("date")
    commit = data.get("commit_hash")
    environment = {
        "timestamp": _dt.datetime.fromtimestamp(when / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
        if when else None,
        "git_commit": commit,
        "hostname": params.get("machine"),
        "platform": params.get("os"),
        "python": data.get("python") or params.get("python"),
        "cpu_model": params.get("cpu"),
        "cpu_count": int(params["num_cpu"]) if str(params.get("num_cpu", "")).isdigit() else None,
        "threads": threads,
        "frameworks": {k: v for k, v in (data.get("requirements") or {}).items() if v},
        "device": "cpu",
    }
    settings = {"source": "asv", "env_name": data.get("env_name"), "statistic": "median"}
    return pd.DataFrame(rows), {"environment": environment, "settings": settings}


def _threads(results: dict, columns: list[str]) -> int | None:
    """The suite's ``environment.track_threads`` value, when it was run."""
    for name, entry in results.items():
        if name.endswith("track_threads") and isinstance(entry, list):
            value = dict(zip(columns, entry)).get("result")
            if isinstance(value, list) and value and isinstance(value[0], (int, float)):
                return int(value[0])
    return None
