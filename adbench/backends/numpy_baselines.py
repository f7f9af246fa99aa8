"""NumPy baselines: the hand-written derivatives (ADBench's "Manual") and central finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np

from adbench.backends._base import (
    NESTED,
    OPERATIONS,
    SPARSE,
    Backend,
    CaseArguments,
    Direction,
    PreparedCase,
    float_dtype,
)
from adbench.backends.modes import Operation
from adbench.problems import Problem

FIRST_ORDER = ("jacobian", "jvp", "vjp")


def central_differences(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, scalar_output: bool) -> np.ndarray:
    """Central differences, one column per pair of evaluations (so n passes, like forward mode)."""
    steps = _steps(x)
    columns = []
    xp_ = x.copy()
    for i, h in enumerate(steps):
        xp_[i] = x[i] + h
        up = np.asarray(f(xp_))
        xp_[i] = x[i] - h
        down = np.asarray(f(xp_))
        xp_[i] = x[i]
        columns.append((up - down) / (2 * h))
    J = np.stack(columns, axis=-1)
    return J.reshape(x.shape) if scalar_output else J.reshape(-1, x.shape[0])


def directional_difference(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(f(x + h v) - f(x - h v)) / 2h: a JVP from two evaluations of f."""
    eps = np.finfo(x.dtype).eps
    # eps^(1/3) balances truncation (h^2) against rounding (eps/h), scaled to x and v.
    h = eps ** (1 / 3) * max(1.0, float(np.max(np.abs(x)))) / max(float(np.max(np.abs(v))), 1e-300)
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


def _steps(x: np.ndarray) -> np.ndarray:
    eps = np.finfo(x.dtype).eps
    # eps^(1/3) balances truncation (h^2) against rounding (eps/h) for central differences.
    return eps ** (1 / 3) * np.maximum(1.0, np.abs(x))


def contract(operation: str, J: np.ndarray, d: Direction) -> np.ndarray:
    """A JVP, VJP or HVP from a full first or second derivative: J v, u^T J, or H v."""
    if operation == "jvp" or operation == "hvp":
        return J @ d.v
    if operation == "vjp":
        return d.u * J if J.ndim == 1 else d.u @ J
    return J


