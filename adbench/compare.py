"""``adbench compare``: build the case grid, run it, save the results and say what they show."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adbench import formatting as fmt
from adbench.backends import AD_MODES, NESTED, OPERATIONS, SECOND_ORDER, backend_names, get_backend
from adbench.engine.cases import CaseSpec
from adbench.problems import Problem, get_problem, list_problems
from adbench.engine.record import FAILED, CaseResult
from adbench.engine.timing import INTERVAL_METHOD

# sparse-jacobian runs only on problems that declare a pattern; nested only on the problems that
# differentiate inside themselves, which have no other operation.
DEFAULT_OPERATIONS = ("jacobian", "hvp", "sparse-jacobian", NESTED)
# A plain run asks the question people ask of HVPs, forward-over-reverse or reverse-over-reverse;
# --modes or --full add the other two compositions.
DEFAULT_MODES = {"hvp": ("forward-over-reverse", "reverse-over-reverse"),
                 "hessian": ("forward-over-reverse", "reverse-over-reverse")}
DEFAULT_ROUNDS = 2
QUICK_OPERATIONS = ("jacobian",)
DEFAULT_BUDGET_S = 0.08
QUICK_BUDGET_S = 0.03


def build_grid(
    problems: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
    dtype: str = "float32",
    seed: int = 0,
    quick: bool = False,
    *,
    operations: Sequence[str] | None = None,
    full: bool = False,
    chunk_sizes: Sequence[int | None] = (None,),
    device: str = "cpu",
) -> list[CaseSpec]:
    """Every (problem, size, operation, backend, mode[, chunk]) asked for.

    Baselines run their one mode whatever ``modes`` says. A second-order operation is left out
    for a registered problem with vector output (it has no Hessian to ask for); a user's function
    is kept and its worker decides. Chunk sizes apply to the Jacobians of backends that chunk;
    every other case runs once, unchunked.
    """
    probs = [get_problem(p) for p in problems] if problems else [p for p in list_problems() if full or p.plain_run]
    backend_objs = [get_backend(b) for b in (backends or backend_names(default_only=True))]
    operations = tuple(operations or DEFAULT_OPERATIONS)
    specs = []
    for problem in probs:
        for n in sizes_for(problem, sizes, quick, full):
            m = problem.known_n_outputs(n)
            for operation in operations:
                if operation in SECOND_ORDER and m is not None and not problem.is_scalar(n):
                    continue
                if operation == "sparse-jacobian" and problem.sparsity is None:
                    continue  # no pattern declared: nothing to compress
                if problem.nested != (operation == NESTED):
                    continue
                for backend in backend_objs:
                    wanted = modes or (None if full else DEFAULT_MODES.get(operation))
                    for mode in backend.modes_for(operation):
                        if wanted and not backend.baseline and mode not in wanted:
                            continue
                        chunks = chunk_sizes if (backend.chunkable and operation == "jacobian") else (None,)
                        for chunk in dict.fromkeys(chunks):
                            specs.append(CaseSpec(problem.name, n, backend.name, mode, dtype, seed, operation,
                                                  chunk, device))
    return specs


def sizes_for(problem: Problem, sizes: Sequence[int] | None, quick: bool, full: bool = False) -> tuple[int, ...]:
    """The sizes a problem runs at: ``--sizes`` for problems that take any n; presets otherwise."""
    if sizes and problem.takes_any_size:
        return tuple(sizes)
    if quick:
        return problem.quick_sizes
    return problem.sizes if full else problem.run_sizes


# -- running ------------------------------------------------------------------------------------------
@dataclass
class CompareRun:
    """What a comparison produced: the outcome, its rows as a DataFrame, and where they were saved."""

    outcome: Any
    frame: pd.DataFrame
    csv_path: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame["status"].isin(FAILED + ("wrong",))]


def run(
    specs: list[CaseSpec],
    *,
    output: Path | None = None,
    threads: int = 1,
    rounds: int = DEFAULT_ROUNDS,
    budget_s: float = DEFAULT_BUDGET_S,
    timeout_s: float = 60.0,
    memory_limit_gib: float | None = None,
    device: str = "cpu",
    command: str = "adbench.compare.run",
    on_result: Callable[[CaseResult], None] | None = None,
    save_interval_s: float = 1.0,
) -> CompareRun:
    """Run ``specs`` and save them as a result set (a CSV and its JSON sidecar) as they finish.

    ``output`` defaults to a fresh ``results/compare-<UTC time>.csv`` (created exclusively). The
    set is rewritten at most every ``save_interval_s`` and after every round, and once more at
    the end or when interrupted: an interrupted run keeps what it finished.
    """
    import time

    from adbench.engine.environment import environment
    from adbench.engine.results import ResultWriter, check_output_path, new_run_id, reserve_default_path
    from adbench.engine.runner import RunOutcome, RunSettings, run_grid

    path = check_output_path(output) if output is not None else reserve_default_path()
    settings = RunSettings(threads=threads, budget_s=budget_s, rounds=rounds, timeout_s=timeout_s,
                           memory_limit_bytes=int(memory_limit_gib * 2**30) if memory_limit_gib else None,
                           device=device)
    recorded = {
        "command": command, "threads": threads, "rounds": rounds, "budget_s": budget_s, "timeout_s": timeout_s,
        "memory_limit_gib": memory_limit_gib, "device": device,
        "dtype": sorted({s.dtype for s in specs}), "seed": sorted({s.seed for s in specs}),
        "operations": list(dict.fromkeys(s.operation for s in specs)),
        "statistic": "median of calibrated samples (each >= 1 ms of back-to-back synced calls), "
                     "pooled over rounds in fresh worker processes",
        "interval": INTERVAL_METHOD,
    }
    outcome = RunOutcome()
    env = environment(outcome.versions, threads, device=device, framework_builds=outcome.builds)
    writer = ResultWriter(path, new_run_id(), env, recorded)
    writer.write([])  # the set exists (and the path is proven writable) before anything is timed
    last = [0.0]
    warned: list[str] = []

    def save() -> None:
        writer.noise = outcome.noise
        try:
            writer.write(outcome.results)
        except OSError as exc:  # a full disk mid-run: keep measuring, say so once, retry later
            if not warned:
                warned.append(str(exc))
                print(f"adbench: cannot save results to {path} ({exc}); still running, will retry",
                      file=sys.stderr)

    def saved(result: CaseResult) -> None:
        if time.monotonic() - last[0] >= save_interval_s:
            save()
            last[0] = time.monotonic()
        if on_result:
            on_result(result)

    try:
        run_grid(specs, settings, on_result=saved, outcome=outcome, on_round_end=lambda _: save())
    finally:
        writer.noise = outcome.noise
        writer.write(outcome.results)  # the last chance: an error here is the run's error
    from adbench.engine.results import rows_to_frame

    frame = rows_to_frame(outcome.results)
    return CompareRun(outcome, frame, path, recorded)


# -- what the results say --------------------------------------------------------------------------------
def _cell(rows: pd.DataFrame) -> str:
    """A time cell: the median, ~ when noisy, or the status when the case is not ok."""
    if rows.empty:
        return ""
    row = rows.iloc[0]
    if row["status"] == "wrong":
        return f"wrong ({fmt.seconds(row['median_s'])})" if pd.notna(row["median_s"]) else "wrong"
    if row["status"] != "ok":
        return str(row["status"])
    return fmt.seconds(row["median_s"]) + (" ~" if bool(row["noisy"]) else "")


def mode_order(modes: Sequence[str]) -> list[str]:
    known = list(AD_MODES) + ["forward-over-reverse", "reverse-over-reverse", "reverse-over-forward",
                              "forward-over-forward", "manual", "central"]
    return sorted(dict.fromkeys(modes), key=lambda m: known.index(m) if m in known else len(known))


def faster_words(group: pd.DataFrame) -> str:
    """Within one backend: the fastest mode against the next-fastest, when the data separate them."""
    ok = group[(group["status"] == "ok") & ~group["mode"].isin(["manual", "central"])]
    if ok["mode"].nunique() < 2:
        return ""
    first, second = fmt.best_pair(ok, "mode")
    return fmt.verdict_words(fmt.compare_rows(first, second), first["mode"], second["mode"])


FIXED_COLUMNS = ("problem", "operation", "n → m", "backend", "colours", "faster", "time/f", "first call")


def _colour_words(group: pd.DataFrame) -> str:
    """sparse-jacobian: the compressed passes per mode ('forward 15, reverse 200'); empty otherwise."""
    if "colours" not in group or group["colours"].isna().all():
        return ""
    per_mode = group.dropna(subset=["colours"]).drop_duplicates("mode")
    return ", ".join(f"{r['mode']} {int(r['colours'])}" for _, r in per_mode.iterrows())


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, size, operation, backend[, chunk]): each mode's median, the faster mode, time/f, first call."""
    out = []
    keys = ["problem", "size", "operation", "backend", "chunk_size"]
    frame = frame.assign(chunk_size=frame["chunk_size"].astype(object).where(frame["chunk_size"].notna(), None))
    for (problem, size, operation, backend, chunk), group in frame.groupby(keys, sort=False, dropna=False):
        ok = group[group["status"] == "ok"]
        best = ok.loc[ok["median_s"].idxmin()] if len(ok) else None
        n, m = int(group["n_inputs"].iloc[0]), group["n_outputs"].dropna()
        m = int(m.iloc[0]) if len(m) else None
        row: dict[str, str] = {"problem": problem, "operation": operation,
               "n → m": f"{n} → {m if m is not None else '?'}" + (f" ({group['preset'].iloc[0]})"
                                                                if pd.notna(group["preset"].iloc[0]) else ""),
               "backend": backend + (f" chunk={int(chunk)}" if chunk is not None and pd.notna(chunk) else "")}
        for mode in mode_order(group["mode"]):
            row[mode] = _cell(group[group["mode"] == mode])
        row["colours"] = _colour_words(group)
        row["faster"] = faster_words(group)
        row["time/f"] = fmt.ratio(best["j_over_f"]) if best is not None and pd.notna(best["j_over_f"]) else ""
        row["first call"] = fmt.seconds(best["first_call_s"]) if best is not None else ""
        out.append(row)
    frame_out = pd.DataFrame(out).fillna("")
    modes = mode_order([c for c in frame_out.columns if c not in FIXED_COLUMNS])
    first = ["problem", "operation", "n → m", "backend"]
    return frame_out[first + modes + ["colours", "faster", "time/f", "first call"]] if len(frame_out) else frame_out


