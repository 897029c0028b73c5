"""Integers never silently become floats, and keys of different JSON types never merge."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from dailyfetch.runner import RunResult, run_job
from support.configs import load
from support.json_pages import PagesAPI, job_config, missing_values, table_rows

DAY = date(2026, 11, 1)
KINDS = ["page_number", "cursor"]  # pages decoded typed, and the general way
BEYOND_DOUBLE = 9007199254740993  # 2**53 + 1: a double rounds it to ...992


def run(db_url: str, api: PagesAPI, **options: Any) -> RunResult:
    """One run of a one-partition job over ``api``."""
    api.start()
    try:
        config = load(job_config(api.url, **options))
        return run_job(config, logical_date=DAY, database_url=db_url, force=True)
    finally:
        api.stop()


def column_type(db_url: str, column: str, table: str = "items") -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attname = %s",
            (table, column),
        ).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("kind", KINDS)
def test_integers_beyond_64_bits_land_exactly(kind: str, db_url: str) -> None:
    """30-digit keys, values past 2**64 and below -2**63 land exactly, each key its own row."""
    source = [
        {"id": 10**29 + i, "n": 2**64 + i, "neg": -(2**63) - 1 - i, "small": i, "x": 0.5 + i}
        for i in range(25)
    ]
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    assert len(table_rows(db_url)) == 25
    assert missing_values(db_url, source, "id") == []
    assert column_type(db_url, "n") == "numeric" and column_type(db_url, "small") == "bigint"


@pytest.mark.parametrize("kind", KINDS)
def test_big_integers_inside_json_values_keep_every_digit(kind: str, db_url: str) -> None:
    """An object holding a 30-digit integer is stored with all its digits, whichever path writes it."""
    source = [{"id": i, "j": {"big": 10**29 + i, "list": [2**70]}} for i in range(25)]
    source.append(dict(source[3]))  # a key twice: the batch is de-duplicated, not sent as it came
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    assert missing_values(db_url, source, "id") == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_int_and_float_mix_beyond_double_precision_is_numeric(kind: str, db_url: str) -> None:
    """A field holding 1.5 and 2**53 + 1 in one batch gets a numeric column and keeps both exactly."""
    source = [{"id": i, "x": 1.5 if i % 2 else BEYOND_DOUBLE + i} for i in range(20)]
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    assert missing_values(db_url, source, "id") == []
    assert column_type(db_url, "x") == "numeric"


@pytest.mark.parametrize("kind", KINDS)
def test_an_int_beyond_double_precision_in_a_double_column_fails_naming_it(kind: str, db_url: str) -> None:
    """2**53 + 1 meeting an existing double precision column fails naming the column and key, never ...992."""
    assert run(db_url, PagesAPI.of([{"id": 1, "x": 0.5}]), primary_key=["id"]).outcome == "succeeded"
    source = [{"id": i, "x": 0.25} for i in range(2, 12)] + [{"id": 99, "x": BEYOND_DOUBLE}]
    result = run(db_url, PagesAPI.of(source, per_page=11), kind=kind, primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "'x'" in result.error and "id=99" in result.error, result.error
    assert "numeric" in result.error
    assert all(r["x"] != float(BEYOND_DOUBLE) for r in table_rows(db_url))


@pytest.mark.parametrize("kind", KINDS)
def test_a_bigint_column_meeting_a_bigger_int_fails_with_advice_that_works(kind: str, db_url: str) -> None:
    """A value past bigint fails naming column and key; the ALTER TABLE the message gives makes the rerun land it."""
    assert run(db_url, PagesAPI.of([{"id": 1, "n": 5}]), primary_key=["id"]).outcome == "succeeded"
    source = [{"id": 2, "n": 2**70}]
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "'n'" in result.error and "id=2" in result.error, result.error
    assert "ALTER TABLE" in result.error, result.error
    statement = result.error[result.error.index("ALTER TABLE") :].removesuffix(")")
    with psycopg.connect(db_url) as conn:
        conn.execute(statement)
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    assert missing_values(db_url, source, "id") == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("a", "b"), [(True, 1), (1, 1.0), (False, 0)])
def test_keys_equal_only_in_python_fail_naming_the_field(kind: str, a: Any, b: Any, db_url: str) -> None:
    """{"id": true} and {"id": 1} (or 1 and 1.0) in one batch are a type error, not one record lost."""
    source = [{"id": a, "v": "first"}, {"id": 7, "v": "x"}, {"id": b, "v": "second"}]
    api = PagesAPI(pages=[json.dumps(source)])
    result = run(db_url, api, kind=kind, primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "'id'" in result.error, result.error
    assert json.dumps(a) in result.error and json.dumps(b) in result.error, result.error


def test_distinct_keys_of_mixed_types_all_land(db_url: str) -> None:
    """Keys "1", 1 and true that do not collide are all kept: nothing is refused that cannot merge."""
    source = [{"id": "1", "v": 1}, {"id": 2, "v": 2}, {"id": True, "v": 3}]
    result = run(db_url, PagesAPI(pages=[json.dumps(source)]), primary_key=["id"])
    assert result.outcome == "succeeded", result.error
    stored = {json.dumps(r["id"]): r["v"] for r in table_rows(db_url)}
    assert stored == {'"1"': 1, "2": 2, "true": 3}
    assert isinstance(Decimal(1), Decimal)


@pytest.mark.parametrize("kind", KINDS)
def test_a_string_in_a_numeric_column_made_for_big_integers_fails_naming_it(kind: str, db_url: str) -> None:
    """A column dailyfetch made numeric for its integers refuses "5": only a declared one parses strings."""
    source = [{"id": i, "v": 2**64 + i} for i in range(10)] + [{"id": 10, "v": "5"}]
    result = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"])
    assert result.outcome == "failed"
    assert result.error is not None and "'v'" in result.error and "id=10" in result.error, result.error
    declared = run(db_url, PagesAPI.of(source), kind=kind, primary_key=["id"], columns={"v": "numeric"})
    assert declared.outcome == "succeeded", declared.error
    assert {r["id"]: r["v"] for r in table_rows(db_url)}[10] == Decimal(5)
