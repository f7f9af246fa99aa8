"""From visits to answers: each case's time, f's time and time/f, and the paired ratio of every two cases of a
group, each with a standard error on the log scale whose variance is moderated across the run (limma's
empirical Bayes, ``adbench.engine.stats``); and the run's variance components, level by level.

A visit is a handful of calibrated samples of a case; its statistic (the fastest of its samples by
default) is one observation. A case's time is the mean of its log visit statistics per worker,
averaged over worker sets. Two cases of one group are visited back to back in every pass, so the
ratio of two cases is estimated from the log-ratios of their visits matched in time (same worker
set, same pass), where what the moment shares (a busy neighbour, a slow second) cancels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from adbench.engine import stats
from adbench.engine.noise import drift_by_stretch

CONFIDENCE = 0.95

K = TypeVar("K")  # a case (its index) or a pair of cases


# The per-visit statistic: what one visit's samples say about the case.
def _median(s: Sequence[float]) -> float:
    ordered = sorted(s)  # a visit has a handful of samples: plain Python beats numpy's call overhead
    k = len(ordered)
    return float(ordered[k // 2] if k % 2 else (ordered[k // 2 - 1] + ordered[k // 2]) / 2)


def _low_quantile(s: Sequence[float], q: float = 0.25) -> float:
    ordered = sorted(s)  # linear interpolation, as numpy's default
    position = q * (len(ordered) - 1)
    lo = int(math.floor(position))
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo))


STATISTICS: dict[str, Callable[[Sequence[float]], float]] = {
    "median": _median,
    "min": lambda s: float(min(s)),
    "q25": _low_quantile,
}
# The minimum of a visit's few samples, by evidence (tools/bench_the_bench.py --long, this machine):
# the same reproduction as the median, 30 % (quiet) to 45 % (beside a noisy neighbour) smaller paired
# standard errors, so more gaps resolved in the same time. Noise only ever adds time, and a sample a
# neighbour preempted is the slowest of its visit (Chen & Revels 2016).
DEFAULT_STATISTIC = "min"
STATISTIC_WORDS = {
    "median": "the median of each visit's samples",
    "min": "the fastest of each visit's samples",
    "q25": "the 25th percentile of each visit's samples",
}
MAX_AUTOCORRELATION = 0.9


@dataclass(frozen=True)
class Estimate:
    """An estimate on the log scale (of a time, or of a ratio of two), its standard error and degrees of freedom."""

    log: float
    se: float
    df: float
    n: int = 0  # observations (visits, or matched pairs of visits)

    @property
    def value(self) -> float:
        return math.exp(self.log)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The interval of the value (a time or a ratio), the estimate ± t × se on the log scale."""
        if not (math.isfinite(self.se) and self.df > 0):
            return float("nan"), float("nan")
        half = stats.t_critical(self.df, confidence) * self.se
        return math.exp(self.log - half), math.exp(self.log + half)

    def log_interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        lo, hi = self.interval(confidence)
        return (math.log(lo), math.log(hi)) if lo > 0 else (float("nan"), float("nan"))

    def as_list(self) -> list[float | int | None]:
        return [_num(self.log), _num(self.se), _num(self.df), self.n]

    @classmethod
    def from_list(cls, values: Sequence[Any]) -> Estimate:
        log, se, df, n = values
        return cls(float(log), float("nan") if se is None else float(se), math.inf if df is None else float(df), int(n))


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def unpaired(a: Estimate, b: Estimate) -> Estimate:
    """log(a / b) from two independent estimates: standard errors combined, Welch-Satterthwaite's df."""
    se2 = a.se**2 + b.se**2
    if not math.isfinite(se2):
        return Estimate(a.log - b.log, float("nan"), 0.0, min(a.n, b.n))
    parts = [(s**2) ** 2 / d for s, d in ((a.se, a.df), (b.se, b.df)) if d > 0 and math.isfinite(d)]
    df = se2**2 / sum(parts) if parts and sum(parts) > 0 else math.inf
    return Estimate(a.log - b.log, math.sqrt(se2), df, min(a.n, b.n))


