"""The Problem record, the registry and the wrapper that turns a user's ``f(x, xp)`` into a problem."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adbench.errors import UnknownChoiceError

# Operations a problem may use on ``xp``: the ones NumPy, jax.numpy, torch and autograd.numpy
# all spell the same way. Anything else needs a per-backend branch, which problems must not have.
SHARED_OPERATIONS = (
    "+ - * / ** @, unary -, indexing x[i] and slices, "
    "xp.sin, xp.cos, xp.tan, xp.tanh, xp.exp, xp.log, xp.sqrt, xp.abs, "
    "xp.sum(a), xp.prod(a), xp.dot(a, b) (1-D), xp.outer, xp.stack([...]), xp.reshape(a, shape)"
)

Function = Callable[..., Any]


def _default_input(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def _no_constants(x: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Problem:
    """One function to differentiate, with everything needed to run and check it at any size.

    ``function(x, xp, **constants)`` is the math, written once. Array constants are handed to it
    converted to the backend's arrays; plain Python numbers (such as a loop count) stay Python
    numbers, so JIT backends treat them as static.
    """

    name: str
    function: Function
    description: str
    output_size: Callable[[int], int]
    scalar_output: bool = False
    sizes: tuple[int, ...] = (10, 100, 1000)
    quick_sizes: tuple[int, ...] = (10, 100)
    fixed_size: int | None = None
    make_input: Callable[[int, np.random.Generator], np.ndarray] = _default_input
    make_constants: Callable[[np.ndarray, np.random.Generator], dict[str, Any]] = _no_constants
    manual_jacobian: Callable[..., np.ndarray] | None = None
    # Elements in the largest intermediate of one evaluation; drives the memory estimate.
    work_size: Callable[[int], int] = lambda n: n
    theory: str = ""
    # c in cost(f) ~ n^c: the theory's scaling slopes (forward n^(1+c), reverse m n^c) need it, and
    # measured f times cannot give it at these sizes, where they are per-call overhead.
    cost_exponent: float | None = None
    builtin: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- inputs -------------------------------------------------------------------------------
    def _rng(self, seed: int, stream: int) -> np.random.Generator:
        # Independent, reproducible streams per (problem, seed, purpose); crc32 is stable across
        # runs, unlike hash().
        return np.random.default_rng([seed, zlib.crc32(self.name.encode()), stream])

    def check_size(self, n: int) -> None:
        if self.fixed_size is not None and n != self.fixed_size:
            raise ValueError(
                f"problem {self.name!r} takes inputs of size {self.fixed_size} only, not {n}"
            )
        if n < 1:
            raise ValueError(f"size must be a positive integer, not {n}")

    def inputs(self, n: int, seed: int = 0) -> np.ndarray:
        """The deterministic float64 input of size ``n``: the same numbers for every backend."""
        self.check_size(n)
        return np.asarray(self.make_input(n, self._rng(seed, 0)), dtype=np.float64)

    def constants(self, x: np.ndarray, seed: int = 0, **overrides: Any) -> dict[str, Any]:
        """The constants for input ``x``, by name; ``overrides`` replace any of them."""
        made = self.make_constants(np.asarray(x, dtype=np.float64), self._rng(seed, 1))
        unknown = set(overrides) - set(made)
        if unknown:
            raise UnknownChoiceError(f"constant of problem {self.name!r}", sorted(unknown)[0], made)
        made.update(overrides)
        return made

    def check_input(self, x: np.ndarray) -> None:
        if x.ndim != 1:
            raise ValueError(
                f"problem {self.name!r} takes a 1-D input vector; got an array of shape {x.shape}"
            )
        self.check_size(x.shape[0])

    # -- shapes ---------------------------------------------------------------------------------
    def n_outputs(self, n: int) -> int:
        return self.output_size(n)

    def jacobian_shape(self, n: int) -> tuple[int, ...]:
        """Shaped like ``jax.jacfwd``'s result: ``(n,)`` for a scalar output, else ``(m, n)``."""
        return (n,) if self.scalar_output else (self.n_outputs(n), n)

    # -- the golden reference -------------------------------------------------------------------
    def reference_jacobian(self, x: np.ndarray, **constants: Any) -> np.ndarray:
        """The hand-written Jacobian in float64, or ``None`` where the problem has none."""
        if self.manual_jacobian is None:
            return None
        x = np.asarray(x, dtype=np.float64)
        consts = {k: (np.asarray(v, np.float64) if isinstance(v, np.ndarray) else v)
                  for k, v in constants.items()}
        return np.asarray(self.manual_jacobian(x, **consts), dtype=np.float64)


