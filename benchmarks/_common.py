"""The suite's cases and the per-process case set-up behind them; no benchmark lives here.

The cases are a tier of ``adbench.compare.build_grid``, the definition a plain ``adbench compare``
runs, so the two never drift apart (``ADBENCH_ASV_TIER``):

- ``default``: ``build_grid()``'s own defaults, the plain ``compare`` grid;
- ``all``: the whole registry, ``build_grid(full=True)`` over every backend and operation: every
  problem at each of its sizes, every mode and composition.

``ADBENCH_ASV_PROBLEMS`` and ``ADBENCH_ASV_BACKENDS`` (comma-separated names, or ``all``) narrow or
widen either tier. Only cases that exist are generated: build_grid leaves out a second-order
operation of a vector-valued problem and a mode a backend lacks, and a case a backend refuses
before any framework is imported (``Backend.supports``: a baseline without a hand-written
derivative, a CPU-only backend on ``cuda``) is dropped here.

asv's parameters are a Cartesian product, so a case is ONE parameter, its key:
``loss-10000 jacobian jax-reverse cpu`` (problem-size, operation, backend[-mode], device); a
baseline whose one mode has its own name is just ``manual``. asv matches results across commits
by the parameter's value, so a case keeps its history while other keys come and go.

A case that cannot run on this machine still raises NotImplementedError in ``setup``, which asv
records as a skip (n/a): a backend whose framework is missing, a case whose estimated memory is
over ``MEMORY_LIMIT_BYTES``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from adbench.backends import OPERATIONS, SECOND_ORDER, PreparedCase, backend_info, backend_names, get_backend
from adbench.compare import DEFAULT_OPERATIONS, build_grid
from adbench.engine.cases import CaseSpec, build_case, skip_reason, warm_up
from adbench.engine.environment import visible_gpus
from adbench.engine.threads import cpus_for
from adbench.engine.timing import TARGET_SAMPLE_S, calibrate, first_call
from adbench.problems import get_problem, list_problems
from benchmarks import THREADS

# Cases whose estimated peak memory is over this skip; ADBENCH_MEMORY_LIMIT_GIB overrides it.
MEMORY_LIMIT_BYTES = int(float(os.environ.get("ADBENCH_MEMORY_LIMIT_GIB", "4")) * 2**30)
# Each sample's inner loop is calibrated to last at least this: the engine's own setting.
SAMPLE_TIME = TARGET_SAMPLE_S
# First calls and memory are tracked for the operations a plain `adbench compare` runs; times for all.
TRACKED_OPERATIONS = DEFAULT_OPERATIONS
TIERS = ("default", "all")


def suite_tier() -> str:
    """``ADBENCH_ASV_TIER``: ``default`` (the plain ``compare`` grid) or ``all`` (the whole registry)."""
    tier = os.environ.get("ADBENCH_ASV_TIER", "").strip() or "default"
    if tier not in TIERS:
        raise ValueError(f"ADBENCH_ASV_TIER={tier!r} is not a tier; choose one of: {', '.join(TIERS)}")
    return tier


def _chosen(variable: str, every: list[str]) -> list[str] | None:
    """The names a comma-separated variable lists (``all``: ``every``), or None when it is unset."""
    chosen = os.environ.get(variable, "").strip()
    if chosen == "all":
        return every
    return [name.strip() for name in chosen.split(",") if name.strip()] or None


def suite_backends() -> list[str]:
    """The backends: ``ADBENCH_ASV_BACKENDS``, else every one in the ``all`` tier and a plain
    ``compare``'s (the metadata's ``default``) in the default tier."""
    chosen = _chosen("ADBENCH_ASV_BACKENDS", backend_names())
    if chosen is not None:
        return [get_backend(b).name for b in chosen]
    return backend_names(default_only=suite_tier() == "default")


def suite_problems() -> list[str] | None:
    """The problems ``ADBENCH_ASV_PROBLEMS`` names, or None: the tier's own (build_grid's choice)."""
    chosen = _chosen("ADBENCH_ASV_PROBLEMS", [p.name for p in list_problems()])
    return None if chosen is None else [get_problem(p).name for p in chosen]


def variant_label(backend: str, mode: str) -> str:
    return backend if mode == backend else f"{backend}-{mode}"


def case_key(spec: CaseSpec) -> str:
    """``loss-10000 jacobian jax-reverse cpu``: the case's one asv parameter."""
    return f"{spec.problem}-{spec.size} {spec.operation} {variant_label(spec.backend, spec.mode)} {spec.device}"


