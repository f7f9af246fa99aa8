"""How numbers and verdicts are said, for ``compare`` and the report alike: times, ratios, ties, theory."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.engine.timing import NOISY_IQR_RATIO, ratio_interval

# Two measurements whose ratio interval lies inside [1/TIE, TIE] are the same speed, as far as
# anyone should care: the data show them equal. Overlapping intervals that reach beyond it are
# "not resolved": the data do not say.
TIE = 1.05
NOISE_NOTE = f"~ noisy (IQR/median >= {NOISY_IQR_RATIO:.0%})"


def is_number(x: object) -> bool:
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


def interval(lo: float | None, hi: float | None, fmt=seconds) -> str:
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

    ``winner`` is "a", "b", "tie" (both intervals inside ±5% of each other) or None (not
    resolved at this noise level). ``factor`` is slower/faster by medians; ``low``/``high`` its
    interval, from the two 95% intervals.
    """

    winner: str | None
    factor: float
    low: float
    high: float

    @property
    def resolved(self) -> bool:
        return self.winner in ("a", "b")


def verdict(a: float, a_ci: tuple[float, float] | None, b: float, b_ci: tuple[float, float] | None) -> Verdict:
    """Compare medians ``a`` and ``b`` with their intervals (None: unknown, never separated)."""
    fac = max(a, b) / min(a, b) if a > 0 and b > 0 else float("nan")
    if not a_ci or not b_ci or not all(is_number(v) and v > 0 for v in (*a_ci, *b_ci)):
        return Verdict(None, fac, float("nan"), float("nan"))
    lo, hi = ratio_interval(a_ci, b_ci)  # a / b
    if lo > 1:
        return Verdict("b", fac, lo, hi)  # a is slower: b wins
    if hi < 1:
        return Verdict("a", fac, 1 / hi, 1 / lo)
    if a < b:  # the interval of the factor as it is stated, slower over faster
        lo, hi = 1 / hi, 1 / lo
    if 1 / TIE <= lo and hi <= TIE:
        return Verdict("tie", fac, lo, hi)
    return Verdict(None, fac, lo, hi)


def verdict_words(v: Verdict, a_name: str, b_name: str, noun: str = "faster") -> str:
    """'reverse 83× faster [79×, 88×]', 'tie (within 5%)' or 'not resolved at this noise level'."""
    if v.winner == "tie":
        return f"tie (within {TIE - 1:.0%})"
    if v.winner is None:
        return "not resolved at this noise level"
    name = a_name if v.winner == "a" else b_name
    return f"{name} {factor(v.factor)} {noun} [{factor(v.low)}, {factor(v.high)}]"


def theory_words(operation: str, n: int, m: int, colours: dict[str, int] | None = None) -> str:
    """What counting passes predicts, per operation (for sparse-jacobian, the colours each mode needs)."""
    if operation == "sparse-jacobian":
        known = colours or {}
        parts = [f"{mode}: {known[mode]} colour{'s' * (known[mode] != 1)} of {integer(size)} {what}"
                 for mode, size, what in (("forward", n, "columns"), ("reverse", m, "rows")) if mode in known]
        return "; ".join(parts) or "one pass per colour: forward colours columns, reverse colours rows"
    if operation == "jacobian":
        if n == m:
            return f"{n} JVPs vs {m} VJPs: a tie"
        winner, fac = ("reverse", n / m) if n > m else ("forward", m / n)
        return f"{n} JVP{'s' * (n != 1)} vs {m} VJP{'s' * (m != 1)}: {winner} ~{factor(fac)}"
    if operation in ("jvp", "vjp"):
        return f"one {operation.upper()}: a small constant (~2–4) times f"
    if operation == "hvp":
        return "a small constant times f; forward-over-reverse usually fastest"
    if operation == "hessian":
        return f"n = {n} HVPs (or gradients): ~{n}× an HVP"
    if operation == "nested":
        return "the whole computation, its levels' passes nested; pass counting per level: see the problem"
    return ""


# -- verdicts on result rows (pandas rows of the result record, by column name) ------------------------
def row_interval(row: Any, prefix: str = "") -> tuple[float, float] | None:
    """A row's 95% interval of its median, or None where it has none (a version-1 set)."""
    lo, hi = row.get(f"{prefix}ci_low_s"), row.get(f"{prefix}ci_high_s")
    return (float(lo), float(hi)) if is_number(lo) and is_number(hi) else None


def compare_rows(a: Any, b: Any) -> Verdict:
    """The verdict between two result rows, from their medians and intervals."""
    return verdict(float(a["median_s"]), row_interval(a), float(b["median_s"]), row_interval(b))


def best_pair(rows: Any, key: str) -> tuple[Any, Any | None]:
    """The fastest row and the fastest row with a different ``key`` (mode, backend): who to compare."""
    ranked = rows.sort_values("median_s")
    first = ranked.iloc[0]
    others = ranked[ranked[key] != first[key]]
    return first, (others.iloc[0] if len(others) else None)


def noise_lines(noise: dict[str, Any]) -> list[str]:
    """What a run's sidecar says about a busy machine, as sentences."""
    if not noise.get("busy"):
        return []
    return ["The machine was visibly busy (" + "; ".join(noise.get("busy_reasons", [])) +
            "): intervals are wide and fewer verdicts are resolved; re-run on a quiet machine."]
