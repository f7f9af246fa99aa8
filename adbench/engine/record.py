"""The result record: one declared ``CaseResult`` per case, from which the CSV's columns and types derive."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from typing import Any


from adbench.engine.timing import Measurement, median_interval, ratio_interval

STATUSES = ("ok", "wrong", "error", "timeout", "memory", "skipped")
FAILED = ("error", "timeout", "memory")  # the case did not finish: exit status 1
# What each status means, for the README, `--help` and the report's legend.
STATUS_MEANING = {
    "ok": "ran, and its result matches the reference within the tolerance",
    "wrong": "ran and was timed, but its result is not finite or differs from the reference by more "
             "than the tolerance (or, for a nested case, its backend and composition failed the "
             "perturbation-confusion probe): shown, never ranked",
    "error": "raised an exception (the message is kept), or its worker process died",
    "timeout": "ran longer than --timeout; its worker was replaced",
    "memory": "its worker's resident memory passed --memory-limit and it was killed",
    "skipped": "not run: unsupported here (with the reason), the framework is missing, or the memory "
               "estimate is over --memory-limit",
}


def column(dtype: str, doc: str, *, csv: bool = True, default: Any = None) -> Any:
    """A record field with its pandas dtype and meaning; ``csv=False`` keeps it in the JSON sidecar only."""
    return field(default=default, metadata={"dtype": dtype, "doc": doc, "csv": csv})


def _list() -> Any:
    return field(default_factory=list, metadata={"dtype": "object", "doc": "", "csv": False})


@dataclass
class CaseResult:
    """Everything known about one case: its spec, status, measurements, checks and memory."""

    # -- the case ------------------------------------------------------------------------------
    run_id: str = column("string", "the run this row belongs to (also in the JSON sidecar)")
    problem: str = column("string", "registered name, or MODULE:FUNCTION for a user's function")
    preset: str = column("string", "what the size means for a problem with presets (D=2,K=5)")
    size: int = column("Int64", "the input size n of the case")
    n_inputs: int = column("Int64", "n")
    n_outputs: int = column("Int64", "m (1 for a scalar)")
    operation: str = column("string", "jacobian, jvp, vjp, hvp, hessian, sparse-jacobian or nested")
    backend: str = column("string", "adbench backend")
    framework: str = column("string", "the framework behind it (numpy for the baselines)")
    mode: str = column("string", "forward/reverse, a composition (forward-over-reverse...), manual or central")
    call: str = column("string", "the call that was timed, as the framework's users write it (jax.jit(jax.grad(f)))")
    dtype: str = column("string", "float32 or float64")
    device: str = column("string", "cpu or cuda")
    chunk_size: int = column("Int64", "basis vectors per vectorised pass; empty when not chunked")
    colours: int = column("Int64", "sparse-jacobian: colours of the colouring, i.e. compressed passes per call "
                                   "(JVPs forward, VJPs reverse, difference pairs central)")
    threads: int = column("Int64", "threads every framework was given")
    seed: int = column("Int64", "seed of the deterministic inputs")
    # -- what happened ---------------------------------------------------------------------------
    status: str = column("string", "ok, wrong, error, timeout, memory or skipped", default="ok")
    error: str = column("string", "why the case is not ok: exception type and message, or the reason")
    # -- the operation's timing (seconds per call) --------------------------------------------------
    rounds: int = column("Int64", "rounds measured, each in a fresh worker process")
    samples: int = column("Int64", "samples over all rounds")
    number: int = column("Int64", "calls per sample (calibrated to >= 1 ms)")
    first_call_s: float = column("float64", "first call of a freshly built case in a fresh process (trace + "
                                            "compile + run), from the first round: later rounds reuse its "
                                            "compilations")
    median_s: float = column("float64", "median of all samples: the headline")
    ci_low_s: float = column("float64", "95% interval of the median: the wider of a bootstrap over rounds and samples and a t-interval over log round medians")
    ci_high_s: float = column("float64", "upper end of that interval")
    iqr_s: float = column("float64", "interquartile range of the samples")
    min_s: float = column("float64", "fastest sample")
    max_s: float = column("float64", "slowest sample")
    mean_s: float = column("float64", "mean of the samples")
    noisy: bool = column("boolean", "IQR/median >= 10%")
    round_spread: float = column("float64", "slowest round's median / fastest round's")
    # -- f itself -----------------------------------------------------------------------------------
    f_first_call_s: float = column("float64", "f's first call on a fresh case")
    f_median_s: float = column("float64", "median time of f")
    f_ci_low_s: float = column("float64", "95% interval of f's median")
    f_ci_high_s: float = column("float64", "upper end of that interval")
    f_iqr_s: float = column("float64", "IQR of f's samples")
    f_min_s: float = column("float64", "f's fastest sample")
    j_over_f: float = column("float64", "time of the operation / time of f (ADBench's headline ratio)")
    j_over_f_ci_low: float = column("float64", "95% interval of that ratio")
    j_over_f_ci_high: float = column("float64", "upper end of that interval")
    # -- correctness --------------------------------------------------------------------------------
    rel_error: float = column("float64", "max |result - reference| / max |reference|, in float64")
    tolerance: float = column("float64", "the largest rel_error that passes for this dtype and reference")
    reference: str = column("string", "exact (hand-written), approximate (finite differences) or none")
    # -- memory -------------------------------------------------------------------------------------
    peak_memory_bytes: int = column("Int64", "peak resident memory of the worker during the case above its "
                                             "level before it (GPU: the framework's peak allocation)")
    memory_estimate_bytes: int = column("Int64", "the estimate the memory guard used")
    # -- cost of measuring ----------------------------------------------------------------------------
    build_s: float = column("float64", "seconds to build the case (first round)")
    wall_s: float = column("float64", "seconds the case took, all rounds")
    # -- JSON sidecar only ----------------------------------------------------------------------------
    raw_samples: list = _list()  # per round: the operation's samples
    raw_f_samples: list = _list()  # per round: f's samples
    raw_first_calls: list = _list()  # per round
    traceback: str = column("string", "the whole traceback of an error", csv=False)

    # -- building it up ---------------------------------------------------------------------------
    def add_round(self, answer: dict[str, Any]) -> None:
        """One round's measurements, as a worker sent them."""
        self.raw_samples.append(list(answer["samples"]))
        self.raw_f_samples.append(list(answer["f_samples"]))
        self.raw_first_calls.append(answer["first_call_s"])
        for key in ("call", "colours", "number", "n_outputs", "f_first_call_s", "peak_memory_bytes", "memory_estimate_bytes",
                    "build_s", "rel_error", "tolerance", "reference"):
            if key not in answer:
                continue
            value = answer[key]
            if key == "peak_memory_bytes" and value is not None and self.peak_memory_bytes is not None:
                value = max(value, self.peak_memory_bytes)  # a peak over all rounds
            elif key in ("call", "colours", "f_first_call_s", "build_s", "rel_error", "tolerance", "reference",
                         "memory_estimate_bytes") and getattr(self, key) is not None:
                continue  # the first round's: the only one on a process that never ran this case
            setattr(self, key, value)
        if answer.get("status") == "wrong" and self.status == "ok":
            self.status, self.error = "wrong", answer.get("error")

    def fail(self, status: str, error: str, traceback: str | None = None) -> None:
        self.status, self.error = status, error
        if traceback:
            self.traceback = traceback

    def summarize(self, intervals: bool = True) -> None:
        """Statistics over every round's samples; intervals cost a bootstrap, so they are optional."""
        rounds = [r for r in self.raw_samples if r]
        self.rounds = len(rounds) or None
        if not rounds:
            return
        pooled = Measurement([s for r in rounds for s in r], number=self.number or 1)
        self.samples = len(pooled.samples)
        self.median_s, self.iqr_s, self.noisy = pooled.median, pooled.iqr, pooled.noisy
        self.min_s, self.max_s, self.mean_s = pooled.min, pooled.max, pooled.mean
        medians = [statistics.median(r) for r in rounds]
        self.round_spread = max(medians) / min(medians) if min(medians) > 0 else None
        # The first round's: later rounds share the run's compilation cache, so theirs are not first calls.
        self.first_call_s = self.raw_first_calls[0] if self.raw_first_calls else None
        f_rounds = [r for r in self.raw_f_samples if r]
        if f_rounds:
            f = Measurement([s for r in f_rounds for s in r], number=1)
            self.f_median_s, self.f_iqr_s, self.f_min_s = f.median, f.iqr, f.min
            self.j_over_f = self.median_s / self.f_median_s if self.f_median_s > 0 else None
        if intervals:
            self.ci_low_s, self.ci_high_s = median_interval(rounds)
            if f_rounds:
                self.f_ci_low_s, self.f_ci_high_s = median_interval(f_rounds)
                lo, hi = ratio_interval((self.ci_low_s, self.ci_high_s), (self.f_ci_low_s, self.f_ci_high_s))
                self.j_over_f_ci_low, self.j_over_f_ci_high = (lo, hi) if math.isfinite(lo) else (None, None)

    def row(self) -> dict[str, Any]:
        """The CSV row."""
        return {name: getattr(self, name) for name in COLUMNS}

    def sidecar(self) -> dict[str, Any]:
        """What the JSON sidecar keeps per case: the key, the raw samples, the traceback."""
        keep = ("problem", "size", "operation", "backend", "mode", "dtype", "device", "chunk_size", "status")
        return {**{k: getattr(self, k) for k in keep},
                **{k: getattr(self, k) for k in ("raw_samples", "raw_f_samples", "raw_first_calls", "traceback")}}


SCHEMA: dict[str, str] = {f.name: f.metadata["dtype"] for f in fields(CaseResult) if f.metadata.get("csv", True)}
COLUMNS: list[str] = list(SCHEMA)
DOCS: dict[str, str] = {f.name: f.metadata["doc"] for f in fields(CaseResult) if f.metadata.get("csv", True)}
