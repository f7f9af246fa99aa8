"""The result record: one declared ``CaseResult`` per case, from which the CSV's columns and types derive,
and the one vocabulary of statuses and case keys that the CLI, the results format and the report share."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from adbench.engine.timing import NOISY_IQR_RATIO, Measurement

# What became of a case: one of these, declared once (the type) and listed once (the tuple derived from it).
Status = Literal["ok", "wrong", "error", "timeout", "compile-timeout", "memory", "skipped"]
STATUSES: tuple[Status, ...] = get_args(Status)
FAILED = ("error", "timeout", "compile-timeout", "memory")  # the case did not finish: exit status 1
TIMED = ("ok", "wrong")  # a time was measured (a wrong one is shown, never ranked)
NOT_RUN = FAILED + ("skipped",)  # no time to draw
# What each status means, for the README, `--help` and the report's legend.
STATUS_MEANING = {
    "ok": "ran, and its result matches the reference within the tolerance",
    "wrong": "ran and was timed, but its result is not finite or differs from the reference by more "
    "than the tolerance (or, for a nested case, its backend and composition failed the "
    "perturbation-confusion probe): shown, never ranked",
    "error": "raised an exception (the message is kept), or its worker process died",
    "timeout": "a visit (or the build after its first call) ran longer than --timeout; its worker was replaced",
    "compile-timeout": "its first call (trace, compile, run) ran longer than --compile-timeout; its worker "
    "was replaced",
    "memory": "its worker's resident memory passed --memory-limit and it was killed",
    "skipped": "not run: unsupported here (with the reason), the framework is missing, or the memory "
    "estimate is over --memory-limit",
}
# What names a case: the grouping key of a row, in the CSV, the sidecar and the report alike.
SPEC_KEYS = ("problem", "size", "operation", "backend", "mode", "dtype", "device", "chunk_size", "replicate", "host")


def case_key(row: Any) -> tuple:
    """A case's key from a record, a dict or a pandas row: missing values as None, numbers as ints,
    no replicate as 0 (sets written before replicates existed)."""
    out = []
    for k in SPEC_KEYS:
        value: Any = row.get(k) if hasattr(row, "get") else getattr(row, k, None)
        if is_missing(value):
            value = 0 if k == "replicate" else None
        elif k in ("size", "chunk_size", "replicate"):
            value = int(value)
        else:
            value = str(value)
        out.append(value)
    return tuple(out)


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA (recognised by type, so the record never imports pandas)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"


def column(dtype: str, doc: str, *, csv: bool = True, default: Any = None) -> Any:
    """A record field with its pandas dtype and meaning; ``csv=False`` keeps it in the JSON sidecar only."""
    return field(default=default, metadata={"dtype": dtype, "doc": doc, "csv": csv})


def _list() -> Any:
    return field(default_factory=list, metadata={"dtype": "object", "doc": "", "csv": False})


@dataclass
class CaseResult:
    """Everything known about one case: its spec, status, measurements, checks and memory."""

    # -- the case ------------------------------------------------------------------------------
    # Every field defaults to None (a loader fills a blank record), hence ``| None``; the case's key and
    # setting are typed as always set, which every record the engine makes or loads holds (but host: a lost
    # cluster group's cases ran on none).
    run_id: str | None = column("string", "the run this row belongs to (also in the JSON sidecar)")
    problem: str = column("string", "registered name, or MODULE:FUNCTION for a user's function")
    preset: str | None = column("string", "what the size means for a problem with presets (D=2,K=5)")
    size: int = column("Int64", "the input size n of the case")
    n_inputs: int = column("Int64", "n")
    n_outputs: int | None = column("Int64", "m (1 for a scalar)")
    operation: str = column("string", "jacobian, jvp, vjp, hvp, hessian, sparse-jacobian or nested")
    backend: str = column("string", "adbench backend")
    framework: str = column("string", "the framework behind it (numpy for the baselines)")
    mode: str = column("string", "forward/reverse, a composition (forward-over-reverse...), manual or central")
    call: str | None = column(
        "string", "the call that was timed, as the framework's users write it (jax.jit(jax.grad(f)))"
    )
    dtype: str = column("string", "float32 or float64")
    device: str = column("string", "cpu or cuda")
    chunk_size: int | None = column("Int64", "basis vectors per vectorised pass; empty when not chunked")
    colours: int | None = column(
        "Int64",
        "sparse-jacobian: colours of the colouring, i.e. compressed passes per call "
        "(JVPs forward, VJPs reverse, difference pairs central)",
    )
    replicate: int = column(
        "Int64",
        "0; k for the k-th copy of a case measured in workers of its own (--replicates, an A/A check)",
        default=0,
    )
    threads: int = column("Int64", "threads every framework was given")
    seed: int = column("Int64", "seed of the deterministic inputs")
    host: str | None = column(
        "string",
        "the machine that measured the case (its hostname, or $ADBENCH_HOST); a cluster "
        "run or a merged set holds several, and no two hosts' cases are compared",
    )
    host_cpu: str | None = column("string", "the host's CPU model")
    host_gpu: str | None = column("string", "the GPU the case ran on (cuda cases: the host's GPU names); empty on CPU")
    framework_version: str | None = column(
        "string", "the version of the case's framework in the worker that measured it"
    )
    # -- what happened ---------------------------------------------------------------------------
    status: Status = column("string", "ok, wrong, error, timeout, compile-timeout, memory or skipped", default="ok")
    error: str | None = column("string", "why the case is not ok: exception type and message, or the reason")
    # -- the operation's timing (seconds per call) --------------------------------------------------
    workers: int | None = column("Int64", "worker processes the case was visited in")
    visits: int | None = column(
        "Int64", "visits: each a warm-up and a few calibrated samples, interleaved with the group's other cases"
    )
    samples: int | None = column("Int64", "samples over all visits")
    number: int | None = column("Int64", "calls per sample (calibrated to >= 1 ms)")
    first_call_s: float | None = column(
        "float64",
        "first call of a freshly built case in a fresh process (trace + "
        "compile + run); other workers and rebuilds reuse its compilations",
    )
    first_call_cache: str | None = column(
        "string",
        "where the first call's compiled code came from: cold (compiled "
        "then), hit (loaded from the framework's persistent compile "
        "cache: kept by an earlier run, or compiled earlier in this one "
        "for the same program; not a compile), partial (both); "
        "empty where nothing went through such a cache (no compiler, or "
        "one whose cache is not kept between runs)",
    )
    time_s: float | None = column(
        "float64",
        "the headline: the geometric mean over visits of each visit's statistic "
        "(its fastest sample unless the sidecar's settings say otherwise), "
        "averaged over worker sets",
    )
    ci_low_s: float | None = column(
        "float64",
        "95% interval of time_s (on the log scale: time_s / exp(t log_se), with the run's moderated variance)",
    )
    ci_high_s: float | None = column("float64", "upper end of that interval")
    log_se: float | None = column("float64", "standard error of log(time_s), moderated across the run's cases")
    log_df: float | None = column("float64", "degrees of freedom of log_se (the case's own plus the prior's)")
    median_s: float | None = column("float64", "median of all samples")
    iqr_s: float | None = column("float64", "interquartile range of all samples")
    min_s: float | None = column("float64", "fastest sample")
    max_s: float | None = column("float64", "slowest sample")
    mean_s: float | None = column("float64", "mean of the samples")
    noisy: bool | None = column("boolean", f"IQR/median of all samples >= {NOISY_IQR_RATIO:.0%}")
    visit_sd: float | None = column(
        "float64", "standard deviation of the log visit statistics (the case's own visit-to-visit spread, 0.05 = 5%)"
    )
    # -- f itself -----------------------------------------------------------------------------------
    # Alike in shape to the operation's columns above (a scan for repeated blocks pairs them): one declared
    # line per column is the schema written once, not knowledge written twice.
    f_first_call_s: float | None = column("float64", "f's first call on a fresh case")
    f_time_s: float | None = column("float64", "f's time, as time_s")
    f_median_s: float | None = column("float64", "median of f's samples")
    f_ci_low_s: float | None = column("float64", "95% interval of f_time_s")
    f_ci_high_s: float | None = column("float64", "upper end of that interval")
    f_iqr_s: float | None = column("float64", "IQR of f's samples")
    f_min_s: float | None = column("float64", "f's fastest sample")
    j_over_f: float | None = column(
        "float64",
        "time of the operation / time of f (ADBench's headline ratio), from the two measured in the same visits",
    )
    j_over_f_ci_low: float | None = column("float64", "95% interval of that ratio")
    j_over_f_ci_high: float | None = column("float64", "upper end of that interval")
    # -- correctness --------------------------------------------------------------------------------
    rel_error: float | None = column("float64", "max |result - reference| / max |reference|, in float64")
    tolerance: float | None = column("float64", "the largest rel_error that passes for this dtype and reference")
    reference: str | None = column("string", "exact (hand-written), approximate (finite differences) or none")
    # -- memory -------------------------------------------------------------------------------------
    peak_memory_bytes: int | None = column(
        "Int64",
        "peak resident memory of the worker during the case's first calls "
        "and calibration above its level before them (GPU: the "
        "framework's peak allocation)",
    )
    memory_estimate_bytes: int | None = column("Int64", "the estimate the memory guard used")
    # -- cost of measuring ----------------------------------------------------------------------------
    build_s: float | None = column("float64", "seconds to build the case (its first build)")
    wall_s: float | None = column("float64", "seconds the case took: builds and visits")
    # -- JSON sidecar only ----------------------------------------------------------------------------
    raw_visits: list = _list()  # each: worker set, pass, seconds into the run, samples, f_samples
    components: dict = field(default_factory=dict, metadata={"dtype": "object", "doc": "", "csv": False})
    traceback: str | None = column("string", "the whole traceback of an error", csv=False)

    # -- building it up ---------------------------------------------------------------------------
    def built(self, answer: dict[str, Any]) -> None:
        """A first build's answer (the fields of a ``Built`` message)."""
        for key in (
            "call",
            "colours",
            "number",
            "n_outputs",
            "first_call_s",
            "first_call_cache",
            "f_first_call_s",
            "peak_memory_bytes",
            "memory_estimate_bytes",
            "build_s",
            "rel_error",
            "tolerance",
            "reference",
        ):
            if answer.get(key) is not None:
                setattr(self, key, answer[key])
        if answer.get("status") == "wrong" and self.status == "ok":
            self.status, self.error = "wrong", answer.get("error")

    def add_visit(
        self,
        worker: int,
        pass_index: int,
        at_s: float,
        samples: list[float],
        f_samples: list[float],
        number: int | None = None,
        f_number: int | None = None,
    ) -> None:
        self.raw_visits.append(
            {
                "worker": worker,
                "pass": pass_index,
                "t": round(at_s, 4),
                "number": number,
                "f_number": f_number,
                "samples": list(samples),
                "f_samples": list(f_samples),
            }
        )

    def fail(self, status: Status, error: str, traceback: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
        self.status, self.error = status, error
        if traceback:
            self.traceback = traceback

    @property
    def timed(self) -> bool:
        return self.status in TIMED and bool(self.raw_visits)

    def summarize(
        self, time: Any = None, f_time: Any = None, over_f: Any = None, statistic: Any = statistics.median
    ) -> None:
        """Descriptive statistics over every visit's samples, and the run's estimates (an
        ``adbench.engine.estimates.Estimate`` each, or None) for the headline, f and time/f;
        ``statistic`` is the per-visit statistic, for the case's own visit-to-visit spread."""
        visits = [v for v in self.raw_visits if v["samples"]]
        self.visits = len(visits) or None
        self.workers = len({v["worker"] for v in visits}) or None
        if not visits:
            return
        pooled = Measurement([s for v in visits for s in v["samples"]], number=self.number or 1)
        self.samples = len(pooled.samples)
        self.median_s, self.iqr_s, self.noisy = pooled.median, pooled.iqr, pooled.noisy
        self.min_s, self.max_s, self.mean_s = pooled.min, pooled.max, pooled.mean
        f_pool = [s for v in visits for s in v["f_samples"]]
        if f_pool:
            f = Measurement(f_pool, number=1)
            self.f_median_s, self.f_iqr_s, self.f_min_s = f.median, f.iqr, f.min
        if time is not None:
            self.time_s = time.value
            self.log_se = time.se if math.isfinite(time.se) else None
            self.log_df = time.df if math.isfinite(time.df) else 1e9 if time.df > 0 else None
            self.ci_low_s, self.ci_high_s = _finite_pair(time.interval())
        logs = [math.log(statistic(v["samples"])) for v in visits]
        self.visit_sd = statistics.stdev(logs) if len(logs) > 1 else None
        if f_time is not None:
            self.f_time_s = f_time.value
            self.f_ci_low_s, self.f_ci_high_s = _finite_pair(f_time.interval())
        if over_f is not None:
            self.j_over_f = over_f.value
            self.j_over_f_ci_low, self.j_over_f_ci_high = _finite_pair(over_f.interval())
        elif self.time_s and self.f_time_s:
            self.j_over_f = self.time_s / self.f_time_s

    def row(self) -> dict[str, Any]:
        """The CSV row."""
        return {name: getattr(self, name) for name in COLUMNS}

    def sidecar(self) -> dict[str, Any]:
        """What the JSON sidecar keeps per case: the key, the visits, the traceback."""
        return {
            **{k: getattr(self, k) for k in (*SPEC_KEYS, "status")},
            "variance": self.components,
            "visits": self.raw_visits,
            "traceback": self.traceback,
        }


def _finite_pair(pair: tuple[float, float]) -> tuple[float | None, float | None]:
    lo, hi = pair
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else (None, None)


SCHEMA: dict[str, str] = {f.name: f.metadata["dtype"] for f in fields(CaseResult) if f.metadata.get("csv", True)}
COLUMNS: list[str] = list(SCHEMA)
DOCS: dict[str, str] = {f.name: f.metadata["doc"] for f in fields(CaseResult) if f.metadata.get("csv", True)}
