"""How a comparison's results are shown: the table per problem and operation, the summary lines, the budget
spent; for ``adbench compare`` (the report words its verdicts with the same ``adbench.formatting``).

Nothing here runs anything: a frame of result rows (and the set's paired comparisons) in, text out,
as torch.utils.benchmark's Compare only renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd

from adbench import formatting as fmt
from adbench.backends import AD_MODES, BASELINE_MODES, mode_order
from adbench.engine.estimates import Comparisons
from adbench.problems import get_problem
from adbench.terminal import DEFAULT_WIDTH, terminal_width, text_table, wrap

# A groupby key's values: this frame's cells (pandas-stubs types each as Hashable).
CellValues = tuple[Any, ...]


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


# -- the one screen: the answers first -------------------------------------------------------------------
# Pass counting predicts a mode's factor; a measured factor below 1/FAR_BELOW of it (theory >= 10x) gets a why.
FAR_BELOW = 4.0


def short_mode(mode: str) -> str:
    """'fwd-over-rev' for a composition (a table cell's worth); first-order modes keep their names."""
    return mode.replace("forward", "fwd").replace("reverse", "rev") if "-over-" in mode else mode


@dataclass
class Glance:
    """One row of the answers: a problem's operation at one size: best mode, fastest framework and its lead,
    the fastest over the hand-written floor, its first call, and the notes that say why where a figure
    looks wrong but is right."""

    problem: str
    operation: str
    size: int
    shape: str
    mode: str = ""
    fastest: str = ""
    lead: str = ""
    floor: str = ""
    first_call: str = ""
    cache_hit: bool = False  # its first call's compile came from the framework's persistent cache
    notes: list[str] = field(default_factory=list)
    known: bool = False  # a case here is wrong by a known framework defect (shown under Findings)


def _verdict_cell(v: fmt.Verdict, winner: str) -> str:
    """'reverse 21.6×', 'tie' or 'unresolved': a verdict without its interval (--details has them)."""
    if v.winner == "tie":
        return "tie"
    return f"{winner} {fmt.factor(v.factor)}" if v.resolved else "unresolved"


def glance_rows(
    frame: pd.DataFrame, comparisons: Comparisons | None = None, explained: dict[Any, Any] | None = None
) -> list[Glance]:
    """The answers, one per problem, operation and size (every size asked for gets its own); failed and wrong
    cases are never ranked. ``explained``: row index -> the known defect that explains it (``adbench.findings``)."""
    from adbench.engine.questions import ad_rows

    explained = explained or {}
    rows = frame[frame["replicate"].fillna(0).astype(int) == 0] if "replicate" in frame else frame
    out = []
    for key, group in rows.groupby(["problem", "operation", "size"], sort=False):
        problem, operation, size = cast(CellValues, key)
        n = int(group["n_inputs"].iloc[0])
        m = group["n_outputs"].dropna()
        shape = f"{n} → {int(m.iloc[0])}" if len(m) else f"{n} → ?"
        g = Glance(str(problem), str(operation), int(size), shape)
        ad = ad_rows(group)
        ad = ad if len(ad) else group  # a run of baselines only: they are what there is to rank
        ok = ad[ad["status"] == "ok"]
        for index, row in ad[ad["status"] == "wrong"].iterrows():
            if index in explained:  # named under Findings
                g.known = True
            else:
                g.notes.append(f"{row['backend']} {row['mode']} is wrong, and no known defect explains it: not ranked.")
        if ok.empty:
            counts = ad["status"].value_counts()
            g.mode = "none passed" + (": " + ", ".join(f"{v} {k}" for k, v in counts.items()) if len(counts) else "")
            out.append(g)
            continue
        if ok["mode"].nunique() >= 2:
            first, second = fmt.best_pair(ok, "mode")
            assert second is not None, "two modes measured"
            v = fmt.compare_rows(first, second, comparisons)
            g.mode = _verdict_cell(v, short_mode(str(first["mode"] if v.winner == "a" else second["mode"])))
            g.notes += _theory_note(operation, n, first, second, v)
        else:
            g.mode = f"only {short_mode(str(ok['mode'].iloc[0]))}"
        first, second = fmt.best_pair(ok, "backend")
        g.fastest = f"{first['backend']} {short_mode(str(first['mode']))}"
        if second is None:
            g.lead = "alone"
        else:
            v = fmt.compare_rows(first, second, comparisons)
            g.lead = fmt.factor(v.factor) if v.resolved else "tie" if v.winner == "tie" else "unresolved"
        g.first_call = fmt.seconds(first["first_call_s"])
        g.cache_hit = bool(cache_mark(first))
        manual = group[(group["backend"] == "manual") & (group["status"] == "ok")]
        if len(manual):
            value, _, high = fmt.row_ratio(first, manual.iloc[0], comparisons)
            g.floor = fmt.factor(value)
            if fmt.is_number(value) and (high if fmt.is_number(high) else value) < 1:  # below 1, as far as we know
                g.notes += _floor_note(first, manual.iloc[0])
        out.append(g)
    return out


def _floor_note(fastest: pd.Series, manual: pd.Series) -> list[str]:
    """Why a framework beats the hand-written Jacobian: the floor is NumPy code, and where NumPy's own f is
    slower than the framework's f (per-operation overhead at a small n, against one compiled program), the
    hand-written derivative pays the same overhead."""
    own, numpy_f = fastest.get("f_time_s"), manual.get("f_time_s")
    name = str(fastest["backend"])
    if not (fmt.is_number(own) and fmt.is_number(numpy_f) and float(own) > 0):
        return []
    speed = float(numpy_f) / float(own)
    costs = f"{fmt.ratio(fastest.get('j_over_f'))} f against {fmt.ratio(manual.get('j_over_f'))} f by hand"
    if speed <= 1.2:
        return [f"{name} under the hand-written time with f at NumPy's speed: it costs {costs}."]
    compiled = any(w in str(fastest.get("call", "")) for w in ("jit", "compile"))
    how = "one compiled program" if compiled else "fewer, larger operations"
    return [
        (
            f"{name} under the hand-written time: its own f is {fmt.factor(speed)} faster than NumPy's "
            f"({how} vs NumPy's per-call overhead at n = {fmt.integer(fastest['n_inputs'], ',')}); it costs {costs}."
        )
    ]


def _theory_note(operation: str, n: int, first: pd.Series, second: pd.Series, v: fmt.Verdict) -> list[str]:
    """Why a mode wins by far less than pass counting says: the slower mode's passes run vectorised (one
    batched pass, vmap), not one after another, so at a small n they cost little more than one."""
    from adbench.backends import get_backend
    from adbench.backends.modes import passes

    if operation != "jacobian" or not v.resolved:
        return []
    m = int(first["n_outputs"]) if fmt.is_number(first.get("n_outputs")) else n
    counts = {mode: passes(operation, mode, n, m) or 0 for mode in ("forward", "reverse")}
    faster, slower = (first, second) if v.winner == "a" else (second, first)
    if {str(faster["mode"]), str(slower["mode"])} != set(counts) or not all(counts.values()):
        return []
    theory = counts[str(slower["mode"])] / counts[str(faster["mode"])]
    if theory < 10 or v.factor * FAR_BELOW > theory:
        return []
    try:
        vectorized = get_backend(str(slower["backend"])).vectorized
    except ValueError:
        return []
    if not vectorized:
        return []
    k = counts[str(slower["mode"])]
    what = "JVPs" if str(slower["mode"]) == "forward" else "VJPs"
    how = slower.get("call") or slower["backend"]
    return [
        (
            f"{faster['mode']} {fmt.factor(v.factor)}, not ~{fmt.factor(theory)}: {how} batches its "
            f"{fmt.integer(k, ',')} {what} into one vectorised pass, far cheaper than {fmt.integer(k, ',')} passes "
            "at this n."
        )
    ]


def cache_mark(row: Any) -> str:
    """ " (hit)" beside a first call whose compilation the framework's persistent cache served (a warm run's),
    so it is never read as a cold compile; "" for a cold compile or a framework that compiles nothing."""
    state = row.get("first_call_cache") if hasattr(row, "get") else None
    return " (hit)" if state in ("hit", "partial") else ""


GLANCE_COLUMNS = ("problem · operation", "n → m", "best mode", "fastest", "lead", "× hand", "1st call")
GLANCE_LEGEND = (
    "best mode: its factor over the next mode; lead: the fastest framework's factor over the next; × hand: "
    "its time over the hand-written NumPy derivative; 1st call: trace, compile and run. tie: within "
    "±{tie}; unresolved: the 95% intervals overlap. Wrong results are never ranked (* and ! rows: see "
    "below the table). Intervals, theory, every backend: --details."
)


def glance_block(
    frame: pd.DataFrame, comparisons: Comparisons | None, width: int, explained: dict[Any, Any] | None = None
) -> list[str]:
    """The answers table and its notes, fitted to ``width``."""
    rows = glance_rows(frame, comparisons, explained)
    if not rows:
        return []
    several = {
        (r.problem, r.operation)
        for r in rows
        if sum((q.problem, q.operation) == (r.problem, r.operation) for q in rows) > 1
    }
    cells: list[tuple[str, ...]] = []
    for r in rows:
        mark = (" *" if r.notes else "") + (" !" if r.known else "")
        cells.append(
            (f"{r.problem} · {r.operation}", r.shape, r.mode, r.fastest + mark, r.lead, r.floor or "–", r.first_call)
        )
    columns = list(GLANCE_COLUMNS)
    if not any(r.floor for r in rows):  # no hand-written derivative anywhere (a user's function): no column
        columns.remove("× hand")
        cells = [c[:5] + c[6:] for c in cells]
    blocks = [text_table(columns, cells, width, right=("× hand", "1st call"))]
    notes = [
        wrap(
            f"* {r.problem} {r.operation}"
            + (f" n={r.size}" if (r.problem, r.operation) in several else "")
            + f": {note}",
            width,
        )
        for r in rows
        for note in r.notes
    ]
    hits = sum(r.cache_hit for r in rows)
    if hits:
        notes.append(
            wrap(
                f"1st call: {hits} of the {len(rows)} above loaded their compile from the framework's persistent "
                "cache, kept by an earlier run: not a cold compile (ADBENCH_NO_CACHE=1 measures cold ones).",
                width,
            )
        )
    if notes:
        blocks.append("\n".join(notes))
    return blocks


def findings_block(frame: pd.DataFrame, explained: dict[Any, Any], width: int) -> list[str]:
    """Known framework defects this run met, each named with its framework, version and upstream issue, and
    the rows it explains."""
    if not explained:
        return []
    by_defect: dict[str, tuple[Any, dict[str, list[str]]]] = {}
    for index, defect in explained.items():
        row = frame.loc[index]
        case = (
            f"{row['problem']} n={int(row['size'])} {{ops}} {row['backend']}/{row['mode']} {row['dtype']} "
            f"({row['status']}, {row['framework']} {row['framework_version']})"
        )
        by_defect.setdefault(defect.title, (defect, {}))[1].setdefault(case, []).append(str(row["operation"]))
    lines = [
        wrap(
            "! Findings: known framework defects met in this run (never ranked; they fail the run only "
            "with --fail-on known):",
            width,
        )
    ]
    for defect, cases in by_defect.values():
        count = sum(len(ops) for ops in cases.values())
        said = "; ".join(case.format(ops=" and ".join(ops)) for case, ops in cases.items())
        lines.append(wrap(f"! {defect.title}", width, "  "))
        lines.append(wrap(f"{count} case{'s' * (count != 1)}: {said}", width, "    "))
    return ["\n".join(lines)]


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
    hosts = list(dict.fromkeys(frame["host"].dropna())) if "host" in frame else []
    # Never one machine's numbers against another's: each host's cases are a set of their own.
    sets: list[tuple[str | None, pd.DataFrame]] = (
        [(host, frame[frame["host"] == host]) for host in hosts] if len(hosts) > 1 else [(None, frame)]
    )
    lost = frame[frame["host"].isna()] if len(hosts) > 1 else frame.iloc[0:0]
    if len(lost):
        sets.append(("unknown", lost))
    extra = fmt.noise_lines(noise or {})
    blocks: list[str] = []
    for host, part in sets:
        if host is not None:
            blocks.append(f"## host {host}" if markdown else f"######## host {host} ########")
        if markdown:
            rows = glance_rows(part, comparisons, explained)
            table = pd.DataFrame(
                [
                    (f"{r.problem} · {r.operation}", r.shape, r.mode, r.fastest, r.lead, r.floor, r.first_call)
                    for r in rows
                ],
                columns=list(GLANCE_COLUMNS),
            )
            notes = [f"- {r.problem} {r.operation}: {note}" for r in rows for note in r.notes]
            blocks.append(
                "### Answers\n\n" + table.to_markdown(index=False) + ("\n\n" + "\n".join(notes) if notes else "")
            )
        else:
            blocks += glance_block(part, comparisons, width, explained)
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


__all__ = [
    "Glance",
    "budget_lines",
    "comparison_table",
    "faster_words",
    "glance_rows",
    "render",
    "skipped_by_design",
    "summary_lines",
]
