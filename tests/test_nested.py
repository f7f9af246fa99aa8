"""Functions that differentiate inside themselves: the ``ad`` contract, the control-flow services, gradbench's
particle and saddle through every backend and composition, and the perturbation-confusion gate.

Every backend and composition runs the problems at their lighter constants (``Problem.extra["light"]``:
35-step paths, a shorter ramp of the step size), because eager frameworks take tens of seconds at
gradbench's own workload; JAX (jit) also runs gradbench's workload, against gradbench's published results.
jax-eager (JAX's op-by-op dispatch: 7-48 s per light case here) runs the user function and the
perturbation probe only.
"""

from __future__ import annotations

import numpy as np
import pytest

import adbench
from adbench.backends import COMPOSITIONS, NESTED, backend_names, get_backend
from adbench.problems import get_problem
from adbench.services import AD, CENTRAL_AD, Level, python_cond, python_while_loop

from conftest import require_backend

NESTED_CASES = [(b, m) for b in backend_names() for m in get_backend(b).modes_for(NESTED)]
IDS = [f"{b}-{m}" for b, m in NESTED_CASES]


# -- the contract, with a user's function --------------------------------------------------------------
def sensitivity(x, xp, ad=CENTRAL_AD):
    """d/dtheta |grad_z U(z; theta)|^2 at z = x, theta = 1, for U = theta sum(z sin z): the outer level
    differentiates a function that takes a gradient with the inner level (README's example)."""
    def slope(theta):
        def potential(z):
            return xp.sum(theta[0] * (z * xp.sin(z)))

        g = ad.inner.grad(potential)(x)
        return xp.sum(g * g)

    return ad.outer.grad(slope)(xp.ones_like(x[:1]))


def sensitivity_by_hand(x):
    g = x * np.cos(x) + np.sin(x)  # grad_z U at theta = 1; |grad U|^2 = theta^2 sum g^2
    return np.array([2 * np.sum(g * g)])


@pytest.mark.parametrize("backend,mode", NESTED_CASES, ids=IDS)
def test_user_function_differentiates_inside_itself(backend, mode):
    require_backend(backend)
    if backend == "manual":
        with pytest.raises(ValueError, match="no hand-written nested computation"):
            adbench.nested(sensitivity, np.ones(3), backend=backend)
        return
    x = np.linspace(-0.7, 1.2, 4)
    got = adbench.nested(sensitivity, x, backend=backend, mode=mode, dtype="float64")
    tol = 1e-5 if backend == "finite-diff" else 1e-12  # differences of differences: ~eps^(1/3)
    np.testing.assert_allclose(got, sensitivity_by_hand(x), rtol=tol)


def test_a_composition_reads_outer_over_inner():
    ad = get_backend("autograd").ad("forward-over-reverse")
    assert isinstance(ad, AD) and (ad.outer.mode, ad.inner.mode) == ("forward", "reverse")
    assert ad.mode == "forward-over-reverse"
    assert CENTRAL_AD.mode == "central-over-central"


def test_only_nested_functions_take_nested_and_they_take_nothing_else():
    with pytest.raises(ValueError, match="'loss' does not"):
        adbench.nested("loss", np.ones(3), backend="jax", mode="reverse-over-reverse")
    with pytest.raises(ValueError, match="its operation is nested, not jacobian"):
        adbench.jacobian("particle", np.zeros(1), backend="jax", mode="reverse")
    with pytest.raises(ValueError, match="unknown composition for nested on backend 'torch-autograd'"):
        adbench.nested("particle", np.zeros(1), backend="torch-autograd", mode="forward-over-reverse")


def test_torch_compile_refuses_nested_by_name():
    with pytest.raises(ValueError, match="torch.compile\\(fullgraph=True\\) cannot compile the data-dependent"):
        adbench.nested("particle", np.zeros(1), backend="torch-compile", mode="reverse-over-reverse")
    reason = get_backend("torch-compile").supports(get_problem("saddle"), NESTED, "reverse-over-reverse")
    assert reason.startswith("backend 'torch-compile' does not run nested: ")