def summary_lines(frame: pd.DataFrame) -> list[str]:
    """Per problem and operation, at its largest size: the winning mode and the fastest framework,
    named only where the intervals separate them; failed and wrong cases are never ranked."""
    lines = []
    ok = frame[frame["status"] == "ok"]
    for (problem, operation), group in ok.groupby(["problem", "operation"], sort=False):
        frameworks = group[~group["backend"].map(lambda b: get_backend(b).baseline)]
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
            text += f"{fmt.verdict_words(fmt.compare_rows(first, second), first['mode'], second['mode'])}"
            text += f" (fastest of each mode; theory: {theory})"
        else:
            text += f"only {ad['mode'].iloc[0]} measured (theory: {theory})"
        first, second = fmt.best_pair(ad, "backend")
        v = fmt.compare_rows(first, second) if second is not None else None
        one = f"{_case_words(first)} {fmt.seconds(first['median_s'])}"
        if v is None:
            text += f"; only backend: {one}"
        elif v.winner == "a":
            text += (f"; fastest backend: {one}, {fmt.factor(v.factor)} [{fmt.factor(v.low)}, "
                     f"{fmt.factor(v.high)}] ahead of {_case_words(second)}")
        elif v.winner == "tie":
            text += f"; fastest backends tie (within {fmt.TIE - 1:.0%}): {one} and {_case_words(second)}"
        else:
            text += (f"; fastest backend not resolved at this noise level: {one} and {_case_words(second)} "
                     f"{fmt.seconds(second['median_s'])}")
        if first.get("reference") == "none":
            text += " (its result is unchecked: no reference was affordable at this size)"
        manual = at[(at["backend"] == "manual")]
        if len(manual):
            text += f"; {fmt.factor(first['median_s'] / manual['median_s'].iloc[0])} the hand-written time"
        lines.append(text + _tutorial_words(problem, operation, group))
        if operation == "sparse-jacobian":
            lines.extend(_dense_against_compressed(problem, size, ok))
    return lines


