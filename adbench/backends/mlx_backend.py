"""MLX: ``mx.grad``, ``mx.jvp``, ``mx.vjp`` and ``mx.vmap`` over the basis for Jacobians (``mlx``), and the
same under ``mx.compile`` (``mlx-compile``)."""

from __future__ import annotations

import functools

import numpy as np

from adbench.backends._base import Backend, CaseArguments, Computation, FunctionOfConstants, PreparedCase, float_dtype
from adbench.backends.modes import EVERY_MODE, NESTED, SPARSE, every_mode_but
from adbench.services import Level, stacked_jvps
from adbench.xp import Array, Framework, namespace

# Each operation's MLX transform of f as its users write it: the record's `call` (mlx-compile wraps it in
# mx.compile). MLX has no jacfwd or jacrev: Jacobians vmap JVPs or VJPs over the basis.
# Every backend's table has this shape, and its own framework's spelling in it (a repeat of shape, not of knowledge).
TRANSFORMS = {
    ("jacobian", "forward"): "mx.vmap(mx.jvp(f))",
    ("jacobian", "reverse"): "mx.vmap(mx.vjp(f))",
    (SPARSE, "forward"): "mx.vmap(mx.jvp(f)) over the column colouring's seeds",
    (SPARSE, "reverse"): "mx.vmap(mx.vjp(f)) over the row colouring's seeds",
    ("jvp", "forward"): "mx.jvp(f)",
    ("vjp", "reverse"): "mx.vjp(f)",
    ("hvp", "forward-over-reverse"): "mx.jvp(mx.grad(f))",
    ("hvp", "reverse-over-reverse"): "mx.vjp(mx.grad(f))",
    ("hvp", "reverse-over-forward"): "mx.grad(mx.jvp(f))",
    ("hvp", "forward-over-forward"): "mx.vmap(mx.jvp(mx.jvp(f)))",
    ("hessian", "forward-over-reverse"): "mx.vmap(mx.jvp(mx.grad(f)))",
    ("hessian", "reverse-over-reverse"): "mx.vmap(mx.vjp(mx.grad(f)))",
    ("hessian", "reverse-over-forward"): "mx.vmap(mx.vjp(mx.vmap(mx.jvp(f))))",
    ("hessian", "forward-over-forward"): "mx.vmap(mx.jvp(mx.vmap(mx.jvp(f))))",
}
LEVEL_LABELS = {"reverse": "mx.grad", "forward": "mx.jvp per unit vector"}


def transform_label(operation: str, mode: str, scalar: bool) -> str:
    """The MLX transform of ``f`` computing ``operation`` in ``mode``; a scalar f's reverse Jacobian is mx.grad."""
    if (operation, mode) == ("jacobian", "reverse") and scalar:
        return "mx.grad(f)"
    return TRANSFORMS[(operation, mode)]


def derivative(
    mx: Framework, f: FunctionOfConstants, operation: str, mode: str, n: int, m: int, scalar: bool
) -> Computation:
    """The MLX transform of ``f(x, consts)`` computing ``operation`` in ``mode`` (``transform_label``'s).

    Each result takes ``(x, direction, consts)``; the direction (v or u) is unused by Jacobians and
    Hessians. ``n`` and ``m`` size the bases that ``mx.vmap`` pushes through (MLX has no jacfwd or
    jacrev); a scalar f's reverse-mode Jacobian is its gradient (``mx.grad``).
    """

    def jvp(g, x, v):
        return mx.jvp(g, [x], [v])[1][0]

    def vjp(g, x, u):
        return mx.vjp(g, [x], [u])[1][0]

    def jacfwd(g, x):
        cols = mx.vmap(lambda t: jvp(g, x, t))(mx.eye(n, dtype=x.dtype))
        return mx.moveaxis(cols, 0, -1)  # (n, m...) -> (m..., n), as jax.jacfwd

    def jacrev(g, x, rows):
        return mx.vmap(lambda u: vjp(g, x, u))(mx.eye(rows, dtype=x.dtype))

    def of(c):
        return lambda y: f(y, c)

    if operation == "jacobian":
        if mode == "forward":
            return lambda x, _, c: jacfwd(of(c), x)
        if scalar:
            return lambda x, _, c: mx.grad(of(c))(x)
        return lambda x, _, c: jacrev(of(c), x, m)
    if operation == "jvp":
        return lambda x, v, c: jvp(of(c), x, v)
    if operation == "vjp":
        return lambda x, u, c: vjp(of(c), x, u)
    if operation == "hvp":
        return {
            "forward-over-reverse": lambda x, v, c: jvp(mx.grad(of(c)), x, v),
            "reverse-over-reverse": lambda x, v, c: vjp(mx.grad(of(c)), x, v),
            "reverse-over-forward": lambda x, v, c: mx.grad(lambda y: jvp(of(c), y, v))(x),
            # H v one entry at a time: n forward passes over a forward pass.
            "forward-over-forward": lambda x, v, c: jacfwd(lambda y: jvp(of(c), y, v), x),
        }[mode]
    outer, inner = mode.split("-over-")
    first_order = (lambda c: mx.grad(of(c))) if inner == "reverse" else (lambda c: lambda y: jacfwd(of(c), y))
    if outer == "reverse":
        return lambda x, _, c: jacrev(first_order(c), x, n)
    return lambda x, _, c: jacfwd(first_order(c), x)


