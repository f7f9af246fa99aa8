"""``lse``: log-sum-exp written from primitives, as gradbench asks, R^n -> R.

Against gradbench's lse eval: the same function, x as its input {x}. ADBench has no lse.

lse(x) = a + log sum_i exp(x_i - a) with a = max(x) (the usual trick against overflow), built from
max, subtract, exp, sum and log, not from a library logsumexp with its own derivative: every
framework differentiates the primitives. The max makes the derivative a choice at ties (several x_i
equal to the max): there every framework here splits max's derivative evenly between the tied
entries, and lse's derivative is softmax(x) whatever the split, because a's contribution cancels:
d lse/d a = 1 - sum_i softmax_i = 0 (README: "Ties in lse"; tests/test_evals.py checks both).
"""

from __future__ import annotations

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace


def lse(x: Array, xp: Namespace) -> Array:
    a = xp.max(x)
    return xp.log(xp.sum(xp.exp(x - a))) + a


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def lse_gradient(x: np.ndarray) -> np.ndarray:
    return _softmax(x)


def lse_hessian(x: np.ndarray) -> np.ndarray:
    p = _softmax(x)
    return np.diag(p) - np.outer(p, p)


def lse_hvp(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    p = _softmax(x)
    return p * v - p * (p @ v)  # (diag p - p p^T) v without the n x n H


register(
    Problem(
        name="lse",
        function=lse,
        description="log-sum-exp from primitives, max(x) + log sum exp(x - max(x)); R^n -> R (gradbench's lse)",
        scalar_output=True,
        sizes=(2500, 10_000, 40_000),  # the start of gradbench's sweep, 2 500 ... 1 280 000
        default_sizes=(10_000,),
        quick_sizes=(2500,),
        plain_run=False,  # the default run's minute is spent; --full or --problems lse
        make_input=lambda n, rng: rng.random(n),  # gradbench's x: uniform on [0, 1)
        manual_jacobian=lse_gradient,
        manual_hessian=lse_hessian,
        manual_hvp=lse_hvp,
        work_size=lambda n: n,
        cost_exponent=1.0,  # n exponentials
        theory="m = 1: reverse needs 1 VJP, forward n JVPs, so reverse should win by about n",
    )
)
