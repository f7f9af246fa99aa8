"""The one screen ``adbench compare`` opens with: one row of answers per problem and operation, the notes that
say why where a figure looks wrong but is right, and the known framework defects the run met."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adbench import formatting as fmt
from adbench.engine.estimates import Comparisons
from adbench.terminal import text_table, wrap

# A groupby key's values: this frame's cells (pandas-stubs types each as Hashable).
CellValues = tuple[Any, ...]
# Pass counting predicts a mode's factor; a measured factor below 1/FAR_BELOW of it (theory >= 10x) gets a why.
FAR_BELOW = 4.0


def short_mode(mode: str) -> str:
    """'fwd-over-rev' for a composition (a table cell's worth); first-order modes keep their names."""
    return mode.replace("forward", "fwd").replace("reverse", "rev") if "-over-" in mode else mode


def cache_mark(row: Any) -> str:
    """ " (hit)" beside a first call whose compilation the framework's persistent cache served (a warm run's),
    so it is never read as a cold compile; "" for a cold compile or a framework that compiles nothing."""
    state = row.get("first_call_cache") if hasattr(row, "get") else None
    return " (hit)" if state in ("hit", "partial") else ""


@dataclass(frozen=True)
class Note:
    """Why a row's figure looks wrong but is right, or why a row is not ranked: the whole sentence (--details,
    markdown) and, for the one screen, its kind and the row's own few words (rows of one kind share a line)."""

    text: str
    kind: str = "wrong"  # wrong · vectorised · fast-f · same-f (NOTE_KINDS)
    short: str = ""


# The one screen's line per kind of note: what the rows of that kind share, said once.
NOTE_KINDS = {
    "vectorised": "far below pass counting, the slower mode's passes run as one vectorised pass (vmap)",
    "fast-f": "under the hand-written time, the framework's own f faster than NumPy's by the factor given (NumPy's "
    "per-call overhead, which the hand-written derivative pays too)",
    "same-f": "under the hand-written time with f at NumPy's speed, in fewer f-costs than by hand",
}


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
    why: list[Note] = field(default_factory=list)
    known: bool = False  # a case here is wrong by a known framework defect (shown under Findings)

    @property
    def notes(self) -> list[str]:
        """The notes in full sentences."""
        return [note.text for note in self.why]


def _verdict_cell(v: fmt.Verdict, winner: str = "") -> str:
    """'reverse 21.6×', 'tie', or where the data do not separate the two what their interval still says, '≤8%
    apart' ('unresolved' without one): a verdict without its interval (--details has them). No ``winner``: the
    factor alone (the lead's cell)."""
    if v.winner == "tie":
        return "tie"
    if v.resolved:
        return f"{winner} {fmt.factor(v.factor)}".strip()
    return fmt.apart_words(v) or "unresolved"


def glance_rows(
    frame: pd.DataFrame, comparisons: Comparisons | None = None, explained: dict[Any, Any] | None = None
) -> list[Glance]:
    """The answers, one per problem, operation and size (every size asked for gets its own); failed and wrong
    cases are never ranked. ``explained``: row index -> the known defect that explains it (``adbench.findings``)."""
    rows = frame[frame["replicate"].fillna(0).astype(int) == 0] if "replicate" in frame else frame
    return [
        _glance(group, comparisons, explained or {})
        for _, group in rows.groupby(["problem", "operation", "size"], sort=False)
    ]


def _glance(group: pd.DataFrame, comparisons: Comparisons | None, explained: dict[Any, Any]) -> Glance:
    """The answer for one problem, operation and size."""
    from adbench.engine.questions import HAND_WRITTEN, ad_rows

    problem, operation, size = (group[column].iloc[0] for column in ("problem", "operation", "size"))
    n = int(group["n_inputs"].iloc[0])
    m = group["n_outputs"].dropna()
    g = Glance(str(problem), str(operation), int(size), f"{n} → {int(m.iloc[0])}" if len(m) else f"{n} → ?")
    ad = ad_rows(group)
    ad = ad if len(ad) else group  # a run of baselines only: they are what there is to rank
    ok = ad[ad["status"] == "ok"]
    for index, row in ad[ad["status"] == "wrong"].iterrows():
        if index in explained:  # named under Findings
            g.known = True
        else:
            g.why.append(Note(f"{row['backend']} {row['mode']} is wrong, and no known defect explains it: not ranked."))
    if ok.empty:
        counts = ad["status"].value_counts()
        g.mode = "none passed" + (": " + ", ".join(f"{v} {k}" for k, v in counts.items()) if len(counts) else "")
        return g
    if ok["mode"].nunique() >= 2:
        first, second = fmt.best_pair(ok, "mode")
        assert second is not None, "two modes measured"
        v = fmt.compare_rows(first, second, comparisons)
        g.mode = _verdict_cell(v, short_mode(str(first["mode"] if v.winner == "a" else second["mode"])))
        g.why += _theory_note(str(operation), n, first, second, v)
    else:
        g.mode = f"only {short_mode(str(ok['mode'].iloc[0]))}"
    first, second = fmt.best_pair(ok, "backend")
    g.fastest = f"{first['backend']} {short_mode(str(first['mode']))}"
    if second is None:
        g.lead = "alone"
    else:
        v = fmt.compare_rows(first, second, comparisons)
        g.lead = _verdict_cell(v)
    g.first_call = fmt.seconds(first["first_call_s"])
    g.cache_hit = bool(cache_mark(first))
    manual = group[(group["backend"] == HAND_WRITTEN) & (group["status"] == "ok")]
    if len(manual):
        value, _, high = fmt.row_ratio(first, manual.iloc[0], comparisons)
        g.floor = fmt.factor(value)
        if fmt.is_number(value) and (high if fmt.is_number(high) else value) < 1:  # below 1, as far as we know
            g.why += _floor_note(first, manual.iloc[0])
    return g


def _floor_note(fastest: pd.Series, manual: pd.Series) -> list[Note]:
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
        said = f"{name} under the hand-written time with f at NumPy's speed: it costs {costs}."
        return [Note(said, "same-f", costs)]
    compiled = any(w in str(fastest.get("call", "")) for w in ("jit", "compile"))
    how = "one compiled program" if compiled else "fewer, larger operations"
    said = (
        f"{name} under the hand-written time: its own f is {fmt.factor(speed)} faster than NumPy's "
        f"({how} vs NumPy's per-call overhead at n = {fmt.integer(fastest['n_inputs'], ',')}); it costs {costs}."
    )
    return [Note(said, "fast-f", f"{name} {fmt.factor(speed)}")]


def _theory_note(operation: str, n: int, first: pd.Series, second: pd.Series, v: fmt.Verdict) -> list[Note]:
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
    k = fmt.integer(counts[str(slower["mode"])], ",")
    what = "JVPs" if str(slower["mode"]) == "forward" else "VJPs"
    how = slower.get("call") or slower["backend"]
    said = (
        f"{faster['mode']} {fmt.factor(v.factor)}, not ~{fmt.factor(theory)}: {how} batches its {k} {what} into "
        f"one vectorised pass, far cheaper than {k} passes at this n."
    )
    return [Note(said, "vectorised", f"{faster['mode']} {fmt.factor(v.factor)}, not ~{fmt.factor(theory)}")]


GLANCE_COLUMNS = ("problem · operation", "n → m", "best mode", "fastest", "lead", "× hand", "1st call")
GLANCE_LEGEND = (
    "best mode: its factor over the next mode; lead: the fastest framework's over the next; × hand: its time "
    "over the hand-written NumPy one; 1st call: trace, compile and run. tie: within ±{tie}; ≤8% apart: not "
    "separated, but their ratio's 95% interval lies within ±8%; * and !: see below the table. Intervals, theory, "
    "every backend: --details."
)


def glance_block(
    frame: pd.DataFrame,
    comparisons: Comparisons | None,
    width: int,
    explained: dict[Any, Any] | None = None,
    details: bool = False,
) -> list[str]:
    """The answers table and its notes, fitted to ``width``: rows that share a kind of note share its line,
    unless ``details`` asks for every note in full."""
    rows = glance_rows(frame, comparisons, explained)
    if not rows:
        return []
    cells: list[tuple[str, ...]] = []
    for r in rows:
        mark = (" *" if r.why else "") + (" !" if r.known else "")
        cells.append(
            (f"{r.problem} · {r.operation}", r.shape, r.mode, r.fastest + mark, r.lead, r.floor or "–", r.first_call)
        )
    columns = list(GLANCE_COLUMNS)
    if not any(r.floor for r in rows):  # no hand-written derivative anywhere (a user's function): no column
        columns.remove("× hand")
        cells = [c[:5] + c[6:] for c in cells]
    blocks = [text_table(columns, cells, width, right=("× hand", "1st call"))]
    notes = [wrap(line, width) for line in note_lines(rows, details)]
    hits = sum(r.cache_hit for r in rows)
    if hits:  # one line: a warm run's first calls are never read as cold compiles
        said = f"1st call: {hits} of {len(rows)} from a persistent compile cache, not compiled cold"
        notes.append(wrap(f"{said} (ADBENCH_NO_CACHE=1: cold)", width))
    if notes:
        blocks.append("\n".join(notes))
    return blocks


def note_lines(rows: list[Glance], details: bool = False) -> list[str]:
    """The notes under the answers: each in full with ``details``; otherwise a row's own (a wrong result no
    known defect explains) in full, and one line per kind for the rest, naming its rows."""
    several = {
        (r.problem, r.operation)
        for r in rows
        if sum((q.problem, q.operation) == (r.problem, r.operation) for q in rows) > 1
    }

    def where(r: Glance) -> str:
        return f"{r.problem} {r.operation}" + (f" n={r.size}" if (r.problem, r.operation) in several else "")

    lines = [f"* {where(r)}: {n.text}" for r in rows for n in r.why if details or n.kind not in NOTE_KINDS]
    for kind, head in ({} if details else NOTE_KINDS).items():
        named = [f"{where(r)} ({n.short})" for r in rows for n in r.why if n.kind == kind]
        if named:
            lines.append(f"* {head}: {'; '.join(named)}.")
    return lines


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
        wrap("! Findings: known framework defects (never ranked; they fail the run only with --fail-on known):", width)
    ]
    for defect, cases in by_defect.values():
        count = sum(len(ops) for ops in cases.values())
        said = "; ".join(case.format(ops=" and ".join(ops)) for case, ops in cases.items())
        lines.append(wrap(f"! {defect.title}", width, "  "))
        lines.append(wrap(f"{count} case{'s' * (count != 1)}: {said}", width, "    "))
    return ["\n".join(lines)]


__all__ = ["GLANCE_COLUMNS", "Glance", "Note", "cache_mark", "findings_block", "glance_block", "glance_rows"]
