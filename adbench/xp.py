"""The array namespace each framework hands a problem: the Python array API standard, spelled its way."""

from __future__ import annotations

import functools
import math
import types
from collections import namedtuple
from typing import Any

NAMESPACES = ("numpy", "jax", "torch", "autograd", "tensorflow", "mlx")

# The frameworks' objects are dynamic, and mypy does not follow the frameworks (pyproject's overrides skip them):
# Any on purpose, under names that say which object a parameter holds.
Array = Any  # a framework's array: jax, torch, tf, mlx, autograd's box, numpy
Namespace = Any  # an array API namespace: the ``xp`` a problem is handed (``namespace`` below)
Framework = Any  # a framework's module as its backend loads it: jax, torch, tf, mlx.core, autograd

# The standard's linalg results are named tuples; TensorFlow's and MLX's are plain ones.
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")
SVDResult = namedtuple("SVDResult", "U S Vh")
QRResult = namedtuple("QRResult", "Q R")


@functools.cache
def namespace(framework: str) -> Namespace:
    """The array API namespace for ``framework``: NumPy 2's own, ``jax.numpy``,
    ``array_api_compat.torch``, or the autograd, TensorFlow and MLX shims below. Imported on first use."""
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
    if framework == "tensorflow":
        return _tensorflow_namespace()
    if framework == "mlx":
        return _mlx_namespace()
    raise ValueError(f"no array namespace for {framework!r}; valid choices: {', '.join(NAMESPACES)}")


def _autograd_namespace() -> types.ModuleType:
    """``autograd.numpy`` with the standard's spellings where autograd's differ.

    autograd wraps NumPy 1's names as differentiable primitives; NumPy 2 added the standard's
    spellings, which autograd.numpy re-exports *without* gradients. Each line maps a standard
    name onto the NumPy 1 primitive whose gradient autograd defines; max and min get derivatives
    that keep float32 float32.
    """
    import autograd.numpy as anp

    shim: Any = types.ModuleType("adbench.xp.autograd", "autograd.numpy with the array API standard's spellings")
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
    import autograd.numpy as anp
    import numpy as onp
    from autograd.extend import defjvp, defvjp, primitive
    from autograd.numpy.numpy_vjps import unbroadcast_f

    f = primitive(lambda condition, x1, x2: onp.where(condition, x1, x2))
    defvjp(
        f,
        None,
        lambda ans, c, x1, x2: unbroadcast_f(x1, lambda g: anp.where(c, g, anp.zeros_like(g))),
        lambda ans, c, x1, x2: unbroadcast_f(x2, lambda g: anp.where(c, anp.zeros_like(g), g)),
    )
    defjvp(
        f,
        None,
        lambda g, ans, c, x1, x2: anp.broadcast_to(anp.where(c, g, anp.zeros_like(g)), anp.shape(ans)),
        lambda g, ans, c, x1, x2: anp.broadcast_to(anp.where(c, anp.zeros_like(g), g), anp.shape(ans)),
    )
    return f


def _chooser(name: str) -> Any:
    """NumPy's ``max`` or ``min`` with derivatives that keep the operand's dtype.

    autograd's divide the derivative by the integer count of tied entries, and NumPy 2 promotes
    float32 / int64 to float64: a float32 Jacobian through ``max`` came out float64. These are
    autograd's grad_chooser and fwd_grad_chooser with the count in the operand's dtype.
    """
    import autograd.numpy as anp
    import numpy as onp
    from autograd.extend import defjvp, defvjp, primitive
    from autograd.numpy.numpy_vjps import repeat_to_match_shape

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


