"""TensorFlow and MLX: their array namespaces against the standard, their derivatives, and what only they do.

tests/test_backends.py runs the agreement matrix on ``tensorflow`` (the cheap problems) and ``mlx``
(every problem, float32). Here: the namespaces (every registered problem against NumPy; each
spelling the shims map against array-api-strict, and derivatives through it), ``tensorflow`` on the
workloads in the modes a plain ``compare`` runs, chunked TensorFlow Jacobians, the representative
subsets of the compiled variants (``tensorflow-xla``, ``mlx-compile``: loss and tall Jacobians in
both modes, loss's HVP over reverse, a workload's gradient), MLX's float64 refusal, the frameworks'
known failures, and one ``compare`` run through the workers (labels, threads, quiet stderr).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import availability, jacobian_shape, require_backend

import adbench
from adbench.backends import get_backend
from adbench.backends.numpy_baselines import central_differences
from adbench.engine.cases import direction
from adbench.engine.results import read_results
from adbench.engine.threads import worker_environment
from adbench.problems import get_problem, list_problems

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = [p.name for p in list_problems() if p.builtin]
FRAMEWORKS = {"tensorflow": "tensorflow", "mlx": "mlx"}  # namespace -> the backend that needs it


def small(problem: str) -> int:
    prob = get_problem(problem)
    return min(prob.presets) if prob.presets else 5


@functools.cache
def shim(framework: str):
    require_backend(FRAMEWORKS[framework])
    from adbench.xp import namespace

    return namespace(framework)


def host(a) -> np.ndarray:
    """A TensorFlow or MLX array (or a tuple's field) as NumPy."""
    return np.asarray(a.numpy() if hasattr(a, "numpy") else np.array(a))


def to_framework(xp, a: np.ndarray, dtype: str):
    return xp.asarray(a, dtype=getattr(xp, dtype)) if a.dtype.kind == "f" else xp.asarray(a)


# -- the namespaces ----------------------------------------------------------------------------------
# MLX's float64 sin, cos and exp are float32-accurate (see mlx_backend.float64_shortfall): its
# problems are compared at float32's accuracy times the depth of the computation.
NAMESPACE_RTOL = {"tensorflow": 1e-12, "mlx": 1e-5}


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
@pytest.mark.parametrize("name", PROBLEMS)
def test_every_problem_evaluates_on_the_namespace(framework, name):
    """As tests/test_array_api.py runs every problem on array-api-strict: here on the namespace a
    backend hands it, with the framework's own arrays, in float64, matching NumPy."""
    xp = shim(framework)
    problem = get_problem(name)
    x = problem.inputs(small(name), seed=4)
    # Nested problems at their light constants (their default ad, central differences, in eager frameworks:
    # MLX took 120 s for saddle at gradbench's workload).
    consts = problem.constants(x, seed=4, **problem.extra.get("light", {}))
    args = {k: to_framework(xp, v, "float64") if isinstance(v, np.ndarray) else v for k, v in consts.items()}
    y = problem.function(to_framework(xp, x, "float64"), xp, **args)
    expected = np.asarray(problem.function(x, np, **consts))
    got = host(y)
    assert got.dtype == np.float64, "float64 in, float64 out"
    assert got.shape == expected.shape
    # MLX's float32-accurate trig meets cancellation in ba's and ht's rotations: an entry near 0 keeps an absolute
    # error of float32's eps times the values' scale (ba: 1.7e-5 on values up to 1.6), not a relative one.
    atol = 1e-4 * np.max(np.abs(expected)) if framework == "mlx" else 0
    np.testing.assert_allclose(got, expected, rtol=NAMESPACE_RTOL[framework], atol=atol)


A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])  # symmetric positive definite
V = np.array([0.3, -1.2, 0.7, 2.0, -0.4, 0.9])
POSITIVE = np.array([0.2, 0.5, 0.7, 0.9, 0.35, 0.1])  # inside (0, 1), for acos, atanh...
STACK = np.arange(24.0).reshape(2, 3, 4) / 7.0

