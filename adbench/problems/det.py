"""``det``: the determinant by expansion by minors (cmpad's det_by_minor, gradbench's det), R^(l^2) -> R.

Against gradbench's det eval: the same function; its input {A, ell} is x = A (row-major, n = ell^2). ADBench has
no det.

x is the l x l matrix A, row-major (n = l^2). The recursion is cmpad's: the determinant of a minor
is the alternating sum over its columns j of M[0, j] times the determinant of the sub-minor without
row 0 and column j, down to 1 x 1 minors, with nothing remembered between branches: about
1.72 l! multiplications and l! additions (e l! in all), each on a scalar. It is written literally (recursion
over Python tuples of the remaining columns, scalar products of 0-d arrays), because the huge
number of small operations is what the eval measures: a tape of ~e l! nodes for reverse mode,
a trace of as many for a JIT (tools/det_compile.py measures how compile time grows with l).
"""

from __future__ import annotations

import math

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

# l -> what the preset means; gradbench runs l = 5 ... 11, whose l! terms are out of reach of a
# traced program past l = 6: XLA compiles l = 7's gradient (13 698 scalar operations) in more than a
# minute (tools/det_compile.py), so l = 7 is a preset (the API runs it) but not in the --full sweep,
# where every JIT case of it would be a 60-s timeout.
ELLS = (4, 5, 6, 7)
SWEEP = (4, 5, 6)
PRESETS = {ell * ell: f"l={ell}" for ell in ELLS}


def _ell(n: int) -> int:
    ell = math.isqrt(n)
    if ell * ell != n:
        raise ValueError(f"det: n = {n} is not the size of a square matrix (n = l^2)")
    return ell


def _minor(entries: list[Array], ell: int, row: int, columns: tuple[int, ...]) -> Array:
    """det of the minor of rows row ... l-1 and the given columns, expanded along its first row."""
    if len(columns) == 1:
        return entries[row * ell + columns[0]]
    total = None
    for j, column in enumerate(columns):
        term = entries[row * ell + column] * _minor(entries, ell, row + 1, columns[:j] + columns[j + 1 :])
        # cmpad starts its sum at 0; 0 + term is term exactly, so starting at the first term adds nothing.
        total = term if total is None else (total + term if j % 2 == 0 else total - term)
    return total


def det(x: Array, xp: Namespace) -> Array:
    ell = _ell(x.shape[0])
    entries = [x[i] for i in range(ell * ell)]  # the scalars, taken once: the recursion only multiplies and adds
    return _minor(entries, ell, 0, tuple(range(ell)))


def _cofactors(A: np.ndarray) -> np.ndarray:
    """C_ij = (-1)^(i+j) det(A without row i and column j): the gradient of det, by LAPACK's det of minors."""
    ell = A.shape[0]
    keep = [[k for k in range(ell) if k != i] for i in range(ell)]
    minors = np.stack([np.stack([A[np.ix_(keep[i], keep[j])] for j in range(ell)]) for i in range(ell)])
    signs = (-1.0) ** np.add.outer(np.arange(ell), np.arange(ell))
    return signs * np.linalg.det(minors)


def det_gradient(x: np.ndarray) -> np.ndarray:
    """d det / d A_ij is the cofactor C_ij (Jacobi's formula, without inverting A)."""
    ell = _ell(x.shape[0])
    A = np.reshape(x, (ell, ell))
    if ell == 1:
        return np.ones(1, dtype=x.dtype)
    return _cofactors(A).reshape(-1).astype(x.dtype)


def det_hessian(x: np.ndarray) -> np.ndarray:
    """d^2 det / dA_ij dA_kl: the cofactor of A_kl within the minor M_ij (zero when i = k or j = l).

    In M_ij, A_kl sits at row k' = k - [k > i] and column l' = l - [l > j], so the entry is
    (-1)^(i+j+k'+l') det(A without rows i, k and columns j, l). det is linear in each entry, so the
    diagonal is zero.
    """
    ell = _ell(x.shape[0])
    A = np.reshape(np.asarray(x, np.float64), (ell, ell))
    H = np.zeros((ell, ell, ell, ell))
    for i in range(ell):
        for j in range(ell):
            for k in range(ell):
                for l in range(ell):
                    if k == i or l == j:
                        continue
                    rows = [r for r in range(ell) if r not in (i, k)]
                    cols = [c for c in range(ell) if c not in (j, l)]
                    kk, ll = k - (k > i), l - (l > j)
                    sub = np.linalg.det(A[np.ix_(rows, cols)]) if rows else 1.0
                    H[i, j, k, l] = (-1.0) ** (i + j + kk + ll) * sub
    return H.reshape(ell * ell, ell * ell).astype(x.dtype)


def _operations(ell: int) -> int:
    """Scalar multiplications and additions of the recursion: o(1) = 0, o(l) = l o(l - 1) + 2 l - 1."""
    return 0 if ell == 1 else ell * _operations(ell - 1) + 2 * ell - 1


register(
    Problem(
        name="det",
        function=det,
        description="det(A) by expansion by minors (cmpad's det_by_minor), A l x l row-major; R^(l^2) -> R "
        "(gradbench's det)",
        scalar_output=True,
        presets=PRESETS,
        sizes=tuple(ell * ell for ell in SWEEP),
        default_sizes=(25,),  # l = 5, gradbench's smallest
        quick_sizes=(16,),
        plain_run=False,  # the default run's minute is spent; --full or --problems det
        make_input=lambda n, rng: rng.random(n),  # gradbench's A: uniform on [0, 1)
        manual_jacobian=det_gradient,
        manual_hessian=det_hessian,
        # Every scalar of the recursion is an intermediate a reverse pass keeps (a tape, or a traced graph).
        work_size=lambda n: _operations(_ell(n)) + n,
        # Not a power law: cost ~ e l! = e sqrt(n)!. Its log-log slope in n over the sweep l = 4 ... 6
        # is log(6!/4!) / log(36/16) = 4.2, what the report's scaling lines compare against.
        cost_exponent=round(math.log(math.factorial(6) / math.factorial(4)) / math.log(36 / 16), 1),
        theory="m = 1: reverse needs 1 VJP, forward n = l^2 JVPs; ~e l! scalar operations, so per-operation "
        "overhead (tapes, traces, dispatch) decides",
    )
)
