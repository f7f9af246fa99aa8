"""The HTML report: built from the fixture result sets, complete, honest about failures and noise, and offline."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from adbench import formatting as fmt
from adbench import report
from adbench.backends import get_backend
from adbench.engine.results import ResultWriter, read_results, write_results
from adbench.report import analysis
from adbench.report.data import NoResultsError, backend_style, load_sets, read_sets
from adbench.report.site import OutputNotOursError

FIXTURES = Path(__file__).parent / "fixtures" / "results"
ASV_FIXTURE = Path(__file__).parent / "fixtures" / "asv"
NEWER = FIXTURES / "compare-20250102T000000.csv"  # machine A: every status, hvp/hessian, chunks, a user problem
OLDER = FIXTURES / "compare-20250101T000000.csv"  # "machine B", two threads, marked busy
GPU = FIXTURES / "compare-20250101T120000.csv"  # a CPU run relabelled cuda
VERSION_1 = FIXTURES / "compare-20241231T000000.csv"  # results format 1: no intervals, no operation column
DAMAGED = FIXTURES / "compare-20250104T000000.csv"  # its CSV cut mid-row


class Links(HTMLParser):
    """Every URL a page would load or follow (src, href, SVG's xlink:href), and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data", "poster", "srcset", "action") and value is not None:
                self.urls.append(value)
            if name == "id" and value:
                self.ids.add(value)


def parsed(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def build_fixture_site(tmp_path_factory) -> Path:
    """The fixtures' site, built once per test session (test_report_browser.py shares it)."""
    out = tmp_path_factory.getbasetemp() / "report-site-fixtures"
    if not (out / "index.html").exists():
        index = report.build_report([FIXTURES], out)
        assert index == out / "index.html"
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_fixture_site(tmp_path_factory)


@pytest.fixture(scope="module")
def newest() -> pd.DataFrame:
    return read_results(NEWER)[0]


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def make_set(
    path: Path,
    rows: list[dict],
    environment: dict | None = None,
    settings: dict | None = None,
    noise: dict | None = None,
) -> Path:
    env = {
        "hostname": "crafted",
        "cpu_model": "Crafted CPU",
        "device": "cpu",
        "timestamp": "2025-02-01T00:00:00+00:00",
        **(environment or {}),
    }
    if noise is None:
        write_results(path, rows, env, settings or {})
    else:
        from adbench.engine.record import CaseResult

        writer = ResultWriter(path, "crafted", env, settings or {})
        writer.noise = noise
        writer.write([CaseResult(**r) for r in rows])
    return path


def case(
    backend, mode, median, lo=None, hi=None, status="ok", problem="loss", size=1000, operation="jacobian", **extra
):
    return {
        "problem": problem,
        "size": size,
        "n_inputs": size,
        "n_outputs": 1,
        "operation": operation,
        "backend": backend,
        "mode": mode,
        "status": status,
        "median_s": median,
        "ci_low_s": lo,
        "ci_high_s": hi,
        "threads": 1,
        "dtype": "float32",
        "noisy": False,
        **extra,
    }


# -- the fixtures -------------------------------------------------------------------------------------------
def test_fixtures_hold_every_kind_of_row(newest):
    assert {"ok", "wrong", "error", "timeout", "memory", "skipped"} <= set(newest["status"])
    assert newest["problem"].str.contains(":").any(), "a user problem (module:function) is part of the fixture"
    assert {"jacobian", "hvp", "hessian", "jvp"} <= set(newest["operation"])
    assert newest["chunk_size"].notna().any() and newest["ci_low_s"].notna().any()
    assert (newest["peak_memory_bytes"] > 0).any()
    gpu, meta = read_results(GPU)
    assert set(gpu["device"]) == {"cuda"} and meta["environment"]["device"] == "cuda"
    assert read_results(OLDER)[1]["noise"]["busy"] is True
    v1, meta = read_results(VERSION_1)
    assert meta["format_version"] == 1 and v1["operation"].isna().all() and v1["ci_low_s"].isna().all()
    with pytest.raises(Exception, match="truncated or damaged"):
        read_results(DAMAGED)


# -- the front page ---------------------------------------------------------------------------------------
def test_index_has_headlines_environment_and_method(site):
    html = text(site / "index.html")
    assert "machine A" not in html  # the fixtures' comments stay in the fixture script
    assert "reverse" in html and "faster [" in html and "than forward at n = 1\u202f000" in html
    for expected in (
        "jax 0.",
        "torch 2.",
        "threads per framework",
        "commit",
        "first call vs steady state",
        "median",
        "not resolved at this noise level",
    ):
        assert expected in html.lower(), expected
    assert "<svg" in html, "the lesson plot is on the front page"
    assert 'href="static/style.css"' in html
    for operation in ("Jacobian", "HVP", "Hessian", "JVP"):
        assert f">{operation}</a>" in html, operation


def test_every_problem_operation_and_backend_is_reported(site, newest):
    index = text(site / "index.html")
    for problem, rows in newest.groupby("problem"):
        assert f">{problem}<" in index, problem
        page = site / "sets" / NEWER.stem / f"{problem.replace(':', '-')}.html"
        html = text(page)
        for backend in set(rows["backend"]):
            assert f"<td>{backend}</td>" in html, (problem, backend)
        for operation in set(rows["operation"]):
            assert f'id="op-{operation}"' in html, (problem, operation)
        charts = html.count("<svg") + html.count('<div class="dots"')  # matplotlib figures, HTML dot charts
        assert charts >= 3, f"{problem}: time, cost and first-call charts at least"
    for problem in set(read_results(OLDER)[0]["problem"]):
        assert (site / "sets" / OLDER.stem / f"{problem}.html").exists()


def test_failed_and_wrong_cases_are_marked_not_hidden(site):
    base = site / "sets" / NEWER.stem
    user = text(base / "user_problem-cumsum_tail.html")
    assert 'class="badge error"' in user and "cumsum" in user
    # No hand-written Jacobian for a user function: not applicable, by design, never drawn as a failure.
    assert 'class="badge na"' in user and 'class="badge skipped"' not in user
    loss = text(base / "loss.html")
    for status in ("timeout", "memory", "wrong", "skipped"):
        assert f'class="badge {status}"' in loss, status
        assert f'<tr class="{status}' in loss, status
    assert "made wrong by make_fixtures.py" in loss and "killed at 2.13 GiB" in loss
    assert "noisy" in loss
    index = text(site / "index.html")
    assert 'class="badge wrong"' in index and 'class="badge memory"' in index


def test_the_fixture_s_wrong_case_is_drawn_but_not_ranked(site):
    # jax's reverse Jacobian of loss at n = 10 000 is the fastest case there, and wrong: the
    # headline moves to n = 1 000, where both modes passed, and no HVP is put in units of it.
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    jacobian = loss[loss.index('id="op-jacobian"') : loss.index('id="op-hvp"')]
    headline = jacobian[: jacobian.index("</p>")]
    assert "than forward at n = 1\u202f000" in headline and "10\u202f000" not in headline
    hvp_table = loss[loss.index("HVP in gradients</h3>") : loss.index("Hessian: fitted exponents")]
    assert not re.search(r"JAX \(jit\) [a-z-]+</td><td class=\"num\" data-v=\"10000.0\"", hvp_table)
    assert "Hollow red ring: a wrong result" in loss


def test_wrong_is_never_ranked_on_crafted_rows(tmp_path):
    rows = [
        case(
            "jax",
            "reverse",
            1e-6,
            0.9e-6,
            1.1e-6,
            status="wrong",
            rel_error=0.5,
            tolerance=1e-3,
            error="rel_error 0.5 exceeds the tolerance",
        ),
        case("torch", "reverse", 5e-5, 4.9e-5, 5.1e-5),
        case("autograd", "reverse", 1e-4, 0.9e-4, 1.1e-4),
        case("jax", "forward", 1e-3, 0.9e-3, 1.1e-3),
    ]
    path = make_set(tmp_path / "wrong.csv", rows)
    (result,) = load_sets([path])
    frame = result.problem_frame("loss")
    h = analysis.headline(frame, analysis.problem_info("loss", frame), "jacobian")
    assert h.fastest["backend"] == "torch" and h.fastest_label == "PyTorch (torch.func) reverse"
    assert h.modes[0]["backend"] == "torch"  # the best reverse case is torch's, not the wrong jax one
    index = report.build_report([path], tmp_path / "site")
    html = text(index)
    assert "fastest: PyTorch (torch.func) reverse" in html and "fastest: JAX" not in html
    page = text(index.parent / "sets" / "wrong" / "loss.html")
    assert 'class="badge wrong"' in page and "rel_error 0.5 exceeds the tolerance" in page


# -- verdicts only when the intervals separate -------------------------------------------------------------
def headline_of(tmp_path, rows, name="v") -> analysis.Headline:
    (result,) = load_sets([make_set(tmp_path / f"{name}.csv", rows)])
    frame = result.problem_frame("loss")
    return analysis.headline(frame, analysis.problem_info("loss", frame), "jacobian", result.has_intervals)


def test_a_verdict_only_where_the_intervals_separate(tmp_path):
    separated = headline_of(
        tmp_path,
        [
            case("jax", "forward", 1e-3, 0.9e-3, 1.1e-3),
            case("jax", "reverse", 1e-5, 0.9e-5, 1.1e-5),
            case("torch", "reverse", 5e-5, 4.5e-5, 5.5e-5),
        ],
        "separated",
    )
    assert separated.winner == "reverse" and separated.state == "resolved"
    assert (
        separated.mode_text.startswith("reverse 100× faster [")
        and "than forward at n = 1\u202f000" in separated.mode_text
    )
    assert separated.fastest_label == "JAX (jit) reverse" and "ahead of PyTorch (torch.func) reverse" in separated.text

    overlapping = headline_of(
        tmp_path,
        [
            case("jax", "forward", 1.0e-4, 0.5e-4, 2e-4),
            case("jax", "reverse", 0.9e-4, 0.5e-4, 1.9e-4),
            case("torch", "reverse", 0.95e-4, 0.6e-4, 1.5e-4),
        ],
        "overlapping",
    )
    assert overlapping.winner is None and overlapping.state == "unresolved"
    assert "not resolved at this noise level" in overlapping.mode_text
    assert overlapping.fastest_label is None and "not resolved against PyTorch" in overlapping.framework_text
    assert "faster" not in overlapping.text

    tie = headline_of(
        tmp_path,
        [case("jax", "forward", 1.00e-4, 0.99e-4, 1.01e-4), case("jax", "reverse", 1.01e-4, 1.00e-4, 1.02e-4)],
        "tie",
    )
    assert tie.winner == "tie" and "tie (within 5%)" in tie.mode_text and "faster" not in tie.mode_text

    no_intervals = headline_of(
        tmp_path,
        [case("jax", "forward", 1e-3), case("jax", "reverse", 1e-5), case("torch", "reverse", 5e-5)],
        "medians",
    )
    assert not no_intervals.intervals and no_intervals.winner is None and no_intervals.fastest_label is None
    assert "no winner named" in no_intervals.mode_text and "faster" not in no_intervals.text


def test_verdict_words_on_the_page(tmp_path):
    path = make_set(
        tmp_path / "mixed.csv",
        [
            case("jax", "forward", 1.0e-4, 0.5e-4, 2e-4),
            case("jax", "reverse", 0.9e-4, 0.5e-4, 1.9e-4),
            case("jax", "forward", 1e-3, 0.9e-3, 1.1e-3, size=10_000),
            case("jax", "reverse", 1e-5, 0.9e-5, 1.1e-5, size=10_000),
        ],
        noise={"busy": True, "busy_reasons": ["3 of 4 cases' rounds differ by 25% or more"]},
    )
    index = report.build_report([path], tmp_path / "site")
    html = text(index)
    assert "reverse 100× faster [81.8×, 122×] than forward at n = 10\u202f000" in html
    assert "Busy machine." in html and "rounds differ by 25% or more" in html
    assert fmt.factor(100.0) == "100×"  # the one formatter's words, as `adbench compare` prints them


def test_the_report_keeps_no_formatter_of_its_own():
    from adbench.report import data, plots, site

    for module, names in (
        (analysis, ("fmt_time", "fmt_factor", "fmt_int", "TIE")),
        (data, ("NUMERIC", "_clean")),
        (plots, ("BACKEND_COLOURS", "OKABE_ITO")),
        (site, ("fmt_time",)),
    ):
        for name in names:
            assert not hasattr(module, name), f"{module.__name__}.{name}"


# -- intervals, noise, memory, operations, chunks ----------------------------------------------------------------
def test_intervals_are_shown(site):
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    assert re.search(r"\[\d[\d.]* µs, \d[\d.]* µs\]", loss), "a median's interval in the table"
    assert "with 95% intervals as bars" in loss


def test_a_busy_machine_says_so(site):
    older = text(site / "sets" / OLDER.stem / "index.html")
    assert "Busy machine." in older and "load average 3.1 on 2 CPUs" in older
    assert "Busy machine." in text(site / "sets" / OLDER.stem / "loss.html")
    assert "Busy machine." not in text(site / "index.html")


def test_a_version_1_set_renders_and_names_no_winner(site):
    base = site / "sets" / VERSION_1.stem
    overview, loss = text(base / "index.html"), text(base / "loss.html")
    for html in (overview, loss):
        assert "No intervals." in html and "results format version 1" in html
        assert "no winner named" in html and 'class="win' not in html
    assert 'id="op-jacobian"' in loss and "<svg" in loss


def test_memory_is_plotted_beside_time(site):
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    for operation in ("jacobian", "hvp", "hessian"):
        assert f'aria-label="loss {operation} memory"' in loss, operation
    assert "Measured peak memory of each case" in loss


def test_second_order_panel_for_a_scalar_problem_only(site):
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    assert 'id="second-order"' in loss and 'aria-label="loss second order"' in loss
    assert "HVP in gradients" in loss and "Hessian: fitted exponents" in loss
    panel = loss[loss.index('id="second-order"') : loss.index('id="chunks"')]
    assert "forward-over-reverse" in panel and "reverse-over-reverse" in panel
    assert 'id="second-order"' not in text(site / "sets" / NEWER.stem / "tall.html")  # vector-valued


def test_hvp_over_gradient_uses_the_reverse_jacobian_that_passed(newest):
    (result,) = load_sets([NEWER])
    frame = result.problem_frame("loss")
    ratios = analysis.hvp_over_gradient(frame)
    torch = next(t for s, t in ratios.items() if s.backend == "torch" and s.mode == "reverse-over-reverse")
    grad = newest[
        (newest["problem"] == "loss")
        & (newest["operation"] == "jacobian")
        & (newest["backend"] == "torch")
        & (newest["mode"] == "reverse")
        & (newest["size"] == 1000)
    ]["median_s"].iloc[0]
    hvp = newest[
        (newest["problem"] == "loss")
        & (newest["operation"] == "hvp")
        & (newest["backend"] == "torch")
        & (newest["mode"] == "reverse-over-reverse")
        & (newest["size"] == 1000)
    ]["median_s"].iloc[0]
    assert torch.loc[1000, "ratio"] == pytest.approx(hvp / grad)
    jax = next(t for s, t in ratios.items() if s.backend == "jax" and s.mode == "forward-over-reverse")
    assert 10_000 not in jax.index, "jax's gradient at n = 10 000 is wrong: no ratio is made from it"


def test_chunk_tradeoff(site):
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    assert 'id="chunks"' in loss and 'aria-label="loss chunks"' in loss
    chunks = loss[loss.index('id="chunks"') : loss.index('id="cases"')]
    assert "estimated peak memory" in chunks  # the unchunked forward Jacobian skipped at n = 10 000
    assert 'id="chunks"' not in text(site / "sets" / NEWER.stem / "tall.html")


def test_analysis_reads_the_lesson_off_the_fixture():
    (result,) = load_sets([NEWER])
    loss = result.problem_frame("loss")
    info = analysis.problem_info("loss", loss)
    h = analysis.headline(loss, info, "jacobian")
    assert h.winner == "reverse" and h.size == 1000 and h.factor > 2
    tall = result.problem_frame("tall")
    info = analysis.problem_info("tall", tall)
    h = analysis.headline(tall, info, "jacobian")
    assert h.winner == "forward" and h.factor > 10
    assert info.shape == "Rⁿ → R¹⁰⁰ⁿ"
    exps = {e["series"].label: e for e in analysis.exponents(tall, info)}
    assert exps["JAX (jit) forward"]["theory"] == pytest.approx(3.0)  # n JVPs, each ~ n^2
    assert exps["manual (NumPy floor)"]["theory"] == pytest.approx(2.0)
    hess = {
        e["series"].mode: e["theory"]
        for e in analysis.exponents(loss, analysis.problem_info("loss", loss), "hessian")
        if e["series"].backend == "jax"
    }
    assert hess["forward-over-reverse"] == pytest.approx(2.0)


def test_crossover_and_slope_on_made_up_numbers():
    ratio = pd.Series([0.5, 2.0], index=[10, 1000])
    n_star, words = analysis.crossover(ratio)
    assert n_star == pytest.approx(100.0)
    assert words.startswith("forward faster below n ≈ 100")
    assert analysis.crossover(pd.Series([2.0, 3.0], index=[10, 100]))[0] is None
    assert analysis.slope([10, 100, 1000], [1e-6, 1e-4, 1e-2]) == pytest.approx(2.0)


# -- backends' own metadata ------------------------------------------------------------------------------------
def test_backend_display_comes_from_the_backend(site):
    for name in ("jax", "torch", "manual", "finite-diff"):
        b = get_backend(name)
        style = backend_style(name)
        assert (style.label, style.colour, style.order, style.baseline) == (
            b.display_label,
            b.colour,
            b.order,
            b.baseline,
        )
    loss = text(site / "sets" / NEWER.stem / "loss.html")
    assert get_backend("jax").display_label in loss
    assert get_backend("jax").colour.lower() in loss.lower()  # the SVG strokes in the backend's colour


def test_an_unknown_backend_gets_a_stable_fallback(tmp_path):
    a, b = backend_style("mystery-ad"), backend_style("mystery-ad")
    known = {
        backend_style(n).colour
        for n in ("jax", "jax-eager", "torch", "torch-autograd", "autograd", "manual", "finite-diff")
    }
    assert a == b and a.colour not in known and not a.known
    assert backend_style("jax").order < a.order < backend_style("finite-diff").order
    rows = [
        case("mystery-ad", "reverse", 2e-5, 1.9e-5, 2.1e-5, problem="mymod:f", size=10),
        case("mystery-ad", "forward", 4e-5, 3.9e-5, 4.1e-5, problem="mymod:f", size=10),
    ]
    index = report.build_report([make_set(tmp_path / "r.csv", rows)], tmp_path / "site")
    page = text(index.parent / "sets" / "r" / "mymod-f.html")
    assert "<td>mystery-ad</td>" in page and a.colour.lower() in page.lower()


def test_builds_from_sparse_and_odd_results(tmp_path):
    """All failed, one backend only, an unknown backend, a user problem: still a site, still honest."""
    rows = [
        case("jax", "forward", None, status="error", size=100, error="boom"),
        case("jax", "reverse", None, status="timeout", error="slow"),
        case("manual", "manual", 1e-5, problem="tall", size=4, n_outputs=400),
        case("manual", "manual", 2e-5, problem="tall", size=16, n_outputs=1600),
        case("other", "reverse", 2e-5, problem="mymod:f", size=10, f_median_s=1e-5),
    ]
    index = report.build_report([make_set(tmp_path / "r.csv", rows)], tmp_path / "site")
    loss = text(index.parent / "sets" / "r" / "loss.html")
    assert "nothing to plot" in loss and "boom" in loss and "badge timeout" in loss
    assert "<td>other</td>" in text(index.parent / "sets" / "r" / "mymod-f.html")


def test_text_from_the_results_is_escaped(tmp_path):
    rows = [
        case("jax", "reverse", None, status="error", error="<script>alert(1)</script> & more"),
        case("torch", "reverse", 1e-5, 0.9e-5, 1.1e-5),
    ]
    index = report.build_report([make_set(tmp_path / "r.csv", rows, {"hostname": "<b>host</b>"})], tmp_path / "site")
    for page in pages(index.parent):
        html = text(page)
        assert "<script>alert" not in html and "<b>host</b>" not in html, page
    loss = text(index.parent / "sets" / "r" / "loss.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in loss


# -- devices ---------------------------------------------------------------------------------------------------
def test_a_gpu_set_is_labelled_and_compared_with_a_cpu_set(site):
    gpu = text(site / "sets" / GPU.stem / "index.html")
    assert "cuda (NVIDIA H200 (fixture))" in gpu and "driver 570.86.15" in gpu
    assert "cuda_build 12.8" in gpu  # the framework builds
    compare = text(site / "compare.html")
    assert 'id="cuda-vs-cpu"' in compare
    section = compare[compare.index('id="cuda-vs-cpu"') :]
    assert f"{GPU.stem} over {NEWER.stem}" in section
    assert re.search(r"\(\d[\d.]*×, (faster|slower|tie|not resolved)\)", section), "GPU/CPU ratios per case"
    same = compare[compare.index('id="same-cpu"') : compare.index('id="cuda-vs-cpu"')]
    assert GPU.stem not in same, "CPU and GPU sets are kept apart"
    selector = text(site / "index.html")
    assert '<span class="device cuda">cuda</span>' in selector


def test_several_sets_are_comparable(site):
    compare = text(site / "compare.html")
    assert "fixture-machine-b" in compare and NEWER.stem in compare and OLDER.stem in compare
    assert 'class="differs"' in compare  # the environments' differences are highlighted
    assert "set ratio" in compare  # a ratio figure
    index = text(site / "index.html")
    assert f"sets/{OLDER.stem}/index.html" in index, "a selector reaches the other set"


# -- damaged and unreadable sets --------------------------------------------------------------------------------
def test_a_damaged_set_is_listed_while_the_others_render(site):
    index = text(site / "index.html")
    listing = index[index.index("Sets not shown") :]
    assert DAMAGED.name in listing and "damaged" in listing and "truncated or damaged" in listing
    assert str(FIXTURES) not in index, "no private path on a published page"
    assert not (site / "sets" / DAMAGED.stem).exists()
    assert (site / "sets" / NEWER.stem / "loss.html").exists()
    assert "could not be drawn" not in index


def test_unreadable_files_are_reasons_not_tracebacks(tmp_path, capsys):
    for name, version in (("string", "2"), ("null", None)):
        for suffix in (".csv", ".json"):
            shutil.copy(OLDER.with_suffix(suffix), tmp_path / f"{name}{suffix}")
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        meta["format_version"] = version
        (tmp_path / f"{name}.json").write_text(json.dumps(meta))
    # A CSV one row short of its sidecar's count (the checksum no longer matches).
    shutil.copy(OLDER.with_suffix(".json"), tmp_path / "short.json")
    lines = OLDER.read_text().splitlines(keepends=True)
    (tmp_path / "short.csv").write_text("".join(lines[:-1]))
    loaded = read_sets([tmp_path])
    assert not loaded.sets
    reasons = {u.name: (u.kind, u.reason) for u in loaded.unreadable}
    assert reasons["string.csv"] == ("unreadable", "string.json: format_version must be an integer, not '2'")
    assert reasons["null.csv"][1] == "null.json: format_version must be an integer, not None"
    assert reasons["short.csv"][0] == "damaged" and "checksum" in reasons["short.csv"][1]
    assert str(tmp_path) not in repr(reasons)

    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args(["--results", str(tmp_path), "--output", str(tmp_path / "o")])) == 1
    err = capsys.readouterr().err
    assert "string.csv" in err and "format_version must be an integer" in err and "Traceback" not in err
    # With one readable set beside them: exit 0, the others listed.
    out = tmp_path / "site"
    assert report.run(parser.parse_args(["--results", str(tmp_path), str(GPU), "--output", str(out)])) == 0
    html = text(out / "index.html")
    assert "string.csv" in html and "short.csv" in html and "checksum" in html


# -- asv --------------------------------------------------------------------------------------------------------
def test_asv_results_are_read_in_both_layouts(tmp_path):
    from adbench.report.asv import find_asv_results, read_asv_result, split_variant

    old, new = sorted(find_asv_results(ASV_FIXTURE))
    rows, meta = read_asv_result(old)  # (problem, variant): Jacobians on the CPU
    frame = pd.DataFrame(rows)
    assert meta["settings"]["source"] == "asv" and meta["environment"]["hostname"] == "fixture-asv-machine"
    assert set(frame["backend"]) == {"jax", "manual"} and set(frame["mode"]) == {"forward", "reverse", "manual"}
    assert set(frame["operation"]) == {"jacobian"} and set(frame["device"]) == {"cpu"}
    assert set(frame["status"]) == {"ok", "skipped"}  # NaN is asv's "skipped"
    rows, meta = read_asv_result(new)  # (problem, operation, variant, device)
    frame = pd.DataFrame(rows)
    assert set(frame["operation"]) == {"jacobian", "hvp"}
    assert {"forward-over-reverse", "reverse-over-reverse"} <= set(frame["mode"])
    ok = frame[frame["status"] == "ok"]
    assert (ok["median_s"] > 0).all() and (ok["first_call_s"] > 0).all() and (ok["j_over_f"] > 0).all()
    assert (ok["peak_memory_bytes"] >= 0).all() and ok["ci_low_s"].notna().all()
    assert not ((frame["operation"] == "jacobian") & frame["mode"].str.contains("-over-")).any(), "no phantom cases"
    assert split_variant("finite-diff-central") == ("finite-diff", "central")
    assert split_variant("finite-diff") == ("finite-diff", "central")
    assert split_variant("manual") == ("manual", "manual")
    assert split_variant("torch-autograd-reverse-over-reverse") == ("torch-autograd", "reverse-over-reverse")
    assert split_variant("newfw-forward-over-reverse") == ("newfw", "forward-over-reverse")

    (earlier,) = read_sets([old]).sets
    assert earlier.label.startswith("asv run, commit 01234567") and not earlier.has_intervals
    index = report.build_report([new], tmp_path / "site")
    html = text(index)
    assert "asv run, commit 89abcdef" in html
    assert "reverse" in html and "faster [" in html  # asv's intervals, where kept, can name a winner
    loss = text(index.parent / "sets" / "asv-fixture-asv-machine-89abcdef" / "loss.html")
    assert 'id="op-hvp"' in loss and 'aria-label="loss jacobian memory"' in loss


def test_asv_failures_devices_and_empty_runs(tmp_path):
    from adbench.report.asv import read_asv_result

    columns = ["result", "params", "version", "started_at", "duration"]
    params = [
        ["'loss-100'"],
        ["'jacobian'"],
        ["'jax-forward'", "'jax-reverse'", "'finite-diff-central'"],
        ["'cpu'", "'cuda'"],
    ]
    data = {
        "result_columns": columns,
        "params": {"machine": "m"},
        "commit_hash": "abc",
        "results": {
            "ad.Derivative.time_derivative": [
                [None, float("nan"), 1e-5, 2e-6, 2e-4, float("nan")],
                params,
                "v",
                1735776000000,
                1.0,
            ]
        },
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    rows, _ = read_asv_result(path)
    got = {(r["mode"], r["device"]): r["status"] for r in rows}
    assert got == {
        ("forward", "cpu"): "error",
        ("forward", "cuda"): "skipped",
        ("reverse", "cpu"): "ok",
        ("reverse", "cuda"): "ok",
        ("central", "cpu"): "ok",
        ("central", "cuda"): "skipped",
    }
    assert "asv recorded a failure" in next(r["error"] for r in rows if r["status"] == "error")
    # One file, two devices: two sets, never mixed.
    loaded = read_sets([path])
    assert sorted(s.device for s in loaded.sets) == ["cpu", "cuda"]
    # The whole benchmark failed (asv writes null): nothing to show, so no set at all.
    data["results"]["ad.Derivative.time_derivative"][0] = None
    path.write_text(json.dumps(data))
    assert read_asv_result(path) is None
    path.write_text("{not json")
    assert read_sets([path]).unreadable[0].kind == "unreadable"


def test_asv_pages_are_linked_only_when_published(tmp_path):
    asv = tmp_path / "asv-html"
    out = tmp_path / "site"
    index = report.build_report([GPU], out, asv_html=asv)
    assert "asv pages" not in text(index)
    asv.mkdir()
    (asv / "index.html").write_text("<html></html>")
    index = report.build_report([GPU], out, asv_html=asv)
    assert 'href="../asv-html/index.html"' in text(index)
    assert not (out / "compare.html").exists(), "one set: no comparison page (and none left over)"


# -- the site as a whole ---------------------------------------------------------------------------------------
def test_no_external_url_and_every_link_resolves(site):
    ids = {page.resolve(): parsed(page).ids for page in pages(site)}
    for page in pages(site):
        html = text(page)
        assert "http://" not in html and "https://" not in html, page
        for url in parsed(page).urls:
            link = urlparse(url)
            assert not link.scheme and not link.netloc, f"{page}: external {url!r}"
            target = (page.parent / unquote(link.path)).resolve() if link.path else page.resolve()
            assert target.exists(), f"{page}: broken link {url!r}"
            if link.fragment and target.suffix == ".html":
                assert link.fragment in ids[target], f"{page}: no #{link.fragment} in {target.name}"
    for static in (site / "static").iterdir():
        content = static.read_text(encoding="utf-8")
        assert "http" not in content and "@import" not in content and "//cdn" not in content, static


def test_rebuilding_unchanged_results_changes_nothing(site, tmp_path):
    again = tmp_path / "again"
    report.build_report([FIXTURES], again)
    first = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    changed = [str(k) for k in first if first[k] != second[k]]
    assert not changed, changed


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputNotOursError):
        report.build_report([GPU], tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_run_and_its_errors(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    args = parser.parse_args([])
    assert args.results == [Path("results")] and args.output == Path("results/site")
    assert args.asv_html == Path("results/asv-html")

    empty = tmp_path / "empty"
    empty.mkdir()
    assert report.run(parser.parse_args(["--results", str(empty), "--output", str(tmp_path / "o")])) == 1
    err = capsys.readouterr().err
    assert "no result sets of your own" in err and "python -m adbench compare" in err
    assert report.run(parser.parse_args(["--results", str(tmp_path / "nope")])) == 1
    assert "no such file or directory" in capsys.readouterr().err

    assert report.run(parser.parse_args(["--results", str(DAMAGED), "--output", str(tmp_path / "d")])) == 1
    err = capsys.readouterr().err
    assert DAMAGED.name in err and "truncated or damaged" in err

    out = tmp_path / "site"
    assert report.run(parser.parse_args(["--results", str(DAMAGED), str(GPU), "--output", str(out)])) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert DAMAGED.name in text(out / "index.html")

    with pytest.raises(NoResultsError):
        report.build_report([empty], tmp_path / "x")


def test_importing_the_package_does_not_import_matplotlib():
    code = "import sys, adbench.report; assert 'matplotlib' not in sys.modules and 'jinja2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# -- version 3: verdicts from visits matched in time -------------------------------------------------------------
def test_a_version_3_set_names_winners_its_paired_visits_separate(tmp_path):
    """Noise the cases share (drift, bursts) widens each case's own interval until two of them overlap; the
    ratio from their visits matched in time still separates them, and the report (as compare does) says so."""
    from adbench.engine.cases import CaseSpec
    from adbench.engine.estimates import unpaired
    from adbench.engine.results import ResultWriter
    from adbench.engine.simulation import Noise, simulated_run
    from adbench.rendering import summary_lines

    specs = [
        CaseSpec("loss", 1000, "jax", "forward"),
        CaseSpec("loss", 1000, "jax", "reverse"),
        CaseSpec("loss", 1000, "torch", "reverse"),
        CaseSpec("loss", 1000, "manual", "manual"),
    ]
    times = {"jax/forward": 1e-3, "jax/reverse": 1e-4, "torch/reverse": 1.15e-4, "manual": 5e-5}
    shared = Noise(drift_sd=0.25, drift_s=0.1, burst_rate=5, burst_s=0.05, visit_sd=0.005, sample_sd=0.005)
    outcome, _ = simulated_run(specs, times, shared, seed=4, adaptive=False, min_visits=8)
    assert unpaired(outcome.analysis.times[1], outcome.analysis.times[2]).log_interval()[1] > 0, (
        "the two cases' own intervals do not separate them"
    )
    csv = tmp_path / "v3.csv"
    writer = ResultWriter(
        csv,
        "run-v3",
        {"timestamp": "2026-02-01T00:00:00+00:00"},
        {"statistic": "per visit the median of each visit's samples"},
    )
    writer.extra = {"comparisons": outcome.comparisons, "variance": outcome.variance, "budget": outcome.budget}
    writer.write(outcome.results)
    (result,) = load_sets([csv])
    from adbench.engine.results import FORMAT_VERSION

    assert result.format_version == FORMAT_VERSION and len(result.comparisons) == 6  # written now: 4, visits as in 3
    frame = result.problem_frame("loss")
    h = analysis.headline(frame, analysis.problem_info("loss", frame), "jacobian", True, result.comparisons)
    assert h.framework_verdict.evidence == "paired" and h.framework_verdict.resolved
    assert re.search(r"1\.1\d?× \[1\.\d+×, 1\.\d+×\] ahead of PyTorch \(torch\.func\) reverse", h.framework_text)
    lines = summary_lines(result.frame, result.comparisons)
    assert re.search(
        r"fastest backend: jax reverse 1\d\d µs, 1\.1\d?× \[[\d.]+×, [\d.]+×\] ahead of torch reverse", lines[0]
    ), lines[0]
    html = text(report.build_report([csv], tmp_path / "site"))
    assert "ahead of PyTorch (torch.func) reverse" in html and "visits matched in time" in html
    assert "Variance, level by level" in html and "visits within a worker" in html


# -- which sets: the user's own by default, the shipped ones by --reference ------------------------------------
@pytest.fixture
def layout(tmp_path, monkeypatch):
    """A working folder as a user has it: their own run in results/, the shipped sets beside it."""
    results = tmp_path / "results"
    (results / "reference").mkdir(parents=True)
    (results / "asv").mkdir()
    shutil.copy(NEWER, results / "compare-20260101T000000Z.csv")
    shutil.copy(NEWER.with_suffix(".json"), results / "compare-20260101T000000Z.json")
    for src in (GPU, OLDER):
        shutil.copy(src, results / "reference" / src.name)
        shutil.copy(src.with_suffix(".json"), results / "reference" / src.with_suffix(".json").name)
    shutil.copytree(ASV_FIXTURE, results / "asv" / "vm")
    monkeypatch.setattr(report, "shipped_folders", lambda: [results / s for s in report.SHIPPED])
    monkeypatch.chdir(tmp_path)
    return results


def set_names(index: Path) -> set[str]:
    return {p.name for p in (index.parent / "sets").iterdir()}


@pytest.mark.parametrize(
    "flags, expected",
    [([], {"compare-20260101T000000Z"}), (["--reference"], {"compare-20260101T000000Z", GPU.stem, OLDER.stem})],
    ids=["default-own-runs-only", "reference-adds-the-shipped-sets"],
)
def test_default_sets_are_the_user_s_own(layout, capsys, flags, expected):
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args(flags)) == 0
    index = Path(capsys.readouterr().out.strip())
    names = set_names(index)
    assert expected <= names
    if not flags:
        assert names == expected, "no shipped set (reference/ or asv/vm/) without --reference"
    else:
        assert any(n.startswith("asv-") for n in names), "the shipped asv results come in with --reference"


@pytest.mark.parametrize("how", ["named-file", "named-shipped-folder"])
def test_a_shipped_set_named_by_the_user_is_read(layout, tmp_path, how):
    source = layout / "reference" / GPU.name if how == "named-file" else layout / "reference"
    index = report.build_report([source], tmp_path / "site")
    assert GPU.stem in set_names(index)


def test_nothing_of_the_user_s_own_names_the_flag_and_the_command(layout, capsys):
    for own in layout.glob("compare-*"):
        own.unlink()
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args([])) == 1
    err = capsys.readouterr().err
    assert "no result sets of your own" in err and "--reference" in err and "python -m adbench compare" in err
    assert "4 reference sets shipped" in err  # two CSV sets and the asv fixture's two files
    assert "Traceback" not in err


def test_reference_without_the_shipped_sets_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "shipped_folders", lambda: [tmp_path / "nowhere"])
    with pytest.raises(NoResultsError, match="--reference: the shipped reference sets are not here"):
        report.build_report([GPU], tmp_path / "site", reference=True)


@pytest.mark.parametrize("command", ["adbench compare --quick", "adbench compare --problem lsq.py:f --sizes 100"])
def test_a_set_is_labelled_by_its_command(tmp_path, command):
    path = make_set(
        tmp_path / "labelled.csv", [case("jax", "reverse", 1e-5, 0.9e-5, 1.1e-5)], settings={"command": command}
    )
    (result,) = load_sets([path])
    assert result.label.startswith(command) and "crafted" in result.label and "2025-02-01" in result.label
    index = report.build_report([path], tmp_path / "site")
    assert command in text(index) and command in text(index.parent / "sets" / "labelled" / "loss.html")


# -- n/a by design is not a failure --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, reason, shown",
    [
        ("skipped", "problem 'lsq.py:f' has no hand-written Jacobian", "n/a"),
        ("skipped", "problem 'gmm' has no hand-written Hessian", "n/a"),
        ("skipped", "torch-compile offers no forward mode for hvp", "n/a"),
        ("skipped", "asv skipped the case (n/a): not supported, not installed or over the memory guard here", "n/a"),
        ("skipped", "estimated peak memory 3.0 GiB exceeds the limit 2.0 GiB (--memory-limit)", "skipped"),
        ("skipped", "backend unavailable: No module named 'mlx'", "skipped"),
        ("error", "RuntimeError: boom", "error"),
        ("timeout", None, "timeout"),
        ("wrong", "rel_error 0.5 exceeds the tolerance", "wrong"),
        ("ok", None, "ok"),
    ],
    ids=[
        "no-manual-jacobian",
        "no-manual-hessian",
        "mode-a-backend-lacks",
        "asv-n/a",
        "memory-estimate",
        "not-installed",
        "error",
        "timeout",
        "wrong",
        "ok",
    ],
)
def test_not_applicable_is_told_from_failure(status, reason, shown):
    from adbench.report.data import shown_status

    assert shown_status(status, reason) == shown