def compressed_jacobian(mx: Framework, f: FunctionOfConstants, mode: str, n_colours: int) -> Computation:
    """J's nonzeros from ``n_colours`` compressed passes: ``mx.vmap`` of ``mx.jvp`` over the column colouring's
    seeds (forward, J S) or of ``mx.vjp`` over the row colouring's (reverse, Sᵀ J), then the gather. Takes
    ``(x, c, colours, gather)``; each seed is made from its colour inside the map (no n x p seed matrix)."""

    def op(x, c, colours, gather):
        ks = mx.arange(n_colours, dtype=colours.dtype)
        g = lambda y: f(y, c)  # noqa: E731
        if mode == "forward":
            B = mx.vmap(lambda k: mx.jvp(g, [x], [(colours == k).astype(x.dtype)])[1][0])(ks)
        else:
            B = mx.vmap(lambda k: mx.vjp(g, [x], [(colours == k).astype(x.dtype)])[1][0])(ks)
        return mx.take(mx.reshape(B, (-1,)), gather)

    return op


def mlx_level(mx: Framework, mode: str) -> Level:
    """One level of the ``ad`` service: ``mx.grad`` (one VJP), or one ``mx.jvp`` per unit vector."""
    if mode == "reverse":
        return Level("reverse", mx.grad)

    def unit(z, i):
        return (mx.arange(z.shape[0]) == i).astype(z.dtype)

    return Level("forward", lambda g: stacked_jvps(lambda z, v: mx.jvp(g, [z], [v])[1][0], unit, mx))


@functools.cache
def float64_shortfall(mx: Framework) -> str | None:
    """Why MLX's float64 is not float64 here, or None: on its CPU (0.32) sin, cos and exp of a
    float64 array come back accurate to float32 only (errors of 1e-7, 9e-8, 3e-7 relative to
    max(|value|, 1) on [0.1, 3]), which the float64 correctness gate (1e-8) fails; log, tanh and
    sqrt are float64-accurate. Probed, so a release that fixes it passes."""
    x = np.linspace(0.1, 3.0, 64)
    worst = {}
    for name in ("sin", "cos", "exp", "log", "tanh", "sqrt"):
        got = np.array(getattr(mx, name)(mx.array(x, dtype=mx.float64)), dtype=np.float64)
        want = getattr(np, name)(x)
        worst[name] = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
    bad = {k: v for k, v in worst.items() if v > 1e-13}
    if not bad:
        return None
    listed = ", ".join(f"{k} {v:.0e}" for k, v in bad.items())
    return (
        f"backend 'mlx' refuses float64: MLX {mx.__version__} computes float64 {', '.join(bad)} to about "
        f"float32 accuracy on this CPU (largest relative error against NumPy: {listed}); run it in float32"
    )


