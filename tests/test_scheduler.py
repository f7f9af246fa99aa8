"""The Scheduler driven by fake workers on a fake clock (adbench.engine.simulation): builds, passes, pairing in
time, the budget, the adaptive loop, limits, failures and interrupts. Fast and deterministic: no process starts."""

from __future__ import annotations

import math

import pytest

from adbench.engine import protocol
from adbench.engine.cases import CaseSpec
from adbench.engine.runner import Scheduler
from adbench.engine.settings import RunSettings
from adbench.engine.simulation import Noise, Script, Simulation

JAX_F, JAX_R = CaseSpec("loss", 100, "jax", "forward"), CaseSpec("loss", 100, "jax", "reverse")
TORCH_R = CaseSpec("loss", 100, "torch", "reverse")
MANUAL = CaseSpec("loss", 100, "manual", "manual")
GRID = [JAX_F, JAX_R, TORCH_R, MANUAL]
TIMES = {"jax/forward": 4e-4, "jax/reverse": 2e-5, "torch/reverse": 6e-5, "manual": 1e-5}


def settings(**kw) -> RunSettings:
    base = dict(time_budget_s=5.0, min_visits=4, workers=1, adaptive=False, cpus=frozenset({0}))
    return RunSettings(**{**base, **kw})


def run(specs=GRID, sim: Simulation | None = None, **kw):
    sim = sim or Simulation(TIMES, Noise.quiet())
    scheduler = Scheduler(specs, settings(**kw), clock=sim.clock, start_worker=sim.start_worker)
    return scheduler, scheduler.run(), sim


def requests(sim: Simulation, kind: type) -> list[tuple[tuple, protocol.Message]]:
    return [(key, m) for _, key, m in sim.log if isinstance(m, kind)]


def by_case(outcome):
    return {(r.backend, r.mode): r for r in outcome.results}


def test_every_case_is_built_once_and_visited_at_least_min_visits():
    _, outcome, sim = run()
    builds = requests(sim, protocol.Build)
    assert sorted(m.case for _, m in builds) == [0, 1, 2, 3] and all(m.first for _, m in builds)
    rows = by_case(outcome)
    assert all(r.status == "ok" and r.visits == 4 and r.workers == 1 for r in rows.values())
    # Noise-free, the estimate is the true time, and time/f is exact.
    assert rows[("jax", "reverse")].time_s == pytest.approx(2e-5)
    assert rows[("jax", "forward")].j_over_f == pytest.approx(40)
    assert rows[("manual", "manual")].first_call_s == 0.2 and rows[("manual", "manual")].reference == "exact"


def test_a_pass_visits_a_group_back_to_back_and_alternates_the_frameworks_order():
    _, _, sim = run()
    visits = [(key[0], m.case) for key, m in requests(sim, protocol.Visit)]
    per_pass = [visits[i : i + 4] for i in range(0, len(visits), 4)]
    assert len(per_pass) == 4
    first_frameworks = [p[0][0] for p in per_pass]
    assert first_frameworks[0] != first_frameworks[1] and first_frameworks[0] == first_frameworks[2]
    # Within one worker the group's cases swap order too (jax forward then reverse, then reverse first).
    jax = [[c for fw, c in p if fw == "jax"] for p in per_pass]
    assert jax[0] == [0, 1] and jax[1] == [1, 0]


def test_visits_are_matched_in_time_for_every_pair():
    _, outcome, _ = run()
    comparisons = {(a, b): n for a, b, *_, n in outcome.comparisons}
    assert len(comparisons) == 6 and set(comparisons.values()) == {4}


def test_worker_sets_each_build_and_visit_every_case():
    _, outcome, sim = run(workers=2, min_visits=4)
    builds = requests(sim, protocol.Build)
    assert sum(m.first for _, m in builds) == 4 and sum(not m.first for _, m in builds) == 4
    # The second set's builds reuse the first's calibration.
    first = {m.case: m for _, m in builds if m.first}
    for key, m in builds:
        if not m.first:
            assert key[2] == 1 and m.number is not None
    assert all(r.workers == 2 and r.visits == 4 for r in outcome.results)
    assert {k[2] for k in sim.started} == {0, 1} and len(first) == 4


