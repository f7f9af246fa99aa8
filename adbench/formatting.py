"""How numbers and verdicts are said, for ``compare`` and the report alike: times, ratios, ties, theory.

Every sentence that names a winner, a tie or an open question is built here, once: the CLI's table and
summary (``adbench.rendering``) and the report's headlines (``adbench.report.analysis``) only fill it in."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from adbench.backends.modes import passes
from adbench.engine.estimates import TIE as _TIE
from adbench.engine.estimates import Comparisons, Estimate, decide, unpaired
from adbench.engine.record import case_key
from adbench.engine.timing import NOISY_IQR_RATIO, ratio_interval

if TYPE_CHECKING:  # pandas only for the annotations: the CLI's rows are pandas already, imported by their caller
    import pandas as pd

# A ratio interval inside [1/TIE, TIE] is a tie (the data show them equal, as far as anyone should
# care), called before a winner; overlapping intervals that reach beyond it are "not resolved".
TIE = _TIE
NOISE_NOTE = f"~ noisy (IQR/median >= {NOISY_IQR_RATIO:.0%})"
# A set without intervals (results format 1, asv's medians) never names a winner.
NO_INTERVALS = "no winner named: this set records no intervals"
NO_INTERVALS_SHORT = "no intervals: no winner named"


def is_number(x: object) -> TypeGuard[float]:
    """A finite real number (NumPy's included), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) and math.isfinite(x)


def seconds(value: float | None, empty: str = "") -> str:
    """Seconds in the unit read fastest: 3 significant digits, ns to s (1.5 s, 32 µs, 870 ns)."""
    if not is_number(value):
        return empty
    value = float(f"{value:.3g}")  # rounded first, so 0.9996 s reads 1 s, not 1e+03 ms
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(value) >= scale or unit == "ns":
            v = value / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return empty


def integer(n: float | None, sep: str = "\u202f") -> str:
    """10 000 with a narrow no-break space (print style); ``sep=","`` for plain text."""
    return f"{int(n):,}".replace(",", sep) if is_number(n) else ""


def ratio(x: float | None, sep: str = ",") -> str:
    """3 significant digits without exponents: 1.37, 83, 14,400."""
    if not is_number(x):
        return ""
    if x >= 100:
        return integer(round(x, -int(math.floor(math.log10(x))) + 2), sep)
    return f"{x:.3g}"


def factor(x: float | None, sep: str = ",") -> str:
    """A ratio as a factor: 83×."""
    text = ratio(x, sep)
    return f"{text}×" if text else ""


def interval(lo: float | None, hi: float | None, fmt: Callable[[float | None], str] = seconds) -> str:
    """[lo, hi] in the value's own format."""
    return f"[{fmt(lo)}, {fmt(hi)}]" if is_number(lo) and is_number(hi) else ""


def bytes_(n: float | None) -> str:
    if not is_number(n):
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            v = n / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class Verdict:
    """Which of two measured things is faster, and whether the data separate them.

    ``winner`` is "a", "b", "tie" (the ratio's 95% interval inside ±5%) or None (not resolved at
    this noise level). ``factor`` is slower/faster; ``low``/``high`` its interval. ``evidence``
    says what the interval rests on: "paired" (visits matched in time), "unpaired" (two cases'
    standard errors combined) or "intervals" (a set without either: the two intervals' far ends).
    """

    winner: str | None
    factor: float
    low: float
    high: float
    evidence: str = "intervals"

    @property
    def resolved(self) -> bool:
        return self.winner in ("a", "b")

    @property
    def apart(self) -> float:
        """How far apart the two can be, as far as the 95% interval says: the least B with the ratio's
        interval inside [1/B, B] (what an unresolved verdict still establishes); NaN without an interval."""
        if not (is_number(self.low) and is_number(self.high) and self.low > 0):
            return float("nan")
        return max(self.high, 1 / self.low)  # low <= high: 1 / high and low lie inside


def _stated(winner: str | None, log_ratio: float, lo: float, hi: float, evidence: str) -> Verdict:
    """A verdict on log(a / b) with its interval [lo, hi], its factor stated slower over faster."""
    if log_ratio > 0:  # b is faster: the factor is a / b
        return Verdict(winner, math.exp(log_ratio), math.exp(lo), math.exp(hi), evidence)
    return Verdict(winner, math.exp(-log_ratio), math.exp(-hi), math.exp(-lo), evidence)


def verdict_of(e: Estimate, evidence: str = "paired") -> Verdict:
    """The verdict on an estimate of log(a / b) and its standard error."""
    lo, hi = e.log_interval()
    return _stated(decide(lo, hi), e.log, lo, hi, evidence)


def verdict(a: float, a_ci: tuple[float, float] | None, b: float, b_ci: tuple[float, float] | None) -> Verdict:
    """Compare times ``a`` and ``b`` by their intervals alone (None: unknown, never separated): the
    interval of a / b is [a_lo / b_hi, a_hi / b_lo], which excludes 1 exactly when the two do not
    overlap. The rule for sets that record neither paired comparisons nor standard errors."""
    fac = max(a, b) / min(a, b) if a > 0 and b > 0 else float("nan")
    if not a_ci or not b_ci or not all(is_number(v) and v > 0 for v in (*a_ci, *b_ci)):
        return Verdict(None, fac, float("nan"), float("nan"))
    lo, hi = ratio_interval(a_ci, b_ci)  # a / b
    return _stated(decide(math.log(lo), math.log(hi)), math.log(a / b), math.log(lo), math.log(hi), "intervals")


def factor_words(name: str, value: float, noun: str = "faster") -> str:
    """'reverse 83× faster': a factor without its interval (a point figure, such as the tutorial's)."""
    return f"{name} {factor(value)} {noun}"


def apart_words(v: Verdict) -> str:
    """'≤8% apart': the bound an unresolved verdict's interval puts on the two's difference, rounded up so it
    stays true ('≤2.4× apart' from 2× on); "" without an interval."""
    bound = v.apart
    if not is_number(bound):
        return ""
    percent = math.ceil(round(100 * (bound - 1), 6))
    return f"≤{percent}% apart" if percent < 100 else f"≤{factor(bound)} apart"


def verdict_words(v: Verdict, a_name: str, b_name: str, noun: str = "faster", subject: str = "") -> str:
    """'reverse 83× faster [79×, 88×]', 'tie (within 5%)' or 'not resolved at this noise level (≤8% apart)'
    (``subject``, say "modes": 'modes tie (within 5%)', 'modes not resolved at this noise level (≤8% apart)')."""
    who = f"{subject} " if subject else ""
    if v.winner == "tie":
        return f"{who}tie (within {TIE - 1:.0%})"
    if v.winner is None:
        bound = apart_words(v)
        return f"{who}not resolved at this noise level" + (f" ({bound})" if bound else "")
    name = a_name if v.winner == "a" else b_name
    return f"{factor_words(name, v.factor, noun)} [{factor(v.low)}, {factor(v.high)}]"


def versus_words(v: Verdict, a_name: str, b_name: str, where: str = "") -> str:
    """The verdict as a clause naming both: 'reverse 83× faster [79×, 88×] than forward at n = 1 000', or
    'reverse vs forward at n = 1 000: tie (within 5%)' (likewise not resolved). ``where``: ' at n = 1 000'."""
    if v.resolved:
        loser = b_name if v.winner == "a" else a_name
        return f"{verdict_words(v, a_name, b_name)} than {loser}{where}"
    return f"{a_name} vs {b_name}{where}: {verdict_words(v, a_name, b_name)}"


def unranked_words(a_name: str, a_time: float | None, b_name: str, b_time: float | None, where: str = "") -> str:
    """Two times from a set without intervals, no winner named: 'reverse 1 ms vs forward 2 ms at n = 1 000: no
    winner named: this set records no intervals'."""
    return f"{a_name} {seconds(a_time)} vs {b_name} {seconds(b_time)}{where}: {NO_INTERVALS}"


def lead_words(
    v: Verdict | None,
    other: str | None,
    other_time: float | None = None,
    intervals: bool = True,
    noun: str = "framework",
) -> str:
    """How far the faster of two is ahead of ``other``, as one phrase the CLI and the report share:
    '2.57× [2.47×, 2.67×] ahead of torch', 'tie with torch (within 5%)' or 'not resolved against
    torch (1.2 ms) at this noise level (≤34% apart)'; 'vs torch 1.2 ms: no winner named: ...' from a set without
    intervals; 'the only framework that passed' where there is no ``other``."""
    if other is None:
        return f"the only {noun} that passed"
    if not intervals:
        return f"vs {other} {seconds(other_time)}: {NO_INTERVALS}"
    if v is not None and v.resolved:
        return f"{factor(v.factor)} [{factor(v.low)}, {factor(v.high)}] ahead of {other}"
    if v is not None and v.winner == "tie":
        return f"tie with {other} (within {TIE - 1:.0%})"
    when = f" ({seconds(other_time)})" if is_number(other_time) else ""
    bound = apart_words(v) if v is not None else ""
    return f"not resolved against {other}{when} at this noise level" + (f" ({bound})" if bound else "")


def fastest_words(
    name: str, time: float | None, lead: str | None = None, noun: str = "backend", interval: str = ""
) -> str:
    """The fastest of several with its time (and ``interval``) and its ``lead_words`` over the next: 'fastest
    backend: jax reverse 1.2 ms, 2.57× [2.47×, 2.67×] ahead of torch reverse'; alone (``lead`` None): 'only
    backend: jax reverse 1.2 ms'. ``noun`` "" reads 'fastest: ...' (the report's headline)."""
    timed = f"{name} {seconds(time)}" + (f" {interval}" if interval else "")
    if lead is None:
        return f"only {noun or 'one'}: {timed}"
    return f"fastest{' ' + noun if noun else ''}: {timed}, {lead}"


def only_measured_words(mode: str, where: str = "") -> str:
    """'only reverse measured at n = 1 000': one mode, nothing to compare."""
    return f"only {mode} measured{where}"


def crossover_words(sizes: list[int], before: str, after: str | None = None, at: float | None = None) -> str:
    """Where forward over reverse crosses 1, by medians: 'forward faster below n ≈ 100, reverse above (by
    medians)' (``after`` and ``at`` given); else ``before`` faster throughout the measured ``sizes``."""
    if after is not None and at is not None:
        return f"{before} faster below n ≈ {integer(round(at))}, {after} above (by medians)"
    if len(sizes) == 1:
        return f"{before} faster by medians (one size only)"
    return f"none in n = {integer(sizes[0])}…{integer(sizes[-1])}: {before} faster throughout (by medians)"


def theory_words(operation: str, n: int, m: int, colours: dict[str, int] | None = None) -> str:
    """What counting passes predicts (``adbench.backends.modes.passes``), per operation (for sparse-jacobian,
    the colours each mode needs)."""
    if operation == "sparse-jacobian":
        known = colours or {}
        parts = [
            f"{mode}: {known[mode]} colour{'s' * (known[mode] != 1)} of {integer(size)} {what}"
            for mode, size, what in (("forward", n, "columns"), ("reverse", m, "rows"))
            if mode in known
        ]
        return "; ".join(parts) or "one pass per colour: forward colours columns, reverse colours rows"
    if operation == "jacobian":
        jvps, vjps = passes(operation, "forward", n, m), passes(operation, "reverse", n, m)
        assert jvps is not None and vjps is not None, "a jacobian's passes are counted in both modes"
        if jvps == vjps:
            return f"{jvps} JVPs vs {vjps} VJPs: a tie"
        winner, fac = ("reverse", jvps / vjps) if jvps > vjps else ("forward", vjps / jvps)
        return f"{jvps} JVP{'s' * (jvps != 1)} vs {vjps} VJP{'s' * (vjps != 1)}: {winner} ~{factor(fac)}"
    if operation in ("jvp", "vjp"):
        return f"one {operation.upper()}: a small constant (~2–4) times f"
    if operation == "hvp":
        return "a small constant times f; forward-over-reverse usually fastest"
    if operation == "hessian":
        count = passes(operation, "forward-over-reverse", n)  # the fewest of the compositions: n
        return f"n = {count} HVPs (or gradients): ~{count}× an HVP"
    if operation == "nested":
        return "the whole computation, its levels' passes nested; pass counting per level: see the problem"
    return ""


# -- verdicts on result rows (pandas rows of the result record, by column name) ------------------------
def headline_time(row: Any) -> float:
    """A row's headline time: ``time_s`` (sets before version 3 are migrated to their median)."""
    value = row.get("time_s")
    return float(value) if is_number(value) else float(row.get("median_s") or float("nan"))


def row_interval(row: Any, prefix: str = "") -> tuple[float, float] | None:
    """A row's 95% interval of its headline time, or None where it has none (a version-1 set)."""
    lo, hi = row.get(f"{prefix}ci_low_s"), row.get(f"{prefix}ci_high_s")
    return (float(lo), float(hi)) if is_number(lo) and is_number(hi) else None


def row_estimate(row: Any) -> Estimate | None:
    """A row's log time with its standard error (version 3 sets), or None."""
    time, se, df = row.get("time_s"), row.get("log_se"), row.get("log_df")
    if not (is_number(time) and time > 0 and is_number(se) and is_number(df) and df > 0):
        return None
    return Estimate(math.log(float(time)), float(se), float(df))


def compare_rows(a: Any, b: Any, comparisons: Comparisons | None = None) -> Verdict:
    """The verdict between two result rows: from their visits matched in time where the set records
    that comparison; else from their standard errors combined; else (older sets) from their intervals."""
    paired = comparisons.get(case_key(a), case_key(b)) if comparisons is not None else None
    if paired is not None and math.isfinite(paired.se):
        return verdict_of(paired, "paired")
    ea, eb = row_estimate(a), row_estimate(b)
    if ea is not None and eb is not None:
        return verdict_of(unpaired(ea, eb), "unpaired")
    return verdict(headline_time(a), row_interval(a), headline_time(b), row_interval(b))


def row_ratio(a: Any, b: Any, comparisons: Comparisons | None = None) -> tuple[float, float, float]:
    """time(a) / time(b) and its 95% interval (paired where the set has it; NaN ends where nothing says)."""
    paired = comparisons.get(case_key(a), case_key(b)) if comparisons is not None else None
    ea, eb = row_estimate(a), row_estimate(b)
    e = (
        paired
        if paired is not None and math.isfinite(paired.se)
        else (unpaired(ea, eb) if ea is not None and eb is not None else None)
    )
    if e is None:
        ta, tb = headline_time(a), headline_time(b)
        return (ta / tb if is_number(ta) and is_number(tb) and tb > 0 else float("nan")), float("nan"), float("nan")
    lo, hi = e.interval()
    return e.value, lo, hi


def ratio_words(ratio: tuple[float, float, float]) -> str:
    """'3.66× [3.5×, 3.8×]', or just the factor where there is no interval."""
    value, lo, hi = ratio
    text = factor(value)
    return f"{text} [{factor(lo)}, {factor(hi)}]" if is_number(lo) and is_number(hi) else text


def best_pair(rows: pd.DataFrame, key: str) -> tuple[pd.Series, pd.Series | None]:
    """The fastest row and the fastest row with a different ``key`` (mode, backend): who to compare."""
    ranked = rows.assign(_t=[headline_time(r) for _, r in rows.iterrows()]).sort_values("_t", kind="stable")
    first = ranked.iloc[0]
    others = ranked[ranked[key] != first[key]]
    return first.drop("_t"), (others.iloc[0].drop("_t") if len(others) else None)


def noise_lines(noise: dict[str, Any]) -> list[str]:
    """What a run's sidecar says about a busy machine, as sentences."""
    if not noise.get("busy"):
        return []
    return [
        "The machine was visibly busy ("
        + "; ".join(noise.get("busy_reasons", []))
        + "): intervals are wide and fewer verdicts are resolved; re-run on a quiet machine."
    ]
