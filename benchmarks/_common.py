"""The parameter grid and the per-process case set-up behind the suite; no benchmark lives here.

asv wants a rectangular grid. A case is four labels: problem and size (``loss-10000``, one per
size of each registered problem's default run), the operation (``jacobian``, ``jvp``, ``vjp``,
``hvp``, ``hessian``), backend and mode (``jax-reverse``, ``torch-forward-over-reverse``; a
baseline with one mode of its own name is just ``manual``) and the device (``cpu``, and ``cuda``
where a GPU is visible). Everything else comes from adbench: the case is built by
``adbench.engine.cases.build_case`` and skipped by ``adbench.engine.cases.skip_reason``.

A case that cannot run here raises NotImplementedError in ``setup``, which asv records as a skip
(n/a): a backend whose framework is missing, a combination the backend does not offer, a
second-order operation on a vector-valued problem, a case whose estimated memory is over
``MEMORY_LIMIT_BYTES``.

Backends: those in a plain ``adbench compare`` (the metadata's ``default``); ``ADBENCH_ASV_BACKENDS``
(comma-separated names, or ``all``) changes the set: torch-compile's compile takes seconds per
case and asv runs each in its own process. Problems: every registered one at the sizes of its
default run (or, for one outside a plain run, at the sizes it runs when named), but the nested ones
(``ADBENCH_ASV_PROBLEMS=all`` or a list of names adds them: ``suite_problems``).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from adbench.backends import OPERATIONS, SECOND_ORDER, PreparedCase, backend_info, backend_names, get_backend
from adbench.engine.cases import CaseSpec, build_case, skip_reason, warm_up
from adbench.compare import DEFAULT_MODES
from adbench.engine.environment import visible_gpus
from adbench.problems import get_problem, list_problems
from adbench.engine.threads import cpus_for
from adbench.engine.timing import TARGET_SAMPLE_S, calibrate, first_call

from benchmarks import THREADS

# Cases whose estimated peak memory is over this skip; ADBENCH_MEMORY_LIMIT_GIB overrides it.
MEMORY_LIMIT_BYTES = int(float(os.environ.get("ADBENCH_MEMORY_LIMIT_GIB", "4")) * 2**30)
# Each sample's inner loop is calibrated to last at least this: the engine's own setting.
SAMPLE_TIME = TARGET_SAMPLE_S
# First calls and memory are tracked for the operations a plain `adbench compare` runs; times for all.
TRACKED_OPERATIONS = ("jacobian", "hvp", "sparse-jacobian")


def suite_backends() -> list[str]:
    chosen = os.environ.get("ADBENCH_ASV_BACKENDS", "")
    if chosen == "all":
        return backend_names()
    if chosen:
        return [get_backend(b.strip()).name for b in chosen.split(",") if b.strip()]
    return backend_names(default_only=True)


def variant_label(backend: str, mode: str) -> str:
    return backend if mode == backend else f"{backend}-{mode}"


def suite_problems() -> list[Any]:
    """The problems in the suite: every registered one but the nested, unless ``ADBENCH_ASV_PROBLEMS``
    (comma-separated names, or ``all``) says otherwise. A nested problem's eager cases take tens of
    seconds per call at gradbench's workload (torch's particle: ~40 s), and asv makes five calls per
    benchmark or more: past its timeout, for every eager backend and composition."""
    chosen = os.environ.get("ADBENCH_ASV_PROBLEMS", "")
    if chosen == "all":
        return list_problems()
    if chosen:
        return [get_problem(name.strip()) for name in chosen.split(",") if name.strip()]
    return [p for p in list_problems() if not p.nested]


def case_labels() -> list[str]:
    """``problem-size`` for every suite problem and each size of its default run (when named), in registry order."""
    return [f"{p.name}-{n}" for p in suite_problems() for n in p.run_sizes]


def suite_modes(backend: str) -> tuple[str, ...]:
    """A backend's modes in the suite: for HVPs and Hessians the two compositions a plain
    ``adbench compare`` runs (forward-over-reverse, reverse-over-reverse), unless
    ``ADBENCH_ASV_MODES=all`` asks for all four."""
    b = get_backend(backend)
    everything = os.environ.get("ADBENCH_ASV_MODES", "") == "all"
    chosen = []
    # The nested operation's compositions (forward-over-forward...) are variants only where a nested
    # problem is in the suite: otherwise every one of their benchmarks would be a skip.
    nested = any(p.nested for p in suite_problems())
    for operation in b.operations:
        if operation == "nested" and not nested:
            continue
        wanted = None if everything else DEFAULT_MODES.get(operation)
        chosen += [m for m in b.modes_for(operation) if wanted is None or b.baseline or m in wanted]
    return tuple(dict.fromkeys(chosen))


def variant_labels() -> dict[str, tuple[str, str]]:
    """``backend-mode`` -> (backend, mode) for every suite backend and each of its suite modes."""
    labels = {variant_label(b, m): (b, m) for b in suite_backends() for m in suite_modes(b)}
    assert len(labels) == sum(len(suite_modes(b)) for b in suite_backends()), "ambiguous labels"
    return labels


def timed_calls(operations: tuple[str, ...] = OPERATIONS) -> str:
    """Which call each backend-mode times per operation, as its framework's users write it (the record's
    ``call``, from ``Backend.call_label``): the suite's benchmarks carry it in the source asv shows.
    Imports no framework."""
    lines = []
    for variant, (backend, mode) in variant_labels().items():
        b = get_backend(backend)
        for operation in operations:
            if mode not in b.modes_for(operation):
                continue
            scalar = b.call_label(operation, mode, True)
            vector = scalar if operation in SECOND_ORDER else b.call_label(operation, mode, False)
            call = scalar if scalar == vector else f"{scalar} for a scalar f, {vector} otherwise"
            lines.append(f"{variant} {operation}: {call}")
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


def spec_for(case: str, operation: str, variant: str, device: str = "cpu") -> CaseSpec:
    problem, _, size = case.rpartition("-")
    backend, mode = variant_labels()[variant]
    return CaseSpec(problem=problem, size=int(size), backend=backend, mode=mode, operation=operation, device=device)


@functools.cache
def _availability(backend: str) -> str | None:
    info = backend_info(backend)  # imports the framework, in this process
    return None if info.available else info.reason


def require(case: str, operation: str, variant: str, device: str = "cpu", memory_guard: bool = True) -> CaseSpec:
    """The case's spec once it is known to run here; NotImplementedError (asv's skip) if not."""
    spec = spec_for(case, operation, variant, device)
    static = get_backend(spec.backend).supports(get_problem(spec.problem), spec.operation, spec.mode, None, None,
                                                device)
    if static is not None:  # decided before any framework is imported
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
        print("adbench asv suite: threadpoolctl is not installed, so NumPy's BLAS keeps the thread "
              "count it loaded with", file=sys.stderr)
    else:
        threadpool_limits(limits=THREADS)


def synced(call: Callable[[], Any], sync: Callable[[Any], Any] | None) -> Callable[[], Any]:
    """A zero-argument call that returns only once its result is computed (JAX is asynchronous)."""
    return call if sync is None else lambda: sync(call())


@functools.cache
def warm_case(case: str, operation: str, variant: str, device: str) -> PreparedCase:
    """The case built and its operation called once (trace, compile, run): steady state from here.

    Cached, because asv re-runs ``setup`` before every sample (before every call in newer
    asv_runner versions): the case is built once per process and its state never changes.
    """
    _, prepared, _ = build_case(require(case, operation, variant, device))
    first_call(prepared.call, prepared.sync)
    return prepared


@functools.cache
def timed_call(case: str, operation: str, variant: str, device: str) -> tuple[Callable[[], Any], int]:
    """The synced call, and calls per sample so a sample lasts ``SAMPLE_TIME``."""
    prepared = warm_case(case, operation, variant, device)
    number, _ = calibrate(prepared.call, prepared.sync, SAMPLE_TIME)
    return synced(prepared.call, prepared.sync), number


@functools.cache
def timed_function(case: str, backend: str, device: str) -> tuple[Callable[[], Any], int]:
    """As ``timed_call`` for f itself, on the backend's arrays (its Jacobian's memory estimate does not apply)."""
    mode = get_backend(backend).modes_for("jacobian")[0]
    _, prepared, _ = build_case(require(case, "jacobian", variant_label(backend, mode), device, memory_guard=False))
    first_call(prepared.function, prepared.sync)
    number, _ = calibrate(prepared.function, prepared.sync, SAMPLE_TIME)
    return synced(prepared.function, prepared.sync), number


def fresh_case(case: str, operation: str, variant: str, device: str) -> PreparedCase:
    """The case built but never called, in a process whose framework has already run another
    case (``adbench.engine.cases.warm_up``, as the CLI's workers do): the first call keeps only this
    case's own trace, compile and run, not the framework's one-time start."""
    spec = require(case, operation, variant, device)
    warm_up(spec)
    return build_case(spec)[1]


def frameworks() -> list[str]:
    """The frameworks behind the suite's backends (``numpy`` for the baselines), sorted."""
    return sorted({get_backend(b).framework for b in suite_backends()})


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


__all__ = ["OPERATIONS", "case_labels", "devices", "require", "spec_for", "timed_calls", "variant_labels",
           "with_calls"]
