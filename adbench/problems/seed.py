"""The tutorial's three functions: ``basic`` (R^2 -> R^3), ``loss`` (R^n -> R) and ``control_loop``.

Against gradbench and ADBench: neither has these; they are the tutorial's own examples.
"""

from __future__ import annotations

import math

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace


# -- basic: f(x) = [sin(x0/x1) + x1^2, x0^2 - x1^2, x0^3] ------------------------------------------
def basic(x: Array, xp: Namespace) -> Array:
    """The tutorial's first function, as it writes it: one stack of the three components (within 1.1x of
    each framework's native spelling, tools/fidelity.py)."""
    return xp.stack([xp.sin(x[0] / x[1]) + x[1] ** 2, x[0] ** 2 - x[1] ** 2, x[0] ** 3])


def basic_jacobian(x: np.ndarray) -> np.ndarray:
    x0, x1 = x
    c = np.cos(x0 / x1)
    return np.array([[c / x1, -c * x0 / x1**2 + 2 * x1], [2 * x0, -2 * x1], [3 * x0**2, 0.0]], dtype=x.dtype)


register(
    Problem(
        name="basic",
        function=basic,
        description="[sin(x0/x1) + x1^2, x0^2 - x1^2, x0^3], R^2 -> R^3 (the tutorial's first function)",
        output_size=lambda n: 3,
        sizes=(2,),
        quick_sizes=(2,),
        presets={2: "the tutorial's point"},
        # The tutorial's point (1, 0.5); x1 = 0 would divide by zero.
        make_input=lambda n, rng: np.array([1.0, 0.5]),
        manual_jacobian=basic_jacobian,
        work_size=lambda n: 3,
        theory="m = 3 > n = 2: forward needs 2 JVPs, reverse 3 VJPs; overhead dominates at this size",
    )
)


# -- loss: sin(exp(x* . x / sqrt(n))) ---------------------------------------------------------------
def loss(x: Array, xp: Namespace, x_star: Array) -> Array:
    """The tutorial's loss, spelled as it is: one dot product, then scalar operations (within 1.15x of
    each framework's native line, f and gradient)."""
    # The tutorial's spelling, jnp.sin(jnp.exp(jnp.dot(x_star, x) / jnp.sqrt(n))): one dot product,
    # then scalars (scaling the n-vector first cost an extra pass over it: 1.4-1.6x the native f).
    # torch.func's forward mode would promote the 0-d quotient to float64; the torch adapter casts
    # its result back (adbench/backends/torch_backend.py).
    return xp.sin(xp.exp((x_star @ x) / math.sqrt(x.shape[0])))


def loss_jacobian(x: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    s = x_star @ x / math.sqrt(x.shape[0])
    return np.cos(np.exp(s)) * np.exp(s) * x_star / math.sqrt(x.shape[0])


def _loss_curvature(x: np.ndarray, x_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # f = sin(e^s) with s = a.x, a = x*/sqrt(n): H = (cos(e^s) e^s - sin(e^s) e^2s) a a^T.
    a = x_star / math.sqrt(x.shape[0])
    e = np.exp(a @ x)
    return np.cos(e) * e - np.sin(e) * e**2, a


def loss_hessian(x: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    c, a = _loss_curvature(x, x_star)
    return c * np.outer(a, a)


def loss_hvp(x: np.ndarray, v: np.ndarray, x_star: np.ndarray) -> np.ndarray:
    c, a = _loss_curvature(x, x_star)
    return c * (a @ v) * a  # H v without the n x n H: O(n)


register(
    Problem(
        name="loss",
        function=loss,
        description="sin(exp(x* . x / sqrt(n))), R^n -> R (the tutorial's scalar loss, n = 10 000)",
        scalar_output=True,
        sizes=(100, 1000, 10_000),
        quick_sizes=(1000,),
        default_sizes=(10_000,),  # the tutorial's n
        make_constants=lambda x, rng: {"x_star": rng.standard_normal(x.shape[0])},
        manual_jacobian=loss_jacobian,
        manual_hessian=loss_hessian,
        manual_hvp=loss_hvp,
        theory="m = 1: reverse needs 1 VJP, forward n JVPs, so reverse should win by about n",
        cost_exponent=1.0,  # one dot product of length n
        # The tutorial's own figure: un-jitted jacfwd 0.2247 s vs jacrev 0.0027 s at n = 10 000.
        extra={
            "tutorial": {
                "size": 10_000,
                "backend": "jax-eager",
                "forward_s": 0.22470307350158691,
                "reverse_s": 0.002707958221435547,
            }
        },
    )
)


# -- control_loop: k = int(max(z)) times z <- sin(z^2), then sum(z) -------------------------------
def control_loop(z: Array, xp: Namespace, k: int) -> Array:
    """The tutorial's data-dependent loop, kept a Python loop: k = int(max(z)) is 2 or 3 at these sizes, and
    the loop service's scan cost JAX 1.2-1.7x the unrolled gradient and HVP at k = 2, and 4x their first
    calls (measured); the scan pays only for long loops (ode, lstm)."""
    # k = int(max(z)) comes in as a Python int computed from the concrete input (loop_count):
    # under jax.jit, int(max(z)) raises ConcretizationTypeError, autograd cannot int() a traced
    # box and torch.func's vmap refuses .item(). A JIT backend therefore compiles once per k.
    for _ in range(k):
        z = xp.sin(z**2)
    return xp.sum(z)


def loop_count(x: np.ndarray) -> int:
    """The tutorial's ``int(max(z))``: 0 when max(z) < 1, and range() of a negative is empty."""
    return max(0, int(np.max(x)))


def control_loop_jacobian(z: np.ndarray, k: int) -> np.ndarray:
    grad = np.ones_like(z)
    for _ in range(k):
        grad = grad * np.cos(z**2) * 2 * z
        z = np.sin(z**2)
    return grad


def control_loop_hessian_diagonal(z: np.ndarray, k: int) -> np.ndarray:
    # Element-wise, so H is diagonal: f_i = phi^k(z_i) with phi(t) = sin(t^2). Through each
    # step g = phi(h): g' = phi'(h) h', g'' = phi''(h) h'^2 + phi'(h) h''.
    d1, d2 = np.ones_like(z), np.zeros_like(z)
    for _ in range(k):
        dphi, ddphi = 2 * z * np.cos(z**2), 2 * np.cos(z**2) - 4 * z**2 * np.sin(z**2)
        d1, d2 = dphi * d1, ddphi * d1**2 + dphi * d2
        z = np.sin(z**2)
    return d2


def control_loop_hessian(z: np.ndarray, k: int) -> np.ndarray:
    return np.diag(control_loop_hessian_diagonal(z, k))


def control_loop_hvp(z: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    return control_loop_hessian_diagonal(z, k) * v


# Declared as loss is (every problem declares these fields): the same shape, its own values.
register(
    Problem(
        name="control_loop",
        function=control_loop,
        description="k = int(max(z)) times z <- sin(z^2), then sum(z); R^n -> R (data-dependent loop)",
        scalar_output=True,
        sizes=(10, 100, 1000),
        quick_sizes=(100,),
        default_sizes=(100,),  # the tutorial's n
        make_constants=lambda x, rng: {"k": loop_count(x)},
        manual_jacobian=control_loop_jacobian,
        manual_hessian=control_loop_hessian,
        manual_hvp=control_loop_hvp,
        theory="m = 1: reverse needs 1 VJP, forward n JVPs; each pass is k loop iterations",
        cost_exponent=1.0,  # k element-wise passes; k = int(max z) grows very slowly with n
    )
)
