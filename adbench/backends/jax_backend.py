"""JAX: every operation under ``jax.jit`` (``jax``), and un-jitted as the tutorial runs them (``jax-eager``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.backends._base import Backend, Computation, Direction, FunctionOfConstants, PreparedCase, float_dtype
from adbench.backends.modes import EVERY_MODE, NESTED, SPARSE, ModeName, Operation
from adbench.backends.transform_labels import functorch_labels
from adbench.services import Carry, Level, stacked_jvps
from adbench.xp import Array, Framework, namespace

if TYPE_CHECKING:
    from adbench.backends._base import CaseArguments

# Each operation's transform of f as JAX users write it, inside jax.jit for the `jax` backend: the
# record's `call`. A scalar f's reverse-mode Jacobian is its gradient, jax.grad (jacrev of a scalar f
# vmaps one cotangent over a one-row basis: up to 2-3x slower in float32 on XLA's CPU, see README).
TRANSFORMS = functorch_labels("jax", "vmap", "lambda x, v: jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), v))(x)")


def transform_label(operation: Operation, mode: ModeName, scalar: bool, chunk_size: int | None = None) -> str:
    """The JAX transform of ``f`` that computes ``operation`` in ``mode``, as users spell it."""
    if operation != "jacobian":
        return TRANSFORMS[(operation, mode)]
    if mode == "reverse" and scalar:
        return "jax.grad(f)"
    if chunk_size:
        if mode == "forward":
            return f"lambda x: jax.lax.map(lambda e: jax.jvp(f, (x,), (e,))[1], basis, batch_size={chunk_size})"
        return f"lambda x: jax.lax.map(jax.vjp(f, x)[1], basis, batch_size={chunk_size})"
    return "jax.jacfwd(f)" if mode == "forward" else "jax.jacrev(f)"


def derivative(
    jax: Framework, f: FunctionOfConstants, operation: str, mode: str, scalar: bool, chunk_size: int | None = None
) -> Computation:
    """The JAX transform of ``f(x, consts)`` that computes ``operation`` in ``mode`` (``transform_label``'s).

    Each result takes ``(x, direction, consts)``; the direction (v or u) is unused by Jacobians
    and Hessians. Compositions read outer-over-inner: forward-over-reverse is a JVP of the gradient.
    """
    jnp = jax.numpy
    grad = jax.grad(f)

    def jvp_f(x, v, c):
        return jax.jvp(lambda y: f(y, c), (x,), (v,))[1]

    if operation == "jacobian":
        if mode == "reverse" and scalar:
            return lambda x, _, c: grad(x, c)
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
    # Second order composes over the gradient where the inner pass is reverse mode.
    hess = jac[outer](grad if inner == "reverse" else jax.jacfwd(f))
    return lambda x, _, c: hess(x, c)


def jax_loop(step: Callable[[Array, Carry], Carry], init: Carry, k: int) -> Carry:
    """The ``loop`` service on JAX (``adbench.services``): ``lax.fori_loop`` over the static trip count k.

    With Python-int bounds JAX lowers it to a scan: one traced step however large k, and reverse mode
    works. A Python loop would unroll k copies of the step into the program, whose XLA compile time
    grows faster than linearly (lstm's jacrev: 8 s at c = 32; l=2, c=1024 never finished).
    """
    import jax

    return jax.lax.fori_loop(0, k, step, init)


def jax_while_loop(
    cond: Callable[[Carry], Array], body: Callable[[Carry], Carry], init: Carry, max_steps: int | None = None
) -> Carry:
    """The ``while_loop`` service under ``jax.jit`` (``adbench.services.python_while_loop``'s contract).

    Unbounded: ``lax.while_loop``, which forward mode differentiates and reverse mode refuses. Bounded
    (``max_steps``, for a loop that may be reverse-differentiated): a scan of blocks of steps, each
    step and each block behind a ``lax.cond`` on the loop's condition, so a finished loop skips its
    remaining blocks (about 2 sqrt(max_steps) skipped conds, not max_steps) and reverse mode works. A
    loop still running after max_steps is cut there: its result then fails the correctness gate.
    """
    import math

    import jax

    if max_steps is None:
        return jax.lax.while_loop(cond, body, init)
    per_block = max(1, math.isqrt(max_steps))
    blocks = -(-max_steps // per_block)

    def step(carry, _):
        return jax.lax.cond(cond(carry), body, lambda c: c, carry), None

    def block(carry, _):
        run = lambda c: jax.lax.scan(step, c, None, length=per_block)[0]  # noqa: E731
        return jax.lax.cond(cond(carry), run, lambda c: c, carry), None

    return jax.lax.scan(block, init, None, length=blocks)[0]


def jax_cond(pred: Array, true_fn: Callable[[Carry], Any], false_fn: Callable[[Carry], Any], operand: Carry) -> Any:
    """The ``cond`` service under ``jax.jit``: ``lax.cond``, which runs only the branch taken."""
    import jax

    return jax.lax.cond(pred, true_fn, false_fn, operand)


def jax_level(mode: str) -> Level:
    """One level of the ``ad`` service: ``jax.grad`` (one VJP), or one ``jax.jvp`` per unit vector."""
    import jax

    if mode == "reverse":
        return Level("reverse", jax.grad)

    def unit(z, i):
        return (jax.numpy.arange(z.shape[0]) == i).astype(z.dtype)

    return Level("forward", lambda g: stacked_jvps(lambda z, v: jax.jvp(g, (z,), (v,))[1], unit, jax.numpy))


LEVEL_LABELS = {"reverse": "jax.grad", "forward": "jax.jvp per unit vector"}


def _chunked_jacobian(jax: Framework, f: FunctionOfConstants, mode: str, chunk_size: int) -> Computation:
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
            cols = jax.lax.map(
                lambda i: jax.jvp(lambda y: f(y, c), (x,), (unit(i, n, x.dtype),))[1],
                jnp.arange(n),
                batch_size=chunk_size,
            )
            return jnp.moveaxis(cols, 0, -1)  # (n, m...) -> (m..., n), as jacfwd
        y, pullback = jax.vjp(lambda z: f(z, c), x)
        return jax.lax.map(
            lambda i: pullback(unit(i, y.shape[0], y.dtype))[0], jnp.arange(y.shape[0]), batch_size=chunk_size
        )

    return jac


# JAX reports every lookup in its persistent compile cache as a monitoring event (jax/_src/compiler.py,
# compilation_cache.py): counted here, so a first call says whether it compiled or loaded.
_CACHE_HIT, _CACHE_MISS = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"
_CACHE_EVENTS = {_CACHE_HIT: 0, _CACHE_MISS: 0, "listening": 0}


def _count_cache_event(event: str, **_: object) -> None:
    if event in (_CACHE_HIT, _CACHE_MISS):
        _CACHE_EVENTS[event] += 1


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
    compiles = True

    def load(self, threads=None):
        # Threads (and, on a CPU run, JAX_PLATFORMS=cpu) are set by adbench.engine.threads before this
        # import: XLA reads them when it starts; so is the persistent compile cache's folder.
        import jax

        if not _CACHE_EVENTS["listening"]:
            _CACHE_EVENTS["listening"] = 1
            jax.monitoring.register_event_listener(_count_cache_event)
        return jax

    def compile_cache_counts(self) -> tuple[int, int] | None:
        self.load()
        return _CACHE_EVENTS[_CACHE_HIT], _CACHE_EVENTS[_CACHE_MISS]

    def preload(self):
        import jax.numpy  # noqa: F401

    def services(self):
        if not self.jit:
            # Without jit the tutorial's way is Python control flow on concrete values; lax's loops and
            # conds would be traced and compiled again at every call (their closures differ).
            return {**super().services(), "loop": jax_loop}
        return {**super().services(), "loop": jax_loop, "while_loop": jax_while_loop, "cond": jax_cond}

    def ad_level(self, mode):
        return jax_level(mode)

    def build_info(self):
        jax = self.load()
        import jaxlib

        return {
            "jaxlib": getattr(jaxlib, "__version__", None),
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "matmul_precision": jax.config.jax_default_matmul_precision or "default",
        }

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

    def _inputs(self, problem, x, dtype, constants, direction, device, nested_mode=None):
        """f(v, c) over JAX's namespace (its ad service in ``nested_mode``), and x, the direction, the array
        constants on ``device``, and ``put``."""
        jax = self.load()
        if dtype == "float64" and not jax.config.jax_enable_x64:
            # x64 is a process-wide switch; float32 cases stay float32 after it because every
            # input is created with an explicit dtype and problems use only weak Python scalars
            # (tests/test_precision.py traces every problem's operations with x64 on to show it).
            jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        target = _device(jax, device)

        def put(a: np.ndarray) -> Array:
            return jax.device_put(jnp.asarray(a, dtype=float_dtype(a, dtype)), target)

        xj = put(x)
        arrays = {k: put(v) for k, v in constants.items() if isinstance(v, np.ndarray)}
        # Python numbers (control_loop's k, ode's steps) are closed over, so jit specialises on them:
        # a loop's trip count is static (the loop service needs that for reverse mode) and a new k
        # means a new compilation.
        static = {k: v for k, v in constants.items() if not isinstance(v, np.ndarray)}
        vec = direction.v if direction.v is not None else direction.u
        dj = put(vec) if vec is not None else None
        xp = namespace("jax")
        # A nested function's ad service differentiates in the case's mode (outer over inner).
        function = self.bound(problem, nested_mode)

        def f(v, c):
            return function(v, xp, **c, **static)

        return f, xj, dj, arrays, put

    def program(
        self, problem, x, operation, mode, dtype, constants, direction=Direction(), *, chunk_size=None, device="cpu"
    ):
        """The operation and f as un-jitted functions, and their arguments: ``op(*op_args)``, ``f(*f_args)``.

        ``prepare`` jits them (``jax``) or not (``jax-eager``); tests trace them (``jax.make_jaxpr``). A
        nested case's op is f itself (it differentiates inside), and it has no separate f (None).
        """
        return self._program(problem, x, operation, mode, dtype, constants, direction, chunk_size, device)[:4]

    def _program(self, problem, x, operation, mode, dtype, constants, direction, chunk_size, device):
        """``program``'s four, and the sparse-jacobian case's compression (None for the other operations)."""
        f, xj, dj, arrays, put = self._inputs(
            problem, x, dtype, constants, direction, device, mode if operation == NESTED else None
        )
        if operation == NESTED:
            return f, (xj, arrays), None, None, None
        if operation == SPARSE:
            from adbench.sparsity import compression_for

            comp = compression_for(problem, x, constants, mode)
            op = compressed_jacobian(self.load(), f, mode, comp.n_colours)
            # colours and gather are integer arrays: put keeps their dtype.
            return op, (xj, arrays, put(comp.colours), put(comp.gather)), f, (xj, arrays), comp
        op = derivative(self.load(), f, operation, mode, problem.is_scalar(x.shape[0]), chunk_size)
        return op, (xj, dj, arrays), f, (xj, arrays), None

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        jax = self.load()
        op, op_args, fun, f_args, comp = self._program(*case)
        if self.jit:
            op, fun = jax.jit(op), fun and jax.jit(fun)
        return PreparedCase(
            call=lambda: op(*op_args),
            function=None if fun is None else lambda: fun(*f_args),
            sync=jax.block_until_ready,
            to_numpy=np.asarray if comp is None else (lambda values: comp.matrix(np.asarray(values))),
            label=self.call_label(operation, mode, problem.is_scalar(x.shape[0]) and operation != SPARSE, chunk_size),
            colours=None if comp is None else comp.n_colours,
        )

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            outer, inner = mode.split("-over-")
            loops = (
                "lax.while_loop (bounded ones: lax.scan over lax.cond), lax.cond"
                if self.jit
                else "Python while and if on concrete values"
            )
            return (
                f"{'jax.jit(f)' if self.jit else 'f'} with ad.outer.grad = {LEVEL_LABELS[outer]}, "
                f"ad.inner.grad = {LEVEL_LABELS[inner]}; loops and branches: {loops}"
            )
        label = transform_label(operation, mode, scalar, chunk_size)
        return f"jax.jit({label})" if self.jit else label


# -- sparse-jacobian ----------------------------------------------------------------------------------------
def compressed_jacobian(jax: Framework, f: FunctionOfConstants, mode: str, n_colours: int) -> Computation:
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


def _device(jax: Framework, device: str) -> Any:
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
    compiles = False
    # Op-by-op dispatch makes its forward Jacobians and second-order cases slow (0.2 s per call at
    # the tutorial's n = 10 000): asked for by name, e.g. to set the tutorial's timing side by side.
    default = False