def test_grid_gives_nested_problems_their_one_operation():
    from adbench.compare import build_grid

    specs = build_grid(["particle", "loss"], ["jax", "manual"], sizes=None)
    assert {(s.problem, s.operation) for s in specs} == {("particle", NESTED), ("loss", "jacobian"), ("loss", "hvp")}
    assert {s.mode for s in specs if s.problem == "particle"} == set(COMPOSITIONS) | {"manual"}
    plain = {s.problem for s in build_grid(backends=["manual"])}
    assert not plain & {"particle", "saddle", "llsq", "lse", "det", "kmeans"}, "not in the default run's minute"
    assert {"particle", "saddle", "llsq"} <= {s.problem for s in build_grid(backends=["manual"], full=True)}


# -- the control-flow services ------------------------------------------------------------------------
def test_python_while_loop_and_cond():
    assert python_while_loop(lambda c: c < 5, lambda c: c + 1, 0) == 5
    assert python_while_loop(lambda c: c < 5, lambda c: c + 1, 0, max_steps=5) == 5
    with pytest.raises(RuntimeError, match="ran past its bound max_steps=4"):
        python_while_loop(lambda c: c < 5, lambda c: c + 1, 0, max_steps=4)
    assert python_cond(np.asarray(True), lambda o: o + 1, lambda o: o - 1, 1) == 2
    assert python_cond(np.asarray(False), lambda o: o + 1, lambda o: o - 1, 1) == 0


def test_jax_bounded_loop_skips_finished_steps_and_reverse_differentiates():
    """The bounded loop (a scan of blocks behind lax.cond) matches lax.while_loop, and jax.grad goes through
    it, as it cannot through lax.while_loop."""
    require_backend("jax")
    import jax
    import jax.numpy as jnp

    from adbench.backends.jax_backend import jax_while_loop

    jax.config.update("jax_enable_x64", True)

    def halvings(a, max_steps):  # halve z until it is below 1: a data-dependent trip count
        return jax_while_loop(lambda c: c[0] >= 1.0, lambda c: (c[0] / 2, c[1] * a), (a * 10, a), max_steps)[1]

    for a in (0.7, 1.3, 4.0):
        unbounded, bounded = halvings(jnp.asarray(a), None), halvings(jnp.asarray(a), 50)
        assert float(unbounded) == float(bounded)
    steps = int(np.ceil(np.log2(13.0)))  # 13 halves 4 times to below 1
    assert float(jax.grad(lambda a: halvings(a, 50))(jnp.asarray(1.3))) == pytest.approx((steps + 1) * 1.3 ** steps)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for lax.while_loop"):
        jax.grad(lambda a: halvings(a, None))(jnp.asarray(1.3))
    assert float(halvings(jnp.asarray(1.3), 2)) != float(halvings(jnp.asarray(1.3), None)), \
        "cut at its bound (the gate then calls the result wrong)"


# -- particle and saddle --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["particle", "saddle"])
def test_references_reproduce_gradbench(name):
    """The hand-written float64 references give gradbench's validated outputs (evals/particle: the final w;
    evals/saddle: each of the four) to rounding."""
    problem = get_problem(name)
    x = problem.inputs(problem.sizes[0])
    got = problem.reference_nested(x, **problem.constants(x))
    np.testing.assert_allclose(got, problem.extra["gradbench_expected"], rtol=1e-13)


def test_particle_reference_derivative_matches_differences():
    from adbench.problems.particle import _miss_and_derivative

    for w in (0.0, 0.1, 0.2071):
        h = 1e-6
        fd = (_miss_and_derivative(w + h, np.float64)[0] - _miss_and_derivative(w - h, np.float64)[0]) / (2 * h)
        assert _miss_and_derivative(w, np.float64)[1] == pytest.approx(fd, rel=1e-6)


