"""TensorFlow: ``tf.GradientTape`` and ``tf.autodiff.ForwardAccumulator`` inside ``tf.function`` (``tensorflow``),
and the same compiled by XLA (``tensorflow-xla``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench._tensorflow import import_tensorflow
from adbench.backends._base import (
    Backend,
    Computation,
    Direction,
    FunctionOfConstants,
    PreparedCase,
    bind_services,
    float_dtype,
)
from adbench.backends.modes import DIRECTED, EVERY_MODE, NESTED, SECOND_ORDER, SPARSE
from adbench.problems import Problem
from adbench.services import Carry, Level, python_loop, stacked_jvps
from adbench.xp import Array, Framework, namespace

if TYPE_CHECKING:
    from adbench.backends._base import CaseArguments


def forget_forward_mode_traces() -> None:
    """Empty ForwardAccumulator's process-wide cache of per-op JVP functions (and its trace counts).

    TensorFlow traces each op's JVP once per shape and reuses it in every later function, XLA or not,
    and after 32 traces of one op it switches to shape-relaxed ones. A case would then depend on the
    cases its worker ran before: under jit_compile=True the JVP of a slice's gradient fails
    (XlaDynamicUpdateSlice has no gradient) unless a plain tf.function traced it first. Emptied per
    case, every case sees a fresh process's TensorFlow, as torch-compile resets Dynamo per case.
    """
    from tensorflow.python.eager import forwardprop

    cache = getattr(forwardprop, "_jvp_function_cache", None)
    if cache is not None:
        cache.clear()
    getattr(forwardprop, "_TRACE_COUNT", {}).clear()


def transform_label(operation: str, mode: str, scalar: bool, chunk_size: int | None = None) -> str:
    """The TensorFlow computation of ``operation`` in ``mode``, as its users write it (inside ``tf.function``)."""
    vectorised = "tf.vectorized_map(ForwardAccumulator.jvp)"
    if chunk_size:
        vectorised = f"tf.map_fn(tf.vectorized_map(ForwardAccumulator.jvp), chunks of {chunk_size})"
    tape_jacobian = "tape.jacobian(experimental_use_pfor=True" + (
        f", parallel_iterations={chunk_size})" if chunk_size else ")"
    )
    if operation == "jacobian":
        if mode == "forward":
            return f"{vectorised}(f)"
        return "tape.gradient(f)" if scalar else f"{tape_jacobian}(f)"
    if operation == SPARSE:
        return {
            "forward": "tf.vectorized_map(ForwardAccumulator.jvp) over the column colouring's seeds",
            "reverse": "tf.vectorized_map(tape.gradient(output_gradients=seed)) over the row colouring's seeds",
        }[mode]
    if operation == "jvp":
        return "ForwardAccumulator.jvp(f)"
    if operation == "vjp":
        return "tape.gradient(f, output_gradients=u)"
    if operation == "hvp":
        return {
            "forward-over-reverse": "ForwardAccumulator.jvp(tape.gradient(f))",
            "reverse-over-reverse": "tape.gradient(tape.gradient(f), output_gradients=v)",
            "reverse-over-forward": "tape.gradient(ForwardAccumulator.jvp(f))",
            "forward-over-forward": "tf.vectorized_map(ForwardAccumulator.jvp(ForwardAccumulator.jvp(f)))",
        }[mode]
    outer, inner = mode.split("-over-")
    inner_label = "tape.gradient(f)" if inner == "reverse" else f"{vectorised}(f)"
    outer_label = tape_jacobian if outer == "reverse" else vectorised
    return f"{outer_label}({inner_label})"


def _passes(tf: Framework) -> tuple[Callable[..., Array], Callable[..., Array], Callable[..., Array]]:
    """TensorFlow's gradient, VJP and JVP of ``g`` at ``x``: the pieces every derivative here is built from."""
    zero = tf.UnconnectedGradients.ZERO  # an output that does not depend on x has a zero derivative

    def grad(g, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = g(x)
        return tape.gradient(y, x, unconnected_gradients=zero)

    def vjp(g, x, u):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = g(x)
        return tape.gradient(y, x, output_gradients=u, unconnected_gradients=zero)

    def jvp(g, x, v):
        with tf.autodiff.ForwardAccumulator(x, v) as acc:
            y = g(x)
        return acc.jvp(y, unconnected_gradients=zero)

    return grad, vjp, jvp


def derivative(
    tf: Framework, f: FunctionOfConstants, operation: str, mode: str, scalar: bool, chunk_size: int | None = None
) -> Computation:
    """The TensorFlow computation of ``operation`` in ``mode`` for ``f(x, consts)`` (``transform_label``'s).

    The computation takes ``(x, direction, consts)`` for an operation with a direction (v or u: ``DIRECTED``),
    ``(x, consts)`` for the others: an unused ``None`` argument cost a Jacobian or Hessian tf.function's call
    ~30 µs more (its signature matched per call). Compositions read outer-over-inner: forward-over-reverse is a
    JVP of the gradient.
    ``scalar``: f returns a scalar, whose reverse-mode Jacobian is its gradient (``tape.gradient``).
    """
    zero = tf.UnconnectedGradients.ZERO
    grad, vjp, jvp = _passes(tf)

    def jacrev(g, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = g(x)
        # pfor vectorises the m VJPs; parallel_iterations runs them chunk_size at a time. TensorFlow
        # 2.21 loses the tape inside those chunks: every chunked row comes back unconnected, which
        # UnconnectedGradients.ZERO would turn into silent zeros; unchunked rows keep ZERO.
        return tape.jacobian(
            y,
            x,
            unconnected_gradients=tf.UnconnectedGradients.NONE if chunk_size else zero,
            parallel_iterations=chunk_size,
            experimental_use_pfor=True,
        )

    def jacfwd(g, x):
        cols = _columns(tf, lambda t: jvp(g, x, t), x, chunk_size)
        return tf.experimental.numpy.moveaxis(cols, 0, -1)  # (n, m...) -> (m..., n), as jax.jacfwd

    if operation == "jacobian":
        if mode == "forward":
            return lambda x, c: jacfwd(lambda y: f(y, c), x)
        if scalar:
            return lambda x, c: grad(lambda y: f(y, c), x)
        return lambda x, c: jacrev(lambda y: f(y, c), x)
    if operation == "jvp":
        return lambda x, v, c: jvp(lambda y: f(y, c), x, v)
    if operation == "vjp":
        return lambda x, u, c: vjp(lambda y: f(y, c), x, u)

    def gradient(c):
        return lambda y: grad(lambda z: f(z, c), y)

    if operation == "hvp":
        return {
            "forward-over-reverse": lambda x, v, c: jvp(gradient(c), x, v),
            "reverse-over-reverse": lambda x, v, c: vjp(gradient(c), x, v),
            "reverse-over-forward": lambda x, v, c: grad(lambda y: jvp(lambda z: f(z, c), y, v), x),
            # H v one entry at a time: n forward passes over a forward pass.
            "forward-over-forward": lambda x, v, c: jacfwd(lambda y: jvp(lambda z: f(z, c), y, v), x),
        }[mode]
    outer, inner = mode.split("-over-")
    first_order = gradient if inner == "reverse" else (lambda c: lambda y: jacfwd(lambda z: f(z, c), y))
    jacobian = jacrev if outer == "reverse" else jacfwd
    return lambda x, c: jacobian(first_order(c), x)


def compressed_jacobian(tf: Framework, f: FunctionOfConstants, mode: str, n_colours: int) -> Computation:
    """J's nonzeros from ``n_colours`` compressed passes: a ``tf.vectorized_map`` of JVPs over the column
    colouring's seeds (forward, J S) or of one tape's VJPs over the row colouring's (reverse, Sᵀ J), then
    the gather. Takes ``(x, c, colours, gather)``; each seed is made from its colour inside the map (no
    n x p seed matrix is held), as tape.jacobian pfor-maps its rows."""
    _, _, jvp = _passes(tf)
    zero = tf.UnconnectedGradients.ZERO

    def op(x, c, colours, gather):
        ks = tf.range(n_colours, dtype=colours.dtype)
        if mode == "forward":
            B = tf.vectorized_map(lambda k: jvp(lambda y: f(y, c), x, tf.cast(colours == k, x.dtype)), ks)
        else:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = f(x, c)
            B = tf.vectorized_map(
                lambda k: tape.gradient(
                    y, x, output_gradients=tf.cast(colours == k, y.dtype), unconnected_gradients=zero
                ),
                ks,
            )
        return tf.gather(tf.reshape(B, (-1,)), gather)

    return op


def _columns(tf: Framework, push: Callable[[Array], Array], x: Array, chunk_size: int | None) -> Array:
    """``push(e_i)`` for every unit vector e_i of x's space, stacked: (n, ...).

    One ``tf.vectorized_map`` over the identity, as jax.jacfwd vmaps over it; chunked, a
    ``tf.map_fn`` over blocks of ``chunk_size`` indices (the remainder in one more pass), each
    unit vector made from its index inside the map, so no n x n identity is held.
    """
    n = x.shape[0]
    if not chunk_size:
        return tf.vectorized_map(push, tf.eye(n, dtype=x.dtype))

    def block(indices):
        return tf.vectorized_map(lambda i: push(tf.one_hot(i, n, dtype=x.dtype)), indices)

    blocks, rest = divmod(n, chunk_size)
    indices = tf.range(n)
    parts = []
    if blocks:
        mapped = tf.map_fn(
            block, tf.reshape(indices[: blocks * chunk_size], (blocks, chunk_size)), fn_output_signature=x.dtype
        )
        parts.append(tf.reshape(mapped, (blocks * chunk_size, *mapped.shape[2:])))
    if rest:
        parts.append(block(indices[blocks * chunk_size :]))
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)


# -- services (adbench.services) -----------------------------------------------------------------------------
def tf_loop(step: Callable[[Array, Carry], Carry], init: Carry, k: int) -> Carry:
    """The ``loop`` service inside ``tf.function``: one ``tf.while_loop`` whose body traces ``step`` once.

    ``maximum_iterations=k`` gives the loop a static trip count, which XLA needs to reverse-differentiate it
    (its gradient accumulates the carries in fixed-size TensorLists). A Python loop would unroll k copies of
    the step into the graph: ADBench's lstm at c = 1024 then took minutes to trace (README). tf.foldl over
    tf.range(k) builds the same While op (tools/tf_loop.py measures the three).
    """
    tf = import_tensorflow()
    if k <= 0:
        return init
    _, carry = tf.while_loop(
        lambda i, _: i < k, lambda i, c: (i + 1, step(i, c)), (tf.constant(0), init), maximum_iterations=k
    )
    return carry


def tf_while_loop(
    cond: Callable[[Carry], Array], body: Callable[[Carry], Carry], init: Carry, max_steps: int | None = None
) -> Carry:
    """The ``while_loop`` service inside ``tf.function``: ``tf.while_loop`` (while_v2), which TensorFlow
    differentiates in both modes and to any order. ``max_steps`` becomes ``maximum_iterations`` (XLA's
    reverse mode needs the bound): a loop still running there is cut, and its result fails the gate, as
    JAX's bounded loop."""
    tf = import_tensorflow()
    # One loop variable holding the carry: tf.while_loop calls cond and body with its variables unpacked.
    return tf.while_loop(lambda c: cond(c), lambda c: (body(c),), (init,), maximum_iterations=max_steps)[0]


def tf_cond(pred: Array, true_fn: Callable[[Carry], Any], false_fn: Callable[[Carry], Any], operand: Carry) -> Any:
    """The ``cond`` service inside ``tf.function``: ``tf.cond`` (cond_v2), which runs the branch taken."""
    tf = import_tensorflow()
    return tf.cond(pred, lambda: true_fn(operand), lambda: false_fn(operand))


def tf_level(tf: Framework, mode: str) -> Level:
    """One level of the ``ad`` service: ``tape.gradient`` (one VJP), or one ``ForwardAccumulator`` JVP per unit
    vector. Tapes and accumulators nest, each watching its own level's variable (TensorFlow's HVP recipe)."""
    grad, _, jvp = _passes(tf)
    # Each level watches a fresh tensor (tf.identity of z), never z itself: tapes and accumulators track tensors
    # by identity, and z may be used elsewhere as a constant (saddle's inner ascent starts from the very tensor
    # the outer level differentiates at): watched in place, that use would count as a path from z, and the
    # derivative would be wrong (saddle's result was x itself). The identity's own derivative passes the outer
    # level through.
    if mode == "reverse":
        return Level("reverse", lambda g: lambda z: grad(g, tf.identity(z)))
    unit = lambda z, i: tf.one_hot(i, z.shape[0], dtype=z.dtype)  # noqa: E731
    return Level("forward", lambda g: stacked_jvps(lambda z, v: jvp(g, tf.identity(z), v), unit, tf.experimental.numpy))


LEVEL_LABELS = {"reverse": "tape.gradient", "forward": "ForwardAccumulator.jvp per unit vector"}


class TensorflowBackend(Backend):
    name = "tensorflow"
    framework = "tensorflow"
    description = (
        "tf.function over tf.GradientTape (gradient, jacobian with pfor) and "
        "tf.autodiff.ForwardAccumulator (JVPs, vectorized_map for Jacobians), and their compositions"
    )
    label = "TensorFlow (tf.function)"
    colour = "#F0E442"  # Okabe-Ito's yellow, the one colour of that palette no other backend used
    order = 40
    # nested: reverse outer levels only. A ForwardAccumulator outer level fails inside tf.cond (TensorFlow 2.21's
    # cond_v2 asserts while it traces the branch) where the tf.while_loop it differentiates through branches
    # (saddle's inner ascent); particle, whose outer level meets no branch, would run in all four.
    operations = {**EVERY_MODE, NESTED: ("reverse-over-reverse", "reverse-over-forward")}
    chunkable = True  # tape.jacobian's parallel_iterations; a map_fn over vectorised blocks forward
    # In a plain compare: over the default grid its first calls (traces) sum to 19 s and its cases take
    # 50 s of the run (two rounds, results/reference/tensorflow-mlx.csv), jax's 14 s and 23 s.
    # That alone is a third of a plain compare's minute, where every case also takes its visits:
    # asked for by name (--backends tensorflow), so the README's first command keeps to its 60 s.
    default = False
    devices = ("cpu", "cuda")
    jit_compile = False

    def load(self, threads=None):
        return import_tensorflow(threads)

    def preload(self):
        import importlib

        # The namespace switches NumPy behaviour on, which must precede every trace. Imports only:
        # asv's forkserver forks after this, so nothing may start TensorFlow's thread pools here.
        namespace("tensorflow")
        for module in (
            "tensorflow.python.ops.parallel_for.control_flow_ops",
            "tensorflow.python.ops.parallel_for.pfor",
            "tensorflow.python.eager.forwardprop",
            "tensorflow.python.ops.numpy_ops.np_math_ops",
        ):
            importlib.import_module(module)

    def build_info(self):
        tf = self.load()
        info = {
            "cuda_build": tf.test.is_built_with_cuda(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            # TensorFlow's default on x86 Linux is on; the worker environment leaves it to the user.
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            "matmul_precision": "default" if tf.config.experimental.tensor_float_32_execution_enabled() else "highest",
        }
        return info

    def device_peak(self, device):
        if device != "cuda":
            return None
        tf = self.load()
        tf.config.experimental.reset_memory_stats("GPU:0")
        base = tf.config.experimental.get_memory_info("GPU:0")["current"]
        return lambda: tf.config.experimental.get_memory_info("GPU:0")["peak"] - base

    def unrolls(self, operation: str, mode: str, scalar: bool) -> bool:
        """Whether this case's loops run as a Python loop (unrolled into the graph) instead of the loop service.

        ForwardAccumulator cannot push a tangent through the gradient of a tf.while_loop, nor can a tape take
        the gradient of its JVP (TensorFlow 2.21: "dtype variant is not compatible", the loop's TensorList
        accumulators), so second order with a forward level unrolls. Under XLA, pfor (tape.jacobian's and
        tf.vectorized_map's vectorisation) also cannot vectorise the loop ("No registered 'TensorListReserve'
        OpKernel for XLA_CPU_JIT"): XLA's vectorised Jacobians and Hessians unroll too. The rest (gradients,
        JVPs, VJPs, reverse-over-reverse HVPs; every first-order case without XLA) take the service.
        tools/tf_loop.py measures the loops.
        """
        if operation in SECOND_ORDER and "forward" in mode:
            return True
        vectorised = operation == "hessian" or (operation == "jacobian" and not (mode == "reverse" and scalar))
        return self.jit_compile and vectorised

    def services(self):
        return {**super().services(), "loop": tf_loop, "while_loop": tf_while_loop, "cond": tf_cond}

    def ad_level(self, mode):
        return tf_level(self.load(), mode)

    def call_label(self, operation, mode, scalar, chunk_size=None):
        jit = ", jit_compile=True" if self.jit_compile else ""
        if operation == NESTED:
            outer, inner = mode.split("-over-")
            return (
                f"tf.function(f{jit}) with ad.outer.grad = {LEVEL_LABELS[outer]}, ad.inner.grad = "
                f"{LEVEL_LABELS[inner]}; loops and branches: tf.while_loop, tf.cond"
            )
        return f"tf.function({transform_label(operation, mode, scalar, chunk_size)}{jit})"

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        tf = self.load()
        forget_forward_mode_traces()
        place = self._place(tf, device)
        xt, arrays, dt = self._tensors(tf, place, x, dtype, constants, direction)
        scalar = problem.is_scalar(x.shape[0]) and operation not in (SPARSE, NESTED)
        f = self._function(problem, operation, mode, scalar, constants)
        traced = self._tracer(tf, place)
        # On the CPU a call returns finished tensors; a GPU's kernels may still be running.
        sync = (lambda _: tf.test.experimental.sync_devices()) if device == "cuda" else None
        label = self.call_label(operation, mode, scalar, chunk_size)
        to_numpy = lambda t: np.asarray(t.numpy())  # noqa: E731
        fun = traced(f)
        if operation == NESTED:  # f differentiates inside itself: the call is f, and there is no separate f
            return PreparedCase(call=lambda: fun(xt, arrays), function=None, sync=sync, to_numpy=to_numpy, label=label)
        if operation == SPARSE:
            from adbench.sparsity import compression_for

            comp = compression_for(problem, x, constants, mode)
            with tf.device(place):
                colours, gather = tf.constant(comp.colours.astype(np.int32)), tf.constant(comp.gather.astype(np.int64))
            op = traced(compressed_jacobian(tf, f, mode, comp.n_colours))
            return PreparedCase(
                call=lambda: op(xt, arrays, colours, gather),
                function=lambda: fun(xt, arrays),
                sync=sync,
                to_numpy=lambda t: comp.matrix(t.numpy()),
                label=label,
                colours=comp.n_colours,
            )
        op = traced(derivative(tf, f, operation, mode, scalar, chunk_size))
        call = (lambda: op(xt, dt, arrays)) if operation in DIRECTED else (lambda: op(xt, arrays))
        return PreparedCase(call=call, function=lambda: fun(xt, arrays), sync=sync, to_numpy=to_numpy, label=label)

    @staticmethod
    def _place(tf: Framework, device: str) -> str:
        """The device scope a case runs in, placed at trace time, inside the function, so a call pays no device
        scope (and a CPU run stays on the CPU where a CUDA build sees a GPU); a clear error where there is none."""
        if device == "cuda" and not tf.config.list_physical_devices("GPU"):
            build = "a CUDA build" if tf.test.is_built_with_cuda() else "tensorflow-cpu, a CPU-only build"
            raise RuntimeError(f"TensorFlow sees no CUDA device here (its build: {build})")
        return "/GPU:0" if device == "cuda" else "/CPU:0"

    @staticmethod
    def _tensors(
        tf: Framework, place: str, x: np.ndarray, dtype: str, constants: dict[str, Any], direction: Direction
    ) -> tuple[Array, dict[str, Array], Array | None]:
        """x, the array constants and the direction (v or u) as tensors of the run's dtype on ``place``."""
        with tf.device(place):

            def tensor(a: np.ndarray) -> Array:
                return tf.constant(a, dtype=float_dtype(a, dtype))

            arrays = {k: tensor(v) for k, v in constants.items() if isinstance(v, np.ndarray)}
            vec = direction.v if direction.v is not None else direction.u
            return tensor(x), arrays, tensor(np.asarray(vec)) if vec is not None else None

    def _function(
        self, problem: Problem, operation: str, mode: str, scalar: bool, constants: dict[str, Any]
    ) -> FunctionOfConstants:
        """f(v, c) over TensorFlow's namespace with this backend's services (its loop a tf.while_loop, unrolled
        where ``unrolls`` says; a nested case's ad in its mode)."""
        xp = namespace("tensorflow")
        # Python numbers (control_loop's k, ode's steps) are closed over: static, as under jit.
        static = {k: v for k, v in constants.items() if not isinstance(v, np.ndarray)}
        function = self.bound(problem, mode if operation == NESTED else None)
        if self.unrolls(operation, mode, scalar):
            function = bind_services(problem.function, {**self.services(), "loop": python_loop})

        def f(v, c):
            return function(v, xp, **c, **static)

        return f

    def _tracer(self, tf: Framework, place: str) -> Callable[[Computation], Computation]:
        """What makes a computation a tf.function run on ``place`` (with XLA for tensorflow-xla)."""

        def placed(fn):
            def run(*args):
                with tf.device(place):
                    return fn(*args)

            return run

        def traced(fn):
            # tf.function traces on the first call (and XLA compiles then): the first call times both.
            # autograph=False: AutoGraph would rewrite Python control flow on tensors (the problems' loops and
            # branches go through the services instead) and re-raises a case's exception as an "in user
            # code:" copy that hides the error (and the xp name) its row should show.
            return tf.function(placed(fn), jit_compile=self.jit_compile, autograph=False)

        return traced


class TensorflowXlaBackend(TensorflowBackend):
    name = "tensorflow-xla"
    description = "the same under tf.function(jit_compile=True): XLA compiles each case on its first call"
    label = "TensorFlow (XLA)"
    colour = "#B8A200"  # a darker yellow beside tensorflow's: Okabe-Ito has no colour left
    order = 41
    jit_compile = True
    # Measured over the default grid (results/reference/tensorflow-mlx.csv): its first calls (trace +
    # XLA compile) sum to 31 s and its cases take 94 s of the run, against tensorflow's 19 s and 50 s:
    # asked for by name.
    default = False
