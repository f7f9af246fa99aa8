"""A result set's environment and method as the pages list them: where it ran, on what, and how it was measured."""

from __future__ import annotations

from typing import Any

from adbench import formatting as fmt
from adbench.report import analysis
from adbench.report.data import ok_rows, operations
from adbench.report.result_set import ResultSet


def _cpu(env: dict[str, Any]) -> str:
    """The CPU's model and how many CPUs it has (and how many this run could use)."""
    cpus, usable = env.get("cpu_count"), env.get("usable_cpus")
    counted = (f" ({cpus} CPUs" + (f", {usable} usable)" if usable else ")")) if cpus else ""
    return f"{env.get('cpu_model') or '?'}" + counted


def _gpus(env: dict[str, Any]) -> str | None:
    """Each GPU's name, driver and memory, where the run saw any."""
    gpus = [g for g in env.get("gpus") or [] if isinstance(g, dict)]
    if not gpus:
        return None
    described = (
        filter(
            None,
            [
                str(g.get("name") or "?"),
                f"driver {g['driver']}" if g.get("driver") else None,
                str(g["memory"]) if g.get("memory") else None,
            ],
        )
        for g in gpus
    )
    return "; ".join(", ".join(parts) for parts in described)


def _builds(env: dict[str, Any]) -> str | None:
    """How each framework was built (BLAS, CUDA, ...), where the run recorded it."""
    builds = {k: v for k, v in (env.get("framework_builds") or {}).items() if v}
    if not builds:
        return None
    return "; ".join(
        f"{k}: " + ", ".join(f"{kk} {_words(vv)}" for kk, vv in v.items()) if isinstance(v, dict) else f"{k}: {v}"
        for k, v in builds.items()
    )


def _adbench(env: dict[str, Any]) -> str:
    """adbench's version and commit (and whether its tree was modified)."""
    commit = env.get("git_commit")
    modified = " (tree modified)" if env.get("git_dirty") else ""
    parts = [env.get("adbench_version"), f"commit {commit[:10]}{modified}" if commit else None]
    return ", ".join(filter(None, parts)) or "?"


def _machine_load(result: ResultSet) -> str:
    noise = result.noise
    if result.busy:
        return "busy: " + "; ".join(noise.get("busy_reasons") or ["(no reason recorded)"])
    return "quiet (no sign of other load)" if "busy" in noise else "not recorded"


def _reanalysed(result: ResultSet) -> str | None:
    """When the set's statistics were computed again from its raw samples, by which adbench."""
    again = result.meta.get("reanalysed")
    if not isinstance(again, dict):
        return None
    return (
        f"re-analysed from the raw samples on {again.get('at') or '?'} by adbench "
        f"{again.get('adbench_version') or '?'} (commit {str(again.get('git_commit'))[:10]}); "
        f"the run's own interval: {again.get('interval_before') or '?'}"
    )


def environment_rows(result: ResultSet) -> list[tuple[str, str]]:
    """The environment table's rows, (name, value), in the order the pages list them."""
    env, settings = result.environment, result.settings
    frameworks = env.get("frameworks") or {}
    gpus, builds, again = _gpus(env), _builds(env), _reanalysed(result)
    if result.format_version:
        version = f"version {result.format_version}"
    else:
        version = "asv results" if result.from_asv else "?"
    rows = [
        ("date", result.date),
        ("host", result.host),
        ("CPU", _cpu(env)),
        ("device", result.device),
        *([("GPUs", gpus)] if gpus else []),
        ("threads per framework", result.threads),
        ("frameworks", ", ".join(f"{k} {v}" for k, v in frameworks.items() if v) or "?"),
        *([("framework builds", builds)] if builds else []),
        ("Python", f"{env.get('python_implementation', '')} {env.get('python', '?')}".strip()),
        ("platform", env.get("platform") or "?"),
        ("adbench", _adbench(env)),
        ("results format", version),
        ("machine load", _machine_load(result)),
        ("settings", ", ".join(f"{k} = {_words(v)}" for k, v in settings.items()) or "—"),
        *([("statistics", again)] if again else []),
        ("file", result.path.name),  # not the full path: the pages get published
    ]
    return rows


def _words(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)


def noise_lines(result: ResultSet) -> list[str]:
    return fmt.noise_lines(result.noise)


def methodology(result: ResultSet) -> dict[str, Any]:
    settings = result.settings
    ok = ok_rows(result.frame)
    samples = ok["samples"].dropna()
    visits = ok["visits"].dropna()
    budget = result.meta.get("budget") or {}
    tolerances = {
        str(d): sorted({float(t) for t in g["tolerance"].dropna()})
        for d, g in result.frame.groupby("dtype")
        if g["tolerance"].notna().any()
    }
    return {
        "statistic": settings.get("statistic", "median"),
        "interval": settings.get("interval"),
        "budget": settings.get("budget_s"),
        "time_budget": budget.get("time_budget_s") or settings.get("time_budget_s"),
        "spent": budget.get("spent_s"),
        "workers": settings.get("workers"),
        "paired": result.comparisons is not None,
        "components": ((result.meta.get("variance") or {}).get("components") or {}),
        "timeout": settings.get("timeout_s"),
        "memory_limit": analysis.memory_limit_bytes(settings),
        "samples": (int(samples.min()), int(samples.max())) if len(samples) else None,
        "visits": (int(visits.min()), int(visits.max())) if len(visits) else None,
        "threads": result.threads,
        "intervals": result.has_intervals,
        "tolerances": tolerances,
        "operations": operations(result.frame),
    }
