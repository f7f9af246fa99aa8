"""One benchmark case — (problem, size, operation, backend, mode, dtype...) — built, checked and measured
the same way for the CLI's workers and the asv suite."""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from adbench.backends import NESTED, Direction, Dtype, ModeName, Operation, PreparedCase, get_backend
from adbench.backends._base import needs_scalar
from adbench.engine import memory
from adbench.engine.checking import check
from adbench.engine.timing import TARGET_SAMPLE_S, calibrate, time_block, timed_call
from adbench.problems import Problem, get_problem, list_problems


@dataclass(frozen=True)
class CaseSpec:
    """The grouping key of a result row; ``problem`` is a registered name or ``MODULE:FUNCTION``."""

    problem: str
    size: int
    backend: str
    mode: ModeName
    dtype: Dtype = "float32"
    seed: int = 0
    operation: Operation = "jacobian"
    chunk_size: int | None = None
    device: str = "cpu"
    # Measured again, as another case, in workers of its own (an A/A check of the engine: two
    # replicates of one case must not be called different).
    replicate: int = 0

    def label(self) -> str:
        chunk = f" chunk={self.chunk_size}" if self.chunk_size else ""
        device = f" {self.device}" if self.device != "cpu" else ""
        again = f" replicate {self.replicate}" if self.replicate else ""
        return (
            f"{self.problem}[n={self.size}] {self.operation} {self.backend}/{self.mode} "
            f"{self.dtype}{chunk}{device}{again}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def direction(problem: Problem, operation: str, n: int, m: int, seed: int) -> Direction:
    """The deterministic v (JVP, HVP) or u (VJP) of a case: standard normal, its own stream (or the
    problem's own HVP vector, where it declares one)."""
    if operation == "hvp" and problem.hvp_vector is not None:
        return Direction(v=np.asarray(problem.hvp_vector(n), np.float64))
    if operation in ("jvp", "hvp"):
        return Direction(v=problem._rng(seed, 2).standard_normal(n))
    if operation == "vjp":
        rng = problem._rng(seed, 3)
        return Direction(u=np.asarray(rng.standard_normal()) if problem.is_scalar(n) else rng.standard_normal(m))
    return Direction()


# -- memory ------------------------------------------------------------------------------------------
def _traced_peak(problem: Problem, n: int, seed: int) -> tuple[int, int]:
    """Peak bytes NumPy allocates while evaluating f at size n (tracemalloc sees NumPy's buffers), and m."""
    x = problem.inputs(n, seed)
    constants = problem.constants(x, seed)
    tracemalloc.start()
    try:
        y = problem.function(x, np, **constants)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, int(np.size(y))


def work_and_outputs(problem: Problem, n: int, seed: int = 0) -> tuple[int | None, int | None]:
    """f's largest intermediate in elements, and m, at size n: declared for registered problems,
    measured for a user's function at two small sizes and extrapolated (so a probe never costs
    what the case would)."""
    if problem.builtin:
        return problem.work_size(n), problem.n_outputs(n)
    if n <= 256:
        try:
            peak, m = _traced_peak(problem, n, seed)
        except Exception:  # noqa: BLE001 - f fails at n itself (any way user code can): the case will say how, guarded
            return None, None
        return max(peak // 8, n), m
    # Two small sizes, then a larger pair for a function that needs a minimum n (n >= 1000, say).
    for small in (128, max(128, n // 4)):
        try:
            (p1, m1), (p2, m2) = _traced_peak(problem, small, seed), _traced_peak(problem, 2 * small, seed)
            break
        except Exception:  # noqa: BLE001 - the user's f may fail any way at a small size: try the larger pair
            continue
    else:  # valid at neither pair: the case runs guarded by the watchdog only
        return None, None
    grow = lambda a, b: max(0.0, math.log(max(b, 1) / max(a, 1)) / math.log(2))  # noqa: E731
    peak = p2 * (n / (2 * small)) ** grow(p1, p2)
    m = round(m2 * (n / (2 * small)) ** grow(m1, m2))
    return max(int(peak // 8), n), max(m, 1)


def memory_estimate(spec: CaseSpec, problem: Problem | None = None) -> int | None:
    problem = problem or get_problem(spec.problem)
    work, m = work_and_outputs(problem, spec.size, spec.seed)
    if work is None or m is None:  # None together: f failed where it was probed
        return None
    colours = _colours(spec, problem) if spec.operation == "sparse-jacobian" and problem.sparsity else None
    return get_backend(spec.backend).memory_estimate(
        spec.size, m, work, np.dtype(spec.dtype).itemsize, spec.operation, spec.mode, spec.chunk_size, colours
    )


def _colours(spec: CaseSpec, problem: Problem) -> int | None:
    """The compressed passes a sparse-jacobian case makes (its colouring, cheap beside the case), for the estimate."""
    from adbench.sparsity import compression_for

    if spec.mode not in ("forward", "reverse", "central"):
        return None  # the hand-written baseline makes no passes
    x = problem.inputs(spec.size, spec.seed)
    return compression_for(
        problem, x, problem.constants(x, spec.seed), "forward" if spec.mode == "central" else spec.mode
    ).n_colours


def skip_reason(spec: CaseSpec, memory_limit_bytes: int | None) -> tuple[str | None, int | None]:
    """Why the case cannot run here (unsupported, or over the memory limit), and its memory estimate.

    May evaluate a user's function at small sizes; runs in the worker, guarded.
    """
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    reason = backend.supports(problem, spec.operation, spec.mode, None, spec.chunk_size, spec.device)
    estimate = memory_estimate(spec, problem) if reason is None else None
    if reason is None and memory_limit_bytes is not None and estimate is not None and estimate > memory_limit_bytes:
        reason = (
            f"estimated peak memory {estimate / 2**30:.1f} GiB exceeds the limit "
            f"{memory_limit_bytes / 2**30:.1f} GiB (--memory-limit)"
        )
    if reason is None:
        reason = needs_scalar(problem, spec.operation, spec.size)
    return reason, estimate


# -- building and warming --------------------------------------------------------------------------------
def build_case(spec: CaseSpec) -> tuple[Problem, PreparedCase, dict[str, Any]]:
    """The problem, its ready-to-time callables, and its inputs (x, constants, direction)."""
    problem = get_problem(spec.problem)
    x = problem.inputs(spec.size, spec.seed)
    constants = problem.constants(x, spec.seed)
    m = problem.known_n_outputs(spec.size)
    if m is None and spec.operation == "vjp":
        m = problem.n_outputs(spec.size)
    d = direction(problem, spec.operation, spec.size, m or 1, spec.seed)
    prepared = get_backend(spec.backend).prepare(
        problem, x, spec.operation, spec.mode, spec.dtype, constants, d, chunk_size=spec.chunk_size, device=spec.device
    )
    return problem, prepared, {"x": x, "constants": constants, "direction": d}


def warm_up_spec(spec: CaseSpec) -> CaseSpec | None:
    """The registry's smallest other case on the same backend, operation, mode and dtype."""
    backend = get_backend(spec.backend)
    candidates = sorted((min(p.sizes), p.name) for p in list_problems() if p.builtin)
    for n, name in candidates:
        problem = get_problem(name)
        if (name, n) == (spec.problem, spec.size):
            continue
        if backend.supports(problem, spec.operation, spec.mode, n, spec.chunk_size, spec.device) is None:
            size = n if spec.chunk_size is None else max(n, 2)
            return CaseSpec(
                name, size, spec.backend, spec.mode, spec.dtype, spec.seed, spec.operation, spec.chunk_size, spec.device
            )  # never a replicate: a warm-up is not measured
    return None


def warm_up(spec: CaseSpec) -> None:
    """Run another small case first, so ``spec``'s first call excludes the framework's one-time start
    (XLA's client, torch.func's lazy imports) and keeps only its own trace, compile and run.

    A nested case warms up on the perturbation-confusion probe (the same ``ad`` service, a tiny
    function, and the correctness gate's verdict kept for the check): the other nested problem would
    cost as much as the case itself."""
    if spec.operation == NESTED and spec.mode != "manual":
        from adbench.engine.confusion import confusion

        confusion(get_backend(spec.backend), spec.mode, spec.dtype, spec.device)
        return
    other = warm_up_spec(spec)
    if other is not None:
        build_case(other)[1].run()


# -- the first build, later builds and visits -------------------------------------------------------------
def first_build(
    spec: CaseSpec, memory_limit_bytes: int | None = None, on_first_call: Callable[[float], None] | None = None
) -> tuple[dict[str, Any], PreparedCase | None]:
    """The run's first build of a case in this process: what it says (a ``Built`` message's fields,
    or ``skipped``) and the prepared case, ready to visit.

    The order is the fairness: f's first call and the operation's first call on the freshly built
    case (after another case has warmed the framework, in the worker), then the calibration of
    both; ``on_first_call`` hears when the operation's first call (trace, compile, run) is done.
    Peak memory counts the first calls and the calibration, not the reference check that follows.
    """
    reason, estimate = skip_reason(spec, memory_limit_bytes)
    if reason is not None:
        return {"skipped": reason, "memory_estimate_bytes": estimate}, None
    t_build = time.perf_counter()
    problem, prepared, inputs = build_case(spec)
    answer: dict[str, Any] = {
        "build_s": time.perf_counter() - t_build,
        "call": prepared.label or None,
        "colours": prepared.colours,
        "memory_estimate_bytes": estimate,
    }
    backend = get_backend(spec.backend)
    baseline = memory.reset_peak()
    device_peak = backend.device_peak(spec.device)
    # A nested case has no f apart from its call (f is what differentiates): no f time, no time/f.
    f = prepared.function
    answer["f_first_call_s"] = timed_call(f, prepared.sync)[0] if f is not None else None
    before = backend.compile_cache_counts()
    answer["first_call_s"], out = timed_call(prepared.call, prepared.sync)
    answer["first_call_cache"] = cache_label(before, backend.compile_cache_counts())
    if on_first_call is not None:
        on_first_call(answer["first_call_s"])
    if backend.first_call_is_steady and answer["first_call_s"] >= SLOW_FIRST_CALL_S:
        # One call a sample, whatever a calibration would find; with nothing traced or compiled the first call
        # already tells what the next costs (for planning visits only), so its extra call is skipped: up to a second
        # each on ba's Jacobians under HIPS autograd, on the critical path of a run's first builds.
        answer["number"], answer["per_call_s"] = 1, answer["first_call_s"]
    else:
        answer["number"], answer["per_call_s"] = _calibrated(prepared.call, prepared.sync)
    answer["peak_memory_bytes"] = device_peak() if device_peak else memory.peak_since(baseline)
    # No f (a nested case): one call per f sample and no cost, so a visit takes no f samples.
    answer["f_number"], answer["f_per_call_s"] = _calibrated(f, prepared.sync) if f is not None else (1, 0.0)
    answer.update(check(spec, problem, prepared.to_numpy(out), inputs))
    return answer, prepared


# A first call this long is a sample of one call at any calibration (TARGET_SAMPLE_S is 1 ms).
SLOW_FIRST_CALL_S = 0.1


def cache_label(before: tuple[int, int] | None, after: tuple[int, int] | None) -> str | None:
    """What a call's compiles were, from the framework's persistent-cache (hits, misses) before and after it:
    ``cold`` (compiled), ``hit`` (loaded from the cache), ``partial`` (both), None (nothing went through it)."""
    if before is None or after is None:
        return None
    hits, misses = after[0] - before[0], after[1] - before[1]
    if hits and misses:
        return "partial"
    return "hit" if hits else "cold" if misses else None


def _calibrated(call: Callable[[], Any], sync: Any) -> tuple[int, float]:
    """Calls per sample so one lasts just over TARGET_SAMPLE_S: timeit's autorange (1, 2, 5, 10...) finds
    the scale, then the count is trimmed to the target (autorange overshoots by up to 2.5x, and a visit
    pays for every overshot millisecond)."""
    number, per_call = calibrate(call, sync)
    if number > 1:
        number = max(1, math.ceil(TARGET_SAMPLE_S / max(per_call, 1e-12)))
    return number, per_call


def rebuild(
    spec: CaseSpec, number: int, f_number: int, on_first_call: Callable[[float], None] | None = None
) -> tuple[dict[str, Any], PreparedCase]:
    """A case built again in another process (or after it was forgotten): called once (its compilation
    comes from the run's cache), then one block of each calibrated ``number`` to know its cost here."""
    t_build = time.perf_counter()
    _, prepared, _ = build_case(spec)
    build_s = time.perf_counter() - t_build
    first, _ = timed_call(prepared.call, prepared.sync)
    if on_first_call is not None:
        on_first_call(first)
    per_call = time_block(prepared.call, prepared.sync, number)
    f_per_call = 0.0
    if prepared.function is not None:  # a nested case has no f apart from its call
        timed_call(prepared.function, prepared.sync)
        f_per_call = time_block(prepared.function, prepared.sync, f_number)
    return {
        "build_s": build_s,
        "number": number,
        "f_number": f_number,
        "per_call_s": per_call,
        "f_per_call_s": f_per_call,
    }, prepared


def visit(
    prepared: PreparedCase,
    number: int,
    f_number: int,
    samples: int,
    f_samples: int,
    warm_calls: int = 0,
    f_warm_calls: int = 0,
) -> tuple[list[float], list[float]]:
    """One visit of a built case: untimed warm-up calls (a process that was idle starts cold: its first
    millisecond runs slower), ``samples`` blocks of ``number`` synced calls, then the same for f.
    The garbage collector is off throughout, as in timeit."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(warm_calls):
            timed_call(prepared.call, prepared.sync)
        op = [time_block(prepared.call, prepared.sync, number) for _ in range(samples)]
        fun = []
        if prepared.function is not None:  # a nested case has no f apart from its call
            for _ in range(f_warm_calls):
                timed_call(prepared.function, prepared.sync)
            fun = [time_block(prepared.function, prepared.sync, f_number) for _ in range(f_samples)]
    finally:
        if gc_was_enabled:
            gc.enable()
    return op, fun
