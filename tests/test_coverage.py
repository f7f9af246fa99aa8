"""Interval coverage and A/A errors of the whole engine (scheduler, visits, pairing, moderation, the adaptive
loop) on a simulated machine with bursty, time-correlated noise (adbench.engine.simulation), on a fake clock.

Seeded, so each figure is one exact number; the thresholds are below the nominal 95 % by what 400-odd
comparisons' sampling error allows (a binomial sd of ~1 %), not tuned to pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from adbench.engine.cases import CaseSpec
from adbench.engine.simulation import Noise, pair_checks, simulated_run

# One group, three frameworks' worth of cases: gaps of 1x (replicates), 1.03x, 1.3x and 4x.
SPECS = [
    CaseSpec("loss", 100, "jax", "reverse"),
    CaseSpec("loss", 100, "jax", "reverse", replicate=1),
    CaseSpec("loss", 100, "jax", "forward"),
    CaseSpec("loss", 100, "torch", "reverse"),
    CaseSpec("loss", 100, "autograd", "reverse"),
    CaseSpec("loss", 100, "manual", "manual"),
]
TIMES = {"jax/reverse": 1e-4, "jax/forward": 1.03e-4, "torch/reverse": 1.3e-4, "autograd/reverse": 4e-4, "manual": 1e-4}
BURSTY = Noise(
    drift_sd=0.08,
    drift_s=5.0,
    burst_rate=0.3,
    burst_s=1.5,
    burst_slowdown=(1.2, 2.0),
    visit_sd=0.04,
    sample_sd=0.03,
    preempt_p=0.03,
)


def checks(noise: Noise, trials: int, **settings) -> list[dict]:
    out = []
    for seed in range(trials):
        outcome, sim = simulated_run(SPECS, TIMES, noise, seed=seed, **settings)
        out += pair_checks(outcome, sim)
    return out


@pytest.mark.parametrize("adaptive", [False, True], ids=["fixed", "adaptive"])
def test_paired_intervals_cover_the_true_ratio_under_bursty_noise(adaptive):
    found = checks(BURSTY, 16, time_budget_s=20.0, min_visits=6, adaptive=adaptive)
    coverage = np.mean([c["covered"] for c in found])
    assert len(found) == 16 * 15
    assert coverage >= 0.92, f"coverage {coverage:.3f}"


def test_replicates_are_rarely_called_different_even_with_adaptive_looks():
    """The adaptive loop looks at an A/A pair again and again: it stops visiting it only at 99.9 %
    (runner.STOP_CONFIDENCE), so a pair whose random walk crosses the 95 % line once is not stopped
    as a winner (at 95 % it was in 15 % of these trials)."""
    found = [c for c in checks(BURSTY, 25, time_budget_s=20.0, min_visits=6, adaptive=True) if c["replicates"]]
    different = np.mean([c["verdict"] in ("a", "b") for c in found])
    assert len(found) == 25 and different <= 0.05, f"A/A called different in {different:.3f}"


def test_pairing_in_time_narrows_intervals_where_the_noise_is_shared():
    """Under drift that hits all cases alike and changes from one pass to the next (two dozen other
    cases make a pass last a quarter of a second) but hardly between two cases visited back to back,
    a paired ratio's interval is far narrower than one from the two cases' own standard errors."""
    from adbench.engine.estimates import unpaired

    filler = [CaseSpec("loss", n, "jax", "reverse") for n in range(10, 250, 10)]
    shared = Noise(drift_sd=0.15, drift_s=0.3, burst_rate=0, visit_sd=0.01, sample_sd=0.01)
    for seed in range(3):
        outcome, _ = simulated_run(SPECS + filler, TIMES, shared, seed=seed, adaptive=False)
        analysis = outcome.analysis
        paired = analysis.pairs[(0, 3)]
        separate = unpaired(analysis.times[0], analysis.times[3])
        assert paired.se < separate.se / 2, (seed, paired.se, separate.se)


def test_a_gap_of_two_or_more_is_resolved_in_few_visits():
    outcome, sim = simulated_run(SPECS, {**TIMES, "torch/reverse": 2e-4}, BURSTY, seed=2, adaptive=False, min_visits=6)
    by_pair = {(c["a"], c["b"]): c for c in pair_checks(outcome, sim)}
    assert by_pair[(0, 3)]["verdict"] == "a" and by_pair[(0, 4)]["verdict"] == "a"


@pytest.mark.parametrize("process_sd, low, high", [(0.0, 0.0, 1.5), (0.05, 2.5, 7.0)])
def test_the_worker_level_is_measured_pass_by_pass(process_sd, low, high):
    """Three worker sets: the worker-set component (matched pass by pass, so the drift cancels) finds a
    5 % process offset per case, and none where there is none."""
    specs = [CaseSpec("loss", n, "jax", "reverse") for n in range(10, 210, 10)]
    noise = Noise(drift_sd=0.1, drift_s=1.0, process_sd=process_sd, visit_sd=0.03)
    outcome, _ = simulated_run(specs, lambda s: 1e-5 * s.size, noise, seed=1, workers=3, min_visits=12, adaptive=False)
    assert low <= outcome.variance["components"]["worker_sets_sd_percent"] <= high
