"""``llsq``: cmpad's linear least-squares objective as gradbench states it, R^m -> R.

y(x) = 1/2 sum_i (s_i - sum_j x_j t_i^j)^2 with t_i = -1 + 2i/(N - 1) and s_i = sign(t_i), i < N:
fitting a polynomial of degree m - 1 to a step. Formulation: the powers t_i^j as one N x m array
(gradbench's "vectorised form"), then the residual s - T x; T depends on N only, so every framework
differentiates through T x alone. It is rebuilt inside f at every call, as gradbench's tools do (N
is a Python int, static under jit, so a compiler may fold it). A cheap f with long reductions.

gradbench sweeps N = 16 ... 16 392 at m = 128; adbench's size is the input, so here m varies
(8 ... 512, 128 by default) at N = 1024, and ``n_points`` (a constant) sets N.
"""

from __future__ import annotations

import numpy as np

from adbench.problems._registry import Problem, register

N_POINTS = 1024  # between gradbench's 16 and 16 392


def _grid(x, xp, n_points: int):
    """t (N,), s (N,) and the powers T (N, m), made from x so they share its dtype and device (the
    standard's arange takes a device, which a JAX tracer cannot name)."""
    if n_points < 2:
        raise ValueError(f"llsq needs n_points >= 2, not {n_points}")
    count = xp.cumulative_sum(xp.broadcast_to(xp.ones_like(x[:1]), (n_points,))) - 1.0  # 0, 1, ..., N - 1
    t = -1.0 + (count * 2.0) / (n_points - 1.0)
    powers = xp.cumulative_sum(xp.ones_like(x)) - 1.0  # 0, 1, ..., m - 1
    return t, xp.sign(t), xp.reshape(t, (-1, 1)) ** xp.reshape(powers, (1, -1))


def llsq(x, xp, n_points):
    _, s, T = _grid(x, xp, n_points)
    r = s - T @ x
    # Halving the vector, not the 0-d sum: torch.func.jacfwd promotes a 0-d float32 tensor times a Python
    # float to float64 (torch 2.13).
    return xp.sum((0.5 * r) * r)


def _powers(m: int, n_points: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    t = -1.0 + (np.arange(n_points, dtype=dtype) * 2.0) / (n_points - 1.0)
    return np.sign(t), t[:, None] ** np.arange(m, dtype=dtype)[None, :]


def llsq_gradient(x, n_points):
    s, T = _powers(x.shape[0], n_points, x.dtype)
    return -(T.T @ (s - T @ x))


def llsq_hessian(x, n_points):
    _, T = _powers(x.shape[0], n_points, x.dtype)
    return T.T @ T  # constant: y is quadratic in x


def llsq_hvp(x, v, n_points):
    _, T = _powers(x.shape[0], n_points, x.dtype)
    return T.T @ (T @ v)


register(Problem(
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
))
