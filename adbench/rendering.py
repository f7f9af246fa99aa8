"""How a comparison's results are shown: the table per problem and operation, the summary lines, the budget
spent; for ``adbench compare`` (the report words its verdicts with the same ``adbench.formatting``).

Nothing here runs anything: a frame of result rows (and the set's paired comparisons) in, text out,
as torch.utils.benchmark's Compare only renders."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from adbench import formatting as fmt
from adbench.backends import AD_MODES, BASELINE_MODES, mode_order
from adbench.engine.estimates import Comparisons
from adbench.glance import (
    GLANCE_COLUMNS,
    GLANCE_LEGEND,
    CellValues,
    cache_mark,
    findings_block,
    glance_block,
    glance_rows,
    short_mode,
)
from adbench.problems import get_problem
from adbench.terminal import DEFAULT_WIDTH, terminal_width, text_table, wrap


def _cell(rows: pd.DataFrame) -> str:
    """A time cell: the headline time, ~ when noisy, or the status when the case is not ok."""
    if rows.empty:
        return ""
    row = rows.iloc[0]
    time = fmt.headline_time(row)
    if row["status"] == "wrong":
        return f"wrong ({fmt.seconds(time)})" if fmt.is_number(time) else "wrong"
    if row["status"] != "ok":
        return str(row["status"])
    return fmt.seconds(time) + (" ~" if pd.notna(row["noisy"]) and bool(row["noisy"]) else "")


def faster_words(group: pd.DataFrame, comparisons: Comparisons | None = None) -> str:
    """Within one backend: the fastest mode against the next-fastest, when the data separate them."""
    ok = group[(group["status"] == "ok") & ~group["mode"].isin(BASELINE_MODES)]
    if ok["mode"].nunique() < 2:
        return ""
    first, second = fmt.best_pair(ok, "mode")
    assert second is not None, "two modes measured"
    return fmt.verdict_words(fmt.compare_rows(first, second, comparisons), first["mode"], second["mode"])


FIXED_COLUMNS = ("problem", "operation", "n → m", "backend", "colours", "faster", "time/f", "first call")


def _colour_words(group: pd.DataFrame) -> str:
    """sparse-jacobian: the compressed passes per mode ('forward 15, reverse 200'); empty otherwise."""
    if "colours" not in group or group["colours"].isna().all():
        return ""
    per_mode = group.dropna(subset=["colours"]).drop_duplicates("mode")
    return ", ".join(f"{r['mode']} {int(r['colours'])}" for _, r in per_mode.iterrows())


def comparison_table(frame: pd.DataFrame, comparisons: Comparisons | None = None) -> pd.DataFrame:
    """One row per (problem, size, operation, backend[, chunk][, replicate]): each mode's time, the faster
    mode, time/f, first call."""
    out = []
    keys = ["problem", "size", "operation", "backend", "chunk_size", "replicate"]
    frame = frame.assign(
        chunk_size=frame["chunk_size"].astype(object).where(frame["chunk_size"].notna(), None),
        replicate=frame["replicate"].fillna(0).astype(int),
    )
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        problem, size, operation, backend, chunk, again = cast(CellValues, key)
        ok = group[group["status"] == "ok"]
        best = fmt.best_pair(ok, "mode")[0] if len(ok) else None
        n, outputs = int(group["n_inputs"].iloc[0]), group["n_outputs"].dropna()
        m = int(outputs.iloc[0]) if len(outputs) else None
        row: dict[str, str] = {
            "problem": problem,
            "operation": operation,
            "n → m": f"{n} → {m if m is not None else '?'}"
            + (f" ({group['preset'].iloc[0]})" if pd.notna(group["preset"].iloc[0]) else ""),
            "backend": backend
            + (f" chunk={int(chunk)}" if chunk is not None and pd.notna(chunk) else "")
            + (f" #{again + 1}" if again else ""),
        }
        for mode in mode_order(group["mode"]):
            row[mode] = _cell(group[group["mode"] == mode])
        row["colours"] = _colour_words(group)
        row["faster"] = faster_words(group, comparisons)
        row["time/f"] = fmt.ratio(best["j_over_f"]) if best is not None and pd.notna(best["j_over_f"]) else ""
        row["first call"] = fmt.seconds(best["first_call_s"]) + cache_mark(best) if best is not None else ""
        out.append(row)
    frame_out = pd.DataFrame(out).fillna("")
    modes = mode_order([c for c in frame_out.columns if c not in FIXED_COLUMNS])
    first = ["problem", "operation", "n → m", "backend"]
    return frame_out[first + modes + ["colours", "faster", "time/f", "first call"]] if len(frame_out) else frame_out


def summary_lines(frame: pd.DataFrame, comparisons: Comparisons | None = None) -> list[str]:
    """Per problem and operation, at its largest size: the winning mode and the fastest framework,
    named only where the data separate them (from their visits matched in time, where the set has
    them); failed and wrong cases are never ranked."""
    from adbench.engine.questions import ad_rows

    lines = []
    ok = frame[frame["status"] == "ok"]
    ok = ok[ok["replicate"].fillna(0).astype(int) == 0]
    for (problem, operation), group in ok.groupby(["problem", "operation"], sort=False):
        frameworks = ad_rows(group)
        if frameworks.empty:
            continue
        size = frameworks["size"].max()  # the largest size an AD case passed at
        at = group[group["size"] == size]
        ad = frameworks[frameworks["size"] == size]
        n = int(at["n_inputs"].iloc[0])
        m = int(at["n_outputs"].dropna().iloc[0]) if at["n_outputs"].notna().any() else n
        text = f"{problem} {operation} (n={n} → m={m}): "
        theory = fmt.theory_words(operation, n, m, _colours_by_mode(at))
        if ad["mode"].nunique() >= 2:
            first, second = fmt.best_pair(ad, "mode")
            assert second is not None, "two modes measured"
            v = fmt.compare_rows(first, second, comparisons)
            text += f"{fmt.verdict_words(v, first['mode'], second['mode'])}"
            text += f" (fastest of each mode; theory: {theory})"
        else:
            text += f"{fmt.only_measured_words(ad['mode'].iloc[0])} (theory: {theory})"
        first, second = fmt.best_pair(ad, "backend")
        lead = None
        if second is not None:
            v = fmt.compare_rows(first, second, comparisons)
            lead = fmt.lead_words(v, _case_words(second), fmt.headline_time(second))
        text += "; " + fmt.fastest_words(_case_words(first), fmt.headline_time(first), lead)
        if first.get("reference") == "none":
            text += " (its result is unchecked: no reference was affordable at this size)"
        manual = at[(at["backend"] == "manual")]
        if len(manual):
            text += f"; {fmt.ratio_words(fmt.row_ratio(first, manual.iloc[0], comparisons))} the hand-written time"
        lines.append(text + _tutorial_words(problem, operation, group, comparisons))
        if operation == "sparse-jacobian":
            lines.extend(_dense_against_compressed(problem, size, ok, comparisons))
    return lines


def _colours_by_mode(rows: pd.DataFrame) -> dict[str, int]:
    if "colours" not in rows:
        return {}
    known = rows.dropna(subset=["colours"])
    return {m: int(c) for m, c in zip(known["mode"], known["colours"]) if m in AD_MODES}


def _dense_against_compressed(
    problem: str, size: int, ok: pd.DataFrame, comparisons: Comparisons | None = None
) -> list[str]:
    """The fastest compressed Jacobian against the fastest dense one of the same problem and size, both
    checked (two groups, so never paired: their standard errors combine)."""
    from adbench.engine.questions import ad_rows

    at = ad_rows(ok[(ok["problem"] == problem) & (ok["size"] == size)])
    dense, sparse = at[at["operation"] == "jacobian"], at[at["operation"] == "sparse-jacobian"]
    if dense.empty or sparse.empty:
        return []
    d = fmt.best_pair(dense, "mode")[0]
    s = fmt.best_pair(sparse, "mode")[0]
    v = fmt.compare_rows(s, d, comparisons)
    words = fmt.verdict_words(
        v, f"compressed ({_case_words(s)}, {int(s['colours'])} colours)", f"dense ({_case_words(d)})"
    )
    return [
        f"{problem} (n={int(s['n_inputs'])}): dense against compressed Jacobian: {words}; fastest dense "
        f"{fmt.seconds(fmt.headline_time(d))}, fastest compressed {fmt.seconds(fmt.headline_time(s))}"
    ]


def _case_words(row: pd.Series) -> str:
    """``jax forward``, or ``jax forward chunk=16`` for a chunked case."""
    chunk = row.get("chunk_size")
    return f"{row['backend']} {row['mode']}" + (f" chunk={int(chunk)}" if pd.notna(chunk) else "")


def _tutorial_words(problem: str, operation: str, ok: pd.DataFrame, comparisons: Comparisons | None = None) -> str:
    """Like for like with the tutorial's printed timing, where the problem has one and it was run."""
    if operation != "jacobian":
        return ""
    try:
        tutorial = get_problem(problem).extra.get("tutorial")
    except ValueError:
        return ""
    if not tutorial:
        return ""
    same = ok[(ok["size"] == tutorial["size"]) & (ok["backend"] == tutorial["backend"]) & ok["chunk_size"].isna()]
    same = same.set_index("mode")
    if not {"forward", "reverse"} <= set(same.index):
        return ""
    v = fmt.compare_rows(same.loc["forward"], same.loc["reverse"], comparisons)
    return (
        f"; the tutorial's un-jitted JAX at n={tutorial['size']}: reverse "
        f"{fmt.factor_words('reverse', tutorial['forward_s'] / tutorial['reverse_s'])} (one unsynced call each), "
        f"{tutorial['backend']} here: {fmt.verdict_words(v, 'forward', 'reverse')} (synced medians)"
    )