def test_first_call_limit_is_the_compile_timeout():
    script = Script(compile_hangs={"jax/forward"})
    sim = Simulation(TIMES, Noise.quiet(), script)
    _, outcome, _ = run(sim=sim, compile_timeout_s=7.0, timeout_s=1.0)
    rows = by_case(outcome)
    assert rows[("jax", "forward")].status == "compile-timeout"
    assert "compile limit of 7 s (--compile-timeout)" in rows[("jax", "forward")].error
    # Its worker was replaced: jax reverse was built in a fresh one and measured.
    assert rows[("jax", "reverse")].status == "ok" and rows[("jax", "reverse")].visits == 4
    assert [k[0] for k in sim.started].count("jax") == 2


def test_a_visit_past_the_steady_limit_is_a_timeout():
    sim = Simulation(TIMES, Noise.quiet(), Script(visit_hangs={"torch/reverse"}))
    _, outcome, _ = run(sim=sim, timeout_s=2.0)
    row = by_case(outcome)[("torch", "reverse")]
    assert row.status == "timeout" and "case time limit of 2 s (--timeout)" in row.error


def test_a_case_that_raises_is_an_error_and_its_worker_is_replaced():
    sim = Simulation(TIMES, Noise.quiet(), Script(raises={"jax/forward": "RuntimeError: boom"}))
    _, outcome, _ = run(sim=sim)
    rows = by_case(outcome)
    assert rows[("jax", "forward")].status == "error" and rows[("jax", "forward")].error == "RuntimeError: boom"
    assert rows[("jax", "forward")].traceback
    assert rows[("jax", "reverse")].status == "ok"
    assert [k[0] for k in sim.started].count("jax") == 2


def test_a_dead_worker_fails_its_case_and_the_others_are_built_again_not_first_called():
    sim = Simulation(TIMES, Noise.quiet(), Script(dies_on_visit={"jax/forward"}))
    _, outcome, _ = run(sim=sim)
    rows = by_case(outcome)
    assert rows[("jax", "forward")].status == "error" and "SIGSEGV" in rows[("jax", "forward")].error
    assert rows[("jax", "reverse")].status == "ok" and rows[("jax", "reverse")].visits == 4
    again = [m for key, m in requests(sim, protocol.Build) if m.case == 1]
    assert [m.first for m in again] == [True, False], "jax reverse is rebuilt in the fresh worker, not first-called"


def test_a_garbage_answer_is_the_cases_error():
    sim = Simulation(TIMES, Noise.quiet(), Script(garbage={"torch/reverse"}))
    _, outcome, _ = run(sim=sim)
    row = by_case(outcome)[("torch", "reverse")]
    assert row.status == "error" and "unreadable answer" in row.error


def test_a_framework_whose_worker_never_starts_errors_its_cases_only():
    sim = Simulation(TIMES, Noise.quiet(), Script(dead_at_start={"torch"}))
    _, outcome, _ = run(sim=sim)
    rows = by_case(outcome)
    assert rows[("torch", "reverse")].status == "error" and "exit code 3" in rows[("torch", "reverse")].error
    assert rows[("jax", "reverse")].status == "ok"


def test_an_unavailable_backend_is_skipped_with_the_reason():
    sim = Simulation(TIMES, Noise.quiet(), Script(unavailable={"torch": "ImportError: no torch"}))
    _, outcome, _ = run(sim=sim)
    row = by_case(outcome)[("torch", "reverse")]
    assert row.status == "skipped" and "backend unavailable: ImportError: no torch" in row.error


