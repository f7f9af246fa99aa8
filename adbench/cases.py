"""One benchmark case — (problem, size, backend, mode, dtype) — built and measured the same way for the CLI and asv."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from adbench.backends import PreparedCase, get_backend
from adbench.backends.numpy_baselines import central_differences
from adbench.problems import Problem, get_problem
from adbench.timing import measure, timed_call


FD_REFERENCE_MAX_ENTRIES = 100_000  # beyond this a finite-difference check costs more than the case


@dataclass(frozen=True)
class CaseSpec:
    """The grouping key of a result row; ``problem`` is a registered name or ``MODULE:FUNCTION``."""

    problem: str
    size: int
    backend: str
    mode: str
    dtype: str = "float32"
    seed: int = 0

    def label(self) -> str:
        return f"{self.problem}[n={self.size}] {self.backend}/{self.mode} {self.dtype}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def skip_reason(spec: CaseSpec, memory_limit_bytes: int | None) -> tuple[str | None, int]:
    """Why the case cannot run here (unsupported, or over the memory limit), and its memory estimate."""
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    estimate = backend.memory_estimate(problem, spec.size, spec.mode, spec.dtype)
    reason = backend.supports(problem, spec.mode)
    if reason is None and memory_limit_bytes is not None and estimate > memory_limit_bytes:
        reason = (
            f"estimated peak memory {estimate / 2**30:.1f} GiB exceeds the limit "
            f"{memory_limit_bytes / 2**30:.1f} GiB"
        )
    return reason, estimate


def build_case(spec: CaseSpec) -> tuple[Problem, PreparedCase, dict[str, Any]]:
    """The problem, its ready-to-time callables, and the constants they close over."""
    problem = get_problem(spec.problem)
    x = problem.inputs(spec.size, spec.seed)
    constants = problem.constants(x, spec.seed)
    prepared = get_backend(spec.backend).prepare(problem, x, spec.mode, spec.dtype, constants)
    return problem, prepared, {"x": x, **constants}


def warm_up_spec(spec: CaseSpec) -> CaseSpec | None:
    """The registry's smallest other case on the same backend, mode and dtype."""
    backend = get_backend(spec.backend)
    from adbench.problems import list_problems

    candidates = sorted((min(p.sizes), p.name) for p in list_problems() if p.builtin)
    for n, name in candidates:
        if (name, n) != (spec.problem, spec.size) and backend.supports(get_problem(name), spec.mode) is None:
            return CaseSpec(name, n, spec.backend, spec.mode, spec.dtype, spec.seed)
    return None


def warm_up(spec: CaseSpec) -> None:
    """Run another small case first, so ``spec``'s first call excludes the framework's one-time start
    (XLA's client, torch.func's lazy imports) and keeps only its own trace, compile and run."""
    other = warm_up_spec(spec)
    if other is not None:
        build_case(other)[1].run_jacobian()


def relative_error(jac: np.ndarray, reference: np.ndarray) -> float:
    """max |J - R| / max |R|: one number per case, robust to entries that are exactly zero."""
    scale = float(np.max(np.abs(reference))) or 1.0
    return float(np.max(np.abs(np.asarray(jac, np.float64) - reference)) / scale)


def run_case(spec: CaseSpec, budget_s: float = 0.2, f_budget_s: float | None = None) -> dict[str, Any]:
    """Build, check and time one case; the row (with raw samples) for the results file."""
    t_build = time.perf_counter()
    problem, prepared, inputs = build_case(spec)
    build_s = time.perf_counter() - t_build
    x, constants = inputs.pop("x"), inputs

    # The first call is timed on the fresh case (trace + compile + run) and its output checked.
    jac_first, out = timed_call(prepared.jacobian, prepared.sync)
    reference = problem.reference_jacobian(x, **constants)
    if reference is None and spec.size * problem.n_outputs(spec.size) <= FD_REFERENCE_MAX_ENTRIES:
        # No hand-written Jacobian (a user's function): float64 central differences instead.
        reference = central_differences(lambda v: problem.function(v, np, **constants), x, problem.is_scalar(spec.size))
    error = relative_error(prepared.to_numpy(out), reference) if reference is not None else None

    jac = measure(prepared.jacobian, prepared.sync, budget_s=budget_s, with_first_call=False)
    jac.first_call_s = jac_first
    fun = measure(prepared.function, prepared.sync, budget_s=f_budget_s or budget_s / 4)
    return {
        "n_inputs": spec.size,
        "n_outputs": problem.n_outputs(spec.size),
        "build_s": build_s,
        **jac.summary(),
        "f_first_call_s": fun.first_call_s,
        "f_median_s": fun.median,
        "f_iqr_s": fun.iqr,
        "f_min_s": fun.min,
        "j_over_f": jac.median / fun.median if fun.median > 0 else None,
        "rel_error": error,
        "raw_samples": jac.samples,
        "raw_f_samples": fun.samples,
    }
