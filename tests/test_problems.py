"""The registry's hand-written Jacobians against float64 central differences, and control_loop's edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import adbench
from adbench.backends.numpy_baselines import central_differences
from adbench.problems import get_problem, list_problems
from adbench.problems.seed import loop_count

from conftest import backend_modes, jacobian_shape, require_backend

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


# -- llsq: a value that does not depend on how a compiler rounds ---------------------------------------------------
LLSQ_BACKENDS = sorted({b for b, m in backend_modes("jacobian") if m == "reverse"} - {"manual", "finite-diff"})


def llsq_by_gradbench_grid(x: np.ndarray, n_points: int) -> np.ndarray:
    """The gradient on gradbench's own grid, t_i = -1 + 2i/(N - 1) (its eval README), divided as written: NumPy
    gives exactly 0 at an odd N's midpoint, so this is the function gradbench defines."""
    t = -1.0 + (np.arange(n_points) * 2.0) / (n_points - 1.0)
    T = t[:, None] ** np.arange(x.shape[0])[None, :]
    return -(T.T @ (np.sign(t) - T @ x))


@pytest.mark.parametrize("n_points", [41, 40, 1025])
def test_llsq_grid_is_gradbench_s_with_an_exact_midpoint(n_points):
    """The registry's grid (2i - (N - 1)) / (N - 1) puts exactly 0 at an odd N's midpoint, where sign is 0, and
    elsewhere agrees with gradbench's -1 + 2i/(N - 1) to rounding (no point changes sign)."""
    from adbench.problems.llsq import _grid

    x = get_problem("llsq").inputs(16)
    t, s, _ = _grid(x, np, n_points)
    assert (t == 0).sum() == n_points % 2 and (s == 0).sum() == n_points % 2
    ref = get_problem("llsq").reference_jacobian(x, n_points=n_points)
    np.testing.assert_allclose(ref, llsq_by_gradbench_grid(x, n_points), rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("n_points", [41, 40], ids=["odd-N", "even-N"])
@pytest.mark.parametrize("backend", LLSQ_BACKENDS)
def test_llsq_gradient_is_the_same_on_every_backend(backend, n_points):
    """At odd N too: under jax.jit, -1 + 2i/(N - 1) came out 5.6e-17 at the midpoint (XLA multiplies by the
    reciprocal), sign gave 1, and JAX's gradient was 6.4 % off at N = 41, m = 128 (1.5 % at m = 16). Compiled
    backends (torch.compile, TensorFlow's XLA, mx.compile) run under -m slow."""
    require_backend(backend)
    problem = get_problem("llsq")
    x = problem.inputs(16)
    dtype, tol = ("float32", 1e-5) if backend.startswith("mlx") else ("float64", 1e-12)  # MLX refuses float64
    J = adbench.jacobian("llsq", x, backend=backend, mode="reverse", dtype=dtype, n_points=n_points)
    ref = problem.reference_jacobian(x, n_points=n_points)
    assert float(np.max(np.abs(J - ref)) / np.max(np.abs(ref))) < tol