# -- one quantity's raw variance ------------------------------------------------------------------------
@dataclass
class Raw:
    """One quantity's observations summarised: the estimate, the within-worker variance and its df, the
    worker means, and the lag-1 products of its residuals in time order (for the autocorrelation)."""

    log: float
    n: int
    s2: float  # variance of an observation within a worker set
    df: float
    factor: float  # Var(estimate) = s2 * factor when workers do not differ
    worker_means: np.ndarray
    inverse_counts: float  # mean of 1/n_w over worker sets
    lag_products: float
    squares: float
    # With two worker sets or more: the worker sets' excess variance from the passes that visited
    # the quantity in every set (a pass × worker-set layout, so the machine's drift, shared within a
    # pass, cancels): (MS_worker − MS_interaction) / passes. None with one set.
    worker_excess: float | None = None

    @classmethod
    def of(cls, values: np.ndarray, workers: np.ndarray, order: np.ndarray) -> Raw | None:
        if len(values) == 0:
            return None
        sets = np.unique(workers)
        means, counts, resid = [], [], np.empty_like(values)
        lag, squares = 0.0, 0.0
        for w in sets:
            mine = workers == w
            v = values[mine]
            m = float(v.mean())
            means.append(m)
            counts.append(len(v))
            r = v[np.argsort(order[mine], kind="stable")] - m
            resid[mine] = v - m
            lag += float(np.sum(r[1:] * r[:-1]))
            squares += float(np.sum(r * r))
        sizes = np.array(counts, dtype=float)
        df = len(values) - len(sets)
        s2 = float(np.sum(resid**2) / df) if df > 0 else float("nan")
        return cls(
            float(np.mean(means)),
            len(values),
            s2,
            float(df),
            float(np.sum(1 / sizes)) / len(sets) ** 2,
            np.array(means),
            float(np.mean(1 / sizes)),
            lag,
            squares,
            _worker_excess(values, workers, order),
        )


def _worker_excess(values: np.ndarray, workers: np.ndarray, order: np.ndarray) -> float | None:
    sets = np.unique(workers)
    if len(sets) < 2:
        return None
    table: dict[int, dict[int, float]] = {}
    for v, w, p in zip(values, workers, order):
        table.setdefault(int(p), {})[int(w)] = float(v)
    full = [p for p, row in table.items() if len(row) == len(sets)]
    if len(full) < 2:
        return None
    y = np.array([[table[p][int(w)] for w in sets] for p in full])  # passes x worker sets
    P, W = y.shape
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    ms_interaction = float(np.sum(resid**2)) / ((P - 1) * (W - 1))
    ms_worker = P * float(np.sum((y.mean(axis=0) - y.mean()) ** 2)) / (W - 1)
    return (ms_worker - ms_interaction) / P


@dataclass
class Kind:
    """A kind of quantity (case times, f's times, time/f, ratios within one worker or across workers):
    the prior its variances are moderated toward, its residuals' autocorrelation in time and its
    worker-set variance, each fitted over every quantity of the kind."""

    name: str
    prior: stats.Prior = stats.NO_PRIOR
    autocorrelation: float = 0.0
    worker_s2: float = 0.0
    worker_measured: bool = False  # some quantity was measured in more than one worker set
    quantities: int = 0

    @property
    def inflation(self) -> float:
        """How much more the mean of autocorrelated observations varies than that of independent ones (AR(1))."""
        rho = min(max(self.autocorrelation, 0.0), MAX_AUTOCORRELATION)
        return (1 + rho) / (1 - rho)

    def fit(self, raws: list[Raw]) -> Kind:
        usable = [r for r in raws if r.df > 0 and math.isfinite(r.s2)]
        self.quantities = len(raws)
        self.prior = stats.fit_prior([r.s2 for r in usable], [r.df for r in usable])
        squares = sum(r.squares for r in usable)
        self.autocorrelation = sum(r.lag_products for r in usable) / squares if squares > 0 else 0.0
        # Worker sets: the spread of a quantity's worker means beyond what its visits' variance predicts (matched
        # pass by pass, so drift cancels), pooled over the kind: a property of the machine more than of one case.
        excess = [r.worker_excess for r in raws if r.worker_excess is not None]
        self.worker_s2 = max(0.0, float(np.mean(excess))) if excess else 0.0
        self.worker_measured = bool(excess)
        return self

    def estimate(self, raw: Raw | None) -> Estimate | None:
        if raw is None:
            return None
        s2, df = stats.moderate(raw.s2, raw.df, self.prior)
        if not math.isfinite(s2):
            return Estimate(raw.log, float("nan"), 0.0, raw.n)
        se2 = s2 * raw.factor * self.inflation + self.worker_s2 / len(raw.worker_means)
        return Estimate(raw.log, math.sqrt(se2), df, raw.n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "prior_s2": _num(self.prior.s2),
            "prior_df": _num(self.prior.df),
            "prior_sd_percent": _num(100 * math.sqrt(self.prior.s2)) if self.prior.s2 > 0 else None,
            "autocorrelation": round(self.autocorrelation, 4),
            "inflation": round(self.inflation, 4),
            "worker_sd_percent": round(100 * math.sqrt(self.worker_s2), 3) if self.worker_measured else None,
            "quantities": self.quantities,
        }