def test_saddle_outer_gradient_is_df_dx_through_the_whole_ascent():
    """The reference's outer gradient is 2x (dy/dx = 0 through the inner ascent): JAX, differentiating the
    unrolled ascent in reverse and in forward mode, finds the same."""
    require_backend("jax")
    import jax
    import jax.numpy as jnp

    from adbench.problems import saddle
    from adbench.problems._descent import argmin

    jax.config.update("jax_enable_x64", True)
    start = jnp.ones(2)
    services = get_backend("jax").services()

    def max_over_y(p1):
        neg = lambda p: -saddle.objective(p1, p)  # noqa: E731
        y = argmin(neg, jax.grad(neg), start, jnp, services["while_loop"], services["cond"], saddle.MAX_INNER_STEPS)
        return saddle.objective(p1, y)

    p1 = jnp.asarray([0.3, -0.8])
    np.testing.assert_array_equal(jax.grad(max_over_y)(p1), 2 * p1)
    np.testing.assert_array_equal(jax.jacfwd(max_over_y)(p1), 2 * p1)


LIGHT_CASES = [(name, b, m) for name in ("particle", "saddle") for b, m in NESTED_CASES if b != "jax-eager"]


@pytest.mark.parametrize("name,backend,mode", LIGHT_CASES, ids=[f"{n}-{b}-{m}" for n, b, m in LIGHT_CASES])
def test_nested_problem_agrees_with_reference(name, backend, mode):
    """float64 on every backend and composition: every framework takes the reference's branches, so the
    final points agree to rounding (1e-8 of their size; finite differences to their own 1e-5)."""
    require_backend(backend)
    problem = get_problem(name)
    x = problem.inputs(problem.sizes[0])
    light = problem.extra["light"]
    got = adbench.nested(name, x, backend=backend, mode=mode, dtype="float64", **light)
    ref = problem.reference_nested(x, **problem.constants(x, **light))
    tol = 1e-5 if backend == "finite-diff" else 1e-8
    assert got.shape == ref.shape == (problem.n_outputs(x.shape[0]),)
    assert np.max(np.abs(got - ref)) <= tol * np.max(np.abs(ref))


# torch.func.jvp promotes a 0-d float32 tensor with a tangent times a Python float to float64 (torch 2.13):
# every composition of torch, whose forward levels would show it, and two of the others.
FLOAT32_CASES = [(name, b, m) for name in ("particle", "saddle") for b in ("jax", "torch", "autograd")
                 for m in (COMPOSITIONS if b == "torch" else ("forward-over-reverse", "reverse-over-reverse"))]


@pytest.mark.parametrize("name,backend,mode", FLOAT32_CASES, ids=[f"{n}-{b}-{m}" for n, b, m in FLOAT32_CASES])
def test_nested_problem_in_float32(name, backend, mode):
    """float32 (a subset) within the gate's float32 tolerance, and computed in float32."""
    require_backend(backend)
    problem = get_problem(name)
    x = problem.inputs(problem.sizes[0])
    light = problem.extra["light"]
    got = adbench.nested(name, x, backend=backend, mode=mode, dtype="float32", **light)
    assert got.dtype == np.float32
    ref = problem.reference_nested(x, **problem.constants(x, **light))
    assert np.max(np.abs(got - ref)) <= 1e-3 * np.max(np.abs(ref))


@pytest.mark.parametrize("mode", COMPOSITIONS)
@pytest.mark.parametrize("name", ["particle", "saddle"])
def test_jax_runs_gradbench_workload(name, mode):
    """gradbench's own inputs and workload under jax.jit, every composition: gradbench's published results."""
    require_backend("jax")
    problem = get_problem(name)
    x = problem.inputs(problem.sizes[0])
    got = adbench.nested(name, x, backend="jax", mode=mode, dtype="float64")
    np.testing.assert_allclose(got, problem.extra["gradbench_expected"], rtol=1e-12)

