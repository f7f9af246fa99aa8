"""The registry of problems: registering, listing and finding one by name (or a user's ``MODULE:FUNCTION``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from adbench.errors import UnknownChoiceError
from adbench.problems.problem import ConstantsSource, Function, Problem
from adbench.problems.user import problem_from_function

_REGISTRY: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    """Add a problem to the registry under its name (replacing one of the same name)."""
    _REGISTRY[problem.name] = problem
    return problem


def list_problems() -> list[Problem]:
    """The registered problems, in registration order."""
    return list(_REGISTRY.values())


# Who reads NAME@FILE: adbench.problems.inputs, which builds on this registry, registers itself here when the
# package is imported, so that the registry imports none of the modules built on it (no import circle).
_AT_FILE: list[Callable[[str, str], Problem]] = []


def resolve_at_file(reader: Callable[[str, str], Problem]) -> Callable[[str, str], Problem]:
    """Register ``reader(name, path)`` as the reader of NAME@FILE names (one reader: the last registered)."""
    _AT_FILE[:] = [reader]
    return reader


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
    if isinstance(problem, str) and "@" in problem and problem.partition("@")[0] in _REGISTRY and _AT_FILE:
        # NAME@FILE: the registered problem at the one instance in FILE (compare --constants FILE).
        return _AT_FILE[0](*problem.split("@", 1))
    if isinstance(problem, str) and ":" in problem:
        # A user's MODULE:FUNCTION; worker processes rebuild user problems from this name.
        f, constants = import_function(problem)
        return problem_from_function(f, name=problem, constants=constants, sparsity=module_sparsity(problem))
    raise UnknownChoiceError("problem", problem, _REGISTRY)


def module_sparsity(spec: str) -> Any:
    """The ``sparsity(n, **constants)`` found next to ``MODULE:FUNCTION``'s function, or None."""
    import_function(spec)
    found = getattr(_IMPORTED.get(spec), "sparsity", None)
    return found if callable(found) else None


_IMPORTED: dict[str, Any] = {}  # MODULE:FUNCTION -> its module, for what lives next to the function


@functools.cache
def import_function(spec: str) -> tuple[Function, ConstantsSource]:
    """Load ``MODULE:FUNCTION`` (a module name or a path to a .py file) for ``--problem``, with
    the module's ``constants(n, seed)`` when it has one."""
    import importlib
    import importlib.util
    import pathlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"--problem takes MODULE:FUNCTION (e.g. mymodule:f or ./file.py:f), not {spec!r}"
            + (
                f"; to run the registered problem, use --problems {spec.rstrip(':')}"
                if spec.rstrip(":") in _REGISTRY
                else ""
            )
        )
    if module_name.endswith(".py"):
        path = pathlib.Path(module_name)
        if not path.exists():
            raise ValueError(f"no such file {module_name!r} in --problem {spec!r}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:  # a path importlib has no loader for
            raise ValueError(f"cannot import {module_name!r} in --problem {spec!r}: not a Python source file")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ValueError(
                f"importing {module_name!r} for problem {spec!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
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
        except Exception as exc:  # the module's own code failed (a SyntaxError, an error at import)
            raise ValueError(
                f"importing {module_name!r} for problem {spec!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    try:
        f = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no function {attr!r}") from None
    if not callable(f):
        raise ValueError(f"{spec!r} is not callable")
    _IMPORTED[spec] = module
    constants = getattr(module, "constants", None)
    if constants is not None and not callable(constants):
        raise ValueError(f"{module_name}.constants must be a function constants(n, seed) returning a dict")
    return f, constants
