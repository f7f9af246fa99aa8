"""Fault probe, issue 8 item 2: two runs started together never share a result set."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from faultkit import FAST, finish, read_set, short, start


@pytest.mark.fault("2")
def test_concurrent_default_path(tmp_path: Path) -> None:
    """Two simultaneous runs: exit 0 each, two complete sets with distinct run ids; a mixed pair refused."""
    from adbench.engine.results import DamagedResultsError, reserve_default_path

    tmp = tmp_path
    args = ("compare", "--problems", "basic", "--backends", "manual,finite-diff", *FAST)
    t0 = time.monotonic()
    procs = [start(tmp, *args), start(tmp, *args)]
    runs = [finish(p, t0) for p in procs]
    assert all(r.rc == 0 for r in runs), f"exits {[r.rc for r in runs]}"
    csvs = sorted((tmp / "results").glob("compare-*.csv"))
    assert len(csvs) == 2, f"{len(csvs)} sets: {', '.join(p.name for p in csvs)}"
    ids = []
    for csv in csvs:
        frame, meta = read_set(csv)  # raises DamagedResultsError if its two files disagree
        ids.append(meta["run_id"])
        assert len(frame) == 2 and set(frame["run_id"]) == {meta["run_id"]}, (
            f"{csv.name}: {len(frame)} rows of runs {sorted(set(frame['run_id']))}, not 2 of {meta['run_id'][:8]}"
        )
    assert len(set(ids)) == len(ids), f"run ids shared: {ids}"
    # The same second, in one process: three reservations, three names.
    names = [reserve_default_path(tmp / "same-second") for _ in range(3)]
    assert len(set(names)) == 3, f"same-second names: {', '.join(p.name for p in names)}"
    # A CSV beside another run's sidecar is refused, not read.
    mixed = tmp / "mixed"
    mixed.mkdir()
    shutil.copy(csvs[0], mixed / "a.csv")
    shutil.copy(csvs[1].with_suffix(".json"), mixed / "a.json")
    try:
        read_set(mixed / "a.csv")
    except DamagedResultsError as exc:
        print(f"mixed pair refused ({short(str(exc).split(': ', 1)[-1], 60)})")
    else:
        pytest.fail("a CSV with another run's sidecar was read")
