"""The array namespace each framework hands a problem: the Python array API standard, spelled its way."""

from __future__ import annotations

import functools
import types
from typing import Any

NAMESPACES = ("numpy", "jax", "torch", "autograd")


@functools.cache
def namespace(framework: str) -> Any:
    """The array API namespace for ``framework``: NumPy 2's own, ``jax.numpy``,
    ``array_api_compat.torch``, or the autograd shim below. Imported on first use."""
    if framework == "numpy":
        import numpy

        return numpy
    if framework == "jax":
        import jax.numpy

        return jax.numpy
    if framework == "torch":
        import array_api_compat.torch

        return array_api_compat.torch
    if framework == "autograd":
        return _autograd_namespace()
    raise ValueError(f"no array namespace for {framework!r}; valid choices: {', '.join(NAMESPACES)}")


def _autograd_namespace() -> types.ModuleType:
    """``autograd.numpy`` with the standard's spellings where autograd's differ.

    autograd wraps NumPy 1's names as differentiable primitives; NumPy 2 added the standard's
    spellings, which autograd.numpy re-exports *without* gradients. Each line maps a standard
    name onto the NumPy 1 primitive whose gradient autograd defines.
    """
    import autograd.numpy as anp

    shim = types.ModuleType("adbench.xp.autograd", "autograd.numpy with the array API standard's spellings")
    shim.__dict__.update({k: v for k, v in vars(anp).items() if not k.startswith("__")})
    shim.concat = anp.concatenate  # anp.concat has no gradient
    return shim
