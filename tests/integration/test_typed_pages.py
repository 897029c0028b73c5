"""Typed page decoding in real runs: what lands is what the general decoding lands, change by change."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from dailyfetch.runner import RunResult, run_job
from support.configs import fetch_table, load, make_config
from support.fakeapi import FakeAPI

DAY = date(2026, 11, 1)


def record(i: int) -> dict[str, Any]:
    return {
        "id": f"r{i:03d}",
        "n": i * 1_000_003,
        "x": i * 1.25,
        "ok": i % 2 == 0,
        "s": f'tab\t"{i}" \\ 東京 🚀',
        "j": {"i": i, "list": [1, None, "x"]},
        "z": None,
    }


def changing_records() -> list[dict[str, Any]]:
    """Ten pages of ten. Pages 3, 5 and 7 each bring a change a typed decoder must refuse (3 misses,
    the most a partition allows); pages 4, 6 and 8 one it must take as it is."""
    out = [record(i) for i in range(100)]
    for i in range(20, 30):
        out[i]["z"] = f"z{i}"  # a field that had only nulls gets values: a new column
    for i in range(30, 40):
        out[i]["j"] = "now a string"  # any JSON value fits a jsonb column
    for i in range(40, 50):
        out[i]["extra"] = [i]  # a new field
    for i in range(50, 60):
        out[i]["x"] = i  # an int in the double precision column
    for i in range(60, 70, 3):
        del out[i]["j"]  # a field missing from some records: NULL there
    out[75] = {**out[74], "n": -1}  # a key twice in one page: the later record wins
    return out


def expected_rows(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    columns = {k for r in records for k in r}
    latest = {r["id"]: r for r in records}
    return {key: {c: r.get(c) for c in columns} for key, r in latest.items()}


def run_on(db_url: str, api: FakeAPI, kind: str = "offset") -> tuple[RunResult, list[dict[str, Any]]]:
    """One run of a one-partition job over ``api`` (pages of 10, batches of 10), and its log events."""
    api.start()
    try:
        config = load(make_config(api.url, kind=kind, partitions=["eu"], batch_size=10))
        with capture_logs() as logs:
            result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    return result, logs


@pytest.mark.parametrize("kind", ["offset", "page_number", "link_header"])
def test_every_change_lands_as_the_general_decoding_lands_it(kind: str, db_url: str) -> None:
    records = changing_records()
    result, logs = run_on(db_url, FakeAPI(records_for=lambda d, p: records, page_size=10), kind)
    assert result.outcome == "succeeded", result.error
    done = [e for e in logs if e["event"] == "partition.done"]
    assert done and done[0]["typed_pages"] >= 3, done  # typed between the changes, and after the last
    want = expected_rows(records)
    rows = {r["id"]: r for r in fetch_table(db_url)}
    assert rows.keys() == want.keys()
    for key, row in rows.items():
        assert {c: row[c] for c in want[key]} == want[key], key
    assert isinstance(rows["r055"]["x"], float)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("n", 2.5, "JSON number"),  # a float for the bigint column
        ("n", 2**63, "out of range"),  # an integer beyond bigint
        ("s", "a\x00b", "NUL"),  # PostgreSQL refuses NUL in text...
        ("j", {"k": "a\x00b"}, "NUL"),  # ...and in jsonb
    ],
)
def test_a_value_its_column_cannot_store_fails_naming_it(
    field: str, value: Any, named: str, db_url: str
) -> None:
    """In a page after typed ones, the value is named as the general path names it; the batches
    before it are stored exactly once."""
    records = [record(i) for i in range(40)]
    records[35][field] = value
    result, _ = run_on(db_url, FakeAPI(records_for=lambda d, p: records, page_size=10))
    assert result.outcome == "failed"
    assert result.error is not None, result
    assert f"'{field}'" in result.error and "r035" in result.error and named in result.error, result.error
    assert len(fetch_table(db_url)) == 30


def test_json_values_of_typed_pages_keep_their_source_text(db_url: str) -> None:
    """Numbers inside jsonb values are stored as the API wrote them, from the first page on."""

    def answer(seen: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        offset = int(seen["query"]["offset"])
        items = ",".join(f'{{"id": "k{offset + i}", "price": {{"amount": 1.50}}}}' for i in range(10))
        body = f'{{"items": [{items if offset < 30 else ""}]}}'
        return 200, {"Content-Type": "application/json"}, body.encode()

    result, _ = run_on(db_url, FakeAPI(fail=answer))
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        stored = dict(conn.execute("SELECT id, price::text FROM orders").fetchall())
    assert len(stored) == 30
    assert set(stored.values()) == {'{"amount": 1.50}'}