# -- a run's visits ----------------------------------------------------------------------------------------
@dataclass
class CaseVisits:
    """What estimation needs of one case: its group, the worker it shares with others, its visits."""

    group: tuple
    worker: tuple  # (framework, replicate): cases with the same one share a process per worker set
    visits: list[dict[str, Any]]  # each: worker (set), pass, samples, f_samples
    timed: bool = True  # False for a case that failed: its visits are not estimated


@dataclass
class Analysis:
    """Every estimate of a run, and what it says about the machine."""

    statistic: str
    times: dict[int, Estimate] = field(default_factory=dict)
    f_times: dict[int, Estimate] = field(default_factory=dict)
    over_f: dict[int, Estimate] = field(default_factory=dict)
    pairs: dict[tuple[int, int], Estimate] = field(default_factory=dict)  # (a, b) -> log(a / b), a < b
    kinds: dict[str, Kind] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)

    def pair(self, a: int, b: int) -> Estimate | None:
        """log(time a / time b), paired where the two were visited together, else combined unpaired."""
        if (a, b) in self.pairs:
            return self.pairs[(a, b)]
        if (b, a) in self.pairs:
            e = self.pairs[(b, a)]
            return Estimate(-e.log, e.se, e.df, e.n)
        ea, eb = self.times.get(a), self.times.get(b)
        return unpaired(ea, eb) if ea is not None and eb is not None else None

    def comparisons(self) -> list[list]:
        """The sidecar's paired comparisons: [a, b, log(a/b), se, df, matched visits]."""
        return [[a, b, *e.as_list()] for (a, b), e in sorted(self.pairs.items())]

    def variance(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "confidence": CONFIDENCE,
            "components": self.components,
            "kinds": {name: k.as_dict() for name, k in self.kinds.items()},
        }


def _observations(visits: list[dict[str, Any]], stat: Callable, key: str = "samples") -> dict[tuple[int, int], float]:
    """(worker set, pass) -> log of the visit's statistic."""
    out = {}
    for v in visits:
        s = v.get(key) or []
        if s and min(s) > 0:
            out[(int(v["worker"]), int(v["pass"]))] = math.log(stat(s))
    return out


def _raw(obs: dict[tuple[int, int], float]) -> Raw | None:
    if not obs:
        return None
    keys = list(obs)
    return Raw.of(np.array([obs[k] for k in keys]), np.array([k[0] for k in keys]), np.array([k[1] for k in keys]))


def _estimates(out: Analysis, name: str, table: dict[K, Raw | None]) -> dict[K, Estimate]:
    """The estimates of one kind's cases (or pairs), its variance model fitted over them all and kept in ``out``."""
    kind = out.kinds[name] = Kind(name).fit([r for r in table.values() if r is not None])
    return {key: e for key, raw in table.items() if (e := kind.estimate(raw)) is not None}


def analyse(cases: Sequence[CaseVisits], statistic: str = DEFAULT_STATISTIC, pairs: bool = True) -> Analysis:
    """Estimates for every timed case and, with ``pairs``, every two timed cases of one group."""
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
    stat = STATISTICS[statistic]
    out = Analysis(statistic)
    op, fun, ratio = {}, {}, {}
    for i, c in enumerate(cases):
        if not c.timed or not c.visits:
            continue
        op[i] = _observations(c.visits, stat)
        fun[i] = _observations(c.visits, stat, "f_samples")
        ratio[i] = {k: op[i][k] - fun[i][k] for k in op[i] if k in fun[i]}
    raws = {
        "time": {i: _raw(o) for i, o in op.items()},
        "f": {i: _raw(o) for i, o in fun.items()},
        "time/f": {i: _raw(o) for i, o in ratio.items()},
    }
    pair_raws: dict[str, dict[tuple[int, int], Raw | None]] = {"same worker": {}, "other worker": {}}
    if pairs:
        groups: dict[tuple, list[int]] = {}
        for i in op:
            groups.setdefault(cases[i].group, []).append(i)
        for members in groups.values():
            for x, a in enumerate(members):
                for b in members[x + 1 :]:
                    matched = {k: op[a][k] - op[b][k] for k in op[a] if k in op[b]}
                    if len(matched) < 2:
                        continue
                    which = "same worker" if cases[a].worker == cases[b].worker else "other worker"
                    pair_raws[which][(a, b)] = _raw(matched)
    for name, table in raws.items():
        {"time": out.times, "f": out.f_times, "time/f": out.over_f}[name].update(_estimates(out, name, table))
    for name, pair_table in pair_raws.items():
        out.pairs.update(_estimates(out, name, pair_table))
    out.components = components([c for c in cases if c.timed], stat, out)
    return out


