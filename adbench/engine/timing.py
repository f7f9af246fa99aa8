"""The timing engine shared by ``adbench compare`` and the asv suite: first call, calibration, samples, intervals."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

NOISY_IQR_RATIO = 0.10  # IQR/median at or above this flags a measurement as noisy
# Calibrate the inner loop so one sample lasts at least this long: the CLI and asv both use it.
TARGET_SAMPLE_S = 1e-3
CONFIDENCE = 0.95  # of every interval adbench reports
BOOTSTRAP_RESAMPLES = 2000

Clock = Callable[[], float]
Sync = Callable[[Any], Any] | None


@dataclass
class Measurement:
    """Raw per-call times (one per sample, each the mean of ``number`` calls) and their statistics."""

    samples: list[float]
    number: int
    first_call_s: float | None = None

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
    with_first_call: bool = True,
    clock: Clock = time.perf_counter,
) -> Measurement:
    """Time ``call``: its first call apart, then calibrated samples until ``budget_s`` is spent.

    At least ``min_samples`` samples are taken whatever the budget, so a slow case still gets a
    spread. The garbage collector is off while sampling, as in timeit.
    """
    first = first_call(call, sync, clock) if with_first_call else None
    number, per_call = calibrate(call, sync, target_sample_s, clock)  # also the warm-up
    # A slow call (one is already >= target) calibrates in one warm call: keep it as a sample
    # rather than paying for it twice. Faster calls' calibration blocks are discarded, as timeit does.
    samples: list[float] = [per_call] if number == 1 else []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        while len(samples) < max_samples and (
            len(samples) < min_samples or clock() - start < budget_s
        ):
            samples.append(time_block(call, sync, number, clock))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Measurement(samples=samples, number=number, first_call_s=first)


# Student's t, two-sided 95 %, by degrees of freedom (1 ... 30); beyond, the normal's 1.96.
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
INTERVAL_METHOD = ("95% interval of the median: the wider of a percentile bootstrap resampling rounds, then "
                   "samples within them, and Student's t-interval over the logarithms of the rounds' medians")
BOOTSTRAP_BLOCK = 100  # resamples drawn at once: memory stays ~100 x the samples, whatever the budget


def median_interval(
    rounds: Sequence[Sequence[float]], confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
) -> tuple[float, float]:
    """A 95 % interval for the median time of the case in a fresh worker process.

    The wider of two: a percentile bootstrap that resamples the rounds, then each drawn round's
    samples, and takes the median of the pool (variance within a process and between processes
    both count); and, with two rounds or more, Student's t-interval over the logarithms of the
    rounds' medians. A bootstrap over as few as two rounds mostly redraws the same round and
    undercovers when processes differ more than samples within one (simulated: ~55 % coverage);
    the t-interval with R - 1 degrees of freedom is what two rounds honestly know. It is taken on
    the log scale because a process's slowdown multiplies its times (a busy moment makes every
    call 1.3x slower, not 30 us slower): the interval stays positive and is as wide, in ratio,
    for a 100 us case as for a 10 ms one. With one round it is the plain bootstrap of that round's
    samples (and the run says so).
    """
    if abs(confidence - 0.95) > 1e-12:
        raise ValueError("adbench's intervals are 95 % intervals")
    rounds = [np.asarray(r, dtype=float) for r in rounds if len(r)]
    if not rounds:
        return float("nan"), float("nan")
    if sum(len(r) for r in rounds) == 1:
        v = float(rounds[0][0])
        return v, v
    lo, hi = _hierarchical_bootstrap(rounds, resamples, seed)
    if len(rounds) >= 2:
        logs = np.log([max(float(np.median(r)), np.finfo(float).tiny) for r in rounds])
        t = T95[len(rounds) - 2] if len(rounds) - 1 <= len(T95) else 1.96
        half = t * logs.std(ddof=1) / np.sqrt(len(rounds))
        lo, hi = min(lo, float(np.exp(logs.mean() - half))), max(hi, float(np.exp(logs.mean() + half)))
    return max(float(lo), 0.0), float(hi)


def _hierarchical_bootstrap(rounds: list[np.ndarray], resamples: int, seed: int) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the pooled median over rounds-then-samples resamples."""
    rng = np.random.default_rng(seed)
    counts = np.array([len(r) for r in rounds])
    width = int(counts.max())
    padded = np.full((len(rounds), width), np.nan)
    for i, r in enumerate(rounds):
        padded[i, : len(r)] = r
    medians = []
    for start in range(0, resamples, BOOTSTRAP_BLOCK):
        b = min(BOOTSTRAP_BLOCK, resamples - start)
        picked = rng.integers(0, len(rounds), size=(b, len(rounds)))  # rounds, with replacement
        k = counts[picked]  # (b, R): samples in each picked round
        draws = np.floor(rng.random((b, len(rounds), width)) * k[..., None]).astype(int)
        pool = padded[picked[..., None], draws]  # (b, R, width)
        pool[np.arange(width) >= k[..., None]] = np.nan  # a shorter round contributes only its own count
        pool = np.sort(pool.reshape(b, -1), axis=1)  # NaN sorts last
        total = k.sum(axis=1)
        rows = np.arange(b)
        medians.append((pool[rows, (total - 1) // 2] + pool[rows, total // 2]) / 2)
    lo, hi = np.percentile(np.concatenate(medians), [2.5, 97.5])
    return float(lo), float(hi)


def ratio_interval(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """An interval for a/b from intervals of a and b: [a_lo / b_hi, a_hi / b_lo].

    Conservative: it excludes 1 exactly when the two intervals do not overlap, so a ratio
    called "separated" is one whose two measurements are.
    """
    (a_lo, a_hi), (b_lo, b_hi) = a, b
    if not (b_lo > 0 and b_hi > 0):
        return float("nan"), float("nan")
    return a_lo / b_hi, a_hi / b_lo
