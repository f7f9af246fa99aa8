"""A simulated machine for the scheduler: in-process fake workers that answer the worker protocol from a model
of each case's time and of the machine's noise, on a fake clock. The scheduler's tests drive it (fast and
deterministic), and ``tools/bench_the_bench.py`` measures interval coverage and A/A errors with it.

The noise is the kind this suite meets on a shared machine, not independent draws: the machine's
speed drifts (an Ornstein-Uhlenbeck process on the log scale, seconds long), a neighbour takes the CPU
in bursts (Poisson arrivals, exponential durations, a multiplicative slowdown for all that runs
meanwhile), a sample is now and then preempted (several times slower), a visit's first millisecond
runs cold, and each process has its own small offset per case.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.backends import as_dtype, as_mode, as_operation
from adbench.engine import protocol
from adbench.engine.cases import CaseSpec

if TYPE_CHECKING:
    from adbench.engine.outcome import RunOutcome


class FakeClock:
    """A clock that only moves when the simulation says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass
class Noise:
    """The machine's noise; every level on the log scale (0.05 = 5 %)."""

    drift_sd: float = 0.05  # the stationary spread of the machine's speed
    drift_s: float = 5.0  # its time scale (the OU process' correlation time)
    burst_rate: float = 0.1  # bursts per second
    burst_s: float = 1.0  # mean duration
    burst_slowdown: tuple[float, float] = (1.2, 1.6)  # a burst multiplies times by a factor in this range
    visit_sd: float = 0.03  # shared by a visit's samples
    sample_sd: float = 0.02
    preempt_p: float = 0.02  # a sample several times slower
    cold_s: float = 5e-4  # extra seconds for a visit's first call block without a warm-up
    process_sd: float = 0.0  # each process' own offset for each case

    @classmethod
    def quiet(cls) -> Noise:
        return cls(drift_sd=0.0, burst_rate=0.0, visit_sd=0.0, sample_sd=0.0, preempt_p=0.0, cold_s=0.0)


class Machine:
    """The simulated machine's speed over time: drift and bursts, drawn lazily as the clock moves on."""

    def __init__(self, noise: Noise, clock: FakeClock, seed: int = 0) -> None:
        self.noise, self.clock = noise, clock
        self.rng = np.random.default_rng(seed)
        self._t = clock()
        self._drift = self.rng.normal(0, noise.drift_sd) if noise.drift_sd else 0.0
        self._bursts: list[tuple[float, float, float]] = []
        self._next_burst = self._t + (self.rng.exponential(1 / noise.burst_rate) if noise.burst_rate else math.inf)

    def log_slowdown(self, t: float) -> float:
        """log of how much slower than its own speed the machine runs at time ``t`` (t only grows)."""
        n = self.noise
        if t > self._t and n.drift_sd:
            a = math.exp(-(t - self._t) / n.drift_s)
            self._drift = a * self._drift + math.sqrt(1 - a * a) * n.drift_sd * self.rng.normal()
        self._t = max(self._t, t)
        while self._next_burst <= t:
            start = self._next_burst
            self._bursts.append(
                (start, start + self.rng.exponential(n.burst_s), math.log(self.rng.uniform(*n.burst_slowdown)))
            )
            self._next_burst = start + self.rng.exponential(1 / n.burst_rate)
        self._bursts = [b for b in self._bursts if b[1] > t - 60]
        return self._drift + sum(f for s, e, f in self._bursts if s <= t < e)


@dataclass
class Script:
    """What goes wrong, per case label (``CaseSpec.label()`` contains the text): for the failure tests."""

    raises: dict[str, str] = field(default_factory=dict)  # in its build: a Failed answer with this error
    compile_hangs: set[str] = field(default_factory=set)  # its first call never finishes
    visit_hangs: set[str] = field(default_factory=set)  # its visits never answer
    dies_on_visit: set[str] = field(default_factory=set)  # the worker process dies during a visit
    garbage: set[str] = field(default_factory=set)  # the worker sends a line that is not a message
    unavailable: dict[str, str] = field(default_factory=dict)  # backend -> the reason in the hello
    dead_at_start: set[str] = field(default_factory=set)  # frameworks whose workers never say hello
    compile_s: float = 0.2  # seconds of a first call (trace + compile)
    compile_s_of: dict[str, float] = field(default_factory=dict)  # label text -> its first call's seconds instead
    rebuild_s: float = 0.02
    start_s: float = 1.0  # seconds a worker takes to start


