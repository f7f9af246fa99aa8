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
    backends = [get_backend(spec.backend) for spec in specs]
    frameworks = {b.framework for b in backends if b.compiles}
    compiling: dict[str, list[int]] = {}  # framework -> its cases, every backend of it (they share its processes)
    for i, backend in enumerate(backends):
        if backend.framework in frameworks:
            compiling.setdefault(backend.framework, []).append(i)
    second: set[int] = set()
    for framework in sorted(compiling):
        several = len({specs[i].operation for i in compiling[framework]}) > 1
        units: dict[object, list[int]] = {}
        for i in compiling[framework]:
            units.setdefault(specs[i].operation if several else group_key(specs[i]), []).append(i)
        if len(units) < 2:
            continue
        first_n = second_n = 0
        for cases in sorted(units.values(), key=len, reverse=True):  # stable: the grid's order on ties
            if first_n <= second_n:
                first_n += len(cases)
            else:
                second_n += len(cases)
                second.update(cases)
    return second
