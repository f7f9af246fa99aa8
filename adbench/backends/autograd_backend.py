"""HIPS autograd: reverse mode with ``jacobian``/``make_vjp``, forward mode with ``make_jvp``, and their
compositions."""

from __future__ import annotations

from typing import Any

import numpy as np

from adbench.backends._base import Backend, CaseArguments, Function, PreparedCase, basis, float_dtype
from adbench.backends.modes import EVERY_MODE, NESTED, PASSES, SPARSE, forward_over_basis
from adbench.problems import Problem
from adbench.services import Level, stacked_jvps
from adbench.xp import Framework, namespace

# Each (operation, mode)'s call as autograd's users write it: the record's `call`. A scalar f's
# reverse-mode Jacobian is autograd.grad (autograd.jacobian of a scalar f: 1.0-1.3x its time).
# Every backend's table has this shape, and its own framework's spelling in it (a repeat of shape, not of knowledge).
LABELS = {
    (SPARSE, "forward"): "autograd.make_jvp(f)(x)(seed)[1] for each colour of the columns",
    (SPARSE, "reverse"): "autograd.make_vjp(f)(x)[0](seed) for each colour of the rows",
    ("jacobian", "forward"): "autograd.make_jvp(f)(x)(e)[1] for each of the n unit vectors e",
    ("jvp", "forward"): "autograd.make_jvp(f)(x)(v)[1]",
    ("vjp", "reverse"): "autograd.make_vjp(f)(x)[0](u)",
    ("hvp", "reverse-over-reverse"): "autograd.make_hvp(f)(x)[0](v)",
    ("hvp", "forward-over-reverse"): "autograd.make_jvp(autograd.grad(f))(x)(v)[1]",
    ("hvp", "reverse-over-forward"): "autograd.grad(lambda y: autograd.make_jvp(f)(y)(v)[1])(x)",
    ("hvp", "forward-over-forward"): (
        "autograd.make_jvp(lambda y: autograd.make_jvp(f)(y)(v)[1])(x)(e)[1] for each of the n unit vectors e"
    ),
    ("hessian", "reverse-over-reverse"): "autograd.jacobian(autograd.grad(f))",
    ("hessian", "forward-over-reverse"): (
        "autograd.make_jvp(autograd.grad(f))(x)(e)[1] for each of the n unit vectors e"
    ),
    ("hessian", "reverse-over-forward"): (
        "autograd.jacobian(J) with J(y) = the forward Jacobian of f at y (n make_jvp passes)"
    ),
    ("hessian", "forward-over-forward"): "make_jvp of the forward Jacobian of f, for each of the n unit vectors e",
}

# The (operation, mode) pairs that push the n basis vectors through make_jvp.
BASIS_CASES = {(op, mode) for op, mode in PASSES if forward_over_basis(op, mode)}


def sparse_case(
    ag: Framework,
    problem: Problem,
    x: np.ndarray,
    constants: dict[str, Any],
    mode: str,
    xv: np.ndarray,
    f: Function,
    label: str,
) -> PreparedCase:
    """Compressed passes one after another: make_jvp once and one push per colour of the columns (forward),
    or make_vjp once and one pull per colour of the rows (reverse); each seed made from its colour in the
    loop (a reverse seed matrix would be p x m); then the gather. to_numpy assembles the SciPy matrix."""
    from adbench.sparsity import compression_for

    comp = compression_for(problem, x, constants, mode)
    colours, gather, dtype = comp.colours, comp.gather, xv.dtype

    def call():
        if mode == "forward":
            push = ag.make_jvp(f)(xv)
            B = np.stack([push((colours == k).astype(dtype))[1] for k in range(comp.n_colours)])
        else:
            pull, _ = ag.make_vjp(f)(xv)
            B = np.stack([pull((colours == k).astype(dtype)) for k in range(comp.n_colours)])
        return B.reshape(-1)[gather]

    return PreparedCase(
        call=call, function=lambda: f(xv), sync=None, to_numpy=comp.matrix, label=label, colours=comp.n_colours
    )


