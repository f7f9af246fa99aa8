"""The registry's hand-written Jacobians against float64 central differences, and control_loop's edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import adbench
from adbench.backends.numpy_baselines import central_differences
from adbench.problems import get_problem, list_problems
from adbench.problems.seed import loop_count

from conftest import jacobian_shape

# Nested problems have no Jacobian to check: tests/test_nested.py checks their references.
CASES = [(p.name, n) for p in list_problems() if not p.nested
         for n in (p.quick_sizes if p.presets else (1, 7, 60))]


@pytest.mark.parametrize("name,n", CASES, ids=[f"{p}-n{n}" for p, n in CASES])
def test_reference_jacobian_matches_finite_differences(name, n):
    problem = get_problem(name)
    x = problem.inputs(n, seed=3)
    consts = problem.constants(x, seed=3)
    fd = central_differences(lambda v: problem.function(v, np, **consts), x, problem.is_scalar(n))
    ref = problem.reference_jacobian(x, **consts)
    assert ref.shape == fd.shape == jacobian_shape(problem, n)
    # Central differences in float64 carry O(h^2) ~ eps^(2/3) ~ 4e-11 error, times the size of
    # third derivatives (control_loop's nested sin(z^2) has large ones): 1e-6 leaves margin.
    np.testing.assert_allclose(ref, fd, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_inputs_are_deterministic_and_seeded():
    loss = get_problem("loss")
    assert np.array_equal(loss.inputs(50), loss.inputs(50))
    assert not np.array_equal(loss.inputs(50, seed=0), loss.inputs(50, seed=1))
    x = loss.inputs(50)
    assert not np.array_equal(loss.constants(x)["x_star"], x)  # independent streams


@pytest.mark.parametrize(
    "z,k",
    [
        (np.array([0.2, 0.9, -0.3]), 0),  # max < 1: no iteration, f = sum(z)
        (np.array([-3.0, -1.5, -2.0]), 0),  # all negative: range() of a negative count is empty
        (np.array([0.5, 2.7, -1.0]), 2),
        (np.array([0.1, 5.2, 0.3, -4.0]), 5),  # a larger k
    ],
    ids=["k0-below-one", "k0-negative", "k2", "k5"],
)
def test_control_loop_counts_and_gradients(z, k):
    assert loop_count(z) == k
    problem = get_problem("control_loop")
    expected_f = z.copy()
    for _ in range(k):
        expected_f = np.sin(expected_f**2)
    assert problem.function(z, np, k=k) == pytest.approx(expected_f.sum())
    J = adbench.jacobian("control_loop", z, backend="manual")
    fd = central_differences(lambda v: problem.function(v, np, k=k), z, True)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7)
    if k == 0:
        np.testing.assert_array_equal(J, np.ones_like(z))


def test_constants_follow_the_input():
    """control_loop's k is recomputed from the x handed in, not from the registry's default input."""
    problem = get_problem("control_loop")
    assert problem.constants(np.array([0.1, 3.5]))["k"] == 3
    assert problem.constants(np.array([0.1, 3.5]), k=1)["k"] == 1
