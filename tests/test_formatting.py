"""adbench.formatting: every sentence that names a winner, a tie or an open question, built once for the CLI and
the report alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adbench import formatting as fmt

WON = fmt.Verdict("a", 83.0, 79.0, 88.0, "paired")
TIE = fmt.Verdict("tie", 1.01, 0.99, 1.03, "paired")
OPEN = fmt.Verdict(None, 1.2, 0.9, 1.6, "paired")


def test_the_verdict_sentences():
    assert fmt.verdict_words(WON, "reverse", "forward") == "reverse 83× faster [79×, 88×]"
    assert fmt.verdict_words(TIE, "reverse", "forward") == "tie (within 5%)"
    assert (
        fmt.verdict_words(OPEN, "reverse", "forward", subject="modes")
        == "modes not resolved at this noise level (≤60% apart)"
    )
    assert (
        fmt.versus_words(WON, "reverse", "forward", " at n = 10")
        == "reverse 83× faster [79×, 88×] than forward at n = 10"
    )
    assert fmt.versus_words(TIE, "reverse", "forward", " at n = 10") == "reverse vs forward at n = 10: tie (within 5%)"
    assert (
        fmt.unranked_words("reverse", 1e-3, "forward", 2e-3)
        == "reverse 1 ms vs forward 2 ms: no winner named: this set records no intervals"
    )
    assert fmt.lead_words(WON, "torch") == "83× [79×, 88×] ahead of torch"
    assert fmt.lead_words(TIE, "torch") == "tie with torch (within 5%)"
    assert (
        fmt.lead_words(OPEN, "torch", 1.2e-3) == "not resolved against torch (1.2 ms) at this noise level (≤60% apart)"
    )
    assert fmt.lead_words(WON, "torch", 1.2e-3, intervals=False) == f"vs torch 1.2 ms: {fmt.NO_INTERVALS}"
    assert fmt.lead_words(None, None) == "the only framework that passed"
    assert (
        fmt.fastest_words("jax reverse", 1e-4, "2× [1.9×, 2.1×] ahead of torch reverse")
        == "fastest backend: jax reverse 100 µs, 2× [1.9×, 2.1×] ahead of torch reverse"
    )
    assert fmt.fastest_words("jax reverse", 1e-4) == "only backend: jax reverse 100 µs"
    assert fmt.factor_words("reverse", 83) == "reverse 83× faster"
    assert (
        fmt.crossover_words([10, 100, 1000], "forward", "reverse", 99.6)
        == "forward faster below n ≈ 100, reverse above (by medians)"
    )
    assert (
        fmt.crossover_words([10, 1000], "reverse")
        == "none in n = 10…1\u202f000: reverse faster throughout (by medians)"
    )


@pytest.mark.parametrize(
    ("low", "high", "said"),
    [
        (0.998, 1.079, "≤8% apart"),  # rounded up, so the bound stays true
        (0.93, 1.07, "≤8% apart"),  # the far end below 1 counts as 1 / 0.93
        (0.95, 1.07, "≤7% apart"),  # exactly 7 % is not rounded up to 8 %
        (0.5, 1.3, "≤2× apart"),  # from 2× on, a factor
        (float("nan"), float("nan"), ""),  # no interval, no bound
    ],
)
def test_an_unresolved_verdict_says_how_far_apart_its_interval_allows(low, high, said):
    assert fmt.apart_words(fmt.Verdict(None, 1.03, low, high, "paired")) == said


def test_no_other_module_words_a_verdict():
    """The phrases of a verdict appear in adbench.formatting's string literals only (the CLI's and the
    report's legends and axis labels aside, which say what the words mean)."""
    root = Path(fmt.__file__).parent
    phrases = re.compile(
        r"not resolved at|tie \(within|ahead of|faster \[|faster below|no winner named|"
        r"records no intervals|only backend|the only framework"
    )
    for path in sorted(root.rglob("*.py")):
        if path.name == "formatting.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("#", '"""')) or not re.search(r"[\"']", stripped):
                continue
            assert not phrases.search(stripped.split("#")[0]), f"{path.relative_to(root)}:{number}: {stripped}"


