"""The problem registry: each problem written once as math against an array namespace ``xp``."""

from __future__ import annotations

from adbench.problems._registry import get_problem, list_problems, register
from adbench.problems.problem import Problem
from adbench.problems.user import problem_from_function

# Imported for what importing does: each module registers its problems, and list_problems (so `compare`'s
# tables) follows this order, so the sorter leaves it alone: the built-ins, the workloads, ADBench's sparse ones,
# gradbench's evals, nested differentiation.
# isort: off
from adbench.problems import seed as _seed  # noqa: F401
from adbench.problems import tall as _tall  # noqa: F401
from adbench.problems import gmm as _gmm  # noqa: F401
from adbench.problems import lstm as _lstm  # noqa: F401
from adbench.problems import ode as _ode  # noqa: F401
from adbench.problems import mlp as _mlp  # noqa: F401
from adbench.problems import ba as _ba  # noqa: F401
from adbench.problems import ht as _ht  # noqa: F401
from adbench.problems import llsq as _llsq  # noqa: F401
from adbench.problems import lse as _lse  # noqa: F401
from adbench.problems import det as _det  # noqa: F401
from adbench.problems import kmeans as _kmeans  # noqa: F401
from adbench.problems import particle as _particle  # noqa: F401
from adbench.problems import saddle as _saddle  # noqa: F401
from adbench.problems import inputs as _inputs  # noqa: F401  (registers the reader of NAME@FILE names)
# isort: on

__all__ = ["Problem", "get_problem", "list_problems", "problem_from_function", "register"]
