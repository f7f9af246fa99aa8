"""Every registered problem stays inside the Python array API standard (checked with array-api-strict),
and the autograd shim's mappings keep derivatives flowing, in both modes and in float32."""

from __future__ import annotations

import numpy as np
import pytest

from adbench.problems import list_problems

xps = pytest.importorskip("array_api_strict")


def small_size(problem) -> int:
    return min(problem.presets) if problem.presets else 5


PROBLEMS = [p.name for p in list_problems()]


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_runs_on_array_api_strict(name):
    """array-api-strict offers the standard and nothing else: a problem reaching outside it (xp.dot,
    xp.outer, .mT, NumPy-only keywords, mixed dtypes) fails here, naming itself."""
    problem = next(p for p in list_problems() if p.name == name)
    n = small_size(problem)
    x = problem.inputs(n, seed=4)
    # A nested problem's own workload (tens of thousands of steps with central differences inside) would
    # take minutes on array-api-strict: its lighter constants take the same paths.
    consts = problem.constants(x, seed=4, **problem.extra.get("light", {}))
    # Float constants in float64; integer ones (ba's observations, ht's correspondences) keep their dtype.
    strict = {
        k: xps.asarray(v, dtype=xps.float64 if v.dtype.kind == "f" else None) if isinstance(v, np.ndarray) else v
        for k, v in consts.items()
    }
    y = problem.function(xps.asarray(x, dtype=xps.float64), xps, **strict)
    assert y.__array_namespace__() is xps, "the result must stay an array of the namespace handed in"
    assert y.dtype == xps.float64
    expected = np.asarray(problem.function(x, np, **consts))
    assert tuple(y.shape) == expected.shape
    np.testing.assert_allclose(np.from_dlpack(y), expected, rtol=1e-13, atol=0)


# -- the autograd shim --------------------------------------------------------------------------------
# (name, f(x, xp) -> R^m, hand-written Jacobian at X). X has no ties, so max and min are differentiable.
X = np.array([0.3, -1.2, 0.7, 2.0, -0.4, 0.9])
M = np.reshape(X, (2, 3))

SHIM_CASES = {
    "concat": (lambda x, xp: xp.concat([x[:2] * 2.0, x**2]), np.concatenate([2.0 * np.eye(6)[:2], np.diag(2 * X)])),
    "matrix_transpose": (
        lambda x, xp: xp.reshape(xp.matrix_transpose(xp.reshape(x, (2, 3))), (-1,)),
        np.eye(6)[[0, 3, 1, 4, 2, 5]],
    ),
    "vecdot": (
        lambda x, xp: xp.vecdot(xp.reshape(x, (2, 3)), xp.reshape(x * x, (2, 3))),
        np.kron(np.eye(2), np.ones((1, 3))) * 3 * X**2,
    ),
    "cumulative_sum": (lambda x, xp: xp.cumulative_sum(x), np.tril(np.ones((6, 6)))),
    "max": (
        lambda x, xp: xp.max(xp.reshape(x, (2, 3)), axis=0),
        np.eye(6)[np.where(M[0] >= M[1], [0, 1, 2], [3, 4, 5])],
    ),
    "max-keepdims": (lambda x, xp: xp.max(xp.reshape(x, (2, 3)), axis=1, keepdims=True)[:, 0], np.eye(6)[[2, 3]]),
    "min": (lambda x, xp: xp.stack([xp.min(x)]), np.eye(6)[[1]]),
    "take": (
        lambda x, xp: xp.reshape(xp.take(xp.reshape(x, (2, 3)), xp.asarray([2, 0, 0]), axis=1), (-1,)),
        np.eye(6)[[2, 0, 0, 5, 3, 3]],
    ),
    "take-1d": (lambda x, xp: xp.take(x, xp.asarray([4, 1])) * 3.0, 3.0 * np.eye(6)[[4, 1]]),
    "stack": (
        lambda x, xp: xp.reshape(xp.stack([x[:3], 2.0 * x[3:]], axis=1), (-1,)),
        np.eye(6)[[0, 3, 1, 4, 2, 5]] * np.array([1, 2, 1, 2, 1, 2])[:, None],
    ),
    "stack-scalars": (
        lambda x, xp: xp.stack([x[0] * x[1], x[2] ** 2]),
        np.array([[X[1], X[0], 0, 0, 0, 0], [0, 0, 2 * X[2], 0, 0, 0]]),
    ),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SHIM_CASES))
def test_autograd_shim_keeps_derivatives(name, dtype):
    """Each standard spelling the shim maps must give autograd's derivative in reverse (jacobian) and
    forward (make_jvp) mode, in the dtype it was given: anp.concat has no JVP, anp.matrix_transpose,
    anp.vecdot and anp.cumulative_sum have no derivative, anp.max/min's promote float32 to float64,
    anp.take has neither a VJP nor a JVP (the shim indexes with the integer array instead), and stack is
    one primitive (anp.array) instead of anp.stack's chain."""
    autograd = pytest.importorskip("autograd")
    from adbench.xp import namespace

    xp = namespace("autograd")
    f, expected = SHIM_CASES[name]
    x = X.astype(dtype)
    np.testing.assert_allclose(f(x, xp), f(X, np), rtol=1e-6)  # the same values as NumPy's own names
    reverse = autograd.jacobian(lambda v: f(v, xp))(x)
    forward = np.stack([autograd.make_jvp(lambda v: f(v, xp))(x)(e)[1] for e in np.eye(6, dtype=dtype)], axis=-1)
    for J in (reverse, forward):
        assert J.dtype == np.dtype(dtype)
        np.testing.assert_allclose(J, expected, rtol=1e-6, atol=1e-7)


def test_autograd_shim_max_shares_ties_and_second_order():
    """Tied maxima share the derivative equally, as autograd's own max; the derivatives differentiate again."""
    autograd = pytest.importorskip("autograd")
    from adbench.xp import namespace

    xp = namespace("autograd")
    tied = np.array([1.0, 3.0, 3.0, 2.0])
    np.testing.assert_allclose(autograd.grad(lambda v: xp.max(v))(tied), [0, 0.5, 0.5, 0])
    f = lambda v: xp.sum(xp.max(xp.reshape(v, (2, 3)), axis=0) ** 3)  # noqa: E731
    H = autograd.hessian(f)(X)
    forward_over_reverse = np.stack([autograd.make_jvp(autograd.grad(f))(X)(e)[1] for e in np.eye(6)])
    winners = np.where(M[0] >= M[1], [0, 1, 2], [3, 4, 5])
    expected = np.zeros((6, 6))
    expected[winners, winners] = 6 * X[winners]
    np.testing.assert_allclose(H, expected)
    np.testing.assert_allclose(forward_over_reverse, expected)


def test_autograd_grad_flows_through_concat():
    autograd = pytest.importorskip("autograd")
    from adbench.xp import namespace

    xp = namespace("autograd")
    g = autograd.grad(lambda v: xp.sum(xp.concat([v, 3.0 * v]) ** 2))(X)
    np.testing.assert_allclose(g, 20 * X)