def _colours_by_mode(rows: pd.DataFrame) -> dict[str, int]:
    if "colours" not in rows:
        return {}
    known = rows.dropna(subset=["colours"])
    return {m: int(c) for m, c in zip(known["mode"], known["colours"]) if m in AD_MODES}


def _dense_against_compressed(problem: str, size: int, ok: pd.DataFrame) -> list[str]:
    """The fastest compressed Jacobian against the fastest dense one of the same problem and size, both checked."""
    at = ok[(ok["problem"] == problem) & (ok["size"] == size)]
    at = at[~at["backend"].map(lambda b: get_backend(b).baseline)]
    dense, sparse = at[at["operation"] == "jacobian"], at[at["operation"] == "sparse-jacobian"]
    if dense.empty or sparse.empty:
        return []
    d, s = dense.loc[dense["median_s"].idxmin()], sparse.loc[sparse["median_s"].idxmin()]
    v = fmt.compare_rows(s, d)
    words = fmt.verdict_words(v, f"compressed ({_case_words(s)}, {int(s['colours'])} colours)",
                              f"dense ({_case_words(d)})")
    return [f"{problem} (n={int(s['n_inputs'])}): dense against compressed Jacobian: {words}; fastest dense "
            f"{fmt.seconds(d['median_s'])}, fastest compressed {fmt.seconds(s['median_s'])}"]