# Every standard name a shim maps (xp.py), and a few the frameworks spell their own way: the same
# call on the shim and on array-api-strict (the standard and nothing else) must agree.
SPELLINGS = {
    "concat": lambda xp, a: xp.concat([a["v"], a["v"][:2]], axis=0),
    "pow": lambda xp, a: xp.pow(a["p"], 1.5),
    "acos, asin, atan": lambda xp, a: xp.stack([xp.acos(a["p"]), xp.asin(a["p"]), xp.atan(a["v"])]),
    "acosh, asinh, atanh": lambda xp, a: xp.stack([xp.acosh(a["p"] + 1.0), xp.asinh(a["v"]), xp.atanh(a["p"])]),
    "atan2": lambda xp, a: xp.atan2(a["v"], a["p"]),
    "hypot": lambda xp, a: xp.hypot(a["v"], a["p"]),
    "astype": lambda xp, a: xp.astype(a["v"], xp.float32),
    "permute_dims": lambda xp, a: xp.permute_dims(a["s"], (2, 0, 1)),
    "matrix_transpose": lambda xp, a: xp.matrix_transpose(a["s"]),
    ".mT": lambda xp, a: a["s"].mT,
    "@ (1-D, 2-D @ 1-D)": lambda xp, a: xp.stack([a["v"][:3] @ a["v"][3:], xp.sum(a["A"] @ a["v"][:3])]),
    "vecdot": lambda xp, a: xp.vecdot(a["s"], a["s"] * 2.0, axis=-2),
    "unstack": lambda xp, a: xp.stack(xp.unstack(a["s"], axis=1), axis=-1),
    "cumulative_sum (include_initial)": lambda xp, a: xp.cumulative_sum(a["s"], axis=2, include_initial=True),
    "cumulative_prod": lambda xp, a: xp.cumulative_prod(a["p"]),
    "clip (one bound)": lambda xp, a: xp.stack([xp.clip(a["v"], min=-0.5), xp.clip(a["v"], max=0.5)]),
    "std, var (correction)": lambda xp, a: xp.stack([xp.std(a["v"], correction=1), xp.var(a["v"], correction=1.0)]),
    "sort (descending)": lambda xp, a: xp.sort(a["s"], axis=1, descending=True),
    "sum, prod (dtype)": lambda xp, a: xp.stack([xp.sum(a["v"], dtype=xp.float64), xp.prod(a["p"], dtype=xp.float64)]),
    "take_along_axis (default axis)": lambda xp, a: xp.take_along_axis(a["A"], xp.asarray([[2, 0], [1, 1], [0, 2]])),
    "max, min (keepdims)": lambda xp, a: (
        xp.max(a["s"], axis=1, keepdims=True) - xp.min(a["s"], axis=(0, 2), keepdims=True)
    ),
    "linalg.solve (vector, matrix)": lambda xp, a: xp.concat(
        [xp.linalg.solve(a["A"], a["v"][:3]), xp.reshape(xp.linalg.solve(a["A"], a["A"] * 2.0), (-1,))]
    ),
    "linalg.cholesky (upper)": lambda xp, a: xp.linalg.cholesky(a["A"], upper=True),
    "linalg.eigh (.eigenvalues)": lambda xp, a: xp.linalg.eigh(a["A"]).eigenvalues,
    "linalg.slogdet (.logabsdet)": lambda xp, a: xp.linalg.slogdet(a["A"]).logabsdet,
    "linalg.qr (Q @ R)": lambda xp, a: (lambda r: r.Q @ r.R)(xp.linalg.qr(a["A"])),
    "linalg.svd (U S Vh)": lambda xp, a: (lambda r: (r.U * r.S) @ r.Vh)(xp.linalg.svd(a["A"])),
    "linalg.svdvals": lambda xp, a: xp.linalg.svdvals(a["A"]),
    "linalg.trace, diagonal (offset)": lambda xp, a: xp.concat(
        [xp.linalg.trace(a["s"], offset=1), xp.reshape(xp.linalg.diagonal(a["s"], offset=-1), (-1,))]
    ),
    "linalg.vector_norm": lambda xp, a: xp.concat(
        [
            xp.reshape(xp.linalg.vector_norm(a["s"]), (1,)),
            xp.reshape(xp.linalg.vector_norm(a["s"], axis=1, keepdims=True), (-1,)),
            xp.reshape(xp.linalg.vector_norm(a["v"], ord=3), (1,)),
        ]
    ),
    "linalg.matrix_norm": lambda xp, a: xp.linalg.matrix_norm(a["s"]),
    "linalg.inv, det, outer": lambda xp, a: xp.concat(
        [
            xp.reshape(xp.linalg.inv(a["A"]), (-1,)),
            xp.reshape(xp.linalg.det(a["A"]), (1,)),
            xp.reshape(xp.linalg.outer(a["v"], a["p"]), (-1,)),
        ]
    ),
    "linalg.tensordot, matmul": lambda xp, a: xp.concat(
        [
            xp.reshape(xp.linalg.tensordot(a["s"], a["s"], axes=([1, 2], [1, 2])), (-1,)),
            xp.reshape(xp.linalg.matmul(a["A"], a["A"]), (-1,)),
        ]
    ),
}
# What each framework computes differently from the standard, found by this test (not a shim's bug).
SPELLING_TOLERANCE = {"mlx": 1e-5}  # float64 transcendental functions at float32 accuracy


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
@pytest.mark.parametrize("name", list(SPELLINGS))
def test_shim_spellings_match_array_api_strict(framework, name):
    xps = pytest.importorskip("array_api_strict")
    xp = shim(framework)
    data = {"v": V, "p": POSITIVE, "A": A, "s": STACK}
    f = SPELLINGS[name]
    expected = np.asarray(f(xps, {k: xps.asarray(v) for k, v in data.items()}))
    got = host(f(xp, {k: to_framework(xp, v, "float64") for k, v in data.items()}))
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, f"{got.dtype} where the standard gives {expected.dtype}"
    rtol = SPELLING_TOLERANCE.get(framework, 1e-12)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


