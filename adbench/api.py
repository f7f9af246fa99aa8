"""The Python API: one derivative — Jacobian, JVP, VJP, HVP, Hessian or sparse Jacobian — of any problem, on any
backend; and ``nested``: a function that differentiates inside itself, run with a backend's ``ad`` service."""

from __future__ import annotations

from typing import Any

import numpy as np

from adbench.backends import (
    DEVICES,
    DTYPES,
    NESTED,
    SECOND_ORDER,
    Direction,
    as_dtype,
    as_mode,
    as_operation,
    get_backend,
)
from adbench.errors import BackendUnavailableError, UnknownChoiceError
from adbench.problems import Problem, get_problem


def resolve_mode(backend_name: str, mode: str | None, operation: str = "jacobian") -> str:
    """The mode to run: ``mode`` if the backend offers it, the backend's only mode if it has one."""
    backend = get_backend(backend_name)
    offered = backend.modes_for(operation)
    if operation in backend.refusals:
        raise ValueError(f"backend {backend_name!r} does not run {operation}: {backend.refusals[operation]}")
    if not offered:
        raise ValueError(
            f"backend {backend_name!r} does not compute {operation}s; its operations: {', '.join(backend.operations)}"
        )
    if mode is None:
        if len(offered) == 1:
            return offered[0]
        raise ValueError(f"backend {backend_name!r} needs a mode for {operation}: one of {', '.join(offered)}")
    if mode not in offered:
        what = "composition" if operation in SECOND_ORDER + (NESTED,) else "mode"
        raise UnknownChoiceError(f"{what} for {operation} on backend {backend_name!r}", mode, offered)
    return mode


def resolve_dtype(dtype: str | np.dtype | None, x: Any) -> str:
    """``dtype`` by name; by default the input's own float32/float64, else float32 (the tutorial's)."""
    if dtype is None:
        dt = str(getattr(x, "dtype", "")).removeprefix("torch.")
        return dt if dt in DTYPES else "float32"
    name = None
    for spelling in (dtype, str(dtype).removeprefix("torch.")):  # 'f4', np.float32, torch.float32
        try:
            name = np.dtype(spelling).name
            break
        except TypeError:
            continue
    if name not in DTYPES:
        raise UnknownChoiceError("dtype", dtype, DTYPES)
    return name


def _real_vector(a: Any, what: str) -> np.ndarray:
    if np.iscomplexobj(a):
        raise ValueError(f"{what} must be real; got complex values")
    return np.asarray(a, dtype=np.float64)


def evaluate(
    operation: str,
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    v: Any = None,
    u: Any = None,
    chunk_size: int | None = None,
    device: str = "cpu",
    **constants: Any,
) -> np.ndarray:
    """One operation of ``problem`` at ``x`` as a NumPy array, or a SciPy matrix for sparse-jacobian (the
    shared path of the functions below)."""
    prob = get_problem(problem)
    be = get_backend(backend)
    mode = resolve_mode(backend, mode, operation)
    dtype = resolve_dtype(dtype, x)
    if device not in DEVICES:
        raise UnknownChoiceError("device", device, DEVICES)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    x64 = _real_vector(x, "x")
    prob.check_input(x64)
    n = x64.shape[0]
    reason = be.supports(prob, as_operation(operation), as_mode(mode), n, chunk_size, device)
    if reason:
        raise ValueError(reason)
    consts = prob.constants(x64, **constants)
    direction = Direction()
    if operation in ("jvp", "hvp"):
        direction = Direction(v=_vector(v, (n,), "v", operation))
    elif operation == "vjp":
        shape = () if prob.is_scalar(n) else (prob.n_outputs(n),)
        direction = Direction(u=_vector(u, shape, "u", operation))
    try:
        be.load()
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {backend!r} is unavailable: {type(exc).__name__}: {exc}") from exc
    case = (prob, x64, as_operation(operation), as_mode(mode), as_dtype(dtype), consts, direction)
    return be.prepare(*case, chunk_size=chunk_size, device=device).run()


def _vector(a: Any, shape: tuple[int, ...], name: str, operation: str) -> np.ndarray:
    if a is None:
        raise ValueError(f"{operation} needs {name}")
    arr = _real_vector(a, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} for this {operation}, not {arr.shape}")
    return arr


def jacobian(
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    chunk_size: int | None = None,
    device: str = "cpu",
    **constants: Any,
) -> np.ndarray:
    """The Jacobian of ``problem`` at ``x``, shaped like ``jax.jacfwd``'s (``(n,)`` for a scalar output).

    ``problem`` is a registered name or a callable ``f(x, xp, **constants)``; ``mode`` is
    ``"forward"`` or ``"reverse"`` (baselines have one mode and need none); constants go by name
    (``x_star``) and default to the registry's deterministic values for ``len(x)``.
    """
    return evaluate(
        "jacobian",
        problem,
        x,
        backend=backend,
        mode=mode,
        dtype=dtype,
        chunk_size=chunk_size,
        device=device,
        **constants,
    )


# The derivatives below repeat one signature on purpose (a repeated block the duplicate scan lists): each public
# function spells out its own arguments for help(), IDEs and the docs; what they share is ``evaluate``.
def jvp(
    problem: str | Problem | Any,
    x: Any,
    v: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    **constants: Any,
) -> np.ndarray:
    """J v: shape (m,), or a scalar's shape for a scalar output."""
    return evaluate("jvp", problem, x, v=v, backend=backend, mode=mode, dtype=dtype, **constants)


def vjp(
    problem: str | Problem | Any,
    x: Any,
    u: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    **constants: Any,
) -> np.ndarray:
    """uᵀ J: shape (n,); ``u`` has f's output shape (a 0-d array or a float for a scalar output)."""
    return evaluate("vjp", problem, x, u=u, backend=backend, mode=mode, dtype=dtype, **constants)


def hvp(
    problem: str | Problem | Any,
    x: Any,
    v: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    **constants: Any,
) -> np.ndarray:
    """H v of a scalar-valued problem: shape (n,). ``mode`` is a composition, e.g. ``forward-over-reverse``."""
    return evaluate("hvp", problem, x, v=v, backend=backend, mode=mode, dtype=dtype, **constants)


def sparse_jacobian(
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    device: str = "cpu",
    **constants: Any,
) -> Any:
    """The Jacobian as a SciPy CSR matrix, from compressed passes over the problem's declared sparsity
    pattern: one JVP per colour of a column colouring (``mode="forward"``) or one VJP per colour of a row
    colouring (``"reverse"``), decompressed onto the pattern (``adbench.sparsity``)."""
    return evaluate("sparse-jacobian", problem, x, backend=backend, mode=mode, dtype=dtype, device=device, **constants)


def hessian(
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    **constants: Any,
) -> np.ndarray:
    """H of a scalar-valued problem: shape (n, n). ``mode`` is a composition, e.g. ``forward-over-reverse``."""
    return evaluate("hessian", problem, x, backend=backend, mode=mode, dtype=dtype, **constants)


def nested(
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    device: str = "cpu",
    **constants: Any,
) -> np.ndarray:
    """The result of a function that differentiates inside itself (it asks for the ``ad`` service), run
    with ``backend``'s ``ad`` in ``mode``: a composition read outer over inner (``forward-over-reverse``
    is gradbench's ``fr``). ``adbench.nested("particle", [0.0], backend="jax", mode="reverse-over-reverse")``
    is gradbench's particle, the final w; constants go by name (``dt=1.0``)."""
    return evaluate("nested", problem, x, backend=backend, mode=mode, dtype=dtype, device=device, **constants)
