"""The timing engine's statistics, calibration and first-call split, on a fake clock (exact numbers); the
verdict rule for sets that record only intervals."""

from __future__ import annotations

import pytest

from adbench.engine.timing import Measurement, calibrate, measure, time_block


class FakeClock:
    """A clock that only moves when the fake workload says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def workload(clock: FakeClock, durations):
    """A callable whose k-th call takes durations[k] seconds (the last one repeats)."""
    durations = list(durations)
    calls = []

    def call():
        d = durations[min(len(calls), len(durations) - 1)]
        calls.append(d)
        clock.now += d

    return call, calls


def test_statistics_are_exact():
    m = Measurement(samples=[1.0, 2.0, 3.0, 4.0, 100.0], number=1)
    assert m.median == 3.0
    assert m.min == 1.0 and m.max == 100.0
    assert m.iqr == 2.0  # numpy's linear percentiles: q1 = 2, q3 = 4
    assert m.noisy  # 2 / 3 >= 10%


def test_quiet_measurement_is_not_noisy():
    m = Measurement(samples=[1.00, 1.01, 1.02, 1.03], number=10)
    assert m.iqr == pytest.approx(0.015)
    assert not m.noisy


def test_first_call_is_kept_apart():
    from adbench.engine.timing import first_call

    clock = FakeClock()
    # 4 s of "compilation", then 1/512 s (~2 ms) per call: binary fractions keep sums exact.
    tick = 1 / 512
    call, calls = workload(clock, [4.0] + [tick] * 100)
    assert first_call(call, None, clock) == 4.0
    m = measure(call, budget_s=4.5 * tick, min_samples=3, clock=clock)
    assert m.number == 1  # one ~2 ms call already exceeds the 1 ms target
    # The calibration call is reused as a sample, then samples start while under budget (0..4 ticks).
    assert m.samples == [tick] * 6
    assert len(calls) == 1 + 6
    assert m.median == tick and m.iqr == 0.0


def test_calibration_follows_autorange_steps():
    clock = FakeClock()
    call, calls = workload(clock, [0.00015])  # 150 µs per call: 1, 2, 5 too short; 10 blocks reach 1.5 ms
    number, per_call = calibrate(call, None, target_s=1e-3, clock=clock)
    assert number == 10
    assert per_call == pytest.approx(0.00015)
    assert len(calls) == 1 + 2 + 5 + 10


def test_budget_and_min_samples():
    clock = FakeClock()
    call, _ = workload(clock, [0.5])  # slow: 0.5 s per call, budget far smaller
    m = measure(call, budget_s=0.01, min_samples=4, clock=clock)
    assert len(m.samples) == 4
    assert m.median == 0.5


def test_sync_is_called_on_every_result():
    clock = FakeClock()
    synced = []
    call, _ = workload(clock, [0.001])
    time_block(lambda: call() or "result", synced.append, 7, clock)
    assert synced == ["result"] * 7


@pytest.mark.parametrize(
    "a, a_ci, b, b_ci, winner",
    [
        (1.0, (0.9, 1.1), 3.0, (2.8, 3.2), "a"),  # separated, a faster
        (3.0, (2.8, 3.2), 1.0, (0.9, 1.1), "b"),  # separated, b faster
        (1.0, (0.95, 1.05), 1.1, (1.0, 1.2), None),  # overlapping, a faster by medians
        (1.2, (0.9, 1.5), 1.0, (0.7, 1.3), None),  # overlapping, b faster by medians
        (1.0, (0.99, 1.01), 1.01, (1.0, 1.02), "tie"),
        (1.0, (0.995, 1.005), 1.03, (1.025, 1.035), "tie"),  # separated, but within ±5 %: a tie is called first
    ],
)
def test_a_verdicts_interval_brackets_its_factor(a, a_ci, b, b_ci, winner):
    """The stated factor (slower over faster) lies inside its interval, whichever is faster."""
    from adbench.formatting import verdict

    v = verdict(a, a_ci, b, b_ci)
    assert v.winner == winner
    assert v.low <= v.factor <= v.high
