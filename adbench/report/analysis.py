"""The answers read off a result set, per problem and operation: which mode wins and which framework is
fastest (named only when the 95% intervals separate them), scaling, crossovers, second order, chunks.

Every number and verdict is worded by ``adbench.formatting``, as ``adbench compare`` words them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from adbench import formatting as fmt
from adbench.backends.modes import pass_exponent
from adbench.engine.estimates import Comparisons
from adbench.engine.questions import ad_rows  # the terminal's rule for what is a framework: one rule
from adbench.engine.timing import ratio_interval
from adbench.report.data import Series, main_rows, ok_rows, ordered_series
from adbench.report.headline import Headline
from adbench.report.words import OPERATION_TITLES, integer, sup

SLOPE_TOLERANCE = 0.3  # |measured - theory| within this reads as "as theory"
# An HVP costs a small constant times the gradient (forward-over-reverse: one JVP of the gradient).
HVP_BAND = (1.0, 5.0)


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
    def scalar(self) -> bool:
        return bool(self.outputs) and all(m == 1 for m in self.outputs.values())

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
            return (
                f"Pass counting puts it at n = m = {integer(m)}, {where} the measured sizes; "
                "any other crossover is overhead."
            )
        side = "forward" if all(self.m(n) > n for n in self.sizes) else "reverse"
        return (
            f"Pass counting puts it at n = m, which never happens here ({side} should win at every size); "
            "a measured crossover is overhead."
        )

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
    except Exception:  # noqa: BLE001 (a report must build even where the registry cannot load)
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


def slope(x: ArrayLike, y: ArrayLike) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        return float("nan")
    return float(np.polyfit(lx, ly, 1)[0])


ci = fmt.row_interval  # a row's interval, as compare reads it


def ratio_of(a: pd.Series, b: pd.Series, comparisons: Comparisons | None = None) -> tuple[float, float, float]:
    """time(a) / time(b) and its interval: paired where the set has it, else from both rows' standard
    errors, else (older sets) the far ends of their two intervals."""
    ratio, lo, hi = fmt.row_ratio(a, b, comparisons)
    if not math.isfinite(lo) and (ci_a := ci(a)) and (ci_b := ci(b)):
        lo, hi = ratio_interval(ci_a, ci_b)
    return ratio, lo, hi


def times(frame: pd.DataFrame) -> dict[Series, pd.Series]:
    """Median time per size for every series with at least one case that passed."""
    ok = ok_rows(frame)
    # cast: pandas-stubs types a groupby key as a scalar; these keys are the column's Series
    return {cast(Series, s): g.set_index("size")["time_s"].sort_index() for s, g in ok.groupby("series", sort=False)}


# -- headlines ----------------------------------------------------------------------------------------
def _theory_text(operation: str, at: pd.DataFrame, size: int, m: int) -> str:
    """What pass counting predicts at the headline size (with each mode's colours for a sparse Jacobian)."""
    if operation not in OPERATION_TITLES:
        return ""
    colours = (
        {str(r["mode"]): int(r["colours"]) for _, r in at.dropna(subset=["colours"]).iterrows()}
        if "colours" in at
        else None
    )  # sparse-jacobian: passes per mode, beside the theory
    return "theory: " + fmt.theory_words(operation, size, m, colours)


def _compare_modes(h: Headline, at: pd.DataFrame, comparisons: Comparisons | None) -> None:
    """The fastest mode against the fastest of another, where two modes passed at the headline size."""
    where = f" at n = {integer(h.size)}"
    if at["mode"].nunique() < 2:
        h.mode_text = fmt.only_measured_words(at["mode"].iloc[0], where)
        return
    first, second = fmt.best_pair(at, "mode")
    assert second is not None, "two modes measured"
    h.modes = (first, second)
    h.mode_verdict = v = fmt.compare_rows(first, second, comparisons)
    a, b = str(first["mode"]), str(second["mode"])
    h.mode_text = (
        fmt.versus_words(v, a, b, where)
        if h.intervals
        else fmt.unranked_words(a, first["time_s"], b, second["time_s"], where)
    )


def _compare_frameworks(h: Headline, at: pd.DataFrame, comparisons: Comparisons | None) -> None:
    """The fastest framework against the next, named only where the intervals separate them."""
    first, second = fmt.best_pair(at, "backend")
    h.fastest, h.runner_up = first, second
    name_a = first["series"].label
    if second is None:
        h.framework_text = fmt.fastest_words(name_a, first["time_s"], noun="framework")
        return
    name_b = second["series"].label
    h.framework_verdict = v = fmt.compare_rows(first, second, comparisons)
    if not h.intervals:
        h.framework_text = fmt.unranked_words(name_a, first["time_s"], name_b, second["time_s"])
    else:
        interval = fmt.interval(*span) if v.resolved and (span := ci(first)) else ""
        h.framework_text = fmt.fastest_words(
            name_a, first["time_s"], fmt.lead_words(v, name_b, second["time_s"]), noun="", interval=interval
        )


def headline(
    frame: pd.DataFrame,
    info: ProblemInfo,
    operation: str = "jacobian",
    intervals: bool = True,
    comparisons: Comparisons | None = None,
) -> Headline:
    """At the largest size where two AD modes passed (else the largest where any did): the fastest
    mode against the fastest of another, and the fastest framework against the next (from their
    visits matched in time, where the set has ``comparisons``)."""
    h = Headline(info.name, operation, intervals)
    rows = main_rows(frame, operation)
    ad = ad_rows(ok_rows(rows))
    if ad.empty:
        counts = rows["shown"].value_counts()
        failed = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "ok")
        h.mode_text = "no AD case passed" + (f" ({failed})" if failed else "")
        return h
    two = [n for n in sorted(set(ad["size"])) if ad.loc[ad["size"] == n, "mode"].nunique() >= 2]
    h.size = size = int(max(two) if two else ad["size"].max())
    at = ad[ad["size"] == size]
    h.m = info.m(size)
    for mode, group in at.sort_values("time_s", kind="stable").groupby("mode", sort=False):
        h.best[str(mode)] = group.iloc[0]
    floor = ok_rows(rows)
    floor = floor[(floor["backend"] == "manual") & (floor["size"] == size)]["time_s"]
    h.floor = float(floor.min()) if len(floor) else None
    h.theory_text = _theory_text(operation, at, size, h.m)
    _compare_modes(h, at, comparisons)
    _compare_frameworks(h, at, comparisons)
    return h


