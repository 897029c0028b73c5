"""Jobs sharing one table: append jobs keep each other's rows; a replace job refuses to share."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from dailyfetch.runner import RunResult, run_job
from support.configs import load
from support.json_pages import PagesAPI, job_config, table_rows

DAY = date(2026, 11, 1)


def run(
    db_url: str, records: list[dict[str, Any]], job: str, *, day: date = DAY, **options: Any
) -> RunResult:
    """One forced run of job ``job`` writing ``records`` to table ``events``."""
    api = PagesAPI.of(records).start()
    try:
        config = load(job_config(api.url, job=job, table="events", **options))
        return run_job(config, logical_date=day, database_url=db_url, force=True)
    finally:
        api.stop()


def ids(db_url: str) -> list[str]:
    return sorted(str(r["id"]) for r in table_rows(db_url, "events"))


def test_two_append_jobs_on_one_table_keep_each_others_rows(db_url: str) -> None:
    """Job b's run, and job a's rerun, each replace only their own rows of the day."""
    a = [{"id": f"a{i}"} for i in range(12)]
    b = [{"id": f"b{i}"} for i in range(5)]
    assert run(db_url, a, "a", write="append").outcome == "succeeded"
    assert run(db_url, b, "b", write="append").outcome == "succeeded"
    assert run(db_url, a[:7], "a", write="append").outcome == "succeeded"
    assert ids(db_url) == sorted([r["id"] for r in a[:7] + b])
    jobs = {r["id"]: r["_dailyfetch_job"] for r in table_rows(db_url, "events")}
    assert jobs["a0"] == "a" and jobs["b0"] == "b"


LEGACY = """
CREATE TABLE events (id text, _dailyfetch_date date NOT NULL, _dailyfetch_partition text NOT NULL);
INSERT INTO events VALUES ('old-day', '2026-11-01', '*'), ('old-other-day', '2026-10-31', '*');
"""


def test_an_append_table_from_before_the_job_column_is_upgraded_in_place(db_url: str) -> None:
    """The job column is added; rows without a job count as every job's, so a rerun of their day replaces them."""
    with psycopg.connect(db_url) as conn:
        conn.execute(LEGACY)
    assert run(db_url, [{"id": "new"}], "a", write="append").outcome == "succeeded"
    rows = {r["id"]: r["_dailyfetch_job"] for r in table_rows(db_url, "events")}
    assert rows == {"new": "a", "old-other-day": None}
    assert run(db_url, [{"id": "b-new"}], "b", write="append").outcome == "succeeded"
    assert ids(db_url) == ["b-new", "new", "old-other-day"]


@pytest.mark.parametrize(
    ("first", "second"), [("replace", "replace"), ("append", "replace"), ("replace", "append")]
)
def test_a_replace_job_does_not_share_its_table(first: str, second: str, db_url: str) -> None:
    """A second job on a replace job's table (or a replace job on another's) fails naming the other job."""
    keys = {"primary_key": ["id"]}
    assert (
        run(db_url, [{"id": "a1"}], "a", write=first, **(keys if first != "append" else {})).outcome
        == "succeeded"
    )
    result = run(db_url, [{"id": "b1"}], "b", write=second, **(keys if second != "append" else {}))
    assert result.outcome == "failed"
    assert result.error is not None and "'a'" in result.error and "public.events" in result.error, (
        result.error
    )
    assert ids(db_url) == ["a1"]


def test_append_records_of_only_nulls_still_make_rows(db_url: str) -> None:
    """Records whose every field is null (or that have none) are rows too: the table is made for them."""
    source = [{"a": None}, {}, {"a": None, "b": None}]
    result = run(db_url, source, "a", write="append")
    assert result.outcome == "succeeded", result.error
    assert result.rows == 3 and len(table_rows(db_url, "events")) == 3