# Derivatives through the shims' own definitions (those a framework's spelling could break).
GRADIENT_CASES = {
    "concat": lambda x, xp: xp.concat([x[:2] * 2.0, x**2]),
    "vecdot": lambda x, xp: xp.vecdot(xp.reshape(x, (2, 3)), xp.reshape(x * x, (2, 3))),
    "cumulative_sum": lambda x, xp: xp.cumulative_sum(x, include_initial=True),
    "clip": lambda x, xp: xp.clip(x, min=-0.5) * x,
    "std": lambda x, xp: xp.stack([xp.std(x, correction=1), xp.var(x)]),
    "hypot": lambda x, xp: xp.hypot(x, x[::-1] + 3.0),
    "linalg.vector_norm": lambda x, xp: xp.linalg.vector_norm(xp.reshape(x, (2, 3)), axis=1),
    "linalg.solve": lambda x, xp: xp.linalg.solve(xp.reshape(x[:4], (2, 2)) + 3.0 * xp.eye(2, dtype=x.dtype), x[4:]),
    "linalg.eigh": lambda x, xp: (
        xp.linalg.eigh(xp.reshape(x[:4], (2, 2)) + xp.matrix_transpose(xp.reshape(x[:4], (2, 2)))).eigenvalues
    ),
}
# MLX has no derivative for linalg.solve, inv, cholesky, eigh, svd, qr ("[Primitive::vjp] Not
# implemented for LUF/Eigh..."): the coverage table says so; here it must raise, not be wrong.
MLX_NO_DERIVATIVE = {"linalg.solve", "linalg.eigh"}


@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("backend", ["tensorflow", "mlx"])
@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_derivatives_flow_through_the_shims(name, backend, mode):
    require_backend(backend)
    f = GRADIENT_CASES[name]
    dtype = "float32" if backend == "mlx" else "float64"
    if backend == "mlx" and name in MLX_NO_DERIVATIVE:
        with pytest.raises(ValueError, match="Not implemented|Cannot calculate"):
            adbench.jacobian(f, V, backend=backend, mode=mode, dtype=dtype)
        return
    J = adbench.jacobian(f, V, backend=backend, mode=mode, dtype=dtype)
    xps = pytest.importorskip("array_api_strict")  # the standard itself (NumPy's sort has no descending)
    ref = central_differences(lambda v: np.asarray(f(xps.asarray(v), xps)), V, False)
    assert J.dtype == np.dtype(dtype)
    tol = 1e-8 if dtype == "float64" else 1e-4  # central differences: ~1e-10 here; float32: eps 1.2e-7
    np.testing.assert_allclose(J, ref, rtol=tol, atol=tol * np.max(np.abs(ref)))


