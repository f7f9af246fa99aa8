"""How a run measures: its budget, its workers, its visits and its limits, in one declared place."""

from __future__ import annotations

from dataclasses import dataclass

from adbench.engine.threads import cpus_for, usable_mask

# The defaults every caller reads (the CLI's options, adbench.compare, the API), declared once here.
# The whole run's seconds (worker starts, first builds, visits); measured to keep a default run within
# a minute and --quick within 15 s on a 2-core machine, first builds overlapping (tools/glance_speed.py,
# docs/method.md). A run stops as soon as what it states is answered, so the default's last seconds are spent
# only on a question still open: 55, not 50, because on a slower machine the cold compiles and the minimum
# visits took 45-50 s and left the first screen's close HVP questions open in 2 of 7 cold runs.
DEFAULT_TIME_BUDGET_S = 55.0
QUICK_TIME_BUDGET_S = 12.0
DEFAULT_MIN_VISITS = 4
QUICK_MIN_VISITS = 2
# Worker processes per framework. On the machine this was measured on, fresh processes do not differ
# once their visits are matched in time (tools/bench_the_bench.py --variance), and each costs seconds
# to start and to build every case again: one, unless asked.
DEFAULT_WORKERS = 1
DEFAULT_VISIT_S = 0.003
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_COMPILE_TIMEOUT_S = 300.0


@dataclass
class RunSettings:
    """How a run measures: its budget, its workers, its visits and its limits."""

    threads: int = 1
    # Seconds the whole run may take (workers, builds, visits); the minimum visits are made even
    # when the builds overrun it, the adaptive visits only while it lasts.
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    min_visits: int = DEFAULT_MIN_VISITS  # every case at least this many visits (--rounds)
    # Unless --rounds says otherwise, a slow case (its visits this many seconds or more) needs fewer
    # before the adaptive part: at least 2, its variance borrowing the others' degrees of freedom.
    slow_case_s: float | None = 0.25
    # Unless --rounds says otherwise, a run that prints the first screen alone (not detail_questions) gives this
    # many minimum visits only to a case it states nothing on: no mode or framework question names it, and it is
    # not the hand-written floor (× hand). The time goes to the adaptive visits of what the screen states. 3, not 2:
    # at 2 a pair of such cases has ~2.4 degrees of freedom (t ≈ 3.7), and two runs left 2 of 620 gaps of 2x or
    # more unresolved (tools/bench_the_bench.py). None: min_visits for every case.
    unstated_min_visits: int | None = 3
    workers: int = DEFAULT_WORKERS  # worker processes per framework (worker sets), each holding every case (--workers)
    visit_s: float = DEFAULT_VISIT_S  # sampled seconds of the operation per visit (--budget)
    f_visit_s: float = 0.001  # of f per visit
    warm_up_s: float = 0.002  # untimed calls at the start of each visit
    timeout_s: float = DEFAULT_TIMEOUT_S  # a visit, or a build after its first call (--timeout)
    compile_timeout_s: float = DEFAULT_COMPILE_TIMEOUT_S  # a build until its first call is done (--compile-timeout)
    memory_limit_bytes: int | None = None
    worker_start_timeout_s: float = 120.0
    device: str = "cpu"
    adaptive: bool = True
    # The adaptive visits also settle the detail tables' questions (one backend's faster mode), not only the
    # first screen's (which mode, which framework) and A/A replicates: a plain `compare` prints no detail
    # table, so it spends its budget on what it states (False); --details, the API and the cluster do (True).
    detail_questions: bool = True
    statistic: str = "min"  # the per-visit statistic (adbench.engine.estimates.STATISTICS)
    max_kept: int = 48  # cases a worker holds at once; the least recently visited is forgotten
    # The CPUs workers are pinned to: the first `threads` of this process's mask, taken when the
    # settings are made (the parent then moves its own bookkeeping to the others).
    cpus: frozenset[int] = frozenset()
    # The CPUs first builds may use, ``threads`` to a build: builds in different workers overlap, each on CPUs
    # of its own, while no visit runs (a build is not timed against anything; its first call has its CPUs to
    # itself). Empty: this process's whole mask, taken when the settings are made; ``cpus`` alone: one build
    # at a time.
    build_cpus: frozenset[int] = frozenset()
    # JAX keeps what it compiles between runs (adbench.engine.caches; a first call that loads from there is
    # labelled a cache hit); False: every run compiles afresh in a folder of its own.
    keep_compiles: bool = True

    def __post_init__(self) -> None:
        if not self.cpus:
            self.cpus = frozenset(cpus_for(self.threads))
        if not self.build_cpus:
            self.build_cpus = frozenset(usable_mask()) | self.cpus

    @property
    def unstated_floor(self) -> int | None:
        """The minimum visits of a case the run states nothing on, where it prints the first screen alone; None:
        every case gets ``min_visits`` (or fewer only for being slow)."""
        return None if self.detail_questions else self.unstated_min_visits

    @property
    def build_slots(self) -> list[frozenset[int]]:
        """The CPU sets builds run on at once: the workers' own ``cpus`` first, then whole sets of ``threads``
        CPUs from the rest of ``build_cpus``."""
        rest = sorted(self.build_cpus - self.cpus)
        size = max(1, len(self.cpus))
        return [self.cpus] + [frozenset(rest[i : i + size]) for i in range(0, len(rest) - size + 1, size)]

    @property
    def keep_bytes(self) -> int | None:
        """Estimated bytes of the cases a worker may hold at once: a quarter of the memory limit."""
        return self.memory_limit_bytes // 4 if self.memory_limit_bytes else None
