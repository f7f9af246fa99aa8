"""The HTML report: built from the fixture result sets, complete, honest about failures, and offline."""

from __future__ import annotations

import argparse
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from adbench import report  # noqa: E402
from adbench.report import analysis  # noqa: E402
from adbench.report.data import NoResultsError, load_sets  # noqa: E402
from adbench.report.site import OutputNotOursError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "results"
ASV_FIXTURE = Path(__file__).parent / "fixtures" / "asv"  # asv's results format, made from NEWER
NEWER = FIXTURES / "compare-20250102T000000.csv"  # one thread; has error, timeout and skipped rows
OLDER = FIXTURES / "compare-20250101T000000.csv"  # "machine B", two threads


class Links(HTMLParser):
    """Every URL a page would load or follow: src, href (and SVG's xlink:href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data", "poster", "srcset", "action") and value is not None:
                self.urls.append(value)


def links(page: Path) -> list[str]:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.urls


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    index = report.build_report([FIXTURES], out)
    assert index == out / "index.html"
    return out


@pytest.fixture(scope="module")
def frames() -> pd.DataFrame:
    return pd.concat([pd.read_csv(NEWER), pd.read_csv(OLDER)])


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_fixtures_hold_every_kind_of_row(frames):
    statuses = set(frames["status"])
    assert {"ok", "error", "timeout", "skipped"} <= statuses
    assert frames["problem"].str.contains(":").any(), "a user problem (module:function) is part of the fixture"


def test_index_has_headlines_environment_and_method(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "Reverse mode wins" in html and "Forward mode wins" in html
    for expected in ("jax 0.", "torch 2.", "threads per framework", "commit", "first call vs steady state", "median"):
        assert expected in html.lower(), expected
    assert "<svg" in html, "the lesson plot is on the front page"
    assert 'href="static/style.css"' in html


def test_every_problem_and_backend_is_reported(site, frames):
    newest = pd.read_csv(NEWER)
    index = (site / "index.html").read_text(encoding="utf-8")
    for problem, rows in newest.groupby("problem"):
        assert f">{problem}<" in index, problem
        page = site / "sets" / NEWER.stem / f"{problem.replace(':', '-')}.html"
        text = page.read_text(encoding="utf-8")
        for backend in set(rows["backend"]):
            assert f"<td>{backend}</td>" in text, (problem, backend)
        assert text.count("<svg") >= 3, f"{problem}: time, ratio and first-call plots"
    # The older set ("another machine") has its own pages too.
    for problem in set(pd.read_csv(OLDER)["problem"]):
        assert (site / "sets" / OLDER.stem / f"{problem}.html").exists()


def test_failed_cases_are_marked_not_hidden(site):
    base = site / "sets" / NEWER.stem
    user = (base / "user_problem-cumsum_tail.html").read_text(encoding="utf-8")
    assert '<span class="badge error">error</span>' in user
    assert "cumsum() missing 1 required positional argument" in user  # the reason, not just a flag
    assert '<span class="badge skipped">skipped</span>' in user  # no hand-written Jacobian
    loss = (base / "loss.html").read_text(encoding="utf-8")
    assert '<span class="badge timeout">timeout</span>' in loss
    assert '<tr class="timeout">' in loss
    assert "noisy" in loss
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "badge timeout" in index and "badge skipped" in index


def test_no_external_url_and_every_link_resolves(site):
    for page in pages(site):
        text = page.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, page
        for url in links(page):
            parsed = urlparse(url)
            assert not parsed.scheme and not parsed.netloc, f"{page}: external {url!r}"
            if parsed.path:
                target = (page.parent / unquote(parsed.path)).resolve()
                assert target.exists(), f"{page}: broken link {url!r}"
    for static in (site / "static").iterdir():
        text = static.read_text(encoding="utf-8")
        assert "http" not in text and "@import" not in text and "//cdn" not in text, static


def test_several_sets_are_comparable(site):
    compare = (site / "compare.html").read_text(encoding="utf-8")
    assert "fixture-machine-b" in compare and NEWER.stem in compare and OLDER.stem in compare
    assert 'class="differs"' in compare  # the environments' differences are highlighted
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f"sets/{OLDER.stem}/index.html" in index, "a selector reaches the other set"


def test_analysis_reads_the_lesson_off_the_fixture():
    (result,) = [s for s in load_sets([NEWER])]
    loss = result.problem_frame("loss")
    h = analysis.headline(loss, analysis.problem_info("loss", loss))
    assert h.winner == "reverse" and h.factor > 2
    tall = result.problem_frame("tall")
    h = analysis.headline(tall, analysis.problem_info("tall", tall))
    assert h.winner == "forward" and h.factor > 10
    info = analysis.problem_info("tall", tall)
    assert info.shape == "Rⁿ → R¹⁰⁰ⁿ"
    exps = {e["series"].label: e for e in analysis.exponents(tall, info)}
    assert exps["jax forward"]["theory"] == pytest.approx(3.0)  # n JVPs, each ~ n^2
    assert exps["manual (NumPy floor)"]["theory"] == pytest.approx(2.0)


def test_crossover_and_slope_on_made_up_numbers():
    ratio = pd.Series([0.5, 2.0], index=[10, 1000])
    n_star, text = analysis.crossover(ratio)
    assert n_star == pytest.approx(100.0)
    assert text.startswith("forward faster below n ≈ 100")
    assert analysis.crossover(pd.Series([2.0, 3.0], index=[10, 100]))[0] is None
    assert analysis.slope([10, 100, 1000], [1e-6, 1e-4, 1e-2]) == pytest.approx(2.0)
    assert analysis.fmt_time(3.2e-5) == "32 µs" and analysis.fmt_time(1.5) == "1.5 s"
    assert analysis.fmt_int(10000) == "10\u202f000"


def test_builds_from_sparse_and_odd_results(tmp_path):
    """All failed, one backend only, an unknown backend, a user problem: still a site, still honest."""
    from adbench.results import write_results

    def row(problem, size, backend, mode, status, **extra):
        return {"problem": problem, "size": size, "backend": backend, "mode": mode, "status": status, **extra}

    rows = [
        row("loss", 100, "jax", "forward", "error", error="boom"),
        row("loss", 1000, "jax", "reverse", "timeout", error="slow"),
        row("tall", 4, "manual", "manual", "ok", median_s=1e-5, n_outputs=400),
        row("tall", 16, "manual", "manual", "ok", median_s=2e-5, n_outputs=1600),
        row("mymod:f", 10, "other", "reverse", "ok", median_s=2e-5, f_median_s=1e-5),
    ]
    write_results(tmp_path / "r.csv", rows, {}, {})
    index = report.build_report([tmp_path / "r.csv"], tmp_path / "site")
    loss = (index.parent / "sets" / "r" / "loss.html").read_text(encoding="utf-8")
    assert "nothing to plot" in loss and "boom" in loss and "badge timeout" in loss
    assert "<td>other</td>" in (index.parent / "sets" / "r" / "mymod-f.html").read_text(encoding="utf-8")


def test_asv_results_are_read_as_a_set(tmp_path):
    from adbench.report.asv import find_asv_results, read_asv_result

    (path,) = find_asv_results(ASV_FIXTURE)
    frame, meta = read_asv_result(path)
    assert meta["settings"]["source"] == "asv" and meta["environment"]["hostname"] == "fixture-asv-machine"
    assert set(frame["backend"]) == {"jax", "manual"} and set(frame["mode"]) == {"forward", "reverse", "manual"}
    assert set(frame["status"]) == {"ok", "skipped"}  # NaN is asv's "skipped"
    ok = frame[frame["status"] == "ok"]
    assert (ok["median_s"] > 0).all() and (ok["first_call_s"] > 0).all() and (ok["j_over_f"] > 0).all()

    index = report.build_report([ASV_FIXTURE], tmp_path / "site")
    html = index.read_text(encoding="utf-8")
    assert "asv run, commit 01234567" in html and "Reverse mode wins" in html
    assert (index.parent / "sets" / "asv-fixture-asv-machine-01234567" / "tall.html").exists()


def test_asv_failures_and_empty_runs(tmp_path):
    import json

    from adbench.report.asv import read_asv_result

    columns = ["result", "params", "version", "started_at", "duration"]
    params = [["'loss-100'"], ["'jax-forward'", "'jax-reverse'", "'finite-diff-central'"]]
    data = {"result_columns": columns, "params": {"machine": "m"}, "commit_hash": "abc", "results": {
        "ad.Jacobian.time_jacobian": [[None, 1e-5, 2e-4], params, "v", 1735776000000, 1.0]}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    frame, _ = read_asv_result(path)
    assert dict(zip(frame["mode"], frame["status"])) == {"forward": "error", "reverse": "ok", "central": "ok"}
    assert "asv recorded a failure" in frame.loc[frame["status"] == "error", "error"].iloc[0]
    # The whole benchmark failed (asv writes null): nothing to show, so no set at all.
    data["results"]["ad.Jacobian.time_jacobian"][0] = None
    path.write_text(json.dumps(data))
    assert read_asv_result(path) is None


def test_asv_pages_are_linked_only_when_published(tmp_path):
    asv = tmp_path / "asv-html"
    out = tmp_path / "site"
    index = report.build_report([OLDER], out, asv_html=asv)
    assert "asv pages" not in index.read_text(encoding="utf-8")
    asv.mkdir()
    (asv / "index.html").write_text("<html></html>")
    index = report.build_report([OLDER], out, asv_html=asv)
    html = index.read_text(encoding="utf-8")
    assert 'href="../asv-html/index.html"' in html
    assert not (out / "compare.html").exists(), "one set: no comparison page (and none left over)"


def test_rebuilding_unchanged_results_changes_nothing(tmp_path):
    a = report.build_report([OLDER], tmp_path / "a").read_bytes()
    b = report.build_report([OLDER], tmp_path / "b").read_bytes()
    assert a == b


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputNotOursError):
        report.build_report([OLDER], tmp_path)
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
    assert "no adbench result sets" in err and "adbench compare" in err
    assert report.run(parser.parse_args(["--results", str(tmp_path / "nope")])) == 1

    out = tmp_path / "site"
    assert report.run(parser.parse_args(["--results", str(OLDER), "--output", str(out)])) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")

    with pytest.raises(NoResultsError):
        report.build_report([empty], tmp_path / "x")


def test_importing_the_package_does_not_import_matplotlib():
    code = "import sys, adbench.report; assert 'matplotlib' not in sys.modules and 'jinja2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