# -- tensorflow beyond the cheap problems --------------------------------------------------------------
def check_jacobian(backend: str, problem: str, mode: str, dtype: str, chunk_size: int | None = None) -> None:
    prob = get_problem(problem)
    x = prob.inputs(small(problem), seed=1)
    consts = prob.constants(x, seed=1)
    J = adbench.jacobian(problem, x, backend=backend, mode=mode, dtype=dtype, chunk_size=chunk_size, **consts)
    ref = prob.reference_jacobian(x, **consts)
    assert J.shape == jacobian_shape(prob, x.shape[0]) and J.dtype == np.dtype(dtype)
    tol = 1e-8 if dtype == "float64" else 2e-5  # as tests/test_backends.py's TOLERANCE
    err = np.max(np.abs(J - ref)) / np.max(np.abs(ref))
    assert err <= tol, f"{err:.2e} > {tol:.0e}"


def check_hvp(backend: str, problem: str, mode: str, dtype: str) -> None:
    prob = get_problem(problem)
    x = prob.inputs(small(problem), seed=1)
    consts = prob.constants(x, seed=1)
    v = direction(prob, "hvp", x.shape[0], 1, seed=1).v
    got = adbench.hvp(problem, x, v, backend=backend, mode=mode, dtype=dtype, **consts)
    g = lambda y: prob.reference_jacobian(y, **consts)  # noqa: E731 (the hand-written gradient, differenced)
    ref = central_differences(g, x, False) @ v
    assert got.shape == x.shape and got.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float64" else 1e-4  # a differenced reference: ~1e-8 of its largest entry
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    assert err <= tol, f"{err:.2e} > {tol:.0e}"


# The workloads in the modes a plain compare runs them: their gradients, and forward mode where its pfor
# traces in about a second (gmm's takes 2-5 s, ode's forward Jacobian 10-17 s and its reverse one 1-5 s:
# a plain compare checks those against the hand-written derivatives on every run).
TF_WORKLOADS = [("gmm", "reverse"), ("lstm", "reverse"), ("mlp", "reverse"), ("mlp", "forward")]


@pytest.mark.parametrize("problem,mode", TF_WORKLOADS, ids=["-".join(c) for c in TF_WORKLOADS])
def test_tensorflow_workload_jacobians(problem, mode):
    require_backend("tensorflow")
    check_jacobian("tensorflow", problem, mode, "float32")


TF_HVPS = [("mlp", "forward-over-reverse"), ("mlp", "reverse-over-reverse"), ("gmm", "reverse-over-reverse")]


@pytest.mark.parametrize("problem,mode", TF_HVPS, ids=["-".join(c) for c in TF_HVPS])
def test_tensorflow_workload_hvps(problem, mode):
    require_backend("tensorflow")
    check_hvp("tensorflow", problem, mode, "float64")


# A scalar f's reverse Jacobian is its gradient, unchunked; basic and tall chunk tape.jacobian's rows.
TF_CHUNK_BUG = (
    "TensorFlow 2.21: tape.jacobian(parallel_iterations=k) for k <= m fails ('None values not "
    "supported'; with UnconnectedGradients.ZERO every chunked row is zero)"
)
CHUNKED = [
    pytest.param(
        p,
        m,
        id=f"{p}-{m}",
        marks=[pytest.mark.xfail(reason=TF_CHUNK_BUG, raises=ValueError, strict=False)] if (p, m) in CHUNK_BUG else [],
    )
    for p in ("basic", "loss", "control_loop", "tall")
    for m in ("forward", "reverse")
    for CHUNK_BUG in [{("basic", "reverse"), ("tall", "reverse")}]
]