def function_key(spec: CaseSpec) -> str:
    """``loss-10000 jax cpu``: f itself on a backend, for time(op)/time(f)."""
    return f"{spec.problem}-{spec.size} {spec.backend} {spec.device}"


def grid() -> dict[str, CaseSpec]:
    """case key -> spec, in build_grid's order, for the tier and names the environment asks for."""
    problems = suite_problems()
    return _grid(suite_tier(), tuple(problems) if problems else None, tuple(suite_backends()), devices())


@functools.cache
def _grid(
    tier: str, problems: tuple[str, ...] | None, backends: tuple[str, ...], on: tuple[str, ...]
) -> dict[str, CaseSpec]:
    full = tier == "all"
    cases = {}
    for device in on:
        for spec in build_grid(problems, backends, full=full, operations=OPERATIONS if full else None, device=device):
            if static_reason(spec) is None:
                cases.setdefault(case_key(spec), spec)  # a key is unique but for chunk, dtype: the first
    return cases


def static_reason(spec: CaseSpec) -> str | None:
    """Why the backend refuses the case, decided from its metadata (no framework imported), or None."""
    return get_backend(spec.backend).supports(
        get_problem(spec.problem), spec.operation, spec.mode, None, None, spec.device
    )


def case_keys(operations: tuple[str, ...] = OPERATIONS) -> list[str]:
    """The keys of the grid's cases of ``operations``."""
    return [key for key, spec in grid().items() if spec.operation in operations]


def function_specs() -> dict[str, CaseSpec]:
    """``problem-size backend device`` -> the first grid case of that problem, size, backend and device."""
    specs: dict[str, CaseSpec] = {}
    for spec in grid().values():
        specs.setdefault(function_key(spec), spec)
    return specs


def variant_labels() -> dict[str, tuple[str, str]]:
    """``backend-mode`` -> (backend, mode) for every backend and mode in the grid."""
    return {variant_label(s.backend, s.mode): (s.backend, s.mode) for s in grid().values()}


def timed_calls(operations: tuple[str, ...] = OPERATIONS) -> str:
    """Which call each backend-mode times per operation, as its framework's users write it (the record's
    ``call``, from ``Backend.call_label``), for every backend and mode in the registry whatever the tier:
    the listing is part of the benchmark's source, so of its asv version, and one tier's results stay
    comparable with another's. Imports no framework."""
    lines = []
    for backend in backend_names():
        b = get_backend(backend)
        for mode in b.modes:
            for operation in operations:
                if mode not in b.modes_for(operation):
                    continue
                scalar = b.call_label(operation, mode, True)
                vector = scalar if operation in SECOND_ORDER else b.call_label(operation, mode, False)
                call = scalar if scalar == vector else f"{scalar} for a scalar f, {vector} otherwise"
                lines.append(f"{variant_label(backend, mode)} {operation}: {call}")
    return "\n".join(lines)


def with_calls(method: Callable[..., Any], operations: tuple[str, ...] = OPERATIONS) -> None:
    """Show the timed calls in asv: the method's docstring and the source asv displays (``pretty_source``)
    list them. The source is also the benchmark's version, so a change of call starts a new history."""
    import inspect
    import textwrap

    calls = timed_calls(operations)
    method.__doc__ = f"{inspect.getdoc(method) or ''}\n\nThe call timed, per backend-mode and operation:\n{calls}"
    source = textwrap.dedent(inspect.getsource(method))
    header, _, body = source.partition("\n")
    listing = textwrap.indent(f'"""The call timed, per backend-mode and operation:\n{calls}\n"""', "    ")
    method.pretty_source = f"{header}\n{listing}\n{body}"


@functools.cache
def devices() -> tuple[str, ...]:
    """cpu, and cuda where nvidia-smi shows a GPU: no machine carries a column of n/a it can never fill."""
    return ("cpu", "cuda") if visible_gpus() else ("cpu",)


def spec_for(key: str) -> CaseSpec:
    """The spec behind a case key; KeyError, naming the tier, for a key the grid does not hold."""
    try:
        return grid()[key]
    except KeyError:
        raise KeyError(
            f"{key!r} is not a case of the {suite_tier()!r} asv tier (ADBENCH_ASV_TIER, "
            "ADBENCH_ASV_PROBLEMS, ADBENCH_ASV_BACKENDS)"
        ) from None


