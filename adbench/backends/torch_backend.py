"""PyTorch's ``torch.func`` transforms (``torch``), and the same under ``torch.compile`` (``torch-compile``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.backends._base import (
    Backend,
    CaseArguments,
    Computation,
    Direction,
    Function,
    PreparedCase,
    Sync,
    float_dtype,
)
from adbench.backends.modes import EVERY_MODE, NESTED, SPARSE, ModeName, Operation, every_mode_but
from adbench.backends.transform_labels import functorch_labels
from adbench.problems import Problem
from adbench.services import Level, stacked_jvps
from adbench.xp import Array, Framework, namespace

if TYPE_CHECKING:
    from adbench.sparsity import Compression

# Each operation's torch.func transform of f as PyTorch users write it: the record's `call`. A scalar
# f's reverse-mode Jacobian is its gradient, torch.func.grad (jacrev vmaps one cotangent over a
# one-row basis: 1.05-1.8x the gradient's time).
TRANSFORMS = functorch_labels(
    "torch.func", "torch.func.vmap", "lambda x, v: torch.func.vjp(torch.func.grad(f), x)[1](v)[0]"
)


def func_label(operation: Operation, mode: ModeName, scalar: bool, chunk_size: int | None = None) -> str:
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


@dataclass(frozen=True)
class TorchCase:
    """One case as ``prepare`` builds on it: x and the direction as tensors, f bound to the constants, the sync."""

    torch: Framework
    problem: Problem
    x: np.ndarray
    constants: dict[str, Any]
    xt: Array
    direction: Array | None
    f: Function
    sync: Sync | None

    def prepared(self, call: Callable[[], Array], label: str, compression: Compression | None = None) -> PreparedCase:
        """The case's PreparedCase timing ``call`` beside f; a sparse case's SciPy matrix assembled by to_numpy,
        outside the timing."""
        if compression is None:
            to_numpy: Callable[[Array], Any] = lambda t: t.detach().cpu().numpy()  # noqa: E731
        else:
            to_numpy = lambda t: compression.matrix(t.detach().cpu().numpy())  # noqa: E731
        return PreparedCase(
            call=call,
            function=lambda: self.f(self.xt),
            sync=self.sync,
            to_numpy=to_numpy,
            label=label,
            colours=None if compression is None else compression.n_colours,
        )

    def compression(self, mode: str) -> tuple[Compression, Array, Array]:
        """The sparse-jacobian case's colouring (made once, here), and its colours and gather as tensors."""
        from adbench.sparsity import compression_for

        comp = compression_for(self.problem, self.x, self.constants, mode)
        as_tensor = self.torch.as_tensor
        colours = as_tensor(comp.colours.astype(np.int64), device=self.xt.device)
        gather = as_tensor(comp.gather.astype(np.int64), device=self.xt.device)
        return comp, colours, gather


def torch_unit(z, i):
    """The i-th unit vector of z's dtype and device (a factory, so no functorch level wraps it)."""
    import torch

    return torch.eye(z.shape[0], dtype=z.dtype, device=z.device)[i]


FUNC_LEVEL_LABELS = {"reverse": "torch.func.grad", "forward": "torch.func.jvp per unit vector"}


class TorchBackend(Backend):
    name = "torch"
    first_call_is_steady = True
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

    def _setup(
        self,
        problem: Problem,
        x: np.ndarray,
        dtype: str,
        constants: dict[str, Any],
        direction: Direction,
        device: str,
        mode: str | None = None,
    ) -> TorchCase:
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

        return TorchCase(torch, problem, x, constants, xt, dt, f, sync)

    def _nested(
        self, problem: Problem, x: np.ndarray, mode: str, dtype: str, constants: dict[str, Any], device: str
    ) -> PreparedCase:
        """The function itself, with this mode's ``ad``: what a nested case times (it has no f of its own)."""
        case = self._setup(problem, x, dtype, constants, Direction(), device, mode)
        prepared = case.prepared(lambda: case.f(case.xt), self.call_label(NESTED, mode, False))
        prepared.function = None
        return prepared

    def nested_label(self, mode: str, levels: dict[str, str]) -> str:
        outer, inner = mode.split("-over-")
        return (
            f"f with ad.outer.grad = {levels[outer]}, ad.inner.grad = {levels[inner]}; "
            "loops and branches: Python while and if on the tensors' values"
        )

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        if operation == NESTED:
            return self._nested(problem, x, mode, dtype, constants, device)
        tensors = self._setup(problem, x, dtype, constants, direction, device)
        if operation == SPARSE:
            return self._sparse(tensors, mode)
        return self._dense(tensors, operation, mode, chunk_size)

    def _sparse(self, case: TorchCase, mode: str) -> PreparedCase:
        """torch.func.vmap of jvp or vjp over the colouring's seeds (compiled for torch-compile)."""
        comp, colours, gather = case.compression(mode)
        op = self.compile(compressed_jacobian(case.torch, case.f, mode, comp.n_colours, colours, gather))
        return case.prepared(lambda: op(case.xt, None), self.call_label(SPARSE, mode, False), comp)

    def _dense(self, case: TorchCase, operation: str, mode: str, chunk_size: int | None) -> PreparedCase:
        """Every other operation: torch.func's transforms here."""
        scalar = case.problem.is_scalar(case.x.shape[0])
        f = case.f

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
        op = self.compile(func_derivative(case.torch, transformed, operation, mode, scalar, chunk_size))
        return case.prepared(lambda: op(case.xt, case.direction), self.call_label(operation, mode, scalar, chunk_size))

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            return self.nested_label(mode, FUNC_LEVEL_LABELS)
        return func_label(operation, mode, scalar, chunk_size)

    def compile(self, op):
        """The callable as timed: as is here; torch-compile compiles it."""
        return op


class TorchCompileBackend(TorchBackend):
    name = "torch-compile"
    first_call_is_steady = False  # inductor compiles on the first call
    description = "torch.compile (inductor, fullgraph) over the torch.func transforms; the first call compiles"
    label = "PyTorch (torch.compile)"
    colour = "#CC79A7"
    order = 22
    # A compile takes seconds to tens of seconds per case on a CPU: asked for by name only.
    default = False
    operations = every_mode_but(NESTED)
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

    def build(self, case: CaseArguments) -> PreparedCase:
        # Every case's callables share code objects (the lambdas above), so without a reset Dynamo
        # counts each new case as a recompile of the last and refuses after its limit (8).
        self.load()._dynamo.reset()
        prepared = super().build(case)
        prepared.function = self._compiled_function(prepared.function)
        return prepared

    def _compiled_function(self, call):
        # f compiled too, so time(J)/time(f) compares compiled code with compiled code.
        return self.compile(call)
