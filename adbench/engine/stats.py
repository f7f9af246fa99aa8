"""Small statistics the engine needs, without SciPy: Student's t, the F and chi² tails, the gamma family,
and the empirical-Bayes moderated variances of limma (Smyth 2004).

The engine states every interval on the log scale and pools variance estimates across cases: a
case's variance estimate on d degrees of freedom is combined with a scaled inverse-chi² prior
(s0², d0) fitted to all cases' estimates by the method of moments on log variances (the trigamma
method), giving a posterior variance (d0 s0² + d s²) / (d0 + d) on d0 + d degrees of freedom.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

_NORMAL = statistics.NormalDist()


# -- the gamma family ---------------------------------------------------------------------------------
def _moved_up(
    x: np.ndarray, step: Callable[[np.ndarray], np.ndarray], low: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Every x moved up by unit steps to ``low`` or more (where the asymptotic series hold), and what the
    recurrence adds back for those steps: the sum of ``step(x)`` over them (ψ(x) = ψ(x + 1) - 1/x, and its
    derivatives ψ'(x) = ψ'(x + 1) + 1/x², ψ''(x) = ψ''(x + 1) - 2/x³)."""
    steps = int(max(0.0, math.ceil(low - float(np.min(x))))) if x.size else 0
    acc = np.zeros_like(x)
    for _ in range(steps):
        small = x < low
        acc += np.where(small, step(x), 0.0)
        x = np.where(small, x + 1, x)
    return x, acc


def _positive(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if np.any(x <= 0):
        raise ValueError(f"{name} needs x > 0")
    return x


def digamma(x):
    """ψ(x) for x > 0 (recurrence up to x >= 10, then the asymptotic series)."""
    x, acc = _moved_up(_positive(x, "digamma"), lambda x: -1 / x)
    inv2 = 1 / (x * x)
    series = np.log(x) - 0.5 / x - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    out = acc + series
    return float(out) if out.ndim == 0 else out


def trigamma(x):
    """ψ'(x) for x > 0."""
    x, acc = _moved_up(_positive(x, "trigamma"), lambda x: 1 / (x * x))
    inv = 1 / x
    inv2 = inv * inv
    series = inv + inv2 / 2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 * (1 / 30 - inv2 * 5 / 66))))
    out = acc + series
    return float(out) if out.ndim == 0 else out


def tetragamma(x):
    """ψ''(x) for x > 0 (the derivative of trigamma, for Newton's method on it)."""
    x, acc = _moved_up(np.asarray(x, dtype=float), lambda x: -2 / x**3)
    inv2 = 1 / (x * x)
    series = -inv2 - inv2 / x - inv2 * inv2 * (0.5 - inv2 * (1 / 6 - inv2 * (1 / 6 - inv2 * (3 / 10 - inv2 * 5 / 6))))
    out = acc + series
    return float(out) if out.ndim == 0 else out


def trigamma_inverse(y: float) -> float:
    """The x with ψ'(x) = y, for y > 0 (limma's Newton iteration, from x = 0.5 + 1/y)."""
    if not y > 0:
        raise ValueError("trigamma_inverse needs y > 0")
    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = trigamma(x)
        step = tri * (1 - tri / y) / tetragamma(x)
        x += step
        if -step / x < 1e-10:
            break
    return float(x)


# -- incomplete beta and gamma: the t, F and chi² tails ---------------------------------------------------------
def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def gammaincc(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # the series for P, then 1 - P
        term = total = 1 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1 - total * math.exp(log_front))
    tiny = 1e-300  # the continued fraction for Q (Lentz)
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > tiny else tiny)
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (``inf``: the normal)."""
    if math.isinf(df):
        return _NORMAL.cdf(t)
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


@functools.lru_cache(maxsize=4096)
def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` > 0 degrees of freedom (``inf``: the normal)."""
    if not 0 < p < 1:
        raise ValueError("t_ppf needs 0 < p < 1")
    if not df > 0:
        raise ValueError("t_ppf needs df > 0")
    if math.isinf(df) or df > 1e7:
        return _NORMAL.inv_cdf(p)
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    # From the normal quantile, corrected (Cornish-Fisher), then Newton on the exact CDF.
    z = _NORMAL.inv_cdf(p)
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    for _ in range(100):
        step = (t_cdf(t, df) - p) / _t_pdf(t, df)
        t -= step
        if abs(step) < 1e-12 * max(1.0, abs(t)):
            break
    return t