PHASE_WORDS = {
    "starting workers": "starting workers",
    "first builds": "first builds (first calls, compiles, checks)",
    "other builds": "builds in other workers",
    "visits": "the visits every case gets",
    "adaptive visits": "visits for the comparisons still open",
}


def budget_lines(budget: dict[str, Any] | None) -> list[str]:
    """How much of the time budget the run spent, and where."""
    if not budget or budget.get("time_budget_s") is None:
        return []
    phases = budget.get("phases_s") or {}
    parts = [f"{fmt.seconds(v)} {PHASE_WORDS.get(k, k)}" for k, v in phases.items() if v and v >= 0.05]
    text = (
        f"Spent {budget.get('spent_s', 0):.1f} s of the {budget['time_budget_s']:g} s budget "
        f"(--time-budget): {', '.join(parts)}; {budget.get('visits', 0)} visits in {budget.get('passes', 0)} "
        f"passes, {budget.get('workers', 1)} worker process(es) per framework."
    )
    asked = budget.get("adaptive") or []
    if budget.get("adaptive_visits"):
        names = ", ".join(e["question"] for e in asked[:8]) + (f" and {len(asked) - 8} more" if len(asked) > 8 else "")
        text += f" {budget['adaptive_visits']} of the visits went to comparisons still open after the first: {names}."
    elif budget.get("spent_s", 0) >= budget["time_budget_s"]:
        text += " The budget ran out before any comparison got more visits than the minimum."
    return [text + cluster_words(budget)]


