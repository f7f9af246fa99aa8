"""The transforms JAX and torch.func spell alike (torch.func follows JAX's API), as their users write them: the
record's ``call`` of every operation but the Jacobian, whose spelling each backend gives itself."""

from __future__ import annotations

from adbench.backends.modes import SPARSE, ModeName, Operation


def functorch_labels(ns: str, vmap: str, reverse_over_reverse_hvp: str) -> dict[tuple[Operation, ModeName], str]:
    """Each (operation, mode)'s transform of f with the framework's namespace ``ns`` ("jax", "torch.func"), its
    ``vmap`` as the sparse labels name it, and its own reverse-over-reverse HVP (the one the two write apart)."""
    return {
        # sparse-jacobian: compressed passes, one per colour, then the nonzeros gathered (adbench.sparsity).
        (SPARSE, "forward"): f"{vmap}(jvp) over the column colouring's seeds",
        (SPARSE, "reverse"): f"{vmap}(vjp) over the row colouring's seeds",
        ("jvp", "forward"): f"lambda x, v: {ns}.jvp(f, (x,), (v,))[1]",
        ("vjp", "reverse"): f"lambda x, u: {ns}.vjp(f, x)[1](u)[0]",
        ("hvp", "forward-over-reverse"): f"lambda x, v: {ns}.jvp({ns}.grad(f), (x,), (v,))[1]",
        ("hvp", "reverse-over-reverse"): reverse_over_reverse_hvp,
        ("hvp", "reverse-over-forward"): f"lambda x, v: {ns}.grad(lambda y: {ns}.jvp(f, (y,), (v,))[1])(x)",
        ("hvp", "forward-over-forward"): f"lambda x, v: {ns}.jacfwd(lambda y: {ns}.jvp(f, (y,), (v,))[1])(x)",
        ("hessian", "forward-over-reverse"): f"{ns}.jacfwd({ns}.grad(f))",
        ("hessian", "reverse-over-reverse"): f"{ns}.jacrev({ns}.grad(f))",
        ("hessian", "reverse-over-forward"): f"{ns}.jacrev({ns}.jacfwd(f))",
        ("hessian", "forward-over-forward"): f"{ns}.jacfwd({ns}.jacfwd(f))",
    }
