"""``ode``: cmpad's ``an_ode`` as gradbench states it, y(2) after classical RK4, R^n -> R^n.

Against gradbench's ode eval: the same function; its input {x, s} is (x, steps = s), and adbench's default s is
10 (gradbench runs 1, 10 and 100). ADBench has no ode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.services import python_loop
from adbench.xp import Array, Namespace

T_FINAL = 2.0
# gradbench runs s in {1, 10, 100}: 10, its middle value, keeps results comparable with its runs.
# f costs 4 right-hand sides per step (~0.1 ms in NumPy at n = 16), but every step also adds ~40
# operations to the unrolled graph JIT backends compile: XLA compiles jacrev at n = 16 in 0.5 s with
# 5 steps, 1.2 s with 10 and 5 s with 20 (compile time grows faster than linearly in the graph).
STEPS = 10


def _rhs(x: Array, y: Array, xp: Namespace) -> Array:
    # y0' = x0, yi' = xi y(i-1)
    return xp.concat([x[:1], x[1:] * y[:-1]])


def ode(x: Array, xp: Namespace, steps: int, loop: Callable[..., Any] = python_loop) -> Array:
    """RK4 over the ``loop`` service: on JAX a scan, one traced step (a Python loop unrolled the 10 steps
    into the program: f 2.4x, the Jacobian 1.8-3.6x an idiomatic lax.scan version, and XLA's compile
    grew with the steps); elsewhere a Python loop, as native code. The right-hand side concatenates
    [x0, x[1:] y[:-1]] (inside the unrolled loop a roll/where spelling was slower still; with the scan,
    concat matches the native twins on every framework, within 1.1x)."""
    dt = T_FINAL / steps

    def step(_, y):
        k1 = _rhs(x, y, xp)
        k2 = _rhs(x, y + (dt / 2) * k1, xp)
        k3 = _rhs(x, y + (dt / 2) * k2, xp)
        k4 = _rhs(x, y + dt * k3, xp)
        return y + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)

    return loop(step, xp.zeros_like(x), steps)


def ode_jacobian(x: np.ndarray, steps: int) -> np.ndarray:
    """dy/dx by forward sensitivities carried through every RK4 stage: S' = f_y S + f_x."""
    n = x.shape[0]
    dt = T_FINAL / steps
    diag = np.arange(n)

    def stage(y, S):
        # f_y is x[1:] on the subdiagonal; f_x is diagonal, [1, y[:-1]].
        k = np.concatenate([x[:1], x[1:] * y[:-1]])
        K = np.zeros_like(S)
        K[1:] = x[1:, None] * S[:-1]
        K[diag, diag] += np.concatenate([np.ones(1, x.dtype), y[:-1]])
        return k, K

    y, S = np.zeros(n, x.dtype), np.zeros((n, n), x.dtype)
    for _ in range(steps):
        k1, K1 = stage(y, S)
        k2, K2 = stage(y + dt / 2 * k1, S + dt / 2 * K1)
        k3, K3 = stage(y + dt / 2 * k2, S + dt / 2 * K2)
        k4, K4 = stage(y + dt * k3, S + dt * K3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        S = S + dt / 6 * (K1 + 2 * K2 + 2 * K3 + K4)
    return S


register(
    Problem(
        name="ode",
        function=ode,
        description=f"y' = [x0, x_i y_(i-1)], y(0) = 0, RK4 with {STEPS} steps to t = 2; R^n -> R^n (gradbench's ode)",
        output_size=lambda n: n,
        sizes=(10, 100, 1000),
        default_sizes=(16,),
        quick_sizes=(16,),
        make_input=lambda n, rng: rng.random(n),  # gradbench's x: uniform on [0, 1)
        make_constants=lambda x, rng: {"steps": STEPS},
        manual_jacobian=ode_jacobian,
        work_size=lambda n: n,  # every intermediate is one n-vector
        cost_exponent=1.0,  # 4 * steps right-hand sides of O(n) each
        theory="m = n and J lower-triangular: forward needs n JVPs, reverse n VJPs; neither mode should win",
    )
)
