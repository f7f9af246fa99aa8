"""The timing engine shared by ``adbench compare`` and the asv suite: first call, calibration, samples."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

NOISY_IQR_RATIO = 0.10  # IQR/median at or above this flags a measurement as noisy
# Calibrate the inner loop so one sample lasts at least this long: the CLI and asv both use it.
TARGET_SAMPLE_S = 1e-3
CONFIDENCE = 0.95  # of every interval adbench reports

Clock = Callable[[], float]
Sync = Callable[[Any], Any] | None


@dataclass
class Measurement:
    """Raw per-call times (one per sample, each the mean of ``number`` calls) and their statistics."""

    samples: list[float]
    number: int

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def iqr(self) -> float:
        q1, q3 = np.percentile(self.samples, [25, 75])
        return float(q3 - q1)

    @property
    def noisy(self) -> bool:
        return self.iqr / self.median >= NOISY_IQR_RATIO if self.median > 0 else False


def time_block(call: Callable[[], Any], sync: Sync, number: int, clock: Clock = time.perf_counter) -> float:
    """Seconds per call over ``number`` back-to-back calls, each finished (synced) before the next."""
    # Two loops rather than a no-op sync so the common case is as tight as timeit's template.
    if sync is None:
        t0 = clock()
        for _ in repeat(None, number):
            call()
        t1 = clock()
    else:
        t0 = clock()
        for _ in repeat(None, number):
            sync(call())
        t1 = clock()
    return (t1 - t0) / number


def timed_call(call: Callable[[], Any], sync: Sync, clock: Clock = time.perf_counter) -> tuple[float, Any]:
    """Seconds for one synced call, and what it returned."""
    t0 = clock()
    out = call()
    if sync is not None:
        sync(out)
    return clock() - t0, out


def first_call(call: Callable[[], Any], sync: Sync, clock: Clock = time.perf_counter) -> float:
    """Seconds for one call including tracing and compilation: call it on a fresh case only."""
    return timed_call(call, sync, clock)[0]


def calibrate(
    call: Callable[[], Any], sync: Sync, target_s: float = TARGET_SAMPLE_S, clock: Clock = time.perf_counter
) -> tuple[int, float]:
    """Calls per sample so that one sample lasts at least ``target_s`` (timeit's autorange: 1, 2, 5, 10...),
    and the seconds per call of the block that reached it."""
    i = 1
    while True:
        for j in (1, 2, 5):
            number = i * j
            per_call = time_block(call, sync, number, clock)
            if per_call * number >= target_s:
                return number, per_call
        i *= 10


def measure(
    call: Callable[[], Any],
    sync: Sync = None,
    *,
    budget_s: float = 0.2,
    min_samples: int = 3,
    max_samples: int = 10_000,
    target_sample_s: float = TARGET_SAMPLE_S,
    clock: Clock = time.perf_counter,
) -> Measurement:
    """Time ``call`` (already called once: its first call is a figure of its own, ``first_call``):
    calibrated samples until ``budget_s`` is spent.

    At least ``min_samples`` samples are taken whatever the budget, so a slow case still gets a
    spread. The garbage collector is off while sampling, as in timeit.
    """
    number, per_call = calibrate(call, sync, target_sample_s, clock)  # also the warm-up
    # A slow call (one is already >= target) calibrates in one warm call: keep it as a sample
    # rather than paying for it twice. Faster calls' calibration blocks are discarded, as timeit does.
    samples: list[float] = [per_call] if number == 1 else []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while len(samples) < max_samples and (len(samples) < min_samples or clock() - start < budget_s):
            samples.append(time_block(call, sync, number, clock))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples=samples, number=number)


INTERVAL_METHOD = (
    "95% interval on the log scale: each case's visits (a warm-up, then a few calibrated samples, "
    "interleaved with the group's other cases) give one statistic each; a time is their geometric "
    "mean, its standard error from their spread, moderated across the run's cases (limma's "
    "empirical Bayes) and widened for their autocorrelation in time; a ratio of two cases of a "
    "group comes from the log-ratios of their visits matched in time (same worker set, same pass)"
)


def ratio_interval(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """An interval for a/b from intervals of a and b: [a_lo / b_hi, a_hi / b_lo].

    Conservative: it excludes 1 exactly when the two intervals do not overlap, so a ratio
    called "separated" is one whose two measurements are.
    """
    (a_lo, a_hi), (b_lo, b_hi) = a, b
    if not (b_lo > 0 and b_hi > 0):
        return float("nan"), float("nan")
    return a_lo / b_hi, a_hi / b_lo