def test_what_a_worker_holds_is_bounded_and_forgotten_cases_are_built_again():
    specs = [CaseSpec("loss", n, "jax", "reverse") for n in (10, 20, 30)]
    sim = Simulation({"jax": 2e-5}, Noise.quiet())
    _, outcome, _ = run(specs, sim, max_kept=2, build_cpus=frozenset({0}))  # one slot: one jax process holds all
    assert all(r.status == "ok" and r.visits == 4 for r in outcome.results)
    assert requests(sim, protocol.Forget), "past two held cases the least recently visited is forgotten"
    again = [m for _, m in requests(sim, protocol.Build) if not m.first]
    assert again and all(m.number is not None for m in again)


def test_the_minimum_visits_are_made_even_past_the_budget():
    sim = Simulation(TIMES, Noise.quiet(), Script(compile_s=3.0))
    _, outcome, _ = run(sim=sim, time_budget_s=1.0, min_visits=3, adaptive=True)
    assert all(r.visits == 3 for r in outcome.results)
    assert outcome.budget["spent_s"] > 1.0 and outcome.budget["adaptive_visits"] == 0


def test_adaptive_visits_go_to_open_comparisons_and_stop_with_the_budget():
    # jax forward and reverse differ by 2 %: neither a winner nor (yet) a tie after 4 noisy visits.
    times = {"jax/forward": 1.02e-4, "jax/reverse": 1e-4, "torch/reverse": 1e-3, "manual": 1e-5}
    sim = Simulation(times, Noise(drift_sd=0.05, burst_rate=0.2, visit_sd=0.03), seed=3)
    scheduler, outcome, _ = run(sim=sim, time_budget_s=30.0, min_visits=4, adaptive=True)
    rows = by_case(outcome)
    assert rows[("jax", "forward")].visits > 4 and rows[("jax", "reverse")].visits > 4
    assert outcome.budget["adaptive_visits"] > 0
    assert any("modes" in e["question"] for e in outcome.budget["adaptive"])
    assert scheduler.elapsed() <= 30.0 + 2.0  # the last adaptive pass may finish a little past it
    # torch against the manual baseline is not a question the summary asks: no extra visits for manual.
    assert rows[("manual", "manual")].visits == 4


def test_replicates_get_their_own_workers_and_are_compared():
    specs = [JAX_R, CaseSpec("loss", 100, "jax", "reverse", replicate=1)]
    _, outcome, sim = run(specs)
    assert {k[:2] for k in sim.started} == {("jax", 0), ("jax", 1)}
    assert [a_b for a_b in ((c[0], c[1]) for c in outcome.comparisons)] == [(0, 1)]


def test_an_interrupt_keeps_what_was_measured_and_closes_every_worker():
    sim = Simulation(TIMES, Noise.quiet())
    calls = {"n": 0}

    def interrupting_clock():
        calls["n"] += 1
        if calls["n"] == 400:
            raise KeyboardInterrupt
        return sim.clock()

    scheduler = Scheduler(GRID, settings(min_visits=50), clock=interrupting_clock, start_worker=sim.start_worker)
    outcome = scheduler.run()
    assert outcome.interrupted is not None
    assert all(w.closed or w.dead for w in sim.workers)
    visited = [r for r in outcome.results if r.raw_visits]
    assert visited and all(r.time_s and r.visits == len(r.raw_visits) for r in visited)


def test_protocol_parser_refuses_what_is_not_a_message():
    for line, words in [
        (b"[1]", "not a message"),
        (b'{"type": "nope"}', "unknown type"),
        (b'{"type": "sampled", "case": 1}', "without samples"),
        (b'{"type": "sampled", "case": 1, "samples": [0.0], "f_samples": []}', "positive samples"),
        (b'{"type": "sampled", "case": "1", "samples": [1], "f_samples": []}', "not an integer"),
        (b'{"type": "progress", "case": 1, "stage": "x", "seconds": 1, "extra": 2}', "unknown field"),
        (b"\xff\xfe", "unreadable"),
    ]:
        with pytest.raises(protocol.BadAnswer, match=words):
            protocol.parse(line)
    message = protocol.Built(3, 10, 20, 1e-4, 5e-5, 0.01, call="jax.jit(f)", rel_error=float("nan"))
    assert protocol.parse(message.encode()) == protocol.Built(3, 10, 20, 1e-4, 5e-5, 0.01, call="jax.jit(f)")
    with pytest.raises(protocol.BadRequest):
        protocol.parse_request(protocol.Ready({}, {}).encode())


