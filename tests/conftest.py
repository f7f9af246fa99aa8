"""Shared fixtures: which backends work here, and skips that say why."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from adbench.backends import backend_info, backend_names, get_backend


@functools.cache
def availability(name: str):
    return backend_info(name)


def shared_reference(name: str) -> Path:
    """A published reference file in the shared folder beside the project (``../shared/reference``; CI lays a
    copy there), or ``$ADBENCH_SHARED_REFERENCE``: never copied into the project. Skips, naming the path,
    where it is missing."""
    roots = [Path(os.environ["ADBENCH_SHARED_REFERENCE"])] if os.environ.get("ADBENCH_SHARED_REFERENCE") else []
    roots += [Path(__file__).resolve().parents[2] / "shared" / "reference", Path("/work/shared/reference")]
    for root in roots:
        if (root / name).exists():
            return root / name
    pytest.skip(f"reference data {name!r} not found in {', '.join(map(str, roots))}")


def require_backend(name: str) -> None:
    """Skip (not fail) when the backend's framework is missing, with its import error as the reason."""
    info = availability(name)
    if not info.available:
        pytest.skip(f"backend {name} unavailable: {info.reason}")


def require_float64(name: str) -> None:
    """As ``require_backend``, and skip a backend that refuses float64 here, with its own reason: MLX's CPU
    computes float64 sin, cos and exp to float32 accuracy only (``mlx_backend.float64_shortfall``), so its
    backend refuses float64 by name; tests/test_tensorflow_mlx.py::test_mlx_refuses_float64_by_name checks
    that refusal, and the float64 tests here check the frameworks that compute it."""
    require_backend(name)
    backend = get_backend(name)
    if backend.framework == "mlx":
        from adbench.backends.mlx_backend import float64_shortfall

        reason = float64_shortfall(backend.load())
        if reason is not None:
            pytest.skip(reason)


def jacobian_shape(problem, n: int) -> tuple[int, ...]:
    """A Jacobian shaped like ``jax.jacfwd``'s result, as adbench.jacobian returns it: ``(n,)`` for a scalar
    output, else ``(m, n)``."""
    return (n,) if problem.is_scalar(n) else (problem.n_outputs(n), n)


def backend_modes(operation: str = "jacobian") -> list[tuple[str, str]]:
    """Every (backend, mode) pair the registry offers for ``operation``, whether or not installed here."""
    return [(b, m) for b in backend_names() for m in get_backend(b).modes_for(operation)]


# -- what the default run covers -------------------------------------------------------------------------
# `python -m pytest` (pyproject's addopts: -m 'not slow', two processes) aims at 200 s on 2 cores. It runs
# every test on each framework's main backends (jax, torch, torch-autograd, autograd, the NumPy baselines),
# TensorFlow and MLX through their own module (tests/test_tensorflow_mlx.py: the representative cases), and
# the product matrices one axis at a time (AXIS_PROBLEMS, AXIS_BACKENDS below). `python -m pytest -m slow`
# runs the rest, and CI (.ci/run) runs both, so every test still runs on every change: the same tests'
# cases on the variants that are slow to set up or trace (jax-eager's op-by-op dispatch, torch-compile's
# compiles, XLA's and mx.compile's compiles), the TensorFlow and MLX cases of the shared agreement
# matrices, the products' other cells, and the end-to-end runs listed below (each 10-80 s on a loaded
# 2-core machine: tests/junit timings of the whole suite). tools/test_timing.py reports the wall time and
# the counts of both selections.
SLOW_BACKENDS = frozenset({"jax-eager", "torch-compile", "tensorflow-xla", "mlx-compile"})
MATRIX_ONLY_SLOW = frozenset({"tensorflow", "mlx"})  # slow outside their own module
SLOW_TESTS = frozenset(
    {
        "tests/test_variants.py::test_torch_compile_reverse_cases_agree",
        "tests/test_variants.py::test_torch_compile_failures_are_error_rows_not_fallbacks",
        "tests/test_sparse.py::test_torch_compile_sparse",
        "tests/test_tensorflow_mlx.py::test_compare_runs_them_with_their_calls",
        "tests/test_tensorflow_mlx.py::test_every_problem_evaluates_on_the_namespace[saddle-tensorflow]",
        "tests/test_tensorflow_mlx.py::test_every_problem_evaluates_on_the_namespace[particle-tensorflow]",
        "tests/test_tensorflow_mlx.py::test_every_problem_evaluates_on_the_namespace[saddle-mlx]",
        "tests/test_tensorflow_mlx.py::test_every_problem_evaluates_on_the_namespace[particle-mlx]",
        "tests/test_cli.py::test_compare_tiny_grid_every_backend",
        "tests/test_cli.py::test_user_function_with_data_on_every_backend",
        # 10-18 s each on a quiet machine: the TF/MLX compare's recorded builds (its companion above is slow
        # too; test_worker_environment_* checks the same settings without a run), the API-level interrupt
        # fuzz (test_interrupt_anywhere interrupts the CLI at five moments by default), and rebuilding a
        # whole site twice (test_report's other tests build it once).
        "tests/test_tensorflow_mlx.py::test_compare_records_threads_and_precision",
        "tests/faults/test_signals.py::test_interrupt_fuzz",
        "tests/test_report.py::test_rebuilding_unchanged_results_changes_nothing",
    }
)


