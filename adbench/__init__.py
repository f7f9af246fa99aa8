"""adbench: measure forward vs reverse mode and JAX vs PyTorch vs autograd on the same problems.

Importing adbench imports no AD framework; each is imported when a backend first needs it.
"""

from __future__ import annotations

from adbench.api import jacobian
from adbench.backends import BackendInfo, backend_names, get_backend, list_backends
from adbench.errors import BackendUnavailableError, UnknownChoiceError
from adbench.problems import Problem, get_problem, list_problems, problem_from_function, register

__version__ = "0.1.0"

__all__ = [
    "BackendInfo",
    "BackendUnavailableError",
    "Problem",
    "UnknownChoiceError",
    "__version__",
    "backend_names",
    "get_backend",
    "get_problem",
    "jacobian",
    "list_backends",
    "list_problems",
    "problem_from_function",
    "register",
]
