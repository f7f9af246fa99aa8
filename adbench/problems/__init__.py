"""The problem registry: each problem written once as math against an array namespace ``xp``."""

from __future__ import annotations

from adbench.problems._registry import (
    Problem,
    get_problem,
    list_problems,
    problem_from_function,
    register,
)
from adbench.problems import seed as _seed, tall as _tall  # noqa: F401  (registers the built-ins)
from adbench.problems import gmm as _gmm, lstm as _lstm, ode as _ode, mlp as _mlp  # noqa: F401  (the workloads)
from adbench.problems import ba as _ba, ht as _ht  # noqa: F401  (ADBench's sparse workloads)
from adbench.problems import llsq as _llsq, lse as _lse, det as _det, kmeans as _kmeans  # noqa: F401  (gradbench's evals)
from adbench.problems import particle as _particle, saddle as _saddle  # noqa: F401  (nested differentiation)

__all__ = ["Problem", "get_problem", "list_problems", "problem_from_function", "register"]