def test_not_applicable_is_neutral_on_the_pages(site):
    user = text(site / "sets" / NEWER.stem / "user_problem-cumsum_tail.html")
    assert '<tr class="na">' in user and "not applicable" in user
    index = text(site / "index.html")
    grid = index[index.index('<table class="grid">') : index.index("</table>")]
    assert 'class="cell na"' in grid and 'class="cell failed"' in grid  # torch errors on the user function


# -- the front page's grid ---------------------------------------------------------------------------------------
def grid_of(tmp_path, rows, name="g"):
    from adbench.report.views import set_view as _set_view

    (result,) = load_sets([make_set(tmp_path / f"{name}.csv", rows)])
    from adbench.report import plots

    with plots.context():
        return _set_view(result).grid


@pytest.mark.parametrize(
    "times",
    [(1e-5, 3e-5, 1e-4, 5e-3), (2e-3, 1e-5, 4e-4, 2.2e-5), (1e-4, 1.1e-4, 9e-3, 1e-3)],
    ids=["ascending", "shuffled", "near-tie-first"],
)
def test_grid_colours_follow_the_times(tmp_path, times):
    from adbench.report.grid import SCALE

    backends = ["jax", "torch", "autograd", "manual"]
    rows = [case(b, "manual" if b == "manual" else "reverse", t, t * 0.98, t * 1.02) for b, t in zip(backends, times)]
    grid = grid_of(tmp_path, rows)
    (row,) = grid.rows
    cells = {b: c for (b, _), c in zip(grid.columns, row.cells)}
    order = [
        list(dict(SCALE).values()).index(cells[b].colour) for b in sorted(backends, key=dict(zip(backends, times)).get)
    ]
    assert order == sorted(order), "a slower cell is never darker than a faster one"
    fastest = min(zip(times, backends))[1]
    assert cells[fastest].fastest and cells[fastest].ratio == 1.0
    assert sum(c.fastest for c in cells.values()) == 1
    for c in cells.values():
        assert c.ratio == pytest.approx(c.time / min(times))


