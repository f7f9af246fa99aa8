"""``gmm``: the Gaussian-mixture log-posterior with a Wishart prior, R^n -> R (gradbench's eval; ADBench's sign
as a constant).

The objective is log p(X | theta, phi) + log p(theta): the mixture's log-likelihood of the N points plus the
log-density of a Wishart prior W_D(gamma^-2 I, D + m + 1) on each component's precision matrix Q_k^T Q_k, every
constant kept (-N D/2 log 2 pi; K (nD log(gamma/sqrt 2) - log Gamma_D(n/2))). It equals

    sum_i log sum_k phi_k N(x_i; mu_k, (Q_k^T Q_k)^-1) + sum_k Wishart(Q_k^T Q_k; df = D + m + 1, scale = I / gamma^2)

with SciPy's ``multivariate_normal.logpdf`` and ``wishart.logpdf`` (tests/test_workloads.py checks it), and it is
gradbench's ``gmm`` eval (its README and its JAX tool's ``gmm_objective``: the same terms, no constant dropped).

How it differs:
- ADBench's objective (microsoft/ADBench, gmm_objective in every language, and its published values) adds the
  log prior with the opposite sign: log-likelihood MINUS log p(theta), i.e. + sum_k (gamma^2/2 |Q_k|_F^2 - m sum q_k)
  - K (C - log Gamma_D). gradbench's eval README lists it among ADBench's errors. ``prior_sign=-1`` gives ADBench's
  function exactly (its published test values, tests/test_workloads.py); the default ``prior_sign=1`` is the
  log-posterior. The likelihood, and so the alpha and mu gradients, are the same under both.
- Layout: x = (alpha (K), means (K x D, row-major), icf (K x D(D+1)/2)), icf's row k = (q_k, then L_k's strictly
  lower entries column by column), as ADBench's and gradbench's ``icf``; gradbench's newer inputs split icf into
  ``q`` and ``l`` (adbench.problems.inputs reads both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from adbench.problems._registry import register
from adbench.problems.problem import Problem
from adbench.xp import Array, Namespace

N_POINTS = 1000  # ADBench's 1k data sets


def _n(d: int, k: int) -> int:
    return k * (1 + d + d * (d + 1) // 2)


# The sweep: a few cells of ADBench's grid D in {2, 10, 20, 32, 64, 128} x K in {5, 10, 25, 50, 100,
# 200}, n from 30 to 28 050. One more preset has the shape of ADBench's test input data/gmm/test.txt
# (D=2, K=3), so that its published values can be checked through every backend. n -> (D, K).
SWEEP = [(2, 5), (2, 50), (10, 5), (10, 25), (20, 50), (32, 50)]
SHAPES = {_n(d, k): (d, k) for d, k in [(2, 3), *SWEEP]}
PRESETS = {n: f"D={d},K={k}" for n, (d, k) in SHAPES.items()}


def _unpack(x: Array, xp: Namespace, d: int) -> tuple[Array, Array, Array]:
    k = x.shape[0] // (1 + d + d * (d + 1) // 2)
    alphas = x[:k]
    means = xp.reshape(x[k : k + k * d], (k, d))
    icf = xp.reshape(x[k + k * d :], (k, d * (d + 1) // 2))
    return alphas, means, icf


def _lower(icf: Array, xp: Namespace, d: int) -> Array:
    """The K strictly-lower matrices L_k (K, D, D) from icf[:, D:], filled column by column as
    ADBench's constructL does, with concat (no scatter: the standard has none)."""
    cols, start = [], d
    for i in range(d):
        nelems = d - i - 1
        cols.append(xp.concat([xp.zeros_like(icf[:, : i + 1]), icf[:, start : start + nelems]], axis=1))
        start += nelems
    return xp.stack(cols, axis=-1)


def wishart_normaliser(d: int, k: int, gamma: float, m: int) -> float:
    """The log prior's x-independent part, K (C - log Gamma_D(n/2)) with C = n D log(gamma / sqrt 2), n = D + m + 1:
    the log of the Wishart density's normalising constant at scale gamma^-2 I, once per component."""
    nu = d + m + 1
    c = nu * d * math.log(gamma / math.sqrt(2))
    multigammaln = d * (d - 1) / 4 * math.log(math.pi) + sum(
        math.lgamma(0.5 * nu + (1 - j) / 2) for j in range(1, d + 1)
    )
    return k * (c - multigammaln)


def _check_sign(prior_sign: object) -> None:
    if prior_sign not in (1, -1) or isinstance(prior_sign, bool):
        raise ValueError(
            f"constant 'prior_sign' of problem 'gmm' must be 1 (the log-posterior, gradbench's) or -1 "
            f"(ADBench's original sign of the prior), not {prior_sign!r}"
        )


