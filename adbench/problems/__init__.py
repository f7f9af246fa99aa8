"""The problem registry: each problem written once as math against an array namespace ``xp``."""

from __future__ import annotations

from adbench.problems import ba as _ba  # noqa: F401  (ADBench's sparse workloads)
from adbench.problems import det as _det
from adbench.problems import gmm as _gmm  # noqa: F401  (the workloads)
from adbench.problems import ht as _ht
from adbench.problems import kmeans as _kmeans
from adbench.problems import llsq as _llsq  # noqa: F401  (gradbench's evals)
from adbench.problems import lse as _lse
from adbench.problems import lstm as _lstm
from adbench.problems import mlp as _mlp
from adbench.problems import ode as _ode
from adbench.problems import particle as _particle  # noqa: F401  (nested differentiation)
from adbench.problems import saddle as _saddle
from adbench.problems import seed as _seed  # noqa: F401  (registers the built-ins)
from adbench.problems import tall as _tall
from adbench.problems._registry import Problem, get_problem, list_problems, problem_from_function, register

__all__ = ["Problem", "get_problem", "list_problems", "problem_from_function", "register"]
