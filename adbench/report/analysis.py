"""The answers read off a result set: which mode wins and by how much, fastest framework, scaling, crossovers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adbench.report.data import AD_MODES, Series, ok_rows, ordered_series

SLOPE_TOLERANCE = 0.3  # |measured - theory| within this reads as "as theory"
TIE = 1.10  # modes within 10% of each other: the noise flag's own threshold, so no winner is named


@dataclass
class ProblemInfo:
    name: str
    description: str
    theory: str
    sizes: list[int]
    outputs: dict[int, int]  # n -> m
    registered: bool
    known_cost: float | None = None  # c in cost(f) ~ n^c, where the registered problem says

    @property
    def fixed_size(self) -> bool:
        return len(self.sizes) < 2

    @property
    def shape(self) -> str:
        """R^n -> R^m as printed, with Unicode superscripts: "Rⁿ → R", "Rⁿ → R¹⁰⁰ⁿ", "R² → R³"."""
        if not self.outputs:
            return ""
        if self.fixed_size:
            n = self.sizes[0]
            return f"R{sup(n)} → R{sup(self.outputs[n]) if self.outputs[n] > 1 else ''}"
        ms = {self.outputs[n] for n in self.sizes}
        if ms == {1}:
            return "Rⁿ → R"
        ratios = {self.outputs[n] / n for n in self.sizes}
        if len(ratios) == 1:
            r = ratios.pop()
            return "Rⁿ → Rⁿ" if r == 1 else (f"Rⁿ → R{sup(int(r))}ⁿ" if r == int(r) else f"Rⁿ → R^({r:g}n)")
        if len(ms) == 1:
            return f"Rⁿ → R{sup(ms.pop())}"
        return "Rⁿ → Rᵐ"

    @property
    def theory_crossover(self) -> str:
        """Where pass counting alone puts the change of mode: at n = m."""
        if not self.outputs:
            return ""
        if all(self.m(n) == n for n in self.sizes):
            return "Pass counting gives no winner here (n = m at every size): only overheads decide."
        ms = {self.m(n) for n in self.sizes}
        if len(ms) == 1:
            m = ms.pop()
            where = "inside" if self.sizes[0] <= m <= self.sizes[-1] else "outside"
            return (f"Pass counting puts it at n = m = {fmt_int(m)}, {where} the measured sizes; "
                    "any other crossover is overhead.")
        side = "forward" if all(self.m(n) > n for n in self.sizes) else "reverse"
        return (f"Pass counting puts it at n = m, which never happens here ({side} should win at every size); "
                "a measured crossover is overhead.")

    def m(self, n: int) -> int:
        return self.outputs.get(n, 1)

    @property
    def m_exponent(self) -> float:
        """d log m / d log n over the measured sizes (0 for a scalar output, 1 for m = c n)."""
        if self.fixed_size:
            return 0.0
        return slope(self.sizes, [self.m(n) for n in self.sizes])

    @property
    def cost_exponent(self) -> tuple[float, bool]:
        """The exponent c of f's cost ~ n^c, and whether it is known (else a lower bound)."""
        if self.known_cost is not None:
            return self.known_cost, True
        # f must at least read x and write f(x).
        return max(1.0, self.m_exponent), False


