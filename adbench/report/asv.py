"""asv's saved results (``asv run`` under results/asv) read as result sets, shown beside compare's.

Two layouts of the suite (``benchmarks/ad.py``) are read, by method name and parameter count, so
a renamed class still reads:

- current: ``time_derivative``, ``track_first_call`` and ``track_peak_memory`` over
  (problem, operation, variant, device), ``time_function`` over (problem, backend, device);
- earlier: ``time_jacobian``, ``time_function`` and ``track_first_call`` over (problem, variant),
  every case a Jacobian on the CPU.

``problem`` is ``"<name>-<n>"``; ``variant`` is ``"<backend>-<mode>"``, or just the backend's name
where its one mode is named after it (``manual``). Backends and modes this adbench does not know
are read as well (split at a known mode's name, else the variant is the backend).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
from pathlib import Path
from typing import Any

from adbench.engine.results import ResultsFormatError
from adbench.engine.timing import NOISY_IQR_RATIO

DERIVATIVE = ("time_derivative", "time_jacobian")
FUNCTION, FIRST_CALL, MEMORY = "time_function", "track_first_call", "track_peak_memory"


def find_asv_results(directory: Path) -> list[Path]:
    """asv result files under ``directory``: every JSON beside a ``machine.json``."""
    found = []
    for machine in sorted(Path(directory).rglob("machine.json")):
        found += [p for p in sorted(machine.parent.glob("*.json")) if p.name != "machine.json"]
    return found


def _unquote(label: Any) -> str:
    # asv keeps each parameter as its repr: "'loss-100'".
    label = str(label)
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] and label[0] in "'\"" else label


def _number(value: Any) -> float | None:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else None
    )


def _grid(entry: list, columns: list[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """One benchmark's results by its parameter labels (asv's row-major product of the params)."""
    record = dict(zip(columns, entry))
    params = [[_unquote(p) for p in axis] for axis in (record.get("params") or [])]
    if not params:
        return {}
    keys = list(itertools.product(*params))
    values = record.get("result")
    if not isinstance(values, list):  # the whole benchmark failed
        values = [None] * len(keys)

    def stat(name: str) -> list:
        found = record.get(name)
        return found if isinstance(found, list) else []

    q25, q75, ci_a, ci_b = stat("stats_q_25"), stat("stats_q_75"), stat("stats_ci_99_a"), stat("stats_ci_99_b")
    out = {}
    for i, (key, value) in enumerate(zip(keys, values)):

        def at(series: list) -> float | None:
            return _number(series[i]) if i < len(series) else None

        lo, hi = at(q25), at(q75)
        out[key] = {
            "value": value,
            "iqr": hi - lo if lo is not None and hi is not None else None,
            "ci": (at(ci_a), at(ci_b)),
        }
    return out


def _known_variants() -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Every known backend's variant labels -> (backend, mode), and every known mode, longest first."""
    from adbench.backends import MODE_NAMES, backend_names, get_backend

    labels: dict[str, tuple[str, str]] = {}
    modes = set(MODE_NAMES)
    for name in backend_names():
        b = get_backend(name)
        for mode in b.modes:
            modes.add(mode)
            labels[name if mode == name else f"{name}-{mode}"] = (name, mode)
        if len(b.modes) == 1:  # a baseline's one mode: the backend's name alone names it too
            labels.setdefault(name, (name, b.modes[0]))
    return labels, sorted(modes, key=len, reverse=True)


def split_variant(label: str, known: tuple[dict[str, tuple[str, str]], list[str]] | None = None) -> tuple[str, str]:
    """``jax-forward-over-reverse`` -> (jax, forward-over-reverse); ``manual`` -> (manual, manual)."""
    labels, modes = known or _known_variants()
    if label in labels:
        return labels[label]
    for mode in modes:
        if label.endswith(f"-{mode}") and len(label) > len(mode) + 1:
            return label[: -len(mode) - 1], mode
    return label, label


def _problem(name: str) -> Any:
    from adbench.problems import list_problems

    return next((p for p in list_problems() if p.name == name), None)


