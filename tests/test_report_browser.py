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

from adbench.report import build_report  # noqa: E402

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
            [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", f"--user-data-dir={profile}", "--hide-scrollbars",
             # Anything that reached for a host would fail to resolve rather than leave the machine.
             "--host-resolver-rules=MAP * ~NOTFOUND",
             "--enable-logging=stderr", "--v=0", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
            capture_output=True, text=True, timeout=timeout,
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


@pytest.mark.parametrize("page", ["index.html", "compare.html", f"sets/{NEWER}/loss.html",
                                  "sets/compare-20250101T120000/index.html"])
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
    # Every operation's figures, the second-order panel and the chunk trade-off.
    assert len(re.findall(r"<svg\b", dom)) >= 12
    for label in ("loss jacobian time vs size", "loss jacobian memory", "loss second order", "loss chunks"):
        assert f'aria-label="{label}"' in dom, label
    # report.js titles the sortable headings; seeing them proves it loaded and ran without error.
    assert 'title="sort by time"' in dom
