"""The adaptive loop's order: the first screen's questions (which mode, which framework) get the budget's
extra visits before the details' (one backend's faster mode), on a fake clock (adbench.engine.simulation)."""

from __future__ import annotations

import pytest

from adbench.engine.cases import CaseSpec
from adbench.engine.runner import RunSettings, Scheduler
from adbench.engine.simulation import Noise, Simulation

GRID = [CaseSpec("loss", 100, backend, mode) for backend in ("jax", "torch") for mode in ("forward", "reverse")]
# jax's modes 2 % apart (the summary's "which mode": many visits to settle); torch's 10 % apart (a detail
# table's question, settled with fewer, so cheaper: the order cheapest-first alone would take it first).
TIMES = {"jax/forward": 1.02e-4, "jax/reverse": 1e-4, "torch/forward": 1.1e-3, "torch/reverse": 1e-3}


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_summary_questions_are_visited_first(seed):
    sim = Simulation(TIMES, Noise(drift_sd=0.05, burst_rate=0.2, visit_sd=0.03), seed=seed)
    settings = RunSettings(time_budget_s=30.0, min_visits=4, workers=1, adaptive=True, cpus=frozenset({0}))
    outcome = Scheduler(GRID, settings, clock=sim.clock, start_worker=sim.start_worker).run()
    asked = [entry["question"] for entry in outcome.budget["adaptive"]]
    assert asked, "no adaptive visits: the grid's questions were settled by the minimum visits"
    summary = [not label.startswith("loss n=") for label in asked]  # a detail table's question names its size
    assert summary == sorted(summary, reverse=True), f"a detail's question came before the summary's: {asked}"


@pytest.mark.parametrize("details", [False, True])
def test_detail_questions_get_extra_visits_only_when_their_tables_are_printed(details):
    # Seed 4: the summary's questions settle on the minimum visits; only torch's own modes stay open.
    sim = Simulation(TIMES, Noise(drift_sd=0.05, burst_rate=0.2, visit_sd=0.03), seed=4)
    settings = RunSettings(
        time_budget_s=30.0, min_visits=4, workers=1, adaptive=True, cpus=frozenset({0}), detail_questions=details
    )
    outcome = Scheduler(GRID, settings, clock=sim.clock, start_worker=sim.start_worker).run()
    asked = [entry["question"] for entry in outcome.budget["adaptive"]]
    assert ("loss n=100 jacobian torch: modes" in asked) == details, asked


def test_every_size_the_first_screen_answers_gets_extra_visits():
    """A user's f at n = 10 and 1000: the first screen has a row for each, so the small size's close modes (2 %
    apart) are pursued too, not only the largest size's (they once read `unresolved` with 44 s of budget left)."""
    grid = [CaseSpec("loss", n, "jax", mode) for n in (10, 1000) for mode in ("forward", "reverse")]
    times = {"jax/forward": 1.02e-4, "jax/reverse": 1e-4}
    sim = Simulation(times, Noise(drift_sd=0.05, burst_rate=0.2, visit_sd=0.03), seed=3)
    settings = RunSettings(
        time_budget_s=30.0, min_visits=4, workers=1, adaptive=True, cpus=frozenset({0}), detail_questions=False
    )
    outcome = Scheduler(grid, settings, clock=sim.clock, start_worker=sim.start_worker).run()
    asked = [entry["question"] for entry in outcome.budget["adaptive"]]
    assert "loss jacobian n=10: modes" in asked and "loss jacobian n=1000: modes" in asked, asked


def test_a_first_screen_question_predicted_not_to_settle_in_the_time_left_gets_one_doubling_round():
    """Modes 2 % apart and 0.05 s left after the minimum visits: predicted to need more, the question still gets
    one round doubling its four visits (a prediction from four visits is uncertain itself), then no more."""
    grid = [CaseSpec("loss", 100, "jax", mode) for mode in ("forward", "reverse")]
    times = {"jax/forward": 1.02e-4, "jax/reverse": 1e-4}

    def run(budget_s: float, adaptive: bool):
        sim = Simulation(times, Noise(drift_sd=0.05, burst_rate=0.2, visit_sd=0.03), seed=3)
        settings = RunSettings(time_budget_s=budget_s, min_visits=4, workers=1, adaptive=adaptive, cpus=frozenset({0}))
        return Scheduler(grid, settings, clock=sim.clock, start_worker=sim.start_worker).run()

    minimum = run(100.0, adaptive=False).budget["spent_s"]
    outcome = run(minimum + 0.05, adaptive=True)
    assert outcome.budget["adaptive"] == [{"question": "loss jacobian: modes", "looks": 1}]
    assert [r.visits for r in outcome.results] == [8, 8]


def test_adaptive_visits_sample_the_operation_alone():
    """An adaptive visit is for a stated comparison of the operation's times: it samples no f (time/f comes from the
    minimum visits, each of which samples both), which would cost it a quarter of its time."""
    grid = [CaseSpec("loss", 100, "jax", mode) for mode in ("forward", "reverse")]
    sim = Simulation({"jax/forward": 1.02e-4, "jax/reverse": 1e-4}, Noise(visit_sd=0.03), seed=3)
    settings = RunSettings(time_budget_s=30.0, min_visits=4, workers=1, adaptive=True, cpus=frozenset({0}))
    outcome = Scheduler(grid, settings, clock=sim.clock, start_worker=sim.start_worker).run()
    for r in outcome.results:
        with_f = [bool(v["f_samples"]) for v in sorted(r.raw_visits, key=lambda v: v["pass"])]
        assert len(with_f) > 4, f"{r.mode}: no adaptive visits"
        assert with_f[:4] == [True] * 4 and not any(with_f[4:]), f"{r.mode}: f sampled by visits {with_f}"
        assert r.f_time_s and r.j_over_f, f"{r.mode}: f's time and time/f from the minimum visits"


@pytest.mark.parametrize(
    ("details", "unstated", "torch_forward"),
    [(False, 2, 2), (True, 2, 4), (False, None, 4)],
    ids=["plain run: 2", "--details: 4", "--rounds given: 4"],
)
def test_a_case_the_first_screen_states_nothing_on_gets_fewer_minimum_visits(details, unstated, torch_forward):
    """torch's forward mode is neither the fastest mode nor the fastest framework's: a plain run, which prints the
    first screen alone, gives it two minimum visits and the four to what the screen compares; --details (its table
    states torch's modes) and --rounds (every case that many) give it four."""
    sim = Simulation(TIMES, Noise(visit_sd=0.03), seed=3)
    settings = RunSettings(
        time_budget_s=30.0,
        min_visits=4,
        workers=1,
        adaptive=False,
        cpus=frozenset({0}),
        detail_questions=details,
        unstated_min_visits=unstated,
    )
    outcome = Scheduler(GRID, settings, clock=sim.clock, start_worker=sim.start_worker).run()
    visits = {f"{r.backend}/{r.mode}": r.visits for r in outcome.results}
    assert visits == {"jax/forward": 4, "jax/reverse": 4, "torch/forward": torch_forward, "torch/reverse": 4}, visits