@pytest.mark.parametrize("problem,mode", CHUNKED)
def test_tensorflow_chunked_jacobians_agree(problem, mode):
    """Chunks that do not divide n (forward: blocks of a map_fn plus a remainder) or m (reverse:
    tape.jacobian's parallel_iterations). Found by this test: TensorFlow's own reverse chunking fails."""
    require_backend("tensorflow")
    prob = get_problem(problem)
    n = small(problem)
    rows = n if mode == "forward" else max(prob.n_outputs(n), 2)
    chunk = next(k for k in range(2, rows + 2) if rows % k)
    check_jacobian("tensorflow", problem, mode, "float64", chunk_size=chunk)


def test_tensorflow_chunking_is_in_the_label_and_lowers_the_estimate():
    require_backend("tensorflow")
    tf = get_backend("tensorflow")
    prob = get_problem("tall")
    x = prob.inputs(4)
    labels = {}
    for mode in ("forward", "reverse"):
        labels[mode] = tf.prepare(prob, x, "jacobian", mode, "float32", prob.constants(x), chunk_size=3).label
    assert labels == {
        "forward": "tf.function(tf.map_fn(tf.vectorized_map(ForwardAccumulator.jvp), chunks of 3)(f))",
        "reverse": "tf.function(tape.jacobian(experimental_use_pfor=True, parallel_iterations=3)(f))",
    }
    assert (
        tf.memory_estimate(10_000, 1, 10_000, 4, "jacobian", "forward", chunk_size=100)
        < tf.memory_estimate(10_000, 1, 10_000, 4, "jacobian", "forward") / 50
    )


LABELS = {
    ("loss", "jacobian", "reverse"): "tape.gradient(f)",
    ("tall", "jacobian", "reverse"): "tape.jacobian(experimental_use_pfor=True)(f)",
    ("tall", "jacobian", "forward"): "tf.vectorized_map(ForwardAccumulator.jvp)(f)",
    ("tall", "jvp", "forward"): "ForwardAccumulator.jvp(f)",
    ("tall", "vjp", "reverse"): "tape.gradient(f, output_gradients=u)",
    ("loss", "hvp", "forward-over-reverse"): "ForwardAccumulator.jvp(tape.gradient(f))",
    ("loss", "hessian", "reverse-over-forward"): "tape.jacobian(experimental_use_pfor=True)"
    "(tf.vectorized_map(ForwardAccumulator.jvp)(f))",
}
MLX_LABELS = {
    ("loss", "jacobian", "reverse"): "mx.grad(f)",
    ("tall", "jacobian", "reverse"): "mx.vmap(mx.vjp(f))",
    ("tall", "jacobian", "forward"): "mx.vmap(mx.jvp(f))",
    ("tall", "jvp", "forward"): "mx.jvp(f)",
    ("tall", "vjp", "reverse"): "mx.vjp(f)",
    ("loss", "hvp", "forward-over-reverse"): "mx.jvp(mx.grad(f))",
    ("loss", "hessian", "reverse-over-forward"): "mx.vmap(mx.vjp(mx.vmap(mx.jvp(f))))",
}


@pytest.mark.parametrize("backend", ["tensorflow", "tensorflow-xla", "mlx", "mlx-compile"])
def test_labels_name_the_call_users_write(backend):
    """A scalar f's reverse-mode Jacobian is timed through the gradient call (tape.gradient, mx.grad)."""
    require_backend(backend)
    b = get_backend(backend)
    for (problem, operation, mode), inner in (MLX_LABELS if backend.startswith("mlx") else LABELS).items():
        prob = get_problem(problem)
        x = prob.inputs(4)
        d = direction(prob, operation, 4, prob.n_outputs(4), 0)
        label = b.prepare(prob, x, operation, mode, "float32", prob.constants(x), d).label
        expected = {
            "tensorflow": f"tf.function({inner})",
            "tensorflow-xla": f"tf.function({inner}, jit_compile=True)",
            "mlx": inner,
            "mlx-compile": f"mx.compile({inner})",
        }[backend]
        assert label == expected