def _keyed(grid: dict[tuple[str, ...], dict[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """(case, operation, variant, device) for either layout: the earlier one is Jacobians on the CPU."""
    out = {}
    for key, cell in grid.items():
        if len(key) == 4:
            out[key] = cell
        elif len(key) == 2:
            out[(key[0], "jacobian", key[1], "cpu")] = cell
    return out


def _method_grids(results: dict, columns: list[str]) -> tuple[dict[str, dict], list[float]]:
    """Each benchmark method's grid of cells (the first class that has it), and when each started."""
    grids: dict[str, dict] = {}
    started = []
    for name, entry in sorted(results.items()):
        method = name.rsplit(".", 1)[-1]
        if method in (*DERIVATIVE, FUNCTION, FIRST_CALL, MEMORY) and isinstance(entry, list):
            grids.setdefault(method, _grid(entry, columns))
            record = dict(zip(columns, entry))
            if isinstance(record.get("started_at"), (int, float)):
                started.append(record["started_at"])
    return grids, started


def _is_case(backend: str, mode: str, operation: str, problem: Any, n: int) -> bool:
    """Whether a cell of asv's rectangular grid is a case at all: a mode the backend offers for the
    operation, and no Hessian of a vector-valued problem."""
    try:
        from adbench.backends import get_backend

        offered = get_backend(backend).modes_for(operation)
    except (ValueError, KeyError):
        offered = None
    if offered is not None and mode not in offered:
        return False
    return not (problem is not None and operation in ("hvp", "hessian") and not problem.is_scalar(n))


def _timed(value: float, cell: dict[str, Any], f: float | None, first: float | None, peak: float | None) -> dict:
    """A passed case's columns: its median, asv's interval where it holds the median, time/f, first call, memory."""
    lo, hi = cell["ci"]
    iqr = cell["iqr"]
    held = lo is not None and hi is not None and lo <= value <= hi
    return {
        "status": "ok",
        "median_s": value,
        "iqr_s": iqr,
        "f_median_s": f,
        "first_call_s": first,
        "ci_low_s": lo if held else None,
        "ci_high_s": hi if held else None,
        "j_over_f": value / f if f else None,
        "peak_memory_bytes": int(peak) if peak is not None else None,
        "noisy": bool(iqr is not None and value > 0 and iqr / value >= NOISY_IQR_RATIO),
    }


def _outcome(
    cell: dict[str, Any], key: tuple[str, str, str, str], backend: str, grids: dict[str, dict]
) -> dict[str, Any]:
    """The status columns of a case from asv's value: failed (None), skipped (NaN) or timed. ``grids``: the
    function's times by (case, backend, device), first calls and peak memory by the case's key."""
    value = cell["value"]
    if value is None:
        return {"status": "error", "error": "asv recorded a failure (see asv's own pages or log)"}
    if _number(value) is None:
        return {
            "status": "skipped",
            "error": "asv skipped the case (n/a): not supported, not installed or over the memory guard here",
        }
    case, _, variant, device = key
    function = grids[FUNCTION]
    f_cell = function.get((case, backend, device)) or function.get((case, variant)) or {}
    f = _number(f_cell.get("value"))
    first = _number((grids[FIRST_CALL].get(key) or {}).get("value"))
    peak = _number((grids[MEMORY].get(key) or {}).get("value"))
    return _timed(float(value), cell, f if f and f > 0 else None, first, peak)


def _environment(data: dict[str, Any], started: list[float], threads: int | None) -> dict[str, Any]:
    """The sidecar's environment from asv's machine parameters and the run's latest start."""
    params = data.get("params") or {}
    when = max(started) if started else data.get("date")
    return {
        "timestamp": _dt.datetime.fromtimestamp(when / 1000, _dt.timezone.utc).isoformat(timespec="seconds")
        if isinstance(when, (int, float))
        else None,
        "git_commit": data.get("commit_hash"),
        "hostname": params.get("machine"),
        "platform": params.get("os"),
        "python": data.get("python") or params.get("python"),
        "cpu_model": params.get("cpu"),
        "cpu_count": int(params["num_cpu"]) if str(params.get("num_cpu", "")).isdigit() else None,
        "threads": threads,
        "frameworks": {k: v for k, v in (data.get("requirements") or {}).items() if v},
    }


def read_asv_result(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """A result file as the rows and sidecar of a result set (rows typed by the caller through the
    results schema), or None when it holds no derivative times. ResultsFormatError for a file that
    is not asv's JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{path}: cannot read: {exc}") from None
    except ValueError as exc:
        raise ResultsFormatError(f"{path}: not valid JSON ({exc}): not an asv result file, or damaged") from None
    if not isinstance(data, dict):
        raise ResultsFormatError(f"{path}: not an asv result file")
    results, columns = data.get("results"), data.get("result_columns")
    if not isinstance(results, dict) or not columns:
        return None
    grids, started = _method_grids(results, columns)
    derivative = _keyed(next((grids[m] for m in DERIVATIVE if m in grids), {}))
    if not any(_number(c["value"]) for c in derivative.values()):
        return None  # nothing to show: a run of other benchmarks, or one where every case failed
    # The other methods' cells, keyed as the derivative's (the function's by its own parameters).
    extra = {FUNCTION: grids.get(FUNCTION, {}), FIRST_CALL: _keyed(grids.get(FIRST_CALL, {}))}
    extra[MEMORY] = _keyed(grids.get(MEMORY, {}))
    known = _known_variants()
    threads = _threads(results, columns)
    # A device none of whose cases ran is a column of n/a the machine could never fill: left out.
    devices = {k[3] for k, c in derivative.items() if _number(c["value"]) is not None}
    rows = []
    for key, cell in derivative.items():
        case, operation, variant, device = key
        problem_name, _, size = case.rpartition("-")
        if not size.isdigit() or device not in devices:
            continue
        backend, mode = split_variant(variant, known)
        n, problem = int(size), _problem(problem_name)
        if not _is_case(backend, mode, operation, problem, n):
            continue  # not a case: the grid is rectangular, the backend offers no such mode here
        row = {
            "problem": problem_name,
            "size": n,
            "n_inputs": n,
            "n_outputs": problem.known_n_outputs(n) if problem is not None else None,
            "operation": operation,
            "backend": backend,
            "mode": mode,
            "device": device,
            "threads": threads,
            "preset": problem.presets.get(n) if problem is not None else None,
        }
        rows.append({**row, **_outcome(cell, key, backend, extra)})
    if not rows:
        return None
    settings = {
        "source": "asv",
        "env_name": data.get("env_name"),
        "statistic": "median (asv)",
        "interval": "asv's 99% interval of the median (stats_ci_99), where it kept one",
    }
    return rows, {"environment": _environment(data, started, threads), "settings": settings}


def _threads(results: dict, columns: list[str]) -> int | None:
    """The suite's ``environment.track_threads`` value, when it was run."""
    for name, entry in results.items():
        if name.endswith("track_threads") and isinstance(entry, list):
            value = dict(zip(columns, entry)).get("result")
            if isinstance(value, list) and value and isinstance(value[0], (int, float)):
                return int(value[0])
    return None
