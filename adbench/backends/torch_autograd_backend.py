"""PyTorch's plain ``torch.autograd`` (``torch-autograd``): backward passes one after another, forward_ad's dual
numbers for JVPs, double backward for second order."""

from __future__ import annotations

from adbench.backends._base import PreparedCase
from adbench.backends.modes import NESTED, SPARSE
from adbench.backends.torch_backend import TorchBackend, TorchCase
from adbench.services import Level


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

    def _sparse(self, case: TorchCase, mode: str) -> PreparedCase:
        """Reverse compressed passes with plain torch.autograd: one backward pass per colour of the rows."""
        comp, colours, gather = case.compression("reverse")
        torch, f, xt = case.torch, case.f, case.xt

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

        return case.prepared(call, self.call_label(SPARSE, mode, False), comp)

    def _dense(self, case: TorchCase, operation: str, mode: str, chunk_size: int | None) -> PreparedCase:
        """Every other operation with plain torch.autograd: backward passes, and forward_ad's dual numbers."""
        grad = case.torch.autograd.grad
        torch, f, xt, dt = case.torch, case.f, case.xt, case.direction

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
        return case.prepared(call, self.call_label(operation, mode, case.problem.is_scalar(case.x.shape[0])))

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