class AutogradBackend(Backend):
    name = "autograd"
    first_call_is_steady = True
    framework = "autograd"
    description = (
        "autograd.jacobian, make_vjp, make_hvp and hessian (reverse); make_jvp (forward), one basis vector at a time"
    )
    label = "HIPS autograd"
    colour = "#009E73"
    order = 30
    # Its forward mode composes with its reverse mode both ways.
    operations = EVERY_MODE
    vectorized = False  # every pass runs in a Python loop

    def load(self, threads=None):
        import autograd

        return autograd

    def memory_estimate(self, n, m, work, itemsize, operation, mode, chunk_size=None, colours=None):
        basis_bytes = n * n * itemsize if (operation, mode) in BASIS_CASES else 0  # the n x n identity
        return super().memory_estimate(n, m, work, itemsize, operation, mode, chunk_size, colours) + basis_bytes

    def preload(self):
        namespace("autograd")

    def ad_level(self, mode):
        ag = self.load()
        if mode == "reverse":
            return Level("reverse", ag.grad)
        from autograd.tracer import getval

        def unit(z, i):
            return np.eye(z.shape[0], dtype=getval(z).dtype)[i]

        xp = namespace("autograd")
        return Level("forward", lambda g: stacked_jvps(lambda z, v: ag.make_jvp(g)(z)(v)[1], unit, xp))

    def version(self):
        from importlib.metadata import version

        return version("autograd")  # the module has no __version__

    def build(self, case: CaseArguments) -> PreparedCase:
        problem, x, operation, mode, dtype, constants, direction, chunk_size, device = case
        ag = self.load()
        xp = namespace("autograd")
        xv = x.astype(dtype)
        consts = {k: v.astype(float_dtype(v, dtype)) if isinstance(v, np.ndarray) else v for k, v in constants.items()}
        vec = direction.v if direction.v is not None else direction.u
        dv = np.asarray(vec, dtype=dtype) if vec is not None else None
        # Built once, outside the timed call, for the cases that push basis vectors forward.
        eye = basis(xv.shape[0], dtype) if (operation, mode) in BASIS_CASES else None

        function = self.bound(problem, mode if operation == NESTED else None)

        def f(v):
            return function(v, xp, **consts)

        if operation == SPARSE:
            return sparse_case(ag, problem, x, constants, mode, xv, f, self.call_label(SPARSE, mode, False))
        if operation == NESTED:
            return PreparedCase.in_numpy(lambda: f(xv), None, self.call_label(operation, mode, False))

        def forward_columns(g, at):
            """The Jacobian of g at ``at``, one make_jvp pass per column."""
            push = ag.make_jvp(g)(at)
            # eye[i].copy(): a linear g may hand its tangent back as is, and the caller owns it.
            return xp.stack([push(eye[i].copy())[1] for i in range(eye.shape[0])], axis=-1)

        def jvp_f(at, t):
            return ag.make_jvp(f)(at)(t)[1]

        grad = ag.grad(f)
        scalar = problem.is_scalar(xv.shape[0])
        calls = {
            ("jacobian", "reverse"): (lambda: grad(xv)) if scalar else (lambda: ag.jacobian(f)(xv)),
            ("jacobian", "forward"): lambda: forward_columns(f, xv),
            ("jvp", "forward"): lambda: jvp_f(xv, dv),
            ("vjp", "reverse"): lambda: ag.make_vjp(f)(xv)[0](dv),
            ("hvp", "reverse-over-reverse"): lambda: ag.make_hvp(f)(xv)[0](dv),
            ("hvp", "forward-over-reverse"): lambda: ag.make_jvp(grad)(xv)(dv)[1],
            ("hvp", "reverse-over-forward"): lambda: ag.grad(lambda y: jvp_f(y, dv))(xv),
            ("hvp", "forward-over-forward"): lambda: forward_columns(lambda y: jvp_f(y, dv), xv),
            ("hessian", "reverse-over-reverse"): lambda: ag.jacobian(grad)(xv),
            ("hessian", "forward-over-reverse"): lambda: forward_columns(grad, xv),
            ("hessian", "reverse-over-forward"): lambda: ag.jacobian(lambda y: forward_columns(f, y))(xv),
            ("hessian", "forward-over-forward"): lambda: forward_columns(lambda y: forward_columns(f, y), xv),
        }
        return PreparedCase.in_numpy(calls[(operation, mode)], lambda: f(xv), self.call_label(operation, mode, scalar))

    def call_label(self, operation, mode, scalar, chunk_size=None):
        if operation == NESTED:
            levels = {"reverse": "autograd.grad", "forward": "autograd.make_jvp per unit vector"}
            outer, inner = mode.split("-over-")
            return (
                f"f with ad.outer.grad = {levels[outer]}, ad.inner.grad = {levels[inner]}; "
                "loops and branches: Python while and if on the values"
            )
        if (operation, mode) == ("jacobian", "reverse"):
            return "autograd.grad(f)" if scalar else "autograd.jacobian(f)"
        return LABELS[(operation, mode)]
