"""The report in a real browser: headless Chromium opens it from disk, logs no console error, and draws something."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from adbench.report import build_report

FIXTURES = Path(__file__).parent / "fixtures" / "results"
NEWER = "compare-20250102T000000"  # the fixtures' newest set: every operation, chunks, failures
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((found for name in BROWSERS if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)
WINDOW = (1366, 900)  # a laptop screen


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """One headless Chromium run with a fresh profile, kept off the network and quiet."""
    with tempfile.TemporaryDirectory(prefix="adbench-chromium-") as profile:
        return subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                # Anything that reached for a host would fail to resolve rather than leave the machine.
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--enable-logging=stderr",
                "--v=0",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def console_messages(stderr: str) -> list[str]:
    # Chromium logs each console message (log, error, uncaught exception) as an INFO:CONSOLE line.
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    # The same site test_report.py builds, shared within a test session (it is the costly part).
    out = tmp_path_factory.getbasetemp() / "report-site-fixtures"
    if not (out / "index.html").exists():
        build_report([FIXTURES], out)
    return out


@pytest.mark.parametrize(
    "page",
    [
        "index.html",
        "compare.html",
        f"sets/{NEWER}/loss.html",
        f"sets/{NEWER}/user_problem-cumsum_tail.html",
        f"sets/{NEWER}/basic.html",
        "sets/compare-20250101T120000/index.html",
    ],
)
def test_page_opens_from_disk_without_console_errors(site, tmp_path, page):
    shot = tmp_path / "shot.png"
    url = (site / page).as_uri()
    run = chromium(f"--screenshot={shot}", url)
    assert shot.exists(), f"no screenshot; chromium said:\n{run.stderr[-2000:]}"
    assert console_messages(run.stderr) == []

    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == WINDOW
    # Not blank: a page of text and plots has real contrast and plenty of non-white pixels.
    assert ImageStat.Stat(image).stddev[0] > 20
    dark = sum(image.histogram()[:200]) / (image.size[0] * image.size[1])
    assert dark > 0.02, f"only {dark:.1%} of the screenshot is drawn"


def test_scripts_ran_and_plots_are_in_the_dom(site):
    page = site / "sets" / NEWER / "loss.html"
    run = chromium("--dump-dom", page.as_uri())
    dom = run.stdout
    assert console_messages(run.stderr) == []
    # Every operation's figures (matplotlib's SVG over n; the first call as an HTML dot chart), the
    # second-order panel and the chunk trade-off.
    assert len(re.findall(r"<svg\b", dom)) >= 11 and dom.count('<div class="dots"') >= 3
    for label in (
        "loss jacobian time vs size",
        "loss jacobian memory",
        "loss second order",
        "loss chunks",
        "loss jacobian first call",
    ):
        assert f'aria-label="{label}"' in dom, label
    # report.js titles the sortable headings; seeing them proves it loaded and ran without error.
    assert 'title="sort by time"' in dom


# Run in the page (injected into a copy): boxes that overlap where nothing may. Matplotlib's SVG keeps each
# text and legend as a group (text as shapes), so a legend over a title or an axis label is found by its box.
LAYOUT_PROBE = """<script>
(function () {
  function box(e) { var r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 ? r : null; }
  function hit(a, b) {
    return a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  }
  var found = [];
  document.querySelectorAll("svg.figure").forEach(function (svg) {
    var legends = Array.prototype.slice.call(svg.querySelectorAll("g[id^=legend_]"));
    var texts = Array.prototype.filter.call(svg.querySelectorAll("g[id^=text_]"), function (t) {
      return !legends.some(function (l) { return l.contains(t); }); });
    legends.forEach(function (l) { texts.forEach(function (t) {
      var a = box(l), b = box(t);
      if (a && b && hit(a, b)) found.push(svg.getAttribute("aria-label") + ": legend over a text"); }); });
  });
  document.querySelectorAll("tr.axis").forEach(function (row) {
    var ticks = Array.prototype.map.call(row.querySelectorAll(".tick"), box).filter(Boolean);
    for (var i = 1; i < ticks.length; i++)
      if (hit(ticks[i - 1], ticks[i])) found.push("dot chart: tick labels overlap");
  });
  document.querySelectorAll("table.dots tr:not(.axis)").forEach(function (row) {
    var label = box(row.cells[0]), track = box(row.cells[1]);
    if (label && track && label.right > track.left + 1) found.push("dot chart: a label runs into its track");
  });
  var grid = document.querySelector("table.grid");
  var width = grid ? Math.round(grid.getBoundingClientRect().width) : 0;
  document.body.setAttribute("data-layout",
    JSON.stringify({overlaps: found, grid: width, viewport: window.innerWidth}));
})();
</script>"""


@pytest.mark.parametrize(
    "page",
    [
        "index.html",
        f"sets/{NEWER}/loss.html",
        f"sets/{NEWER}/user_problem-cumsum_tail.html",
        f"sets/{NEWER}/basic.html",
        "compare.html",
    ],
)
def test_no_text_overlaps_and_the_grid_fits_a_laptop_screen(site, tmp_path, page):
    import json

    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    target = copy / page
    target.write_text(text_of(target).replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    run = chromium("--dump-dom", target.as_uri())
    found = re.search(r'data-layout="([^"]*)"', run.stdout)
    assert found, f"the probe did not run; chromium said:\n{run.stderr[-2000:]}"
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["overlaps"] == []
    assert layout["grid"] <= layout["viewport"], "the overview grid is wider than the window"


def test_the_layout_probe_sees_an_overlap(tmp_path):
    """The probe can fail: a legend drawn over a title, and two tick labels on one spot."""
    import json

    page = tmp_path / "overlap.html"
    page.write_text(
        '<html><body><svg class="figure" aria-label="made" width="200" height="100">'
        '<g id="legend_1"><rect x="10" y="10" width="80" height="30"/></g>'
        '<g id="text_1"><rect x="50" y="20" width="80" height="30"/></g></svg>'
        '<table class="dots"><tr class="axis"><th></th><td class="track" style="position:relative;width:300px">'
        '<span class="tick" style="position:absolute;left:10px">10 µs</span>'
        '<span class="tick" style="position:absolute;left:14px">20 µs</span></td></tr></table>'
        + LAYOUT_PROBE
        + "</body></html>",
        encoding="utf-8",
    )
    run = chromium("--dump-dom", page.as_uri())
    layout = json.loads(re.search(r'data-layout="([^"]*)"', run.stdout).group(1).replace("&quot;", '"'))
    assert layout["overlaps"] == ["made: legend over a text", "dot chart: tick labels overlap"]


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_front_page_leads_with_the_grid(site):
    run = chromium("--dump-dom", (site / "index.html").as_uri())
    dom = run.stdout
    assert console_messages(run.stderr) == []
    grid, verdicts = dom.index('<table class="grid">'), dom.index('<details class="verdicts"')
    assert grid < verdicts and dom.index("<h1>") < grid, "the picture first, the sentences one click away"
    assert '<details class="verdicts">' in dom, "the verdicts start folded"
    cells = re.findall(r'<td class="cell ok[^"]*" style="background:(#[0-9a-f]{6})', dom)
    assert len(cells) >= 10 and len(set(cells)) >= 3, "cells coloured along the scale"
    assert dom.count('class="mark" aria-label="fastest"') >= 5