def test_grid_marks_a_tie_with_the_fastest(tmp_path):
    grid = grid_of(
        tmp_path,
        [
            case("jax", "reverse", 1.0e-4, 0.5e-4, 2e-4),
            case("torch", "reverse", 1.1e-4, 0.6e-4, 2e-4),
            case("autograd", "reverse", 1e-2, 0.99e-2, 1.01e-2),
        ],
    )
    jax, torch, autograd = grid.rows[0].cells[:3]
    assert jax.fastest and torch.tied and not autograd.tied


def test_grid_never_ranks_a_wrong_case(tmp_path):
    grid = grid_of(
        tmp_path,
        [
            case("jax", "reverse", 1e-6, 0.9e-6, 1.1e-6, status="wrong", rel_error=0.5, tolerance=1e-3),
            case("torch", "reverse", 5e-5, 4.9e-5, 5.1e-5),
            case("autograd", "reverse", 1e-4, 0.9e-4, 1.1e-4),
            case("manual", "manual", 1e-5, status="skipped", error="problem 'loss' has no hand-written Jacobian"),
        ],
    )
    cells = dict(zip((b for b, _ in grid.columns), grid.rows[0].cells))
    assert cells["jax"].kind == "wrong" and not cells["jax"].colour and cells["jax"].ratio is None
    assert cells["torch"].fastest and cells["autograd"].ratio == pytest.approx(2.0)
    assert cells["manual"].kind == "n/a" and not cells["manual"].colour