def _tensorflow_namespace() -> types.ModuleType:
    """``tf.experimental.numpy`` with the standard's spellings, and ``tf.linalg`` as its ``linalg``.

    array-api-compat does not cover TensorFlow. tnp follows NumPy 1's names; each line below maps
    a standard name that computes a derivative onto the tnp or tf function with that derivative.
    Names the standard has and this lacks (bitwise shifts, ``unique_*``, ``isdtype``...) raise
    AttributeError, which a run reports as "uses xp.NAME, which backend lacks".
    """
    from adbench._tensorflow import import_tensorflow

    tf = import_tensorflow()
    tnp = tf.experimental.numpy
    # NumPy semantics on tf.Tensor: ``@`` on 1-D operands (tf.matmul needs rank 2), ``.T``,
    # NumPy 2's promotion of mixed float32/float64 operands (plain TF raises), NumPy indexing.
    tnp.experimental_enable_numpy_behavior()
    if not hasattr(tf.Tensor, "mT"):
        tf.Tensor.mT = property(tf.linalg.matrix_transpose)  # the standard's array attribute
    shim: Any = types.ModuleType(
        "adbench.xp.tensorflow", "tf.experimental.numpy with the array API standard's spellings"
    )
    shim.__dict__.update({k: v for k, v in vars(tnp).items() if not k.startswith("__")})
    shim.concat = lambda arrays, axis=0: tnp.concatenate(arrays, axis=axis)
    shim.pow = tnp.power
    shim.acos, shim.asin, shim.atan, shim.atan2 = tnp.arccos, tnp.arcsin, tnp.arctan, tnp.arctan2
    shim.acosh, shim.asinh, shim.atanh = tnp.arccosh, tnp.arcsinh, tnp.arctanh
    shim.astype = lambda x, dtype, copy=True, device=None: tf.cast(x, dtype)
    shim.permute_dims = lambda x, axes: tnp.transpose(x, axes)
    shim.matrix_transpose = tf.linalg.matrix_transpose
    shim.vecdot = lambda x1, x2, axis=-1: tnp.sum(x1 * x2, axis=axis)  # real operands: no conjugate
    shim.unstack = lambda x, axis=0: tuple(tf.unstack(x, axis=axis))
    shim.cumulative_sum = _cumulative(tnp.cumsum, tnp.zeros, tnp.concatenate)  # tnp's has no include_initial
    shim.cumulative_prod = _cumulative(tnp.cumprod, tnp.ones, tnp.concatenate)
    shim.clip = lambda x, min=None, max=None: _clip(tnp, x, min, max)  # tnp.clip(a, a_min, a_max) needs both
    shim.var = lambda x, axis=None, correction=0.0, keepdims=False: _variance(tnp, x, axis, correction, keepdims)
    shim.std = lambda x, axis=None, correction=0.0, keepdims=False: tnp.sqrt(
        _variance(tnp, x, axis, correction, keepdims)
    )
    shim.sort = lambda x, axis=-1, descending=False, stable=True: (  # tnp.sort has no descending
        tnp.flip(tnp.sort(tnp.flip(x, axis), axis=axis), axis) if descending else tnp.sort(x, axis=axis)
    )
    shim.take_along_axis = lambda x, indices, axis=-1: tnp.take_along_axis(x, indices, axis)
    shim.linalg = _tensorflow_linalg(tf, shim)
    if not hasattr(tf.Tensor, "__array_namespace__"):
        # The standard's way from an array to its namespace, which code written once against the standard uses
        # (adbench.services.central_grad, the ad service NumPy callers get, asks z for it).
        tf.Tensor.__array_namespace__ = lambda self, api_version=None: shim
    return shim


def _cumulative(op, start, concat):
    """The standard's cumulative_sum/prod (``axis``, ``dtype``, ``include_initial``) over NumPy-style
    cumsum/cumprod ``op``; ``start`` makes the initial zeros or ones."""

    def cumulative(x, axis=None, dtype=None, include_initial=False):
        axis = 0 if axis is None else axis  # the standard requires axis for arrays of more than one dimension
        out = op(x if dtype is None else x.astype(dtype), axis=axis)
        if not include_initial:
            return out
        shape = list(out.shape)
        shape[axis] = 1
        return concat([start(shape, dtype=out.dtype), out], axis=axis)

    return cumulative


def _variance(xp, x, axis, correction, keepdims):
    """The standard's var with ``correction``: tnp.var raises for any ddof (TensorFlow 2.21) and
    tnp.std has none, so past correction 0 it is the sum of squared deviations over N - correction."""
    if not correction:
        return xp.var(x, axis=axis, keepdims=keepdims)
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    count = math.prod(x.shape[a] for a in axes)
    deviation = x - xp.mean(x, axis=axis, keepdims=True)
    return xp.sum(deviation * deviation, axis=axis, keepdims=keepdims) / (count - correction)


def _clip(xp, x, low, high):
    """The standard's clip: either bound may be None."""
    if low is not None:
        x = xp.maximum(x, low)
    if high is not None:
        x = xp.minimum(x, high)
    return x


def _tensorflow_linalg(tf: Any, xp: Any) -> types.ModuleType:
    """The standard's linalg over ``tf.linalg``: its spellings, and named-tuple results."""
    tnp = tf.experimental.numpy
    linalg: Any = types.ModuleType("adbench.xp.tensorflow.linalg")
    for name in ("inv", "det", "pinv", "cross", "eigvalsh"):
        setattr(linalg, name, getattr(tf.linalg, name))
    linalg.matmul, linalg.tensordot, linalg.outer = tnp.matmul, tnp.tensordot, tnp.outer
    linalg.vecdot, linalg.matrix_transpose = xp.vecdot, xp.matrix_transpose
    # tf.linalg.solve takes matrices only; the standard's 1-D x2 is one vector.
    linalg.solve = lambda x1, x2: (
        tf.linalg.solve(x1, x2[..., None])[..., 0] if x2.ndim == 1 else tf.linalg.solve(x1, x2)
    )
    linalg.cholesky = lambda x, upper=False: (
        tf.linalg.matrix_transpose(tf.linalg.cholesky(x)) if upper else tf.linalg.cholesky(x)
    )
    linalg.eigh = lambda x: EighResult(*tf.linalg.eigh(x))
    linalg.slogdet = lambda x: SlogdetResult(*tf.linalg.slogdet(x))
    linalg.qr = lambda x, mode="reduced": QRResult(*tf.linalg.qr(x, full_matrices=mode == "complete"))
    # tf.linalg.svd returns (s, u, v), v untransposed, and reduced matrices by default.
    linalg.svd = lambda x, full_matrices=True: (lambda s, u, v: SVDResult(u, s, tf.linalg.adjoint(v)))(
        *tf.linalg.svd(x, full_matrices=full_matrices)
    )
    linalg.svdvals = lambda x: tf.linalg.svd(x, compute_uv=False)
    linalg.trace = lambda x, offset=0, dtype=None: tnp.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)
    linalg.diagonal = lambda x, offset=0: tnp.diagonal(x, offset=offset, axis1=-2, axis2=-1)
    linalg.vector_norm = lambda x, axis=None, keepdims=False, ord=2: tf.norm(
        x, ord="euclidean" if ord == 2 else ord, axis=axis, keepdims=keepdims
    )
    linalg.matrix_norm = lambda x, keepdims=False, ord="fro": tf.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)
    return linalg


