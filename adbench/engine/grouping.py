"""Which cases answer one question together (a group), and which worker process of a framework holds each."""

from __future__ import annotations

from adbench.backends import get_backend
from adbench.engine.cases import CaseSpec


def group_key(spec: CaseSpec) -> tuple:
    """Cases that answer one question together (same problem, size, operation, dtype, chunk, device):
    visited back to back, compared pairwise."""
    return (spec.problem, spec.size, spec.operation, spec.dtype, spec.chunk_size, spec.device)


def second_process(specs: list[CaseSpec]) -> set[int]:
    """The cases (indices into ``specs``) that a compiling framework (``Backend.compiles``) builds and visits in a
    second worker process: its builds are the run's longest, so they are shared between two processes whose
    builds overlap. The units shared are its operations where it has two or more (an operation stays whole in
    one process, so its warm-up is paid once), else its groups (``--quick``: Jacobians only); the most cases
    first to whichever process has fewer. Every group stays whole in one process, so every comparison is
    between visits made as before."""
    units: dict[str, dict[object, list[int]]] = {}  # framework -> unit -> its cases
    by_operation: dict[str, set[str]] = {}
    compiling = set()
    for spec in specs:
        backend = get_backend(spec.backend)
        by_operation.setdefault(backend.framework, set()).add(spec.operation)
        if backend.compiles:
            compiling.add(backend.framework)
    for i, spec in enumerate(specs):
        framework = get_backend(spec.backend).framework
        if framework in compiling:
            unit = spec.operation if len(by_operation[framework]) > 1 else group_key(spec)
            units.setdefault(framework, {}).setdefault(unit, []).append(i)
    second: set[int] = set()
    for framework in sorted(units):
        if len(units[framework]) < 2:
            continue
        first_n = second_n = 0
        for cases in sorted(units[framework].values(), key=len, reverse=True):  # stable: the grid's order on ties
            if first_n <= second_n:
                first_n += len(cases)
            else:
                second_n += len(cases)
                second.update(cases)
    return second
