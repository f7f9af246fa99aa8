"""Each gradbench eval's functions as adbench cases: the operation that computes each function on the
registered problem, and the results converted to the eval's output.

Conversion only: the math is the registry's (``adbench.problems``), the derivatives the backend's, and the
input's x and constants come from the registry's converter of gradbench's inputs
(``adbench.problems.inputs.from_gradbench``). The output layouts are those of each eval's README and of
gradbench's own Python and C++ tools.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from adbench.backends import Direction, ModeName, Operation
from adbench.problems import Problem, get_problem

FUNCTION: Literal["function"] = "function"  # f itself (an objective, a primal), not a derivative


@dataclass(frozen=True)
class Step:
    """One adbench case an eval's function runs in each timed run: ``problem`` at ``x`` with ``constants`` (as
    ``Problem.constants`` takes them), ``operation`` (FUNCTION or a backend operation) in the first of ``modes``
    the backend offers, and the direction a JVP, VJP or HVP contracts with."""

    problem: Problem
    x: np.ndarray
    constants: Mapping[str, Any] = field(default_factory=dict)
    operation: Operation | Literal["function"] = FUNCTION
    modes: tuple[ModeName, ...] = ()
    direction: Direction = field(default_factory=Direction)


@dataclass(frozen=True)
class Plan:
    """An evaluate message as adbench runs it: the steps of one run, and ``output(results)``, the eval's output
    from the steps' results (NumPy arrays, or SciPy matrices for sparse Jacobians), outside the timing."""

    steps: tuple[Step, ...]
    output: Callable[[list[Any]], Any]