MAD_TO_SD = 1.4826  # a normal's sd over its median absolute deviation


def _robust_sd(deviations: list[float]) -> float | None:
    """An sd from absolute deviations (1.4826 × their median): one preempted sample in three does not
    make a visit look noisy."""
    return MAD_TO_SD * float(np.median(deviations)) if deviations else None


def components(cases: Iterable[CaseVisits], stat: Callable, analysis: Analysis | None = None) -> dict[str, Any]:
    """The run's variance, level by level, as sds of log times in percent: samples within a visit and calls within
    a sample (a sample is the mean of ``number`` calls; robust, from median absolute deviations), visits within a
    worker and worker sets (the pooled, moderated estimates), paired visits, and the machine's drift in the run."""
    within, calls, drift_points, drifting = [], [], [], 0
    for c in cases:
        for v in c.visits:
            s = np.asarray(v.get("samples") or [], dtype=float)
            if len(s) > 1 and s.min() > 0:
                logs = np.log(s)
                dev = np.abs(logs - np.median(logs))
                if len(dev) % 2:
                    dev = np.delete(dev, int(np.argmin(dev)))  # the median itself
                within += dev.tolist()
                if v.get("number"):
                    calls += (dev * math.sqrt(float(v["number"]))).tolist()
        obs = _observations(c.visits, stat)
        if len(obs) > 2:
            drifting += 1
            middle = float(np.median(list(obs.values())))
            drift_points += [(k[1], value - middle) for k, value in obs.items()]
    by_pass: dict[int, list[float]] = {}
    for p, r in drift_points:
        by_pass.setdefault(p, []).append(r)
    drift = drift_by_stretch(by_pass, drifting)  # stretches of a full pass's worth of visits
    pct = lambda sd: round(100 * sd, 3) if sd is not None else None  # noqa: E731
    out = {
        "samples_within_visit_sd_percent": pct(_robust_sd(within)),
        "calls_within_sample_sd_percent": pct(_robust_sd(calls)),
        "visits": sum(len(c.visits) for c in cases),
        "drift_range_percent": round(100 * (math.exp(max(drift) - min(drift)) - 1), 2) if len(drift) > 1 else None,
        "drift_by_stretch_percent": [round(100 * (math.exp(d) - 1), 2) for d in drift],
    }
    if analysis is not None:
        time = analysis.kinds.get("time")
        if time is not None:
            out["visits_within_worker_sd_percent"] = (
                round(100 * math.sqrt(time.prior.s2), 3) if time.prior.s2 > 0 else None
            )
            # One worker set measures no worker level: None, not a zero.
            out["worker_sets_sd_percent"] = round(100 * math.sqrt(time.worker_s2), 3) if time.worker_measured else None
            out["time_autocorrelation"] = round(time.autocorrelation, 4)
        for name in ("same worker", "other worker"):
            k = analysis.kinds.get(name)
            if k is not None and k.prior.s2 > 0:
                out[f"paired_{name.replace(' ', '_')}_sd_percent"] = round(100 * math.sqrt(k.prior.s2), 3)
    return out


def per_case(visits: list[dict[str, Any]], statistic: str = DEFAULT_STATISTIC) -> dict[str, Any]:
    """One case's own variance at each level, for its sidecar entry (no pooling)."""
    stat = STATISTICS[statistic]
    within = [float(np.var(np.log(v["samples"]), ddof=1)) for v in visits if len(v.get("samples") or []) > 1]
    raw = _raw(_observations(visits, stat))
    out: dict[str, Any] = {
        "samples_within_visit_sd_percent": round(100 * math.sqrt(float(np.mean(within))), 3) if within else None
    }
    if raw is not None:
        out["visits_within_worker_sd_percent"] = round(100 * math.sqrt(raw.s2), 3) if raw.df > 0 else None
        if len(raw.worker_means) > 1:
            out["worker_means_sd_percent"] = round(100 * float(np.std(raw.worker_means, ddof=1)), 3)
    return out


