"""JAX: every operation under ``jax.jit`` (``jax``), and un-jitted as the tutorial runs them (``jax-eager``)."""

from __future__ import annotations

import numpy as np

from adbench.backends._base import EVERY_MODE, SPARSE, Backend, Direction, PreparedCase, float_dtype
from adbench.xp import namespace


def derivative(jax, f, operation: str, mode: str, chunk_size: int | None = None):
    """The JAX transform of ``f(x, consts)`` that computes ``operation`` in ``mode``.

    Each result takes ``(x, direction, consts)``; the direction (v or u) is unused by Jacobians
    and Hessians. Compositions read outer-over-inner: forward-over-reverse is a JVP of the gradient.
    """
    jnp = jax.numpy

    def grad(x, c):
        return jax.grad(f)(x, c)

    def jvp_f(x, v, c):
        return jax.jvp(lambda y: f(y, c), (x,), (v,))[1]

    if operation == "jacobian":
        if chunk_size:
            return _chunked_jacobian(jax, f, mode, chunk_size)
        jac = jax.jacfwd(f) if mode == "forward" else jax.jacrev(f)
        return lambda x, _, c: jac(x, c)
    if operation == "jvp":
        return jvp_f
    if operation == "vjp":
        return lambda x, u, c: jax.vjp(lambda y: f(y, c), x)[1](u)[0]
    if operation == "hvp":
        return {
            "forward-over-reverse": lambda x, v, c: jax.jvp(lambda y: grad(y, c), (x,), (v,))[1],
            "reverse-over-reverse": lambda x, v, c: jax.grad(lambda y: jnp.vdot(grad(y, c), v))(x),
            "reverse-over-forward": lambda x, v, c: jax.grad(lambda y: jvp_f(y, v, c))(x),
            # H v one column at a time: n forward passes over a forward pass.
            "forward-over-forward": lambda x, v, c: jax.jacfwd(lambda y: jvp_f(y, v, c))(x),
        }[mode]
    outer, inner = mode.split("-over-")
    jac = {"forward": jax.jacfwd, "reverse": jax.jacrev}
    hess = jac[outer](jac[inner](f))
    return lambda x, _, c: hess(x, c)


def _chunked_jacobian(jax, f, mode: str, chunk_size: int):
    """jacfwd/jacrev built from JVPs/VJPs mapped over the basis ``chunk_size`` at a time (lax.map).

    Basis vectors are made inside the map from their index, so no n x n identity is ever held:
    memory grows with the chunk, not with n².
    """
    jnp = jax.numpy

    def unit(i, size, dtype):
        return (jnp.arange(size) == i).astype(dtype)

    def jac(x, _, c):
        n = x.shape[0]
        if mode == "forward":
            cols = jax.lax.map(lambda i: jax.jvp(lambda y: f(y, c), (x,), (unit(i, n, x.dtype),))[1],
                               jnp.arange(n), batch_size=chunk_size)
            return jnp.moveaxis(cols, 0, -1)  # (n, m...) -> (m..., n), as jacfwd
        y, pullback = jax.vjp(lambda z: f(z, c), x)
        if y.ndim == 0:
            return pullback(jnp.ones_like(y))[0]
        return jax.lax.map(lambda i: pullback(unit(i, y.shape[0], y.dtype))[0], jnp.arange(y.shape[0]),
                           batch_size=chunk_size)

    return jac


