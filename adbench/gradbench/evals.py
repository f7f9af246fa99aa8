"""Each gradbench eval's functions as adbench cases: its input converted to a registered problem's x and
constants, the operation that computes the function, and the results converted to the eval's output.

Conversion only: the math is the registry's (``adbench.problems``), the derivatives the backend's. The field
names and layouts are those of each eval's README and of gradbench's own Python evals and tools.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adbench.backends import Direction
from adbench.problems import Problem, get_problem

FUNCTION = "function"  # f itself (an objective, a primal), not a derivative


@dataclass(frozen=True)
class Step:
    """One adbench case an eval's function runs in each timed run: ``problem`` at ``x`` with ``constants`` (as
    ``Problem.constants`` takes them), ``operation`` (FUNCTION or a backend operation) in the first of ``modes``
    the backend offers, and the direction a JVP, VJP or HVP contracts with."""

    problem: Problem
    x: np.ndarray
    constants: Mapping[str, Any] = field(default_factory=dict)
    operation: str = FUNCTION
    modes: tuple[str, ...] = ()
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


def ints(value: Any, name: str) -> np.ndarray:
    arr = floats(value, name)
    if not np.all(arr == np.round(arr)):
        raise ValueError(f"field {name!r} must be integers")
    return arr.astype(np.int64)


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
    return Problem(name="hello", function=_square, description="gradbench's hello: x^2", scalar_output=True,
                   sizes=(1,), quick_sizes=(1,), manual_jacobian=lambda x: 2.0 * x, builtin=False)


def hello(function: str, input: Any) -> Plan:
    x = floats(input, "input").reshape(1)
    operation = FUNCTION if function == "square" else "jacobian"
    return Plan((Step(_hello(), x, {}, operation, ("reverse", "forward")),), scalar)


# -- scalar objectives with a gradient: f, and its gradient by reverse mode ----------------------------------------
def _objective_or_gradient(problem: str, x: np.ndarray, constants: dict, derivative: bool) -> Plan:
    if not derivative:
        return Plan((Step(get_problem(problem), x, constants),), scalar)
    return Plan((Step(get_problem(problem), x, constants, "jacobian", ("reverse", "forward")),), vector)


def gmm(function: str, input: Any) -> Plan:
    """``GMMInput``: alpha (K), means (K x D), icf (K x (D + D(D-1)/2)), x (N x D points), gamma, m; the
    gradient is concatenated in that order, as adbench's x is."""
    i = _require(input, "alpha", "means", "icf", "x", "gamma", "m")
    x = np.concatenate([floats(i["alpha"], "alpha").reshape(-1), floats(i["means"], "means").reshape(-1),
                        floats(i["icf"], "icf").reshape(-1)])
    constants = {"data": floats(i["x"], "x"), "wishart_gamma": float(i["gamma"]), "wishart_m": int(i["m"])}
    return _objective_or_gradient("gmm", x, constants, function == "jacobian")


def lstm(function: str, input: Any) -> Plan:
    """``LSTMInput``: main_params (2l x 4b), extra_params (3 x b), state (2l x b), sequence (c x b); x and the
    gradient are the two parameter matrices flattened row by row and concatenated."""
    i = _require(input, "main_params", "extra_params", "state", "sequence")
    x = np.concatenate([floats(i["main_params"], "main_params").reshape(-1),
                        floats(i["extra_params"], "extra_params").reshape(-1)])
    constants = {"state": floats(i["state"], "state"), "sequence": floats(i["sequence"], "sequence")}
    return _objective_or_gradient("lstm", x, constants, function == "jacobian")


def llsq(function: str, input: Any) -> Plan:
    """``LLSQInput``: x (m coefficients) and n, the number of points (adbench's constant n_points)."""
    i = _require(input, "x", "n")
    return _objective_or_gradient("llsq", floats(i["x"], "x").reshape(-1), {"n_points": int(i["n"])},
                                  function == "gradient")


def lse(function: str, input: Any) -> Plan:
    i = _require(input, "x")
    return _objective_or_gradient("lse", floats(i["x"], "x").reshape(-1), {}, function == "gradient")


def det(function: str, input: Any) -> Plan:
    """``DetByMinorInput``: A row-major (l^2 entries) and ell; the gradient row-major, as adbench's x."""
    i = _require(input, "A", "ell")
    A = floats(i["A"], "A").reshape(-1)
    if A.shape[0] != int(i["ell"]) ** 2:
        raise ValueError(f"'A' has {A.shape[0]} entries, not ell^2 = {int(i['ell']) ** 2}")
    return _objective_or_gradient("det", A, {}, function == "gradient")


# -- ode: the primal y(2), and the gradient of its last element -----------------------------------------------------
def ode(function: str, input: Any) -> Plan:
    """``ODEInput``: x (n) and s, RK4's steps (adbench's constant steps). ``gradient`` is the gradient of the
    primal's last element: one VJP with the last unit vector."""
    i = _require(input, "x", "s")
    x = floats(i["x"], "x").reshape(-1)
    constants = {"steps": int(i["s"])}
    if function == "primal":
        return Plan((Step(get_problem("ode"), x, constants),), vector)
    last = np.zeros_like(x)
    last[-1] = 1.0
    return Plan((Step(get_problem("ode"), x, constants, "vjp", ("reverse",), Direction(u=last)),), vector)


