"""Result sets re-analysed from their visits: same measurements, this adbench's statistics (or another per-visit
statistic), the source named; older sets migrated on reading."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adbench.engine.results import DamagedResultsError, read_results, reanalyse
from adbench.engine.timing import INTERVAL_METHOD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    """A real set of a few visits per case (the baselines only: a few seconds, no framework needed)."""
    csv = tmp_path_factory.mktemp("set") / "run.csv"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "adbench",
            "compare",
            "--problems",
            "loss",
            "--sizes",
            "50",
            "--backends",
            "manual,finite-diff",
            "--rounds",
            "4",
            "--budget",
            "0.002",
            "--no-adaptive",
            "--output",
            str(csv),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
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
    for col in (
        "problem",
        "backend",
        "mode",
        "status",
        "error",
        "median_s",
        "samples",
        "rel_error",
        "time_s",
        "ci_low_s",
        "ci_high_s",
    ):
        assert (
            before[col].equals(after[col]) or (before[col] - after[col]).abs().max() < 1e-12 * before[col].abs().max()
        ), col
    flat = lambda rows: [v for row in rows for v in row]  # noqa: E731
    assert flat(meta["comparisons"]) == pytest.approx(flat(meta_before["comparisons"]))
    for row, kept in zip(after.itertuples(), meta["cases"]):
        assert len(kept["visits"]) == row.visits >= 4


def test_reanalysis_with_another_statistic(measured, tmp_path):
    """The same visits read through the median of each instead of its fastest sample: times no faster,
    the choice recorded."""
    out = reanalyse(measured, tmp_path / "median.csv", statistic="median")
    before, _ = read_results(measured)
    after, meta = read_results(out)
    assert meta["settings"]["statistic_name"] == "median" and meta["reanalysed"]["statistic_before"] == "min"
    assert (after["time_s"] >= before["time_s"] * (1 - 1e-12)).all()
    assert (after["min_s"] == before["min_s"]).all()
    with pytest.raises(ValueError, match="unknown statistic 'mode'; valid: median, min, q25"):
        reanalyse(measured, tmp_path / "x.csv", statistic="mode")


def test_older_sets_are_migrated_not_reanalysed(tmp_path):
    from adbench.engine.results import ResultsFormatError

    fixtures = ROOT / "tests" / "fixtures" / "results"
    frame, meta = read_results(fixtures / "compare-20250102T000000.csv")
    assert meta["format_version"] == 2
    timed = frame[frame["median_s"].notna()]
    assert (timed["time_s"] == timed["median_s"]).all(), "a version-2 headline is its median"
    assert (frame["replicate"] == 0).all() and frame["log_se"].isna().all()
    assert (frame.loc[frame["status"] == "ok", "visits"] >= 1).all()
    with pytest.raises(ResultsFormatError, match="keeps no visits"):
        reanalyse(fixtures / "compare-20250102T000000.csv", tmp_path / "re.csv")


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


def test_a_version_4_set_says_its_jax_first_calls_were_compiled_cold():
    """Before version 5 every run compiled in a cache of its own: JAX's first calls were cold compiles."""
    from adbench.engine.frames import migrate, rows_to_frame
    from adbench.engine.record import CaseResult

    rows = [
        CaseResult(problem="loss", size=10, backend=b, framework=fw, mode="reverse", first_call_s=first)
        for b, fw, first in (("jax", "jax", 0.5), ("jax", "jax", None), ("torch", "torch", 0.1))
    ]
    frame = rows_to_frame(rows)
    assert frame["first_call_cache"].isna().all()
    old = migrate(frame, 4)
    assert old["first_call_cache"].tolist()[0] == "cold"
    assert old["first_call_cache"].iloc[1:].isna().all(), "no first call, or no kept cache: nothing to say"
    assert migrate(frame, 5)["first_call_cache"].isna().all(), "a version 5 set says it itself"
