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
    name onto the NumPy 1 primitive whose gradient autograd defines; max and min get derivatives
    that keep float32 float32.
    """
    import autograd.numpy as anp

    shim = types.ModuleType("adbench.xp.autograd", "autograd.numpy with the array API standard's spellings")
    shim.__dict__.update({k: v for k, v in vars(anp).items() if not k.startswith("__")})
    shim.concat = anp.concatenate  # anp.concat has a VJP but no JVP: forward mode fails
    shim.stack = _stack  # anp.stack is a chain of expand_dims and concatenate: 10-20 % slower, f and derivatives
    shim.matrix_transpose = lambda x: anp.swapaxes(x, -1, -2)  # anp.matrix_transpose has no derivative
    shim.vecdot = lambda x1, x2, axis=-1: anp.sum(anp.conj(x1) * x2, axis=axis)  # anp.vecdot has none
    shim.cumulative_sum = lambda x, axis=None: anp.cumsum(x, axis=axis)  # anp.cumulative_sum has none
    shim.max, shim.min = _chooser("max"), _chooser("min")  # autograd's derivatives promote float32
    shim.where = _where()  # autograd's JVP fills with float64 zeros: float32 forward passes came out float64
    shim.take = _take  # anp.take has no VJP and no JVP; integer-array indexing has both
    return shim


def _stack(arrays, /, *, axis=0):
    """The standard's ``stack`` as one autograd primitive (``anp.array`` of the list), moved to ``axis``."""
    import autograd.numpy as anp

    out = anp.array(list(arrays))
    return out if axis == 0 else anp.moveaxis(out, 0, axis)


def _take(x, indices, /, *, axis=None):
    """The standard's ``take`` as autograd differentiates it: ``x[..., indices]`` along ``axis``."""
    import autograd.numpy as anp

    if axis is None:
        if anp.ndim(x) != 1:
            raise ValueError("take: axis is required for an array of more than one dimension")
        axis = 0
    return x[(slice(None),) * (axis % anp.ndim(x)) + (indices,)]


def _where():
    """NumPy's ``where`` with derivatives in the operands' dtype (and unbroadcast to their shapes).

    autograd's JVP for ``where`` pads the tangent with ``anp.zeros(shape)``, float64: a float32 forward
    Jacobian through ``where`` (ba's and ht's guarded rotations) came out float64.
    """
    import numpy as onp
    from autograd.extend import defjvp, defvjp, primitive
    from autograd.numpy.numpy_vjps import unbroadcast_f
    import autograd.numpy as anp

    f = primitive(lambda condition, x1, x2: onp.where(condition, x1, x2))
    defvjp(f, None,
           lambda ans, c, x1, x2: unbroadcast_f(x1, lambda g: anp.where(c, g, anp.zeros_like(g))),
           lambda ans, c, x1, x2: unbroadcast_f(x2, lambda g: anp.where(c, anp.zeros_like(g), g)))
    defjvp(f, None,
           lambda g, ans, c, x1, x2: anp.broadcast_to(anp.where(c, g, anp.zeros_like(g)), anp.shape(ans)),
           lambda g, ans, c, x1, x2: anp.broadcast_to(anp.where(c, anp.zeros_like(g), g), anp.shape(ans)))
    return f


def _chooser(name: str):
    """NumPy's ``max`` or ``min`` with derivatives that keep the operand's dtype.

    autograd's divide the derivative by the integer count of tied entries, and NumPy 2 promotes
    float32 / int64 to float64: a float32 Jacobian through ``max`` came out float64. These are
    autograd's grad_chooser and fwd_grad_chooser with the count in the operand's dtype.
    """
    import numpy as onp
    from autograd.extend import defjvp, defvjp, primitive
    from autograd.numpy.numpy_vjps import repeat_to_match_shape
    import autograd.numpy as anp

    def chosen(ans, x, axis, keepdims):
        """Where x attains ans (ties share the derivative), and their count, as floats of x's dtype."""
        dtype = anp.result_type(x)
        full, _ = repeat_to_match_shape(ans, anp.shape(x), dtype, axis, keepdims)
        mask = onp.asarray(x == full, dtype=dtype)
        return mask, onp.sum(mask, axis=axis, keepdims=True)

    def vjp(ans, x, axis=None, keepdims=False):
        mask, count = chosen(ans, x, axis, keepdims)
        return lambda g: repeat_to_match_shape(g, anp.shape(x), mask.dtype, axis, keepdims)[0] * (mask / count)

    def jvp(g, ans, x, axis=None, keepdims=False):
        mask, count = chosen(ans, x, axis, keepdims)
        return anp.sum(g * (mask / count), axis=axis, keepdims=keepdims)

    reduce = getattr(onp, name)
    f = primitive(lambda x, axis=None, keepdims=False: reduce(x, axis=axis, keepdims=keepdims))
    defvjp(f, vjp)
    defjvp(f, jvp)
    return f