def cluster_words(budget: dict[str, Any]) -> str:
    """Where a cluster run's groups ran, and which ran again or were lost: empty for a local run."""
    cluster = budget.get("cluster")
    if not cluster:
        return ""
    hosts = cluster.get("hosts") or []
    text = (
        f" On the Dask cluster {cluster.get('address')}: {cluster.get('groups', '?')} case groups, each whole "
        f"on one of {len(hosts)} host(s) ({', '.join(hosts)}), the budget shared among them by their cases "
        f"and the seconds above summed over hosts; {cluster.get('wall_s', 0):.1f} s on the clock."
    )
    if cluster.get("rerun"):
        text += f" {cluster['rerun']} group(s) lost their Dask worker and ran again elsewhere."
    if cluster.get("lost_twice"):
        text += f" {cluster['lost_twice']} group(s) lost their worker twice and are errors."
    return text


def budget_words(budget: dict[str, Any] | None) -> list[str]:
    """The time budget, short: spent against asked, where it went (``budget_lines`` says it in full)."""
    if not budget or budget.get("time_budget_s") is None:
        return []
    phases = budget.get("phases_s") or {}
    short = {
        "starting workers": "starting workers",
        "first builds": "first builds",
        "other builds": "other builds",
        "visits": "visits",
        "adaptive visits": "extra visits",
    }
    parts = [f"{fmt.seconds(v)} {short.get(k, k)}" for k, v in phases.items() if v and v >= 0.05]
    text = (
        f"Time: {budget.get('spent_s', 0):.1f} s of the {budget['time_budget_s']:g} s budget (--time-budget): "
        f"{', '.join(parts)}; {budget.get('visits', 0)} visits in {budget.get('passes', 0)} passes."
    )
    if not budget.get("adaptive_visits") and budget.get("spent_s", 0) >= budget["time_budget_s"]:
        text += " No time was left for extra visits to open comparisons."
    return [text + cluster_words(budget)]