def gmm(x: Array, xp: Namespace, data: Array, wishart_gamma: float, wishart_m: int, prior_sign: int = 1) -> Array:
    """The GMM log-posterior (``prior_sign=-1``: ADBench's objective), vectorised over components and points.

    L_k is assembled by concatenation, column by column (the standard has no scatter; native code uses
    .at[].set or index assignment, which is no faster here: f within 0.9-1.0x of the native twins up to
    D = 20); A_k x is a batched matmul with matrix_transpose (native code's einsum is not in the
    standard, and NumPy's einsum misses BLAS); the log-sum-exp is spelled with a max shift, since the
    standard has no logsumexp, and autodiff then differentiates through the max (gradient 1.05-1.2x the
    native logsumexp's in torch and JAX).
    """
    n_points, d = data.shape
    alphas, means, icf = _unpack(x, xp, d)
    k = alphas.shape[0]
    q = icf[:, :d]
    qdiag = xp.exp(q)
    sum_qs = xp.sum(q, axis=1)
    L = _lower(icf, xp, d)
    # (K, N, D): every point centred on every mean; A_k (x - mu_k) = Q_k (x - mu_k) + L_k (x - mu_k).
    xc = xp.reshape(data, (1, n_points, d)) - xp.reshape(means, (k, 1, d))
    z = xp.reshape(qdiag, (k, 1, d)) * xc + xc @ xp.matrix_transpose(L)
    inner = xp.reshape(alphas + sum_qs, (k, 1)) - 0.5 * xp.sum(z * z, axis=2)
    mx = xp.max(inner, axis=0)
    lse = xp.log(xp.sum(xp.exp(inner - mx), axis=0)) + mx  # log-sum-exp over components, per point
    a_max = xp.max(alphas)
    lse_alphas = xp.log(xp.sum(xp.exp(alphas - a_max))) + a_max
    # log W(Q^T Q) = K (C - log Gamma_D) - sum_k (gamma^2/2 |Q_k|_F^2 - m sum q_k): tr(Q^T Q) = |Q|_F^2 and
    # log det(Q^T Q) = 2 sum q, so det^((n - D - 1)/2) = exp(m sum q).
    prior_data = (0.5 * wishart_gamma**2) * (
        xp.sum(qdiag * qdiag, axis=1) + xp.sum(icf[:, d:] ** 2, axis=1)
    ) - wishart_m * sum_qs
    _check_sign(prior_sign)
    log_prior = wishart_normaliser(d, k, wishart_gamma, wishart_m) - xp.sum(prior_data)
    return xp.sum(lse) - n_points * lse_alphas - n_points * d * 0.5 * math.log(2 * math.pi) + prior_sign * log_prior


def gmm_jacobian(
    x: np.ndarray, data: np.ndarray, wishart_gamma: float, wishart_m: int, prior_sign: int = 1
) -> np.ndarray:
    """The gradient by hand: responsibilities r_kn weight each point's pull on component k."""
    _check_sign(prior_sign)
    n_points, d = data.shape
    alphas, means, icf = _unpack(x, np, d)
    k = alphas.shape[0]
    qdiag = np.exp(icf[:, :d])
    cols, rows = np.triu_indices(d, 1)  # strictly-lower (row, col), column by column
    A = np.zeros((k, d, d), dtype=x.dtype)  # float32 in, float32 out: the manual floor runs in the case's dtype
    A[:, rows, cols] = icf[:, d:]
    A[:, np.arange(d), np.arange(d)] = qdiag
    xc = data[None, :, :] - means[:, None, :]  # (K, N, D)
    z = xc @ np.swapaxes(A, 1, 2)  # z_kn = A_k xc_kn
    pi = np.exp(alphas - alphas.max())
    pi /= pi.sum()
    inner = (np.log(pi) + icf[:, :d].sum(1))[:, None] - 0.5 * np.sum(z * z, axis=2)
    r = np.exp(inner - inner.max(0))
    r /= r.sum(0)  # (K, N), columns sum to 1
    rsum = r.sum(1)
    g_alpha = rsum - n_points * pi
    rz = r[:, :, None] * z
    g_means = (A.transpose(0, 2, 1) @ rz.sum(1)[:, :, None])[:, :, 0]  # sum_n r_kn A_k^T z_kn
    rzx = rz.transpose(0, 2, 1) @ xc  # sum_n r_kn z_kn xc_kn^T, (K, D, D)
    g_q = (
        rsum[:, None]
        - qdiag * rzx[:, np.arange(d), np.arange(d)]
        - prior_sign * (wishart_gamma**2 * qdiag**2 - wishart_m)
    )
    g_l = -rzx[:, rows, cols] - prior_sign * wishart_gamma**2 * icf[:, d:]
    return np.concatenate([g_alpha, g_means.ravel(), np.concatenate([g_q, g_l], axis=1).ravel()])


