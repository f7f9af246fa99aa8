"""The documents that describe the record stay in step with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from adbench.engine.record import COLUMNS, STATUS_MEANING

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("column", COLUMNS)
def test_every_column_is_documented(column):
    assert f"| `{column}` |" in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("status", list(STATUS_MEANING))
def test_every_status_is_explained_where_users_read(status):
    for doc in ("README.md", "docs/results.md"):
        assert f"| `{status}` |" in (ROOT / doc).read_text(encoding="utf-8"), doc