def test_estimates_rest_on_pooled_degrees_of_freedom():
    """With a dozen cases the moderated variance gives each case far more than its own visits' df."""
    specs = [CaseSpec("loss", n, "jax", "reverse") for n in range(10, 130, 10)]
    sim = Simulation(lambda s: 1e-5 * s.size, Noise(drift_sd=0.03, visit_sd=0.03), seed=5)
    _, outcome, _ = run(specs, sim, min_visits=4)
    dfs = [r.log_df for r in outcome.results]
    assert all(df > 3 for df in dfs), dfs
    kinds = outcome.variance["kinds"]
    assert kinds["time"]["quantities"] == 12
    assert math.isfinite(kinds["time"]["prior_s2"])


def _in_flight(sim: Simulation) -> list[tuple[float, float, tuple, frozenset]]:
    """Every first build as (sent, answered, worker, CPUs it ran on), from the simulation's logs."""
    cpus, spans = {}, []
    for t, key, moved_to in sim.moves:
        cpus.setdefault(key, []).append((t, moved_to))
    answered = {(key, a.case): t for t, key, a in sim.received if isinstance(a, protocol.Built)}
    for t, key, m in sim.log:
        if isinstance(m, protocol.Build) and m.first:
            where = [c for when, c in cpus[key] if when <= t][-1]
            spans.append((t, answered[(key, m.case)], key, where))
    return spans


@pytest.mark.parametrize("slots", [1, 2])
def test_first_builds_overlap_on_cpus_of_their_own_and_no_visit_runs_meanwhile(slots):
    sim = Simulation(TIMES, Noise.quiet(), Script(compile_s=2.0, start_s=0.0))
    _, outcome, _ = run(sim=sim, build_cpus=frozenset(range(slots)))
    spans = _in_flight(sim)
    assert len(spans) == 4 and all(r.status == "ok" and r.visits == 4 for r in outcome.results)
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[0] < b[1] and b[0] < a[1]]
    if slots == 1:  # one build at a time, on the timed CPU
        assert not overlapping and {s[3] for s in spans} == {frozenset({0})}
    else:
        assert overlapping, "two workers build at once"
        assert all(a[2] != b[2] and a[3] != b[3] for a, b in overlapping), "never in one worker, nor on one CPU"
    # No visit is sent while a build is in flight, and every visit finds its worker on the timed CPU.
    visits = [(t, key) for t, key, m in sim.log if isinstance(m, protocol.Visit)]
    assert not [t for t, _ in visits for s in spans if s[0] <= t < s[1]]
    last_move = {}
    for _t, key, moved_to in sim.moves:
        last_move[key] = moved_to
    assert set(last_move.values()) == {frozenset({0})}
    # Four 2-second compiles: four in a row alone, two at a time with a second slot (jax's two in its own
    # worker, torch's and manual's beside them).
    assert outcome.budget["phases_s"]["first builds"] == pytest.approx(8.0 if slots == 1 else 4.0, abs=0.3)


def test_a_free_build_slot_goes_to_the_worker_with_the_most_build_time_left():
    from adbench.engine.first_builds import _most_work_left

    class C:
        active, built = True, False

    queues = {("jax", 0, 0): [C()] * 3, ("torch", 0, 0): [C()] * 5, ("numpy", 0, 0): [C()]}
    assert _most_work_left(queues, {}, {}) == ("torch", 0, 0)  # nothing known: the most cases
    took = {("jax", 0, 0): [2.0], ("torch", 0, 0): [0.1]}
    assert _most_work_left(queues, took, {}) == ("jax", 0, 0)  # 3 x 2 s left against 5 x 0.1 s
    assert _most_work_left(queues, took, {("jax", 0, 0): None}) == ("numpy", 0, 0)  # the others' mean, 1.05 s
    assert _most_work_left({("jax", 0, 0): []}, took, {}) is None


