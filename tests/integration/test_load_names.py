"""Field names PostgreSQL cannot take as they are (long, NUL, empty, system names) land in their own columns."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import psycopg
import pytest

from dailyfetch.runner import RunResult, run_job
from support.configs import load
from support.json_pages import PagesAPI, column_of, job_config, missing_values, table_rows

DAY = date(2026, 11, 1)
KINDS = ["page_number", "cursor"]  # pages decoded typed, and the general way

LONG_A = "a" * 64 + "_first"  # 70 bytes: PostgreSQL would cut both to the same 63 bytes
LONG_B = "a" * 64 + "_second"
MULTI = "ключ" * 10  # 40 characters, 80 bytes
GROUPS = {
    "one long": ["ключ" * 20],  # alone: PostgreSQL cut the column's name and every value went NULL
    "long": [LONG_A, LONG_B, MULTI, "ü" * 32, "ü" * 31 + "x"],
    "nul": ["k\u0000ey", "k", "\u0000"],
    "system and empty": ["xmin", "ctid", "tableoid", ""],
    "case and keywords": ["Id", "ID", "select", "user"],
}
AWKWARD = [name for group in GROUPS.values() for name in group]


def run(db_url: str, api: PagesAPI, **options: Any) -> RunResult:
    """One run of a one-partition job over ``api``."""
    api.start()
    try:
        config = load(job_config(api.url, **options))
        return run_job(config, logical_date=DAY, database_url=db_url, force=True)
    finally:
        api.stop()


def records(names: list[str], count: int = 25) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        record: dict[str, Any] = {"id": i}
        for n, name in enumerate(names):
            record[name] = [i, f"s{i}", i * 1.5, True, {"n": i}][n % 5]
        out.append(record)
    return out


def empty_columns(db_url: str, table: str = "items") -> list[str]:
    """Columns with no value in any row."""
    rows = table_rows(db_url, table)
    return [c for c in rows[0] if all(r[c] is None for r in rows)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", [*GROUPS, "all"])
def test_every_field_lands_in_a_column_of_its_own(group: str, kind: str, db_url: str) -> None:
    """Long, multibyte, NUL-holding, empty, system-named and case-variant fields each land in their column."""
    names = GROUPS.get(group, AWKWARD)
    source = records(names)
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    assert missing_values(db_url, source, "id") == []
    assert empty_columns(db_url) == []
    columns = {column_of(db_url, name) for name in ["id", *names]}
    assert len(columns) == len(names) + 1
    assert all(len(c.encode()) <= 63 and "\x00" not in c for c in columns)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", [MULTI, "k" * 70 + "_id"])
def test_a_long_primary_key_and_declared_columns_work(kind: str, key: str, db_url: str) -> None:
    """A key field of 80 bytes (or 73 characters) and declared long names: merge keeps one row per key."""
    first = [{key: f"k{i}", LONG_A: i * 10**20, LONG_B: i} for i in range(25)]
    options = {"kind": kind, "primary_key": [key], "columns": {LONG_A: "numeric", key: "text"}}
    assert run(db_url, PagesAPI.of(first), **options).outcome == "succeeded"
    again = [{**r, LONG_B: -r[LONG_B]} for r in first]
    result = run(db_url, PagesAPI.of(again), **options)
    assert result.outcome == "succeeded", result.error
    assert len(table_rows(db_url)) == 25
    assert missing_values(db_url, again, key) == []
    with psycopg.connect(db_url) as conn:
        kinds = dict(
            conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'items'::regclass AND attnum > 0"
            ).fetchall()
        )
    assert kinds[column_of(db_url, LONG_A)] == "numeric"


@pytest.mark.parametrize("order", ["mapped first", "plain first"])
def test_two_fields_meeting_in_one_column_fail_naming_both(order: str, db_url: str) -> None:
    """A field literally named as another field's mapped column fails the run, naming both fields."""
    probe = run(db_url, PagesAPI.of([{"id": 1, "xmin": 1}]), primary_key=["id"], table="probe")
    assert probe.outcome == "succeeded", probe.error
    mapped = column_of(db_url, "xmin", "probe")
    assert mapped != "xmin"
    pages = [[{"id": 1, "xmin": 5}], [{"id": 2, mapped: 6}]]
    if order == "plain first":
        pages.reverse()
    api = PagesAPI(pages=[json.dumps(p) for p in pages])
    result = run(db_url, api, primary_key=["id"], batch_size=1)
    assert result.outcome == "failed"
    assert result.error is not None and "'xmin'" in result.error and repr(mapped) in result.error, (
        result.error
    )


def test_a_field_named_as_append_bookkeeping_fails_naming_it(db_url: str) -> None:
    """In append mode a field called _dailyfetch_date is refused by name instead of clashing."""
    result = run(db_url, PagesAPI.of([{"id": 1, "_dailyfetch_date": "x"}]), write="append")
    assert result.outcome == "failed"
    assert result.error is not None and "'_dailyfetch_date'" in result.error, result.error


def test_a_view_as_the_destination_fails_naming_it(db_url: str) -> None:
    """A view where the table should be is one line naming it and the way out, not an AssertionError."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE VIEW items AS SELECT 1 AS id")
    result = run(db_url, PagesAPI.of([{"id": 1}]), primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "public.items" in result.error and "view" in result.error, (
        result.error
    )
    assert "\n" not in result.error


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("depth", [300, 1000])
def test_deeply_nested_values_land(kind: str, depth: int, db_url: str) -> None:
    """Values nested hundreds and a thousand levels deep land as they came."""
    nested = "[" * depth + "]" * depth
    page = ",".join(f'{{"id": {i}, "v": {nested}}}' for i in range(3))
    result = run(db_url, PagesAPI(pages=[f"[{page}]"]), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        texts = [r[0] for r in conn.execute("SELECT v::text FROM items").fetchall()]
    assert [t.replace(" ", "") for t in texts] == [nested] * 3


def test_nesting_beyond_what_dailyfetch_decodes_fails_in_one_line(db_url: str) -> None:
    """A body nested deeper than the decoder's limit fails naming the depth, not a RecursionError."""
    nested = "[" * 5000 + "]" * 5000
    result = run(db_url, PagesAPI(pages=[f'[{{"id": 1, "v": {nested}}}]']), primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "nest" in result.error and "\n" not in result.error, result.error


@pytest.mark.parametrize("write", ["append", "replace"])
def test_mapped_columns_hold_their_fields_in_append_and_replace(write: str, db_url: str) -> None:
    """A replace run's shadow table and an append table map names as merge does, run after run."""
    keys = {"primary_key": ["id"]} if write == "replace" else {}
    for attempt in range(2):
        source = [{**r, "id": r["id"] + 100 * attempt} for r in records(AWKWARD, 12)]
        result = run(db_url, PagesAPI.of(source), write=write, **keys)
        assert result.outcome == "succeeded", result.error
        assert missing_values(db_url, source, "id") == []
        assert len(table_rows(db_url)) == 12
