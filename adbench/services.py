"""Services a problem asks for by parameter name (``loop``, ``while_loop``, ``cond``, ``ad``), with the
plain-Python defaults NumPy callers get.

The array API standard has no loop construct, so a problem that iterates declares a keyword
parameter named after the service, defaulting to the plain-Python implementation here::

    def ode(x, xp, steps, loop=python_loop):
        ...
        return loop(step, y0, steps)

Called directly (NumPy, array-api-strict, the correctness oracle, the memory probe), it runs the
default. Each backend hands its own implementation instead (``Backend.services``, resolved in one
place, ``adbench.backends._base.bind_services``): JAX a ``lax.fori_loop``, eager frameworks this
Python loop. A user's function asks the same way. This module imports nothing heavy.

A function that differentiates inside itself (gradbench's ``particle`` and ``saddle``) asks for ``ad``:
two levels, ``ad.outer`` and ``ad.inner``, each offering ``grad(g)``, the gradient of a scalar
``g(z)`` of a 1-D array, computed in that level's mode. The case's mode is the composition, read
outer-over-inner as everywhere in adbench: ``forward-over-reverse`` (gradbench's ``fr``) hands an
``ad`` whose outer level is forward mode and inner level reverse mode. Data-dependent loops and
branches go through ``while_loop`` and ``cond`` (shaped as ``lax.while_loop`` and ``lax.cond``), so
JAX can run them under ``jit`` and eager frameworks as plain Python.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from adbench.xp import Array, Namespace

Carry = TypeVar("Carry")
ArrayFunction = Callable[[Array], Array]  # g of z, or its gradient


def python_loop(step: Callable[[int, Carry], Carry], init: Carry, k: int) -> Carry:
    """``carry = step(i, carry)`` for i = 0 ... k-1, from ``init``: the contract of the ``loop`` service.

    ``k`` is a Python int (a static trip count: JAX's reverse mode needs one); ``carry`` an array or
    a tuple (possibly nested) of arrays whose shapes and dtypes ``step`` keeps; ``i`` is a Python int
    here and a traced integer scalar where a backend's loop traces (index with it, don't branch on it).
    """
    carry = init
    for i in range(k):
        carry = step(i, carry)
    return carry


def python_while_loop(
    cond: Callable[[Carry], Array], body: Callable[[Carry], Carry], init: Carry, max_steps: int | None = None
) -> Carry:
    """``while cond(carry): carry = body(carry)``: the contract of the ``while_loop`` service.

    ``cond`` returns a 0-d boolean array, ``body`` a carry of the same structure, shapes and dtypes.
    ``max_steps`` bounds a loop that is differentiated in reverse mode: JAX cannot reverse-differentiate
    ``lax.while_loop``, so there it runs as a scan of at most ``max_steps`` steps that skips the
    finished ones. Here, as there, a loop that would run longer is an error, not a silent cut.
    """
    carry, steps = init, 0
    while bool(cond(carry)):
        if max_steps is not None and steps >= max_steps:
            raise RuntimeError(f"while_loop ran past its bound max_steps={max_steps}")
        carry, steps = body(carry), steps + 1
    return carry


def python_cond(pred: Array, true_fn: Callable[[Carry], Any], false_fn: Callable[[Carry], Any], operand: Carry) -> Any:
    """``true_fn(operand)`` if ``pred`` else ``false_fn(operand)``: the contract of the ``cond`` service.

    ``pred`` is a 0-d boolean array; both branches return the same structure, shapes and dtypes (JAX
    traces both; eager frameworks run the one taken).
    """
    return true_fn(operand) if bool(pred) else false_fn(operand)


@dataclass(frozen=True)
class Level:
    """One level of differentiation inside a function: its mode and its gradient operator.

    ``grad(g)`` returns ``z -> dg/dz`` for a scalar ``g`` of a 1-D array ``z`` (shape ``(k,)`` in,
    ``(k,)`` out): one VJP in reverse mode, k JVPs (one per unit vector) in forward mode, 2k
    evaluations for central differences.
    """

    mode: str
    grad: Callable[[ArrayFunction], ArrayFunction]


@dataclass(frozen=True)
class AD:
    """The ``ad`` service: the outer and the inner level of a nested differentiation."""

    outer: Level
    inner: Level

    @property
    def mode(self) -> str:
        """The composition, outer over inner: ``forward-over-reverse``."""
        return f"{self.outer.mode}-over-{self.inner.mode}"


def central_grad(g: ArrayFunction) -> ArrayFunction:
    """The gradient of a scalar ``g`` by central differences, in whatever array namespace ``z`` has.

    Each step is eps^(1/3) max(1, |z_i|) (truncation h^2 against rounding eps/h). Differences of a
    function that differences inside are good to about eps^(1/3) of its scale: a baseline, not a
    reference.
    """

    def gradient(z):
        xp = z.__array_namespace__()
        k = z.shape[0]
        eps = float(xp.finfo(z.dtype).eps)
        columns = []
        for i in range(k):
            unit = xp.astype(xp.arange(k) == i, z.dtype)
            h = eps ** (1 / 3) * max(1.0, abs(float(z[i])))
            columns.append((g(z + h * unit) - g(z - h * unit)) / (2 * h))
        return xp.stack(columns)

    return gradient


def stacked_jvps(
    jvp: Callable[[Array, Array], Array], unit: Callable[[Array, int], Array], xp: Namespace
) -> ArrayFunction:
    """A forward-mode gradient: ``z -> [jvp(z, e_i) for each unit vector e_i]``, stacked.

    ``jvp(z, v)`` is a framework's directional derivative of g at z along v and ``unit(z, i)`` its i-th
    unit vector (of z's dtype and device). One JVP after another, not vmapped: a vmap cannot run the
    data-dependent branches of gradbench's nested problems in eager frameworks.
    """
    return lambda z: xp.stack([jvp(z, unit(z, i)) for i in range(z.shape[0])])


# Finite differences at both levels: what NumPy callers (and the finite-diff baseline) get.
CENTRAL_AD = AD(Level("central", central_grad), Level("central", central_grad))

# What a service is: a function (loop, while_loop, cond) or the ad service's two levels.
Service = Callable[..., Any] | AD
# Every service a problem may ask for, by parameter name, with its default.
DEFAULTS: dict[str, Service] = {
    "loop": python_loop,
    "while_loop": python_while_loop,
    "cond": python_cond,
    "ad": CENTRAL_AD,
}


@functools.cache
def requested(function: Callable[..., Any]) -> tuple[str, ...]:
    """The services ``function`` asks for: its parameters named after one (``**kwargs`` asks for none)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(
        name
        for name in DEFAULTS
        if name in params
        and params[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
