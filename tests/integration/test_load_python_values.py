"""Values a Python source yields land exactly: integers of any size, deep nesting, NUL in keys."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dailyfetch.runner import run_job
from support.configs import load
from support.json_pages import missing_values, table_rows

DAY = date(2026, 11, 1)
SOURCE = """
def nested(depth):
    value = [1]
    for _ in range(depth):
        value = [value]
    return value

def fetch(ctx):
    for i in range(12):
        yield {
            "id": 2**70 + i,
            "n": 10**30 + i,
            "j": {"big": 2**80 + i, "deep": nested(400)},
            "k\\x00ey": f"v{i}",
        }
"""


def expected() -> list[dict[str, Any]]:
    def nested(depth: int) -> Any:
        value: Any = [1]
        for _ in range(depth):
            value = [value]
        return value

    return [
        {"id": 2**70 + i, "n": 10**30 + i, "j": {"big": 2**80 + i, "deep": nested(400)}, "k\x00ey": f"v{i}"}
        for i in range(12)
    ]


def test_a_python_sources_values_land_exactly_on_first_run_and_rerun(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First run (binary COPY) and a forced rerun (upserts through the staging table) land every digit."""
    (tmp_path / "bigvalues.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = (
        '[job]\nname = "py"\n[source]\nkind = "python"\nfunction = "bigvalues:fetch"\n'
        '[destination]\ntable = "items"\nprimary_key = ["id"]\nbatch_size = 5\n'
    )
    for force in (False, True):
        result = run_job(load(text), logical_date=DAY, database_url=db_url, force=force)
        assert result.outcome == "succeeded", result.error
        assert len(table_rows(db_url)) == 12
        assert missing_values(db_url, expected(), "id") == []