def test_tensorflow_vectorises_without_falling_back(monkeypatch):
    """pfor falls back to a sequential while_loop, silently in tape.jacobian, for an op it cannot
    vectorise; the problems' Jacobians must not (a scalar f's reverse one is tape.gradient: no pfor)."""
    require_backend("tensorflow")
    tf = get_backend("tensorflow").load()
    from tensorflow.python.ops.parallel_for import control_flow_ops

    strict_pfor = functools.partial(control_flow_ops.pfor, fallback_to_while_loop=False)
    monkeypatch.setattr(control_flow_ops, "pfor", strict_pfor)
    monkeypatch.setattr(tf, "vectorized_map", functools.partial(tf.vectorized_map, fallback_to_while_loop=False))
    for problem, mode in [
        ("basic", "forward"),
        ("basic", "reverse"),
        ("tall", "forward"),
        ("tall", "reverse"),
        ("control_loop", "forward"),
        ("mlp", "forward"),
    ]:
        check_jacobian("tensorflow", problem, mode, "float32")


# -- the compiled variants: representative subsets -------------------------------------------------
SUBSET = [("loss", "forward"), ("loss", "reverse"), ("tall", "forward"), ("tall", "reverse"), ("mlp", "reverse")]


@pytest.mark.parametrize("backend", ["tensorflow-xla", "mlx-compile"])
@pytest.mark.parametrize("problem,mode", SUBSET, ids=["-".join(c) for c in SUBSET])
def test_compiled_variants_agree(backend, problem, mode):
    require_backend(backend)
    check_jacobian(backend, problem, mode, "float32")


@pytest.mark.parametrize("backend", ["tensorflow-xla", "mlx-compile"])
def test_compiled_variants_hvp(backend):
    require_backend(backend)
    check_hvp(backend, "loss", "forward-over-reverse", "float32")


@pytest.mark.xfail(
    reason="TensorFlow 2.21: under jit_compile=True a slice's gradient is XlaDynamicUpdateSlice, "
    "which has no gradient, so forward mode over reverse through a slice fails",
    raises=LookupError,
    strict=False,
)
def test_tensorflow_xla_forward_over_reverse_through_a_slice():
    """Found by the default comparison: gmm's and lstm's forward-over-reverse HVPs fail on tensorflow-xla
    (ForwardAccumulator computes a JVP as the transpose of the op's gradient). Turns XPASS when fixed."""
    require_backend("tensorflow-xla")
    check_hvp("tensorflow-xla", "gmm", "forward-over-reverse", "float32")


# -- MLX: float64, chunks ----------------------------------------------------------------------------
def test_mlx_refuses_float64_by_name():
    require_backend("mlx")
    from adbench.backends.mlx_backend import float64_shortfall

    mx = get_backend("mlx").load()
    if float64_shortfall(mx) is None:
        pytest.skip(f"MLX {mx.__version__} computes float64 to float64 accuracy here")
    with pytest.raises(ValueError, match=r"backend 'mlx' refuses float64: MLX .* computes float64 .*(sin|cos|exp)"):
        adbench.jacobian("loss", np.ones(3), backend="mlx", mode="reverse", dtype="float64")


@pytest.mark.parametrize("backend", ["mlx", "mlx-compile"])
def test_mlx_refuses_chunks_naming_why(backend):
    with pytest.raises(ValueError, match="does not chunk: mx.vmap has no chunk size"):
        adbench.jacobian("loss", np.ones(4), backend=backend, mode="forward", chunk_size=2)


def test_mlx_is_synced_every_call():
    """MLX is lazy: a call builds a graph, and only mx.eval computes it (as JAX's block_until_ready)."""
    require_backend("mlx")
    mx = get_backend("mlx").load()
    prob = get_problem("loss")
    x = prob.inputs(8)
    case = get_backend("mlx").prepare(prob, x, "jacobian", "reverse", "float32", prob.constants(x))
    assert case.sync is mx.eval


