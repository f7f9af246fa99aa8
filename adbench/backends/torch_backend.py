"""PyTorch: ``torch.func`` transforms (``torch``) and plain ``torch.autograd`` (``torch-autograd``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adbench.backends._base import Backend, Computation, Direction, Function, PreparedCase, Sync, float_dtype
from adbench.backends.modes import EVERY_MODE, NESTED, SPARSE
from adbench.problems import Problem
from adbench.services import Level, stacked_jvps
from adbench.xp import Array, Framework, namespace

# Each operation's torch.func transform of f as PyTorch users write it: the record's `call`. A scalar
# f's reverse-mode Jacobian is its gradient, torch.func.grad (jacrev vmaps one cotangent over a
# one-row basis: 1.05-1.8x the gradient's time).
# Every backend's table has this shape, and its own framework's spelling in it (a repeat of shape, not of knowledge).
TRANSFORMS = {
    # sparse-jacobian: compressed passes, one per colour, then the nonzeros gathered (adbench.sparsity).
    (SPARSE, "forward"): "torch.func.vmap(jvp) over the column colouring's seeds",
    (SPARSE, "reverse"): "torch.func.vmap(vjp) over the row colouring's seeds",
    ("jvp", "forward"): "lambda x, v: torch.func.jvp(f, (x,), (v,))[1]",
    ("vjp", "reverse"): "lambda x, u: torch.func.vjp(f, x)[1](u)[0]",
    ("hvp", "forward-over-reverse"): "lambda x, v: torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]",
    ("hvp", "reverse-over-reverse"): "lambda x, v: torch.func.vjp(torch.func.grad(f), x)[1](v)[0]",
    ("hvp", "reverse-over-forward"): "lambda x, v: torch.func.grad(lambda y: torch.func.jvp(f, (y,), (v,))[1])(x)",
    ("hvp", "forward-over-forward"): "lambda x, v: torch.func.jacfwd(lambda y: torch.func.jvp(f, (y,), (v,))[1])(x)",
    ("hessian", "forward-over-reverse"): "torch.func.jacfwd(torch.func.grad(f))",
    ("hessian", "reverse-over-reverse"): "torch.func.jacrev(torch.func.grad(f))",
    ("hessian", "reverse-over-forward"): "torch.func.jacrev(torch.func.jacfwd(f))",
    ("hessian", "forward-over-forward"): "torch.func.jacfwd(torch.func.jacfwd(f))",
}


def func_label(operation: str, mode: str, scalar: bool, chunk_size: int | None = None) -> str:
    """The torch.func transform of ``f`` that computes ``operation`` in ``mode``, as users spell it."""
    if operation != "jacobian":
        return TRANSFORMS[(operation, mode)]
    if mode == "reverse":
        if scalar:
            return "torch.func.grad(f)"
        return f"torch.func.jacrev(f, chunk_size={chunk_size})" if chunk_size else "torch.func.jacrev(f)"
    if chunk_size:
        return f"lambda x: torch.func.vmap(lambda e: torch.func.jvp(f, (x,), (e,))[1], chunk_size={chunk_size})(basis)"
    return "torch.func.jacfwd(f)"


def func_derivative(
    torch: Framework, f: Function, operation: str, mode: str, scalar: bool, chunk_size: int | None = None
) -> Computation:
    """The ``torch.func`` transform of ``f`` computing ``operation`` in ``mode`` (``func_label``'s);
    takes ``(x, direction)``."""
    tf = torch.func
    grad = tf.grad(f)

    def jvp_f(x, v):
        return tf.jvp(f, (x,), (v,))[1]

    if operation == "jacobian":
        if mode == "reverse":
            if scalar:
                return lambda x, _: grad(x)
            jac = tf.jacrev(f, chunk_size=chunk_size)
            return lambda x, _: jac(x)
        if chunk_size:
            # jacfwd has no chunk_size: vmap the JVP over the basis, chunk_size columns at a time,
            # each unit vector made from its index inside the map (no n x n identity is held).
            def jac_chunked(x, _):
                index = torch.arange(x.shape[0], device=x.device)
                cols = tf.vmap(lambda i: jvp_f(x, (index == i).to(x.dtype)), chunk_size=chunk_size)(index)
                return torch.movedim(cols, 0, -1)

            return jac_chunked
        jac = tf.jacfwd(f)
        return lambda x, _: jac(x)
    if operation == "jvp":
        return jvp_f
    if operation == "vjp":
        return lambda x, u: tf.vjp(f, x)[1](u)[0]
    if operation == "hvp":
        return {
            "forward-over-reverse": lambda x, v: tf.jvp(grad, (x,), (v,))[1],
            # torch.func's tutorial spelling (a VJP of the gradient): 15-20 % faster than grad(sum(grad * v)).
            "reverse-over-reverse": lambda x, v: tf.vjp(grad, x)[1](v)[0],
            "reverse-over-forward": lambda x, v: tf.grad(lambda y: jvp_f(y, v))(x),
            "forward-over-forward": lambda x, v: tf.jacfwd(lambda y: jvp_f(y, v))(x),
        }[mode]
    outer, inner = mode.split("-over-")
    jac = {"forward": tf.jacfwd, "reverse": tf.jacrev}
    # Second order composes over the gradient where the inner pass is reverse mode.
    hess = jac[outer](grad if inner == "reverse" else tf.jacfwd(f))
    return lambda x, _: hess(x)


# -- sparse-jacobian ----------------------------------------------------------------------------------------
def compressed_jacobian(
    torch: Framework, f: Function, mode: str, n_colours: int, colours: Array, gather: Array
) -> Computation:
    """J's nonzeros from ``n_colours`` compressed passes: torch.func.vmap of jvp over the column colouring's
    seeds (forward, J S) or of one vjp's pullback over the row colouring's (reverse, Sᵀ J), then the gather.
    Each seed is made from its colour inside the map: no n x p seed matrix is held."""
    tf = torch.func
    ks = torch.arange(n_colours, device=colours.device)

    def op(x, _):
        if mode == "forward":
            B = tf.vmap(lambda k: tf.jvp(f, (x,), ((colours == k).to(x.dtype),))[1])(ks)
        else:
            y, pullback = tf.vjp(f, x)
            B = tf.vmap(lambda k: pullback((colours == k).to(y.dtype))[0])(ks)
        return torch.take(B, gather)  # B read as flattened, row-major

    return op


def sparse_case(
    torch: Framework,
    problem: Problem,
    x: np.ndarray,
    constants: dict[str, Any],
    mode: str,
    xt: Array,
    f: Function,
    sync: Sync | None,
    compile: Callable[[Computation], Computation],
    label: str,
) -> PreparedCase:
    """The sparse-jacobian case: colouring once here; the passes and the gather timed (compiled for
    torch-compile); the SciPy matrix assembled by to_numpy, outside the timing."""
    from adbench.sparsity import compression_for

    comp = compression_for(problem, x, constants, mode)
    colours = torch.as_tensor(comp.colours.astype(np.int64), device=xt.device)
    gather = torch.as_tensor(comp.gather.astype(np.int64), device=xt.device)
    op = compile(compressed_jacobian(torch, f, mode, comp.n_colours, colours, gather))
    return PreparedCase(
        call=lambda: op(xt, None),
        function=lambda: f(xt),
        sync=sync,
        to_numpy=lambda t: comp.matrix(t.detach().cpu().numpy()),
        label=label,
        colours=comp.n_colours,
    )


def autograd_sparse_case(
    torch: Framework,
    problem: Problem,
    x: np.ndarray,
    constants: dict[str, Any],
    xt: Array,
    f: Function,
    sync: Sync | None,
    label: str,
) -> PreparedCase:
    """Reverse compressed passes with plain torch.autograd: one backward pass per colour of the rows."""
    from adbench.sparsity import compression_for

    comp = compression_for(problem, x, constants, "reverse")
    colours = torch.as_tensor(comp.colours.astype(np.int64), device=xt.device)
    gather = torch.as_tensor(comp.gather.astype(np.int64), device=xt.device)

    def call():
        v = xt.detach().requires_grad_(True)
        y = f(v)
        B = torch.stack(
            [
                torch.autograd.grad(y, v, grad_outputs=(colours == k).to(y.dtype), retain_graph=True)[0]
                for k in range(comp.n_colours)
            ]
        )
        return torch.take(B, gather)

    return PreparedCase(
        call=call,
        function=lambda: f(xt),
        sync=sync,
        to_numpy=lambda t: comp.matrix(t.detach().cpu().numpy()),
        label=label,
        colours=comp.n_colours,
    )


def torch_unit(z, i):
    """The i-th unit vector of z's dtype and device (a factory, so no functorch level wraps it)."""
    import torch

    return torch.eye(z.shape[0], dtype=z.dtype, device=z.device)[i]


FUNC_LEVEL_LABELS = {"reverse": "torch.func.grad", "forward": "torch.func.jvp per unit vector"}


class TorchBackend(Backend):
    name = "torch"
    framework = "torch"
    description = "torch.func: jacfwd/jacrev, jvp/vjp and their compositions (vmap over JVPs/VJPs)"
    label = "PyTorch (torch.func)"
    colour = "#D55E00"
    order = 20
    operations = EVERY_MODE
    chunkable = True
    devices = ("cpu", "cuda")

    def load(self, threads=None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        return torch

    def preload(self):
        import importlib

        # The first torch.func transform imports torch._dynamo (about 800 modules, 1.3 s here).
        for module in ("torch.func", "torch._dynamo", "array_api_compat.torch"):
            importlib.import_module(module)

    def build_info(self):
        torch = self.load()
        info = {
            "cuda_build": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
            "matmul_precision": torch.get_float32_matmul_precision(),
        }
        if torch.cuda.is_available():
            info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["cudnn"] = torch.backends.cudnn.version()
        return info

    def device_peak(self, device):
        if device != "cuda":
            return None
        torch = self.load()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        return lambda: torch.cuda.max_memory_allocated() - base

    def ad_level(self, mode):
        torch = self.load()
        if mode == "reverse":
            return Level("reverse", torch.func.grad)
        xp = namespace("torch")
        return Level("forward", lambda g: stacked_jvps(lambda z, v: torch.func.jvp(g, (z,), (v,))[1], torch_unit, xp))

    def _setup(self, problem, x, dtype, constants, direction, device, mode=None):
        torch = self.load()
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device here")
        xp = namespace("torch")

        def tensor(a: np.ndarray) -> Array:
            # torch.tensor copies: the input may be a read-only view (of a JAX array, say).
            return torch.tensor(a, dtype=getattr(torch, str(float_dtype(a, dtype))), device=device)

        xt = tensor(x)
        consts = {k: tensor(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}
        vec = direction.v if direction.v is not None else direction.u
        dt = tensor(vec) if vec is not None else None
        sync = (lambda _: torch.cuda.synchronize()) if xt.is_cuda else None

        function = self.bound(problem, mode)

        def f(v):
            return function(v, xp, **consts)

        return torch, xt, dt, f, sync

    def _nested(
        self, problem: Problem, x: np.ndarray, mode: str, dtype: str, constants: dict[str, Any], device: str
    ) -> PreparedCase:
        """The function itself, with this mode's ``ad``: what a nested case times."""
        _, xt, _, f, sync = self._setup(problem, x, dtype, constants, Direction(), device, mode)
        return PreparedCase(
            call=lambda: f(xt),
            function=None,
            sync=sync,
            to_numpy=lambda t: t.detach().cpu().numpy(),
            label=self.call_label(NESTED, mode, False),
        )

    def nested_label(self, mode: str, levels: dict[str, str]) -> str:
        outer, inner = mode.split("-over-")
        return (
            f"f with ad.outer.grad = {levels[outer]}, ad.inner.grad = {levels[inner]}; "
            "loops and branches: Python while and if on the tensors' values"
        )

    def prepare(
        self, problem, x, operation, mode, dtype, constants, direction=Direction(), *, chunk_size=None, device="cpu"
    ):
        if operation == NESTED:
            return self._nested(problem, x, mode, dtype, constants, device)
        torch, xt, dt, f, sync = self._setup(problem, x, dtype, constants, direction, device)
        if operation == SPARSE:
            return self._sparse(torch, problem, x, constants, mode, xt, f, sync)
        return self._dense(torch, problem, x, operation, mode, xt, dt, f, sync, chunk_size)

    def _sparse(
        self,
        torch: Framework,
        problem: Problem,
        x: np.ndarray,
        constants: dict[str, Any],
        mode: str,
        xt: Array,
        f: Function,
        sync: Sync | None,
    ) -> PreparedCase:
        return sparse_case(
            torch, problem, x, constants, mode, xt, f, sync, self.compile, self.call_label(SPARSE, mode, False)
        )

    def _dense(
        self,
        torch: Framework,
        problem: Problem,
        x: np.ndarray,
        operation: str,
        mode: str,
        xt: Array,
        dt: Array | None,
        f: Function,
        sync: Sync | None,
        chunk_size: int | None,
    ) -> PreparedCase:
        """Every other operation, from the setup ``prepare`` made: torch.func's transforms here."""
        scalar = problem.is_scalar(x.shape[0])

        def f_in_dtype(v):
            # torch.func's forward mode promotes a 0-d float32 value's tangent to float64 where it meets
            # a Python float (x_star @ x / sqrt(n) under jvp/jacfwd; pytorch/pytorch#90065: the zero
            # tangent made for the number keeps float64 and loses the wrapped-number flag that makes it
            # weak). Only 0-d values are promoted (a dimensioned float32 array outranks a 0-d float64
            # one), so casting a scalar result back (copy=True: the primal is float32 already, and only
            # a copy casts the tangent) costs a few scalar operations and keeps the precision asked
            # for. It lives here, once, because operators on tensors never pass through the namespace;
            # reverse-only transforms are spared it (it cost loss's torch.func.grad 5-10 %).
            y = f(v)
            return y.to(v.dtype, copy=True) if y.ndim == 0 else y

        transformed = f_in_dtype if "forward" in mode else f
        op = self.compile(func_derivative(torch, transformed, operation, mode, scalar, chunk_size))
        return PreparedCase(
            call=lambda: op(xt, dt),
            function=lambda: f(xt),
            sync=sync,
            to_numpy=lambda t: t.detach().cpu().numpy(),
            label=self.call_label(operation, mode, scalar, chunk_size),
        )

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            return self.nested_label(mode, FUNC_LEVEL_LABELS)
        return func_label(operation, mode, scalar, chunk_size)

    def compile(self, op):
        """The callable as timed: as is here; torch-compile compiles it."""
        return op


class TorchAutogradBackend(TorchBackend):
    name = "torch-autograd"
    description = (
        "torch.autograd: one backward pass per output row (no vmap), forward_ad dual numbers "
        "for JVPs, double backward for second order"
    )
    label = "PyTorch (torch.autograd)"
    colour = "#E69F00"
    order = 21
    # Second order (and nested differentiation) is double backward: forward_ad's dual levels do not nest.
    operations = {
        "jacobian": ("reverse",),
        "jvp": ("forward",),
        "vjp": ("reverse",),
        "hvp": ("reverse-over-reverse",),
        "hessian": ("reverse-over-reverse",),
        SPARSE: ("reverse",),
        NESTED: ("reverse-over-reverse",),
    }
    vectorized = False
    chunkable = False

    def ad_level(self, mode):
        if mode != "reverse":
            return super().ad_level(mode)  # not offered (operations): refused before it gets here
        torch = self.load()

        def grad(g):
            def gradient(z):
                # A fresh leaf where z is a constant; where z already hangs on an outer level's graph, the
                # gradient at z itself (a partial derivative), keeping that graph for the outer level.
                z = z if z.requires_grad else z.detach().requires_grad_(True)
                out = g(z)
                if not out.requires_grad:
                    return torch.zeros_like(z)
                (dz,) = torch.autograd.grad(out, z, create_graph=True, allow_unused=True)
                return torch.zeros_like(z) if dz is None else dz

            return gradient

        return Level("reverse", grad)

    def _sparse(
        self,
        torch: Framework,
        problem: Problem,
        x: np.ndarray,
        constants: dict[str, Any],
        mode: str,
        xt: Array,
        f: Function,
        sync: Sync | None,
    ) -> PreparedCase:
        return autograd_sparse_case(torch, problem, x, constants, xt, f, sync, self.call_label(SPARSE, mode, False))

    def _dense(
        self,
        torch: Framework,
        problem: Problem,
        x: np.ndarray,
        operation: str,
        mode: str,
        xt: Array,
        dt: Array | None,
        f: Function,
        sync: Sync | None,
        chunk_size: int | None,
    ) -> PreparedCase:
        """Every other operation with plain torch.autograd: backward passes, and forward_ad's dual numbers."""
        grad = torch.autograd.grad

        def rows(y, v, **kw):
            """d y_i / d v for every entry of y, one backward pass each."""
            flat = y.reshape(-1)
            return torch.stack([grad(flat[i], v, retain_graph=True, **kw)[0] for i in range(flat.shape[0])])

        def jacobian():
            v = xt.detach().requires_grad_(True)
            y = f(v)
            return grad(y, v)[0] if y.ndim == 0 else rows(y, v)

        def jvp():
            import torch.autograd.forward_ad as fwad

            with fwad.dual_level():
                return fwad.unpack_dual(f(fwad.make_dual(xt, dt))).tangent

        def vjp():
            v = xt.detach().requires_grad_(True)
            return grad(f(v), v, grad_outputs=dt)[0]

        def hvp():
            v = xt.detach().requires_grad_(True)
            (g,) = grad(f(v), v, create_graph=True)
            return grad(g, v, grad_outputs=dt)[0]

        def hessian():
            v = xt.detach().requires_grad_(True)
            (g,) = grad(f(v), v, create_graph=True)
            return rows(g, v)

        call = {"jacobian": jacobian, "jvp": jvp, "vjp": vjp, "hvp": hvp, "hessian": hessian}[operation]
        return PreparedCase(
            call=call,
            function=lambda: f(xt),
            sync=sync,
            to_numpy=lambda t: t.detach().cpu().numpy(),
            label=self.call_label(operation, mode, problem.is_scalar(x.shape[0])),
        )

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            return self.nested_label(mode, {"reverse": "torch.autograd.grad(g(z), z, create_graph=True)"})
        # x is a leaf with requires_grad=True, made afresh inside every call.
        if operation == SPARSE:
            return "torch.autograd.grad(f(x), x, grad_outputs=seed, retain_graph=True) for each colour of the rows"
        if operation == "jacobian":
            return (
                "torch.autograd.grad(f(x), x)"
                if scalar
                else "torch.autograd.grad(y[i], x, retain_graph=True) for each of the m entries of y = f(x)"
            )
        return {
            "jvp": "torch.autograd.forward_ad.unpack_dual(f(make_dual(x, v))).tangent",
            "vjp": "torch.autograd.grad(f(x), x, grad_outputs=u)",
            "hvp": "torch.autograd.grad(torch.autograd.grad(f(x), x, create_graph=True)[0], x, grad_outputs=v)",
            "hessian": (
                "torch.autograd.grad(g[i], x, retain_graph=True) for each of the n entries of "
                "g = torch.autograd.grad(f(x), x, create_graph=True)[0]"
            ),
        }[operation]


class TorchCompileBackend(TorchBackend):
    name = "torch-compile"
    description = "torch.compile (inductor, fullgraph) over the torch.func transforms; the first call compiles"
    label = "PyTorch (torch.compile)"
    colour = "#CC79A7"
    order = 22
    # A compile takes seconds to tens of seconds per case on a CPU: asked for by name only.
    default = False
    operations = {op: modes for op, modes in EVERY_MODE.items() if op != NESTED}
    refusals = {
        NESTED: "torch.compile(fullgraph=True) cannot compile the data-dependent while loops and "
        "branches of a function that differentiates inside itself (each is a graph break)"
    }

    def call_label(self, operation, mode, scalar, chunk_size=None):
        return f"torch.compile({func_label(operation, mode, scalar, chunk_size)}, fullgraph=True, dynamic=False)"

    def compile(self, op):
        torch = self.load()
        # fullgraph: a graph break is an error row with the compiler's message, never a silent
        # fallback to eager code that would be timed as "compiled".
        return torch.compile(op, fullgraph=True, dynamic=False)

    def prepare(
        self, problem, x, operation, mode, dtype, constants, direction=Direction(), *, chunk_size=None, device="cpu"
    ):
        # Every case's callables share code objects (the lambdas above), so without a reset Dynamo
        # counts each new case as a recompile of the last and refuses after its limit (8).
        self.load()._dynamo.reset()
        case = super().prepare(
            problem, x, operation, mode, dtype, constants, direction, chunk_size=chunk_size, device=device
        )
        case.function = self._compiled_function(case.function)
        return case

    def _compiled_function(self, call):
        # f compiled too, so time(J)/time(f) compares compiled code with compiled code.
        return self.compile(call)
