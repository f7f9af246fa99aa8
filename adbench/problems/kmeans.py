"""``kmeans``: gradbench's k-means cost over the centroids, R^(k d) -> R, and the pieces of its ``dir``.

Against gradbench's kmeans eval: the same cost; its input {points, centroids} is (x = centroids row-major,
``points``), any k, d and N on the caller's points; its ``dir`` is derived (below), not an operation of its own.
ADBench has no kmeans.

f(C) = sum_i min_j |C_j - P_i|^2 over the k centroids C (x, k x d row-major) and the constant points
P (N x d), as gradbench defines it. The squared distances come as |P_i|^2 + |C_j|^2 - 2 P_i . C_j,
one N x k matrix from a matrix product (gradbench's JAX and PyTorch tools do the same), not an
N x k x d array of differences.

gradbench's ``dir`` is the Newton direction J H^-1. f is a sum of quadratics, one per point, each in
one centroid, so H is diagonal, H = diag(2 n_j) (n_j the points nearest centroid j): its diagonal is
H 1, one HVP with v = ones (gradbench's JAX tool: jvp(grad f, C, ones)). So the existing operations
measure what ``dir`` needs: the gradient (``jacobian``, reverse) and the diagonal (``hvp``, whose v is
the ones vector for this problem, ``Problem.hvp_vector``). The direction itself is the derived figure
J / (H 1), entry by entry (``newton_direction``); a forward-over-reverse HVP computes the gradient on
its way to H v, so time(dir) is about time(hvp, forward-over-reverse), gradbench's one-jvp call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

# (k, d, N) -> n = k d: a subset of gradbench's k in {10, 100, 1000}, N in {1000, 10 000, 100 000},
# d in {8, 16} with one preset per n.
SHAPES = {k * d: (k, d, N) for k, d, N in [(10, 8, 1000), (100, 8, 10_000), (100, 16, 10_000), (1000, 16, 100_000)]}
PRESETS = {n: f"k={k},d={d},N={N}" for n, (k, d, N) in SHAPES.items()}


def kmeans(x: Array, xp: Namespace, points: Array) -> Array:
    d = points.shape[1]
    C = xp.reshape(x, (-1, d))
    distances = (
        xp.reshape(xp.sum(points * points, axis=1), (-1, 1))
        + xp.reshape(xp.sum(C * C, axis=1), (1, -1))
        - 2.0 * (points @ xp.matrix_transpose(C))
    )
    return xp.sum(xp.min(distances, axis=1))


def _nearest(x: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, int]:
    """Each point's nearest centroid (the C it is counted against), from float64 distances."""
    C = np.reshape(np.asarray(x, np.float64), (-1, points.shape[1]))
    P = np.asarray(points, np.float64)
    distances = np.sum(P * P, axis=1)[:, None] + np.sum(C * C, axis=1)[None, :] - 2.0 * (P @ C.T)
    return np.argmin(distances, axis=1), C.shape[0]


def _counts(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    nearest, k = _nearest(x, points)
    return np.bincount(nearest, minlength=k).astype(np.float64)


def kmeans_gradient(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """df/dC_j = sum over the points nearest C_j of 2 (C_j - P_i) = 2 (n_j C_j - sum P_i)."""
    nearest, k = _nearest(x, points)
    d = points.shape[1]
    C = np.reshape(x, (k, d))
    sums = np.zeros((k, d), dtype=np.result_type(x, points))
    np.add.at(sums, nearest, points)
    counts = np.bincount(nearest, minlength=k).astype(sums.dtype)
    return (2.0 * (counts[:, None] * C - sums)).reshape(-1).astype(x.dtype)


def kmeans_hessian_diagonal(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """diag H = 2 n_j for each of centroid j's d coordinates: H 1, since H is diagonal."""
    return np.repeat(2.0 * _counts(x, points), points.shape[1]).astype(x.dtype)


def kmeans_hessian(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.diag(kmeans_hessian_diagonal(x, points))


def kmeans_hvp(x: np.ndarray, v: np.ndarray, points: np.ndarray) -> np.ndarray:
    return kmeans_hessian_diagonal(x, points) * v


def newton_direction(gradient: np.ndarray, hessian_diagonal: np.ndarray) -> np.ndarray:
    """gradbench's ``dir``: J H^-1 for a diagonal H, entry by entry (every centroid has a point, so no 0)."""
    return gradient / hessian_diagonal


def _make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    # gradbench draws N points uniform on [0, 1)^d and starts from the last k of them as centroids:
    # here the centroids are drawn first and become the last k points (make_constants), the same law.
    return rng.random(n)


def _make_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    k, d, N = SHAPES[x.shape[0]]
    _CUSTOM.pop(x.shape[0], None)  # this n is the preset's again
    return {"points": np.concatenate([rng.random((N - k, d)), np.reshape(x, (k, d))])}


# n -> (k, d, N) of the last caller's points at a size: the work estimate follows them.
_CUSTOM: dict[int, tuple[int, int, int]] = {}


def _custom_constants(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """kmeans on the caller's points: d from their columns, then k = len(x) / d centroids."""
    points = np.asarray(given["points"], dtype=np.float64)
    if points.ndim != 2 or 0 in points.shape:
        raise ValueError(
            f"constant 'points' of problem 'kmeans' must be an N x d array of points, not shape {points.shape}"
        )
    d = points.shape[1]
    if x.shape[0] % d:
        raise ValueError(
            f"problem 'kmeans' with constant 'points' of d = {d} takes len(x) = k d, a multiple of {d}, "
            f"not {x.shape[0]}"
        )
    _CUSTOM[x.shape[0]] = (x.shape[0] // d, d, points.shape[0])
    return {"points": points}


def _work_size(n: int) -> int:
    k, _, N = _CUSTOM.get(n) or SHAPES.get(n) or (n, 1, n)  # unknown: k <= n, and N as large
    return N * k  # the N x k distances


register(
    Problem(
        name="kmeans",
        function=kmeans,
        description="gradbench's k-means cost sum_i min_j |C_j - P_i|^2 over centroids C (k x d), N points; "
        "R^(kd) -> R (its dir is gradient / hvp(ones))",
        scalar_output=True,
        presets=PRESETS,
        sizes=tuple(PRESETS),
        default_sizes=(80,),
        quick_sizes=(80,),
        plain_run=False,  # the default run's minute is spent; --full or --problems kmeans
        make_input=_make_input,
        make_constants=_make_constants,
        variable_axes={"points": (0,)},  # any number of points
        # Any k, d, N on the caller's points: len(x) = k d, d from the points' columns (gradbench's inputs).
        shape_constants=("points",),
        custom_constants=_custom_constants,
        manual_jacobian=kmeans_gradient,
        manual_hessian=kmeans_hessian,
        manual_hvp=kmeans_hvp,
        # H is diagonal, so H 1 is its diagonal: the HVP cases compute what gradbench's dir divides by.
        hvp_vector=np.ones,
        work_size=_work_size,
        cost_exponent=1.0,  # N k d multiply-adds: linear in n = k d at fixed N
        theory="m = 1: reverse needs 1 VJP, forward n JVPs; H is diagonal, so H 1 (one HVP) is its diagonal "
        "and gradbench's dir = gradient / (H 1)",
    )
)