class FakeWorker:
    """One simulated worker process: holds the cases it built and answers a visit at once, moving the shared
    fake clock by the time the work would take; a build's answer is ready when its work would be done, so
    builds sent to two workers overlap."""

    pids = itertools.count(10_000)

    def __init__(self, key: tuple, backends: list[str], sim: Simulation) -> None:
        self.key, self.backends, self.sim = key, backends, sim
        self.pid = next(self.pids)
        self.closed = False
        self.dead = False
        self.kept: dict[int, CaseSpec] = {}
        self.queue: list[tuple[float, Any]] = []  # (when it is ready, the answer)
        self.cpus: frozenset[int] = frozenset()
        self.requests: list[protocol.Message] = []
        self.offsets: dict[int, float] = {}  # this process' own offset per case
        sim.started.append(key)

    @property
    def alive(self) -> bool:
        return not self.closed and not self.dead

    def wait_ready(self) -> protocol.Ready | None:
        script = self.sim.script
        self.sim.clock.advance(script.start_s)
        if self.key[0] in script.dead_at_start:
            self.dead = True
            raise protocol.WorkerDied("worker process died (exit code 3)")
        unavailable = {b: script.unavailable[b] for b in self.backends if b in script.unavailable}
        return protocol.Ready({self.key[0]: "1.0"}, unavailable, {}, self.pid)

    def send(self, message: protocol.Message) -> None:
        if not self.alive:
            raise protocol.WorkerDied("worker process died (killed by signal SIGKILL)")
        # A request crosses the pipe as a JSON line, both ways, as the real one does.
        message = protocol.parse_request(message.encode())
        self.requests.append(message)
        self.sim.log.append((self.sim.clock(), self.key, message))
        if isinstance(message, protocol.Forget):
            self.kept.pop(message.case, None)
            return
        self.queue.extend(self._answer(message))

    def move_to(self, cpus: frozenset[int]) -> None:
        self.cpus = frozenset(cpus)
        self.sim.moves.append((self.sim.clock(), self.key, self.cpus))

    def receive(self, timeout_s: float) -> protocol.Message | None:
        if self.dead:
            raise protocol.WorkerDied("worker process died (killed by signal SIGSEGV)")
        now = self.sim.clock()
        if not self.queue or self.queue[0][0] > now + timeout_s:  # a build still compiling: the clock moves on
            self.sim.clock.advance(timeout_s)
            return None
        ready_at, item = self.queue.pop(0)
        self.sim.clock.advance(ready_at - now)
        self.sim.received.append((self.sim.clock(), self.key, item))
        if item == "die":
            self.dead = True
            raise protocol.WorkerDied("worker process died (killed by signal SIGSEGV)")
        if item == "hang":
            self.queue.clear()
            self.sim.clock.advance(timeout_s)
            return None
        if isinstance(item, bytes):
            return protocol.parse(item)
        return protocol.parse(item.encode())

    def close(self) -> None:
        self.closed = True

    # -- the work ----------------------------------------------------------------------------------
    def _answer(self, message: protocol.Message) -> list[tuple[float, Any]]:
        """The answers to ``message`` with the times they are ready: a build's come when its work is done
        (builds in two workers overlap), a visit's at once, the clock moved by its work already."""
        if isinstance(message, protocol.Build):
            start = self.sim.clock()
            return [(start + seconds, item) for seconds, item in self._build(message)]
        return [(self.sim.clock(), item) for item in self._work(message)]

    def _build(self, message: protocol.Build) -> list[tuple[float, Any]]:
        """A build's answers, each with the seconds after the request it is ready."""
        sim, script = self.sim, self.sim.script
        spec = CaseSpec(**message.spec)
        label = spec.label()
        if any(k in label for k in script.compile_hangs):
            return [(0.0, "hang")]
        if any(k in label for k in script.garbage):
            return [(0.0, b"this is not json")]
        for k, error in script.raises.items():
            if k in label:
                return [(0.0, protocol.Failed(message.case, error, "Traceback: simulated"))]
        first_call_s = next((s for k, s in script.compile_s_of.items() if k in label), script.compile_s)
        compiled = first_call_s if message.first else script.rebuild_s
        self.kept[message.case] = spec
        per_call, f_per_call = sim.true_time(spec), sim.true_f_time(spec)
        number = message.number or max(1, math.ceil(1e-3 / per_call))
        f_number = message.f_number or max(1, math.ceil(1e-3 / f_per_call))
        built: dict[str, Any] = dict(
            case=message.case,
            number=number,
            f_number=f_number,
            per_call_s=per_call,
            f_per_call_s=f_per_call,
            build_s=1e-3,
        )
        if message.first:
            built.update(
                call=f"simulated {spec.backend}",
                first_call_s=first_call_s,
                f_first_call_s=1e-3,
                peak_memory_bytes=1 << 20,
                memory_estimate_bytes=1 << 20,
                n_outputs=1,
                rel_error=0.0,
                tolerance=1e-3,
                reference="exact",
            )
        return [
            (compiled, protocol.Progress(message.case, "first_call", first_call_s)),
            (compiled + 3e-3, protocol.Built(**built)),
        ]

    def _work(self, message: protocol.Message) -> list[Any]:
        sim, script = self.sim, self.sim.script
        if isinstance(message, protocol.Visit):
            spec = self.kept.get(message.case)
            if spec is None:
                return [protocol.Failed(message.case, f"LookupError: case {message.case} was not built")]
            label = spec.label()
            if any(k in label for k in script.dies_on_visit):
                return ["die"]
            if any(k in label for k in script.visit_hangs):
                return ["hang"]
            samples = self._samples(message.case, spec, message.samples, message.warm_calls, sim.true_time(spec))
            f_samples = self._samples(
                message.case, spec, message.f_samples, message.f_warm_calls, sim.true_f_time(spec), f=True
            )
            sim.clock.advance(3e-4)
            return [protocol.Sampled(message.case, samples, f_samples)]
        raise AssertionError(message)

    def _samples(
        self, case: int, spec: CaseSpec, count: int, warm_calls: int, true_s: float, f: bool = False
    ) -> list[float]:
        sim, n = self.sim, self.sim.noise
        rng = sim.rng
        if case not in self.offsets:
            self.offsets[case] = rng.normal(0, n.process_sd) if n.process_sd else 0.0
        number = max(1, math.ceil(1e-3 / true_s))
        sim.clock.advance(warm_calls * true_s)
        shared = rng.normal(0, n.visit_sd) if n.visit_sd else 0.0
        out = []
        for k in range(count):
            t = sim.clock()
            log_factor = sim.machine.log_slowdown(t) + shared + self.offsets[case]
            if n.sample_sd:
                log_factor += rng.normal(0, n.sample_sd)
            per_call = true_s * math.exp(log_factor)
            if n.preempt_p and rng.random() < n.preempt_p:
                per_call *= rng.uniform(2, 5)
            if k == 0 and warm_calls == 0 and n.cold_s:
                per_call += n.cold_s / number
            out.append(per_call)
            sim.clock.advance(per_call * number)
        return out


