"""``particle``: Pearlmutter and Siskind's charged particle, as gradbench specifies it; nested differentiation.

Against gradbench's particle eval: the same computation and result (below). ADBench has no particle.

A particle starts at (0, 8) with velocity (0.75, 0) in the field of two unit charges at (10, 10 - w)
and (10, 0); its acceleration is -grad_x p(x; w) with p(x; w) = sum over the charges of 1/|x - c|.
Naive Euler steps (dt = 0.1) run while the next position stays above the x-axis (an unbounded,
data-dependent loop); linear interpolation then finds where the path meets the axis, x(t_f), and
the miss is x_0(t_f)^2. gradbench's solver (adbench.problems._descent) finds the control w that
minimises the miss from w0. Two gradients nest: the descent's d(miss)/dw (the outer level of the
``ad`` service) differentiates through every Euler step, and each step takes grad_x p (the inner
level), itself a function of w through the charge. gradbench's ``ff``, ``fr``, ``rf`` and ``rr`` are
this problem's modes ``forward-over-forward`` ... ``reverse-over-reverse`` (outer over inner).

The input is w0 (n = 1, gradbench's w = 0), the result the final w: gradbench's validator expects
0.2071918746486116, which the reference here reproduces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adbench.problems._descent import ETA, argmin, descent_problem
from adbench.problems._registry import register
from adbench.services import AD, CENTRAL_AD, python_cond, python_while_loop
from adbench.xp import Array, Namespace

DT = 0.1
START, VELOCITY = (0.0, 8.0), (0.75, 0.0)
FIXED_CHARGE = (10.0, 0.0)  # the other charge is at (10, 10 - w)
# The Euler loop is differentiated (by the outer level), so it is bounded for JAX's reverse mode.
# gradbench's trajectories take 351-354 steps for the w the descent visits; 1000 leaves room.
MAX_EULER_STEPS = 1000
GRADBENCH_W = 0.2071918746486116  # gradbench's evals/particle: the expected w for w0 = 0


def _potential(w: Array, xp: Namespace) -> Callable[[Array], Array]:
    """p(z; w) = 1/|z - (10, 10 - w)| + 1/|z - (10, 0)|, as a function of the position z (shape (2,)).

    Python numbers meet only 1-D arrays or constants made with zeros_like (no derivative): torch.func.jvp
    promotes a 0-d float32 tensor with a tangent combined with a Python float to float64 (torch 2.13).
    """
    ten = xp.zeros_like(w) + 10.0
    charges = xp.stack([xp.stack([ten, ten - w]), xp.stack([ten * 0 + FIXED_CHARGE[0], ten * 0 + FIXED_CHARGE[1]])])

    def p(z):
        d = z - charges  # (2 charges, 2 coordinates)
        return xp.sum(1.0 / xp.sqrt(xp.sum(d * d, axis=1)))

    return p


def _euler(
    w: Array, accel: Callable[[Array], Array], xp: Namespace, while_loop: Callable[..., Any], dt: float = DT
) -> Array:
    """The squared miss x_0(t_f)^2 of the path for the control w (a 0-d array): naive Euler, then the
    axis crossing by linear interpolation. ``accel(z)`` is the acceleration at z."""
    zero = xp.zeros_like(w)
    start = (xp.stack([zero + START[0], zero + START[1]]), xp.stack([zero + VELOCITY[0], zero + VELOCITY[1]]))

    def above_axis(state):
        z, v = state
        return (z + dt * v)[1] > 0

    def step(state):
        z, v = state
        return z + dt * v, v + dt * accel(z)

    z, v = while_loop(above_axis, step, start, MAX_EULER_STEPS)
    dt_f = -z[1] / v[1]
    crossing = z[0] + dt_f * v[0]
    return crossing * crossing


def particle(
    x: Array,
    xp: Namespace,
    dt: float = DT,
    eta: float = ETA,
    ad: AD = CENTRAL_AD,
    while_loop: Callable[..., Any] = python_while_loop,
    cond: Callable[..., Any] = python_cond,
) -> Array:
    """The control w gradient descent ends at from w0 = x[0] (shape (1,) in and out); ``dt`` is the Euler
    step and ``eta`` the descent's first step size (gradbench's 0.1 and 1e-5; larger ones make a lighter
    workload for tests)."""

    def miss(w):
        def accel(z):
            return -ad.inner.grad(_potential(w[0], xp))(z)

        return _euler(w[0], accel, xp, while_loop, dt)

    return argmin(miss, ad.outer.grad(miss), x, xp, while_loop, cond, eta=eta)


# -- the reference: the same descent, with the derivatives written out ---------------------------------
def _miss_and_derivative(w: float, dtype: np.dtype[Any], dt: float = DT) -> tuple[float, float]:
    """x_0(t_f)^2 and its derivative in w, by forward sensitivities carried through every Euler step.

    With d = z - c and r = |d|, the acceleration is a = sum_c d / r^3, its Jacobian in z
    A = sum_c (I / r^3 - 3 d d^T / r^5), and only the first charge moves with w (dc/dw = (0, -1)),
    so da/dw = (I / r1^3 - 3 d1 d1^T / r1^5) (0, 1). Sensitivities s_z, s_v follow the steps exactly.
    Scalar code (Python floats, or NumPy float32 scalars for a float32 case): the problem is 2-D.
    """
    num = float if np.dtype(dtype) == np.float64 else np.dtype(dtype).type
    w = num(w)
    dt, three = num(dt), num(3.0)
    charges = [(num(10.0), num(10.0) - w), (num(FIXED_CHARGE[0]), num(FIXED_CHARGE[1]))]
    z0, z1, v0, v1 = num(START[0]), num(START[1]), num(VELOCITY[0]), num(VELOCITY[1])
    sz0 = sz1 = sv0 = sv1 = num(0.0)
    steps = 0
    while z1 + dt * v1 > 0:
        steps += 1
        if steps > MAX_EULER_STEPS:  # as the problem's bounded loop: an error, not a silent cut
            raise RuntimeError(f"while_loop ran past its bound max_steps={MAX_EULER_STEPS}")
        a0 = a1 = A00 = A01 = A11 = aw0 = aw1 = num(0.0)
        for index, (c0, c1) in enumerate(charges):
            d0, d1 = z0 - c0, z1 - c1
            r = (d0 * d0 + d1 * d1) ** num(0.5)
            r3, r5 = r * r * r, r * r * r * r * r
            a0, a1 = a0 + d0 / r3, a1 + d1 / r3
            j00, j01, j11 = 1 / r3 - three * d0 * d0 / r5, -three * d0 * d1 / r5, 1 / r3 - three * d1 * d1 / r5
            A00, A01, A11 = A00 + j00, A01 + j01, A11 + j11
            if index == 0:
                aw0, aw1 = j01, j11  # J (0, 1)
        z0, z1, v0, v1, sz0, sz1, sv0, sv1 = (
            z0 + dt * v0,
            z1 + dt * v1,
            v0 + dt * a0,
            v1 + dt * a1,
            sz0 + dt * sv0,
            sz1 + dt * sv1,
            sv0 + dt * (A00 * sz0 + A01 * sz1 + aw0),
            sv1 + dt * (A01 * sz0 + A11 * sz1 + aw1),
        )
    dt_f = -z1 / v1
    ddt_f = -sz1 / v1 + z1 * sv1 / (v1 * v1)
    crossing = z0 + dt_f * v0
    return crossing * crossing, 2 * crossing * (sz0 + ddt_f * v0 + dt_f * sv0)


def particle_by_hand(x: np.ndarray, dt: float = DT, eta: float = ETA) -> np.ndarray:
    """The final w by the same descent with the hand-written derivative: the reference and the manual floor."""
    x = np.asarray(x)
    return argmin(
        lambda w: np.asarray(_miss_and_derivative(w[0], x.dtype, dt)[0], x.dtype),
        lambda w: np.asarray([_miss_and_derivative(w[0], x.dtype, dt)[1]], x.dtype),
        x,
        np,
        python_while_loop,
        python_cond,
        eta=eta,
    )


register(
    descent_problem(
        "particle",
        particle,
        "Pearlmutter & Siskind's charged particle (gradbench's particle): gradient descent on the "
        "miss of an Euler path whose force is a gradient; R^1 -> R^1, nested",
        start=(0.0,),
        preset="gradbench's w0 = 0",
        n_outputs=1,  # gradbench's input {"w": 0.0}
        constants={"dt": DT, "eta": ETA},
        by_hand=particle_by_hand,
        # The optimisation holds a few 2-vectors; a reverse outer level tapes every Euler step of a miss
        # (eager frameworks: ~50 000 Euler steps a call, each calling a gradient).
        work=8 * MAX_EULER_STEPS,
        theory="nested: each descent step differentiates ~350 Euler steps, each of which takes grad_x p; "
        "the outer level has 1 input (forward needs 1 JVP, reverse 1 VJP) and the inner 2 (2 JVPs or 1 VJP)",
        expected=GRADBENCH_W,
        light={"dt": 1.0, "eta": 1e-2},  # 35-step paths, a shorter ramp of eta
    )
)
