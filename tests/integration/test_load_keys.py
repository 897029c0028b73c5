"""A key met twice in one batch lands as it lands when met in two batches: field by field."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from dailyfetch.runner import run_job
from support.configs import load
from support.json_pages import PagesAPI, job_config, table_rows

DAY = date(2026, 11, 1)


@pytest.mark.parametrize("kind", ["page_number", "cursor"])
@pytest.mark.parametrize(("per_page", "batch_size"), [(1, 1), (1, 1000), (3, 1000)])
def test_a_key_twice_keeps_the_fields_its_last_record_lacks(
    kind: str, per_page: int, batch_size: int, db_url: str
) -> None:
    """A later record of a key that lacks a field keeps the earlier record's value, whatever the batches."""
    source: list[dict[str, Any]] = [{"id": 1, "a": "x", "b": 1}, {"id": 2, "a": "y"}, {"id": 1, "b": 2}]
    pages = [json.dumps(source[i : i + per_page]) for i in range(0, len(source), per_page)]
    api = PagesAPI(pages=pages).start()
    try:
        config = load(job_config(api.url, kind=kind, primary_key=["id"], batch_size=batch_size))
        result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    rows = {r["id"]: (r["a"], r["b"]) for r in table_rows(db_url)}
    assert rows == {1: ("x", 2), 2: ("y", None)}
