"""Every backend x operation x mode x problem agrees with a reference that no AD framework produced.

Jacobians: every registered problem, float32 and float64. JVPs and VJPs: every problem, float64.
HVPs: every scalar problem and every composition a backend offers, float64. Hessians: every
composition on the scalar problems that take small n (loss, control_loop); they are symmetric and
H v from ``hvp`` equals ``hessian(x) @ v``. jax-eager (jax's transforms without jit, slow to start
on the larger problems) and tensorflow (whose pfor-vectorised forward passes take seconds to trace
on the unrolled workloads: ode's forward Jacobian 10-17 s) run on basic, loss, control_loop and
tall; tensorflow's workloads are in tests/test_tensorflow_mlx.py. torch-compile compiles each case
(seconds to tens of seconds on a CPU), so it is tested on a representative subset: ``loss``'s
Jacobian in both modes, its HVP forward-over-reverse, and a chunked Jacobian (tests/test_variants.py);
tensorflow-xla and mlx-compile likewise (tests/test_tensorflow_mlx.py). MLX refuses float64 (its
CPU sin, cos and exp are float32-accurate), so its cases run in float32 and its float64 refusal is
tested instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backend_modes, jacobian_shape, require_backend

import adbench
from adbench.backends import NESTED, SECOND_ORDER, SPARSE, backend_names, get_backend
from adbench.backends.numpy_baselines import central_differences
from adbench.engine.cases import direction
from adbench.problems import get_problem, list_problems

# ba, ht and ht-complicated: every backend's dense and compressed Jacobians are tests/test_sparse.py's (their
# reverse Jacobians take hundreds of passes; there they run at reduced sizes). Nested: tests/test_nested.py.
PROBLEMS = [p for p in list_problems() if p.builtin and p.sparsity is None and not p.nested]
# The smallest size of each problem; Hessians only where n^2 forward passes stay cheap.
SMALL = {p.name: min(p.sizes) if p.presets else 5 for p in PROBLEMS}
SCALAR = [p.name for p in PROBLEMS if p.is_scalar(SMALL[p.name])]
HESSIAN_MAX_N = 8  # Hessians on the problems with a closed form (loss, control_loop at n = 5)

# Tolerances relative to max|reference|. float64: a few thousand ulps times the depth of the
# computation (lstm's recurrence, gmm's logsumexp; observed ~1e-15). float32 (eps 1.2e-7): at these
# small sizes the AD backends stay within 1e-6 (gmm, lstm, mlp, ode: 2e-8 ... 9.6e-7) and
# control_loop's repeated sin(z^2) amplifies rounding to ~1e-5: 2e-5. Finite differences are
# approximate by construction: ~eps^(2/3) (5e-11 in float64, 2.5e-5 in float32) times third
# derivatives, which control_loop and lstm make large (observed 1.4e-3 in float32, 1.7e-9 in float64).
TOLERANCE = {("float64", False): 1e-8, ("float32", False): 2e-5, ("float64", True): 1e-5, ("float32", True): 5e-2}
SLOW = {"torch-compile", "tensorflow-xla", "mlx-compile"}  # see the module docstring
# jax-eager runs jax's very transforms without jit, and each of its first calls compiles every
# primitive anew (2-6 s per case on gmm, lstm, mlp); tensorflow traces each case, pfor-vectorised
# forward passes for seconds: both are tested on the cheap problems.
CHEAP_PROBLEMS = ("basic", "loss", "control_loop", "tall")
SCOPED = {"jax-eager": CHEAP_PROBLEMS, "tensorflow": CHEAP_PROBLEMS}
# Backends that refuse float64 (MLX: see adbench/backends/mlx_backend.py): their cases run in float32.
FLOAT32_ONLY = {"mlx"}


def error(result: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(result - reference)) / np.max(np.abs(reference)))


def inputs(problem: str):
    prob = get_problem(problem)
    n = SMALL[problem]
    x = prob.inputs(n, seed=1)
    return prob, x, prob.constants(x, seed=1)


def reference_hessian(prob, x, consts) -> np.ndarray:
    """Closed form where the problem has one, else central differences of the hand-written gradient."""
    H = prob.reference_hessian(x, **consts)
    if H is None:
        H = central_differences(lambda v: prob.reference_jacobian(v, **consts), x, False)
    return H


def modes_of(operation: str) -> list[tuple[str, str]]:
    return [(b, m) for b, m in backend_modes(operation) if b not in SLOW]


def in_scope(backend: str, problem: str) -> bool:
    return problem in SCOPED.get(backend, [p.name for p in PROBLEMS])


def precision(backend: str) -> str:
    """The dtype a backend's JVP, VJP, HVP and Hessian cases run in: float64 where it computes float64."""
    return "float32" if backend in FLOAT32_ONLY else "float64"