def _casted(x: np.ndarray, dtype: str, constants: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    return x.astype(dtype), {
        k: v.astype(float_dtype(v, dtype)) if isinstance(v, np.ndarray) else v for k, v in constants.items()
    }


# -- sparse-jacobian ----------------------------------------------------------------------------------------
def manual_sparse_case(problem: Problem, xv: np.ndarray, consts: dict[str, Any]) -> PreparedCase:
    """The hand-written sparse Jacobian: its values timed, the SciPy matrix assembled on its own structure
    (not the declared pattern) by to_numpy."""
    import scipy.sparse

    jacobian, structure = problem.manual_sparse_jacobian, problem.manual_sparse_structure
    if jacobian is None or structure is None:  # ManualBackend.supports refuses it first: prepare checks that
        raise NotImplementedError(f"problem {problem.name!r} has no hand-written sparse Jacobian")
    n = xv.shape[0]
    rows, cols = structure(n, **consts)
    shape = (problem.n_outputs(n), n)
    return PreparedCase(
        call=lambda: jacobian(xv, **consts),
        function=lambda: problem.function(xv, np, **consts),
        sync=None,
        to_numpy=lambda values: scipy.sparse.csr_matrix((values, (rows, cols)), shape=shape),
        label="hand-written NumPy sparse Jacobian",
    )


def differenced_sparse_case(
    problem: Problem, x: np.ndarray, constants: dict[str, Any], xv: np.ndarray, consts: dict[str, Any]
) -> PreparedCase:
    """Compressed central differences on the same column colouring as forward mode: 2 evaluations per colour."""
    from adbench.sparsity import compressed_differences, compression_for

    comp = compression_for(problem, x, constants, "forward")

    def f(v):
        return problem.function(v, np, **consts)

    return PreparedCase(
        call=lambda: compressed_differences(f, xv, comp),
        function=lambda: f(xv),
        sync=None,
        to_numpy=comp.matrix,
        label="central differences along each colour's seed (2 evaluations per colour)",
        colours=comp.n_colours,
    )


class _NumpyBaseline(Backend):
    """A NumPy baseline: one mode of its own for every operation, no framework to import."""

    framework = "numpy"
    baseline = True
    vectorized = False
    first_call_is_steady = True

    def load(self, threads=None):
        return np


class ManualBackend(_NumpyBaseline):
    name = "manual"
    description = (
        "hand-written NumPy derivatives (the floor every AD framework is measured against); "
        "JVPs, VJPs and HVPs contract the hand-written Jacobian or Hessian"
    )
    label = "manual (NumPy floor)"
    colour = "#000000"
    order = 90
    operations = {op: ("manual",) for op in OPERATIONS}

    def lacks(self, problem: Problem, operation: Operation) -> str | None:
        missing = {
            NESTED: problem.manual_nested is None and "nested computation",
            SPARSE: problem.manual_sparse_jacobian is None and "sparse Jacobian",
            "hvp": problem.manual_hessian is None and problem.manual_hvp is None and "Hessian",
            "hessian": problem.manual_hessian is None and "Hessian",
            **{op: problem.manual_jacobian is None and "Jacobian" for op in FIRST_ORDER},
        }.get(operation)
        return f"problem {problem.name!r} has no hand-written {missing}" if missing else None

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        reason = self.supports(problem, operation, mode)
        if reason:
            raise NotImplementedError(reason)
        xv, consts = _casted(x, dtype, constants)
        if operation == SPARSE:
            return manual_sparse_case(problem, xv, consts)
        d = Direction(*(None if a is None else a.astype(dtype) for a in (direction.v, direction.u)))
        function = self.bound(problem)
        # Each hand-written function read below is there: supports() refused the case above where it is not.
        if operation == NESTED:
            nested = cast(Callable[..., np.ndarray], problem.manual_nested)
            return PreparedCase.in_numpy(lambda: nested(xv, **consts), None, self.call_label(operation, mode, False))
        if operation == "hvp" and problem.manual_hvp is not None:
            call = lambda: problem.manual_hvp(xv, d.v, **consts)  # noqa: E731 (never forms H)
        else:
            by_hand = problem.manual_jacobian if operation in FIRST_ORDER else problem.manual_hessian
            derivative = cast(Callable[..., np.ndarray], by_hand)
            call = lambda: contract(operation, derivative(xv, **consts), d)  # noqa: E731
        return PreparedCase.in_numpy(
            call,
            lambda: function(xv, np, **consts),
            self.call_label(operation, mode, problem.is_scalar(xv.shape[0]), hvp_by_hand=problem.manual_hvp),
        )

    def call_label(self, operation, mode, scalar, chunk_size=None, hvp_by_hand=None):
        first = "hand-written NumPy gradient" if scalar else "hand-written NumPy Jacobian"
        return {
            "jacobian": first,
            "jvp": f"{first} @ v",
            "vjp": f"u * {first}" if scalar else f"u @ {first}",
            # Problems that say how compute H v without forming H (loss: O(n)).
            "hvp": "hand-written NumPy Hessian-vector product" if hvp_by_hand else "hand-written NumPy Hessian @ v",
            "hessian": "hand-written NumPy Hessian",
            SPARSE: "hand-written NumPy sparse Jacobian",
            NESTED: "the same computation with its derivatives written out (NumPy and Python floats)",
        }[operation]


# Declared as ManualBackend is (every backend declares these attributes, and a baseline says what it lacks): the
# same shape, its own values.
class FiniteDifferenceBackend(_NumpyBaseline):
    name = "finite-diff"
    description = (
        "central finite differences in NumPy: of f (2 n evaluations for a Jacobian, 2 for a JVP), "
        "and of the hand-written gradient for second order (approximate)"
    )
    label = "finite differences"
    colour = "#777777"
    order = 80
    operations = {op: ("central",) for op in OPERATIONS}

    def lacks(self, problem: Problem, operation: Operation) -> str | None:
        if operation not in (*FIRST_ORDER, SPARSE, NESTED) and problem.manual_jacobian is None:
            return f"problem {problem.name!r} has no hand-written gradient to difference"
        return None

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        xv, consts = _casted(x, dtype, constants)
        if operation == SPARSE:
            return differenced_sparse_case(problem, x, constants, xv, consts)
        d = Direction(*(None if a is None else a.astype(dtype) for a in (direction.v, direction.u)))
        n = xv.shape[0]

        function = self.bound(problem)

        def f(v):
            return function(v, np, **consts)

        def g(v):
            return problem.manual_jacobian(v, **consts)

        if operation == NESTED:  # f itself, whose ad is the default: central differences at both levels
            return PreparedCase.in_numpy(lambda: f(xv), None, self.call_label(operation, mode, False))
        if operation in ("jvp", "hvp") and d.v is None:
            raise ValueError(f"{operation} needs a direction v; none was given")
        v = cast(np.ndarray, d.v)  # given wherever the table below reads it (jvp, hvp: checked just above)
        call: Callable[[], np.ndarray] = {
            "jacobian": lambda: central_differences(f, xv, problem.is_scalar(n)),
            "jvp": lambda: directional_difference(f, xv, v),
            "vjp": lambda: contract("vjp", central_differences(f, xv, problem.is_scalar(n)), d),
            "hvp": lambda: directional_difference(g, xv, v),
            "hessian": lambda: central_differences(g, xv, False),
        }[operation]
        return PreparedCase.in_numpy(call, lambda: f(xv), self.call_label(operation, mode, problem.is_scalar(n)))

    def call_label(self, operation, mode, scalar, chunk_size=None):
        return {
            "jacobian": "central differences of f (2n evaluations)",
            "jvp": "central difference of f along v (2 evaluations)",
            "vjp": "u @ central differences of f (2n evaluations)",
            "hvp": "central difference of the hand-written gradient along v (2 evaluations)",
            "hessian": "central differences of the hand-written gradient (2n evaluations)",
            SPARSE: "central differences along each colour's seed (2 evaluations per colour)",
            NESTED: "f with ad.outer.grad = ad.inner.grad = central differences (NumPy)",
        }[operation]
