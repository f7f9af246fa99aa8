"""gradbench's llsq, lse, det and kmeans beyond the agreement every problem gets in test_backends.py:
their formulations against independent computations, lse at ties (what each framework's max gives),
and kmeans' Newton direction from the gradient and the ones-HVP."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import require_backend, require_float64

import adbench
from adbench.backends import backend_names, get_backend
from adbench.backends.numpy_baselines import central_differences
from adbench.problems import get_problem

# The AD backends' Jacobian modes; torch-compile compiles each case (seconds): tested on the tie only.
AD_CASES = [
    (b, m) for b in backend_names() if not get_backend(b).baseline for m in get_backend(b).modes_for("jacobian")
]
AD_IDS = [f"{b}-{m}" for b, m in AD_CASES]


# -- llsq ----------------------------------------------------------------------------------------------
def test_llsq_is_cmpads_sum_written_out():
    """The vectorised formulation against the sum as cmpad writes it: a loop over i and powers t_i^j."""
    x = get_problem("llsq").inputs(6, seed=2)
    n_points = 11  # odd: t_5 = 0 exactly, where sign is 0
    total = 0.0
    for i in range(n_points):
        t = -1 + i * 2 / (n_points - 1)
        residual = float(np.sign(t)) - sum(x[j] * t**j for j in range(x.shape[0]))
        total += residual * residual
    assert get_problem("llsq").function(x, np, n_points=n_points) == pytest.approx(total / 2, rel=1e-13)


def test_llsq_takes_n_points_as_a_constant():
    x = get_problem("llsq").inputs(5)
    J = adbench.jacobian("llsq", x, backend="manual", n_points=64)
    assert not np.allclose(J, adbench.jacobian("llsq", x, backend="manual"))
    with pytest.raises(ValueError, match="n_points >= 2"):
        get_problem("llsq").function(x, np, n_points=1)


# -- lse -----------------------------------------------------------------------------------------------
TIES = np.array([0.3, 1.0, 1.0, -0.5, 1.0])  # three entries share the max


def max_only(x, xp):
    return xp.max(x)


@pytest.mark.parametrize("backend,mode", AD_CASES, ids=AD_IDS)
def test_lse_at_ties(backend, mode):
    """At a tie every framework here splits max's derivative evenly (1/3 to each of the three tied entries,
    in both modes), and lse's gradient is softmax(x) whatever the split: a's path cancels (README)."""
    require_float64(backend)
    d_max = adbench.jacobian(max_only, TIES, backend=backend, mode=mode, dtype="float64")
    np.testing.assert_allclose(d_max, np.where(TIES == TIES.max(), 1 / 3, 0.0), atol=1e-15)
    if backend == "torch-compile":
        return  # one compile is enough for the convention
    g = adbench.jacobian("lse", TIES, backend=backend, mode=mode, dtype="float64")
    np.testing.assert_allclose(g, np.exp(TIES) / np.exp(TIES).sum(), rtol=1e-14, atol=1e-16)


# -- det -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ell", [1, 2, 3, 4, 5])
def test_det_by_minors_is_the_determinant(ell):
    A = np.random.default_rng(ell).random((ell, ell))
    assert get_problem("det").function(A.reshape(-1), np) == pytest.approx(np.linalg.det(A), rel=1e-12, abs=1e-14)


def test_det_counts_its_scalar_operations():
    """work_size follows the recursion: l multiplications, l - 1 additions and l sub-minors per minor."""
    from adbench.problems.det import _operations

    assert [_operations(ell) for ell in range(1, 6)] == [0, 3, 14, 63, 324]
    assert _operations(7) == pytest.approx(math.e * math.factorial(7), rel=0.01), "about e l! operations"


@pytest.mark.parametrize("ell", [2, 3, 4])
def test_det_hessian_matches_differences_of_the_cofactors(ell):
    x = (
        get_problem("det").inputs(ell * ell, seed=ell)
        if ell * ell in get_problem("det").presets
        else np.random.default_rng(ell).random(ell * ell)
    )
    problem = get_problem("det")
    H = problem.manual_hessian(x)
    fd = central_differences(problem.manual_jacobian, x, False)
    np.testing.assert_allclose(H, fd, atol=1e-8)
    assert np.array_equal(H, H.T)


def test_det_rejects_a_size_that_is_no_square():
    with pytest.raises(ValueError, match="n = 20 is not the size of a square matrix"):
        get_problem("det").function(np.ones(20), np)


# -- kmeans --------------------------------------------------------------------------------------------
def test_kmeans_cost_is_gradbenchs_sum_of_nearest_squared_distances():
    problem = get_problem("kmeans")
    x = problem.inputs(80, seed=5)
    points = problem.constants(x, seed=5)["points"]
    C = x.reshape(10, 8)
    direct = sum(min(np.sum((c - p) ** 2) for c in C) for p in points)
    assert problem.function(x, np, points=points) == pytest.approx(direct, rel=1e-10)
    np.testing.assert_array_equal(points[-10:], C)  # gradbench starts from the last k points
    assert np.all(np.bincount(np.argmin(((points[:, None] - C[None]) ** 2).sum(-1), 1), minlength=10) >= 1), (
        "every centroid has a point (gradbench's guarantee), so H is invertible"
    )


KMEANS_CASES = [(b, m) for b in ("jax", "torch", "torch-autograd", "autograd") for m in get_backend(b).modes_for("hvp")]


@pytest.mark.parametrize("backend,mode", KMEANS_CASES, ids=[f"{b}-{m}" for b, m in KMEANS_CASES])
def test_kmeans_dir_from_the_gradient_and_the_ones_hvp(backend, mode):
    """gradbench's dir = J H^-1 with H diagonal: H 1 (the HVP the cases time) is the diagonal 2 n_j, and
    gradient / (H 1) is the Newton direction computed by hand."""
    require_backend(backend)
    from adbench.engine.cases import direction
    from adbench.problems.kmeans import newton_direction

    problem = get_problem("kmeans")
    x = problem.inputs(80, seed=1)
    consts = problem.constants(x, seed=1)
    v = direction(problem, "hvp", 80, 1, seed=1).v
    np.testing.assert_array_equal(v, np.ones(80))
    diagonal = adbench.hvp("kmeans", x, v, backend=backend, mode=mode, dtype="float64", **consts)
    np.testing.assert_allclose(diagonal, np.diag(problem.manual_hessian(x, **consts)), rtol=1e-12)
    reverse = "reverse" if "reverse" in get_backend(backend).modes_for("jacobian") else None
    gradient = adbench.jacobian("kmeans", x, backend=backend, mode=reverse, dtype="float64", **consts)
    points = consts["points"]
    C = x.reshape(10, 8)
    nearest = np.argmin(((points[:, None] - C[None]) ** 2).sum(-1), axis=1)
    by_hand = np.concatenate([(C[j] - points[nearest == j].mean(0)) for j in range(10)])  # Newton: C_j - mean
    np.testing.assert_allclose(newton_direction(gradient, diagonal), by_hand, rtol=1e-10, atol=1e-12)


def test_kmeans_presets_are_gradbench_shapes():
    from adbench.problems.kmeans import SHAPES

    for n, (k, d, N) in SHAPES.items():
        assert n == k * d and k in (10, 100, 1000) and d in (8, 16) and N in (1000, 10_000, 100_000)
    assert len(set(itertools.chain(SHAPES))) == len(SHAPES)
