"""``adbench merge`` and the per-host sets: shards of one grid on two hosts joined into one set, never ranked
across hosts by the summary or the report, and every set that cannot be joined refused with the reason."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from adbench import compare
from adbench.engine.results import read_results
from adbench.merge import MergeError, merge

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS, BACKENDS = ["basic", "loss"], ["autograd", "manual"]
SETTINGS = dict(time_budget_s=4.0, min_visits=3, visit_s=0.002)


def _shard(folder: Path, k: int, host: str, **settings) -> Path:
    """Shard k of 2 of a small grid, measured as if on ``host`` ($ADBENCH_HOST)."""
    before = os.environ.get("ADBENCH_HOST")
    os.environ["ADBENCH_HOST"] = host
    try:
        specs = compare.build_grid(PROBLEMS, BACKENDS, None, None, "float64")
        out = folder / f"shard{k}-{host}.csv"
        compare.run(specs, output=out, shard=f"{k}/2", **{**SETTINGS, **settings})
        return out
    finally:
        if before is None:
            os.environ.pop("ADBENCH_HOST", None)
        else:
            os.environ["ADBENCH_HOST"] = before


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    return _shard(folder, 1, "alpha"), _shard(folder, 2, "beta")


@pytest.fixture(scope="module")
def merged(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("merged") / "merged.csv"
    merge(shards, out)
    return out


def test_shards_record_the_grid_they_are_slices_of(shards):
    metas = [read_results(s)[1] for s in shards]
    assert [m["settings"]["shard"] for m in metas] == ["1/2", "2/2"]
    assert metas[0]["settings"]["grid"] == metas[1]["settings"]["grid"]
    assert metas[0]["settings"]["operations"] == metas[1]["settings"]["operations"], "a slice's own, not the grid's"


def test_merge_joins_the_shards_each_case_keeping_its_host(shards, merged):
    frame, meta = read_results(merged)
    parts = [read_results(s)[0] for s in shards]
    assert len(frame) == sum(len(p) for p in parts)
    assert set(frame["host"]) == {"alpha", "beta"}
    assert set(meta["hosts"]) == {"alpha", "beta"}
    assert [m["shard"] for m in meta["merged"]] == ["1/2", "2/2"]
    assert meta["settings"]["shard"] is None
    ok = frame[frame["status"] == "ok"]
    assert ok["time_s"].notna().all() and (ok["ci_low_s"] <= ok["time_s"]).all()
    cases = meta["cases"]
    assert meta["comparisons"], "no paired comparisons left after the merge"
    for a, b, *_ in meta["comparisons"]:
        assert cases[a]["host"] == cases[b]["host"], "a comparison across hosts"


def test_summary_shows_each_host_on_its_own(merged, monkeypatch):
    from adbench.engine.results import comparisons_of
    from adbench.rendering import render

    monkeypatch.setenv("COLUMNS", "200")  # rows read whole: where they fit is tests/test_cli.py's to check

    frame, meta = read_results(merged)
    text = render(frame, "table", None, comparisons_of(meta), None)
    assert "host alpha" in text and "host beta" in text
    alpha, beta = text.split("host beta")
    for problem, operation in frame[["problem", "operation"]].drop_duplicates().itertuples(index=False):
        host = frame[(frame["problem"] == problem) & (frame["operation"] == operation)]["host"].iloc[0]
        assert (f"{problem} · {operation}" in alpha) == (host == "alpha")


def test_report_reads_a_set_of_two_hosts_as_two_sets(merged):
    from adbench.report.data import _read

    sets, failed = _read(merged)
    assert failed is None
    assert [stem for stem, _, _ in sets] == ["merged-alpha", "merged-beta"]
    for stem, frame, meta in sets:
        host = stem.rsplit("-", 1)[1]
        assert set(frame["host"]) == {host} and meta["environment"]["hostname"] == host


def test_cli_merge(shards, tmp_path):
    from test_cli import adbench

    out = adbench("merge", *map(str, shards), "-o", str(tmp_path / "m.csv"))
    assert out.returncode == 0, out.stderr
    assert "2 host(s)" in out.stderr
    bad = adbench("merge", str(shards[0]), str(shards[0]), "-o", str(tmp_path / "m2.csv"))
    assert bad.returncode == 2 and "a shard run twice" in bad.stderr
    assert not (tmp_path / "m2.csv").exists()


@pytest.mark.parametrize("case", ["one-set", "twice", "other-settings", "other-grid", "version-2", "over-a-source"])
def test_merge_refuses_with_the_reason(shards, tmp_path, case):
    a, b = shards
    sources, words = [a, b], ""
    out = tmp_path / "out.csv"
    if case == "one-set":
        sources, words = [a], "two or more"
    elif case == "twice":
        sources, words = [a, a], "a shard run twice"
    elif case == "other-settings" or case == "other-grid":
        edited = tmp_path / "edited.csv"
        shutil.copy(b, edited)
        side = json.loads(b.with_suffix(".json").read_text())
        if case == "other-settings":
            side["settings"]["min_visits"] = 99
            words = "min_visits is 99 there, 3 here"
        else:
            side["settings"]["grid"] = "0123456789abcdef"
            words = "shards of different grids"
        edited.with_suffix(".json").write_text(json.dumps(side))
        sources = [a, edited]
    elif case == "version-2":
        sources, words = [a, ROOT / "tests/fixtures/results/compare-20250101T000000.csv"], "keeps no visits"
    elif case == "over-a-source":
        out, words = b, "not over one"
    with pytest.raises(MergeError, match=words):
        merge(sources, out)


def test_the_site_draws_each_host_of_a_merged_set(merged, tmp_path):
    """One host holds loss's HVPs, the other its Jacobian: each set is drawn on its own, nothing fails."""
    pytest.importorskip("matplotlib", reason="the report needs the [report] extra")
    from adbench.report.site import build_site

    index = build_site([merged.parent], tmp_path / "site")
    assert sorted(p.name for p in (tmp_path / "site" / "sets").iterdir()) == ["merged-alpha", "merged-beta"]
    assert "could not be drawn" not in index.read_text(encoding="utf-8")
