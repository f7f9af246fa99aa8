"""adbench: measure forward vs reverse mode and JAX vs PyTorch vs autograd on the same problems.

Importing adbench imports nothing heavy: no AD framework (each is imported when a backend first
needs it) and not even NumPy until a public name below is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# Public name -> the module that defines it, imported on first use (PEP 562).
_LAZY = {
    "jacobian": "adbench.api",
    "jvp": "adbench.api",
    "vjp": "adbench.api",
    "hvp": "adbench.api",
    "hessian": "adbench.api",
    "sparse_jacobian": "adbench.api",
    "nested": "adbench.api",
    "BackendInfo": "adbench.backends",
    "backend_names": "adbench.backends",
    "get_backend": "adbench.backends",
    "list_backends": "adbench.backends",
    "BackendUnavailableError": "adbench.errors",
    "UnknownChoiceError": "adbench.errors",
    "Problem": "adbench.problems",
    "get_problem": "adbench.problems",
    "list_problems": "adbench.problems",
    "problem_from_function": "adbench.problems",
    "register": "adbench.problems",
    "CaseResult": "adbench.engine.record",
    "python_loop": "adbench.services",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