@functools.cache
def _availability(backend: str) -> str | None:
    info = backend_info(backend)  # imports the framework, in this process
    return None if info.available else info.reason


def require(spec: CaseSpec, memory_guard: bool = True) -> CaseSpec:
    """The spec once it is known to run here; NotImplementedError (asv's skip) if not."""
    static = static_reason(spec)
    if static is not None:  # the grid holds none such; a spec built by hand may
        raise NotImplementedError(static)
    reason = _availability(spec.backend)
    if reason is not None:
        raise NotImplementedError(f"backend {spec.backend!r} is unavailable: {reason}")
    reason, _ = skip_reason(spec, MEMORY_LIMIT_BYTES if memory_guard else None)
    if reason is not None:
        raise NotImplementedError(reason)
    pin_threads()
    get_backend(spec.backend).load(THREADS)  # torch takes its thread count here
    return spec


@functools.cache
def pin_threads() -> None:
    """Give this process THREADS CPUs, as adbench's workers get, before a framework starts a pool.

    The environment set in benchmarks/__init__.py reaches every library that loads after it;
    NumPy's BLAS has loaded before (asv imports it), so its pool is limited here at run time.
    """
    cpus = cpus_for(THREADS)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(
            "adbench asv suite: threadpoolctl is not installed, so NumPy's BLAS keeps the thread count it loaded with",
            file=sys.stderr,
        )
    else:
        threadpool_limits(limits=THREADS)


def synced(call: Callable[[], Any], sync: Callable[[Any], Any] | None) -> Callable[[], Any]:
    """A zero-argument call that returns only once its result is computed (JAX is asynchronous)."""
    return call if sync is None else lambda: sync(call())


@functools.cache
def warm_case(key: str) -> PreparedCase:
    """The case built and its operation called once (trace, compile, run): steady state from here.

    Cached, because asv re-runs ``setup`` before every sample (before every call in newer
    asv_runner versions): the case is built once per process and its state never changes.
    """
    _, prepared, _ = build_case(require(spec_for(key)))
    first_call(prepared.call, prepared.sync)
    return prepared


@functools.cache
def timed_call(key: str) -> tuple[Callable[[], Any], int]:
    """The synced call, and calls per sample so a sample lasts ``SAMPLE_TIME``."""
    prepared = warm_case(key)
    number, _ = calibrate(prepared.call, prepared.sync, SAMPLE_TIME)
    return synced(prepared.call, prepared.sync), number


@functools.cache
def timed_function(key: str) -> tuple[Callable[[], Any], int]:
    """As ``timed_call`` for f itself, on the backend's arrays (the operation's memory estimate does not apply)."""
    try:
        spec = function_specs()[key]
    except KeyError:
        raise KeyError(f"{key!r} is not a function case of the {suite_tier()!r} asv tier") from None
    _, prepared, _ = build_case(require(spec, memory_guard=False))
    first_call(prepared.function, prepared.sync)
    number, _ = calibrate(prepared.function, prepared.sync, SAMPLE_TIME)
    return synced(prepared.function, prepared.sync), number


def fresh_case(key: str) -> PreparedCase:
    """The case built but never called, in a process whose framework has already run another
    case (``adbench.engine.cases.warm_up``, as the CLI's workers do): the first call keeps only this
    case's own trace, compile and run, not the framework's one-time start."""
    spec = require(spec_for(key))
    warm_up(spec)
    return build_case(spec)[1]


def frameworks() -> list[str]:
    """The frameworks behind the grid's backends (``numpy`` for the baselines), sorted."""
    return sorted({get_backend(s.backend).framework for s in grid().values()})


def framework_version(framework: str) -> str:
    """The installed version of ``framework``; NotImplementedError (a skip) where it is missing."""
    backend = next(b for b in suite_backends() if get_backend(b).framework == framework)
    reason = _availability(backend)
    if reason is not None:
        raise NotImplementedError(f"{framework} is unavailable: {reason}")
    return get_backend(backend).version()


def version_number(version: str) -> int:
    """``2.13.0+cpu`` -> 21300: major * 10000 + minor * 100 + patch, for asv's numeric track."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if match is None:
        raise ValueError(f"not a version number: {version!r}")
    major, minor, patch = (int(g or 0) for g in match.groups())
    return major * 10000 + minor * 100 + patch


__all__ = [
    "OPERATIONS",
    "TIERS",
    "case_keys",
    "devices",
    "function_specs",
    "grid",
    "require",
    "spec_for",
    "timed_calls",
    "variant_labels",
    "with_calls",
]