def t_critical(df: float, confidence: float = 0.95) -> float:
    """The two-sided critical value of Student's t: an interval is the estimate ± this × its standard error."""
    return t_ppf(0.5 + confidence / 2, round(float(df), 6) if math.isfinite(df) else math.inf)


def f_sf(x: float, d1: float, d2: float) -> float:
    """P(F > x) for the F distribution with (d1, d2) degrees of freedom (d2 may be ``inf``)."""
    if x <= 0:
        return 1.0
    if math.isinf(d2):
        return gammaincc(d1 / 2, d1 * x / 2)
    return betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * x))


# -- empirical Bayes: limma's moderated variances -------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """A scaled inverse-chi² prior for variances: s0² on d0 degrees of freedom (d0 = inf: all equal)."""

    s2: float
    df: float

    def as_dict(self) -> dict[str, float | None]:
        return {"s2": self.s2, "df": self.df if math.isfinite(self.df) else None}


NO_PRIOR = Prior(float("nan"), 0.0)
# Variances below this fraction of the median are floored to it (limma's offset for exact zeros:
# a case whose visits were identical would otherwise pull the fit's log variances to minus infinity).
VARIANCE_FLOOR = 1e-4


def fit_prior(variances: ArrayLike, dfs: ArrayLike) -> Prior:
    """The prior (s0², d0) fitted to variance estimates s2 (``variances``) on df (``dfs``) degrees of freedom each.

    limma's ``fitFDist`` without covariates (Smyth 2004, section 6.2): with e = log s² − ψ(d/2)
    + log(d/2), the mean of e estimates log s0² − ψ(d0/2) + log(d0/2) and its variance, less the
    mean of ψ'(d/2), estimates ψ'(d0/2). Fewer than three usable estimates give no prior.
    """
    s2, df = np.asarray(variances, dtype=float), np.asarray(dfs, dtype=float)
    ok = np.isfinite(s2) & np.isfinite(df) & (df > 0) & (s2 >= 0)
    s2, df = s2[ok], df[ok]
    if len(s2) < 3 or not np.any(s2 > 0):
        return NO_PRIOR
    s2 = np.maximum(s2, VARIANCE_FLOOR * float(np.median(s2[s2 > 0])))
    e = np.log(s2) - digamma(df / 2) + np.log(df / 2)
    e_mean = float(np.mean(e))
    e_var = float(np.var(e, ddof=1)) - float(np.mean(trigamma(df / 2)))
    if e_var > 0:
        d0 = 2 * trigamma_inverse(e_var)
        return Prior(float(math.exp(e_mean + digamma(d0 / 2) - math.log(d0 / 2))), d0)
    return Prior(float(math.exp(e_mean)), math.inf)


# A case whose own variance the prior makes this improbable (F's upper tail) is not one of the
# pool: it keeps its own variance and degrees of freedom rather than being shrunk toward the others.
OUTLIER_P = 0.001


def moderate(s2: float, df: float, prior: Prior) -> tuple[float, float]:
    """The posterior variance and its degrees of freedom: (d0 s0² + d s²) / (d0 + d) on d0 + d.

    Without a prior (or for an outlier to it) the estimate's own (s², d). With no degrees of
    freedom of its own a case gets the prior's.
    """
    if not (prior.df > 0 and math.isfinite(prior.s2) and prior.s2 > 0):
        return s2, df
    if df <= 0 or not math.isfinite(s2):
        return prior.s2, prior.df
    if s2 > prior.s2 and f_sf(s2 / prior.s2, df, prior.df) < OUTLIER_P:
        return s2, df
    if math.isinf(prior.df):
        return prior.s2, math.inf
    return (prior.df * prior.s2 + df * s2) / (prior.df + df), prior.df + df


__all__ = [
    "Prior",
    "betainc",
    "digamma",
    "f_sf",
    "fit_prior",
    "gammaincc",
    "moderate",
    "t_cdf",
    "t_critical",
    "t_ppf",
    "tetragamma",
    "trigamma",
    "trigamma_inverse",
]