__all__ = ["Analysis", "CaseVisits", "Estimate", "Kind", "STATISTICS", "analyse", "components", "per_case", "unpaired"]


# -- the verdict rule --------------------------------------------------------------------------------------
# Two measurements whose ratio interval lies inside [1/TIE, TIE] are the same speed, as far as anyone
# should care: a tie, before either is called the winner. Overlapping intervals that reach beyond
# it are "not resolved": the data do not say.
TIE = 1.05


def decide(log_low: float, log_high: float, tie: float = TIE) -> str | None:
    """The verdict on a 95 % interval of log(a / b): "tie" when it lies within ±log(tie) (first),
    "a" (a faster) or "b" when it excludes 0, else None (not resolved)."""
    if not (math.isfinite(log_low) and math.isfinite(log_high)):
        return None
    bound = math.log(tie)
    if -bound <= log_low and log_high <= bound:
        return "tie"
    if log_low > 0:
        return "b"
    if log_high < 0:
        return "a"
    return None


def settled(
    e: Estimate, win_confidence: float = CONFIDENCE, tie_confidence: float = CONFIDENCE, tie: float = TIE
) -> bool:
    """Whether more visits need not be spent on ``e``: a tie at ``tie_confidence`` or a winner at
    ``win_confidence`` (stricter, when it is one look of many)."""
    if decide(*e.log_interval(tie_confidence), tie) == "tie":
        return True
    return decide(*e.log_interval(win_confidence), tie) in ("a", "b")


def visits_to_resolve(
    e: Estimate, win_confidence: float = CONFIDENCE, tie_confidence: float = CONFIDENCE, tie: float = TIE
) -> float:
    """How many more matched visits would settle ``e`` (a winner at ``win_confidence`` or a tie at
    ``tie_confidence``) if it stayed as it is: its standard error shrinks as 1/sqrt(visits) and each visit adds
    a degree of freedom (the t quantile at today's few, 6.9 for 99.9 % at 5, would overstate the need fourfold).
    0 when it is settled; inf when it never would be."""
    if not (math.isfinite(e.se) and e.se > 0 and e.n > 0):
        return math.inf
    if settled(e, win_confidence, tie_confidence, tie):
        return 0.0
    room = math.log(tie) - abs(e.log)
    needed = []
    for gap, confidence in ((abs(e.log), win_confidence), (room, tie_confidence)):
        extra = 0.0
        for _ in range(8 if gap > 0 else 0):  # the fixed point of extra = n((t(df + extra) se / gap)^2 - 1)
            extra = max(0.0, e.n * ((stats.t_critical(max(e.df + extra, 1.0), confidence) * e.se / gap) ** 2 - 1))
        needed += [extra] if gap > 0 else []
    return max(1.0, min(needed)) if needed else math.inf


class Comparisons:
    """A result set's paired ratios, looked up by the two cases' keys (``adbench.engine.record.case_key``)."""

    def __init__(self, pairs: dict[tuple[tuple, tuple], Estimate] | None = None) -> None:
        self.pairs = pairs or {}

    def __len__(self) -> int:
        return len(self.pairs)

    def get(self, a: tuple, b: tuple) -> Estimate | None:
        """log(time a / time b), where the set measured it paired."""
        e = self.pairs.get((a, b))
        if e is not None:
            return e
        e = self.pairs.get((b, a))
        return Estimate(-e.log, e.se, e.df, e.n) if e is not None else None

    @classmethod
    def from_cases(cls, cases: Sequence[Any], comparisons: Iterable[Sequence[Any]]) -> Comparisons:
        """From the sidecar's form: ``cases`` (dicts or records with the key fields) and rows
        [a, b, log(a/b), se, df, n] that name them by position."""
        from adbench.engine.record import case_key

        keys = [case_key(c) for c in cases]
        pairs = {}
        for row in comparisons:
            a, b, *estimate = row
            if 0 <= a < len(keys) and 0 <= b < len(keys) and estimate[0] is not None:
                pairs[(keys[a], keys[b])] = Estimate.from_list(estimate)
        return cls(pairs)
