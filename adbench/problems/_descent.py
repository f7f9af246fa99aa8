"""gradbench's gradient-descent solver (``multivariate_argmin``) for ``particle`` and ``saddle``, written once
against ``xp`` and the control-flow services, so one piece serves every backend and the NumPy references.

The solver, as gradbench's tools write it (tools/futhark/solver.fut, the C++ tools' solver.hpp): from
x with f(x) and its gradient g, step size eta = 1e-5; stop when |g| <= 1e-5 or a step moves x by
<= 1e-5; after 10 accepted steps in a row eta doubles; a step that does not lower f is refused and
halves eta. The gradient is whatever the caller hands in: a level of the ``ad`` service in the
problems, a hand-written derivative in their references.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

TOLERANCE = 1e-5  # on |g| and on the length of a step
ETA = 1e-5  # the first step size
PATIENCE = 10  # accepted steps before eta doubles


def _norm(xp, v):
    return xp.sqrt(xp.sum(v * v))


def argmin(
    f: Callable[[Array], Array],
    grad: Callable[[Array], Array],
    x: Array,
    xp: Namespace,
    while_loop: Callable[..., tuple[Array, ...]],  # the while_loop service: adbench.services.python_while_loop's
    cond: Callable[..., Any],  # the cond service: adbench.services.python_cond's contract
    max_steps: int | None = None,
    eta: float = ETA,
) -> Array:
    """gradbench's ``multivariate_argmin``: the x that gradient descent from ``x`` ends at.

    ``x`` is a 1-D array, ``f(x)`` a 0-d array, ``grad(x)`` its gradient (shape of x). Every branch
    goes through ``cond`` and the iteration through ``while_loop`` (``max_steps`` where the loop is
    itself differentiated in reverse mode: see adbench.services.python_while_loop), so JAX traces it
    under jit and eager frameworks run it as Python. ``eta`` is the first step size (gradbench's 1e-5).
    """
    fx = f(x)
    zero = xp.zeros_like(fx)  # a constant of f's dtype and device: no derivative flows through it
    # carry: (x, f(x), g(x), eta, accepted steps in a row, keep going)
    init = (x, fx, grad(x), zero + eta, zero, zero == zero)

    def step(carry):
        x, fx, gx, eta, accepted, go = carry
        stop = (x, fx, gx, eta, accepted, xp.logical_not(go))

        def double(_):
            return x, fx, gx, 2 * eta, xp.zeros_like(accepted), go

        def attempt(_):
            x_new = x - eta * gx

            def evaluate(_):
                f_new = f(x_new)
                return cond(
                    f_new < fx,
                    lambda _: (x_new, f_new, grad(x_new), eta, accepted + 1, go),
                    lambda _: (x, fx, gx, eta / 2, xp.zeros_like(accepted), go),
                    None,
                )

            return cond(_norm(xp, x - x_new) <= TOLERANCE, lambda _: stop, evaluate, None)

        return cond(
            _norm(xp, gx) <= TOLERANCE,
            lambda _: stop,
            lambda _: cond(accepted == PATIENCE, double, attempt, None),
            None,
        )

    return while_loop(lambda carry: carry[5], step, init, max_steps)[0]


def descent_problem(
    name: str,
    function: Callable[..., Any],
    description: str,
    start: tuple[float, ...],
    preset: str,
    n_outputs: int,
    constants: Mapping[str, float],
    by_hand: Callable[..., Any],
    work: int,
    theory: str,
    expected: Any,
    light: Mapping[str, float],
) -> Problem:
    """One of gradbench's nested problems over ``argmin``, as ``particle`` and ``saddle`` are registered: at the
    one size of gradbench's input ``start`` (``preset`` says so), --quick included; never in a plain run (eager
    frameworks take tens of seconds per call: every step of the descent differentiates a whole inner loop);
    the hand-written ``by_hand`` is its reference and manual floor; ``work`` elements a reverse outer level
    tapes; ``extra`` holds gradbench's validated result and ``light``, constants for a workload a few hundred
    times smaller (for tests)."""
    n = len(start)
    return Problem(
        name=name,
        function=function,
        description=description,
        output_size=lambda _: n_outputs,
        sizes=(n,),
        quick_sizes=(n,),
        presets={n: preset},
        plain_run=False,
        make_input=lambda _, rng: np.array(start, dtype=np.float64),
        make_constants=lambda x, rng: dict(constants),
        manual_nested=by_hand,
        work_size=lambda _: work,
        theory=theory,
        extra={"gradbench_expected": expected, "light": dict(light)},
    )