def test_grid_cells_link_to_existing_plot_anchors(site):
    index = site / "index.html"
    html = text(index)
    grid = html[html.index('<table class="grid">') : html.index("</table>")]
    links = re.findall(r'href="([^"]+)"', grid)
    assert len(links) >= 10
    for url in links:
        path, _, fragment = url.partition("#")
        target = (index.parent / path).resolve()
        assert target.exists() and fragment.startswith("op-"), url
        assert f'id="{fragment}"' in text(target), url
    assert html.index('<table class="grid">') < html.index('<details class="verdicts"'), "the picture comes first"


@pytest.mark.parametrize("manual_time", [1e-6, 1e-4], ids=["manual-fastest-of-all", "manual-slowest"])
def test_grid_stars_a_framework_never_the_hand_written_floor(tmp_path, manual_time):
    grid = grid_of(
        tmp_path,
        [
            case("jax", "reverse", 2e-5, 1.9e-5, 2.1e-5),
            case("torch", "reverse", 5e-5, 4.9e-5, 5.1e-5),
            case("manual", "manual", manual_time, manual_time * 0.99, manual_time * 1.01),
        ],
    )
    cells = dict(zip((b for b, _ in grid.columns), grid.rows[0].cells))
    assert cells["jax"].fastest and cells["jax"].ratio == 1.0, "the fastest AD framework carries the star"
    assert not cells["manual"].fastest and cells["manual"].kind == "ok", "the floor stays visible, unstarred"
    assert cells["manual"].ratio == pytest.approx(manual_time / 2e-5), "measured against the fastest framework"
    assert sum(c.fastest for c in cells.values()) == 1
