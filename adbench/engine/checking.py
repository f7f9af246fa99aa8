"""The correctness gate: the float64 reference every result must reproduce, and the verdict on one result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.backends import NESTED, Direction, get_backend
from adbench.backends.numpy_baselines import FIRST_ORDER, central_differences, contract, directional_difference
from adbench.engine.tolerances import TOLERANCE as TOLERANCE  # re-exported: the gate's callers read it here too
from adbench.engine.tolerances import tolerance
from adbench.problems import Problem

if TYPE_CHECKING:
    import scipy.sparse

    from adbench.engine.cases import CaseSpec

# Derivative entries beyond which a finite-difference reference costs more than the case.
FD_REFERENCE_MAX_ENTRIES = 100_000


def reference(
    problem: Problem, operation: str, x: np.ndarray, constants: dict, d: Direction, max_entries: int
) -> tuple[np.ndarray | scipy.sparse.csr_matrix | None, str]:
    """The float64 result an operation must reproduce, and how it was obtained.

    Hand-written derivatives give ``"exact"`` references (rounding only); where a problem has
    none, float64 central differences give ``"approximate"`` ones. ``None`` when even those
    would cost more than ``max_entries`` derivative entries.
    """
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    if operation == "sparse-jacobian":
        return sparse_reference(problem, x, constants, max_entries)
    if operation == NESTED:  # the same computation with hand-written derivatives
        ref = problem.reference_nested(x, **constants)
        if ref is not None:
            return ref, "exact"
        # A user's nested function: its own defaults, central differences at both levels, in float64.
        return np.asarray(problem.function(x, np, **constants), np.float64), "approximate"
    if operation in FIRST_ORDER:
        J = problem.reference_jacobian(x, **constants)
        kind = "exact"
        if J is None:
            if n * problem.n_outputs(n) > max_entries:
                return None, "none"
            J, kind = (
                central_differences(lambda v: problem.function(v, np, **constants), x, problem.is_scalar(n)),
                "approximate",
            )
        return contract(operation, J, d), kind
    if operation == "hvp" and (problem.manual_hvp or problem.manual_hessian):
        return problem.reference_hvp(x, _given(d.v, "an hvp's direction v"), **constants), "exact"
    H = problem.reference_hessian(x, **constants)
    if H is not None:
        return contract(operation, H, d), "exact"
    if problem.manual_jacobian is not None:
        g = lambda v: _given(problem.reference_jacobian(v, **constants), "its declared Jacobian")  # noqa: E731
    elif n <= max_entries**0.5:
        # No gradient by hand either: differences of a differenced gradient (n^2 evaluations).
        g = lambda v: central_differences(lambda w: problem.function(w, np, **constants), v, True)  # noqa: E731
    else:
        return None, "none"
    if operation == "hvp":
        return directional_difference(g, x, _given(d.v, "an hvp's direction v")), "approximate"
    if n * n > max_entries:
        return None, "none"
    H = central_differences(g, x, False)
    return (H + H.T) / 2, "approximate"


def _given(value: np.ndarray | None, what: str) -> np.ndarray:
    """``value``, which the case's declaration promises; None is a bug of the problem or the caller, said plainly."""
    if value is None:
        raise ValueError(f"the reference needs {what}, and it is None")
    return value


def sparse_reference(
    problem: Problem, x: np.ndarray, constants: dict, max_entries: int
) -> tuple[scipy.sparse.csr_matrix | None, str]:
    """The sparse Jacobian's reference as a SciPy matrix, built without the declared pattern (so that a wrong
    pattern is caught): the hand-written sparse Jacobian or the problem's complex-step one, else float64
    central differences of every column where they are affordable."""
    import scipy.sparse

    ref = problem.reference_sparse_jacobian(x, **constants)
    if ref is not None:
        return ref, "exact"
    n = x.shape[0]
    J = problem.reference_jacobian(x, **constants)
    if J is not None:
        return scipy.sparse.csr_matrix(np.reshape(J, (-1, n))), "exact"
    if n * problem.n_outputs(n) > max_entries:
        return None, "none"
    J = central_differences(lambda v: problem.function(v, np, **constants), x, problem.is_scalar(n))
    return scipy.sparse.csr_matrix(np.reshape(J, (-1, n))), "approximate"


def kept_reference(spec: CaseSpec, problem: Problem, inputs: dict[str, Any]) -> tuple[Any, str]:
    """``reference`` for the case, computed once and kept (``adbench.engine.caches``): every backend and mode
    of a group checks against the same one, run after run. A user's function is computed afresh each time
    (its code may change under the same name)."""
    from adbench.engine.caches import cached_reference, reference_key

    def compute() -> tuple[Any, str]:
        return reference(
            problem, spec.operation, inputs["x"], inputs["constants"], inputs["direction"], FD_REFERENCE_MAX_ENTRIES
        )

    key = (
        reference_key(spec.problem, spec.size, spec.operation, spec.dtype, spec.seed, inputs)
        if problem.builtin
        else None
    )
    ref, kind, _ = cached_reference(key, compute)
    return ref, kind


def relative_error(result: np.ndarray, ref: np.ndarray) -> float:
    """max |R' - R| / max |R|: one number per case, robust to entries that are exactly zero."""
    result = np.asarray(result, np.float64)
    if result.shape != ref.shape:
        raise ValueError(f"result has shape {result.shape}, the reference {ref.shape}")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return float(np.max(np.abs(result - ref)) / (scale or 1.0)) if ref.size else 0.0


def check(spec: CaseSpec, problem: Problem, result: np.ndarray, inputs: dict[str, Any]) -> dict[str, Any]:
    """The correctness gate's verdict on one result: rel_error, tolerance, and ``wrong`` if it fails."""
    out: dict[str, Any] = {"n_outputs": problem.n_outputs(spec.size)}
    sparse = spec.operation == "sparse-jacobian"  # a SciPy matrix: its stored values, and every entry's error
    if not np.all(np.isfinite(result.data if sparse else result)):
        values = result.data if sparse else result
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        out.update(
            status="wrong",
            reference="none",
            error=f"result is not finite: {bad} of {np.size(values)} entries are NaN or inf",
        )
        return out
    ref, kind = kept_reference(spec, problem, inputs)
    out["reference"] = kind
    if ref is not None:
        if sparse:
            from adbench.sparsity import relative_error as sparse_error

            err = sparse_error(result, ref)
        else:
            err = relative_error(result, ref)
        tol = tolerance(spec.dtype, kind, spec.backend)
        out.update(rel_error=err, tolerance=tol)
        if not err <= tol:
            out.update(
                status="wrong",
                error=f"relative error {err:.2e} against the {kind} reference exceeds "
                f"the {spec.dtype} tolerance {tol:.0e}",
            )
    if spec.operation == NESTED and spec.mode != "manual":  # the manual floor writes its derivatives out
        from adbench.engine.confusion import confusion

        reason = confusion(get_backend(spec.backend), spec.mode, spec.dtype, spec.device)
        if reason:
            out.update(status="wrong", error=reason + (f"; {out['error']}" if out.get("error") else ""))
    return out
