"""The perturbation-confusion gate (Siskind & Pearlmutter): nested derivatives must keep their levels apart.

d/dx [x * (d/dy (x + y))|_{y=1}] at x = 1 is 1: the inner derivative d/dy (x + y) is 1 whatever x is.
An implementation that cannot tell the outer perturbation of x from the inner one of y (one tangent
tag shared by both levels) counts x's perturbation inside the inner derivative, gets 2 for it, and
answers 2. Every backend and composition that runs ``nested`` cases answers this probe first, through
the same ``ad`` service its cases get; one that gets it wrong makes its nested results ``wrong``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from adbench.backends import NESTED, as_dtype, as_mode
from adbench.problems import Problem
from adbench.services import CENTRAL_AD

if TYPE_CHECKING:
    from adbench.backends import Backend


def perturbation_probe(x, xp, ad=CENTRAL_AD):
    """d/dx [x * (d/dy (x + y))|_{y=1}] at x (shape (1,) in and out): 1 where the levels stay apart."""
    one = xp.ones_like(x)

    def outer(z):
        return xp.sum(z * ad.inner.grad(lambda y: xp.sum(z + y))(one))

    return ad.outer.grad(outer)(x)


PROBE = Problem(
    name="perturbation-confusion",
    function=perturbation_probe,
    description="d/dx [x (d/dy (x + y))|y=1] at x = 1, which is 1 (Siskind & Pearlmutter)",
    output_size=lambda n: 1,
    sizes=(1,),
)
EXPECTED = 1.0
CONFUSED = 2.0  # what a shared perturbation tag answers

_verdicts: dict[tuple[str, str, str, str], str | None] = {}


def confusion(backend: Backend, mode: str, dtype: str, device: str = "cpu") -> str | None:
    """None when ``backend``'s ``ad`` in ``mode`` answers the probe with 1; else why its nested results are
    wrong. Asked once per process for each backend, mode, dtype and device."""
    from adbench.backends import backend_names
    from adbench.engine.tolerances import TOLERANCE, tolerance

    key = (backend.name, mode, dtype, device)
    if key not in _verdicts:
        case = backend.prepare(PROBE, np.ones(1), NESTED, as_mode(mode), as_dtype(dtype), {}, device=device)
        got = float(np.asarray(case.run()).reshape(-1)[0])
        # The probe's derivatives are exact in AD (1.0 to the last bit); finite differences get their own.
        tol = tolerance(dtype, "exact", backend.name) if backend.name in backend_names() else TOLERANCE[dtype]
        ok = abs(got - EXPECTED) <= tol
        _verdicts[key] = (
            None
            if ok
            else (
                f"perturbation confusion: d/dx [x * (d/dy (x + y))|y=1] at x = 1 gave {got:.6g} with {mode}, not 1"
                + (" (a shared perturbation tag gives 2)" if abs(got - CONFUSED) <= 1e-6 else "")
                + "; every nested result of this backend and composition is suspect"
            )
        )
    return _verdicts[key]
