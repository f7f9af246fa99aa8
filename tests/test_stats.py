"""adbench.engine.stats against SciPy's special functions and distributions, and limma's prior recovered."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adbench.engine import stats

scipy_special = pytest.importorskip("scipy.special", reason="scipy is the reference for these values")
scipy_stats = pytest.importorskip("scipy.stats")

POINTS = [0.05, 0.5, 1.0, 1.5, 2.5, 5.9, 6.0, 7.3, 25.0, 1e3]


@pytest.mark.parametrize("x", POINTS)
def test_polygammas_match_scipy(x):
    assert stats.digamma(x) == pytest.approx(scipy_special.digamma(x), rel=1e-12, abs=1e-12)
    assert stats.trigamma(x) == pytest.approx(scipy_special.polygamma(1, x), rel=1e-12)
    assert stats.tetragamma(x) == pytest.approx(scipy_special.polygamma(2, x), rel=1e-10)


def test_polygammas_take_arrays():
    x = np.array(POINTS)
    assert np.allclose(stats.trigamma(x), scipy_special.polygamma(1, x), rtol=1e-12)
    assert np.allclose(stats.digamma(x), scipy_special.digamma(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("y", [1e-5, 0.01, 0.3, 1.0, 4.0, 100.0, 1e6])
def test_trigamma_inverse_inverts(y):
    assert stats.trigamma(stats.trigamma_inverse(y)) == pytest.approx(y, rel=1e-8)


@pytest.mark.parametrize(
    "a, b, x",
    [(0.5, 0.5, 0.3), (2.0, 3.0, 0.9), (10.0, 0.5, 0.99), (50.0, 40.0, 0.5), (1.0, 1.0, 0.25), (0.5, 30.0, 0.01)],
)
def test_incomplete_beta(a, b, x):
    assert stats.betainc(a, b, x) == pytest.approx(scipy_special.betainc(a, b, x), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("a, x", [(0.5, 0.1), (1.0, 1.0), (3.0, 10.0), (20.0, 15.0), (2.5, 0.01)])
def test_upper_incomplete_gamma(a, x):
    assert stats.gammaincc(a, x) == pytest.approx(scipy_special.gammaincc(a, x), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("df", [1, 2, 3, 4.5, 9, 30, 120.7, 1e4, math.inf])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.975, 0.995, 0.025])
def test_t_quantiles(df, p):
    assert stats.t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9, abs=1e-12)
    assert stats.t_cdf(stats.t_ppf(p, df), df) == pytest.approx(p, rel=1e-9)


def test_known_t_critical_values():
    assert stats.t_critical(1) == pytest.approx(12.7062, abs=1e-4)
    assert stats.t_critical(10) == pytest.approx(2.2281, abs=1e-4)
    assert stats.t_critical(math.inf) == pytest.approx(1.95996, abs=1e-5)


@pytest.mark.parametrize("x, d1, d2", [(0.5, 3, 7), (2.0, 1, 10), (5.0, 9, 40.5), (1.3, 4, math.inf), (30, 2, 2)])
def test_f_upper_tail(x, d1, d2):
    expected = scipy_stats.chi2.sf(d1 * x, d1) if math.isinf(d2) else scipy_stats.f.sf(x, d1, d2)
    assert stats.f_sf(x, d1, d2) == pytest.approx(expected, rel=1e-9)


def _limma_fit(s2, df):
    """limma's fitFDist formulas, written again with SciPy (an independent implementation)."""
    e = np.log(s2) - scipy_special.digamma(df / 2) + np.log(df / 2)
    evar = np.var(e, ddof=1) - np.mean(scipy_special.polygamma(1, df / 2))
    from scipy.optimize import brentq

    d0 = 2 * brentq(lambda x: scipy_special.polygamma(1, x) - evar, 1e-8, 1e8)
    return np.exp(np.mean(e) + scipy_special.digamma(d0 / 2) - np.log(d0 / 2)), d0


def test_fit_prior_matches_limmas_formulas():
    rng = np.random.default_rng(1)
    df = rng.integers(2, 12, 200).astype(float)
    sigma2 = 0.01 * 8 / rng.chisquare(8, 200)
    s2 = sigma2 * rng.chisquare(df) / df
    prior = stats.fit_prior(s2, df)
    s0, d0 = _limma_fit(s2, df)
    assert prior.s2 == pytest.approx(s0, rel=1e-8) and prior.df == pytest.approx(d0, rel=1e-6)


@pytest.mark.parametrize("d0", [4.0, 20.0])
def test_fit_prior_recovers_a_known_prior(d0):
    """Variances drawn from a scaled inverse-chi² (s0² = 0.04, d0), each estimated on 5 df: the fit
    finds s0² within 5 % and d0 within a third over 4 000 cases."""
    rng = np.random.default_rng(2)
    n, d = 4000, 5.0
    sigma2 = 0.04 * d0 / rng.chisquare(d0, n)
    s2 = sigma2 * rng.chisquare(d, n) / d
    prior = stats.fit_prior(s2, np.full(n, d))
    assert prior.s2 == pytest.approx(0.04, rel=0.05)
    assert prior.df == pytest.approx(d0, rel=0.33)


def test_equal_variances_give_an_infinite_prior():
    rng = np.random.default_rng(3)
    s2 = 0.01 * rng.chisquare(50, 500) / 50  # every case's true variance is 0.01
    prior = stats.fit_prior(s2, np.full(500, 50.0))
    assert prior.df > 500 or math.isinf(prior.df)
    assert prior.s2 == pytest.approx(0.01, rel=0.02)


def test_moderation_is_the_posterior_mean():
    prior = stats.Prior(0.04, 10.0)
    s2, df = stats.moderate(0.02, 5.0, prior)
    assert df == 15.0 and s2 == pytest.approx((10 * 0.04 + 5 * 0.02) / 15)