def sup(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def problem_info(name: str, frame: pd.DataFrame) -> ProblemInfo:
    """What the registry says of a problem (when it is a registered one) and its shapes from the rows."""
    description, theory, registered = "", "", False
    cost = None  # the registry's Problem.cost_exponent, where the problem is registered here
    try:
        from adbench.problems import list_problems

        # Only registered problems: looking up "module:function" would import the user's module.
        for p in list_problems():
            if p.name == name:
                description, theory, registered = p.description, p.theory, True
                if p.cost_exponent is not None:
                    cost = float(p.cost_exponent)
    except Exception:  # a report must build even where the registry cannot load
        pass
    rows = frame.dropna(subset=["size"])
    sizes = sorted({int(s) for s in rows["size"]})
    outputs = {}
    for n in sizes:
        m = rows.loc[rows["size"] == n, "n_outputs"].dropna()
        outputs[n] = int(m.iloc[0]) if len(m) else 1
    if not description:
        description = f"user function {name}" if ":" in name else name
    return ProblemInfo(name, description, theory, sizes, outputs, registered, cost)


def slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        return float("nan")
    return float(np.polyfit(lx, ly, 1)[0])


def times(frame: pd.DataFrame) -> dict[Series, pd.Series]:
    """Median time per size for every series with at least one successful case."""
    ok = ok_rows(frame)
    return {s: g.set_index("size")["median_s"].sort_index() for s, g in ok.groupby("series", sort=False)}


def fastest(frame: pd.DataFrame, mode: str, size: int) -> tuple[Series, float] | None:
    ok = ok_rows(frame)
    ok = ok[(ok["mode"] == mode) & (ok["size"] == size)]
    if ok.empty:
        return None
    row = ok.loc[ok["median_s"].idxmin()]
    return row["series"], float(row["median_s"])


def fmt_time(seconds: float | None) -> str:
    """Seconds with the unit a person reads fastest: ns, µs, ms or s, three significant digits."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return "—"


def fmt_int(n: int) -> str:
    """10 000 rather than 10000: a narrow no-break space between thousands, as in print."""
    return f"{int(n):,}".replace(",", "\u202f")


def fmt_factor(x: float) -> str:
    """Three significant digits, no exponent, as `adbench compare` prints them: 419×, 16 100×, 1.25×."""
    if not math.isfinite(x):
        return "—"
    if x >= 100:
        return fmt_int(round(x, -int(math.floor(math.log10(x))) + 2)) + "×"
    return f"{x:.3g}×"


def plural(n: int, noun: str) -> str:
    return f"{fmt_int(n)} {noun}" + ("" if n == 1 else "s")


@dataclass
class Headline:
    """Which mode wins a problem, by how much and where; the first thing a reader wants."""

    problem: str
    winner: str | None = None  # "forward", "reverse", "tie" (within TIE), or None: nothing to compare
    factor: float = float("nan")
    size: int | None = None
    best: dict[str, tuple[Series, float]] = field(default_factory=dict)  # mode -> (series, time)
    floor: float | None = None
    theory_ratio: float | None = None  # forward / reverse time by pass count: n / m
    text: str = ""
    theory_text: str = ""

    @property
    def floor_factor(self) -> float | None:
        """How far the fastest AD result is above the hand-written Jacobian at the headline size."""
        if self.floor and self.best:
            return min(t for _, t in self.best.values()) / self.floor
        return None


def headline(frame: pd.DataFrame, info: ProblemInfo) -> Headline:
    """Fastest forward vs fastest reverse at the largest size where both modes have a time."""
    h = Headline(info.name)
    ok = ok_rows(frame)
    both = [n for n in info.sizes
            if all(((ok["mode"] == m) & (ok["size"] == n)).any() for m in AD_MODES)]
    if not both:
        ran = sorted(set(ok["mode"]) & set(AD_MODES))
        h.text = (f"only {ran[0]} mode has results, so no comparison of modes" if ran
                  else "no forward or reverse result to compare")
        size = max(ok["size"]) if len(ok) else None
        if size is not None:
            h.size = int(size)
            for mode in ran:
                h.best[mode] = fastest(frame, mode, h.size)
        return h
    n = h.size = int(max(both))
    for mode in AD_MODES:
        h.best[mode] = fastest(frame, mode, n)
    floor = ok[(ok["backend"] == "manual") & (ok["size"] == n)]["median_s"]
    h.floor = float(floor.min()) if len(floor) else None
    tf, tr = h.best["forward"][1], h.best["reverse"][1]
    h.factor = max(tf, tr) / min(tf, tr)
    ahead = "reverse" if tr < tf else "forward"
    h.winner = ahead if h.factor >= TIE else "tie"
    m = info.m(n)
    h.theory_ratio = n / m
    if h.winner == "tie":
        h.text = f"forward and reverse within 10% at n = {fmt_int(n)} ({ahead} ahead by {fmt_factor(h.factor)})"
    else:
        win = h.best[h.winner][0]
        h.text = (f"{h.winner} mode wins by {fmt_factor(h.factor)} at n = {fmt_int(n)} "
                  f"(fastest: {win.label}, {fmt_time(h.best[h.winner][1])})")
    jvps, vjps = plural(n, "JVP"), plural(m, "VJP")
    if n > m:
        h.theory_text = f"theory: forward needs n = {jvps}, reverse m = {vjps}, so reverse by about {fmt_factor(n / m)}"
    elif m > n:
        h.theory_text = f"theory: reverse needs m = {vjps}, forward n = {jvps}, so forward by about {fmt_factor(m / n)}"
    else:
        h.theory_text = "theory: n = m, the modes need as many passes; overheads decide"
    return h


def fr_ratios(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """forward time / reverse time per backend and size, where a backend ran both modes."""
    t = times(frame)
    out = {}
    for backend in dict.fromkeys(s.backend for s in ordered_series(frame)):
        fwd = [v for s, v in t.items() if s.backend == backend and s.mode == "forward"]
        rev = [v for s, v in t.items() if s.backend == backend and s.mode == "reverse"]
        if fwd and rev:
            ratio = (fwd[0] / rev[0]).dropna()
            if len(ratio):
                out[backend] = ratio
    return out


def crossover(ratio: pd.Series) -> tuple[float | None, str]:
    """Where forward/reverse crosses 1 (interpolated on log-log), and a sentence about it."""
    sizes, values = list(ratio.index), list(ratio.values)
    for (n0, r0), (n1, r1) in zip(zip(sizes, values), zip(sizes[1:], values[1:])):
        if (r0 - 1) * (r1 - 1) < 0:
            # log r is linear in log n between the two sizes; solve log r = 0.
            t = math.log(r0) / (math.log(r0) - math.log(r1))
            n_star = math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0)))
            before, after = ("forward", "reverse") if r0 < 1 else ("reverse", "forward")
            return n_star, f"{before} faster below n ≈ {fmt_int(round(n_star))}, {after} above"
    if not values:
        return None, "—"
    if len(values) == 1:
        return None, f"{'reverse' if values[0] > 1 else 'forward'} faster (one size only)"
    side = "reverse" if values[0] > 1 else "forward"
    return None, f"none in n = {fmt_int(sizes[0])}…{fmt_int(sizes[-1])}: {side} faster throughout"


def theory_slope(series: Series, info: ProblemInfo) -> float | None:
    """Slope of log time vs log n that pass counting predicts: passes × cost of f."""
    c, _ = info.cost_exponent
    s_m = info.m_exponent
    if series.mode in ("forward", "central"):
        return 1.0 + c  # n JVPs (or 2 n evaluations of f), each ~ n^c
    if series.mode == "reverse":
        return s_m + c  # m VJPs, each ~ n^c
    if series.mode == "manual":
        return max(c, 1.0 + s_m)  # at least evaluate f and write the n m entries of J
    return None


def exponents(frame: pd.DataFrame, info: ProblemInfo) -> list[dict]:
    """Fitted scaling exponent of every series with two or more sizes, beside the theory's."""
    rows = []
    if info.fixed_size:
        return rows
    for series, t in times(frame).items():
        if len(t) < 2:
            continue
        fit = slope(t.index, t.values)
        last = slope(t.index[-2:], t.values[-2:])
        theory = theory_slope(series, info)
        if theory is None or not math.isfinite(last):
            verdict = ""
        elif abs(last - theory) <= SLOPE_TOLERANCE:
            verdict = "as theory"
        elif last < theory:
            verdict = "flatter (overhead)"
        else:
            verdict = "steeper"
        rows.append({
            "series": series, "sizes": f"{fmt_int(t.index[0])}…{fmt_int(t.index[-1])} ({len(t)})",
            "fit": fit, "last": last, "theory": theory, "verdict": verdict,
        })
    rows.sort(key=lambda r: r["series"].sort_key)
    return rows


def crossovers(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for backend, ratio in fr_ratios(frame).items():
        n_star, text = crossover(ratio)
        rows.append({"backend": backend, "n_star": n_star, "text": text})
    return rows