# -- scaling ------------------------------------------------------------------------------------------
def fr_ratios(frame: pd.DataFrame, comparisons: Comparisons | None = None) -> dict[str, pd.DataFrame]:
    """Forward time / reverse time of the Jacobian per backend and size (with the ratio's interval
    where the set says: paired, or from both cases' errors or intervals), where a backend passed in both modes."""
    rows = ok_rows(main_rows(frame, "jacobian"))
    out = {}
    for backend in dict.fromkeys(s.backend for s in ordered_series(rows)):
        fwd = rows[(rows["backend"] == backend) & (rows["mode"] == "forward")].set_index("size")
        rev = rows[(rows["backend"] == backend) & (rows["mode"] == "reverse")].set_index("size")
        sizes = sorted(set(fwd.index) & set(rev.index))
        if not sizes:
            continue
        table = []
        for n in sizes:
            f, r = fwd.loc[n], rev.loc[n]
            ratio, lo, hi = ratio_of(f, r, comparisons)
            table.append({"size": n, "ratio": ratio, "low": lo, "high": hi})
        out[backend] = pd.DataFrame(table).set_index("size")
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
            return n_star, fmt.crossover_words(sizes, before, after, n_star)
    if not values:
        return None, "—"
    return None, fmt.crossover_words([int(n) for n in sizes], "reverse" if values[0] > 1 else "forward")


def crossovers(frame: pd.DataFrame, comparisons: Comparisons | None = None) -> list[dict]:
    rows = []
    for backend, table in fr_ratios(frame, comparisons).items():
        n_star, text = crossover(table["ratio"])
        rows.append({"backend": backend, "n_star": n_star, "text": text})
    return rows


def theory_slope(series: Series, info: ProblemInfo, operation: str = "jacobian") -> float | None:
    """Slope of log time vs log n that pass counting predicts: passes (``adbench.backends.modes``) × the
    cost of f (f ~ n^c), each pass ~ n^c."""
    c, _ = info.cost_exponent
    if operation == "jacobian" and series.mode == "manual":
        return max(c, 1.0 + info.m_exponent)  # at least evaluate f and write the n m entries of J
    if operation != "jacobian" and series.baseline:
        return None  # the baselines build whole derivatives, or difference f: no single pass count
    exponent = pass_exponent(operation, series.mode, info.m_exponent)
    return exponent + c if exponent is not None else None