def linked_blas() -> list[str]:
    """The BLAS and LAPACK libraries this process has mapped (MLX's Linux wheel brings its own)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return []
    return sorted({p.rsplit("/", 1)[-1] for p in paths if "mlx" in p and ("blas" in p or "lapack" in p)})


class MlxBackend(Backend):
    name = "mlx"
    framework = "mlx"
    description = "mx.grad, mx.jvp, mx.vjp, and mx.vmap of JVPs/VJPs over the basis for Jacobians; their compositions"
    label = "MLX"
    # Okabe-Ito's eight colours are taken; a brown (matplotlib's tab:brown) no other backend uses.
    colour = "#8C564B"
    order = 45
    operations = EVERY_MODE
    # mx.vmap has no chunk size, and a Python loop of vmapped chunks is not how MLX users chunk.
    chunkable = False
    unchunked = "does not chunk: mx.vmap has no chunk size"
    # Linux builds run on the CPU (mlx[cpu]) or CUDA (mlx[cuda]); Metal is macOS's. adbench's device
    # axis is cpu/cuda and only the CPU build is tested here, so cases run on the CPU.
    devices = ("cpu",)
    compiled = False
    # Asked for by name (--backends mlx): a fifth and sixth framework in a plain compare took its
    # default run past the minute the README promises on 2 cores (every case built and visited).
    default = False

    def load(self, threads=None):
        # MLX's CPU kernels run on its stream's one thread; it has no thread-count setting.
        import mlx.core as mx

        mx.set_default_device(mx.cpu)  # on macOS the default is the Metal GPU
        return mx

    def preload(self):
        namespace("mlx")

    def build_info(self):
        mx = self.load()
        info = {
            "default_device": str(mx.default_device()),
            "metal_available": mx.metal.is_available(),
            "cuda_available": mx.cuda.is_available(),
            "blas": linked_blas(),
            "cpu_threads": "one per stream (no setting)",
            "matmul_precision": "highest",
            "float64": float64_shortfall(mx) or "float64-accurate",
        }
        return info

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        mx = self.load()
        if dtype == "float64" and float64_shortfall(mx):
            raise ValueError(float64_shortfall(mx))
        xp = namespace("mlx")

        def array(a: np.ndarray) -> Array:
            # mx.array converts float64 NumPy arrays to float32 unless told the dtype.
            return mx.array(a, dtype=getattr(mx, str(float_dtype(a, dtype))))

        xm = array(x)
        arrays = {k: array(v) for k, v in constants.items() if isinstance(v, np.ndarray)}
        # Python numbers (control_loop's k) are closed over: mx.compile unrolls the loop they count.
        static = {k: v for k, v in constants.items() if not isinstance(v, np.ndarray)}
        vec = direction.v if direction.v is not None else direction.u
        dm = array(np.asarray(vec)) if vec is not None else None

        # The problem with this backend's services: MLX has no loop or branch construct (mx.compile traces Python
        # loops unrolled), so they are the Python defaults; a nested case's ad differentiates in its mode.
        function = self.bound(problem, mode if operation == NESTED else None)

        def f(v, c):
            return function(v, xp, **c, **static)

        n = x.shape[0]
        scalar = problem.is_scalar(n) and operation not in (SPARSE, NESTED)
        label = self.call_label(operation, mode, scalar)
        compile = mx.compile if self.compiled else (lambda fn: fn)
        # The first call of a compiled function traces and compiles; later calls with the same shapes reuse it.
        # MLX is lazy: a call builds a graph and mx.eval computes it, as block_until_ready for JAX.
        to_numpy = lambda a: np.array(a, copy=True)  # noqa: E731
        if operation == NESTED:  # f differentiates inside itself: the call is f, and there is no separate f
            return PreparedCase(call=lambda: f(xm, arrays), function=None, sync=mx.eval, to_numpy=to_numpy, label=label)
        fun = compile(f)
        if operation == SPARSE:
            from adbench.sparsity import compression_for

            comp = compression_for(problem, x, constants, mode)
            colours, gather = mx.array(comp.colours.astype(np.int32)), mx.array(comp.gather.astype(np.int32))
            op = compile(compressed_jacobian(mx, f, mode, comp.n_colours))
            return PreparedCase(
                call=lambda: op(xm, arrays, colours, gather),
                function=lambda: fun(xm, arrays),
                sync=mx.eval,
                to_numpy=lambda a: comp.matrix(np.array(a, copy=True)),
                label=label,
                colours=comp.n_colours,
            )
        op = compile(derivative(mx, f, operation, mode, n, problem.n_outputs(n), scalar))
        return PreparedCase(
            call=lambda: op(xm, dm, arrays),
            function=lambda: fun(xm, arrays),
            sync=mx.eval,
            to_numpy=to_numpy,
            label=label,
        )

    def ad_level(self, mode):
        return mlx_level(self.load(), mode)

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            outer, inner = mode.split("-over-")
            return (
                f"f with ad.outer.grad = {LEVEL_LABELS[outer]}, ad.inner.grad = {LEVEL_LABELS[inner]}; "
                "loops and branches: Python while and if on the arrays' values"
            )
        label = transform_label(operation, mode, scalar)
        return f"mx.compile({label})" if self.compiled else label


class MlxCompileBackend(MlxBackend):
    name = "mlx-compile"
    description = "the same transforms under mx.compile; the first call traces and compiles"
    label = "MLX (mx.compile)"
    colour = "#C49C94"  # a lighter brown beside mlx's
    order = 46
    compiled = True
    operations = every_mode_but(NESTED)
    refusals = {
        NESTED: "mx.compile cannot trace the data-dependent while loops and branches of a function that "
        "differentiates inside itself (evaluating an array inside mx.compile is an error)"
    }
    # Over the default grid its first calls (g++ builds of the generated kernels) sum to 62 s and its
    # cases take 86 s of the run (results/reference/tensorflow-mlx.csv): asked for by name. Plain mlx
    # (first calls 1.6 s, 12 s of the run, most of it tall's reverse Jacobian) is in a plain compare.
    default = False