class JaxBackend(Backend):
    name = "jax"
    framework = "jax"
    description = "jax.jit over jacfwd/jacrev, jvp/vjp and their compositions"
    label = "JAX (jit)"
    colour = "#0072B2"
    order = 10
    operations = EVERY_MODE
    chunkable = True
    devices = ("cpu", "cuda")
    jit = True

    def load(self, threads=None):
        # Threads (and, on a CPU run, JAX_PLATFORMS=cpu) are set by adbench.engine.threads before this
        # import: XLA reads them when it starts.
        import jax

        return jax

    def preload(self):
        import jax.numpy  # noqa: F401

    def build_info(self):
        jax = self.load()
        import jaxlib

        return {"jaxlib": getattr(jaxlib, "__version__", None), "backend": jax.default_backend(),
                "devices": [str(d) for d in jax.devices()],
                "matmul_precision": jax.config.jax_default_matmul_precision or "default"}

    def device_peak(self, device):
        if device != "cuda":
            return None
        stats = _device(self.load(), device).memory_stats
        start = stats() or {}
        base, old_peak = start.get("bytes_in_use", 0), start.get("peak_bytes_in_use", 0)

        def read():
            # XLA's peak cannot be reset: a case that stays under an earlier case's peak reads as unknown.
            peak = (stats() or {}).get("peak_bytes_in_use")
            return peak - base if peak is not None and peak > old_peak else None

        return read

    def prepare(self, problem, x, operation, mode, dtype, constants, direction=Direction(), *,
                chunk_size=None, device="cpu"):
        jax = self.load()
        if dtype == "float64" and not jax.config.jax_enable_x64:
            # x64 is a process-wide switch; float32 cases stay float32 after it because every
            # input is created with an explicit dtype and problems use only weak Python scalars.
            jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        target = _device(jax, device)

        def put(a: np.ndarray):
            return jax.device_put(jnp.asarray(a, dtype=float_dtype(a, dtype)), target)

        xj = put(x)
        arrays = {k: put(v) for k, v in constants.items() if isinstance(v, np.ndarray)}
        # Python numbers (control_loop's k) are closed over, so jit specialises on them: the loop
        # is unrolled at trace time and a new k means a new compilation.
        static = {k: v for k, v in constants.items() if not isinstance(v, np.ndarray)}
        vec = direction.v if direction.v is not None else direction.u
        dj = put(vec) if vec is not None else None
        xp = namespace("jax")

        def f(v, c):
            return problem.function(v, xp, **c, **static)

        if operation == SPARSE:
            return sparse_case(jax, problem, f, x, constants, mode, xj, arrays, put, self.jit)
        op = derivative(jax, f, operation, mode, chunk_size)
        fun = f
        if self.jit:
            op, fun = jax.jit(op), jax.jit(f)
        return PreparedCase(
            call=lambda: op(xj, dj, arrays),
            function=lambda: fun(xj, arrays),
            sync=jax.block_until_ready,
            to_numpy=np.asarray,
        )


# -- sparse-jacobian ----------------------------------------------------------------------------------------
def compressed_jacobian(jax, f, mode: str, n_colours: int):
    """J's nonzeros from ``n_colours`` compressed passes: vmap of jvp over the column colouring's seeds
    (forward, J S) or of one vjp's pullback over the row colouring's (reverse, Sᵀ J), then the gather.

    Takes ``(x, c, colours, gather)``; each seed is made from its colour inside the map, so no n x p seed
    matrix is held, and ``colours``/``gather`` are arguments, not constants baked into the program.
    """
    jnp = jax.numpy

    def op(x, c, colours, gather):
        ks = jnp.arange(n_colours)
        if mode == "forward":
            B = jax.vmap(lambda k: jax.jvp(lambda y: f(y, c), (x,), ((colours == k).astype(x.dtype),))[1])(ks)
        else:
            y, pullback = jax.vjp(lambda z: f(z, c), x)
            B = jax.vmap(lambda k: pullback((colours == k).astype(y.dtype))[0])(ks)
        return jnp.take(jnp.reshape(B, (-1,)), gather)

    return op


def sparse_case(jax, problem, f, x, constants, mode, xj, arrays, put, jit: bool) -> PreparedCase:
    """The sparse-jacobian case: colouring once here, the compressed passes and the gather timed, the SciPy
    matrix assembled by to_numpy (outside the timing)."""
    from adbench.sparsity import compression_for

    comp = compression_for(problem, x, constants, mode)
    op, fun = compressed_jacobian(jax, f, mode, comp.n_colours), f
    if jit:
        op, fun = jax.jit(op), jax.jit(f)
    colours, gather = put(comp.colours), put(comp.gather)  # integer arrays keep their dtype
    pass_ = "vmap(jvp)" if mode == "forward" else "vmap(vjp)"
    return PreparedCase(
        call=lambda: op(xj, arrays, colours, gather),
        function=lambda: fun(xj, arrays),
        sync=jax.block_until_ready,
        to_numpy=lambda values: comp.matrix(np.asarray(values)),
        label=(f"jax.jit({pass_} over {comp.n_colours} colour seeds)" if jit
               else f"{pass_} over {comp.n_colours} colour seeds"),
        colours=comp.n_colours,
    )


def _device(jax, device: str):
    """The first device of the asked platform; a clear error where there is none."""
    platform = "gpu" if device == "cuda" else "cpu"
    try:
        return jax.devices(platform)[0]
    except RuntimeError as exc:
        raise RuntimeError(f"JAX sees no {device} device here ({exc})") from exc


class JaxEagerBackend(JaxBackend):
    name = "jax-eager"
    description = "the same transforms without jit, as the tutorial calls them"
    label = "JAX (eager)"
    colour = "#56B4E9"
    order = 11
    jit = False
    # Op-by-op dispatch makes its forward Jacobians and second-order cases slow (0.2 s per call at
    # the tutorial's n = 10 000): asked for by name, e.g. to set the tutorial's timing side by side.
    default = False
