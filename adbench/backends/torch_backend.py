"""PyTorch: ``torch.func.jacfwd``/``jacrev`` (``torch``) and plain ``torch.autograd.grad`` (``torch-autograd``)."""

from __future__ import annotations


from adbench.xp import namespace
from adbench.backends._base import Backend, PreparedCase, convert_constants


class TorchBackend(Backend):
    name = "torch"
    framework = "torch"
    description = "torch.func.jacfwd / torch.func.jacrev (vmap over JVPs / VJPs)"

    def load(self, threads=None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        return torch

    def _setup(self, problem, x, dtype, constants):
        torch = self.load()
        xp = namespace("torch")
        tdtype = getattr(torch, dtype)
        # torch.tensor copies: the input may be a read-only view (of a JAX array, say).
        xt = torch.tensor(x, dtype=tdtype)
        consts = convert_constants(constants, lambda a: torch.tensor(a, dtype=tdtype))
        sync = (lambda _: torch.cuda.synchronize()) if xt.is_cuda else None

        def f(v):
            return problem.function(v, xp, **consts)

        return torch, xt, f, sync

    def prepare(self, problem, x, mode, dtype, constants):
        torch, xt, f, sync = self._setup(problem, x, dtype, constants)
        jac = torch.func.jacfwd(f) if mode == "forward" else torch.func.jacrev(f)
        return PreparedCase(
            jacobian=lambda: jac(xt),
            function=lambda: f(xt),
            sync=sync,
            to_numpy=lambda t: t.detach().cpu().numpy(),
        )


class TorchAutogradBackend(TorchBackend):
    name = "torch-autograd"
    modes = ("reverse",)
    description = "torch.autograd.grad: one backward pass per output row, no vmap (reverse only)"
    vectorized = False

    def prepare(self, problem, x, mode, dtype, constants):
        torch, xt, f, sync = self._setup(problem, x, dtype, constants)

        def jac():
            v = xt.detach().requires_grad_(True)
            y = f(v)
            if y.ndim == 0:
                return torch.autograd.grad(y, v)[0]
            rows = []
            flat = y.reshape(-1)
            for i in range(flat.shape[0]):
                rows.append(torch.autograd.grad(flat[i], v, retain_graph=True)[0])
            return torch.stack(rows)

        return PreparedCase(
            jacobian=jac,
            function=lambda: f(xt),
            sync=sync,
            to_numpy=lambda t: t.detach().cpu().numpy(),
        )
