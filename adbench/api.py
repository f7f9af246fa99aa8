"""``adbench.jacobian``: one Jacobian from any registered problem or user function, on any backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from adbench.backends import DTYPES, get_backend
from adbench.errors import BackendUnavailableError, UnknownChoiceError
from adbench.problems import Problem, get_problem


def resolve_mode(backend_name: str, mode: str | None) -> str:
    """The mode to run: ``mode`` if the backend offers it, the backend's only mode if it has one."""
    backend = get_backend(backend_name)
    if mode is None:
        if len(backend.modes) == 1:
            return backend.modes[0]
        raise ValueError(f"backend {backend_name!r} needs a mode: one of {', '.join(backend.modes)}")
    if mode not in backend.modes:
        raise UnknownChoiceError(f"mode for backend {backend_name!r}", mode, backend.modes)
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


def jacobian(
    problem: str | Problem | Any,
    x: Any,
    *,
    backend: str,
    mode: str | None = None,
    dtype: str | None = None,
    **constants: Any,
) -> np.ndarray:
    """The Jacobian of ``problem`` at ``x`` as a NumPy array, shaped like ``jax.jacfwd``'s.

    ``problem`` is a registered name or a callable ``f(x, xp)``; ``mode`` is ``"forward"`` or
    ``"reverse"`` (baselines have one mode and need none); constants go by name (``x_star``) and
    default to the registry's deterministic values for ``len(x)``.
    """
    prob = get_problem(problem)
    be = get_backend(backend)
    mode = resolve_mode(backend, mode)
    dtype = resolve_dtype(dtype, x)
    x64 = np.asarray(x, dtype=np.float64)
    prob.check_input(x64)
    reason = be.supports(prob, mode)
    if reason:
        raise ValueError(reason)
    consts = prob.constants(x64, **constants)
    try:
        be.load()
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {backend!r} is unavailable: {type(exc).__name__}: {exc}") from exc
    return be.prepare(prob, x64, mode, dtype, consts).run_jacobian()