def exponents(frame: pd.DataFrame, info: ProblemInfo, operation: str = "jacobian") -> list[dict[str, Any]]:
    """Fitted scaling exponent of every series with two or more sizes that passed, beside the theory's."""
    rows: list[dict[str, Any]] = []
    if info.fixed_size:
        return rows
    for series, t in times(main_rows(frame, operation)).items():
        if len(t) < 2:
            continue
        fit = slope(t.index, t.to_numpy())
        last = slope(t.index[-2:], t.to_numpy()[-2:])
        theory = theory_slope(series, info, operation)
        if theory is None or not math.isfinite(last):
            reading = ""
        elif abs(last - theory) <= SLOPE_TOLERANCE:
            reading = "as theory"
        elif last < theory:
            reading = "flatter (overhead)"
        else:
            reading = "steeper"
        rows.append(
            {
                "series": series,
                "sizes": f"{integer(t.index[0])}…{integer(t.index[-1])} ({len(t)})",
                "fit": fit,
                "last": last,
                "theory": theory,
                "verdict": reading,
            }
        )
    rows.sort(key=lambda r: r["series"].sort_key)
    return rows


# -- second order ---------------------------------------------------------------------------------------
def gradient_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The gradient of a scalar problem: each backend's reverse-mode Jacobian (a baseline's own mode)."""
    jac = ok_rows(main_rows(frame, "jacobian"))
    keep = [(s.mode == "reverse") or s.baseline for s in jac["series"]]
    return jac[keep]


def hvp_over_gradient(frame: pd.DataFrame, comparisons: Comparisons | None = None) -> dict[Series, pd.DataFrame]:
    """time(HVP) / time(gradient) per HVP series and size, with the ratio's interval where both have one.
    Only cases that passed; the gradient is the same backend's, at the same size, dtype and device."""
    hvp = ok_rows(main_rows(frame, "hvp"))
    grad = gradient_rows(frame)
    out: dict[Series, pd.DataFrame] = {}
    if grad.empty:  # HVPs without a gradient beside them (a shard, a host of a merged set): nothing to divide by
        return out
    key = ["backend", "size", "dtype", "device"]
    by_key: dict[tuple, int] = {}  # the first gradient row of each key (a dict: a mask per HVP row is slow)
    for i, k in enumerate(zip(*(grad[c] for c in key))):
        by_key.setdefault(k, i)
    for series, group in hvp.groupby("series", sort=False):
        table = []
        for _, r in group.sort_values("size").iterrows():
            at = by_key.get(tuple(r[c] for c in key))
            if at is None:
                continue
            g = grad.iloc[at]
            ratio, lo, hi = ratio_of(r, g, comparisons)
            table.append(
                {
                    "size": int(r["size"]),
                    "ratio": ratio,
                    "low": lo,
                    "high": hi,
                    "gradient_s": g["time_s"],
                    "hvp_s": r["time_s"],
                }
            )
        if table:
            out[cast(Series, series)] = pd.DataFrame(table).set_index("size")  # the key is the column's Series
    return dict(sorted(out.items(), key=lambda kv: kv[0].sort_key))


def has_second_order(frame: pd.DataFrame, info: ProblemInfo) -> bool:
    return info.scalar and bool(frame["operation"].isin(["hvp", "hessian"]).any())


# -- chunks --------------------------------------------------------------------------------------------
def chunk_sizes(frame: pd.DataFrame, most: int = 2) -> list[int]:
    """The sizes (the largest ``most``) at which a Jacobian ran chunked: the trade-off's panels."""
    jac = frame[(frame["operation"] == "jacobian") & frame["chunk_size"].notna()]
    return sorted({int(n) for n in jac["size"].dropna()})[-most:]


def chunk_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Every Jacobian row of a backend × mode that ran chunked somewhere, unchunked ones included."""
    jac = frame[frame["operation"] == "jacobian"]
    chunked = jac[jac["chunk_size"].notna()]
    keys = set(zip(chunked["backend"], chunked["mode"]))
    return jac[[k in keys for k in zip(jac["backend"], jac["mode"])]]


def memory_limit_bytes(settings: dict) -> float | None:
    gib = settings.get("memory_limit_gib")
    if isinstance(gib, (int, float)) and gib > 0:
        return float(gib) * 2**30
    limit = settings.get("memory_limit_bytes")
    return float(limit) if isinstance(limit, (int, float)) and limit > 0 else None
