"""Services a problem asks for by parameter name (``loop``), with the plain-Python defaults NumPy callers get.

The array API standard has no loop construct, so a problem that iterates declares a keyword
parameter named after the service, defaulting to the plain-Python implementation here::

    def ode(x, xp, steps, loop=python_loop):
        ...
        return loop(step, y0, steps)

Called directly (NumPy, array-api-strict, the correctness oracle, the memory probe), it runs the
default. Each backend hands its own implementation instead (``Backend.services``, resolved in one
place, ``adbench.backends._base.bind_services``): JAX a ``lax.fori_loop``, eager frameworks this
Python loop. A user's function asks the same way. This module imports nothing heavy.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Carry = TypeVar("Carry")


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


# Every service a problem may ask for, by parameter name, with its default (next: ``ad``).
DEFAULTS: dict[str, Callable[..., Any]] = {"loop": python_loop}


@functools.lru_cache(maxsize=None)
def requested(function: Callable[..., Any]) -> tuple[str, ...]:
    """The services ``function`` asks for: its parameters named after one (``**kwargs`` asks for none)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in DEFAULTS if name in params
                 and params[name].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
