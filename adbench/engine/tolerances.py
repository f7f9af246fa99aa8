"""The correctness gate's tolerances: the largest relative error each case may show and pass."""

from __future__ import annotations

from adbench.backends import get_backend

# The correctness gate: max|result - reference| / max|reference| at or below this passes.
# float64: a few thousand ulps, room for sums of 10^4-10^5 terms and 10^3-step recurrences.
# float32 (eps 1.2e-7): the same depth of computation costs ~1e-4 (lstm's 1024 steps, gmm's
# logsumexp over 1000 points); 1e-3 leaves a factor of ten and still catches every real bug
# (a wrong derivative is off by O(1), a NaN is not finite).
TOLERANCE = {"float64": 1e-8, "float32": 1e-3}
# A float64 central-difference reference is good to ~eps^(2/3) times the function's third
# derivatives over its first; differences of differences (a user's Hessian) to ~1e-6.
APPROXIMATE_REFERENCE_TOLERANCE = 1e-4
# Finite differences are approximate by construction, in their own precision: ~eps^(2/3)
# (5e-11 in float64, 2.5e-5 in float32) times third derivatives, which control_loop makes large.
FINITE_DIFFERENCE_TOLERANCE = {"float64": 1e-5, "float32": 5e-2}


def tolerance(dtype: str, reference_kind: str, backend: str) -> float:
    """The largest relative error that passes the correctness gate for this case."""
    tol = TOLERANCE[dtype]
    if reference_kind == "approximate":
        tol = max(tol, APPROXIMATE_REFERENCE_TOLERANCE)
    if get_backend(backend).name == "finite-diff":
        tol = max(tol, FINITE_DIFFERENCE_TOLERANCE[dtype])
    return tol