# -- one matrix per axis ---------------------------------------------------------------------------------
# The agreement matrices of tests/test_backends.py are products (every backend and mode x every problem [x
# dtype]); the default run keeps one axis at a time, -m slow the rest of each product: every backend and
# mode on AXIS_PROBLEMS (a vector function R^2 -> R^2, a scalar R^n -> R, a loop), and every problem on
# AXIS_BACKENDS (torch.func and HIPS autograd, each with both modes and every composition, and the NumPy
# baselines). JAX's compiles made up two thirds of these matrices' time (jb.xml, issue 29); jax runs every
# problem in tests/test_precision.py (its traced programs) and tests/test_workloads.py.
AXIS_PROBLEMS = frozenset({"basic", "loss", "control_loop"})
AXIS_BACKENDS = frozenset({"torch", "autograd", "manual", "finite-diff"})
AXIS_MATRICES = tuple(
    f"tests/test_backends.py::{name}["
    for name in (
        "test_jacobian_agrees_with_reference",
        "test_jvp_and_vjp_agree_with_reference",
        "test_hvp_agrees_with_reference",
        "test_hessian_agrees_is_symmetric_and_matches_hvp",
        "test_float32_stays_float32_in_every_direction",
    )
)
# tests/test_precision.py (JAX's traced programs, float64-free): every problem's unchunked Jacobians in both
# modes, and every operation, mode and chunk on AXIS_PROBLEMS.
PRECISION_MATRIX = "tests/test_precision.py::test_float32_program_has_no_float64["


def _off_axis(item: pytest.Item, values: set[str]) -> bool:
    """A cell of a product matrix that the default run's axes leave to -m slow."""
    if item.nodeid.startswith(AXIS_MATRICES):
        return not (values & AXIS_PROBLEMS or values & AXIS_BACKENDS)
    if item.nodeid.startswith(PRECISION_MATRIX):
        params = item.callspec.params
        return not (values & AXIS_PROBLEMS or (params["operation"] == "jacobian" and params["chunk"] is None))
    return False


# Parametrized by backend, but about loading each (an import), not running its cases: in the default run.
NEVER_SLOW = ("tests/test_backends.py::test_the_all_install_brings_every_backend",)


def _subset_only(nodeid: str, values: set[str]) -> bool:
    """Matrices the default run covers by a representative subset (-m slow runs the rest): nested problems in
    float32 on JAX (torch's float64 agreement is in the default run), and chunked Jacobians of ht (its
    complicated twin runs the same chunking through a larger model)."""
    if nodeid.startswith("tests/test_nested.py::test_nested_problem_in_float32"):
        return "torch" in values
    if nodeid.startswith("tests/test_variants.py::test_chunked_jacobian_agrees"):
        return "ht-complicated" in values
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark slow what the comment above says; the marker's selection is pyproject's addopts."""
    slow = pytest.mark.slow
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {}).values()
        values = {v for p in params for v in (p if isinstance(p, tuple) else (p,)) if isinstance(v, str)}
        own_module = item.nodeid.startswith("tests/test_tensorflow_mlx.py")
        if item.nodeid.startswith(NEVER_SLOW):
            continue
        if (
            item.nodeid in SLOW_TESTS
            or values & SLOW_BACKENDS
            or _subset_only(item.nodeid, values)
            or _off_axis(item, values)
            or (not own_module and values & MATRIX_ONLY_SLOW)
        ):
            item.add_marker(slow)