# -- the terminal's text and the known framework defects --------------------------------------------------------
import pytest  # noqa: E402

from adbench.findings import KNOWN_DEFECTS, KnownDefect, explaining  # noqa: E402
from adbench.terminal import text_table, wrap  # noqa: E402

JAX_BA = {
    "framework": "jax",
    "framework_version": "0.10.2",
    "backend": "jax",
    "problem": "ba",
    "operation": "jacobian",
    "mode": "reverse",
    "dtype": "float32",
    "device": "cpu",
    "status": "wrong",
}


@pytest.mark.parametrize(
    "change,explained",
    [
        ({}, True),
        ({"operation": "sparse-jacobian"}, True),
        ({"framework_version": "0.10.2+cpu"}, True),  # a local build of the release
        ({"framework_version": "0.10.3"}, False),  # a later release: judged like any other again
        ({"framework_version": "0.10.1"}, False),
        ({"framework_version": None}, False),
        ({"framework_version": "not a version"}, False),
        ({"dtype": "float64"}, False),
        ({"mode": "forward"}, False),
        ({"backend": "jax-eager"}, False),
        ({"status": "ok"}, False),
        ({"problem": "gmm"}, False),
    ],
    ids=[
        "as-met",
        "compressed",
        "local-version",
        "later-release",
        "earlier-release",
        "no-version",
        "bad-version",
        "float64",
        "forward",
        "eager",
        "ok",
        "other-problem",
    ],
)
def test_the_jax_defect_matches_only_what_was_reproduced(change, explained):
    defect = explaining({**JAX_BA, **change})
    assert (defect is not None) == explained
    if explained:
        assert defect.upstream == "jax-ml/jax#39103" and "jax 0.10.2" in defect.title


def test_every_known_defect_names_its_framework_versions_and_upstream_issue():
    for defect in KNOWN_DEFECTS:
        assert defect.framework and defect.versions and defect.summary and defect.reproduced
        assert "#" in defect.upstream, defect.upstream
        assert defect.applies_to(defect.versions.lstrip("=<>~!")), "its own version bound does not parse"


def test_a_defect_names_a_column_and_the_rest_match_anything():
    defect = KnownDefect("torch", ">=2,<3", {"status": ("error",)}, "pytorch/pytorch#1", "x")
    assert defect.explains({"framework": "torch", "framework_version": "2.13.0", "status": "error", "problem": "any"})
    assert not defect.explains({"framework": "torch", "framework_version": "3.0", "status": "error"})


@pytest.mark.parametrize("width", [100, 80, 60])
def test_text_fits_the_width_and_loses_nothing(width):
    cells = [("control_loop · sparse-jacobian", "10000 → 1", "reverse 15,600×", "torch-autograd fwd-over-rev")]
    table = text_table(("problem · operation", "n → m", "best mode", "fastest"), cells, width)
    assert max(len(line) for line in table.splitlines()) <= width
    flat = "".join(table.split())
    for cell in cells[0]:
        assert "".join(cell.split()) in flat or all(part in flat for part in cell.split()), cell
    text = "Time: 150.1 s of the 50 s budget (--time-budget): 6.11 s starting workers, 94.7 s first builds " * 3
    wrapped = wrap(text, width)
    assert max(len(line) for line in wrapped.splitlines()) <= width
    assert " ".join(wrapped.split()) == " ".join(text.split())
    assert not any(line.endswith(("6.11", "94.7", "150.1")) for line in wrapped.splitlines()), "a unit left its number"