def _case_words(row: pd.Series) -> str:
    """``jax forward``, or ``jax forward chunk=16`` for a chunked case."""
    chunk = row.get("chunk_size")
    return f"{row['backend']} {row['mode']}" + (f" chunk={int(chunk)}" if pd.notna(chunk) else "")


def _tutorial_words(problem: str, operation: str, ok: pd.DataFrame) -> str:
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
    v = fmt.compare_rows(same.loc["forward"], same.loc["reverse"])
    return (f"; the tutorial's un-jitted JAX at n={tutorial['size']}: reverse "
            f"{fmt.factor(tutorial['forward_s'] / tutorial['reverse_s'])} faster (one unsynced call each), "
            f"{tutorial['backend']} here: {fmt.verdict_words(v, 'forward', 'reverse')} (synced medians)")


def _one_round_lines(frame: pd.DataFrame) -> list[str]:
    rounds = frame.loc[frame["status"] == "ok", "rounds"].dropna()
    if len(rounds) and int(rounds.max()) == 1:
        return ["One round (--quick or --rounds 1): the intervals miss the variation between worker processes, "
                "so its verdicts are less sure than a default run's two rounds."]
    return []


def render(frame: pd.DataFrame, fmt_name: str, noise: dict[str, Any] | None = None) -> str:
    """The run's results as text: a readable table, markdown, or the tidy rows as csv/json."""
    if fmt_name == "csv":
        return frame.to_csv(index=False)
    if fmt_name == "json":
        return frame.to_json(orient="records", indent=1)
    table = comparison_table(frame)
    blocks = []
    for (problem, operation), group in table.groupby(["problem", "operation"], sort=False):
        group = group.drop(columns=["problem", "operation"])
        group = group.loc[:, (group != "").any(axis=0)]
        title = f"{problem} · {operation}"
        if fmt_name == "markdown":
            blocks.append(f"### {title}\n\n" + group.to_markdown(index=False))
        else:
            blocks.append(f"== {title} ==\n" + group.to_markdown(index=False, tablefmt="simple"))
    summary = summary_lines(frame) + fmt.noise_lines(noise or {}) + _one_round_lines(frame)
    if summary:
        head = "### Summary\n\n" if fmt_name == "markdown" else "== Summary ==\n"
        bullet = "- " if fmt_name == "markdown" else "  "
        blocks.append(head + "\n".join(bullet + line for line in summary))
    legend = ("Times are medians per call over all rounds; " + fmt.NOISE_NOTE + ". A faster mode or framework is "
              "named only when the 95% intervals separate them (the factor's interval in brackets). "
              "wrong: the result failed its correctness check and is never ranked. time/f and first call "
              "are for the fastest mode.")
    return "\n\n".join(blocks + [legend]) + "\n"


__all__ = ["DEFAULT_OPERATIONS", "OPERATIONS", "CompareRun", "build_grid", "render", "run", "summary_lines"]
