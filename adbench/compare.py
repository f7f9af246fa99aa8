"""``adbench compare``: build the case grid, run it, save the results and render the answer as a table."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from adbench.backends import AD_MODES, backend_names, get_backend
from adbench.cases import CaseSpec
from adbench.problems import Problem, get_problem, list_problems


def build_grid(
    problems: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    dtype: str = "float32",
    seed: int = 0,
    quick: bool = False,
) -> list[CaseSpec]:
    """Every (problem, size, backend, mode) asked for; baselines run their one mode whatever ``modes`` says."""
    probs = [get_problem(p) for p in problems] if problems else list_problems()
    backend_objs = [get_backend(b) for b in (backends or backend_names())]
    modes = tuple(modes) if modes else AD_MODES
    specs = []
    for problem in probs:
        for n in _sizes_for(problem, sizes, quick):
            for backend in backend_objs:
                ad = set(backend.modes) & set(AD_MODES)
                for mode in backend.modes:
                    if ad and mode not in modes:
                        continue
                    specs.append(CaseSpec(problem.name, n, backend.name, mode, dtype, seed))
    return specs


def _sizes_for(problem: Problem, sizes: Sequence[int] | None, quick: bool) -> tuple[int, ...]:
    if not problem.takes_any_size:
        return problem.quick_sizes if quick else problem.run_sizes  # --sizes applies to problems that scale
    if sizes:
        return tuple(sizes)
    return problem.quick_sizes if quick else problem.run_sizes


# -- rendering --------------------------------------------------------------------------------------
def format_seconds(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return ""


def _cell(rows: pd.DataFrame) -> str:
    """A time cell: the median, ~ when noisy, or the status when the case did not run."""
    if rows.empty:
        return ""
    row = rows.iloc[0]
    if row["status"] != "ok":
        return str(row["status"])
    return format_seconds(row["median_s"]) + (" ~" if bool(row["noisy"]) else "")


TIE = 1.10  # modes within 10% (the noise flag's own threshold): no winner is named


def format_ratio(ratio: float) -> str:
    """3 significant digits, without exponents: 1.37, 83, 14,400."""
    return f"{float(f'{ratio:.3g}'):,.0f}" if ratio >= 100 else f"{ratio:.3g}"


def ratio_words(forward_s: float, reverse_s: float) -> str:
    """'reverse 83× faster', in the tutorial's words."""
    if forward_s <= 0 or reverse_s <= 0:
        return ""
    if max(forward_s, reverse_s) / min(forward_s, reverse_s) < TIE:
        return f"tie (within {TIE - 1:.0%})"
    if forward_s > reverse_s:
        return f"reverse {format_ratio(forward_s / reverse_s)}× faster"
    return f"forward {format_ratio(reverse_s / forward_s)}× faster"


def theory_words(n: int, m: int) -> str:
    """What the JVP/VJP count predicts: n forward passes against m reverse passes."""
    if n == m:
        return f"{n} JVPs vs {m} VJPs: a tie"
    winner, factor = ("reverse", n / m) if n > m else ("forward", m / n)
    return f"{n} JVP{'s' * (n != 1)} vs {m} VJP{'s' * (m != 1)}: {winner} ~{format_ratio(factor)}×"


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, size, backend): forward and reverse medians, the faster mode, J/f, first call."""
    out = []
    for (problem, size, backend), group in frame.groupby(["problem", "size", "backend"], sort=False):
        fwd, rev = group[group["mode"] == "forward"], group[group["mode"] == "reverse"]
        other = group[~group["mode"].isin(AD_MODES)]
        ok = group[group["status"] == "ok"]
        faster = ""
        if len(fwd) and len(rev) and (fwd["status"].iloc[0] == rev["status"].iloc[0] == "ok"):
            faster = ratio_words(fwd["median_s"].iloc[0], rev["median_s"].iloc[0])
        best = ok.loc[ok["median_s"].idxmin()] if len(ok) else None
        n, m = int(group["n_inputs"].iloc[0]), int(group["n_outputs"].iloc[0])
        out.append({
            "problem": problem,
            "n → m": f"{n} → {m}",
            "backend": backend,
            "forward": _cell(fwd),
            "reverse": _cell(rev),
            "baseline": _cell(other),
            "faster mode": faster,
            "J/f": format_ratio(best["j_over_f"]) if best is not None and pd.notna(best["j_over_f"]) else "",
            "first call": format_seconds(best["first_call_s"]) if best is not None else "",
            "theory": theory_words(n, m),
        })
    return pd.DataFrame(out)


def summary_lines(frame: pd.DataFrame) -> list[str]:
    """Per problem, at its largest size: the winning mode (measured vs theory) and the fastest framework."""
    lines = []
    ok = frame[frame["status"] == "ok"]
    for problem, group in ok.groupby("problem", sort=False):
        size = group["size"].max()
        at = group[group["size"] == size]
        ad = at[at["mode"].isin(AD_MODES)]
        if ad.empty:
            continue
        n, m = int(at["n_inputs"].iloc[0]), int(at["n_outputs"].iloc[0])
        best_by_mode = ad.groupby("mode")["median_s"].min()
        fastest = ad.loc[ad["median_s"].idxmin()]
        text = f"{problem} (n={n} → m={m}): "
        if set(best_by_mode.index) == set(AD_MODES):
            text += ratio_words(best_by_mode["forward"], best_by_mode["reverse"]) + " (best of each mode)"
        else:
            text += f"only {', '.join(best_by_mode.index)} measured"
        text += f"; theory {theory_words(n, m)}; fastest: {fastest['backend']} {fastest['mode']} {format_seconds(fastest['median_s'])}"
        manual = at[at["backend"] == "manual"]
        if len(manual):
            text += f", {format_ratio(fastest['median_s'] / manual['median_s'].iloc[0])}× the hand-written Jacobian"
        lines.append(text + _tutorial_words(problem, group))
    return lines


def _tutorial_words(problem: str, ok: pd.DataFrame) -> str:
    """Like for like with the tutorial's printed timing, where the problem has one and it was run."""
    try:
        tutorial = get_problem(problem).extra.get("tutorial")
    except ValueError:
        return ""
    if not tutorial:
        return ""
    same = ok[(ok["size"] == tutorial["size"]) & (ok["backend"] == tutorial["backend"])].set_index("mode")
    if not {"forward", "reverse"} <= set(same.index):
        return ""
    return (f"; the tutorial's un-jitted JAX at n={tutorial['size']}: "
            f"{ratio_words(tutorial['forward_s'], tutorial['reverse_s'])} (one unsynced call each), "
            f"{tutorial['backend']} here: {ratio_words(same.loc['forward', 'median_s'], same.loc['reverse', 'median_s'])} "
            f"(synced medians)")


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The run's results as text: a readable table, markdown, or the tidy rows as csv/json."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=1)
    table = comparison_table(frame)
    blocks = []
    for problem, group in table.groupby("problem", sort=False):
        group = group.drop(columns=["problem"])
        if fmt == "markdown":
            blocks.append(f"### {problem}\n\n" + group.to_markdown(index=False))
        else:
            blocks.append(f"== {problem} ==\n" + group.to_markdown(index=False, tablefmt="simple"))
    summary = summary_lines(frame)
    if summary:
        head = "### Summary\n\n" if fmt == "markdown" else "== Summary ==\n"
        bullet = "- " if fmt == "markdown" else "  "
        blocks.append(head + "\n".join(bullet + line for line in summary))
    legend = "Times are medians per call; ~ marks a noisy case (IQR/median >= 10%); J/f and first call are for the faster mode."
    return "\n\n".join(blocks + [legend]) + "\n"