def dtypes(backend: str) -> tuple[str, ...]:
    return ("float32",) if backend in FLOAT32_ONLY else ("float32", "float64")


JACOBIAN_CASES = [
    (b, m, p.name, dtype)
    for b, m in modes_of("jacobian")
    for p in PROBLEMS
    for dtype in dtypes(b)
    if in_scope(b, p.name)
]


@pytest.mark.parametrize("backend,mode,problem,dtype", JACOBIAN_CASES, ids=["-".join(c) for c in JACOBIAN_CASES])
def test_jacobian_agrees_with_reference(backend, mode, problem, dtype):
    require_backend(backend)
    prob, x, consts = inputs(problem)
    J = adbench.jacobian(problem, x.astype(dtype), backend=backend, mode=mode, **consts)
    ref = prob.reference_jacobian(x, **consts)
    assert isinstance(J, np.ndarray)
    assert J.shape == jacobian_shape(prob, x.shape[0])
    assert J.dtype == np.dtype(dtype), "the requested precision must be the one computed"
    tol = TOLERANCE[(dtype, backend == "finite-diff")]
    assert error(J, ref) <= tol, f"max relative error {error(J, ref):.2e} > {tol:.0e}"


FIRST_ORDER_CASES = [
    (op, b, m, p.name) for op in ("jvp", "vjp") for b, m in modes_of(op) for p in PROBLEMS if in_scope(b, p.name)
]


@pytest.mark.parametrize(
    "operation,backend,mode,problem", FIRST_ORDER_CASES, ids=["-".join(c) for c in FIRST_ORDER_CASES]
)
def test_jvp_and_vjp_agree_with_reference(operation, backend, mode, problem):
    require_backend(backend)
    prob, x, consts = inputs(problem)
    n, m = x.shape[0], prob.n_outputs(x.shape[0])
    J = prob.reference_jacobian(x, **consts)
    d = direction(prob, operation, n, m, seed=1)
    dtype = precision(backend)
    if operation == "jvp":
        got = adbench.jvp(problem, x, d.v, backend=backend, mode=mode, dtype=dtype, **consts)
        ref = J @ d.v
    else:
        got = adbench.vjp(problem, x, d.u, backend=backend, mode=mode, dtype=dtype, **consts)
        ref = d.u * J if J.ndim == 1 else d.u @ J
    assert np.shape(got) == np.shape(ref)
    assert np.asarray(got).dtype == np.dtype(dtype)
    tol = TOLERANCE[(dtype, backend == "finite-diff")]
    assert error(np.asarray(got), ref) <= tol


HVP_CASES = [(b, m, p) for b, m in modes_of("hvp") for p in SCALAR if in_scope(b, p)]
# Found by these tests: MLX 0.32 cannot differentiate the JVP of max with an axis again (it tries the
# derivative with respect to the gather's indices), so reverse-over-forward and forward-over-forward
# fail on the problems with a log-sum-exp (gmm, mlp). They turn XPASS when MLX fixes it.
MLX_MAX_SECOND_ORDER = (
    "MLX 0.32: a JVP of max(axis=...) cannot be differentiated again: "
    "[gather_axis] Cannot calculate VJP/JVP with respect to indices"
)
KNOWN_FAILURES = {
    (b, m, p): MLX_MAX_SECOND_ORDER
    for b in ("mlx", "mlx-compile")
    for m in ("reverse-over-forward", "forward-over-forward")
    for p in ("gmm", "mlp", "lse", "kmeans")
}
# det's gradient (its cofactors) scatters, and MLX 0.32 has no JVP of a scatter: forward over reverse fails.
KNOWN_FAILURES[("mlx", "forward-over-reverse", "det")] = "MLX 0.32: [scatter] JVP not yet implemented"


