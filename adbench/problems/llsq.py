"""``llsq``: cmpad's linear least-squares objective as gradbench states it, R^m -> R.

y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2 with t_i = -1 + 2i/(N - 1) and s_i = sign(t_i), i < N:
fitting a polynomial of degree m - 1 to a step. Formulation: the powers t_i^j as one N x m array
(gradbench's "vectorised form"), by cumulative products along each row, then the residual s - T x; T
depends on N only, so every framework differentiates through T x alone. It is rebuilt inside f at every
call, as gradbench's tools do (N is a Python int, static under jit, so a compiler may fold it). A cheap f
with long reductions.

How it differs from gradbench's eval (evals/llsq/README.md): the same function, to rounding. t is computed
as (2i - (N - 1)) / (N - 1), so that the midpoint of an odd N is exactly 0 (sign 0, as NumPy computes
gradbench's formula) under any compiler's rewrite of the division; with gradbench's spelling XLA gave
5.6e-17 there under jax.jit, sign gave 1, and JAX's gradient was off every other backend's at odd N (by 0.8 %
of max|J| at N = 41, m = 128: tools/gradbench_definitions.py). gradbench sweeps N = 16 ... 16 392
at m = 128; adbench's size is the input, so here m varies (8 ... 512, 128 by default) at N = 1024, and
``n_points`` (a constant, any N >= 2) sets N: gradbench's input {x, n} is (x, n_points = n). ADBench has no
llsq.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

N_POINTS = 1024  # between gradbench's 16 and 16 392


def _grid(x: Array, xp: Namespace, n_points: int) -> tuple[Array, Array, Array]:
    """t (N,), s (N,) and the powers T (N, m), made from x so they share its dtype and device (the
    standard's arange takes a device, which a JAX tracer cannot name).

    t_i = (2i - (N - 1)) / (N - 1), not gradbench's -1 + 2i/(N - 1) (equal in exact arithmetic): the
    numerator is an exact integer, 0 at the midpoint of an odd N, and 0 / (N - 1) is 0 however a compiler
    spells the division (XLA's multiply by a reciprocal gave 5.6e-17 for -1 + 2i/(N - 1), so sign(t) was 1
    there under jax.jit, not 0). The powers come from a cumulative product along each row, [1, t, t^2, ...],
    as gradbench's JAX tool builds them: elementwise t ** j (an exp and a log per entry) made JAX's f and
    gradient 2-3x slower."""
    if n_points < 2:
        raise ValueError(f"llsq needs n_points >= 2, not {n_points}")
    count = xp.cumulative_sum(xp.broadcast_to(xp.ones_like(x[:1]), (n_points,))) - 1.0  # 0, 1, ..., N - 1: exact
    t = (2.0 * count - (n_points - 1.0)) / (n_points - 1.0)
    m = x.shape[0]
    T = xp.cumulative_prod(xp.broadcast_to(xp.reshape(t, (-1, 1)), (n_points, m - 1)), axis=1, include_initial=True)
    return t, xp.sign(t), T


def llsq(x: Array, xp: Namespace, n_points: int) -> Array:
    _, s, T = _grid(x, xp, n_points)
    r = s - T @ x
    # Halving the vector, not the 0-d sum: torch.func.jacfwd promotes a 0-d float32 tensor times a Python
    # float to float64 (torch 2.13).
    return xp.sum((0.5 * r) * r)


def _powers(m: int, n_points: int, dtype: npt.DTypeLike) -> tuple[np.ndarray, np.ndarray]:
    """s and T in NumPy for the hand-written derivatives: the same grid, the same products, in ``dtype``."""
    t = (2.0 * np.arange(n_points, dtype=dtype) - (n_points - 1.0)) / (n_points - 1.0)
    return np.sign(t), np.cumprod(
        np.concatenate([np.ones((n_points, 1), dtype), np.repeat(t[:, None], m - 1, 1)], 1), 1
    )


def llsq_gradient(x: np.ndarray, n_points: int) -> np.ndarray:
    s, T = _powers(x.shape[0], n_points, x.dtype)
    return -(T.T @ (s - T @ x))


def llsq_hessian(x: np.ndarray, n_points: int) -> np.ndarray:
    _, T = _powers(x.shape[0], n_points, x.dtype)
    return T.T @ T  # constant: y is quadratic in x


def llsq_hvp(x: np.ndarray, v: np.ndarray, n_points: int) -> np.ndarray:
    _, T = _powers(x.shape[0], n_points, x.dtype)
    return T.T @ (T @ v)


register(
    Problem(
        name="llsq",
        function=llsq,
        description=f"cmpad's linear least squares 1/2 sum_i (sign(t_i) - sum_j x_j t_i^j)^2, N = {N_POINTS} "
        "points on [-1, 1]; R^m -> R (gradbench's llsq)",
        scalar_output=True,
        sizes=(8, 32, 128, 512),
        default_sizes=(128,),  # gradbench's m
        quick_sizes=(32,),
        plain_run=False,  # the default run's minute is spent; --full or --problems llsq
        make_input=lambda n, rng: rng.random(n),  # gradbench's x: uniform on [0, 1)
        make_constants=lambda x, rng: {"n_points": N_POINTS},
        manual_jacobian=llsq_gradient,
        manual_hessian=llsq_hessian,
        manual_hvp=llsq_hvp,
        work_size=lambda n: N_POINTS * n,  # T
        cost_exponent=1.0,  # N m powers and multiply-adds: linear in m at fixed N
        theory="m = 1: reverse needs 1 VJP, forward n JVPs, so reverse should win by about n; H = T^T T is constant",
    )
)
