"""A user's own ``f(x, xp, **constants)`` as a Problem: its constants, its output shape, its declared sparsity."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adbench.problems.problem import ConstantsSource, Function, Problem


def _accepted_constants(f: Function, names: list[str]) -> list[str]:
    """The constants ``f`` takes by keyword: all with ``**kwargs``, else the named ones."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return names
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return names
    accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return [k for k in names if k in accepted]


def problem_from_function(
    f: Function,
    name: str | None = None,
    *,
    sizes: tuple[int, ...] = (10, 100, 1000),
    constants: ConstantsSource = None,
    sparsity: Any = None,
) -> Problem:
    """Wrap a user's ``f(x, xp, **constants)`` as a Problem.

    ``f`` may use anything in the Python array API standard on ``xp`` and must return a scalar
    or a 1-D vector. ``constants`` (a mapping, or ``constants(n, seed)`` returning one) are its
    data: NumPy arrays reach every backend as that backend's arrays of the run's dtype, Python
    numbers stay static. The output shape is found by evaluating ``f`` with NumPy at each size
    it is asked about (in ``adbench compare``, inside the guarded worker). There is no
    hand-written Jacobian, so the ``manual`` baseline skips it and results are checked against
    float64 central differences.

    ``sparsity`` declares J's pattern for the ``sparse-jacobian`` operation: an m x n SciPy sparse matrix or
    boolean array (for one n), or a function ``sparsity(n, **constants)`` returning one. Its nonzeros must
    cover every entry that can be nonzero; a pattern that misses one makes the case ``wrong`` against the
    (pattern-free) differenced reference.
    """
    label = name or getattr(f, "__qualname__", None) or "user_function"
    if constants is not None and not callable(constants) and not isinstance(constants, Mapping):
        raise ValueError(
            f"constants of {label} must be a mapping or a function constants(n, seed), not {type(constants).__name__}"
        )
    make_constants = _constants_maker(f, label, constants)
    probe_shape = _shape_prober(f, label, make_constants)

    def output_size(n: int) -> int:
        shape = probe_shape(n)
        return int(np.prod(shape)) if shape else 1

    return Problem(
        name=label,
        function=f,
        description=f"user function {label}",
        sparsity=_declared_sparsity(sparsity),
        output_size=output_size,
        sizes=tuple(sizes),
        quick_sizes=tuple(sizes)[:2],
        make_constants=make_constants,
        builtin=False,
        constants_take_seed=True,
        probe_shape=probe_shape,
    )


MakeConstants = Callable[[np.ndarray, np.random.Generator | None, int], dict[str, Any]]


def _constants_maker(f: Function, label: str, constants: ConstantsSource) -> MakeConstants:
    """``make_constants(x, rng, seed)`` of a user's problem: its constants at len(x), checked to be arrays or
    numbers, and only those ``f`` takes."""

    def make_constants(x: np.ndarray, rng: np.random.Generator | None, seed: int = 0) -> dict[str, Any]:
        if constants is None:
            return {}
        made = dict(constants(x.shape[0], seed) if callable(constants) else constants)
        bad = [k for k, v in made.items() if not isinstance(v, (np.ndarray, int, float, bool, np.number))]
        if bad:
            raise ValueError(
                f"constant {bad[0]!r} of {label} must be a NumPy array or a Python number, "
                f"not {type(made[bad[0]]).__name__}"
            )
        keep = _accepted_constants(f, list(made))
        return {k: (np.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in made.items() if k in keep}

    return make_constants


def _shape_prober(f: Function, label: str, make_constants: MakeConstants) -> Callable[[int], tuple[int, ...]]:
    """``probe_shape(n)``: f's output shape at n, from one NumPy evaluation per size (cached), on a fixed probe
    input (0.5 ... 1.5, away from zero); a failure or a shape of more than one axis is a clear error."""

    @functools.cache
    def probe_shape(n: int) -> tuple[int, ...]:
        x = np.linspace(0.5, 1.5, n)
        try:
            shape = tuple(np.shape(f(x, np, **make_constants(x, None, 0))))
        except Exception as exc:
            raise ValueError(
                f"{label}(x, numpy) failed at n={n} while finding its output shape: {type(exc).__name__}: {exc}"
            ) from exc
        if len(shape) > 1:
            raise ValueError(
                f"{label} returns shape {shape}; a problem maps R^n to a scalar or a "
                f"vector: flatten it with xp.reshape(y, (-1,))"
            )
        return shape

    return probe_shape


def _declared_sparsity(sparsity: Any) -> Callable[..., Any] | None:
    """The problem's ``sparsity(n, **constants)`` from a user's pattern (one matrix, or a function of n and the
    constants it names); None where none is declared."""
    if sparsity is None:
        return None
    declared = sparsity if callable(sparsity) else (lambda n, **_: sparsity)

    def declared_with_constants(n: int, **consts: Any) -> Any:  # a user's sparsity takes what it names
        keep = _accepted_constants(sparsity, list(consts)) if callable(sparsity) else []
        return declared(n, **{k: consts[k] for k in keep or []})

    return declared_with_constants