def _row(problem, n, m, backend, mode, time_s, f_time_s, call="", status="ok"):
    return {
        "problem": problem,
        "size": n,
        "n_inputs": n,
        "n_outputs": m,
        "operation": "jacobian",
        "backend": backend,
        "mode": mode,
        "dtype": "float32",
        "device": "cpu",
        "chunk_size": None,
        "replicate": 0,
        "host": "h",
        "status": status,
        "time_s": time_s,
        "log_se": 0.01,
        "log_df": 20.0,
        "first_call_s": 0.1,
        "f_time_s": f_time_s,
        "j_over_f": time_s / f_time_s,
        "call": call,
        "framework": backend,
        "framework_version": "1.0",
    }


def _looks_wrong_frame():
    """ode's JAX under the hand-written floor, lstm's reverse far below pass counting, and a wrong torch row."""
    import pandas as pd

    return pd.DataFrame(
        [
            _row("ode", 16, 16, "jax", "forward", 2.9e-5, 8.8e-6, "jax.jit(jax.jacfwd(f))"),
            _row("ode", 16, 16, "jax", "reverse", 3.1e-5, 8.8e-6, "jax.jit(jax.jacrev(f))"),
            _row("ode", 16, 16, "manual", "manual", 4.4e-4, 1.14e-4, "hand-written NumPy Jacobian"),
            _row("lstm", 154, 1, "jax", "forward", 8.6e-5, 1.3e-5, "jax.jit(jax.jacfwd(f))"),
            _row("lstm", 154, 1, "jax", "reverse", 3.9e-5, 1.3e-5, "jax.jit(jax.jacrev(f))"),
            _row("lstm", 154, 1, "autograd", "forward", 0.25, 1e-3, "autograd.make_jvp(f)(x)(e)[1] for each e"),
            _row("lstm", 154, 1, "autograd", "reverse", 1.4e-3, 1e-3, "autograd.jacobian(f)"),
            _row("lstm", 154, 1, "manual", "manual", 1.3e-5 * 100, 6e-5, "hand-written NumPy Jacobian"),
            _row("lstm", 154, 1, "torch", "reverse", 1e-6, 1e-6, "torch.func.jacrev(f)", status="wrong"),
        ]
    )


def test_the_answers_say_why_a_figure_that_looks_wrong_is_right():
    """ode's JAX under the hand-written floor (its own f 13x NumPy's); lstm's reverse far below pass counting
    (JAX batches forward's JVPs); autograd, which loops over passes, gets no such note."""
    from adbench.glance import glance_rows

    frame = _looks_wrong_frame()
    ode, lstm = glance_rows(frame)
    assert ode.floor == "0.0659×" and ode.fastest == "jax forward"
    assert any("its own f is 13× faster than NumPy's (one compiled program" in note for note in ode.notes), ode.notes
    assert lstm.mode == "reverse 2.21×" and lstm.fastest == "jax reverse" and lstm.lead == "35.9×"
    theory = [note for note in lstm.notes if "not ~154×" in note]
    assert len(theory) == 1 and "jax.jit(jax.jacfwd(f)) batches its 154 JVPs into one vectorised pass" in theory[0]
    assert any("torch reverse is wrong, and no known defect explains it: not ranked" in n for n in lstm.notes)


@pytest.mark.parametrize("details", [False, True], ids=["one-line-per-kind", "each-in-full"])
def test_notes_of_one_kind_share_a_line_unless_details_asks(details):
    """The one screen says a kind of note once and names its rows; --details prints every note in full. A wrong
    result no known defect explains is always said in full."""
    from adbench.glance import NOTE_KINDS, glance_rows, note_lines

    ode, lstm = rows = glance_rows(_looks_wrong_frame())
    lines = note_lines(rows, details)
    assert "* lstm jacobian: torch reverse is wrong, and no known defect explains it: not ranked." in lines
    if details:
        assert lines == [f"* {r.problem} {r.operation}: {note}" for r in rows for note in r.notes]
    else:
        assert len(lines) == 3, lines
        assert f"* {NOTE_KINDS['vectorised']}: lstm jacobian (reverse 2.21×, not ~154×)." in lines
        assert f"* {NOTE_KINDS['fast-f']}: ode jacobian (jax 13×); lstm jacobian (jax 4.62×)." in lines