# -- kmeans: cost, and dir = J H^-1 for its diagonal H ---------------------------------------------------------------
def kmeans(function: str, input: Any) -> Plan:
    """``KMeansInput``: points (N x d) and centroids (k x d), x the centroids row by row. ``dir`` divides the
    gradient by H's diagonal, which is H 1 (one HVP, forward over reverse: gradbench's jvp of the gradient);
    both calls are timed in each run, the division is conversion (adbench.problems.kmeans.newton_direction)."""
    from adbench.problems.kmeans import newton_direction

    i = _require(input, "points", "centroids")
    C = floats(i["centroids"], "centroids")
    x, constants, problem = C.reshape(-1), {"points": floats(i["points"], "points")}, get_problem("kmeans")
    if function == "cost":
        return Plan((Step(problem, x, constants),), scalar)
    steps = (Step(problem, x, constants, "jacobian", ("reverse", "forward")),
             Step(problem, x, constants, "hvp", ("forward-over-reverse", "reverse-over-reverse", "reverse-over-forward",
                                                  "forward-over-forward"), Direction(v=np.ones_like(x))))

    def direction(results: list[Any]) -> list[list[float]]:
        g, h = (np.asarray(r, np.float64).reshape(-1) for r in results)
        return newton_direction(g, h).reshape(C.shape).tolist()

    return Plan(steps, direction)


# -- ba: gradbench's one camera, point, weight and feature, repeated -------------------------------------------------
BA_BLOCK = 2 * (11 + 3 + 1)  # the values of one observation's two reprojection rows, in gradbench's sparse output


def ba_problem_input(input: Any) -> tuple[np.ndarray, dict]:
    """adbench's x (cameras, points, weights) and constants (obs, feats) from ``BAInput``: n cameras, m points
    and p observations that all repeat ``cam``, ``x``, ``w`` and ``feat``, observation i seeing camera i mod n
    and point i mod m (gradbench's ba tools build it so)."""
    i = _require(input, "n", "m", "p", "cam", "x", "w", "feat")
    n, m, p = int(i["n"]), int(i["m"]), int(i["p"])
    cam, X, w = floats(i["cam"], "cam").reshape(11), floats(i["x"], "x").reshape(3), float(i["w"])
    feat = floats(i["feat"], "feat").reshape(2)
    x = np.concatenate([np.tile(cam, n), np.tile(X, m), np.full(p, w)])
    obs = np.stack([np.arange(p) % n, np.arange(p) % m], axis=1).astype(np.int64)
    return x, {"obs": obs, "feats": np.tile(feat, (p, 1))}


def _ba_objective(results: list[Any]) -> dict:
    """gradbench's compressed objective: the first observation's two residuals and the first weight residual,
    each with its repeat count (every observation is the same)."""
    r = np.asarray(results[0], np.float64).reshape(-1)
    p = r.shape[0] // 3
    return {"reproj_error": {"elements": r[:2].tolist(), "repeated": p},
            "w_err": {"element": float(r[2 * p]), "repeated": p}}


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
    x, constants = ba_problem_input(input)
    problem = get_problem("ba")
    if function == "objective":
        return Plan((Step(problem, x, constants),), _ba_objective)
    # Compressed forward passes, one per colour of the columns (a row touches 15 of them): the sparse Jacobian.
    return Plan((Step(problem, x, constants, "sparse-jacobian", ("forward", "reverse")),), _ba_jacobian)


# -- ht: gradbench's hand model and data, simple (no us) or complicated ------------------------------------------
def ht_problem_input(input: Any) -> tuple[Problem, np.ndarray, dict]:
    """The problem (``ht``, or ``ht-complicated`` where ``us`` is not empty), x (theta, or us then theta) and
    the constants from gradbench's ``Input``: its model's fields as adbench's, ``points`` N x 3."""
    i = _require(input, "theta", "data")
    data = _require(i["data"], "model", "correspondences", "points")
    model = _require(data["model"], "parents", "base_relatives", "inverse_base_absolutes", "base_positions",
                     "weights", "is_mirrored")
    constants = {
        "parents": tuple(int(p) for p in ints(model["parents"], "parents")),  # static: the bone tree's loop
        "base_relatives": floats(model["base_relatives"], "base_relatives"),
        "inverse_base_absolutes": floats(model["inverse_base_absolutes"], "inverse_base_absolutes"),
        "base_positions": floats(model["base_positions"], "base_positions"),
        "weights": floats(model["weights"], "weights"),
        "is_mirrored": bool(model["is_mirrored"]),
        "correspondences": ints(data["correspondences"], "correspondences"),
        "points": floats(data["points"], "points"),
    }
    theta = floats(i["theta"], "theta").reshape(-1)
    us = floats(i.get("us", []), "us").reshape(-1)
    if us.size == 0:
        return get_problem("ht"), theta, constants
    constants["triangles"] = ints(_require(model, "triangles")["triangles"], "triangles")
    return get_problem("ht-complicated"), np.concatenate([us, theta]), constants


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
    problem, x, constants = ht_problem_input(input)
    if function == "objective":
        return Plan((Step(problem, x, constants),), vector)
    if problem.name == "ht":  # 26 columns: 26 forward passes, dense
        return Plan((Step(problem, x, constants, "jacobian", ("forward", "reverse")),), _ht_jacobian)
    # n = 2N + 26, but a point's us touch its own 3 rows only: compressed forward passes, a few more than 26.
    return Plan((Step(problem, x, constants, "sparse-jacobian", ("forward", "reverse")),), _ht_jacobian)


# -- particle and saddle: nested, in gradbench's four compositions ---------------------------------------------------
# gradbench's ff, fr, rf, rr name the outer level's mode first: adbench's compositions, outer over inner.
NESTED_MODES = {"ff": "forward-over-forward", "fr": "forward-over-reverse", "rf": "reverse-over-forward",
                "rr": "reverse-over-reverse"}


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