def skipped_by_design(frame: pd.DataFrame) -> pd.Series:
    """The baseline cases skipped because no hand-written derivative exists (every user function's, a problem
    without a hand-written Hessian): rows that say nothing about the frameworks, summarised in one line."""
    from adbench.backends import get_backend

    def baseline(name: str) -> bool:
        try:
            return bool(get_backend(name).baseline)
        except ValueError:
            return False

    return (
        (frame["status"] == "skipped")
        & frame["backend"].map(baseline).astype(bool)
        & frame["error"].fillna("").str.contains("hand-written")
    )


def _blocks(
    frame: pd.DataFrame, fmt_name: str, comparisons: Comparisons | None, extra: list[str], width: int | None = None
) -> list[str]:
    """One set's tables, one per problem and operation (without the baselines skipped by design), and its
    summary (with ``extra`` lines)."""
    blocks = []
    shown = frame[~skipped_by_design(frame)] if len(frame) else frame
    if len(shown):
        table = comparison_table(shown, comparisons)
        for (problem, operation), group in table.groupby(["problem", "operation"], sort=False):
            group = group.drop(columns=["problem", "operation"])
            group = group.loc[:, (group != "").any(axis=0)]
            title = f"{problem} · {operation}"
            if fmt_name == "markdown":
                blocks.append(f"### {title}\n\n" + group.to_markdown(index=False))
            else:
                group = group.rename(columns={c: short_mode(c) for c in group.columns})
                group = (
                    group.assign(faster=group["faster"].str.replace(" at this noise level", "", regex=False))
                    if "faster" in group
                    else group
                )
                blocks.append(
                    f"== {title} ==\n"
                    + text_table(
                        list(group.columns),
                        group.values.tolist(),
                        width or DEFAULT_WIDTH,
                        right=("time/f", "first call"),
                    )
                )
    summary = (summary_lines(frame, comparisons) if len(frame) else []) + extra
    if summary:
        if fmt_name == "markdown":
            blocks.append("### Summary\n\n" + "\n".join("- " + line for line in summary))
        else:
            blocks.append("== Verdicts ==\n" + "\n".join(wrap(line, width or DEFAULT_WIDTH, "  ") for line in summary))
    return blocks


