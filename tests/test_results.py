"""Result sets re-analysed from their raw samples: same measurements, this adbench's statistics, the source named."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adbench.engine.results import DamagedResultsError, read_results, reanalyse
from adbench.engine.timing import INTERVAL_METHOD, median_interval

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """A real two-round set (the baselines only: a few seconds, no framework needed)."""
    csv = tmp_path_factory.mktemp("set") / "run.csv"
    out = subprocess.run([sys.executable, "-m", "adbench", "compare", "--problems", "basic,loss", "--sizes", "50",
                          "--backends", "manual,finite-diff", "--rounds", "2", "--budget", "0.01",
                          "--output", str(csv)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return csv


def test_reanalysis_recomputes_intervals_and_keeps_the_measurements(measured, tmp_path):
    source = measured
    out = reanalyse(source, tmp_path / "re.csv")
    before, meta_before = read_results(source)
    after, meta = read_results(out)
    assert meta["run_id"] == meta_before["run_id"] and meta["environment"] == meta_before["environment"]
    assert meta["settings"]["interval"] == INTERVAL_METHOD
    assert meta["reanalysed"]["from"] == source.name
    assert meta["reanalysed"]["csv_sha256"] == meta_before["csv_sha256"]
    for col in ("problem", "backend", "mode", "status", "error", "median_s", "samples", "rel_error"):
        assert before[col].equals(after[col]), col
    for row, kept in zip(after.itertuples(), meta["cases"]):
        rounds = [r for r in kept["raw_samples"] if r]
        assert len(rounds) == 2
        assert (row.ci_low_s, row.ci_high_s) == pytest.approx(median_interval(rounds))


def test_reanalysis_never_overwrites_its_source(measured, tmp_path):
    source = measured
    for name in (source.name, source.with_suffix(".json").name):
        shutil.copy(source.parent / name, tmp_path / name)
    with pytest.raises(ValueError, match="beside its source"):
        reanalyse(tmp_path / source.name, tmp_path / source.name)


def test_reanalysis_refuses_a_sidecar_out_of_step_with_its_rows(measured, tmp_path):
    import json

    source = measured
    shutil.copy(source, tmp_path / source.name)
    meta = json.loads(source.with_suffix(".json").read_text())
    meta["cases"] = meta["cases"][::-1]
    (tmp_path / source.with_suffix(".json").name).write_text(json.dumps(meta))
    with pytest.raises(DamagedResultsError, match="not in the same order"):
        reanalyse(tmp_path / source.name, tmp_path / "re.csv")


def test_the_report_says_a_set_was_reanalysed(measured, tmp_path):
    from adbench.report import build_report

    folder = tmp_path / "sets"
    reanalyse(measured, folder / "re.csv")
    index = build_report([folder], tmp_path / "site")
    assert "re-analysed from the raw samples" in Path(index).read_text(encoding="utf-8")