_REGISTRY: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    """Add a problem to the registry under its name (replacing one of the same name)."""
    _REGISTRY[problem.name] = problem
    return problem


def list_problems() -> list[Problem]:
    """The registered problems, in registration order."""
    return list(_REGISTRY.values())


def get_problem(problem: str | Problem | Function) -> Problem:
    """A registered problem by name, a Problem as is, or a user's ``f(x, xp)`` (or ``MODULE:FUNCTION``) wrapped."""
    if isinstance(problem, Problem):
        return problem
    if callable(problem):
        return problem_from_function(problem)
    try:
        return _REGISTRY[problem]
    except (KeyError, TypeError):
        pass
    if isinstance(problem, str) and ":" in problem:
        # A user's MODULE:FUNCTION; worker processes rebuild user problems from this name.
        return problem_from_function(import_function(problem), name=problem)
    raise UnknownChoiceError("problem", problem, _REGISTRY)


def problem_from_function(
    f: Function,
    name: str | None = None,
    *,
    sizes: tuple[int, ...] = (10, 100, 1000),
) -> Problem:
    """Wrap a user's ``f(x, xp)`` (shared operations only, see SHARED_OPERATIONS) as a Problem.

    ``f`` must return a scalar or a 1-D vector. Its output shape is found by evaluating ``f`` with
    NumPy once per size, in the calling process; it has no hand-written Jacobian, so the
    ``manual`` baseline skips it and ``compare`` checks results against float64 central differences.
    """
    label = name or getattr(f, "__qualname__", None) or "user_function"

    @functools.lru_cache(maxsize=None)
    def output_shape(n: int) -> tuple[int, ...]:
        # One NumPy evaluation per size, on a fixed probe input (0.5 ... 1.5, away from zero).
        try:
            shape = np.shape(f(np.linspace(0.5, 1.5, n), np))
        except Exception as exc:
            raise ValueError(f"{label}(x, numpy) failed at n={n} while finding its output shape: "
                             f"{type(exc).__name__}: {exc}") from exc
        if len(shape) > 1:
            raise ValueError(f"{label} returns shape {shape}; a problem maps R^n to a scalar or a "
                             f"vector: flatten it with xp.reshape(y, (-1,))")
        return shape

    def output_size(n: int) -> int:
        return int(np.prod(output_shape(n))) if output_shape(n) else 1

    def call(x, xp):
        return f(x, xp)

    return Problem(
        name=label,
        function=call,
        description=f"user function {label}",
        output_size=output_size,
        scalar_output=output_shape(sizes[0]) == (),
        sizes=sizes,
        quick_sizes=sizes[:2],
        builtin=False,
    )


@functools.lru_cache(maxsize=None)
def import_function(spec: str) -> Function:
    """Load ``MODULE:FUNCTION`` (a module name or a path to a .py file) for ``--problem``."""
    import importlib
    import importlib.util
    import pathlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--problem takes MODULE:FUNCTION (e.g. mymodule:f or ./file.py:f), not {spec!r}")
    if module_name.endswith(".py"):
        path = pathlib.Path(module_name)
        if not path.exists():
            raise ValueError(f"no such file {module_name!r} in --problem {spec!r}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        import os
        import sys

        if os.getcwd() not in sys.path and "" not in sys.path:
            # As `python -m` would: the `adbench` console script's sys.path lacks the working folder.
            sys.path.append(os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import {module_name!r} for problem {spec!r}: {exc}") from exc
    try:
        f = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no function {attr!r}") from None
    if not callable(f):
        raise ValueError(f"{spec!r} is not callable")
    return f