LEGEND = (
    "Times per call: the geometric mean over visits of each visit's fastest sample; "
    + fmt.NOISE_NOTE
    + ". A faster mode or framework is named only when the 95% interval of the ratio (in brackets, from the two "
    f"cases' visits matched in time) excludes 1; within ±{fmt.TIE - 1:.0%} it is a tie. wrong: the result "
    "failed its correctness check and is never ranked. time/f and first call are for the fastest mode."
)


def render(
    frame: pd.DataFrame,
    fmt_name: str,
    noise: dict[str, Any] | None = None,
    comparisons: Comparisons | None = None,
    budget: dict[str, Any] | None = None,
    *,
    details: bool = False,
    width: int | None = None,
    explained: dict[Any, Any] | None = None,
) -> str:
    """The run's results as text: the answers first (one screen), then with ``details`` every backend's table
    and the verdict sentences with their intervals; markdown (answers and details); or the tidy rows as
    csv/json. ``width``: the terminal's (``terminal_width``); ``explained``: rows that known framework
    defects explain (``adbench.findings``)."""
    if fmt_name == "csv":
        return frame.to_csv(index=False)
    if fmt_name == "json":
        return frame.to_json(orient="records", indent=1)
    width = width or terminal_width()
    explained = explained or {}
    markdown = fmt_name == "markdown"
    sets = host_sets(frame)
    extra = fmt.noise_lines(noise or {})
    blocks: list[str] = []
    for host, part in sets:
        if host is not None:
            blocks.append(f"## host {host}" if markdown else f"######## host {host} ########")
        if markdown:
            blocks.append(markdown_answers(part, comparisons, explained))
        else:
            blocks += glance_block(part, comparisons, width, explained, details)
    blocks += findings_block(frame, explained, width)
    if markdown:
        blocks += [b for _, part in sets for b in _blocks(part, fmt_name, comparisons, [])]
        blocks.append("\n".join(extra + budget_lines(budget)))
        return "\n\n".join(b for b in blocks if b) + "\n\n" + LEGEND + "\n"
    blocks += [wrap(line, width) for line in extra + budget_words(budget)]
    if details:
        blocks += [b for _, part in sets for b in _blocks(part, fmt_name, comparisons, [], width)]
        blocks.append(wrap(LEGEND, width))
    blocks.append(wrap(GLANCE_LEGEND.format(tie=f"{fmt.TIE - 1:.0%}"), width))
    return "\n\n".join(b for b in blocks if b) + "\n"


def host_sets(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """The frame by host, where it holds several (and its rows of no known host apart): never one machine's
    numbers against another's, each host's cases are a set of their own. One host: the frame, unnamed."""
    hosts = list(dict.fromkeys(frame["host"].dropna())) if "host" in frame else []
    if len(hosts) <= 1:
        return [(None, frame)]
    sets: list[tuple[str | None, pd.DataFrame]] = [(host, frame[frame["host"] == host]) for host in hosts]
    lost = frame[frame["host"].isna()]
    return sets + [("unknown", lost)] if len(lost) else sets


def markdown_answers(frame: pd.DataFrame, comparisons: Comparisons | None, explained: dict[Any, Any]) -> str:
    """The answers as a markdown table, each note in full below it."""
    rows = glance_rows(frame, comparisons, explained)
    cells = [(f"{r.problem} · {r.operation}", r.shape, r.mode, r.fastest, r.lead, r.floor, r.first_call) for r in rows]
    table = pd.DataFrame(cells, columns=list(GLANCE_COLUMNS))
    notes = [f"- {r.problem} {r.operation}: {note}" for r in rows for note in r.notes]
    return "### Answers\n\n" + table.to_markdown(index=False) + ("\n\n" + "\n".join(notes) if notes else "")


__all__ = [
    "budget_lines",
    "comparison_table",
    "faster_words",
    "host_sets",
    "markdown_answers",
    "render",
    "skipped_by_design",
    "summary_lines",
]