def _mlx_namespace() -> types.ModuleType:
    """``mlx.core`` with the standard's keywords and results where MLX's differ.

    mlx.core already spells most of the standard its way (``concat``, ``matrix_transpose``,
    ``vecdot``, ``permute_dims``, ``pow``, ``acos``...); the lines below cover the differences
    that touch a derivative. MLX's linalg runs on the CPU stream only (there is no GPU kernel).
    """
    import mlx.core as mx

    shim: Any = types.ModuleType("adbench.xp.mlx", "mlx.core with the array API standard's spellings")
    shim.__dict__.update({k: v for k, v in vars(mx).items() if not k.startswith("__")})
    shim.clip = lambda x, min=None, max=None: mx.clip(x, min, max)  # mx.clip's keywords are a_min, a_max
    shim.std = lambda x, axis=None, correction=0.0, keepdims=False: mx.std(
        x, axis=axis, keepdims=keepdims, ddof=int(correction)
    )  # ddof, not correction
    shim.var = lambda x, axis=None, correction=0.0, keepdims=False: mx.var(
        x, axis=axis, keepdims=keepdims, ddof=int(correction)
    )
    shim.sort = lambda x, axis=-1, descending=False, stable=True: (  # mx.sort has no descending
        mx.flip(mx.sort(mx.flip(x, axis), axis=axis), axis) if descending else mx.sort(x, axis=axis)
    )
    shim.sum = lambda x, axis=None, dtype=None, keepdims=False: mx.sum(  # mx.sum has no dtype
        x if dtype is None else x.astype(dtype), axis=axis, keepdims=keepdims
    )
    shim.prod = lambda x, axis=None, dtype=None, keepdims=False: mx.prod(
        x if dtype is None else x.astype(dtype), axis=axis, keepdims=keepdims
    )
    shim.cumulative_sum = _cumulative(mx.cumsum, mx.zeros, mx.concat)  # mx's has no include_initial
    shim.cumulative_prod = _cumulative(mx.cumprod, mx.ones, mx.concat)
    shim.hypot = lambda x1, x2: mx.sqrt(x1 * x1 + x2 * x2)  # mlx has none (this one may overflow earlier)
    shim.linalg = _mlx_linalg(mx, shim)
    return shim


def _mlx_linalg(mx: Any, xp: Any) -> types.ModuleType:
    """The standard's linalg over ``mx.linalg``: named-tuple results, the standard's axes."""
    linalg: Any = types.ModuleType("adbench.xp.mlx.linalg")
    for name in ("inv", "det", "pinv", "cross", "eigvalsh", "solve", "cholesky"):
        setattr(linalg, name, getattr(mx.linalg, name))
    linalg.matmul, linalg.tensordot, linalg.outer = mx.matmul, mx.tensordot, mx.outer
    linalg.vecdot, linalg.matrix_transpose = mx.vecdot, mx.matrix_transpose
    linalg.eigh = lambda x: EighResult(*mx.linalg.eigh(x))
    linalg.slogdet = lambda x: SlogdetResult(*mx.linalg.slogdet(x))
    linalg.qr = lambda x, mode="reduced": QRResult(*mx.linalg.qr(x))  # MLX's is the reduced one
    linalg.svd = lambda x, full_matrices=True: SVDResult(*mx.linalg.svd(x))  # MLX's is the full one
    linalg.svdvals = lambda x: mx.linalg.svd(x, compute_uv=False)
    # The standard's trace and diagonal run over the last two axes; MLX's over the first two.
    linalg.trace = lambda x, offset=0, dtype=None: mx.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)
    linalg.diagonal = lambda x, offset=0: mx.diagonal(x, offset=offset, axis1=-2, axis2=-1)
    # mx.linalg.norm of a 2-D array without an axis is a matrix norm; the standard's vector_norm flattens.
    linalg.vector_norm = lambda x, axis=None, keepdims=False, ord=2: mx.linalg.norm(
        mx.reshape(x, (-1,)) if axis is None and not keepdims else x,
        ord=ord,
        axis=axis if axis is not None or not keepdims else tuple(range(x.ndim)),
        keepdims=keepdims,
    )
    linalg.matrix_norm = lambda x, keepdims=False, ord="fro": mx.linalg.norm(
        x, ord=ord, axis=(-2, -1), keepdims=keepdims
    )
    return linalg
