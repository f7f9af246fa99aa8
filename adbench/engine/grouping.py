"""Which cases answer one question together (a group), and which worker process of a framework holds each."""

from __future__ import annotations

from adbench.backends import get_backend
from adbench.engine.cases import CaseSpec


def group_key(spec: CaseSpec) -> tuple:
    """Cases that answer one question together (same problem, size, operation, dtype, chunk, device):
    visited back to back, compared pairwise."""
    return (spec.problem, spec.size, spec.operation, spec.dtype, spec.chunk_size, spec.device)


def split_by_operation(specs: list[CaseSpec]) -> dict[tuple[str, str], str]:
    """The worker processes of a compiling framework (``Backend.compiles``) with cases of two operations or more:
    its builds are the run's longest, so its operations are shared between two processes whose builds overlap,
    the most cases first to whichever has fewer. (framework, operation) -> the second process's name, for the
    operations it holds. An operation stays whole in one process (its warm-up is paid once), and so does every
    group, so every comparison is between visits made as before."""
    counts: dict[str, dict[str, int]] = {}
    compiling = set()
    for spec in specs:
        backend = get_backend(spec.backend)
        ops = counts.setdefault(backend.framework, {})
        ops[spec.operation] = ops.get(spec.operation, 0) + 1
        if backend.compiles:
            compiling.add(backend.framework)
    out = {}
    for framework in sorted(compiling):
        ops = counts[framework]
        if len(ops) < 2:
            continue
        first = second = 0
        for operation in sorted(ops, key=lambda o: -ops[o]):
            if first <= second:
                first += ops[operation]
            else:
                second += ops[operation]
                out[(framework, operation)] = f"{framework}#2"
    return out
