"""Fault probes, issue 8 item 4: a damaged or mismatched result set is refused by name, never read as data."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import FAST, adbench, exit_is, no_traceback, read_set, short

pytestmark = pytest.mark.fault("4")


def _synthetic_set(folder: Path, name: str, rows: int = 3) -> Path:
    from adbench.engine.record import CaseResult
    from adbench.engine.results import write_results

    results = []
    for i in range(rows):
        r = CaseResult(
            problem="loss",
            size=10 ** (i + 1),
            n_inputs=10 ** (i + 1),
            n_outputs=1,
            operation="jacobian",
            backend="manual",
            framework="numpy",
            mode="manual",
            dtype="float32",
            device="cpu",
            threads=1,
            seed=0,
            status="ok",
        )
        r.built({"first_call_s": 1e-4, "number": 10, "rel_error": 5.05e-08, "tolerance": 1e-3, "reference": "exact"})
        for p in range(3):
            r.add_visit(0, p, 0.1 * p, [1e-5 * (i + 1)] * 3, [1e-6] * 2, 10, 100)
        r.summarize()
        r.wall_s = 0.123456
        results.append(r)
    csv, _ = write_results(folder / f"{name}.csv", results, {"timestamp": "2026-01-01T00:00:00Z"}, {})
    return csv


def test_damaged_sets_read(tmp_path: Path) -> None:
    """Every damaged or mismatched set refused with its file named (DamagedResultsError; ResultsFormatError for
    a bad format_version); intact and between-files sets read."""
    from adbench.engine.results import DamagedResultsError, ResultsFormatError, ResultWriter, find_result_sets

    tmp = tmp_path
    good = _synthetic_set(tmp, "good")
    frame, _ = read_set(good)
    assert len(frame) == 3 and (frame["rel_error"] == 5.05e-08).all(), "intact set does not read exactly"

    def refused(label: str, csv: Path, kind=DamagedResultsError, needle: str | None = None) -> None:
        try:
            read_set(csv)
        except kind as exc:
            named = csv.name in str(exc) or csv.with_suffix(".json").name in str(exc)
            ok = named and (needle is None or needle in str(exc))
            assert ok, f"{label}: refused, but the message does not name it: {short(str(exc), 80)!r}"
        except Exception as exc:  # noqa: BLE001 (any other exception is the failure reported)
            pytest.fail(f"{label}: {type(exc).__name__}: {short(str(exc), 80)}")
        else:
            pytest.fail(f"{label}: read as data")

    def damaged_copy(name: str, transform: Callable[[str], str], sidecar: bool = True) -> Path:
        csv = tmp / f"{name}.csv"
        csv.write_text(transform(good.read_text()))
        if sidecar:
            shutil.copy(good.with_suffix(".json"), csv.with_suffix(".json"))
        return csv

    text = good.read_text()

    def half_row(t: str) -> str:  # the last row cut in its middle
        start = t.rstrip("\n").rindex("\n") + 1
        return t[: start + (len(t) - start) // 2]

    refused("half-written row", damaged_copy("half", half_row))
    refused("half-written row, no sidecar", damaged_copy("half-alone", half_row, sidecar=False))
    # Cut inside the last row's last number (wall_s): every field is still there.
    assert text.rstrip("\n").endswith("0.123456"), "the synthetic set's last field is not the number to cut"
    refused("last number cut", damaged_copy("cut", lambda t: t.rstrip("\n")[:-3]))
    refused("last number cut, no sidecar", damaged_copy("cut-alone", lambda t: t.rstrip("\n")[:-3], sidecar=False))
    refused("a row removed", damaged_copy("short", lambda t: "".join(t.splitlines(keepends=True)[:-1])))
    refused("a number edited", damaged_copy("edited", lambda t: t.replace("5.05e-08", "5.1e-08", 1)))
    other = _synthetic_set(tmp / "other", "good", rows=3)
    mixed = tmp / "mixed.csv"
    shutil.copy(other, mixed)
    shutil.copy(good.with_suffix(".json"), mixed.with_suffix(".json"))
    refused("another run's sidecar", mixed)
    for label, version in (("string format_version", "2"), ("null format_version", None)):
        csv = tmp / f"version-{version}.csv"
        shutil.copy(good, csv)
        meta = json.loads(good.with_suffix(".json").read_text())
        meta["format_version"] = version
        csv.with_suffix(".json").write_text(json.dumps(meta))
        refused(label, csv, ResultsFormatError, "format_version")
    broken = tmp / "broken.csv"
    shutil.copy(good, broken)
    broken.with_suffix(".json").write_text(good.with_suffix(".json").read_text()[:500])
    refused("truncated sidecar", broken)
    # Interrupted between the sidecar's rename and the CSV's: consistent, one step behind.
    writer_csv = tmp / "between" / "run.csv"
    writer = ResultWriter(writer_csv, "run-between", {}, {})
    from adbench.engine.record import CaseResult

    rows = [CaseResult(problem="basic", size=2, backend="manual", mode="manual", status="ok") for _ in range(2)]
    writer.write(rows[:1])
    one = writer_csv.read_text()
    writer.write(rows)
    writer_csv.write_text(one)
    try:
        behind = len(read_set(writer_csv)[0])
    except Exception as exc:  # noqa: BLE001 (an unreadable set, however it fails, is the finding)
        pytest.fail(f"stopped between its two files: {type(exc).__name__}: {short(str(exc), 60)}")
    assert behind == 1, f"stopped between its two files: read {behind} cases, not one case behind"
    listed = {p.name for p in find_result_sets(tmp)}
    assert {"half.csv", "broken.csv", "version-2.csv", "mixed.csv"} <= listed, (
        f"damaged sets not all listed for the report: {sorted(listed)}"
    )


def test_report_damaged_set(tmp_path: Path) -> None:
    """Exit 0; good set rendered; bad.csv, version.csv (string format_version), binary.csv named as damaged in
    index.html."""
    tmp = tmp_path
    sets = tmp / "sets"
    run = adbench(
        tmp,
        "compare",
        "--problems",
        "tall,loss",
        "--sizes",
        "10",
        "--backends",
        "manual",
        *FAST,
        "--output",
        "sets/good.csv",
    )
    assert run.rc == 0, f"good set not made (exit {run.rc})"
    text = (sets / "good.csv").read_text()
    (sets / "bad.csv").write_text(text[: len(text) - 40])
    shutil.copy(sets / "good.json", sets / "bad.json")
    (sets / "version.csv").write_text(text)
    meta = json.loads((sets / "good.json").read_text())
    (sets / "version.json").write_text(json.dumps({**meta, "format_version": "2"}))
    (sets / "binary.csv").write_bytes(b"\xff\xfe\x00garbage" + text.encode()[:100])
    shutil.copy(sets / "good.json", sets / "binary.json")
    rep = adbench(tmp, "report", "--results", "sets", "--output", "site")
    exit_is(rep, 0)
    no_traceback(rep)
    index = tmp / "site" / "index.html"
    html = index.read_text(errors="replace") if index.exists() else ""
    assert html, "no index.html"
    rendered = 'href="sets/good/' in html and (tmp / "site" / "sets" / "good").is_dir()
    assert rendered, "good set not rendered"
    lines = html.splitlines()
    named = [
        n
        for n in ("bad.csv", "version.csv", "binary.csv")
        if any(n in ln and re.search(r"damaged|unreadable|cannot|not read", ln, re.I) for ln in lines)
    ]
    assert len(named) == 3, f"shown as damaged, by file name: {', '.join(named) or 'none'} (of bad, version, binary)"