def _build_spans(sim: Simulation) -> dict[str, tuple[float, float]]:
    """Each first build's (sent, answered) by the label of its case."""
    answered = {(key, a.case): t for t, key, a in sim.received if isinstance(a, protocol.Built)}
    return {
        CaseSpec(**m.spec).label(): (t, answered[(key, m.case)])
        for t, key, m in sim.log
        if isinstance(m, protocol.Build) and m.first
    }


def test_a_build_slot_freed_while_another_build_runs_is_refilled_at_once():
    """jax's two 0.5 s builds run one after the other beside torch's 1.2 s one: jax's second starts as its
    first lands, not when torch's lands (the parent once waited a second on the build left running)."""
    times = {"jax/reverse": 0.5, "jax/forward": 0.5, "torch/reverse": 1.2, "manual/manual": 0.2}
    sim = Simulation(TIMES, Noise.quiet(), Script(compile_s_of=times, start_s=0.0))
    _, outcome, _ = run(sim=sim, build_cpus=frozenset({0, 1}))
    spans = _build_spans(sim)
    jax = sorted(v for k, v in spans.items() if " jax/" in k)
    assert jax[1][0] == pytest.approx(jax[0][1], abs=0.05), spans
    assert outcome.budget["phases_s"]["first builds"] == pytest.approx(1.2, abs=0.1)


def test_while_held_for_first_visits_a_free_slot_takes_only_builds_that_end_before_the_running_ones():
    """Group n=100 (jax's 0.5 s build) is built while torch's 3 s build of group n=200 runs: its first visits
    wait for that, and meanwhile the free slot builds manual's n=200 case (predicted 0.5 s, the mean so far)."""
    grid = [CaseSpec("loss", 100, "jax", "reverse")]
    grid += [CaseSpec("loss", 200, "torch", "reverse"), CaseSpec("loss", 200, "manual", "manual")]
    times = {"jax/reverse": 0.5, "torch/reverse": 3.0, "manual/manual": 0.2}
    sim = Simulation({**TIMES, "jax/reverse": 2e-5}, Noise.quiet(), Script(compile_s_of=times, start_s=0.0))
    _, outcome, _ = run(grid, sim=sim, build_cpus=frozenset({0, 1}))
    spans = _build_spans(sim)
    torch = spans["loss[n=200] jacobian torch/reverse float32"]
    assert torch[0] < spans["loss[n=200] jacobian manual/manual float32"][0] < torch[1], spans
    first_visit = min(t for t, _, m in sim.log if isinstance(m, protocol.Visit))
    assert first_visit >= max(end for _, end in spans.values()), "no visit while a build runs"
    assert all(r.status == "ok" and r.visits == 4 for r in outcome.results)
    assert outcome.budget["phases_s"]["first builds"] == pytest.approx(3.0, abs=0.1)


def test_the_running_builds_are_predicted_to_drain_by_their_workers_means_or_as_long_again():
    from adbench.engine.first_builds import _drain_s

    class W:
        since = 10.0

    took = {("jax", 0, 0): [2.0], ("numpy", 0, 0): [0.1]}
    assert _drain_s(took, {}, 11.0) == 0.0
    assert _drain_s(took, {("jax", 0, 0): (W(), frozenset())}, 10.5) == pytest.approx(1.5)  # 2 s mean, 0.5 s run
    assert _drain_s(took, {("jax", 0, 0): (W(), frozenset())}, 13.0) == pytest.approx(3.0)  # past it: as long again
    assert _drain_s(took, {("torch", 0, 0): (W(), frozenset())}, 10.0) == pytest.approx(1.05)  # every worker's mean


