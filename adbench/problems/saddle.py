"""``saddle``: Pearlmutter and Siskind's saddle point by nested gradient descent, as gradbench specifies it.

Against gradbench's saddle eval: its C++ objective and tools' function (its README's typo aside, below). ADBench
has no saddle.

min over x in R^2 of max over y in R^2 of f(x, y) = (x_1^2 + x_2^2) - (y_1^2 + y_2^2) (gradbench's
README prints the second term as (x_2^2 + y_1^2), a typo: its C++ objective and every tool compute
this one). From the start s, step 1 finds x* = argmin_x max_y f(x, y) by gradbench's descent
(adbench.problems._descent), whose objective max_y f(x, y) is itself a gradient ascent in y from s;
step 2 finds y* = argmax_y f(x*, y) from s. The descent's gradient (the outer level of ``ad``)
differentiates through the whole inner ascent, whose gradient is the inner level; step 2 uses the
outer level, as gradbench requires. gradbench's ``ff``, ``fr``, ``rf``, ``rr`` are this problem's modes
``forward-over-forward`` ... ``reverse-over-reverse``.

The input is s (n = 2, gradbench's (1, 1)), the result (x*, y*) concatenated (m = 4): gradbench's
validator expects 8.246324826140356e-06 in all four, which the reference here reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adbench.problems._descent import ETA, argmin, descent_problem
from adbench.problems._registry import register
from adbench.services import AD, CENTRAL_AD, python_cond, python_while_loop
from adbench.xp import Array, Namespace

# The inner ascent is differentiated by the outer level, so it is bounded for JAX's reverse mode: from
# gradbench's start it takes 170 steps (eta must double from 1e-5 to about 0.5); 1000 leaves room.
MAX_INNER_STEPS = 1000
GRADBENCH_RESULT = 8.246324826140356e-06  # gradbench's evals/saddle: each of the four, for s = (1, 1)


def objective(p1: Array, p: Array) -> Array:
    """gradbench's f(x1, y1, x2, y2) = (x1^2 + y1^2) - (x2^2 + y2^2) with p1 = (x1, y1) and p = (x2, y2)."""
    return (p1[0] * p1[0] + p1[1] * p1[1]) - (p[0] * p[0] + p[1] * p[1])


def saddle(
    x: Array,
    xp: Namespace,
    eta: float = ETA,
    ad: AD = CENTRAL_AD,
    while_loop: Callable[..., Any] = python_while_loop,
    cond: Callable[..., Any] = python_cond,
) -> Array:
    """(x*, y*) from the start s = x: shape (2,) in, (4,) out; ``eta`` is every descent's first step size
    (gradbench's 1e-5; a larger one makes a lighter workload for tests)."""

    def neg(p1):
        return lambda p: -objective(p1, p)

    def max_over_y(p1):
        y = argmin(neg(p1), ad.inner.grad(neg(p1)), x, xp, while_loop, cond, MAX_INNER_STEPS, eta)
        return objective(p1, y)

    x_star = argmin(max_over_y, ad.outer.grad(max_over_y), x, xp, while_loop, cond, eta=eta)
    y_star = argmin(neg(x_star), ad.outer.grad(neg(x_star)), x, xp, while_loop, cond, eta=eta)
    return xp.concat([x_star, y_star])


def saddle_by_hand(x: np.ndarray, eta: float = ETA) -> np.ndarray:
    """(x*, y*) by the same descents with the derivatives written out: the reference and the manual floor.

    The inner gradient is d(-f)/dy = 2y. The outer one is d/dx f(x, y(x)) for the inner ascent's end
    y(x): its steps y <- y - eta 2y never involve x (f's cross derivatives vanish) and its branches are
    piecewise constant, so dy/dx = 0 through the whole ascent and the derivative is df/dx = 2x.
    """
    x = np.asarray(x)

    def neg(p1):
        return lambda p: -objective(p1, p)

    def max_over_y(p1):
        return objective(
            p1, argmin(neg(p1), lambda p: 2 * p, x, np, python_while_loop, python_cond, MAX_INNER_STEPS, eta)
        )

    x_star = argmin(max_over_y, lambda p1: 2 * p1, x, np, python_while_loop, python_cond, eta=eta)
    y_star = argmin(neg(x_star), lambda p: 2 * p, x, np, python_while_loop, python_cond, eta=eta)
    return np.concatenate([x_star, y_star])


register(
    descent_problem(
        "saddle",
        saddle,
        "Pearlmutter & Siskind's saddle point (gradbench's saddle): gradient descent in x over a "
        "gradient ascent in y; R^2 -> R^4, nested",
        start=(1.0, 1.0),
        preset="gradbench's start (1, 1)",
        n_outputs=4,  # gradbench's input {"start": [1.0, 1.0]}
        constants={"eta": ETA},
        by_hand=saddle_by_hand,
        # A reverse outer level tapes the inner ascent (170 steps of a few 2-vectors) per descent step
        # (eager frameworks: ~50 000 inner ascent steps a call, each a gradient).
        work=16 * MAX_INNER_STEPS,
        theory="nested: each of the descent's ~170 steps runs a ~170-step inner ascent, and its gradient "
        "differentiates through that ascent; both levels have 2 inputs (forward 2 JVPs, reverse 1 VJP)",
        expected=GRADBENCH_RESULT,
        light={"eta": 0.1},  # eta starts near where gradbench's ramps up to
    )
)