def floats(value: Any, name: str) -> np.ndarray:
    """A JSON number or nested list as a float64 array, with the field named when it is not one."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"field {name!r} must be numbers (a number or nested lists of them)") from None
    return arr


def scalar(results: list[Any]) -> float:
    return float(np.asarray(results[0]).reshape(()))


def vector(results: list[Any]) -> list[float]:
    return np.asarray(results[0], dtype=np.float64).reshape(-1).tolist()


def _require(input: Any, *names: str) -> dict:
    if not isinstance(input, dict):
        raise TypeError(f"the input must be a JSON object with {', '.join(names)}")
    missing = [n for n in names if n not in input]
    if missing:
        raise ValueError(f"the input lacks {', '.join(repr(m) for m in missing)} (it needs {', '.join(names)})")
    return input


# -- hello: square and its derivative ------------------------------------------------------------------------------
def _square(x: Any, xp: Any) -> Any:
    return xp.sum(x * x)


@functools.cache
def _hello() -> Problem:
    """gradbench's protocol check, not a registered problem: x^2 on a 1-vector, with its derivative 2x as the
    reference (hello's whole definition; no other eval's math is written here)."""
    return Problem(
        name="hello",
        function=_square,
        description="gradbench's hello: x^2",
        scalar_output=True,
        sizes=(1,),
        quick_sizes=(1,),
        manual_jacobian=lambda x: 2.0 * x,
        builtin=False,
    )


def hello(function: str, input: Any) -> Plan:
    x = floats(input, "input").reshape(1)
    operation = FUNCTION if function == "square" else "jacobian"
    return Plan((Step(_hello(), x, {}, operation, ("reverse", "forward")),), scalar)


# -- the registered problems: x and constants from gradbench's input (the registry's own converter) ----------------
def _problem_input(problem: str, input: Any) -> tuple[np.ndarray, dict]:
    """x and the constants of ``problem`` from gradbench's input, by the registry's converter
    (``adbench.problems.inputs.from_gradbench``: each eval's field layout, written once)."""
    from adbench.problems.inputs import from_gradbench

    if not isinstance(input, dict):
        raise TypeError(f"the input of a {problem} function must be a JSON object, not {type(input).__name__}")
    return from_gradbench(problem, input)


def _objective_or_gradient(problem: str, input: Any, derivative: bool) -> Plan:
    """f, or its gradient: the reverse-mode Jacobian of the scalar f (the gradient in x's order: gmm's alpha,
    means, icf; lstm's two parameter matrices row by row; det's A row by row)."""
    x, constants = _problem_input(problem, input)
    if not derivative:
        return Plan((Step(get_problem(problem), x, constants),), scalar)
    return Plan((Step(get_problem(problem), x, constants, "jacobian", ("reverse", "forward")),), vector)


def gmm(function: str, input: Any) -> Plan:
    return _objective_or_gradient("gmm", input, function == "jacobian")


def lstm(function: str, input: Any) -> Plan:
    return _objective_or_gradient("lstm", input, function == "jacobian")


def llsq(function: str, input: Any) -> Plan:
    return _objective_or_gradient("llsq", input, function == "gradient")


def lse(function: str, input: Any) -> Plan:
    return _objective_or_gradient("lse", input, function == "gradient")


def det(function: str, input: Any) -> Plan:
    return _objective_or_gradient("det", input, function == "gradient")


# -- ode: the primal y(2), and the gradient of its last element -----------------------------------------------------
def ode(function: str, input: Any) -> Plan:
    """``gradient`` is the gradient of the primal's last element: one VJP with the last unit vector."""
    x, constants = _problem_input("ode", input)
    if function == "primal":
        return Plan((Step(get_problem("ode"), x, constants),), vector)
    last = np.zeros_like(x)
    last[-1] = 1.0
    return Plan((Step(get_problem("ode"), x, constants, "vjp", ("reverse",), Direction(u=last)),), vector)


# -- kmeans: cost, and dir = J H^-1 for its diagonal H ---------------------------------------------------------------
def kmeans(function: str, input: Any) -> Plan:
    """``dir`` divides the gradient by H's diagonal, which is H 1 (one HVP, forward over reverse: gradbench's
    jvp of the gradient); both calls are timed in each run, the division is conversion
    (adbench.problems.kmeans.newton_direction)."""
    from adbench.problems.kmeans import newton_direction

    x, constants = _problem_input("kmeans", input)
    problem = get_problem("kmeans")
    if function == "cost":
        return Plan((Step(problem, x, constants),), scalar)
    steps = (
        Step(problem, x, constants, "jacobian", ("reverse", "forward")),
        Step(
            problem,
            x,
            constants,
            "hvp",
            ("forward-over-reverse", "reverse-over-reverse", "reverse-over-forward", "forward-over-forward"),
            Direction(v=np.ones_like(x)),
        ),
    )
    shape = (-1, np.shape(constants["points"])[1])

    def direction(results: list[Any]) -> list[list[float]]:
        g, h = (np.asarray(r, np.float64).reshape(-1) for r in results)
        return newton_direction(g, h).reshape(shape).tolist()

    return Plan(steps, direction)


# -- ba: gradbench's one camera, point, weight and feature, repeated -------------------------------------------------
BA_BLOCK = 2 * (11 + 3 + 1)  # the values of one observation's two reprojection rows, in gradbench's sparse output


def _ba_objective(results: list[Any]) -> dict:
    """gradbench's compressed objective: the first observation's two residuals and the first weight residual,
    each with its repeat count (every observation is the same)."""
    r = np.asarray(results[0], np.float64).reshape(-1)
    p = r.shape[0] // 3
    return {
        "reproj_error": {"elements": r[:2].tolist(), "repeated": p},
        "w_err": {"element": float(r[2 * p]), "repeated": p},
    }


def _ba_jacobian(results: list[Any]) -> dict:
    """gradbench's compressed sparse Jacobian: of the CSR arrays (rows: nrows + 1 offsets, cols and vals: its
    31 p nonzeros, ADBench's BASparseMat order), the first 30 entries (the first observation's two rows of 15)
    and the last (the last weight row)."""
    J = results[0].tocsr()
    J.sort_indices()
    rows, cols, vals = J.indptr, J.indices, J.data

    def first_and_last(a: np.ndarray, cast: type) -> list:
        return [cast(v) for v in a[:BA_BLOCK]] + [cast(a[-1])]

    return {"rows": first_and_last(rows, int), "cols": first_and_last(cols, int), "vals": first_and_last(vals, float)}


def ba(function: str, input: Any) -> Plan:
    """gradbench's n cameras, m points and p observations that all repeat ``cam``, ``x``, ``w`` and ``feat``."""
    x, constants = _problem_input("ba", input)
    problem = get_problem("ba")
    if function == "objective":
        return Plan((Step(problem, x, constants),), _ba_objective)
    # Compressed forward passes, one per colour of the columns (a row touches 15 of them): the sparse Jacobian.
    return Plan((Step(problem, x, constants, "sparse-jacobian", ("forward", "reverse")),), _ba_jacobian)


# -- ht: gradbench's hand model and data, simple (no us) or complicated ------------------------------------------
def _ht_jacobian(results: list[Any]) -> list[list[float]]:
    """gradbench's (3N) x 26 Jacobian, row by row; for the complicated variant each row starts with the two
    entries of its point's us (the us block is block-diagonal: gradbench keeps the 3 x 2 blocks only)."""
    J = results[0]
    if not hasattr(J, "tocsr"):  # dense: the simple variant
        return np.asarray(J, np.float64).tolist()
    J = J.tocsr()
    rows = J.shape[0]
    us_cols = J.shape[1] - 26
    point = np.arange(rows) // 3
    us = np.stack([J[np.arange(rows), 2 * point].A1, J[np.arange(rows), 2 * point + 1].A1], axis=1)
    theta = J[:, us_cols:].toarray()
    return np.concatenate([us, theta], axis=1).tolist()


def ht(function: str, input: Any) -> Plan:
    """One eval, two problems: ``ht``, or ``ht-complicated`` where ``us`` is not empty (x is then us, theta)."""
    complicated = isinstance(input, dict) and bool(np.size(input.get("us") or []))
    problem = get_problem("ht-complicated" if complicated else "ht")
    x, constants = _problem_input(problem.name, input)
    if function == "objective":
        return Plan((Step(problem, x, constants),), vector)
    if not complicated:  # 26 columns: 26 forward passes, dense
        return Plan((Step(problem, x, constants, "jacobian", ("forward", "reverse")),), _ht_jacobian)
    # n = 2N + 26, but a point's us touch its own 3 rows only: compressed forward passes, a few more than 26.
    return Plan((Step(problem, x, constants, "sparse-jacobian", ("forward", "reverse")),), _ht_jacobian)


# -- particle and saddle: nested, in gradbench's four compositions ---------------------------------------------------
# gradbench's ff, fr, rf, rr name the outer level's mode first: adbench's compositions, outer over inner.
NESTED_MODES: dict[str, ModeName] = {
    "ff": "forward-over-forward",
    "fr": "forward-over-reverse",
    "rf": "reverse-over-forward",
    "rr": "reverse-over-reverse",
}


def _step_sizes(input: dict, names: tuple[str, ...]) -> dict:
    """adbench's extension, which gradbench never sends: the problem's step sizes (particle's ``dt`` and ``eta``,
    saddle's ``eta``) in the input, for a lighter workload in tests; absent, gradbench's own."""
    return {name: float(input[name]) for name in names if name in input}


def particle(function: str, input: Any) -> Plan:
    """``{"w": w0}``: the control gradient descent ends at, as one number."""
    i = _require(input, "w")
    x = floats(i["w"], "w").reshape(1)
    constants = _step_sizes(i, ("dt", "eta"))
    return Plan((Step(get_problem("particle"), x, constants, "nested", (NESTED_MODES[function],)),), scalar)


def saddle(function: str, input: Any) -> Plan:
    """``{"start": [s1, s2]}``: x* and y* concatenated, four numbers."""
    i = _require(input, "start")
    x = floats(i["start"], "start").reshape(2)
    constants = _step_sizes(i, ("eta",))
    return Plan((Step(get_problem("saddle"), x, constants, "nested", (NESTED_MODES[function],)),), vector)


# eval -> (its functions, the converter of an evaluate message's input). The function names are each eval's.
EVALS: dict[str, tuple[tuple[str, ...], Callable[[str, Any], Plan]]] = {
    "hello": (("square", "double"), hello),
    "ba": (("objective", "jacobian"), ba),
    "det": (("primal", "gradient"), det),
    "gmm": (("objective", "jacobian"), gmm),
    "ht": (("objective", "jacobian"), ht),
    "kmeans": (("cost", "dir"), kmeans),
    "llsq": (("primal", "gradient"), llsq),
    "lse": (("primal", "gradient"), lse),
    "lstm": (("objective", "jacobian"), lstm),
    "ode": (("primal", "gradient"), ode),
    "particle": (tuple(NESTED_MODES), particle),
    "saddle": (tuple(NESTED_MODES), saddle),
}


def plan(module: str, function: str, input: Any) -> Plan:
    """The plan of an evaluate message; a ValueError naming the valid functions for one the eval lacks."""
    if module not in EVALS:
        raise ValueError(f"module {module!r} is not defined; this tool defines {', '.join(EVALS)}")
    functions, convert = EVALS[module]
    if function not in functions:
        raise ValueError(f"module {module!r} has no function {function!r}; its functions: {', '.join(functions)}")
    return convert(function, input)