def with_known_failures(cases):
    return [
        pytest.param(
            *c,
            id="-".join(c),
            marks=[pytest.mark.xfail(reason=KNOWN_FAILURES[c], raises=(ValueError, RuntimeError), strict=False)]
            if c in KNOWN_FAILURES
            else [],
        )
        for c in cases
    ]


@pytest.mark.parametrize("backend,mode,problem", with_known_failures(HVP_CASES))
def test_hvp_agrees_with_reference(backend, mode, problem):
    require_backend(backend)
    prob, x, consts = inputs(problem)
    if backend == "manual" and prob.manual_hessian is None:
        pytest.skip(f"{problem} has no hand-written Hessian")
    v = direction(prob, "hvp", x.shape[0], 1, seed=1).v
    dtype = precision(backend)
    got = adbench.hvp(problem, x, v, backend=backend, mode=mode, dtype=dtype, **consts)
    ref = reference_hessian(prob, x, consts) @ v
    # A differenced reference (no closed-form Hessian) is good to ~1e-8 of its largest entry.
    tol = max(TOLERANCE[(dtype, backend == "finite-diff")], 0 if prob.manual_hessian else 1e-6)
    assert got.shape == (x.shape[0],)
    assert error(got, ref) <= tol, f"{error(got, ref):.2e} > {tol:.0e}"


HESSIAN_CASES = [
    (b, m, p) for b, m in modes_of("hessian") for p in SCALAR if SMALL[p] <= HESSIAN_MAX_N and in_scope(b, p)
]


@pytest.mark.parametrize("backend,mode,problem", with_known_failures(HESSIAN_CASES))
def test_hessian_agrees_is_symmetric_and_matches_hvp(backend, mode, problem):
    require_backend(backend)
    prob, x, consts = inputs(problem)
    if backend == "manual" and prob.manual_hessian is None:
        pytest.skip(f"{problem} has no hand-written Hessian")
    dtype = precision(backend)
    H = adbench.hessian(problem, x, backend=backend, mode=mode, dtype=dtype, **consts)
    n = x.shape[0]
    assert H.shape == (n, n)
    tol = max(TOLERANCE[(dtype, backend == "finite-diff")], 0 if prob.manual_hessian else 1e-6)
    assert error(H, reference_hessian(prob, x, consts)) <= tol
    # float32: the two halves come from different passes, each rounded (~10 ulps of the largest entry).
    sym = 1e-5 if backend == "finite-diff" or dtype == "float32" else 1e-10
    assert error(H, H.T) <= sym, "a Hessian is symmetric"
    if "hvp" in get_backend(backend).operations and mode in get_backend(backend).modes_for("hvp"):
        v = direction(prob, "hvp", n, 1, seed=1).v
        Hv = adbench.hvp(problem, x, v, backend=backend, mode=mode, dtype=dtype, **consts)
        close = 1e-9 if dtype == "float64" else 1e-5  # float32: H v and H @ v round differently
        np.testing.assert_allclose(Hv, H @ v, rtol=close, atol=close * np.abs(H @ v).max())


def user_function(x, xp):
    """A user's own f(x, xp): R^n -> R^2, inside the array API standard."""
    return xp.stack([xp.sum(xp.tanh(x) * x), xp.prod(xp.cos(x))])


def user_jacobian(x):
    t = np.tanh(x)
    row0 = t + x * (1 - t**2)
    row1 = -np.sin(x) * np.array([np.prod(np.cos(np.delete(x, i))) for i in range(x.size)])
    return np.stack([row0, row1])


USER_CASES = [(b, m) for b, m in modes_of("jacobian") if b != "manual"]