def test_a_case_noisier_than_the_pool_gets_a_wider_interval():
    prior = stats.Prior(0.01, 20.0)
    s2, df = stats.moderate(0.03, 6.0, prior)  # noisier, but plausibly of the pool
    assert 0.01 < s2 < 0.03 and df == 26.0
    s2, df = stats.moderate(1.0, 6.0, prior)  # 100x the pool: not one of it, keeps its own
    assert (s2, df) == (1.0, 6.0)


def test_without_a_prior_estimates_stand():
    assert stats.fit_prior([0.1, 0.2], [3, 3]) is stats.NO_PRIOR
    assert stats.moderate(0.5, 3.0, stats.NO_PRIOR) == (0.5, 3.0)
    assert stats.moderate(float("nan"), 0.0, stats.Prior(0.2, 8.0)) == (0.2, 8.0)


# -- estimates: from visits to times and paired ratios, by hand -------------------------------------------------
def _visits(per_pass: list[list[float]]) -> list[dict]:
    return [{"worker": 0, "pass": p, "samples": s, "f_samples": [s[0] / 10]} for p, s in enumerate(per_pass)]


def test_a_case_time_is_the_geometric_mean_of_its_visit_medians():
    from adbench.engine.estimates import CaseVisits, analyse

    a = CaseVisits(("g",), ("jax", 0), _visits([[1.0, 2.0, 9.0], [2.0, 2.0, 2.0], [4.0, 1.0, 4.0]]))
    out = analyse([a], "median")
    e = out.times[0]
    logs = np.log([2.0, 2.0, 4.0])
    assert e.value == pytest.approx(np.exp(logs.mean()))
    assert e.se == pytest.approx(np.std(logs, ddof=1) / np.sqrt(3)) and e.df == 2  # one case: no prior
    # time/f from the same visits: medians 2, 2, 4 over f's 0.1, 0.2, 0.4.
    assert out.over_f[0].value == pytest.approx(np.exp(np.log([20.0, 10.0, 10.0]).mean()))


def test_a_paired_ratio_comes_from_matched_visits_only():
    from adbench.engine.estimates import CaseVisits, analyse

    a = CaseVisits(("g",), ("jax", 0), _visits([[1.0], [2.0], [4.0], [8.0]]))
    b = CaseVisits(("g",), ("torch", 0), _visits([[2.0], [4.1], [8.0], [16.2]])[:3])  # missed the last pass
    other = CaseVisits(("h",), ("torch", 0), _visits([[1.0], [1.0]]))
    out = analyse([a, b, other], "median")
    pair = out.pairs[(0, 1)]
    d = np.log([1 / 2.0, 2 / 4.1, 4 / 8.0])
    assert pair.n == 3 and pair.log == pytest.approx(d.mean())
    assert pair.se == pytest.approx(np.std(d, ddof=1) / np.sqrt(3))
    assert (0, 2) not in out.pairs and (1, 2) not in out.pairs, "cases of different groups are not paired"
    # The drift (x2 a pass) shared by both cancels: the pair's error is a fraction of either case's.
    assert pair.se < out.times[0].se / 20
    assert out.pair(1, 0).log == pytest.approx(-d.mean())


def test_the_verdict_rule_calls_a_tie_before_a_winner():
    from adbench.engine.estimates import decide

    assert decide(0.01, 0.03) == "tie"  # excludes 0, but inside ±log(1.05)
    assert decide(0.01, 0.2) == "b" and decide(-0.2, -0.01) == "a"
    assert decide(-0.1, 0.1) is None and decide(float("nan"), 0.1) is None


def test_the_fastest_sample_of_each_visit_is_the_default_statistic():
    from adbench.engine.estimates import DEFAULT_STATISTIC, CaseVisits, analyse

    a = CaseVisits(("g",), ("jax", 0), _visits([[1.0, 2.0, 9.0], [2.0, 2.0, 2.0], [4.0, 1.0, 4.0]]))
    assert DEFAULT_STATISTIC == "min"
    assert analyse([a]).times[0].value == pytest.approx(np.exp(np.log([1.0, 2.0, 1.0]).mean()))


def test_more_visits_predicted_for_a_small_gap():
    from adbench.engine.estimates import Estimate, visits_to_resolve

    assert visits_to_resolve(Estimate(np.log(3.0), 0.05, 30, 6)) == 0  # resolved already
    small = visits_to_resolve(Estimate(np.log(1.2), 0.1, 30, 6))
    smaller = visits_to_resolve(Estimate(np.log(1.1), 0.1, 30, 6))
    assert 0 < small < smaller < float("inf")


@pytest.mark.parametrize(("df", "n"), [(3, 4), (5, 4), (30, 6)], ids=["df 3", "df 5", "df 30"])
def test_the_visits_predicted_settle_at_the_degrees_of_freedom_they_bring(df, n):
    """The prediction counts the degrees of freedom the extra visits add: at n + m visits and df + m the 99.9 %
    interval just excludes 1, rather than at today's few (t = 12.9 at df 3, which would ask ~15x the visits)."""
    from adbench.engine import stats
    from adbench.engine.estimates import Estimate, visits_to_resolve

    e = Estimate(np.log(1.2), 0.1, df, n)
    m = visits_to_resolve(e, 0.999, 0.95)
    reach = stats.t_critical(df + m, 0.999) * e.se * np.sqrt(n / (n + m))
    assert reach == pytest.approx(e.log, rel=0.01), (m, reach)
    assert m < n * ((stats.t_critical(df, 0.999) * e.se / e.log) ** 2 - 1), "no fewer than at today's df"