@pytest.mark.parametrize("slots", [1, 2])
def test_a_compiling_framework_builds_its_operations_in_two_processes_where_builds_overlap(slots):
    hvp = [CaseSpec("loss", 100, "jax", m, operation="hvp") for m in ("forward-over-reverse", "reverse-over-reverse")]
    sim = Simulation(TIMES, Noise.quiet(), Script(compile_s=2.0, start_s=0.0))
    _, outcome, _ = run(GRID + hvp, sim=sim, build_cpus=frozenset(range(slots)))
    assert all(r.status == "ok" and r.visits == 4 for r in outcome.results)
    jax_processes = {key for key in sim.started if key[0].startswith("jax")}
    if slots == 1:
        assert jax_processes == {("jax", 0, 0)}
        return
    assert jax_processes == {("jax", 0, 0), ("jax#2", 0, 0)}
    where = {m.case: key for _, key, m in sim.log if isinstance(m, protocol.Build)}
    assert {where[i][0] for i in (0, 1)} == {"jax"} and {where[i][0] for i in (4, 5)} == {"jax#2"}, (
        "an operation (and so every group) stays whole in one process"
    )
    # jax's four 2-second compiles on two CPUs, torch's and manual's beside them: 6 s, not 12.
    assert outcome.budget["phases_s"]["first builds"] == pytest.approx(6.0, abs=0.3)
    assert {r.framework_version for r in outcome.results if r.framework == "jax"} <= {"1.0", None}


def test_a_compiling_framework_shares_its_operations_or_else_its_groups_between_two_processes():
    from adbench.engine.grouping import second_process

    jac = [CaseSpec("loss", 10, b, "reverse") for b in ("jax", "torch")]
    hvp = [CaseSpec("loss", 10, b, "reverse-over-reverse", operation="hvp") for b in ("jax", "torch")]
    sparse = [CaseSpec("ba", 10, "jax", "forward", operation="sparse-jacobian")]
    assert second_process(jac) == set()  # one operation, one group: nothing to share
    # hvp has the most jax cases (2): the first process; jacobian (1) and sparse-jacobian (1) the second.
    assert second_process(jac + hvp + hvp + sparse) == {0, 6}
    # Jacobians only (--quick): jax's groups are shared, each whole; torch (not compiling) stays in one.
    quick = [
        CaseSpec(p, 10, b, m) for p in ("loss", "tall", "ode") for b in ("jax", "torch") for m in ("forward", "reverse")
    ]
    assert second_process(quick) == {4, 5}  # loss (2) first, tall (2) second, ode (2) first: fewer there on a tie


def test_a_group_is_visited_once_built_before_later_builds_start():
    """With builds overlapping, what was measured is kept: once the first group is built, no build starts
    before its first visits (an interrupt during a slow later build keeps them), unless it is predicted to end
    before the running ones (here every build takes 2 s: none is)."""
    later = [
        CaseSpec("loss", 200, "jax", "reverse"),
        CaseSpec("loss", 200, "torch", "reverse"),
        CaseSpec("loss", 200, "manual", "manual"),
    ]
    sim = Simulation(TIMES, Noise.quiet(), Script(compile_s=2.0, start_s=0.0))
    _, outcome, _ = run(GRID + later, sim=sim, build_cpus=frozenset({0, 1}))
    assert all(r.status == "ok" and r.visits == 4 for r in outcome.results)
    sent = [(t, m) for t, _, m in sim.log if isinstance(m, (protocol.Build, protocol.Visit))]
    built = {a.case: t for t, _, a in sim.received if isinstance(a, protocol.Built)}
    first_group_built = max(built[i] for i in range(4))
    first_visits_done = sorted(t for t, m in sent if isinstance(m, protocol.Visit) and m.case < 4)[3]  # pass 0
    waited = [t for t, m in sent if isinstance(m, protocol.Build) and m.case >= 4 and t >= first_group_built]
    assert waited and min(waited) > first_visits_done, "a later build waited for the first group's visits"
    spans = _in_flight(sim)
    assert not [t for t, m in sent if isinstance(m, protocol.Visit) for s in spans if s[0] <= t < s[1]]
