"""Functions that differentiate inside themselves: the ``ad`` contract, the control-flow services, gradbench's
particle and saddle through every backend and composition, and the perturbation-confusion gate.

Every backend and composition runs the problems at their lighter constants (``Problem.extra["light"]``:
35-step paths, a shorter ramp of the step size), because eager frameworks take tens of seconds at
gradbench's own workload; JAX (jit) also runs gradbench's workload, against gradbench's published results.
jax-eager (JAX's op-by-op dispatch: 7-48 s per light case here) runs the user function and the
perturbation probe only; tensorflow-xla runs the light problems in reverse-over-reverse only. MLX runs in
float32 (it refuses float64), its particle cases as expected failures (MLX_LOOP_GRADIENT).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_backend

import adbench
from adbench.backends import COMPOSITIONS, NESTED, backend_names, get_backend
from adbench.problems import get_problem
from adbench.services import AD, CENTRAL_AD, Level, python_cond, python_while_loop

NESTED_CASES = [(b, m) for b in backend_names() for m in get_backend(b).modes_for(NESTED)]
IDS = [f"{b}-{m}" for b, m in NESTED_CASES]


def float64_or_32(backend: str) -> str:
    """float64, except on MLX, which refuses it (its float64 sin, cos and exp are float32-accurate)."""
    return "float32" if get_backend(backend).framework == "mlx" else "float64"


# MLX 0.32 differentiates a Python loop wrongly when the loop evaluates an array (its condition) that depends
# on an inner mx.grad: the outer gradient of particle's miss comes back 0 (a 3-step Euler path with mx.eval
# after each step: 0 against -0.008 without the evaluations), so the descent never moves. The gate calls
# those results wrong; saddle's outer gradient never flows through its ascent's loop (dy/dx = 0), so it is right.
MLX_LOOP_GRADIENT = "MLX 0.32: mx.grad through a Python loop that evaluates an array depending on an inner mx.grad"


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
    dtype = float64_or_32(backend)
    got = adbench.nested(sensitivity, x, backend=backend, mode=mode, dtype=dtype)
    # differences of differences: ~eps^(1/3); float32 (MLX): a few eps of the result
    tol = 1e-5 if backend == "finite-diff" else 1e-12 if dtype == "float64" else 1e-5
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
    assert float(jax.grad(lambda a: halvings(a, 50))(jnp.asarray(1.3))) == pytest.approx((steps + 1) * 1.3**steps)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for lax.while_loop"):
        jax.grad(lambda a: halvings(a, None))(jnp.asarray(1.3))
    assert float(halvings(jnp.asarray(1.3), 2)) != float(halvings(jnp.asarray(1.3), None)), (
        "cut at its bound (the gate then calls the result wrong)"
    )


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


# tensorflow-xla: reverse-over-reverse only (XLA compiles saddle's reverse-over-forward for 14 s here).
LIGHT_CASES = [
    (name, b, m)
    for name in ("particle", "saddle")
    for b, m in NESTED_CASES
    if b != "jax-eager" and (b != "tensorflow-xla" or m == "reverse-over-reverse")
]


def _light_param(name, backend, mode):
    marks = [pytest.mark.xfail(reason=MLX_LOOP_GRADIENT, strict=True)] if (name, backend) == ("particle", "mlx") else []
    return pytest.param(name, backend, mode, id=f"{name}-{backend}-{mode}", marks=marks)


@pytest.mark.parametrize("name,backend,mode", [_light_param(*c) for c in LIGHT_CASES])
def test_nested_problem_agrees_with_reference(name, backend, mode):
    """float64 on every backend and composition (MLX: float32): every framework takes the reference's branches,
    so the final points agree to rounding (1e-8 of their size; finite differences to their own 1e-5; float32
    to the gate's 1e-3 of test_nested_problem_in_float32)."""
    require_backend(backend)
    problem = get_problem(name)
    x = problem.inputs(problem.sizes[0])
    light = problem.extra["light"]
    dtype = float64_or_32(backend)
    got = adbench.nested(name, x, backend=backend, mode=mode, dtype=dtype, **light)
    ref = problem.reference_nested(x, **problem.constants(x, **light))
    tol = 1e-5 if backend == "finite-diff" else 1e-8 if dtype == "float64" else 1e-3
    assert got.shape == ref.shape == (problem.n_outputs(x.shape[0]),)
    assert np.max(np.abs(got - ref)) <= tol * np.max(np.abs(ref))


# torch.func.jvp promotes a 0-d float32 tensor with a tangent times a Python float to float64 (torch 2.13):
# every composition of torch, whose forward levels would show it, and two of the others.
FLOAT32_CASES = [
    (name, b, m)
    for name in ("particle", "saddle")
    for b in ("jax", "torch", "autograd")
    for m in (COMPOSITIONS if b == "torch" else ("forward-over-reverse", "reverse-over-reverse"))
]


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


# -- the perturbation-confusion gate --------------------------------------------------------------------
@pytest.mark.parametrize(
    "backend,mode",
    [c for c in NESTED_CASES if c[0] != "manual"],
    ids=[i for c, i in zip(NESTED_CASES, IDS) if c[0] != "manual"],
)
def test_every_nested_backend_keeps_its_levels_apart(backend, mode):
    """d/dx [x (d/dy (x + y))|y=1] at x = 1 is 1 on every backend and composition with nested AD, in both
    precisions (finite differences within their own tolerance)."""
    require_backend(backend)
    from adbench.engine.confusion import confusion

    for dtype in sorted({float64_or_32(backend), "float32"}):
        assert confusion(get_backend(backend), mode, dtype) is None, (backend, mode, dtype)


class _Dual:
    """A value and its tangent, with one tag for every level: Siskind and Pearlmutter's confused AD."""

    def __init__(self, value, tangent):
        self.value, self.tangent = np.asarray(value, float), np.asarray(tangent, float)

    @staticmethod
    def parts(a):
        return (a.value, a.tangent) if isinstance(a, _Dual) else (np.asarray(a, float), 0.0)

    def __add__(self, other):
        (a, da), (b, db) = self.parts(self), self.parts(other)
        return _Dual(a + b, da + db)

    __radd__ = __add__

    def __mul__(self, other):
        (a, da), (b, db) = self.parts(self), self.parts(other)
        return _Dual(a * b, da * b + a * db)

    __rmul__ = __mul__


class _DualNamespace:
    @staticmethod
    def sum(a):
        return _Dual(np.sum(a.value), np.sum(a.tangent)) if isinstance(a, _Dual) else np.sum(a)

    @staticmethod
    def ones_like(a):
        return np.ones_like(_Dual.parts(a)[0])


def _confused_grad(g):
    """Forward mode with one perturbation tag: an inner level's tangent adds to an outer one's."""

    def gradient(z):
        value, tangent = _Dual.parts(z)
        columns = []
        for i in range(value.shape[0]):
            seed = np.eye(value.shape[0])[i]
            columns.append(g(_Dual(value, tangent + seed)).tangent)  # the outer tangent is not kept apart
        return np.stack(columns)

    return gradient


def _confused_backend():
    from adbench.backends._base import Backend, PreparedCase

    class Confused(Backend):
        name = "confused"
        framework = "numpy"
        baseline = False
        operations = {NESTED: ("forward-over-forward",)}

        def load(self, threads=None):
            return np

        def ad_level(self, mode):
            return Level("forward", _confused_grad)

        def prepare(
            self, problem, x, operation, mode, dtype, constants, direction=None, *, chunk_size=None, device="cpu"
        ):
            f = self.bound(problem, mode)
            return PreparedCase(
                call=lambda: np.reshape(np.asarray(f(x, _DualNamespace, **constants)), (-1,)),
                function=None,
                sync=None,
                to_numpy=np.asarray,
                label="confused dual numbers",
            )

    return Confused()


def single_level(x, xp, ad=CENTRAL_AD):
    """2x, from one level of differentiation: even a confused ad gets it right."""
    return ad.outer.grad(lambda z: xp.sum(z * z))(x)


def test_a_confused_ad_is_caught_and_its_nested_cases_are_wrong(monkeypatch):
    from adbench.backends import _BACKENDS
    from adbench.engine.cases import CaseSpec, first_build
    from adbench.engine.confusion import confusion
    from adbench.problems import _registry

    confused = _confused_backend()
    reason = confusion(confused, "forward-over-forward", "float64")
    assert reason is not None and "gave 2 " in reason and "shared perturbation tag" in reason
    # A case whose own result is right (one level: nothing to confuse) is still wrong, with the reason.
    monkeypatch.setitem(_BACKENDS, "confused", confused)
    monkeypatch.setitem(
        _registry._REGISTRY,
        "single-level",
        _registry.problem_from_function(single_level, name="single-level", sizes=(1,)),
    )
    answer, _ = first_build(
        CaseSpec("single-level", 1, "confused", "forward-over-forward", "float64", operation=NESTED)
    )
    assert answer["rel_error"] <= answer["tolerance"], "the case's own result matches its reference"
    assert answer["status"] == "wrong" and answer["error"].startswith("perturbation confusion: ")
    # No f apart from the call: no f first call, and no f samples in its visits (no cost per f call).
    assert "f_first_call_s" in answer and answer["f_first_call_s"] is None and answer["f_per_call_s"] == 0.0
