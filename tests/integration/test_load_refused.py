"""A value PostgreSQL itself refuses (a declared type it parses) is named by column and key."""

from __future__ import annotations

from datetime import date

import psycopg

from dailyfetch.runner import run_job
from support.configs import load
from support.json_pages import PagesAPI, job_config

DAY = date(2026, 11, 1)


def test_a_timestamp_postgresql_refuses_names_its_column_and_row(db_url: str) -> None:
    """One bad timestamp among 12 records fails the run naming the column and id=7; nothing is written."""
    records = [{"id": i, "at": "garbage" if i == 7 else f"2026-11-01T00:00:{i:02d}Z"} for i in range(12)]
    api = PagesAPI.of(records, per_page=12).start()
    try:
        config = load(job_config(api.url, primary_key=["id"], columns={"at": "timestamptz"}, batch_size=100))
        result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert result.error is not None and "cannot store the value in row id=7" in result.error, result.error
    assert "'at' (timestamp with time zone)" in result.error, result.error
    with psycopg.connect(db_url) as conn:
        exists = conn.execute("SELECT to_regclass('public.items')").fetchone()
        rows = conn.execute("SELECT count(*) FROM public.items").fetchone() if exists and exists[0] else (0,)
    assert rows == (0,)