@pytest.mark.parametrize("backend,mode", USER_CASES, ids=[f"{b}-{m}" for b, m in USER_CASES])
def test_user_function_through_every_backend(backend, mode):
    require_backend(backend)
    x = np.linspace(-0.8, 1.1, 6)
    dtype = precision(backend)
    J = adbench.jacobian(user_function, x, backend=backend, mode=mode, dtype=dtype)
    tol = 1e-6 if backend == "finite-diff" else 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(J, user_jacobian(x), rtol=tol, atol=tol)


def test_manual_backend_refuses_user_function_with_reason():
    with pytest.raises(ValueError, match="no hand-written Jacobian"):
        adbench.jacobian(user_function, np.ones(3), backend="manual")


@pytest.mark.parametrize("backend", ["jax", "jax-eager"])
def test_jax_float32_stays_float32_after_float64(backend):
    """x64 is a process-wide switch in JAX; float32 cases run after it must stay float32."""
    require_backend(backend)
    x = np.linspace(0.1, 1, 5)
    assert adbench.jacobian("loss", x, backend=backend, mode="reverse", dtype="float64").dtype == np.float64
    assert adbench.jacobian("loss", x, backend=backend, mode="reverse", dtype="float32").dtype == np.float32


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: adbench.hvp("tall", np.ones(3), np.ones(3), backend="jax", mode="forward-over-reverse"),
            "hvp needs a scalar-valued problem; 'tall' returns a vector",
        ),
        (
            lambda: adbench.hessian("loss", np.ones(3), backend="torch-autograd", mode="forward-over-reverse"),
            "unknown composition for hessian on backend 'torch-autograd' 'forward-over-reverse'; "
            "valid choices: reverse-over-reverse",
        ),
        (
            lambda: adbench.hvp("loss", np.ones(3), np.ones(3), backend="jax"),
            "needs a mode for hvp: one of forward-over-reverse, reverse-over-reverse, reverse-over-forward, "
            "forward-over-forward",
        ),
        (lambda: adbench.jvp("loss", np.ones(3), np.ones(4), backend="jax"), r"v must have shape \(3,\)"),
        (
            lambda: adbench.hvp("loss", np.ones(3), np.ones(3), backend="manual", mode="sideways"),
            "valid choices: manual",
        ),
    ],
    ids=["vector-output", "missing-composition", "needs-composition", "v-shape", "baseline-mode"],
)
def test_second_order_refusals_name_the_valid_choices(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the call each case times ------------------------------------------------------------------------
LABEL_CASES = [
    (b, op, m) for b in backend_names() for op in get_backend(b).operations for m in get_backend(b).modes_for(op)
]


@pytest.mark.parametrize("backend,operation,mode", LABEL_CASES, ids=["-".join(c) for c in LABEL_CASES])
def test_every_case_names_the_call_it_times(backend, operation, mode):
    """Every backend x operation x mode names its call (the record's `call`, the asv docstrings), statically
    for scalar and vector f, and the prepared case carries the same name (the manual HVP names the
    problem's own H v where it has one: loss's, which never forms H)."""
    be = get_backend(backend)
    # A sparse Jacobian needs a declared pattern: ba's (a vector f) is the smallest; nested, a function that
    # differentiates inside itself: particle's (its label does not depend on the output's shape).
    shapes = [True] if operation in SECOND_ORDER else [False] if operation in (SPARSE, NESTED) else [True, False]
    for scalar in shapes:
        assert be.call_label(operation, mode, scalar).strip(), f"no label for scalar={scalar}"
    require_backend(backend)
    for scalar in shapes:
        problem = get_problem("loss" if scalar else {SPARSE: "ba", NESTED: "particle"}.get(operation, "tall"))
        size = min(problem.sizes) if problem.presets else 3
        x = problem.inputs(size)
        d = direction(problem, operation, size, problem.n_outputs(size), seed=0)
        dtype = "float32" if be.framework == "mlx" else "float64"  # MLX refuses float64 (mlx_backend.float64_shortfall)
        case = be.prepare(problem, x, operation, mode, dtype, problem.constants(x), d)
        if (backend, operation) == ("manual", "hvp"):
            assert case.label == "hand-written NumPy Hessian-vector product"
        else:
            assert case.label == be.call_label(operation, mode, scalar)


# A scalar f's reverse-mode Jacobian is timed through the framework's gradient transform.
GRADIENT_CALLS = {
    "jax": "jax.jit(jax.grad(f))",
    "jax-eager": "jax.grad(f)",
    "torch": "torch.func.grad(f)",
    "torch-autograd": "torch.autograd.grad(f(x), x)",
    "torch-compile": "torch.compile(torch.func.grad(f), ",
    "autograd": "autograd.grad(f)",
    "tensorflow": "tf.function(tape.gradient(f))",
    "tensorflow-xla": "tf.function(tape.gradient(f), jit_compile=True)",
    "mlx": "mx.grad(f)",
    "mlx-compile": "mx.compile(mx.grad(f))",
}


@pytest.mark.parametrize("backend", list(GRADIENT_CALLS))
def test_scalar_reverse_jacobian_is_the_gradient(backend):
    be = get_backend(backend)
    assert be.call_label("jacobian", "reverse", True).startswith(GRADIENT_CALLS[backend])
    assert "grad(f)" not in be.call_label("jacobian", "reverse", False) or backend == "torch-autograd"
    assert "gradient(f)" not in be.call_label("jacobian", "reverse", False) or backend == "torch-autograd"
    for composition in ("forward-over-reverse", "reverse-over-reverse"):
        if composition in be.modes_for("hessian") and backend != "torch-autograd":
            label = be.call_label("hessian", composition, True)
            assert "grad(f)" in label or "tape.gradient(f)" in label, "second order composes over grad"


# torch.func's forward mode promotes a 0-d float32 value's tangent to float64 where it meets a Python float
# (pytorch/pytorch#90065); the adapter casts scalar results back. JAX is checked more strictly, on its
# traced programs (tests/test_precision.py).
FLOAT32_CASES = [
    (b, op, m, p)
    for b in ("torch", "torch-autograd", "autograd")
    for op in ("jvp", "hvp")
    for m in get_backend(b).modes_for(op)
    for p in SCALAR
]


@pytest.mark.parametrize("backend,operation,mode,problem", FLOAT32_CASES, ids=["-".join(c) for c in FLOAT32_CASES])
def test_float32_stays_float32_in_every_direction(backend, operation, mode, problem):
    require_backend(backend)
    prob, x, consts = inputs(problem)
    v = direction(prob, "jvp", x.shape[0], 1, seed=1).v
    out = getattr(adbench, operation)(problem, x.astype("float32"), v, backend=backend, mode=mode, **consts)
    assert np.asarray(out).dtype == np.float32


# -- the [all] install ---------------------------------------------------------------------------------
EXPECT_ALL = "ADBENCH_EXPECT_ALL"  # .ci/run sets it after `pip install -e '.[all]'`


@pytest.mark.parametrize("backend", backend_names())
def test_the_all_install_brings_every_backend(backend, monkeypatch):
    """Where the README's `pip install -e '.[all]'` ran (CI sets ADBENCH_EXPECT_ALL=1), every backend loads:
    a broken install fails here instead of turning every test of that framework into a skip. A dev machine
    without a framework leaves the variable unset, and its tests skip with their reasons."""
    import os

    if os.environ.get(EXPECT_ALL) != "1":
        pytest.skip(f"{EXPECT_ALL}=1 not set: only an [all] install (CI's) must load every backend")
    from adbench.backends import backend_info

    info = backend_info(backend)
    assert info.available, f"{backend} did not load after the [all] install: {info.reason}"


@pytest.mark.parametrize("name", ["torch-compile", "tensorflow", "tensorflow-xla", "mlx-compile", "jax", "jax-eager"])
def test_a_framework_that_traces_or_compiles_first_is_calibrated(name):
    # A first call that traces or compiles says nothing of the next call's cost: such a backend must not let
    # it stand for the calibration (engine.cases.first_build), or its visits would be planned without warm-up.
    from adbench.backends import get_backend

    assert not get_backend(name).first_call_is_steady