class Simulation:
    """A simulated machine, its cases' true times, and the fake workers a ``Scheduler`` starts on it."""

    def __init__(
        self,
        times: dict[str, float] | Callable[[CaseSpec], float],
        noise: Noise | None = None,
        script: Script | None = None,
        seed: int = 0,
        f_time: float = 1e-5,
    ) -> None:
        self.clock = FakeClock()
        self.noise = noise or Noise()
        self.script = script or Script()
        self.rng = np.random.default_rng(seed)
        self.machine = Machine(self.noise, self.clock, seed + 1)
        self.times = times
        self.f_time = f_time
        self.workers: list[FakeWorker] = []
        self.started: list[tuple] = []
        self.log: list[tuple[float, tuple, protocol.Message]] = []  # every request, when it was sent
        self.received: list[tuple[float, tuple, Any]] = []  # every answer, when it came
        self.moves: list[tuple[float, tuple, frozenset[int]]] = []  # a worker pinned to other CPUs

    def true_time(self, spec: CaseSpec) -> float:
        if callable(self.times):
            return self.times(spec)
        for key, value in self.times.items():
            if key in spec.label():
                return value
        return 1e-4

    def true_f_time(self, spec: CaseSpec) -> float:
        return self.f_time

    def start_worker(self, key: tuple, backends: list[str]) -> FakeWorker:
        worker = FakeWorker(key, backends, self)
        self.workers.append(worker)
        return worker


__all__ = ["FakeClock", "FakeWorker", "Machine", "Noise", "Script", "Simulation"]


def simulated_run(
    specs: list[CaseSpec],
    times: dict[str, float] | Callable[[CaseSpec], float],
    noise: Noise,
    seed: int = 0,
    script: Script | None = None,
    **settings: Any,
) -> tuple[RunOutcome, Simulation]:
    """A whole ``Scheduler`` run on a simulated machine: (its outcome, the simulation)."""
    from adbench.engine.runner import Scheduler
    from adbench.engine.settings import RunSettings

    sim = Simulation(times, noise, script, seed)
    base = dict(time_budget_s=30.0, min_visits=6, workers=1, cpus=frozenset({0}), build_cpus=frozenset({0}))
    scheduler = Scheduler(specs, RunSettings(**{**base, **settings}), clock=sim.clock, start_worker=sim.start_worker)
    return scheduler.run(), sim


def pair_checks(outcome: RunOutcome, sim: Simulation, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Every paired comparison of a simulated run against the truth: whether its interval covers the true
    ratio, its verdict, and whether the true ratio says the two differ."""
    from adbench.engine.estimates import Estimate, decide

    specs = [
        CaseSpec(
            r.problem,
            r.size,
            r.backend,
            as_mode(r.mode),
            as_dtype(r.dtype),
            r.seed,
            as_operation(r.operation),
            r.chunk_size,
            r.device,
            r.replicate,
        )
        for r in outcome.results
    ]
    out = []
    for a, b, log, se, df, n in outcome.comparisons:
        if se is None:
            continue
        e = Estimate(log, se, df if df is not None else float("inf"), n)
        lo, hi = e.log_interval(confidence)
        truth = math.log(sim.true_time(specs[a]) / sim.true_time(specs[b]))
        out.append(
            {
                "a": a,
                "b": b,
                "covered": lo <= truth <= hi,
                "verdict": decide(lo, hi),
                "truth": truth,
                "half_width": (hi - lo) / 2,
                "visits": n,
                "replicates": specs[a].replicate != specs[b].replicate
                and specs[a].label().split(" replicate")[0] == specs[b].label().split(" replicate")[0],
            }
        )
    return out