def by_densities(x: np.ndarray, data: np.ndarray, wishart_gamma: float, wishart_m: int) -> tuple[float, float]:
    """gmm's two terms straight from SciPy's densities, point by point (slow; the objective's check in
    tests/test_workloads.py and tools/gradbench_definitions.py): the mixture's log-likelihood, sum_i log sum_k
    phi_k N(x_i; mu_k, (Q_k^T Q_k)^-1), and the log prior, sum_k log W(Q_k^T Q_k; df = D + m + 1,
    scale = I / gamma^2)."""
    import scipy.stats
    from scipy.special import logsumexp

    d = data.shape[1]
    k = x.shape[0] // (1 + d + d * (d + 1) // 2)
    alphas, means, icf = x[:k], x[k : k + k * d].reshape(k, d), x[k + k * d :].reshape(k, -1)
    precisions = []
    for q_l in icf:
        Q = np.diag(np.exp(q_l[:d]))
        upper_rows, upper_cols = np.triu_indices(d, 1)  # (0,1), (0,2), (1,2): transposed, L's column by column
        Q[upper_cols, upper_rows] = q_l[d:]
        precisions.append(Q.T @ Q)
    log_phi = alphas - logsumexp(alphas)
    likelihood = sum(
        logsumexp(
            [
                log_phi[j] + scipy.stats.multivariate_normal.logpdf(point, means[j], np.linalg.inv(P))
                for j, P in enumerate(precisions)
            ]
        )
        for point in data
    )
    prior = sum(
        scipy.stats.wishart.logpdf(P, df=d + wishart_m + 1, scale=np.eye(d) / wishart_gamma**2) for P in precisions
    )
    return likelihood, prior


def _make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    # ADBench's gmm-data-gen.py: alphas and icf standard normal, means uniform on [0, 1).
    d, k = SHAPES[n]
    return np.concatenate([rng.standard_normal(k), rng.random(k * d), rng.standard_normal(k * d * (d + 1) // 2)])


def _make_constants(x: np.ndarray, rng: np.random.Generator) -> dict:
    # ADBench's points are standard normal, with gamma = 1, m = 0.
    d, _ = SHAPES[x.shape[0]]
    return {"data": rng.standard_normal((N_POINTS, d)), "wishart_gamma": 1.0, "wishart_m": 0, "prior_sign": 1}


def _custom_constants(x: np.ndarray, given: Mapping[str, Any]) -> dict:
    """gmm on the caller's points: D from ``data``'s columns, then K from len(x) = K (1 + D + D(D+1)/2)."""
    data = np.asarray(given["data"])
    if data.ndim != 2 or 0 in data.shape:
        raise ValueError(f"constant 'data' of problem 'gmm' must be an N x D array of points, not shape {data.shape}")
    d = data.shape[1]
    per = 1 + d + d * (d + 1) // 2
    if x.shape[0] % per:
        raise ValueError(
            f"problem 'gmm' with constant 'data' of D = {d} takes len(x) = K (1 + D + D(D+1)/2), "
            f"a multiple of {per}, not {x.shape[0]}"
        )
    made = {"data": data.astype(np.float64), "wishart_gamma": 1.0, "wishart_m": 0, "prior_sign": 1}
    for key in ("wishart_gamma", "wishart_m", "prior_sign"):
        if key in given:
            if isinstance(given[key], bool) or not isinstance(given[key], (int, float, np.integer, np.floating)):
                raise ValueError(f"constant {key!r} of problem 'gmm' must be a number, not {type(given[key]).__name__}")
            made[key] = given[key]
    return made


def _work_size(n: int) -> int:
    d, k = SHAPES[n]
    return max(k * N_POINTS * d, k * d * d)  # xc and z, (K, N, D), or L, (K, D, D)


register(
    Problem(
        name="gmm",
        function=gmm,
        description="Gaussian-mixture log-posterior with a Wishart prior on the precisions (gradbench's gmm; "
        "prior_sign=-1: ADBench's), N = 1000 points; R^n -> R",
        scalar_output=True,
        presets=PRESETS,
        sizes=tuple(_n(d, k) for d, k in SWEEP),
        default_sizes=(_n(2, 5),),
        quick_sizes=(_n(2, 5),),
        make_input=_make_input,
        make_constants=_make_constants,
        variable_axes={"data": (0,)},
        # Any D and K on the caller's data: adbench.jacobian("gmm", x, data=points) with len(x) = K (1 + D + D(D+1)/2).
        shape_constants=("data",),
        custom_constants=_custom_constants,
        manual_jacobian=gmm_jacobian,
        work_size=_work_size,
        # The (K, N, D) x (K, D, D) product costs K N D^2 ~ 2 N n, and n ~ K D^2 / 2: linear in n at fixed N.
        cost_exponent=1.0,
        theory="m = 1: reverse needs 1 VJP, forward n JVPs, so reverse should win by about n",
    )
)