# -- one compare through the workers ---------------------------------------------------------------
@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """The compiled variants through the workers (tests/test_cli.py's default grid runs the plain ones)."""
    names = ["tensorflow-xla", "mlx-compile"]
    present = [b for b in names if availability(b).available]
    if not present:
        pytest.skip("neither TensorFlow nor MLX is installed")
    csv = tmp_path_factory.mktemp("tfmlx") / "run.csv"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "adbench",
            "compare",
            "--problems",
            "loss",
            "--sizes",
            "3",
            "--backends",
            ",".join(present),
            "--operations",
            "jacobian,hvp",
            "--modes",
            "reverse,forward-over-reverse",
            "--rounds",
            "1",
            "--budget",
            "0.002",
            "--output",
            str(csv),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    frame, meta = read_results(csv)
    return out, frame, meta, present


def test_compare_runs_them_with_their_calls(compared):
    out, frame, _, present = compared
    assert out.returncode == 0, out.stderr
    assert set(frame["backend"]) == set(present)
    assert (frame["status"] == "ok").all(), frame[frame["status"] != "ok"][["backend", "mode", "error"]]
    rows = frame.set_index(["backend", "problem", "operation", "mode"])
    calls = {
        "tensorflow-xla": "tf.function(tape.gradient(f), jit_compile=True)",
        "mlx-compile": "mx.compile(mx.grad(f))",
    }
    for backend in present:
        assert rows.loc[(backend, "loss", "jacobian", "reverse"), "call"] == calls[backend]
        for operation, mode in [("jacobian", "reverse"), ("hvp", "forward-over-reverse")]:
            row = rows.loc[(backend, "loss", operation, mode)]
            assert row["first_call_s"] > row["median_s"], "the first call compiles"


def test_compare_records_threads_and_precision(compared):
    _, _, meta, present = compared
    builds = meta["environment"]["framework_builds"]
    if "tensorflow-xla" in present:
        tf = builds["tensorflow"]
        assert tf["intra_op_threads"] == 1 and tf["inter_op_threads"] == 1
        assert tf["matmul_precision"] == "highest", "TF32 is off, as for every framework"
    if "mlx-compile" in present:
        assert builds["mlx"]["default_device"].startswith("Device(cpu")
        assert "stream" in builds["mlx"]["cpu_threads"] and builds["mlx"]["matmul_precision"] == "highest"


def test_worker_environment_pins_tensorflow_and_keeps_mlx_kernels_private(tmp_path):
    env = worker_environment(2, base={}, device="cpu", compile_cache=str(tmp_path))
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "2"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert env["TMPDIR"] == str(tmp_path), "mx.compile's generated kernels go to the run's private folder"
    assert worker_environment(1, base={"TF_CPP_MIN_LOG_LEVEL": "0"})["TF_CPP_MIN_LOG_LEVEL"] == "0", "a user's stays"


# -- the registry's metadata ------------------------------------------------------------------------
def test_every_backend_has_its_own_colour_and_order():
    from adbench.backends import backend_names
    from adbench.report.data import FALLBACK_COLOURS

    backends = [get_backend(n) for n in backend_names()]
    colours = [b.colour.lower() for b in backends]
    assert len(set(colours)) == len(colours), "two backends share a colour"
    assert not set(colours) & {c.lower() for c in FALLBACK_COLOURS}, "the fallback palette is for unknown backends"
    assert len({b.order for b in backends}) == len(backends)


def test_asv_picks_them_from_the_registry(monkeypatch):
    sys.path.insert(0, str(ROOT))
    saved = dict(os.environ)
    try:
        from benchmarks import _common

        monkeypatch.setenv("ADBENCH_ASV_BACKENDS", "tensorflow,mlx")
        assert _common.suite_backends() == ["tensorflow", "mlx"]
        variants = _common.variant_labels()
        assert {b for b, _ in variants.values()} == {"tensorflow", "mlx"}
        assert {
            "tensorflow-reverse",
            "tensorflow-forward-over-reverse",
            "mlx-forward",
            "mlx-reverse-over-reverse",
        } <= set(variants)
        assert {"tensorflow", "mlx"} <= set(_common.frameworks())
    finally:
        sys.path.remove(str(ROOT))
        os.environ.clear()
        os.environ.update(saved)
